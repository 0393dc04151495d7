package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/simplekv/simplekv/hintfile"
	"github.com/simplekv/simplekv/internal/vfs"
)

// checkpointTmpSuffix names the directory a checkpoint or a restore is
// built in, next to its target, until it is renamed into place.
const checkpointTmpSuffix = ".simplekv-tmp"

// cutFile is one file of a cut: a path in the DB's directory, the same
// relative path in a copy, and how many bytes of it belong to the copy.
type cutFile struct {
	src, rel string
	size     int64 // -1: a hint file, taken whole if it matches dataSize
	dataSize int64
	// immutable files (sealed log files, merged files, their hints) can
	// be hard-linked; the active log file's prefix is copied.
	immutable bool
	// open is the active file, opened at the cut: it is read through this
	// descriptor, so a rotation and merge after the cut cannot take it.
	open vfs.File
}

// dbCut is the state of the DB at one point of the write order: the files
// that hold exactly the writes acknowledged before it. While it is held,
// merges do not delete files (they wait for release at that step, and only
// there), so every file of the cut stays readable.
type dbCut struct {
	files   []cutFile
	release func()
}

// takeCut cuts the write order now. It holds the write lock for an instant:
// enough to flush the write buffer (without SyncWrites, acknowledged writes
// may still be in it) and to note the active file's size. With SyncWrites,
// records appended but not yet covered by an fsync belong to writes that
// have not returned, and are left out: the cut ends at the last synced
// position.
//
// It takes fileDelMu before listing the files, and before wmu: a merge
// drops its inputs from the file set before it takes fileDelMu to delete
// them, so a list made under fileDelMu names only files that stay until
// release. (Taken after the list, a merge could drop and delete a listed
// file in between.) Taking it before wmu keeps writers from waiting while
// a merge deletes its inputs.
func (db *DB) takeCut() (cut *dbCut, err error) {
	db.fileDelMu.Lock()
	defer func() {
		if err != nil {
			db.fileDelMu.Unlock()
		}
	}()
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.closed.Load() {
		return nil, ErrClosed
	}
	if db.writeErr != nil {
		return nil, db.writeErr
	}
	end := db.w.Size()
	if db.opts.SyncWrites {
		end -= int64(db.appended - db.synced) // pending writes: all in the active file
	} else if err := db.w.Flush(); err != nil {
		return nil, db.failLocked(err)
	}
	active, err := db.fs.Open(db.w.Path())
	if err != nil {
		return nil, fmt.Errorf("simplekv: open %s: %w", db.w.Path(), err)
	}
	cut = &dbCut{}
	for _, f := range db.files.snapshot() {
		if f == db.activeFile {
			continue
		}
		cut.files = append(cut.files, cutFile{src: f.path, rel: db.relPath(f.path), size: f.size.Load(), immutable: true})
		hint := hintPath(db.dir, f.id)
		if f.wal {
			hint = walHintPath(db.dir, f.id)
		}
		cut.files = append(cut.files, cutFile{src: hint, rel: db.relPath(hint), size: -1, dataSize: f.size.Load(), immutable: true})
	}
	cut.files = append(cut.files, cutFile{src: db.w.Path(), rel: db.relPath(db.w.Path()), size: end, open: active})
	if knobs.cutListed != nil {
		knobs.cutListed()
	}
	cut.release = func() {
		db.fileDelMu.Unlock()
		_ = active.Close()
	}
	return cut, nil
}

// relPath is path relative to the DB's directory.
func (db *DB) relPath(path string) string {
	rel, err := filepath.Rel(db.dir, path)
	if err != nil {
		panic(fmt.Sprintf("simplekv: %s is not under %s", path, db.dir))
	}
	return rel
}

// usableHint reports whether the hint file at path is whole and describes
// a data file of dataSize bytes. A log file's hint is
// written in the background after the file is sealed, so a cut can meet
// one half written; it is then left out, and opening the copy replays that
// log file instead.
func (db *DB) usableHint(path string, dataSize int64) bool {
	h, err := hintfile.Open(db.fs, path)
	if err != nil {
		return false
	}
	defer h.Close()
	return h.Footer().DataSize == dataSize
}

// Checkpoint writes a consistent copy of the DB into dir, a directory that
// must not exist or be empty (ErrTargetExists otherwise, naming it), while
// readers, writers and merges go on. The copy holds exactly the writes
// acknowledged before one instant during the call (with SyncWrites: those
// that returned; without: those that returned, synced or not), opens with
// Open, and holds no merge leftovers. Sealed and merged files are
// hard-linked where the filesystem allows (the same filesystem: no data is
// copied) and copied otherwise; the active log file's part up to that
// instant is copied. Writers wait only for that instant; merges may run
// meanwhile, but do not delete files until the copy is made.
//
// The copy is built in a sibling directory dir + ".simplekv-tmp", made
// durable, and renamed to dir: after a crash or an error there is either
// the whole copy at dir or none (a leftover temporary directory is removed
// by the next Checkpoint or Restore to dir).
func (db *DB) Checkpoint(dir string) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if err := checkTarget(db.fs, dir); err != nil {
		return err
	}
	cut, err := db.takeCut()
	if err != nil {
		return err
	}
	defer cut.release()
	return publishDir(db.fs, dir, func(tmp string) error {
		for _, f := range cut.files {
			if err := db.copyCutFile(f, filepath.Join(tmp, f.rel)); err != nil {
				return err
			}
		}
		return nil
	})
}

