package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// OpKind is what one operation of a command does.
type OpKind byte

// The operation kinds. Their byte values are in the raft log (FORMAT.md,
// "Replicated commands"): never renumber them.
const (
	OpPut         OpKind = 1 // store Value under Key
	OpPutExpiring OpKind = 2 // store Value under Key until Expires
	OpDelete      OpKind = 3 // remove Key
	OpAddIfAbsent OpKind = 4 // store Value under Key unless Key is present
	opMember      OpKind = 5 // record node Key's API address Value (Node.SetMember)
	// OpDeletePrefix removes every key that starts with Key, as the store
	// holds them when the op is applied (Node.DeletePrefix).
	OpDeletePrefix OpKind = 6
)

// validKind reports whether k is an op kind a command may carry.
func validKind(k OpKind) bool { return k >= OpPut && k <= OpDeletePrefix }

// hasValue reports whether ops of kind k carry a value.
func hasValue(k OpKind) bool { return k != OpDelete && k != OpDeletePrefix }

// Op is one operation of a command.
type Op struct {
	Kind  OpKind
	Key   []byte
	Value []byte
	// Expires is OpPutExpiring's deadline. It is fixed when the command
	// is made, not when it is applied, so every replica (and every replay
	// of the entry) expires the key at the same instant.
	Expires time.Time
}

// cmdVersion is a command's first byte; groupVersion is the first byte of
// an entry that carries several commands (the proposer's, propose.go).
const (
	cmdVersion   = 1
	groupVersion = 2
)

// ErrBadCommand is returned for a raft entry that does not decode.
var ErrBadCommand = errors.New("replica: malformed command")

// encodeCommand encodes ops as one raft entry's Data: the version, the
// number of ops, then each op as kind, key and (for the put kinds) value,
// each length-prefixed, and OpPutExpiring's deadline as 8 bytes of Unix
// nanoseconds, big-endian.
func encodeCommand(ops []Op) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, op := range ops {
		n += 1 + 2*binary.MaxVarintLen64 + len(op.Key) + len(op.Value) + 8
	}
	b := make([]byte, 0, n)
	b = append(b, cmdVersion)
	b = binary.AppendUvarint(b, uint64(len(ops)))
	for _, op := range ops {
		b = append(b, byte(op.Kind))
		b = binary.AppendUvarint(b, uint64(len(op.Key)))
		b = append(b, op.Key...)
		if !hasValue(op.Kind) {
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(op.Value)))
		b = append(b, op.Value...)
		if op.Kind == OpPutExpiring {
			b = binary.BigEndian.AppendUint64(b, uint64(op.Expires.UnixNano()))
		}
	}
	return b
}

// decodeCommand decodes an entry's Data. The ops' slices point into b.
func decodeCommand(b []byte) ([]Op, error) {
	bad := func(what string) ([]Op, error) { return nil, fmt.Errorf("%w: %s", ErrBadCommand, what) }
	if len(b) == 0 || b[0] != cmdVersion {
		return bad("unknown version")
	}
	b = b[1:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return bad("op count")
	}
	b = b[n:]
	bytesOf := func() (v []byte, ok bool) {
		v, b, ok = cutBytes(b)
		return v, ok
	}
	ops := make([]Op, 0, count)
	for range count {
		if len(b) == 0 {
			return bad("truncated")
		}
		op := Op{Kind: OpKind(b[0])}
		b = b[1:]
		if !validKind(op.Kind) {
			return bad(fmt.Sprintf("op kind %d", op.Kind))
		}
		var ok bool
		if op.Key, ok = bytesOf(); !ok || len(op.Key) == 0 {
			return bad("key")
		}
		if hasValue(op.Kind) {
			if op.Value, ok = bytesOf(); !ok {
				return bad("value")
			}
		}
		if op.Kind == OpPutExpiring {
			if len(b) < 8 {
				return bad("expiry")
			}
			op.Expires = time.Unix(0, int64(binary.BigEndian.Uint64(b)))
			b = b[8:]
		}
		ops = append(ops, op)
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return ops, nil
}

// encodeGroup encodes commands (each an encodeCommand) as one raft entry's
// Data: groupVersion, the number of commands, then each command with a
// uvarint length before it.
func encodeGroup(cmds [][]byte) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, c := range cmds {
		n += binary.MaxVarintLen64 + len(c)
	}
	b := make([]byte, 0, n)
	b = append(b, groupVersion)
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, c := range cmds {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

// splitEntry returns the commands of an entry's Data: a group's, or the
// Data itself as the one command of an entry that is not a group. The
// commands point into b and are not decoded yet: each is refused or
// applied on its own.
func splitEntry(b []byte) (cmds [][]byte, group bool, err error) {
	if len(b) == 0 || b[0] != groupVersion {
		return [][]byte{b}, false, nil
	}
	b = b[1:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count == 0 || count > uint64(len(b)) {
		return nil, true, fmt.Errorf("%w: group count", ErrBadCommand)
	}
	b = b[n:]
	cmds = make([][]byte, 0, count)
	for range count {
		c, rest, ok := cutBytes(b)
		if !ok {
			return nil, true, fmt.Errorf("%w: group member length", ErrBadCommand)
		}
		cmds, b = append(cmds, c), rest
	}
	if len(b) != 0 {
		return nil, true, fmt.Errorf("%w: trailing bytes after the group", ErrBadCommand)
	}
	return cmds, true, nil
}

// cutBytes reads one uvarint-length-prefixed byte string off the front of
// b: the string (pointing into b), what follows it, and whether it was
// whole.
func cutBytes(b []byte) (v, rest []byte, ok bool) {
	size, n := binary.Uvarint(b)
	if n <= 0 || size > uint64(len(b)-n) {
		return nil, b, false
	}
	return b[n : n+int(size)], b[n+int(size):], true
}
