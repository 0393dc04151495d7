package bench

import (
	"bytes"
	"errors"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// goleveldbSyncKey is the reserved key that goleveldb's Sync deletes with a
// synced write (goleveldb has no other way to fsync its journal, and it
// ignores empty batches). Put refuses it so that Sync never loses data.
var goleveldbSyncKey = []byte("\x00bench.goleveldb.sync\x00")

// ErrReservedKey is returned by the goleveldb adapter's Put for the one key
// it reserves for Sync.
var ErrReservedKey = errors.New("bench: key reserved by the adapter")

// OpenGoleveldb opens github.com/syndtr/goleveldb in dir.
//
// Configuration: leveldb.OpenFile with a block cache of CacheSize (64 MiB,
// up from 8 MiB, the same budget as every engine) and otherwise default
// opt.Options (4 MiB write buffer, snappy compression, no bloom filter, as
// LevelDB itself); goleveldb has no logger option and writes its log to
// the LOG file in dir only. Every Put and Delete is one DB.Put or
// DB.Delete with opt.WriteOptions{Sync: cfg.Sync}.
//
//   - Sync: each write is appended to the journal and the journal fsynced
//     before returning; concurrent writers are merged into one journal
//     write and fsync (goleveldb's write merging, on by default).
//   - No sync: each write is appended to the journal (the OS) without
//     fsync. Sync issues a synced deletion of a reserved key
//     (goleveldbSyncKey), which fsyncs the journal and everything before
//     it; Close calls Sync first, because goleveldb's Close does not fsync
//     the journal.
//
// Fairness: WriteOptions.Sync is goleveldb's own durability switch, the
// same one LevelDB has. goleveldb's Get already returns a copy.
func OpenGoleveldb(dir string, cfg Config) (DB, error) {
	db, err := leveldb.OpenFile(dir, &opt.Options{BlockCacheCapacity: CacheSize})
	if err != nil {
		return nil, err
	}
	return &goleveldbDB{db: db, wo: &opt.WriteOptions{Sync: cfg.Sync}}, nil
}

type goleveldbDB struct {
	db *leveldb.DB
	wo *opt.WriteOptions
}

var goleveldbSynced = &opt.WriteOptions{Sync: true}

func (l *goleveldbDB) Put(key, value []byte) error {
	if bytes.Equal(key, goleveldbSyncKey) {
		return ErrReservedKey
	}
	return l.db.Put(key, value, l.wo)
}

func (l *goleveldbDB) Get(key []byte) ([]byte, error) {
	v, err := l.db.Get(key, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return nonNil(v), nil
}

// Load writes the pairs as one leveldb.Batch.
func (l *goleveldbDB) Load(keys, values [][]byte) error {
	var b leveldb.Batch
	for i := range keys {
		if bytes.Equal(keys[i], goleveldbSyncKey) {
			return ErrReservedKey
		}
		b.Put(keys[i], values[i])
	}
	return l.db.Write(&b, l.wo)
}

// WriteBatch writes the pairs as one leveldb.Batch, as Load.
func (l *goleveldbDB) WriteBatch(keys, values [][]byte) error { return l.Load(keys, values) }

// Compact compacts the whole key space (DB.CompactRange over an empty,
// i.e. unbounded, range).
func (l *goleveldbDB) Compact() error { return l.db.CompactRange(util.Range{}) }

func (l *goleveldbDB) Delete(key []byte) error { return l.db.Delete(key, l.wo) }

func (l *goleveldbDB) Sync() error {
	if l.wo.Sync {
		return nil // every write was fsynced
	}
	return l.db.Delete(goleveldbSyncKey, goleveldbSynced)
}

func (l *goleveldbDB) Close() error {
	return errors.Join(l.Sync(), l.db.Close())
}