// copyCutFile links or copies cut file f to dst.
func (db *DB) copyCutFile(f cutFile, dst string) error {
	if f.size < 0 && !db.usableHint(f.src, f.dataSize) {
		return nil // a hint only if it is whole and matches its data file
	}
	if f.immutable {
		err := db.fs.Link(f.src, dst)
		if err == nil || errors.Is(err, fs.ErrExist) {
			return err
		}
		// Another filesystem, or one without hard links: copy.
	}
	r, done, err := db.openCutFile(f)
	if f.size < 0 && errors.Is(err, fs.ErrNotExist) {
		return nil // a hint dropped after a failed write: the copy replays its log file
	}
	if err != nil {
		return fmt.Errorf("simplekv: checkpoint: %w", err)
	}
	defer done()
	return copyFile(db.fs, r, dst, f.src)
}

// openCutFile returns the bytes of cut file f: its first f.size bytes, or
// all of a hint. done closes what it opened.
func (db *DB) openCutFile(f cutFile) (r *io.SectionReader, done func(), err error) {
	src, done := f.open, func() {}
	if src == nil {
		if src, err = db.fs.Open(f.src); err != nil {
			return nil, nil, err // a *fs.PathError: it names f.src
		}
		done = func() { _ = src.Close() }
	}
	n := f.size
	if n < 0 {
		st, err := src.Stat()
		if err != nil {
			done()
			return nil, nil, err
		}
		n = st.Size()
	}
	return io.NewSectionReader(src, 0, n), done, nil
}

// copyFile writes r to a new file dst and syncs it; from names the source
// in errors.
func copyFile(fsys vfs.FS, r io.Reader, dst, from string) error {
	out, err := fsys.Create(dst)
	if err != nil {
		return fmt.Errorf("simplekv: create %s: %w", dst, err)
	}
	_, err = io.Copy(out, r)
	if err != nil {
		err = fmt.Errorf("simplekv: copy %s to %s: %w", from, dst, err)
	} else if err = out.Sync(); err != nil {
		err = fmt.Errorf("simplekv: sync %s: %w", dst, err)
	}
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("simplekv: close %s: %w", dst, cerr)
	}
	return err
}

// checkTarget returns ErrTargetExists unless dir is absent or an empty
// directory.
func checkTarget(fsys vfs.FS, dir string) error {
	st, err := fsys.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("simplekv: stat %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrTargetExists, dir)
	}
	names, err := fsys.List(dir)
	if err != nil {
		return fmt.Errorf("simplekv: list %s: %w", dir, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("%w: %s holds %d entries (%s, ...)", ErrTargetExists, dir, len(names), names[0])
	}
	return nil
}

// publishDir builds a DB directory at dir atomically: fill writes the
// files into a fresh temporary sibling (with wal/ and last_state/ made),
// which is then synced and renamed to dir. On an error the temporary
// directory is removed and dir is left as it was.
func publishDir(fsys vfs.FS, dir string, fill func(tmp string) error) (err error) {
	dir = filepath.Clean(dir)
	tmp := dir + checkpointTmpSuffix
	if err := removeAll(fsys, tmp); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = removeAll(fsys, tmp)
		}
	}()
	for _, d := range []string{walDir, lastStateDir} {
		if err := fsys.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			return fmt.Errorf("simplekv: mkdir %s: %w", filepath.Join(tmp, d), err)
		}
	}
	if err := fill(tmp); err != nil {
		return err
	}
	for _, d := range []string{filepath.Join(tmp, walDir), filepath.Join(tmp, lastStateDir), tmp} {
		if err := fsys.SyncDir(d); err != nil {
			return fmt.Errorf("simplekv: sync %s: %w", d, err)
		}
	}
	// An empty target directory is replaced: rename does not replace a
	// directory, so it goes first (it held nothing).
	if st, serr := fsys.Stat(dir); serr == nil && st.IsDir() {
		if err := fsys.Remove(dir); err != nil {
			return fmt.Errorf("simplekv: remove empty %s: %w", dir, err)
		}
	}
	if err := fsys.Rename(tmp, dir); err != nil {
		return fmt.Errorf("simplekv: rename %s to %s: %w", tmp, dir, err)
	}
	if err := fsys.SyncDir(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("simplekv: sync %s: %w", filepath.Dir(dir), err)
	}
	return nil
}

// removeAll removes path and everything under it; a missing path is fine.
func removeAll(fsys vfs.FS, path string) error {
	st, err := fsys.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("simplekv: stat %s: %w", path, err)
	}
	if st.IsDir() {
		names, err := fsys.List(path)
		if err != nil {
			return fmt.Errorf("simplekv: list %s: %w", path, err)
		}
		for _, n := range names {
			if err := removeAll(fsys, filepath.Join(path, n)); err != nil {
				return err
			}
		}
	}
	if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("simplekv: remove %s: %w", path, err)
	}
	return nil
}
