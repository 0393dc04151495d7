package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/hintfile"
	"github.com/simplekv/simplekv/keydir"
)

// recovery is the state of one Open's rebuild of the keydir. Recovery runs
// in three steps: finish or discard an interrupted merge, load last_state/
// (from hint files, in parallel), then replay wal/ in id order.
type recovery struct {
	db  *DB
	now int64
	// byID holds every file loaded so far; it is only written between
	// parallel phases.
	byID  map[uint32]*dataFile
	maxID uint32
	// tombs maps each key with a delete marker in last_state/ to the
	// marker's highest sequence number. Files there hold overlapping
	// sequence ranges and load in parallel, and the keydir keeps no
	// tombstones, so a put is checked against this map before it goes in:
	// otherwise an older put loaded after the delete would come back. It
	// is complete before any put is loaded and read-only afterwards.
	tombs map[string]uint64

	// walBytes is the size of all log files; reserved is set once the
	// keydir was sized for their records (see replayReserve).
	walBytes int64
	reserved bool
	// walHinted holds the log files loaded from their hint files: the
	// replay skips them.
	walHinted map[uint32]bool
	// staleHints are log hint files that are not used (damaged, not
	// matching, or without a data file): removed once recovery succeeded,
	// so that a failed Open leaves them for a look.
	staleHints []string
	// walHintMax is the largest sequence number of each log file loaded
	// from its hint, and walSeq the largest of the log so far in id
	// order: the replay checks that sequence numbers rise through the
	// log (see recoverWALFile).
	walHintMax map[uint32]uint64
	walSeq     uint64

	mu sync.Mutex // guards db.seq and the stats while pass 2 runs in parallel
}

// recover rebuilds the keydir and returns the id for the new active file.
func (db *DB) recover() (nextID uint32, err error) {
	r := &recovery{db: db, now: time.Now().UnixNano(), byID: map[uint32]*dataFile{}}
	start := time.Now()
	if err := r.finishInterruptedMerge(); err != nil {
		return 0, err
	}
	if err := r.loadLastState(); err != nil {
		return 0, err
	}
	db.st.recoveryHints = time.Since(start)
	start = time.Now()
	if err := r.loadWAL(); err != nil {
		return 0, err
	}
	db.st.recoveryLog = time.Since(start)
	r.tombs = nil
	if r.maxID == ^uint32(0) {
		return 0, fmt.Errorf("simplekv: data file ids exhausted in %s", db.dir)
	}
	if err := r.removeStaleHints(); err != nil {
		return 0, err
	}
	return r.maxID + 1, nil
}

// finishInterruptedMerge rolls a committed merge forward (its journal is
// durable, so its outputs are complete) and deletes the temporary files of
// one that never committed.
func (r *recovery) finishInterruptedMerge() error {
	db := r.db
	ls := filepath.Join(db.dir, lastStateDir)
	j, found, err := compaction.ReadJournal(db.fs, ls)
	if err != nil {
		return fmt.Errorf("simplekv: %w", err)
	}
	if found {
		db.log.Warn("simplekv: finishing a merge interrupted after its commit",
			"inputs", len(j.Inputs), "outputs", len(j.Outputs))
		if err := db.finishMerge(j); err != nil {
			return err
		}
		for _, in := range j.Inputs {
			r.maxID = max(r.maxID, in.ID)
		}
		for _, id := range j.Outputs {
			r.maxID = max(r.maxID, id)
		}
	}
	names, err := db.fs.List(ls)
	if err != nil {
		return fmt.Errorf("simplekv: list %s: %w", ls, err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, compaction.TmpSuffix) {
			path := filepath.Join(ls, name)
			db.log.Info("simplekv: removing the leftover of a merge that did not commit", "path", path)
			if err := db.fs.Remove(path); err != nil {
				return fmt.Errorf("simplekv: remove %s: %w", path, err)
			}
		}
	}
	return nil
}

