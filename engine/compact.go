package engine

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/hintfile"
	"github.com/simplekv/simplekv/keydir"
)

// Compact merges every data file except the active one into last_state/,
// after sealing the active file if it holds records: afterwards the
// directory holds only live records (and no delete markers), each merged
// file has a hint file, and the log is empty. Writers and readers keep
// running during the merge. Compact waits for a background merge in
// progress to finish first. If Close is called meanwhile, Compact returns
// an error wrapping compaction.ErrStopped and nothing changes.
//
// If a merge fails after its commit point (say, a directory sync fails),
// its end is left to the next Open, and until then every merge, Compact
// included, returns that error; reads and writes go on.
func (db *DB) Compact() error {
	if db.closed.Load() {
		return ErrClosed
	}
	db.mergeMu.Lock()
	defer db.mergeMu.Unlock()
	if db.closed.Load() {
		return ErrClosed
	}
	if db.mergeErr != nil {
		return db.mergeErr
	}
	if err := db.sealActive(); err != nil {
		return err
	}
	sealed := db.sealedFiles()
	now := time.Now().UnixNano()
	if !worthFullMerge(sealed, now, db.expiredBytes(now)) {
		return nil
	}
	return db.merge(sealed, "manual")
}

// worthFullMerge reports whether rewriting files would change anything:
// not if they are a single merged file with nothing dead (or expired) in it.
func worthFullMerge(files []*dataFile, now int64, expired map[uint32]int64) bool {
	if len(files) == 0 {
		return false
	}
	if len(files) > 1 || files[0].wal {
		return true
	}
	in := files[0].info(expired[files[0].id])
	return in.Dead > 0 || in.Tombstones > 0 || in.Expired(now)
}

// expiredBytes returns, per file id, the bytes of records the keydir still
// points at that have expired by now: dead space that no write counted,
// since nothing is written when a key expires.
func (db *DB) expiredBytes(now int64) map[uint32]int64 {
	var m map[uint32]int64
	db.kd.Expired(now, func(e keydir.Entry) {
		if m == nil {
			m = map[uint32]int64{}
		}
		m[e.FileID] += int64(e.Size)
	})
	return m
}

// maybeCompact runs one merge if the picker's triggers say so.
func (db *DB) maybeCompact() error {
	db.mergeMu.Lock()
	defer db.mergeMu.Unlock()
	if db.closed.Load() {
		return ErrClosed
	}
	if db.mergeErr != nil {
		return nil // reported when it happened; the next Open finishes it
	}
	sealed := db.sealedFiles()
	now := time.Now().UnixNano()
	expired := db.expiredBytes(now)
	infos := make([]compaction.FileInfo, len(sealed))
	byID := make(map[uint32]*dataFile, len(sealed))
	for i, f := range sealed {
		infos[i] = f.info(expired[f.id])
		byID[f.id] = f
	}
	plan := compaction.Pick(infos, now, db.opts.Compaction)
	if len(plan.Inputs) == 0 {
		return nil
	}
	inputs := make([]*dataFile, len(plan.Inputs))
	for i, id := range plan.Inputs {
		inputs[i] = byID[id]
	}
	return db.merge(inputs, plan.Reason)
}

// compactionWorker checks the triggers every CompactionInterval (jittered)
// until Close.
func (db *DB) compactionWorker() {
	defer close(db.compDone)
	for {
		d := time.Duration(float64(db.opts.CompactionInterval) * (0.8 + 0.4*rand.Float64()))
		t := time.NewTimer(d)
		select {
		case <-db.compStop:
			t.Stop()
			return
		case <-t.C:
		}
		err := db.maybeCompact()
		if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, compaction.ErrStopped) {
			db.log.Error("simplekv: background compaction failed", "err", err)
		}
	}
}

// sealActive rotates the active file if it holds any record, so that a
// full merge covers every write made so far.
func (db *DB) sealActive() error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	for {
		if db.closed.Load() {
			return ErrClosed
		}
		if db.writeErr != nil {
			return db.writeErr
		}
		if !db.syncing {
			break
		}
		db.syncCond.Wait()
	}
	if db.w.Size() == datafile.FileHeaderSize {
		return nil
	}
	return db.rotateLocked()
}

// sealedFiles returns every file but the active one, in id order. It holds
// wmu so that no rotation slips between reading the active id and listing
// the files (which would make the new active file look sealed).
func (db *DB) sealedFiles() []*dataFile {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	all := db.files.snapshot()
	out := all[:0]
	for _, f := range all {
		if f != db.activeFile {
			out = append(out, f)
		}
	}
	return out
}

