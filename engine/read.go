package engine

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/keydir"
)

// Get returns the value of key, or an error matching ErrNotFound. The
// returned slice belongs to the caller. An empty stored value is returned as
// a non-nil empty slice.
func (db *DB) Get(key []byte) ([]byte, error) {
	if err := db.checkKey(key); err != nil {
		return nil, err
	}
	return db.get(key)
}

// get is Get without the key check.
func (db *DB) get(key []byte) ([]byte, error) { return db.getExpiry(key, nil) }

// getExpiry is get that also stores the value's expiry (0: none) in *exp
// if exp is not nil.
func (db *DB) getExpiry(key []byte, exp *int64) ([]byte, error) {
	return db.read(key, exp, false)
}

// read is getExpiry; wmuHeld says the caller holds wmu (a value still in
// the write buffer is then read without taking it).
func (db *DB) read(key []byte, exp *int64, wmuHeld bool) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		if db.closed.Load() {
			return nil, ErrClosed
		}
		v, err := db.getOnce(key, exp, wmuHeld)
		// A merge moved the record and removed its file between our
		// lookup and the read: the keydir already has the new place.
		if err == nil || !errors.Is(err, errFileGone) {
			return v, err
		}
		if attempt == maxMovedRetries {
			// The entry keeps naming a file that is gone: it never
			// pointed at a real record (a hint file that disagreed with
			// its data file, say).
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
}

// getOnce looks key up and reads its record. The keydir pin it holds from
// the lookup until it is done with the record keeps the record's file open
// (see fileTable); a record still in the write buffer is read without it.
func (db *DB) getOnce(key []byte, exp *int64, wmuHeld bool) ([]byte, error) {
	e, ok, pin := db.kd.GetPinned(key)
	if !ok {
		return nil, ErrNotFound
	}
	if exp != nil {
		*exp = e.Expiry
	}
	if e.Expiry != 0 && e.Expiry <= time.Now().UnixNano() {
		pin.Release()
		return nil, ErrNotFound
	}
	if w := db.active.Load(); w != nil && w.ID() == e.FileID && int64(e.Offset)+int64(e.Size) > w.Flushed() {
		// readBuffered takes wmu, under which writers wait for keydir
		// shards: holding the pin there could deadlock.
		pin.Release()
		return db.getBuffered(key, e, wmuHeld)
	}
	f, ok := db.files.get(e.FileID)
	if !ok {
		pin.Release()
		if db.closed.Load() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("%w: keydir names data file %d, which is not open", errFileGone, e.FileID)
	}
	v, costly, err := db.readFile(f, key, e)
	pin.Release()
	if err == nil && costly {
		// The cache keeps its own copy: the caller owns v.
		db.cache.Add(key, e.Seq, bytes.Clone(v))
	}
	return v, err
}

// readFile reads and verifies key's record e in file f and returns a copy
// of its value; costly reports that the value is worth caching
// (worthCaching). The read cache is probed only where it can pay off:
// before a system call (no mapping), or before a decompression. A plain
// value read from a mapping is never cached, so looking for it there would
// cost a cache-shard lock, shared by all readers, for nothing.
func (db *DB) readFile(f *dataFile, key []byte, e keydir.Entry) (v []byte, costly bool, err error) {
	mapped := f.r.Mapped()
	if !mapped {
		if v, ok := db.cache.Get(key, e.Seq); ok {
			return bytes.Clone(v), false, nil
		}
		db.fds.touch(f)
	}
	off := int64(e.Offset)
	raw, err := f.r.ReadRaw(off, int(e.Size), nil)
	if err != nil {
		return nil, false, err
	}
	rec, err := datafile.DecodeStoredVersion(f.r.Version(), f.path, off, raw)
	if err != nil {
		return nil, false, err
	}
	if err := checkRecord(f.path, off, rec, key, e); err != nil {
		return nil, false, err
	}
	if !rec.Compressed {
		return bytes.Clone(rec.Value), !mapped, nil
	}
	if mapped {
		if v, ok := db.cache.Get(key, e.Seq); ok {
			return bytes.Clone(v), false, nil
		}
	}
	v, err = datafile.Decompress(f.path, off, rec.Value)
	if err != nil {
		return nil, false, err
	}
	return v, worthCaching(true, mapped, len(v)), nil
}

