package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/hintfile"
)

// hintsInline makes the DBs Open creates write sealed files' hints in the
// goroutine that seals them. Only tests set it: those that hook every
// filesystem operation of an in-memory filesystem (power-loss and fault
// sweeps) need one deterministic sequence of operations.
var hintsInline bool

// writeWALHint writes the hint file of the sealed log file id (size bytes,
// immutable from now on) by scanning it, fsyncs it and syncs wal/. A hint
// is only an accelerator: on any failure the partial hint is removed (or
// left for Open to reject) and the error is logged, never returned to a
// writer. A file with no record gets no hint (Open removes such a file).
func (db *DB) writeWALHint(id uint32, size int64) {
	if err := db.buildWALHint(id, size); err != nil {
		db.log.Warn("simplekv: writing the hint of a sealed log file", "id", id, "err", err)
		p := walHintPath(db.dir, id)
		if rerr := db.fs.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			db.log.Warn("simplekv: removing a partial hint file", "path", p, "err", rerr)
		}
	}
}

// hintInBackground writes the hints of sealed log files ids in one
// background goroutine, so that neither writers (at a rotation) nor Open
// wait for a scan. Close waits for it.
func (db *DB) hintInBackground(ids ...uint32) {
	if len(ids) == 0 {
		return
	}
	if db.inlineHints {
		for _, id := range ids {
			db.sealedHint(id)
		}
		return
	}
	db.hints.Add(1)
	go func() {
		defer db.hints.Done()
		for _, id := range ids {
			db.sealedHint(id)
		}
	}()
}

// sealedHint writes the hint of sealed log file id at its current size.
func (db *DB) sealedHint(id uint32) {
	fi, err := db.fs.Stat(walPath(db.dir, id))
	if err != nil {
		return // merged away already, or never kept
	}
	db.writeWALHint(id, fi.Size())
}

func (db *DB) buildWALHint(id uint32, size int64) error {
	path := walPath(db.dir, id)
	file, err := db.fs.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer file.Close()
	hp := walHintPath(db.dir, id)
	var w *hintfile.Writer
	s := datafile.NewScanner(file, path, size)
	for s.Next() {
		if w == nil {
			if s.FileID() != id {
				return fmt.Errorf("%s: header names file id %d", path, s.FileID())
			}
			// A hint left by an earlier attempt is replaced.
			if _, err := db.fs.Stat(hp); err == nil {
				if err := db.fs.Remove(hp); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("remove %s: %w", hp, err)
				}
			}
			if w, err = hintfile.Create(db.fs, hp, id); err != nil {
				return err
			}
			defer w.Close()
		}
		h := s.Header()
		e := hintfile.Entry{Key: s.Key(), Offset: uint32(s.Offset()), Size: uint32(h.Size()), Seq: h.Seq, Expiry: h.Expiry}
		if h.Flags&datafile.FlagTombstone != 0 {
			e.Tombstone = true
			e.Expiry = 0
		}
		if err := w.Add(e); err != nil {
			return err
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	if s.Torn() {
		return fmt.Errorf("%s: sealed log file ends in a torn record at %d", path, s.End())
	}
	if w == nil {
		return nil
	}
	if err := w.Finish(size); err != nil {
		return err
	}
	if err := db.fs.SyncDir(filepath.Join(db.dir, walDir)); err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Dir(hp), err)
	}
	// A merge may have removed the data file meanwhile (it removes the
	// hint too, but perhaps before it existed): drop the orphan.
	if _, err := db.fs.Stat(path); errors.Is(err, fs.ErrNotExist) {
		_ = db.fs.Remove(hp)
	}
	return nil
}
