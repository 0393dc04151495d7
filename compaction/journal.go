package compaction

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/cespare/xxhash/v2"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
)

// The journal is the commit record of a merge: a small file in last_state/
// that names the merge's inputs and outputs. A merge is committed once the
// journal is durable under its final name; until then its outputs exist
// only under temporary names and are discarded by recovery. After the
// commit, recovery rolls the merge forward (publishes the outputs, removes
// the inputs) however far the process got, so inputs are never removed
// without their outputs in place, and never partly: a merge may drop a
// delete marker because every older version of its key was in an input, so
// a surviving input would bring the key back.
const (
	// JournalName is the journal's file name in last_state/.
	JournalName = "COMPACTION"
	// TmpSuffix marks files a merge has not yet published.
	TmpSuffix    = ".tmp"
	journalMagic = "SKVJ"
	// JournalVersion is the journal format version this package writes.
	JournalVersion = 1
	maxJournalRefs = 1 << 20
)

// FileRef names a data file by where it lives and its id.
type FileRef struct {
	WAL bool // in wal/; otherwise in last_state/
	ID  uint32
}

// Journal lists one merge's inputs and outputs.
type Journal struct {
	Inputs  []FileRef
	Outputs []uint32 // ids of the data (and hint) files written to last_state/
}

// Encode returns the journal's bytes (documented in FORMAT.md).
func (j Journal) Encode() []byte {
	b := make([]byte, 0, 16+5*len(j.Inputs)+4*len(j.Outputs))
	b = append(b, journalMagic...)
	b = binary.LittleEndian.AppendUint16(b, JournalVersion)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(j.Inputs)))
	for _, in := range j.Inputs {
		kind := byte(1)
		if in.WAL {
			kind = 0
		}
		b = append(b, kind)
		b = binary.LittleEndian.AppendUint32(b, in.ID)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(j.Outputs)))
	for _, id := range j.Outputs {
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	return binary.LittleEndian.AppendUint32(b, uint32(xxhash.Sum64(b)))
}

// DecodeJournal parses journal bytes read from path.
func DecodeJournal(path string, b []byte) (Journal, error) {
	bad := func(off int, format string, args ...any) (Journal, error) {
		return Journal{}, &datafile.CorruptError{Path: path, Offset: int64(off), Reason: fmt.Sprintf(format, args...)}
	}
	if len(b) < 16 {
		return bad(0, "journal is %d bytes, too short", len(b))
	}
	if sum := binary.LittleEndian.Uint32(b[len(b)-4:]); sum != uint32(xxhash.Sum64(b[:len(b)-4])) {
		return bad(len(b)-4, "journal checksum mismatch")
	}
	if string(b[:4]) != journalMagic {
		return bad(0, "bad journal magic %q", b[:4])
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != JournalVersion {
		return Journal{}, fmt.Errorf("%w: journal %s has version %d, want %d", datafile.ErrVersion, path, v, JournalVersion)
	}
	p, end := 8, len(b)-4
	var j Journal
	n := binary.LittleEndian.Uint32(b[p:])
	p += 4
	if n > maxJournalRefs || int(n)*5 > end-p {
		return bad(p-4, "journal names %d inputs in %d bytes", n, end-p)
	}
	for range n {
		kind, id := b[p], binary.LittleEndian.Uint32(b[p+1:])
		if kind > 1 {
			return bad(p, "unknown input kind %d", kind)
		}
		j.Inputs = append(j.Inputs, FileRef{WAL: kind == 0, ID: id})
		p += 5
	}
	if end-p < 4 {
		return bad(p, "journal ends before its output count")
	}
	n = binary.LittleEndian.Uint32(b[p:])
	p += 4
	if int64(n)*4 != int64(end-p) {
		return bad(p-4, "journal names %d outputs in %d bytes", n, end-p)
	}
	for range n {
		j.Outputs = append(j.Outputs, binary.LittleEndian.Uint32(b[p:]))
		p += 4
	}
	return j, nil
}

// WriteJournal commits j: it writes the journal under a temporary name,
// syncs it, renames it to JournalName and syncs dir. Once it returns nil
// the merge is committed. If it fails after the rename (the directory sync
// failed), renamed is true and the commit may or may not be durable: the
// caller must then keep the merge's outputs for recovery to decide, and
// must not remove the inputs either.
func WriteJournal(fsys vfs.FS, dir string, j Journal) (renamed bool, err error) {
	final := filepath.Join(dir, JournalName)
	tmp := final + TmpSuffix
	if err := fsys.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("compaction: remove stale %s: %w", tmp, err)
	}
	f, err := fsys.Create(tmp)
	if err != nil {
		return false, fmt.Errorf("compaction: create %s: %w", tmp, err)
	}
	_, err = f.Write(j.Encode())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return false, fmt.Errorf("compaction: commit %s: %w", final, err)
	}
	if err := fsys.Rename(tmp, final); err != nil {
		// A rename can fail after it took effect (say, on a network
		// filesystem): if the journal is in place, the commit may stand.
		if _, serr := fsys.Stat(final); serr == nil {
			return true, fmt.Errorf("compaction: commit %s: %w", final, err)
		}
		_ = fsys.Remove(tmp)
		return false, fmt.Errorf("compaction: commit %s: %w", final, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return true, fmt.Errorf("compaction: commit %s: sync %s: %w", final, dir, err)
	}
	return true, nil
}

// ReadJournal reads the committed journal in dir, if there is one.
func ReadJournal(fsys vfs.FS, dir string) (j Journal, found bool, err error) {
	path := filepath.Join(dir, JournalName)
	f, err := fsys.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Journal{}, false, nil
	}
	if err != nil {
		return Journal{}, false, fmt.Errorf("compaction: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Journal{}, false, fmt.Errorf("compaction: stat %s: %w", path, err)
	}
	if fi.Size() > 16+5*maxJournalRefs*2 {
		return Journal{}, false, &datafile.CorruptError{Path: path, Reason: fmt.Sprintf("journal is %d bytes, too large", fi.Size())}
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return Journal{}, false, fmt.Errorf("compaction: read %s: %w", path, err)
	}
	j, err = DecodeJournal(path, b)
	return j, err == nil, err
}

// RemoveJournal ends a merge whose effects are all durable.
func RemoveJournal(fsys vfs.FS, dir string) error {
	path := filepath.Join(dir, JournalName)
	if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("compaction: remove %s: %w", path, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("compaction: sync %s: %w", dir, err)
	}
	return nil
}
