package engine

import (
	"bytes"
	"errors"
	"time"

	"github.com/simplekv/simplekv/keydir"
)

// Scan calls fn for every live key that starts with prefix (every live key
// for an empty or nil prefix), with its value, until fn returns false.
//
// Guarantees, with writers running concurrently:
//   - A key that is live for the whole Scan is visited exactly once.
//   - A key that is deleted, or expires, before Scan reaches it is not
//     visited; a key deleted before Scan starts is never visited.
//   - A key written (put, overwritten or deleted) during the Scan may or may
//     not be visited, but never more than once.
//   - The value passed is the key's value at the moment the key is visited
//     (it is read then, like Get), never the value of a deleted or expired
//     key.
//   - Keys come in no particular order (not sorted, and not the same order
//     from one Scan to the next).
//   - Scan never sees part of a batch: a batch (Write) applied while it
//     runs is not seen at all. Its keys are visited, or not, with the
//     values they had just before it, whatever the order keys are
//     visited in. (Get and Has never see part of a batch either.)
//
// key and value are fresh copies that belong to fn: it may keep or modify
// them. No lock is held while fn runs, so fn may call any method of the DB
// (Put, Delete, Get, Has, Scan, Compact, Close...) without deadlock; its
// writes follow the rules above for keys written during the Scan.
//
// Scan returns ErrClosed if the DB is closed, whether before it starts or
// while it runs (it then stops at the next key; fn may have seen some keys
// already). It stops at the first error reading a value (one matching
// ErrCorrupt, say) and returns it. Otherwise it returns nil, once every
// key has been visited or as soon as fn returns false.
//
// Cost: the index is a hash table, so Scan examines every key in the DB,
// whatever the prefix: its cost is proportional to the number of keys in
// the DB, plus one read per key that matches, not to the number of keys
// that match. Scanning one small prefix of a large DB is therefore not
// cheap. Scan holds in memory the matching keys of one of the index's 256
// shards at a time (about 1/256 of them), not all of them. While any Scan
// runs, a batch that writes a key for the first time since the newest
// Scan began reads the key's previous value and keeps a copy in memory
// (Stats.ScanSavedBytes) until every Scan that began before the batch has
// returned: a Scan kept running for long under batch writes to many
// distinct keys holds that much more, and batched writes cost about twice
// as much while a Scan runs (BenchmarkWriteBatchDuringScan). Single Puts
// and Deletes cost nothing more.
func (db *DB) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	return db.scan(prefix, func(key, value []byte, _ int64) bool { return fn(key, value) })
}

// scan is Scan that also passes each value's expiry (0: none).
func (db *DB) scan(prefix []byte, fn func(key, value []byte, expiry int64) bool) error {
	if db.closed.Load() {
		return ErrClosed
	}
	db.wmu.Lock() // see scanUndo: no batch is half applied now
	start := db.undo.begin()
	db.wmu.Unlock()
	defer db.undo.end(start)

	// visit passes key's value (or the error reading it) to fn and says
	// whether to go on; err is set when Scan must stop with it.
	var err error
	visit := func(key, v []byte, exp int64, verr error) bool {
		switch {
		case verr == nil:
			return fn(key, v, exp)
		case errors.Is(verr, ErrNotFound):
			return true // deleted or expired since its shard was copied
		default:
			err = verr // ErrClosed, or a damaged record
			return false
		}
	}
	var c keydir.ShardCopy
	for shard := range keydir.Shards {
		db.kd.CopyShard(shard, prefix, &c)
		var seen map[string]bool // keys visited through a saved value
		for j := range c.Len() {
			if db.closed.Load() {
				return ErrClosed
			}
			k, e := c.At(j)
			key := bytes.Clone(k) // k is valid only until the next copy
			// Read the key's value first, then look for a saved one: a
			// batch applied before the read saved it before it applied.
			var exp int64
			var v []byte
			verr := ErrNotFound
			if e.Expiry == 0 || e.Expiry > time.Now().UnixNano() {
				// (Expired when its shard was copied: a later write of the
				// key happened during the Scan, which may skip it.)
				v, verr = db.scanGet(key, &exp)
			}
			if sv, ok := db.undo.first(shard, key, start); ok {
				if seen == nil {
					seen = map[string]bool{}
				}
				seen[string(key)] = true
				v, exp, verr = sv.result()
			}
			if !visit(key, v, exp, verr) {
				return err
			}
		}
		// Keys a batch applied after the start deleted before the copy.
		keys, saved := db.undo.unseen(shard, prefix, start, c.Stamp, seen)
		for j, key := range keys {
			v, exp, verr := saved[j].result()
			if !visit(key, v, exp, verr) {
				return err
			}
		}
	}
	if db.closed.Load() {
		// Closed during the last call to fn or while the remaining keys
		// were examined. Report it rather than claim a full pass.
		return ErrClosed
	}
	return nil
}

// Keys calls fn for every live key that starts with prefix (every live
// key for an empty or nil prefix), until fn returns false. It reads only
// the index, never a value: it costs no disk read, and a damaged record
// does not stop it, which makes it the walk to find keys to delete. key
// is a fresh copy that belongs to fn, and fn may call any method of the
// DB. With writers running it promises less than Scan: a key live for the
// whole walk is visited exactly once, but a key written during it may or
// may not be, and a batch applied meanwhile may be seen in part.
//
// It returns ErrClosed if the DB is closed before or during the walk, and
// otherwise nil. Its cost is Scan's without the reads: every key of the
// index is examined, whatever the prefix.
func (db *DB) Keys(prefix []byte, fn func(key []byte) bool) error {
	if db.closed.Load() {
		return ErrClosed
	}
	var c keydir.ShardCopy
	for shard := range keydir.Shards {
		db.kd.CopyShard(shard, prefix, &c)
		now := time.Now().UnixNano()
		for j := range c.Len() {
			if db.closed.Load() {
				return ErrClosed
			}
			k, e := c.At(j)
			if e.Expiry != 0 && e.Expiry <= now {
				continue
			}
			if !fn(bytes.Clone(k)) {
				return nil
			}
		}
	}
	if db.closed.Load() {
		return ErrClosed
	}
	return nil
}

// scanGet reads key's live value for Scan: Get, except that a key longer
// than Options.MaxKeySize, which can only be in the index because it was
// written under a larger limit before a reopen, is read rather than refused.
func (db *DB) scanGet(key []byte, exp *int64) ([]byte, error) {
	return db.getExpiry(key, exp)
}

// Len returns the number of live keys: keys whose newest record is a put
// that has not expired. It reads only the index, and costs one visit per
// index shard plus one per key that has a TTL. With writers running it is
// a snapshot taken shard by shard, so it may be off by the writes that ran
// meanwhile; it is never negative. Like Stats, it works after Close,
// reporting the keys as of Close (less any that have expired since).
func (db *DB) Len() int {
	n := db.kd.Len()
	db.kd.Expired(time.Now().UnixNano(), func(keydir.Entry) { n-- })
	return max(n, 0)
}