// getBuffered reads key's record e from the active writer's buffer. If the
// record has meanwhile been flushed (or the file rotated), it returns
// errFileGone, so that Get looks the key up again and reads the file.
func (db *DB) getBuffered(key []byte, e keydir.Entry, wmuHeld bool) ([]byte, error) {
	if v, ok := db.cache.Get(key, e.Seq); ok {
		return bytes.Clone(v), nil
	}
	raw, path, ok := db.readBuffered(e, wmuHeld)
	if !ok {
		return nil, fmt.Errorf("%w: the record left the write buffer", errFileGone)
	}
	off := int64(e.Offset)
	rec, err := datafile.DecodeStored(path, off, raw)
	if err != nil {
		return nil, err
	}
	if err := checkRecord(path, off, rec, key, e); err != nil {
		return nil, err
	}
	if !rec.Compressed {
		return rec.Value, nil // raw is a copy already
	}
	v, err := datafile.Decompress(path, off, rec.Value)
	if err != nil {
		return nil, err
	}
	if worthCaching(true, true, len(v)) {
		db.cache.Add(key, e.Seq, bytes.Clone(v))
	}
	return v, nil
}

// errFileGone is returned by getOnce for a file that is no longer in the
// table, which is normal when a merge has just removed it, and for a record
// that has just left the write buffer: Get then looks the key up again.
var errFileGone = errors.New("simplekv: data file removed")

// maxMovedRetries bounds Get's retries after errFileGone. A record moves
// once per merge and merges run one at a time, so two are plenty; the bound
// only guards against a keydir bug looping forever.
const maxMovedRetries = 8

// Has reports whether key has a live value. It reads only the keydir.
func (db *DB) Has(key []byte) (bool, error) {
	if err := db.checkKey(key); err != nil {
		return false, err
	}
	if db.closed.Load() {
		return false, ErrClosed
	}
	_, ok := db.lookup(key)
	return ok, nil
}

// lookup returns key's live (present and unexpired) keydir entry.
func (db *DB) lookup(key []byte) (keydir.Entry, bool) {
	e, ok := db.kd.Get(key)
	if !ok || (e.Expiry != 0 && e.Expiry <= time.Now().UnixNano()) {
		return keydir.Entry{}, false
	}
	return e, true
}

// worthCaching reports whether a value read this way is worth a place in
// the read cache: one read by a system call (no mapping), or a compressed
// one of at least cacheMinDecoded bytes. Decompressing a small value
// (about 0.2 µs for 100 bytes) is cheaper than the cache's insert and
// eviction (about 0.7 µs), and with reads spread over more keys than the
// cache holds every miss paid both: uniform reads of 1M compressible
// 100-byte values ran at half the rate of incompressible ones.
func worthCaching(compressed, mapped bool, n int) bool {
	return !mapped || (compressed && n >= cacheMinDecoded)
}

// cacheMinDecoded is the size from which a compressed value read from a
// mapping is cached.
const cacheMinDecoded = 1024

// readBuffered copies a record that is still in the active writer's buffer
// and returns it with the file's path. It reports false if the record has
// meanwhile been flushed (or the file rotated), in which case it is in the
// file. It takes wmu unless the caller holds it.
func (db *DB) readBuffered(e keydir.Entry, wmuHeld bool) ([]byte, string, bool) {
	if !wmuHeld {
		db.wmu.Lock()
		defer db.wmu.Unlock()
	}
	if db.w == nil || db.w.ID() != e.FileID {
		return nil, "", false
	}
	raw, ok := db.w.ReadBuffered(int64(e.Offset), int(e.Size))
	return raw, db.w.Path(), ok
}

// checkRecord guards against a keydir entry that points at the wrong
// record (or, loaded from a hint file, disagrees with it): the record must
// be a live one of key with the entry's sequence number and expiry. The
// key is compared where the record was read, which costs no extra memory
// access.
func checkRecord(path string, off int64, rec datafile.Record, key []byte, e keydir.Entry) error {
	if rec.Seq != e.Seq || rec.Tombstone || rec.Expiry != e.Expiry || !bytes.Equal(rec.Key, key) {
		return fmt.Errorf("simplekv: %w", &datafile.CorruptError{Path: path, Offset: off,
			Reason: fmt.Sprintf("record has seq %d, expiry %d (tombstone %v, same key %v); keydir expects a live record of the key with seq %d, expiry %d",
				rec.Seq, rec.Expiry, rec.Tombstone, bytes.Equal(rec.Key, key), e.Seq, e.Expiry)})
	}
	return nil
}
