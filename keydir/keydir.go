package keydir

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// Entry locates the newest record of a key.
type Entry struct {
	FileID uint32 // data file id
	Offset uint32 // byte offset of the record in the file
	Size   uint32 // whole record size in bytes
	Seq    uint64 // record sequence number; always < 1<<63
	Expiry int64  // unix nanoseconds; 0 = never expires
}

const (
	shardBits = 8
	numShards = 1 << shardBits
)

// Keydir maps keys to the Entry of their newest record. It is safe for
// concurrent use. The zero value is not usable; call New.
type Keydir struct {
	shards [numShards]shard
}

// New returns an empty Keydir.
func New() *Keydir {
	return &Keydir{}
}

// shardOf returns the key's hash and shard.
func (k *Keydir) shardOf(key []byte) (uint64, *shard) {
	h := xxhash.Sum64(key)
	return h, &k.shards[h>>(64-shardBits)]
}

func checkSeq(e Entry) {
	if e.Seq >= 1<<63 {
		panic(fmt.Sprintf("keydir: Entry.Seq %#x is >= 1<<63", e.Seq))
	}
}

// Get returns the entry of key. It does not allocate.
func (k *Keydir) Get(key []byte) (Entry, bool) {
	h, s := k.shardOf(key)
	s.mu.RLock()
	e, ok := s.get(h, key)
	s.mu.RUnlock()
	return e, ok
}

// Pin is a read hold on the shard of one key, taken by GetPinned and
// given back by Release. While it is held, writers to that shard wait,
// and Barrier does not return.
type Pin struct{ mu *sync.RWMutex }

// Release gives the hold back. Call it exactly once.
func (p Pin) Release() { p.mu.RUnlock() }

// GetPinned is Get, but if it finds key it returns with key's shard
// read-locked until p.Release. A reader uses the hold to keep what the
// entry locates alive while it reads it: whoever frees that (a merge
// removing a data file) first makes it unreachable and then calls
// Barrier, which waits for every hold taken before. The one lock a Get
// takes anyway thus also protects the read; a second, shared read lock
// per Get was a contended cache line between cores. Nothing that can wait
// on a writer of k may be done while holding the pin.
func (k *Keydir) GetPinned(key []byte) (e Entry, ok bool, p Pin) {
	h, s := k.shardOf(key)
	s.mu.RLock()
	e, ok = s.get(h, key)
	if !ok {
		s.mu.RUnlock()
		return Entry{}, false, Pin{}
	}
	return e, true, Pin{&s.mu}
}

// Barrier returns once every Pin taken before the call has been released.
// It takes and drops each shard's write lock in turn, so it costs a few
// microseconds and briefly holds up writers of one shard at a time.
func (k *Keydir) Barrier() {
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		//lint:ignore SA2001 the empty critical section is the point: it waits out the shard's readers
		s.mu.Unlock()
	}
}

// newer reports whether e wins over prev. Two records of one key carry the
// same Seq only as copies (a merge's output and its input, both kept when
// a merge rolls back), or when damage forged one; taking the copy in the
// higher file id makes recovery's answer independent of the order it
// loads files in (hints first, then the log, or all from hints).
func newer(e, prev Entry) bool {
	return e.Seq > prev.Seq || (e.Seq == prev.Seq && e.FileID > prev.FileID)
}

// Put installs e for key if key is absent or e is newer than the current
// entry: a higher Seq, or the same Seq in a higher FileID (the keydir moves
// only forward). It copies key. It returns the
// previous entry (if there was one, whether or not e was installed) and
// whether e was installed. It panics if e.Seq >= 1<<63.
func (k *Keydir) Put(key []byte, e Entry) (prev Entry, hadPrev bool, installed bool) {
	checkSeq(e)
	h, s := k.shardOf(key)
	s.mu.Lock()
	prev, hadPrev, installed = s.put(h, key, e)
	s.mu.Unlock()
	return prev, hadPrev, installed
}

// ShardWriter holds one shard's write lock, so that many keys of that
// shard can be put under one lock hold. Recovery loads each hint-file
// group (hintfile.GroupOf is the shard function) this way: a lock and
// unlock per key was about a sixth of a reopen from hints.
type ShardWriter struct {
	s   *shard
	idx uint64
}

// LockShard write-locks shard i (0 <= i < Shards) until Unlock. Nothing
// else may use the Keydir from the same goroutine meanwhile.
func (k *Keydir) LockShard(i int) ShardWriter {
	s := &k.shards[i]
	s.mu.Lock()
	return ShardWriter{s: s, idx: uint64(i)}
}

// Put is Keydir.Put for a key of the locked shard. For a key of another
// shard it does nothing and returns ok false (the caller puts it through
// Keydir.Put after Unlock).
func (w ShardWriter) Put(key []byte, e Entry) (prev Entry, hadPrev, installed, ok bool) {
	checkSeq(e)
	h := xxhash.Sum64(key)
	if h>>(64-shardBits) != w.idx {
		return Entry{}, false, false, false
	}
	prev, hadPrev, installed = w.s.put(h, key, e)
	return prev, hadPrev, installed, true
}

