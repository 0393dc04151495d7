package bench

import (
	"errors"

	"github.com/dgraph-io/badger/v4"
)

// OpenBadger opens github.com/dgraph-io/badger/v4 in dir (keys, LSM tables
// and value log all in dir).
//
// Configuration: badger.DefaultOptions(dir) with SyncWrites = cfg.Sync and
// the logger set to nil (silent) and the block cache set to CacheSize
// (64 MiB, down from badger's 256 MiB, the same budget as every engine);
// every other option at its default (64 MiB memtables, a 16 MiB index
// cache, snappy compression, values up to
// 1 MiB kept in the LSM tree, conflict detection on). Every Put and Delete
// is one read-write transaction (DB.Update) holding that one operation.
//
//   - Sync: SyncWrites makes each commit wait until the memtable WAL and
//     value log are fsynced; badger's single writer goroutine syncs once for
//     all the commits it gathered (group commit).
//   - No sync: commits are written to badger's mmapped memtable WAL and
//     value log without fsync; Sync calls DB.Sync (fsyncs both), and Close
//     flushes the memtable and syncs.
//
// Fairness: SyncWrites is badger's own durability switch and one
// transaction per write is how a badger user performs independent writes;
// WriteBatch would batch calls behind the caller's back and is not used.
// Get copies the value (Item.ValueCopy), since badger's slice is valid
// only inside its transaction.
func OpenBadger(dir string, cfg Config) (DB, error) {
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(cfg.Sync).
		WithLogger(nil).
		WithBlockCacheSize(CacheSize)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, err
	}
	return badgerDB{db}, nil
}

type badgerDB struct{ db *badger.DB }

func (b badgerDB) Put(key, value []byte) error {
	return b.db.Update(func(txn *badger.Txn) error {
		return txn.Set(key, value)
	})
}

func (b badgerDB) Get(key []byte) ([]byte, error) {
	var out []byte
	err := b.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (b badgerDB) Delete(key []byte) error {
	return b.db.Update(func(txn *badger.Txn) error {
		return txn.Delete(key)
	})
}

// Load writes the pairs through one badger.WriteBatch, badger's bulk path.
func (b badgerDB) Load(keys, values [][]byte) error {
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	for i := range keys {
		if err := wb.Set(keys[i], values[i]); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// WriteBatch writes the pairs in one read-write transaction (DB.Update):
// badger's atomic form. (Load's WriteBatch may commit in several
// transactions.)
func (b badgerDB) WriteBatch(keys, values [][]byte) error {
	return b.db.Update(func(txn *badger.Txn) error {
		for i := range keys {
			if err := txn.Set(keys[i], values[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Compact flushes the memtable and merges every LSM level into the last one
// (DB.Flatten), then collects value-log files until RunValueLogGC finds
// nothing more to rewrite. (With the default ValueThreshold of 1 MiB the
// benchmark's values live in the LSM tree, so the value log holds only the
// WAL copies.)
func (b badgerDB) Compact() error {
	if err := b.db.Flatten(2); err != nil {
		return err
	}
	for {
		err := b.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (b badgerDB) Sync() error  { return b.db.Sync() }
func (b badgerDB) Close() error { return b.db.Close() }
