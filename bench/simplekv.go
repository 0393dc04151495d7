package bench

import (
	"errors"
	"sync"

	"github.com/simplekv/simplekv/engine"
)

// OpenSimplekv opens simplekv (package engine) in dir.
//
// Configuration: engine.Options{SyncWrites: cfg.Sync}, every other option
// at its default (64 MiB read cache, snappy compression when it helps,
// memory-mapped reads of data files, background compaction, logger
// discarding).
//
//   - Sync: SyncWrites makes Put and Delete return only after an fdatasync
//     covering their record; concurrent writers share one (group commit).
//   - No sync: records are buffered in memory (256 KiB, flushed to the OS
//     every 10 ms) and fdatasynced every second in the background, on Sync,
//     on file rotation and on Close.
//
// Fairness: this is the engine's own durability switch, the same contract
// as the peers' (fsync before acknowledging, or buffered until Sync). The
// background fsync once a second in the no-sync mode only adds work that
// the peers do not do.
func OpenSimplekv(dir string, cfg Config) (DB, error) {
	db, err := engine.Open(dir, engine.Options{SyncWrites: cfg.Sync})
	if err != nil {
		return nil, err
	}
	return simplekvDB{db}, nil
}

type simplekvDB struct{ db *engine.DB }

func (s simplekvDB) Put(key, value []byte) error { return s.db.Put(key, value) }

func (s simplekvDB) Get(key []byte) ([]byte, error) {
	v, err := s.db.Get(key)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return nonNil(v), nil
}

func (s simplekvDB) Delete(key []byte) error { return s.db.Delete(key) }

// Load writes the pairs one Put at a time: an unsynced Put is an append to
// a buffer, and a batch would only add the work of making them visible at
// once. (With Config.Sync each Put is synced; kvbench preloads only
// unsynced databases.)
func (s simplekvDB) Load(keys, values [][]byte) error {
	for i := range keys {
		if err := s.db.Put(keys[i], values[i]); err != nil {
			return err
		}
	}
	return nil
}

// WriteBatch writes the pairs as one engine.Batch (DB.Write): one append
// and, with Config.Sync, one place in a group commit.
func (s simplekvDB) WriteBatch(keys, values [][]byte) error {
	b := batchPool.Get().(*engine.Batch)
	defer batchPool.Put(b)
	b.Reset()
	for i := range keys {
		b.Put(keys[i], values[i])
	}
	return s.db.Write(b)
}

// batchPool reuses batches' memory, as pebble does its own batches'.
var batchPool = sync.Pool{New: func() any { return new(engine.Batch) }}

// Compact merges every sealed data file (engine.DB.Compact). The active
// log file is sealed first by Compact itself.
func (s simplekvDB) Compact() error { return s.db.Compact() }
func (s simplekvDB) Sync() error    { return s.db.Sync() }
func (s simplekvDB) Close() error   { return s.db.Close() }
