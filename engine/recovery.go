package engine

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/keydir"
)

// recover rebuilds the keydir from wal/ and returns the id for the new
// active file.
func (db *DB) recover() (nextID uint32, err error) {
	dir := filepath.Join(db.dir, walDir)
	names, err := db.fs.List(dir)
	if err != nil {
		return 0, fmt.Errorf("simplekv: list %s: %w", dir, err)
	}
	var ids []uint32
	for _, name := range names {
		id, ok := parseDataFileName(name)
		if !ok {
			db.log.Warn("simplekv: ignoring unknown file", "path", filepath.Join(dir, name))
			continue
		}
		ids = append(ids, id)
	}
	// Names sort in id order because ids are zero-padded.
	now := time.Now().UnixNano()
	for i, id := range ids {
		newest := i == len(ids)-1
		keep, err := db.recoverFile(id, newest, now)
		if err != nil {
			return 0, err
		}
		if keep {
			if err := db.addReader(id, walPath(db.dir, id)); err != nil {
				return 0, err
			}
		}
		nextID = id + 1
	}
	if nextID == 0 && len(ids) > 0 {
		return 0, fmt.Errorf("simplekv: data file ids exhausted in %s", dir)
	}
	if nextID == 0 {
		nextID = 1
	}
	return nextID, nil
}

// recoverFile applies one data file to the keydir. A torn tail is tolerated
// (and truncated) only in the newest file; a file left with no records is
// removed. It reports whether the file stays.
func (db *DB) recoverFile(id uint32, newest bool, now int64) (keep bool, err error) {
	path := walPath(db.dir, id)
	f, err := db.fs.Open(path)
	if err != nil {
		return false, fmt.Errorf("simplekv: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("simplekv: stat %s: %w", path, err)
	}
	size := fi.Size()
	s := datafile.NewScanner(f, path, size)
	records := 0
	for s.Next() {
		if records == 0 && s.FileID() != id {
			return false, fmt.Errorf("simplekv: %w", &datafile.CorruptError{Path: path, Offset: 0,
				Reason: fmt.Sprintf("header names file id %d", s.FileID())})
		}
		records++
		h := s.Header()
		db.seq = max(db.seq, h.Seq)
		if h.Flags&datafile.FlagTombstone != 0 || (h.Expiry != 0 && h.Expiry <= now) {
			db.kd.Delete(s.Key(), h.Seq)
			continue
		}
		db.kd.Put(s.Key(), keydir.Entry{
			FileID: id, Offset: uint32(s.Offset()), Size: uint32(h.Size()), Seq: h.Seq, Expiry: h.Expiry,
		})
	}
	if err := s.Err(); err != nil {
		return false, fmt.Errorf("simplekv: recover: %w", err)
	}
	db.st.recoveredRecords += int64(records)
	end := size
	if s.Torn() {
		end = s.End()
		if !newest {
			return false, fmt.Errorf("simplekv: recover: %w", &datafile.CorruptError{Path: path, Offset: end,
				Reason: "incomplete record in a file that is not the newest"})
		}
		db.log.Warn("simplekv: truncating torn tail of the newest data file",
			"path", path, "offset", end, "dropped_bytes", size-end)
		db.st.tornBytes += size - end
	}
	if records == 0 {
		// Only a header (or a torn one): nothing to keep.
		if err := db.fs.Remove(path); err != nil {
			return false, fmt.Errorf("simplekv: remove empty %s: %w", path, err)
		}
		if err := db.fs.SyncDir(filepath.Dir(path)); err != nil {
			return false, fmt.Errorf("simplekv: sync %s: %w", filepath.Dir(path), err)
		}
		return false, nil
	}
	if end < size {
		if err := db.truncate(path, end); err != nil {
			return false, err
		}
	} else if newest {
		// A killed process may have left the newest file's tail in the
		// page cache only. Recovery has just made those records visible,
		// and later acknowledged writes go to a new file: make the tail
		// durable first, or a power cut could leave an older file torn.
		if err := f.Sync(); err != nil {
			return false, fmt.Errorf("simplekv: sync %s: %w", path, err)
		}
	}
	db.st.diskBytes.Add(end)
	return true, nil
}

// truncate cuts a torn tail off and makes the new size durable before any
// new record can be acknowledged after it.
func (db *DB) truncate(path string, size int64) error {
	f, err := db.fs.OpenReadWrite(path)
	if err != nil {
		return fmt.Errorf("simplekv: open %s to truncate torn tail: %w", path, err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("simplekv: truncate torn tail of %s at %d: %w", path, size, err)
	}
	return nil
}