// finishMerge does everything after a merge's commit that concerns files:
// publish the outputs, remove the inputs, make both durable, and drop the
// journal. It is idempotent.
func (db *DB) finishMerge(j compaction.Journal) error {
	ls := filepath.Join(db.dir, lastStateDir)
	if err := compaction.Publish(db.fs, ls, j.Outputs); err != nil {
		return fmt.Errorf("simplekv: %w", err)
	}
	return db.removeMergeInputs(j)
}

// removeMergeInputs deletes a committed merge's inputs, syncs both
// directories and then drops the journal.
func (db *DB) removeMergeInputs(j compaction.Journal) error {
	ls := filepath.Join(db.dir, lastStateDir)
	var paths []string
	for _, in := range j.Inputs {
		if in.WAL {
			paths = append(paths, walPath(db.dir, in.ID), walHintPath(db.dir, in.ID))
		} else {
			paths = append(paths, lastStatePath(db.dir, in.ID), hintPath(db.dir, in.ID))
		}
	}
	for _, p := range paths {
		if err := db.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("simplekv: remove merged %s: %w", p, err)
		}
	}
	for _, d := range []string{filepath.Join(db.dir, walDir), ls} {
		if err := db.fs.SyncDir(d); err != nil {
			return fmt.Errorf("simplekv: sync %s: %w", d, err)
		}
	}
	if err := compaction.RemoveJournal(db.fs, ls); err != nil {
		return fmt.Errorf("simplekv: %w", err)
	}
	return nil
}

// lsFile is one last_state/ data file being loaded.
type lsFile struct {
	f    *dataFile
	hint *hintfile.File // nil: scan the data file instead
}