// newID hands out a file id for a merge output.
func (db *DB) newID() (uint32, error) {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	return db.newIDLocked()
}

// merge rewrites inputs into last_state/ and swaps the result in. Called
// with mergeMu held. The steps, and why a crash at any point is safe:
//
//  1. Run writes outputs under temporary names and syncs them. A crash
//     leaves only temporaries, which recovery deletes.
//  2. Sync the log: every record the keydir points at, which the merge
//     relied on when it dropped older records, is durable.
//  3. Commit: write the journal (synced, renamed, directory synced).
//     From here recovery rolls the merge forward.
//  4. Publish the outputs, open them and move keydir entries to them by
//     compare-and-swap; remove the expired records it did not copy.
//  5. Take the inputs out of the file table once no read is using them,
//     close them, delete them, sync the directories, drop the journal.
func (db *DB) merge(inputs []*dataFile, reason string) error {
	start := time.Now()
	db.st.merging.Store(true)
	defer db.st.merging.Store(false)
	// Work on this DB's own table entries (their accounting is what the
	// checks below rely on), whatever the caller held on to.
	inputs = slices.Clone(inputs)
	for i, f := range inputs {
		cur, ok := db.files.get(f.id)
		if !ok {
			return fmt.Errorf("simplekv: compaction: input file %d is not open", f.id)
		}
		inputs[i] = cur
	}
	ls := filepath.Join(db.dir, lastStateDir)
	isInput := make(map[uint32]bool, len(inputs))
	var in []compaction.Input
	var refs []compaction.FileRef
	var inBytes int64
	for _, f := range inputs {
		isInput[f.id] = true
		ref := compaction.FileRef{WAL: f.wal, ID: f.id}
		in = append(in, compaction.Input{FileRef: ref, Path: f.path})
		refs = append(refs, ref)
		inBytes += f.size.Load()
		if !f.wal {
			if fi, err := db.fs.Stat(hintPath(db.dir, f.id)); err == nil {
				inBytes += fi.Size()
			}
		}
	}
	minSurviving := uint64(math.MaxUint64)
	for _, f := range db.files.snapshot() {
		if ms := f.minSeq.Load(); !isInput[f.id] && ms != 0 {
			minSurviving = min(minSurviving, ms)
		}
	}
	db.log.Info("simplekv: compaction started", "reason", reason, "inputs", len(inputs), "bytes", inBytes)
	m := &compaction.Merger{
		FS: db.fs, Keydir: db.kd, Dir: ls, MaxFileSize: db.opts.MaxFileSize,
		NewID: db.newID, Now: time.Now().UnixNano(), MinSurvivingSeq: minSurviving, Stop: db.compStop,
	}
	res, err := m.Run(in)
	if err != nil {
		return fmt.Errorf("simplekv: %w", err)
	}
	// Every byte the keydir points at in an input must have been seen by
	// the scan (live bytes only shrink while a merge runs). More means
	// entries that name no record in the file: refuse before committing.
	if f, live := db.stillPointed(inputs, res.PointedBytes); f != nil {
		res.Discard(db.fs)
		return fmt.Errorf("simplekv: compaction: %w", &datafile.CorruptError{Path: f.path,
			Reason: fmt.Sprintf("the keydir points at %d bytes of records here, the file holds %d of them (a hint file disagrees with its data file?); run Repair",
				live, res.PointedBytes[f.id])})
	}
	if err := db.Sync(); err != nil {
		res.Discard(db.fs)
		if errors.Is(err, ErrClosed) {
			return fmt.Errorf("simplekv: compaction: %w: the DB is closing", compaction.ErrStopped)
		}
		return fmt.Errorf("simplekv: compaction: sync the log before commit: %w", err)
	}
	j := compaction.Journal{Inputs: refs, Outputs: res.OutputIDs()}
	renamed, err := compaction.WriteJournal(db.fs, ls, j)
	if err != nil && !renamed {
		res.Discard(db.fs)
		return fmt.Errorf("simplekv: %w", err)
	}
	if err == nil {
		err = db.installMerge(j, res, inputs)
	}
	if errors.Is(err, errRolledBack) {
		return err // nothing left half done: the inputs stay, merges go on
	}
	if err != nil {
		// Committed but not finished: the next Open finishes it. Until
		// then no further merge runs, since it could remove a file this
		// one still needs.
		db.mergeErr = fmt.Errorf("simplekv: compaction committed but not finished (the next Open finishes it): %w", err)
		db.log.Error("simplekv: compaction failed after its commit", "err", err)
		return db.mergeErr
	}
	dur := time.Since(start)
	db.st.compactions.Add(1)
	db.st.reclaimed.Add(inBytes - res.OutputBytes)
	db.st.lastCompaction.Store(int64(dur))
	db.log.Info("simplekv: compaction finished", "reason", reason, "duration", dur,
		"inputs", len(inputs), "outputs", len(res.Outputs), "copied", res.Copied, "dropped", res.Dropped,
		"kept_tombstones", res.KeptTombstones, "reclaimed_bytes", inBytes-res.OutputBytes)
	return nil
}

