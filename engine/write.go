package engine

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/keydir"
)

// encBuf holds per-call scratch space for encoding, reused through a pool
// so the write path does not allocate.
type encBuf struct {
	comp []byte
	rec  []byte
}

var encPool = sync.Pool{New: func() any { return &encBuf{} }}

// Put stores value under key, replacing any earlier value. Keys and values
// are arbitrary bytes; an empty value is a real value, distinct from a
// deleted key. On a nil error the record is in the log (and, with
// SyncWrites, on stable storage) and visible to readers. On an error nothing
// was made visible; after an I/O error the record may or may not survive a
// restart, and further writes fail with ErrWriteFailed.
//
// The DB keeps neither key nor value: callers may reuse both.
func (db *DB) Put(key, value []byte) error {
	if err := db.checkKey(key); err != nil {
		return err
	}
	if len(value) > db.opts.MaxValueSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, len(value), db.opts.MaxValueSize)
	}
	return db.write(key, value, 0, false)
}

// PutWithTTL stores value under key like Put, to expire ttl from now: from
// then on Get and Has no longer see it (at once, not at the next
// compaction), and compaction drops its record. A later Put without TTL
// replaces it for good. ttl must be positive (ErrInvalidTTL otherwise).
// Expiry uses the wall clock of the machine, so moving the clock moves it.
func (db *DB) PutWithTTL(key, value []byte, ttl time.Duration) error {
	if err := db.checkKey(key); err != nil {
		return err
	}
	if len(value) > db.opts.MaxValueSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, len(value), db.opts.MaxValueSize)
	}
	if ttl <= 0 {
		return fmt.Errorf("%w: %v", ErrInvalidTTL, ttl)
	}
	return db.write(key, value, expiryAfter(time.Now().UnixNano(), ttl), false)
}

// expiryAfter is the expiry of a value written at now (unix nanoseconds)
// with a positive ttl: now+ttl, or the far future if that overflows.
func expiryAfter(now int64, ttl time.Duration) int64 {
	if int64(ttl) >= math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(ttl)
}

// Delete removes key. Deleting an absent key is not an error and writes
// nothing. On a nil error the delete is in the log (with SyncWrites, on
// stable storage) and the key is invisible to readers.
func (db *DB) Delete(key []byte) error {
	if err := db.checkKey(key); err != nil {
		return err
	}
	if db.closed.Load() {
		return ErrClosed
	}
	if _, ok := db.kd.Get(key); !ok {
		// Nothing to delete, as far as the keydir knows. After a failed
		// write or fsync that is not certain (the failed write may yet
		// reach the disk and come back at reopen), so refuse like any
		// other write instead of promising a delete that was not made.
		if db.failed.Load() {
			db.wmu.Lock()
			defer db.wmu.Unlock()
			return db.writeErr
		}
		return nil
	}
	return db.write(key, nil, 0, true)
}

// Sync writes every buffered record to the OS and makes all records
// written so far durable. Without SyncWrites it closes the window of
// possible loss up to this point; with SyncWrites every acknowledged write
// is durable already.
func (db *DB) Sync() error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.closed.Load() {
		return ErrClosed
	}
	return db.waitDurableLocked(db.appended)
}

func (db *DB) checkKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > db.opts.MaxKeySize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLarge, len(key), db.opts.MaxKeySize)
	}
	return nil
}