// loadLastState loads every merged data file, from its hint file when that
// is intact and matches, else by scanning the data file.
func (r *recovery) loadLastState() error {
	db := r.db
	ls := filepath.Join(db.dir, lastStateDir)
	names, err := db.fs.List(ls)
	if err != nil {
		return fmt.Errorf("simplekv: list %s: %w", ls, err)
	}
	dataIDs, hintIDs := map[uint32]bool{}, map[uint32]bool{}
	var ids []uint32
	for _, name := range names {
		if id, ok := parseDataFileName(name); ok {
			dataIDs[id] = true
			ids = append(ids, id)
			continue
		}
		if id, ok := parseHintFileName(name); ok {
			hintIDs[id] = true
			continue
		}
		if name != compaction.JournalName {
			db.log.Warn("simplekv: ignoring unknown file", "path", filepath.Join(ls, name))
		}
	}
	for id := range hintIDs {
		if !dataIDs[id] {
			p := hintPath(db.dir, id)
			db.log.Warn("simplekv: removing a hint file without its data file", "path", p)
			if err := db.fs.Remove(p); err != nil {
				return fmt.Errorf("simplekv: remove %s: %w", p, err)
			}
		}
	}
	files := make([]lsFile, 0, len(ids))
	defer func() {
		for _, lf := range files {
			if lf.hint != nil {
				lf.hint.Close()
			}
		}
	}()
	reserve := 0
	walIDs, err := r.walHints()
	if err != nil {
		return err
	}
	for _, id := range ids {
		r.maxID = max(r.maxID, id)
		path := lastStatePath(db.dir, id)
		fi, err := db.fs.Stat(path)
		if err != nil {
			return fmt.Errorf("simplekv: stat %s: %w", path, err)
		}
		f, err := db.addReader(id, path, false)
		if err != nil {
			return err
		}
		if fi.Size() < datafile.FileHeaderSize {
			return fmt.Errorf("simplekv: %w", &datafile.CorruptError{Path: path,
				Reason: fmt.Sprintf("merged data file of %d bytes, shorter than its header", fi.Size())})
		}
		if err := checkFileHeader(f, path, id); err != nil {
			return err
		}
		f.size.Store(fi.Size())
		db.st.diskBytes.Add(fi.Size())
		r.byID[id] = f
		lf := lsFile{f: f}
		if hintIDs[id] {
			if hi, err := db.fs.Stat(hintPath(db.dir, id)); err == nil {
				db.st.diskBytes.Add(hi.Size())
			}
			lf.hint = r.openHint(id, fi.Size())
		} else {
			db.log.Warn("simplekv: merged data file has no hint file; scanning it", "path", path)
		}
		if lf.hint != nil {
			ft := lf.hint.Footer()
			reserve += int(ft.Entries - ft.Tombstones)
			f.noteSeqs(ft.MinSeq, ft.MaxSeq)
			db.seq = max(db.seq, ft.MaxSeq)
		} else {
			db.st.hintFallbacks++
			reserve += int(fi.Size() / 64)
		}
		files = append(files, lf)
	}
	// Sealed log files with a hint load like merged files; the rest
	// are replayed by loadWAL.
	r.walHinted = map[uint32]bool{}
	r.walHintMax = map[uint32]uint64{}
	for _, id := range walIDs {
		path := walPath(db.dir, id)
		fi, err := db.fs.Stat(path)
		if err != nil {
			return fmt.Errorf("simplekv: stat %s: %w", path, err)
		}
		if fi.Size() < datafile.FileHeaderSize {
			continue // the replay removes it
		}
		hint := r.openWALHint(id, fi.Size())
		if hint == nil {
			continue
		}
		f, err := db.addReader(id, path, true)
		if err != nil {
			hint.Close()
			return err
		}
		files = append(files, lsFile{f: f, hint: hint})
		if err := checkFileHeader(f, path, id); err != nil {
			return err
		}
		r.walHinted[id] = true
		r.walHintMax[id] = hint.Footer().MaxSeq
		r.maxID = max(r.maxID, id)
		f.size.Store(fi.Size())
		db.st.diskBytes.Add(fi.Size())
		r.byID[id] = f
		ft := hint.Footer()
		reserve += int(ft.Entries - ft.Tombstones)
		f.noteSeqs(ft.MinSeq, ft.MaxSeq)
		db.seq = max(db.seq, ft.MaxSeq)
		db.st.walHintLoads++
	}
	if len(files) == 0 {
		return nil
	}
	// Pass 1: every delete marker, so pass 2 can check puts against them.
	r.tombs = map[string]uint64{}
	covered := make([]atomic.Int64, len(files)) // bytes of the records the hint lists
	for i, lf := range files {
		if lf.hint != nil {
			if err := lf.hint.Guard(func() {
				lf.hint.EachTombstone(func(e hintfile.Entry) {
					r.noteTomb(lf.f, e.Key, e.Seq, int64(e.Size))
					covered[i].Add(int64(e.Size))
				})
			}); err != nil {
				return fmt.Errorf("simplekv: %w", err)
			}
			db.st.recoveredRecords += int64(lf.hint.Footer().Tombstones)
			continue
		}
		if err := r.scanLastState(lf.f, true); err != nil {
			return err
		}
	}
	// Pass 2: the puts, in parallel.
	db.kd.Reserve(reserve)
	if err := r.loadPuts(files, covered); err != nil {
		return err
	}
	for i, lf := range files {
		if lf.hint != nil {
			noteUncovered(lf.f, covered[i].Load())
		}
	}
	return nil
}

// noteUncovered counts the bytes of f that its records (which take covered
// bytes) leave out as dead: the header records of the batches in a log
// file, which no entry points at and a merge drops.
func noteUncovered(f *dataFile, covered int64) {
	if gap := f.size.Load() - datafile.FileHeaderSize - covered; gap > 0 {
		f.dead.Add(gap)
	}
}

