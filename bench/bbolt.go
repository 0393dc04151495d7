package bench

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bboltBucket is the one bucket every key lives in.
var bboltBucket = []byte("bench")

// OpenBbolt opens go.etcd.io/bbolt in dir, as the file dir/bbolt.db with
// one bucket, "bench".
//
// Configuration: bolt.DefaultOptions with NoSync = !cfg.Sync and a lock
// timeout of 5 s (so that a leaked handle fails the open instead of hanging
// it); the logger is left nil, which bbolt discards. Every Put and Delete
// is one read-write transaction (DB.Update) holding that one operation.
//
//   - Sync: each commit writes its pages and meta page and fdatasyncs the
//     file before returning, bbolt's default.
//   - No sync: NoSync makes each commit write its pages to the OS (the
//     page cache) without fsync; Sync and Close call DB.Sync (fdatasync).
//
// Fairness: one transaction per write is how a bbolt user performs
// independent writes; bbolt.DB.Batch would coalesce concurrent writers
// but delays each call by up to 10 ms and may run its function twice, so
// it is not used. bbolt has no cache of its own: reads come from its
// read-only mmap, i.e. the OS page cache. Get copies the value, since
// bbolt's slice is valid only inside its transaction.
func OpenBbolt(dir string, cfg Config) (DB, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	opts := *bolt.DefaultOptions
	opts.Timeout = 5 * time.Second
	opts.NoSync = !cfg.Sync
	db, err := bolt.Open(filepath.Join(dir, "bbolt.db"), 0o644, &opts)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bboltBucket)
		return err
	})
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return &bboltDB{db: db, sync: cfg.Sync}, nil
}

type bboltDB struct {
	db   *bolt.DB
	sync bool
}

func (b *bboltDB) Put(key, value []byte) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bboltBucket).Put(key, value)
	})
}

func (b *bboltDB) Get(key []byte) ([]byte, error) {
	var out []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bboltBucket).Get(key)
		if v == nil {
			return ErrNotFound
		}
		out = append([]byte{}, v...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Load writes the pairs in one read-write transaction.
func (b *bboltDB) Load(keys, values [][]byte) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bboltBucket)
		for i := range keys {
			if err := bk.Put(keys[i], values[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteBatch writes the pairs in one read-write transaction, as Load.
func (b *bboltDB) WriteBatch(keys, values [][]byte) error { return b.Load(keys, values) }

func (b *bboltDB) Delete(key []byte) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bboltBucket).Delete(key)
	})
}

func (b *bboltDB) Sync() error {
	if b.sync {
		return nil // every commit was fdatasynced
	}
	return b.db.Sync()
}

// Close syncs first: bbolt's Close does not fsync, and with NoSync the
// last commits may still be only in the page cache.
func (b *bboltDB) Close() error {
	return errors.Join(b.Sync(), b.db.Close())
}