// Unlock releases the shard.
func (w ShardWriter) Unlock() { w.s.mu.Unlock() }

// Delete removes key if it is present and its entry's Seq < seq. It
// returns the removed entry and true if it removed the key. If the key is
// present but not removed (its Seq >= seq), it returns the current entry
// and false; if it is absent, the zero Entry and false.
func (k *Keydir) Delete(key []byte, seq uint64) (prev Entry, removed bool) {
	h, s := k.shardOf(key)
	s.mu.Lock()
	prev, removed = s.del(h, key, seq)
	s.mu.Unlock()
	return prev, removed
}

// CompareAndSwap replaces key's entry with new only if the key is present
// and its current entry equals old exactly (all fields, Expiry included).
// new.Seq is not required to exceed old.Seq. It panics if new.Seq >= 1<<63.
func (k *Keydir) CompareAndSwap(key []byte, old, new Entry) bool {
	checkSeq(new)
	h, s := k.shardOf(key)
	s.mu.Lock()
	ok := s.cas(h, key, old, new)
	s.mu.Unlock()
	return ok
}

// Reserve sizes the index for about n keys in all, so that loading n keys
// (as recovery does) does not rehash each shard several times on the way.
// It never shrinks a shard.
func (k *Keydir) Reserve(n int) {
	if n <= 0 {
		return
	}
	per := n / numShards
	per += 4*isqrt(per) + 8 // keys do not spread evenly: leave a few deviations
	// Size for a load of reserveLoadPct once per keys are in: the count is
	// known, so there is no need for the headroom of growth (growLoadPct),
	// and a fuller table keeps heap per key where organic growth leaves it.
	slots := max(per*100/reserveLoadPct+1, minSlots)
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		if per > s.growAt {
			s.resize(slots)
		}
		s.mu.Unlock()
	}
}

// Fit shrinks every table that is less than fitLoadPct full to the size
// organic growth would give it, so that a Reserve for more keys than
// arrived does not keep its memory. Recovery calls it after reserving for
// an estimate.
func (k *Keydir) Fit() {
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		if s.n > minSlots && s.count*100 < s.n*fitLoadPct {
			if s.count == 0 {
				s.reset()
			} else {
				s.resize(slotsFor(s.count))
			}
		}
		s.mu.Unlock()
	}
}

// fitLoadPct is the load below which Fit shrinks a table.
const fitLoadPct = 50

// reserveLoadPct is the load Reserve sizes tables for; below maxLoadPct so
// that per keys never trigger a grow.
const reserveLoadPct = 85

func isqrt(n int) int {
	r := 0
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// Expired calls fn with the entry of every key that has an expiry at or
// before now. It visits only the entries kept on the side (every key with
// an expiry is, and few others are), so it costs nothing for plain keys.
// fn runs with a shard read-locked and must not call k.
func (k *Keydir) Expired(now int64, fn func(e Entry)) {
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.RLock()
		for _, e := range s.ext {
			if e.Expiry != 0 && e.Expiry <= now {
				fn(e)
			}
		}
		s.mu.RUnlock()
	}
}

// Shards is the number of shards the keys are spread over.
const Shards = numShards

// ShardOf returns the shard (0 <= shard < Shards) that holds key. Loaders
// use it to split work so that no two goroutines insert into one shard.
func (k *Keydir) ShardOf(key []byte) int {
	return int(xxhash.Sum64(key) >> (64 - shardBits))
}

// Len returns the number of keys.
func (k *Keydir) Len() int {
	n := 0
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.RLock()
		n += s.count
		s.mu.RUnlock()
	}
	return n
}

// Range calls fn for every key with its entry, in no particular order,
// until fn returns false. It holds no lock while fn runs, so fn may call
// any method of k. Each shard is copied under its read lock and then
// visited: a key changed by a concurrent writer (or by fn) is seen with
// its value at the time its shard was copied, or not at all if it was
// added to an already visited shard. The key slice is valid only during
// the call to fn and must not be modified.
func (k *Keydir) Range(fn func(key []byte, e Entry) bool) {
	var keys []byte
	var ents []snapEntry
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.RLock()
		keys, ents = s.snapshot(keys[:0], ents[:0])
		s.mu.RUnlock()
		for _, se := range ents {
			end := se.off + se.n
			if !fn(keys[se.off:end:end], se.e) {
				return
			}
		}
	}
}

// MemoryBytes reports the approximate heap bytes the index holds: hash
// tables, records (entries and keys), chunk slack and side tables.
func (k *Keydir) MemoryBytes() int64 {
	m := int64(unsafe.Sizeof(*k))
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.RLock()
		m += s.memoryBytes()
		s.mu.RUnlock()
	}
	return m
}
