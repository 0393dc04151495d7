package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// logVersion is the first byte of an encoded raft.Log, so the layout can
// change later.
const logVersion = 1

// appendLog appends the value part of a segment record: version, term,
// type, AppendedAt, then Data and Extensions, each length-prefixed
// (FORMAT.md, "Raft log segments"). The index is the record's sequence
// number, not repeated here.
func appendLog(dst []byte, l *raft.Log) ([]byte, error) {
	at, err := l.AppendedAt.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("raftlog: entry %d: AppendedAt: %w", l.Index, err)
	}
	dst = append(dst, logVersion)
	dst = binary.AppendUvarint(dst, l.Term)
	dst = append(dst, byte(l.Type))
	dst = binary.AppendUvarint(dst, uint64(len(at)))
	dst = append(dst, at...)
	dst = binary.AppendUvarint(dst, uint64(len(l.Data)))
	dst = append(dst, l.Data...)
	dst = binary.AppendUvarint(dst, uint64(len(l.Extensions)))
	dst = append(dst, l.Extensions...)
	return dst, nil
}

// errBadEntry marks an entry whose checksummed record decodes to nonsense.
var errBadEntry = errors.New("raftlog: malformed entry")

// decodeLog fills l from b, the value of entry index's record. l's slices
// are copies: b may be reused.
func decodeLog(b []byte, index uint64, l *raft.Log) error {
	bad := func(what string) error { return fmt.Errorf("%w %d: %s", errBadEntry, index, what) }
	if len(b) == 0 || b[0] != logVersion {
		return bad("unknown version")
	}
	b = b[1:]
	term, n := binary.Uvarint(b)
	if n <= 0 {
		return bad("term")
	}
	b = b[n:]
	if len(b) == 0 {
		return bad("type")
	}
	typ := raft.LogType(b[0])
	b = b[1:]
	var parts [3][]byte
	for i, what := range []string{"AppendedAt", "Data", "Extensions"} {
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return bad(what)
		}
		parts[i], b = b[n:n+int(size)], b[n+int(size):]
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	var at time.Time
	if err := at.UnmarshalBinary(parts[0]); err != nil {
		return bad("AppendedAt: " + err.Error())
	}
	*l = raft.Log{Index: index, Term: term, Type: typ, AppendedAt: at,
		Data: clone(parts[1]), Extensions: clone(parts[2])}
	return nil
}

// clone copies b, keeping nil for empty (as raft's other stores do).
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
