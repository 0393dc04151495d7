package engine

import (
	"sync/atomic"
	"time"
)

// Stats is a point-in-time report of a DB.
type Stats struct {
	Keys         int   // live keys (including expired ones not yet dropped)
	DataFiles    int   // data files, including the active one
	DiskBytes    int64 // bytes in data files
	BytesWritten int64 // record bytes appended since Open
	KeydirBytes  int64 // approximate heap held by the keydir

	Puts, Deletes int64 // successful writes since Open
	Syncs         int64 // fsyncs of the active file since Open (group commits)

	CacheBytes, CacheHits, CacheMisses int64

	RecoveryDuration time.Duration // time Open took to rebuild the keydir
	RecoveredRecords int64         // records scanned by Open
	TornBytes        int64         // bytes of torn tail truncated by Open
}

type stats struct {
	diskBytes, bytesWritten atomic.Int64
	puts, deletes, syncs    atomic.Int64

	// Set during Open only.
	recoveryDuration time.Duration
	recoveredRecords int64
	tornBytes        int64
}

// Stats reports the DB's counters. It works after Close too (reporting the
// final values).
func (db *DB) Stats() Stats {
	cb, ch, cm := db.cache.Stats()
	return Stats{
		Keys:             db.kd.Len(),
		DataFiles:        db.files.len(),
		DiskBytes:        db.st.diskBytes.Load(),
		BytesWritten:     db.st.bytesWritten.Load(),
		KeydirBytes:      db.kd.MemoryBytes(),
		Puts:             db.st.puts.Load(),
		Deletes:          db.st.deletes.Load(),
		Syncs:            db.st.syncs.Load(),
		CacheBytes:       cb,
		CacheHits:        ch,
		CacheMisses:      cm,
		RecoveryDuration: db.st.recoveryDuration,
		RecoveredRecords: db.st.recoveredRecords,
		TornBytes:        db.st.tornBytes,
	}
}