// loadPuts is pass 2: it loads the puts of every last_state/ file. Hint
// files group their puts by keydir shard (hintfile.GroupOf is the shard
// function), so each of GOMAXPROCS workers fills whole shards, one at a
// time, from the blocks of that group in every hint file: a shard's table
// and arena stay in cache while it fills, and no two workers share a
// shard's lock or cache lines. That is what makes loading 10M keys take
// well under the time of random inserts. Files whose hint is unusable are
// scanned by the workers in turn.
func (r *recovery) loadPuts(files []lsFile, covered []atomic.Int64) error {
	db := r.db
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for _, lf := range files {
		if lf.hint != nil {
			db.st.recoveredRecords += int64(lf.hint.Footer().Entries - lf.hint.Footer().Tombstones)
		}
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			expiresAt := make([]int64, len(files))
			cov := make([]int64, len(files))
			var strays []stray
			for g := w; g < hintfile.Groups && errs[w] == nil; g += workers {
				// Group g is shard g: one lock hold loads it all.
				sw := db.kd.LockShard(g)
				for i, lf := range files {
					if lf.hint == nil {
						continue
					}
					f := lf.f
					// A fault cuts the load short (Open then fails): the
					// shard is unlocked all the same, so that no other
					// worker waits on it.
					errs[w] = lf.hint.Guard(func() {
						for _, b := range lf.hint.GroupBlocks(g) {
							lf.hint.EachPut(b, func(e hintfile.Entry) {
								exp := e.Expiry
								if exp == 0 {
									exp = neverExpires
								}
								expiresAt[i] = max(expiresAt[i], exp)
								cov[i] += int64(e.Size)
								ke := keydir.Entry{FileID: f.id, Offset: e.Offset, Size: e.Size, Seq: e.Seq, Expiry: e.Expiry}
								if r.hidden(e.Key, e.Seq) {
									f.dead.Add(int64(e.Size))
									return
								}
								prev, had, installed, ok := sw.Put(e.Key, ke)
								if !ok {
									// hintfile.Open checks the grouping, so this
									// is not expected; still, never lose a key.
									strays = append(strays, stray{f: f, key: bytes.Clone(e.Key), e: ke})
									return
								}
								r.accountPut(ke, prev, had, installed)
							})
						}
					})
					if errs[w] != nil {
						errs[w] = fmt.Errorf("simplekv: %w", errs[w])
						break
					}
				}
				sw.Unlock()
			}
			for _, s := range strays {
				r.put(s.f, s.key, s.e)
			}
			for i, lf := range files {
				covered[i].Add(cov[i])
				if lf.hint == nil && i%workers == w {
					errs[w] = errors.Join(errs[w], r.scanLastState(lf.f, false))
				}
				for {
					cur := lf.f.expiresAt.Load()
					if expiresAt[i] <= cur || lf.f.expiresAt.CompareAndSwap(cur, expiresAt[i]) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loadPuts locks shard g to load hint group g: there must be as many of
// one as of the other (a compile error otherwise).
const _ = uint(hintfile.Groups-keydir.Shards) + uint(keydir.Shards-hintfile.Groups)

// stray is a hint entry found in a group that is not its key's shard.
type stray struct {
	f   *dataFile
	key []byte
	e   keydir.Entry
}

// checkFileHeader checks the header of data file id, loaded from its hint:
// the hint stands in for the records, not for the header, so a file of
// another format version (or not ours) fails Open now, not a read later.
func checkFileHeader(f *dataFile, path string, id uint32) error {
	hdr, err := f.r.ReadRaw(0, datafile.FileHeaderSize, nil)
	if err != nil {
		return fmt.Errorf("simplekv: %w", &datafile.CorruptError{Path: path, Reason: fmt.Sprintf("cannot read the file header: %v", err)})
	}
	if hid, err := datafile.DecodeFileHeader(path, hdr); err != nil {
		return fmt.Errorf("simplekv: %w", err)
	} else if hid != id {
		return fmt.Errorf("simplekv: %w", &datafile.CorruptError{Path: path,
			Reason: fmt.Sprintf("header names file id %d", hid)})
	}
	return nil
}

// walHints returns the ids of the log files that have a hint file, and
// removes the hint files whose data file is gone (a merge removed it
// while, or before, the hint was written).
func (r *recovery) walHints() ([]uint32, error) {
	db := r.db
	dir := filepath.Join(db.dir, walDir)
	names, err := db.fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("simplekv: list %s: %w", dir, err)
	}
	data := map[uint32]bool{}
	for _, name := range names {
		if id, ok := parseDataFileName(name); ok {
			data[id] = true
		}
	}
	var ids []uint32
	for _, name := range names {
		id, ok := parseHintFileName(name)
		if !ok {
			continue
		}
		if !data[id] {
			p := walHintPath(db.dir, id)
			db.log.Warn("simplekv: a hint file without its data file; removing it", "path", p)
			// Removed before Open creates its new log file, so that
			// file never meets it even if it takes the same id.
			r.staleHints = append(r.staleHints, p)
			continue
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// openWALHint opens and checks the hint file of log file id, whose data
// file is dataSize bytes. An unusable hint is removed: the data file is
// replayed instead, and Open writes it a new hint.
func (r *recovery) openWALHint(id uint32, dataSize int64) *hintfile.File {
	db := r.db
	path := walHintPath(db.dir, id)
	hf, err := hintfile.OpenMapped(db.fs, path)
	if err == nil && (hf.ID() != id || hf.Footer().DataSize != dataSize || hf.Footer().Entries == 0) {
		err = fmt.Errorf("hint names file %d of %d bytes with %d entries, data file is %d of %d bytes",
			hf.ID(), hf.Footer().DataSize, hf.Footer().Entries, id, dataSize)
		hf.Close()
	}
	if err != nil {
		db.log.Warn("simplekv: log hint file unusable; removing it and replaying its data file", "path", path, "err", err)
		db.st.hintFallbacks++
		r.staleHints = append(r.staleHints, path)
		return nil
	}
	return hf
}

// removeStaleHints removes the log hint files recovery did not use (Open
// writes new ones for the files it replayed) and syncs wal/.
func (r *recovery) removeStaleHints() error {
	db := r.db
	for _, p := range r.staleHints {
		if err := db.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("simplekv: remove %s: %w", p, err)
		}
	}
	if len(r.staleHints) == 0 {
		return nil
	}
	if err := db.fs.SyncDir(filepath.Join(db.dir, walDir)); err != nil {
		return fmt.Errorf("simplekv: sync %s: %w", filepath.Join(db.dir, walDir), err)
	}
	return nil
}

// openHint opens and checks the hint file of last_state/ file id, whose
// data file is dataSize bytes. A hint that is damaged or does not match
// its data file is not used (nil): the data file is scanned instead, so a
// bad hint costs time, never keys.
func (r *recovery) openHint(id uint32, dataSize int64) *hintfile.File {
	db := r.db
	path := hintPath(db.dir, id)
	// Mapped: recovery reads it once, in full, right away. Every read of
	// its entries runs inside hf.Guard (a page that fails to read from
	// the disk is then an error, not a crash).
	hf, err := hintfile.OpenMapped(db.fs, path)
	if err == nil && (hf.ID() != id || hf.Footer().DataSize != dataSize) {
		err = fmt.Errorf("hint names file %d of %d bytes, data file is %d of %d bytes",
			hf.ID(), hf.Footer().DataSize, id, dataSize)
		hf.Close()
	}
	if err != nil {
		db.log.Warn("simplekv: hint file unusable; scanning its data file instead", "path", path, "err", err)
		return nil
	}
	return hf
}

// scanLastState reads a merged data file whose hint is missing or
// damaged: its delete markers (tombsOnly) or its puts. A merged file was
// synced before it was published, so any damage in it is corruption.
func (r *recovery) scanLastState(f *dataFile, tombsOnly bool) error {
	db := r.db
	file, err := db.fs.Open(f.path)
	if err != nil {
		return fmt.Errorf("simplekv: open %s: %w", f.path, err)
	}
	defer file.Close()
	s := datafile.NewScanner(file, f.path, f.size.Load())
	n := int64(0)
	for s.Next() {
		if n == 0 && s.FileID() != f.id {
			return fmt.Errorf("simplekv: %w", &datafile.CorruptError{Path: f.path,
				Reason: fmt.Sprintf("header names file id %d", s.FileID())})
		}
		n++
		h := s.Header()
		tomb := h.Flags&datafile.FlagTombstone != 0
		if tomb != tombsOnly {
			continue
		}
		if tomb {
			r.noteTomb(f, s.Key(), h.Seq, h.Size())
			continue
		}
		f.noteRecord(h.Seq, h.Expiry, false, h.Size())
		r.put(f, s.Key(), keydir.Entry{FileID: f.id, Offset: uint32(s.Offset()), Size: uint32(h.Size()), Seq: h.Seq, Expiry: h.Expiry})
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("simplekv: recover: %w", err)
	}
	if s.Torn() {
		return fmt.Errorf("simplekv: recover: %w", &datafile.CorruptError{Path: f.path, Offset: s.End(),
			Reason: "incomplete record in a merged file"})
	}
	if !tombsOnly {
		r.mu.Lock()
		db.seq = max(db.seq, f.maxSeq.Load())
		db.st.recoveredRecords += n
		r.mu.Unlock()
	}
	return nil
}

// noteTomb records a delete marker of last_state/ (pass 1, one goroutine).
func (r *recovery) noteTomb(f *dataFile, key []byte, seq uint64, size int64) {
	f.noteRecord(seq, 0, true, size)
	if cur, ok := r.tombs[string(key)]; !ok || seq > cur {
		r.tombs[string(key)] = seq
	}
	r.db.seq = max(r.db.seq, seq)
}

// hidden reports whether a delete marker of last_state/ hides the put of
// key with sequence number seq.
func (r *recovery) hidden(key []byte, seq uint64) bool {
	if len(r.tombs) == 0 {
		return false
	}
	ts, ok := r.tombs[string(key)]
	return ok && ts > seq
}

// put installs one recovered put, unless a newer record of its key is
// already known, and keeps the dead-byte accounting of the files involved.
func (r *recovery) put(f *dataFile, key []byte, e keydir.Entry) {
	if r.hidden(key, e.Seq) {
		f.dead.Add(int64(e.Size))
		return
	}
	prev, had, installed := r.db.kd.Put(key, e)
	r.accountPut(e, prev, had, installed)
}

// accountPut counts the record that lost, if any, as dead in its file.
func (r *recovery) accountPut(e, prev keydir.Entry, had, installed bool) {
	switch {
	case !installed:
		if f := r.byID[e.FileID]; f != nil {
			f.dead.Add(int64(e.Size))
		}
	case had:
		if pf := r.byID[prev.FileID]; pf != nil {
			pf.dead.Add(int64(prev.Size))
		}
	}
}

// loadWAL replays wal/ in id order, which is sequence order.
func (r *recovery) loadWAL() error {
	db := r.db
	dir := filepath.Join(db.dir, walDir)
	names, err := db.fs.List(dir)
	if err != nil {
		return fmt.Errorf("simplekv: list %s: %w", dir, err)
	}
	var ids []uint32
	for _, name := range names {
		id, ok := parseDataFileName(name)
		if !ok {
			if _, hint := parseHintFileName(name); !hint {
				db.log.Warn("simplekv: ignoring unknown file", "path", filepath.Join(dir, name))
			}
			continue
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		if r.walHinted[id] {
			continue
		}
		if fi, err := db.fs.Stat(walPath(db.dir, id)); err == nil {
			r.walBytes += fi.Size()
		}
	}
	// Names sort in id order because ids are zero-padded.
	for i, id := range ids {
		if r.walHinted[id] {
			r.walSeq = max(r.walSeq, r.walHintMax[id])
			continue
		}
		kept, err := r.recoverWALFile(id, i == len(ids)-1)
		if err != nil {
			return err
		}
		// A removed empty file's id is not handed out again, except the
		// very last id: nothing refers to such a file, and counting it
		// would fail the Open with "ids exhausted" for nothing.
		if kept || id < math.MaxUint32 {
			r.maxID = max(r.maxID, id)
		}
		if kept {
			db.replayed = append(db.replayed, id)
		}
	}
	if r.reserved {
		db.kd.Fit()
	}
	return nil
}

// replaySample is how many records of the log recovery reads before it
// sizes the keydir for the rest.
const replaySample = 4096

// replayReserve sizes the keydir for the log being replayed once the
// first replaySample records (spanning bytes bytes of the files left)
// show the average record size: every record is assumed to be a new key,
// so growing the tables on the way (rehashing every key about five times)
// is avoided. Where keys repeat, the estimate is too high and loadWAL's
// Fit gives the excess back.
func (r *recovery) replayReserve(bytes int64) {
	r.reserved = true
	if bytes <= 0 {
		return
	}
	est := float64(r.walBytes) * replaySample / float64(bytes)
	r.db.kd.Reserve(r.db.kd.Len() + int(min(est, 1<<31)))
}

// recoverWALFile applies one log file to the keydir. A torn tail is
// tolerated (and truncated) only in the newest file; a file left with no
// records is removed. It reports whether the file stays.
func (r *recovery) recoverWALFile(id uint32, newest bool) (kept bool, err error) {
	db := r.db
	path := walPath(db.dir, id)
	file, err := db.fs.Open(path)
	if err != nil {
		return false, fmt.Errorf("simplekv: open %s: %w", path, err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return false, fmt.Errorf("simplekv: stat %s: %w", path, err)
	}
	size := fi.Size()
	f := &dataFile{id: id, wal: true, path: path}
	r.byID[id] = f
	s := datafile.NewScanner(file, path, size)
	records, covered := 0, int64(0)
	apply := newWALApplier(r)
	defer apply.finish() // before any return: workers read r.byID
	for s.Next() {
		if records == 0 && s.FileID() != id {
			return false, fmt.Errorf("simplekv: %w", &datafile.CorruptError{Path: path, Offset: 0,
				Reason: fmt.Sprintf("header names file id %d", s.FileID())})
		}
		records++
		h := s.Header()
		covered += h.Size()
		if h.Seq <= r.walSeq {
			// Sequence numbers are handed out in log order, so they rise
			// through each file and from file to file. A record that
			// breaks this was not written so (a forged or misplaced
			// record whose checksums hold): replaying it would resolve
			// its key differently from the hint this file gets next.
			return false, fmt.Errorf("simplekv: recover: %w", &datafile.CorruptError{Path: path, Offset: s.Offset(),
				Reason: fmt.Sprintf("sequence number %d is not above %d, the log's before it", h.Seq, r.walSeq)})
		}
		r.walSeq = h.Seq
		if records == replaySample && !r.reserved {
			r.replayReserve(s.Offset() + h.Size() - datafile.FileHeaderSize)
		}
		db.seq = max(db.seq, h.Seq)
		tomb := h.Flags&datafile.FlagTombstone != 0
		f.noteRecord(h.Seq, h.Expiry, tomb, h.Size())
		apply.add(f, s.Key(), keydir.Entry{
			FileID: id, Offset: uint32(s.Offset()), Size: uint32(h.Size()), Seq: h.Seq, Expiry: h.Expiry,
		}, tomb)
	}
	apply.finish()
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
		if s.Padding() {
			// Zeros only: the padding synced writes keep ahead of the
			// records (or an append whose data never reached the disk).
			// Nothing was torn; cut it like a torn tail.
			db.log.Debug("simplekv: cutting zero padding off the newest data file",
				"path", path, "offset", end, "bytes", size-end)
		} else {
			db.log.Warn("simplekv: truncating torn tail of the newest data file",
				"path", path, "offset", end, "dropped_bytes", size-end)
			db.st.tornBytes += size - end
		}
	}
	if records == 0 {
		// Only a header (or a torn one): nothing to keep.
		delete(r.byID, id)
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
		if err := file.Sync(); err != nil {
			return false, fmt.Errorf("simplekv: sync %s: %w", path, err)
		}
	}
	rd, err := db.openReader(path)
	if err != nil {
		return false, err
	}
	f.r = rd
	f.size.Store(end)
	noteUncovered(f, covered)
	db.files.add(f)
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
