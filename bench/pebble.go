package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// OpenPebble opens github.com/cockroachdb/pebble/v2 in dir.
//
// Configuration: pebble.Options with a silent logger and
// FormatMajorVersion = pebble.FormatNewest (pebble asks for an explicit
// format; a new database should use the newest) and a block cache of
// CacheSize (64 MiB, up from pebble's 8 MiB, the same budget as every
// engine); every other option at its default (4 MiB memtable, default
// compression and compaction). Every Put and Delete is one DB.Set or DB.Delete (a
// one-operation batch) with the write options chosen by cfg.Sync.
//
//   - Sync: pebble.Sync; the commit waits for the WAL to be fsynced, and
//     concurrent commits share one fsync (group commit).
//   - No sync: pebble.NoSync; the commit is written to the WAL (the OS)
//     without fsync. Sync writes an empty LogData record with pebble.Sync,
//     which fsyncs the WAL and everything before it (the way CockroachDB
//     syncs pebble's WAL); Close syncs the WAL.
//
// Fairness: Sync/NoSync write options are pebble's own durability switch.
// The logger's Fatalf, which pebble calls only on unrecoverable errors,
// panics instead of exiting so that it is not silenced. Get copies the
// value, since pebble's slice is valid only until its closer runs.
func OpenPebble(dir string, cfg Config) (DB, error) {
	c := pebble.NewCache(CacheSize)
	defer c.Unref() // the DB holds its own reference
	opts := &pebble.Options{
		Logger:             quietPebbleLogger{},
		FormatMajorVersion: pebble.FormatNewest,
		Cache:              c,
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	wo := pebble.NoSync
	if cfg.Sync {
		wo = pebble.Sync
	}
	return &pebbleDB{db: db, wo: wo}, nil
}

type pebbleDB struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

func (p *pebbleDB) Put(key, value []byte) error { return p.db.Set(key, value, p.wo) }

func (p *pebbleDB) Get(key []byte) ([]byte, error) {
	v, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte{}, v...)
	return out, closer.Close()
}

func (p *pebbleDB) Delete(key []byte) error { return p.db.Delete(key, p.wo) }

// Load writes the pairs as one pebble.Batch.
func (p *pebbleDB) Load(keys, values [][]byte) error {
	b := p.db.NewBatch()
	defer b.Close()
	for i := range keys {
		if err := b.Set(keys[i], values[i], nil); err != nil {
			return err
		}
	}
	return b.Commit(p.wo)
}

// WriteBatch writes the pairs as one pebble.Batch, as Load.
func (p *pebbleDB) WriteBatch(keys, values [][]byte) error { return p.Load(keys, values) }

// Compact flushes the memtable and compacts the whole key space into the
// bottom level: DB.Compact over [nil, pebbleMaxKey), in parallel where
// pebble can. Pebble needs an end key; no benchmark key reaches that one.
func (p *pebbleDB) Compact() error {
	if err := p.db.Flush(); err != nil {
		return err
	}
	return p.db.Compact(context.Background(), nil, pebbleMaxKey, true)
}

// pebbleMaxKey sorts after every key a benchmark writes.
var pebbleMaxKey = bytes.Repeat([]byte{0xff}, 1024)

func (p *pebbleDB) Sync() error {
	if p.wo == pebble.Sync {
		return nil // every write was fsynced
	}
	return p.db.LogData(nil, pebble.Sync)
}

func (p *pebbleDB) Close() error { return p.db.Close() }

// quietPebbleLogger discards pebble's informational and error logs.
type quietPebbleLogger struct{}

func (quietPebbleLogger) Infof(string, ...any)  {}
func (quietPebbleLogger) Errorf(string, ...any) {}
func (quietPebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
