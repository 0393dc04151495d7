package engine

import (
	"sync/atomic"
	"time"
)

// Stats is a point-in-time report of a DB.
type Stats struct {
	Keys      int // live keys (including expired ones not yet dropped)
	DataFiles int // data files, including the active one
	// DiskBytes is the bytes in data files and in the hint files of
	// merged files (last_state/). Not counted: the hints of sealed log
	// files (wal/<id>.hint, written in the background and removed with
	// their file, about a fifth of their file for kvbench's records),
	// and the up to 1 MiB of zero padding SyncWrites keeps ahead of the
	// active file (see datafile.Writer.Preallocate).
	DiskBytes    int64
	BytesWritten int64 // record bytes appended since Open
	KeydirBytes  int64 // approximate heap held by the keydir
	// ScanSavedBytes is the keys and values running Scans keep from
	// batches applied after they started (see Scan).
	ScanSavedBytes int64

	Puts, Deletes int64 // successful writes since Open, batches' operations included
	Batches       int64 // batches written since Open (Write)
	Syncs         int64 // fsyncs of the active file since Open (group commits)

	CacheBytes, CacheHits, CacheMisses int64

	RecoveryDuration time.Duration // time Open took to rebuild the keydir
	// RecoveryHintsDuration is the part of it spent on last_state/ (hint
	// files), RecoveryLogDuration the part spent replaying wal/.
	RecoveryHintsDuration, RecoveryLogDuration time.Duration
	RecoveredRecords                           int64 // records loaded by Open (from hints or scans)
	TornBytes                                  int64 // bytes of torn tail truncated by Open
	// HintFallbacks counts data files Open had to scan because their
	// hint file was damaged or did not match (or, for a merged file, was
	// missing).
	HintFallbacks int64
	// WALHintFiles counts log files Open loaded from their hint files
	// (written when a log file is sealed) instead of replaying them.
	WALHintFiles int64

	// Files reports each data file (active one included), in id order.
	Files []FileStats
	// ReclaimableBytes is what a full merge would free: dead records,
	// and records whose files have wholly expired.
	ReclaimableBytes int64
	// Compactions counts merges completed since Open; CompactionReclaimed
	// is the disk space they freed (inputs minus outputs, hint files
	// included); LastCompaction is the latest one's duration.
	Compactions         int64
	CompactionReclaimed int64
	LastCompaction      time.Duration
	// CompactionRunning reports that a merge is in progress right now.
	CompactionRunning bool
}

// FileStats is the accounting of one data file.
type FileStats struct {
	ID         uint32
	WAL        bool  // in wal/ (the log) rather than last_state/ (merged)
	Active     bool  // the file being appended to
	Size       int64 // bytes, header included
	Live       int64 // bytes of records a read can still reach
	Dead       int64 // bytes of records overwritten, deleted or expired
	Tombstones int64 // bytes of delete markers
}

type stats struct {
	diskBytes, bytesWritten atomic.Int64
	puts, deletes, syncs    atomic.Int64
	batches                 atomic.Int64

	compactions, reclaimed, lastCompaction atomic.Int64
	merging                                atomic.Bool

	// Set during Open only.
	recoveryDuration           time.Duration
	recoveryHints, recoveryLog time.Duration
	recoveredRecords           int64
	tornBytes                  int64
	hintFallbacks              int64
	walHintLoads               int64
}

// Stats reports the DB's counters. It works after Close too (reporting the
// final values).
func (db *DB) Stats() Stats {
	cb, ch, cm := db.cache.Stats()
	now := time.Now().UnixNano()
	var files []FileStats
	var reclaimable int64
	active := db.active.Load()
	expired := db.expiredBytes(now)
	for _, f := range db.files.snapshot() {
		in := f.info(expired[f.id])
		fs := FileStats{ID: f.id, WAL: f.wal, Active: active != nil && active.ID() == f.id,
			Size: in.Size, Live: in.Live(), Dead: in.Dead, Tombstones: in.Tombstones}
		if !fs.Active && in.Expired(now) {
			fs.Dead += fs.Live
			fs.Live = 0
		}
		reclaimable += fs.Dead
		files = append(files, fs)
	}
	return Stats{
		RecoveryHintsDuration: db.st.recoveryHints,
		RecoveryLogDuration:   db.st.recoveryLog,
		HintFallbacks:         db.st.hintFallbacks,
		WALHintFiles:          db.st.walHintLoads,
		Files:                 files,
		ReclaimableBytes:      reclaimable,
		Compactions:           db.st.compactions.Load(),
		CompactionReclaimed:   db.st.reclaimed.Load(),
		LastCompaction:        time.Duration(db.st.lastCompaction.Load()),
		CompactionRunning:     db.st.merging.Load(),
		Keys:                  db.kd.Len(),
		DataFiles:             db.files.len(),
		DiskBytes:             db.st.diskBytes.Load(),
		BytesWritten:          db.st.bytesWritten.Load(),
		KeydirBytes:           db.kd.MemoryBytes(),
		ScanSavedBytes:        db.undo.savedBytes(),
		Puts:                  db.st.puts.Load(),
		Deletes:               db.st.deletes.Load(),
		Batches:               db.st.batches.Load(),
		Syncs:                 db.st.syncs.Load(),
		CacheBytes:            cb,
		CacheHits:             ch,
		CacheMisses:           cm,
		RecoveryDuration:      db.st.recoveryDuration,
		RecoveredRecords:      db.st.recoveredRecords,
		TornBytes:             db.st.tornBytes,
	}
}