// installMerge carries out steps 4 and 5 of merge.
func (db *DB) installMerge(j compaction.Journal, res *compaction.Result, inputs []*dataFile) error {
	ls := filepath.Join(db.dir, lastStateDir)
	if err := compaction.Publish(db.fs, ls, j.Outputs); err != nil {
		return err
	}
	for _, out := range res.Outputs {
		f, err := db.addReader(out.ID, out.Data, false)
		if err != nil {
			return err
		}
		f.size.Store(out.Size)
		f.noteSeqs(out.MinSeq, out.MaxSeq)
		f.tombs.Store(out.TombBytes)
		f.expiresAt.Store(out.ExpiresAt)
		db.st.diskBytes.Add(out.Size)
		if fi, err := db.fs.Stat(out.Hint); err == nil {
			db.st.diskBytes.Add(fi.Size())
		}
		hf, err := hintfile.Open(db.fs, out.Hint)
		if err != nil {
			return err
		}
		_, lost, err := compaction.Install(db.kd, out, hf, func(id uint32, size int64) {
			if in, ok := db.files.get(id); ok {
				in.dead.Add(size)
			}
		})
		hf.Close()
		f.dead.Add(lost)
		if err != nil {
			return err
		}
	}
	for _, x := range res.Expired {
		// Remove the expired record only if it is still the key's newest
		// (sequence numbers are unique, so <= its own means it).
		if prev, removed := db.kd.Delete(x.Key, x.Entry.Seq+1); removed {
			db.cache.Invalidate(x.Key)
			// Not noteDead: that reads activeFile, which needs wmu.
			if f, ok := db.files.get(prev.FileID); ok {
				f.dead.Add(int64(prev.Size))
			}
		}
	}
	// Nothing may point into an input any more (accounting is exact: an
	// entry moved by Install or replaced by a writer counted its input
	// bytes dead). If something still does, roll the commit back: drop
	// the journal and keep the inputs. Inputs and outputs then both stay,
	// which recovery handles (duplicates carry the same sequence numbers).
	if f, live := db.stillPointed(inputs, nil); f != nil {
		cerr := &datafile.CorruptError{Path: f.path,
			Reason: fmt.Sprintf("%d bytes of records here are still in the keydir after the merge; keeping the file (run Repair)", live)}
		if rerr := compaction.RemoveJournal(db.fs, ls); rerr != nil {
			return fmt.Errorf("simplekv: compaction: %w (and dropping the journal failed: %w)", cerr, rerr)
		}
		return fmt.Errorf("simplekv: compaction: %w: %w", errRolledBack, cerr)
	}
	if knobs.mergeInstalled != nil {
		knobs.mergeInstalled()
	}
	ids := make([]uint32, len(inputs))
	for i, f := range inputs {
		ids[i] = f.id
	}
	var errs []error
	for _, f := range db.files.remove(ids) {
		db.fds.forget(f)
		errs = append(errs, f.r.Close())
		db.st.diskBytes.Add(-f.size.Load())
		if !f.wal {
			if fi, err := db.fs.Stat(hintPath(db.dir, f.id)); err == nil {
				db.st.diskBytes.Add(-fi.Size())
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		db.log.Warn("simplekv: closing merged files", "err", err)
	}
	db.fileDelMu.Lock() // wait out a checkpoint still copying from the inputs
	defer db.fileDelMu.Unlock()
	return db.removeMergeInputs(j)
}

// errRolledBack marks a merge undone after its commit: its journal is gone
// and its inputs stay, next to its outputs.
var errRolledBack = errors.New("merge rolled back")

// stillPointed returns the first input whose live bytes (those the keydir
// points at) exceed allowed[id] (zero when allowed is nil), with them. It
// holds wmu, so that no write is between its keydir update and counting
// the record it replaced as dead.
func (db *DB) stillPointed(inputs []*dataFile, allowed map[uint32]int64) (*dataFile, int64) {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	for _, f := range inputs {
		if live := f.info(0).Live(); live > allowed[f.id] {
			return f, live
		}
	}
	return nil, 0
}
