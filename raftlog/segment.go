package raftlog

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
)

const segExt = ".seg"

// segName is the name of the segment whose first entry is base: 20
// zero-padded digits, so names sort in index order.
func segName(base uint64) string { return fmt.Sprintf("%020d%s", base, segExt) }

func parseSegName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, segExt)
	if !ok || len(s) != 20 {
		return 0, false
	}
	base, err := strconv.ParseUint(s, 10, 64)
	return base, err == nil && base > 0
}

// segment is one segment file: entries base, base+1, ... at offs.
type segment struct {
	base uint64
	path string
	f    vfs.File // read-only handle for GetLog
	offs []int64  // offs[i]: record of entry base+i; offs[len] is the end
}

// last is the index of the segment's last entry (base-1 if none).
func (s *segment) last() uint64 { return s.base + uint64(len(s.offs)) - 2 }

// count is the number of entries.
func (s *segment) count() int { return len(s.offs) - 1 }

// loadSegment scans a segment file and indexes its entries. A torn tail
// (an interrupted append) is cut off if tail says the segment is the
// newest; anywhere else it, like any damage, is an error.
func loadSegment(fsys vfs.FS, dir, name string, base uint64, tail bool) (*segment, error) {
	path := filepath.Join(dir, name)
	f, err := fsys.Open(path)
	if err != nil {
		return nil, fmt.Errorf("raftlog: open %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("raftlog: stat %s: %w", path, err)
	}
	s := &segment{base: base, path: path, f: f}
	sc := datafile.NewScanner(f, path, fi.Size())
	for sc.Next() {
		h := sc.Header()
		if want := base + uint64(len(s.offs)); h.Seq != want {
			f.Close()
			return nil, fmt.Errorf("raftlog: %w", &datafile.CorruptError{Path: path, Offset: sc.Offset(),
				Reason: fmt.Sprintf("entry %d where entry %d belongs", h.Seq, want)})
		}
		s.offs = append(s.offs, sc.Offset())
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	end := sc.End()
	if sc.Torn() {
		if !tail {
			f.Close()
			return nil, fmt.Errorf("raftlog: %w", &datafile.CorruptError{Path: path, Offset: end,
				Reason: "incomplete entry in a segment that is not the newest"})
		}
		if err := truncate(fsys, path, end); err != nil {
			f.Close()
			return nil, err
		}
	}
	s.offs = append(s.offs, end)
	return s, nil
}

// truncate cuts the file at path to size and makes that durable.
func truncate(fsys vfs.FS, path string, size int64) error {
	f, err := fsys.OpenReadWrite(path)
	if err != nil {
		return fmt.Errorf("raftlog: open %s: %w", path, err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("raftlog: truncate %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("raftlog: sync %s: %w", path, err)
	}
	return f.Close()
}