// write appends one record and applies it to the keydir once it is as
// durable as the options promise.
func (db *DB) write(key, value []byte, expiry int64, tombstone bool) error {
	eb := encPool.Get().(*encBuf)
	defer encPool.Put(eb)
	var stored []byte
	var flags byte
	if tombstone {
		flags = datafile.FlagTombstone
	} else {
		try := !db.opts.DisableCompression && len(value) >= datafile.MinCompressLen && db.compress.try()
		stored, flags = datafile.PrepareValue(value, try, &eb.comp)
		if try {
			db.compress.result(flags&datafile.FlagCompressed != 0)
		}
	}

	var size int64
	db.wmu.Lock()
	defer db.wmu.Unlock()
	for {
		if db.closed.Load() {
			return ErrClosed
		}
		if db.writeErr != nil {
			return db.writeErr
		}
		// The record's exact size: its header depends on the sequence
		// number, db.seq+1 (wmu held).
		size = datafile.RecordSize(db.seq+1, expiry, len(key), len(stored))
		if db.w.Size()+size <= db.opts.MaxFileSize || db.w.Size() == datafile.FileHeaderSize {
			break
		}
		if db.syncing {
			// Never rotate under a group-commit leader's fsync. Waiting
			// releases wmu, so everything above is checked again.
			db.syncCond.Wait()
			continue
		}
		if err := db.rotateLocked(); err != nil {
			return err
		}
	}
	// From here to the append wmu is held throughout, so sequence numbers
	// are handed out in file order.
	seq := db.seq + 1
	var err error
	eb.rec, err = datafile.AppendEncoded(eb.rec[:0], seq, expiry, flags, key, stored)
	if err != nil {
		return fmt.Errorf("simplekv: %w", err)
	}
	off, err := db.w.Append(eb.rec)
	if err != nil {
		return db.failLocked(err)
	}
	db.seq = seq
	db.appended += uint64(size)
	target := db.appended
	db.st.bytesWritten.Add(size)
	db.st.diskBytes.Add(size)
	db.activeFile.noteAppend(seq, expiry, tombstone, size)
	e := keydir.Entry{FileID: db.w.ID(), Offset: uint32(off), Size: uint32(size), Seq: seq, Expiry: expiry}

	if db.opts.SyncWrites {
		db.pending = append(db.pending, pendingOp{key: bytes.Clone(key), e: e, tombstone: tombstone, pos: target})
		return db.waitDurableLocked(target)
	}
	if db.w.Buffered() >= db.opts.BufferSize {
		if err := db.w.Flush(); err != nil {
			return db.failLocked(err)
		}
	}
	db.applyLocked(key, e, tombstone)
	return nil
}

// pendingOp is a synced-mode write waiting for its fsync.
type pendingOp struct {
	key       []byte
	e         keydir.Entry
	tombstone bool
	batch     []keydir.Op // a batch instead of one write (key is nil)
	pos       uint64      // log position just past the record
}

// applyLocked makes one write visible, and counts the record it replaces
// as dead in that record's file.
func (db *DB) applyLocked(key []byte, e keydir.Entry, tombstone bool) {
	if tombstone {
		if prev, removed := db.kd.Delete(key, e.Seq); removed {
			db.noteDead(prev)
		}
		db.st.deletes.Add(1)
	} else {
		if prev, had, installed := db.kd.Put(key, e); had && installed {
			db.noteDead(prev)
		}
		db.st.puts.Add(1)
	}
	db.cache.Invalidate(key)
}

// noteDead counts the record e locates as dead in its file. Call it with
// wmu held (it reads activeFile).
func (db *DB) noteDead(e keydir.Entry) {
	if f := db.activeFile; f != nil && f.id == e.FileID {
		f.dead.Add(int64(e.Size)) // the common case: no map lookup
		return
	}
	if f, ok := db.files.get(e.FileID); ok {
		f.dead.Add(int64(e.Size))
	}
}

// markSyncedLocked records that the log is durable up to pos and applies,
// in append order, every pending write it covers.
func (db *DB) markSyncedLocked(pos uint64) {
	db.synced = max(db.synced, pos)
	n := 0
	for n < len(db.pending) && db.pending[n].pos <= db.synced {
		op := &db.pending[n]
		if op.batch != nil {
			db.applyBatchLocked(op.batch)
		} else {
			db.applyLocked(op.key, op.e, op.tombstone)
		}
		n++
	}
	clear(db.pending[:n])
	db.pending = db.pending[n:]
}

