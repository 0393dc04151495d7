package engine

import (
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
	if db.closed.Load() {
		return nil, ErrClosed
	}
	var e keydir.Entry
	var v []byte
	var costly bool
	for attempt := 0; ; attempt++ {
		var ok bool
		e, ok = db.lookup(key)
		if !ok {
			return nil, ErrNotFound
		}
		if v, ok := db.cache.Get(key, e.Seq); ok {
			return append(make([]byte, 0, len(v)), v...), nil
		}
		var err error
		v, costly, err = db.readValue(e)
		if err == nil {
			break
		}
		// A merge moved the record and removed its file between our
		// lookup and the read: the keydir already has the new place.
		if !errors.Is(err, errFileGone) {
			return nil, err
		}
		if attempt == maxMovedRetries {
			// The entry keeps naming a file that is gone: it never
			// pointed at a real record (a hint file that disagreed with
			// its data file, say).
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	if costly {
		// The cache keeps its own copy: the caller owns v.
		db.cache.Add(key, e.Seq, append(make([]byte, 0, len(v)), v...))
	}
	return v, nil
}

// errFileGone is returned by readValue for a file that is no longer in the
// table, which is normal when a merge has just removed it.
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

// readValue reads and verifies the record e locates. costly reports that
// the value is worth caching (worthCaching): it was read by a system call,
// or it is compressed and at least cacheMinDecoded bytes decoded.
func (db *DB) readValue(e keydir.Entry) (value []byte, costly bool, err error) {
	off, size := int64(e.Offset), int(e.Size)
	if w := db.active.Load(); w != nil && w.ID() == e.FileID && off+int64(size) > w.Flushed() {
		if raw, ok := db.readBuffered(e); ok {
			rec, err := datafile.DecodeRecord(w.Path(), off, raw)
			if err != nil {
				return nil, false, err
			}
			return rec.Value, worthCaching(rec.Compressed, true, len(rec.Value)), db.checkSeq(w.Path(), off, rec, e)
		}
	}
	stripe := db.files.readLock(e.Offset >> 4)
	defer stripe.RUnlock()
	f, ok := db.files.get(e.FileID)
	if !ok {
		if db.closed.Load() {
			return nil, false, ErrClosed
		}
		return nil, false, fmt.Errorf("%w: keydir names data file %d, which is not open", errFileGone, e.FileID)
	}
	db.fds.touch(f)
	rec, err := f.r.Read(off, size, nil)
	if err != nil {
		return nil, false, err
	}
	return rec.Value, worthCaching(rec.Compressed, f.r.Mapped(), len(rec.Value)), db.checkSeq(f.path, off, rec, e)
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

// readBuffered copies a record that is still in the active writer's buffer.
// It reports false if the record has meanwhile been flushed (or the file
// rotated), in which case it is in the file.
func (db *DB) readBuffered(e keydir.Entry) ([]byte, bool) {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.w == nil || db.w.ID() != e.FileID {
		return nil, false
	}
	return db.w.ReadBuffered(int64(e.Offset), int(e.Size))
}

// checkSeq guards against a keydir entry that points at the wrong record
// (or, loaded from a hint file, disagrees with it).
func (db *DB) checkSeq(path string, off int64, rec datafile.Record, e keydir.Entry) error {
	if rec.Seq != e.Seq || rec.Tombstone || rec.Expiry != e.Expiry {
		return fmt.Errorf("simplekv: %w", &datafile.CorruptError{Path: path, Offset: off,
			Reason: fmt.Sprintf("record has seq %d, expiry %d (tombstone %v); keydir expects a live record with seq %d, expiry %d",
				rec.Seq, rec.Expiry, rec.Tombstone, e.Seq, e.Expiry)})
	}
	return nil
}