// waitDurableLocked returns once every record up to log position target is
// on stable storage. It is group commit: the first waiter becomes the leader,
// flushes the buffer and runs one fsync without holding wmu, so writers that
// arrive meanwhile append and then share the next fsync. Called and returns
// with wmu held.
func (db *DB) waitDurableLocked(target uint64) error {
	db.waiters++
	defer func() { db.waiters-- }()
	for db.synced < target {
		if db.writeErr != nil {
			return db.writeErr
		}
		if db.syncing {
			db.syncCond.Wait()
			continue
		}
		db.syncing = true // before gathering: arrivals must follow, not lead
		db.gatherLocked()
		upTo, batch := db.appended, db.waiters
		w := db.w
		// With SyncWrites, keep zeros written ahead of the records, so
		// that this fdatasync and the next ones have no size change to
		// commit (datafile Preallocate): each costs about 155 instead of
		// 245 µs here. Not without: there a Sync is rare, and writing
		// every byte of the log twice would cost more than it saves. Best
		// effort: without padding an fsync is just slower.
		if db.opts.SyncWrites {
			if perr := w.Preallocate(db.opts.MaxFileSize); perr != nil && !db.padWarned {
				db.padWarned = true
				db.log.Warn("simplekv: cannot preallocate the active data file; synced writes will be slower", "err", perr)
			}
		}
		err := w.Flush()
		if err == nil {
			db.wmu.Unlock()
			err = w.File().Sync()
			db.wmu.Lock()
			if err != nil {
				err = fmt.Errorf("datafile: sync %s: %w", w.Path(), err)
				w.Fail(err)
			}
		}
		db.syncing = false
		db.syncCond.Broadcast()
		if err != nil {
			return db.failLocked(err)
		}
		db.markSyncedLocked(upTo)
		db.lastBatch = batch
		db.st.syncs.Add(1)
	}
	return nil
}

// gatherLocked lets a new group-commit leader wait, briefly, for the writers
// the previous sync released to come back with their next records. Without
// it, writers split into two cohorts that alternate (one appends while the
// other's fsync runs), and each fsync carries only half of them. It yields the
// processor a bounded number of times, and stops as soon as the released
// writers are back.
func (db *DB) gatherLocked() {
	want := db.waiters + db.lastBatch
	for i := 0; i < maxGatherYields && db.waiters < want; i++ {
		db.wmu.Unlock()
		runtime.Gosched()
		db.wmu.Lock()
	}
}

// maxGatherYields bounds gatherLocked: each yield costs a few microseconds,
// an fsync here 200-450.
const maxGatherYields = 4

// failLocked makes an I/O error sticky: every later write returns it.
func (db *DB) failLocked(err error) error {
	if db.writeErr == nil {
		db.pending = nil // their writers all get the error: never applied
		db.writeErr = fmt.Errorf("%w: %w", ErrWriteFailed, err)
		db.failed.Store(true)
		db.log.Error("simplekv: write path failed; refusing further writes", "err", err)
	}
	return db.writeErr
}

// newIDLocked hands out the next file id. Log files and merge outputs
// share one id space, so an id names one file for the life of the
// directory.
func (db *DB) newIDLocked() (uint32, error) {
	if db.nextID > math.MaxUint32 {
		return 0, fmt.Errorf("data file ids exhausted in %s", db.dir)
	}
	id := uint32(db.nextID)
	db.nextID++
	return id, nil
}

// rotateLocked seals the active file (fully synced) and starts the next.
// The caller holds wmu without a sync in progress; rotateLocked does not
// release wmu.
func (db *DB) rotateLocked() error {
	old := db.w
	// Seal, not Sync: a sealed file must end at its last record, without
	// the zero padding synced writes keep ahead of it.
	if err := old.Seal(); err != nil {
		return db.failLocked(err)
	}
	db.markSyncedLocked(db.appended)
	db.syncCond.Broadcast()
	next, err := db.newIDLocked()
	if err != nil {
		return db.failLocked(err)
	}
	if err := db.startWriter(next); err != nil {
		return db.failLocked(err)
	}
	if err := old.Close(); err != nil {
		db.log.Warn("simplekv: close sealed data file", "path", old.Path(), "err", err)
	}
	db.hintInBackground(old.ID())
	return nil
}
