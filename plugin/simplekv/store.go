package simplekv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/plugin/kv"
)

// ErrStopped is returned by every call on a store whose module has
// stopped.
var ErrStopped = errors.New("simple_kv: stopped")

// Namespaces keep the kv role's keys apart from the filter role's members:
// a value stored with AddValue is not a member of the filter, and the
// reverse.
const (
	nsKV     = 'k'
	nsFilter = 'f'
	nsGen    = 'g' // a kv bucket's generation (see DeleteBucket)
)

// encodeKey is the engine key of (namespace, bucket, key): the namespace
// byte, the bucket's length as a uvarint, the bucket, then the key. The
// length makes it unambiguous: bucket "a,b" with key "c" and bucket "a"
// with key "b,c" differ, and the empty bucket is a bucket like any other.
func encodeKey(ns byte, bucket string, key []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(bucket)+len(key))
	b = append(b, ns)
	b = binary.AppendUvarint(b, uint64(len(bucket)))
	b = append(b, bucket...)
	return append(b, key...)
}

// bucketPrefix is the engine-key prefix of every key of bucket in ns.
func bucketPrefix(ns byte, bucket string) []byte { return encodeKey(ns, bucket, nil) }

// kvKey is the engine key of key in generation gen of kv bucket: the
// bucket's prefix, the generation as a uvarint, then the key.
func kvKey(bucket string, gen uint64, key []byte) []byte {
	return append(binary.AppendUvarint(bucketPrefix(nsKV, bucket), gen), key...)
}

// Store is the simple_kv store: the engine behind the framework's bucketed
// kv interface (kv.KVStore with its TTL, bucket and iteration extensions)
// and, through Filter, the filter interface. It is safe for concurrent use.
type Store struct {
	be      backend
	maxKey  int // callers' key limit (max_key_size)
	stopped atomic.Bool
	// replicated: be is a replica.Node. Bucket generations stay at 0
	// there (no node may cache one another changes); DeleteBucket
	// deletes the bucket's keys instead.
	replicated bool

	// gens caches each kv bucket's current generation (absent: not
	// looked up yet). DeleteBucket moves a bucket to a new generation,
	// which hides every key of the old ones at once; sweeps delete those
	// keys in the background.
	genMu sync.RWMutex
	gens  map[string]uint64
	// One sweeper goroutine at a time deletes the keys of old
	// generations: pending maps each bucket to sweep to its current
	// generation; sweeperDone is closed when the running sweeper exits.
	// All three are guarded by genMu.
	pending     map[string]uint64
	sweeping    bool
	sweeperDone chan struct{}
}

func newStore(be backend, maxKey int) *Store {
	_, replicated := be.(*replicatedBackend)
	return &Store{be: be, maxKey: maxKey, replicated: replicated, gens: map[string]uint64{}}
}

// gen returns bucket's current generation.
func (s *Store) gen(bucket string) (uint64, error) {
	s.genMu.RLock()
	g, ok := s.gens[bucket]
	s.genMu.RUnlock()
	if ok {
		return g, nil
	}
	s.genMu.Lock()
	defer s.genMu.Unlock()
	return s.loadGenLocked(bucket)
}

func (s *Store) loadGenLocked(bucket string) (uint64, error) {
	if g, ok := s.gens[bucket]; ok {
		return g, nil
	}
	if s.replicated {
		s.gens[bucket] = 0
		return 0, nil
	}
	v, err := s.be.get(encodeKey(nsGen, bucket, nil))
	var g uint64
	switch {
	case errors.Is(err, engine.ErrNotFound):
	case err != nil:
		return 0, err
	case len(v) != 8:
		return 0, fmt.Errorf("simple_kv: bucket %q: generation record of %d bytes", bucket, len(v))
	default:
		g = binary.LittleEndian.Uint64(v)
	}
	s.gens[bucket] = g
	return g, nil
}

// key is the engine key of key in kv bucket's current generation.
func (s *Store) key(bucket string, key []byte) ([]byte, error) {
	if err := s.check(key); err != nil {
		return nil, err
	}
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	g, err := s.gen(bucket)
	if err != nil {
		return nil, err
	}
	return kvKey(bucket, g, key), nil
}

func (s *Store) check(key []byte) error {
	if s.stopped.Load() {
		return ErrStopped
	}
	if len(key) == 0 {
		return fmt.Errorf("simple_kv: %w", engine.ErrEmptyKey)
	}
	if len(key) > s.maxKey {
		return fmt.Errorf("simple_kv: %w: %d bytes, limit %d", engine.ErrKeyTooLarge, len(key), s.maxKey)
	}
	return nil
}

// checkBucket rejects bucket names longer than MaxBucketLen.
func checkBucket(bucket string) error {
	if len(bucket) > MaxBucketLen {
		return fmt.Errorf("simple_kv: %w: bucket name of %d bytes, limit %d", engine.ErrKeyTooLarge, len(bucket), MaxBucketLen)
	}
	return nil
}

// Open is a no-op: the module opens the database in Setup.
func (s *Store) Open() error {
	if s.stopped.Load() {
		return ErrStopped
	}
	return nil
}

// Close is a no-op: the module closes the database in Stop.
func (s *Store) Close() error { return nil }

// GetValue returns the value of key in bucket, or (nil, nil) if there is
// none (the framework's convention). An empty stored value is returned as
// a non-nil empty slice.
func (s *Store) GetValue(bucket string, key []byte) ([]byte, error) {
	k, err := s.key(bucket, key)
	if err != nil {
		return nil, err
	}
	v, err := s.be.get(k)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// GetCompressedValue returns the original bytes stored with
// AddValueCompress (or AddValue): simple_kv compresses values itself
// (snappy, whenever that saves space) and decompresses on read, so both
// getters return the same bytes for any key.
func (s *Store) GetCompressedValue(bucket string, key []byte) ([]byte, error) {
	return s.GetValue(bucket, key)
}

// AddValue stores value under key in bucket.
func (s *Store) AddValue(bucket string, key []byte, value []byte) error {
	k, err := s.key(bucket, key)
	if err != nil {
		return err
	}
	return s.be.put(k, value)
}

// AddValueCompress stores value like AddValue: compression is automatic.
func (s *Store) AddValueCompress(bucket string, key []byte, value []byte) error {
	return s.AddValue(bucket, key, value)
}

// AddValueWithTTL stores value for ttl; after it, GetValue returns nil.
func (s *Store) AddValueWithTTL(bucket string, key, value []byte, ttl time.Duration) error {
	k, err := s.key(bucket, key)
	if err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("simple_kv: %w: %v", engine.ErrInvalidTTL, ttl)
	}
	return s.be.putTTL(k, value, ttl)
}

// ExistsKey reports whether key has a value in bucket (an empty value
// counts).
func (s *Store) ExistsKey(bucket string, key []byte) (bool, error) {
	k, err := s.key(bucket, key)
	if err != nil {
		return false, err
	}
	return s.be.has(k)
}

// DeleteKey removes key from bucket; a missing key is not an error.
func (s *Store) DeleteKey(bucket string, key []byte) error {
	k, err := s.key(bucket, key)
	if err != nil {
		return err
	}
	return s.be.del(k)
}

// WriteBatch applies ops to bucket as one engine batch (engine.DB.Write):
// all or none, visible at once, the last op on a key winning, and
// durable on return with sync_writes. A bad op (empty or oversize key,
// oversize value, negative TTL) fails the whole batch with its error and
// writes nothing. A batch that races DeleteBucket lands, whole, either
// before it (and is deleted) or after it.
func (s *Store) WriteBatch(bucket string, ops []kv.BatchOp) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	if s.stopped.Load() {
		return ErrStopped
	}
	g, err := s.gen(bucket)
	if err != nil {
		return err
	}
	b := make([]op, 0, len(ops))
	for i, o := range ops {
		if err := s.check(o.Key); err != nil {
			return fmt.Errorf("simple_kv: batch operation %d of %d: %w", i, len(ops), err)
		}
		if o.TTL < 0 && !o.Delete {
			return fmt.Errorf("simple_kv: batch operation %d of %d: %w: %v", i, len(ops), engine.ErrInvalidTTL, o.TTL)
		}
		b = append(b, op{key: kvKey(bucket, g, o.Key), value: o.Value, ttl: o.TTL, del: o.Delete})
	}
	return s.be.write(b)
}

// DeleteBucket removes every key of bucket at the cost of one write: it
// moves the bucket to a new generation, and keys of older generations are
// invisible from then on. A background sweeper then deletes them (the space
// comes back with compaction); deletes that arrive while it runs are
// batched into its next pass, and a sweep cut short by Stop or a crash is
// finished by the bucket's next DeleteBucket. A write that races
// DeleteBucket lands either before it (and is deleted) or after it.
//
// Replicated, DeleteBucket is one write too, a prefix delete that each
// replica applies to the keys it holds (replica.Node.DeletePrefix), with
// the same ordering: a write that races it lands before it (and is
// deleted) or after it.
func (s *Store) DeleteBucket(bucket string) error {
	if s.replicated {
		return s.deleteReplicated(bucket)
	}
	s.genMu.Lock()
	defer s.genMu.Unlock()
	if s.stopped.Load() { // under genMu: Stop sets it under genMu too
		return ErrStopped
	}
	g, err := s.loadGenLocked(bucket)
	if err != nil {
		return err
	}
	var v [8]byte
	binary.LittleEndian.PutUint64(v[:], g+1)
	if err := s.be.put(encodeKey(nsGen, bucket, nil), v[:]); err != nil {
		return err
	}
	s.gens[bucket] = g + 1
	if s.pending == nil {
		s.pending = map[string]uint64{}
	}
	s.pending[bucket] = g + 1
	if !s.sweeping {
		s.sweeping = true
		s.sweeperDone = make(chan struct{})
		go s.sweeper(s.sweeperDone)
	}
	return nil
}

// stop marks the store stopped and waits for the sweeper to exit.
func (s *Store) stop() {
	s.genMu.Lock()
	s.stopped.Store(true)
	done := s.sweeperDone
	running := s.sweeping
	s.genMu.Unlock()
	if running {
		<-done
	}
}

// sweeper deletes, pass by pass, the keys of old generations of the
// buckets in pending, until none is left or the store stops. One pass
// walks the kv namespace once, whatever the number of buckets.
func (s *Store) sweeper(done chan struct{}) {
	defer close(done)
	for {
		s.genMu.Lock()
		batch := s.pending
		s.pending = nil
		if len(batch) == 0 || s.stopped.Load() {
			s.sweeping = false
			s.genMu.Unlock()
			return
		}
		s.genMu.Unlock()
		_ = s.be.scan([]byte{nsKV}, func(k, _ []byte) bool {
			if s.stopped.Load() {
				return false
			}
			bucket, gen, ok := decodeKVKey(k)
			if cur, pend := batch[bucket]; ok && pend && gen < cur {
				_ = s.be.del(k) // a failure leaves the key to a later sweep
			}
			return true
		})
	}
}

// decodeKVKey returns the bucket and generation of a kv engine key.
func decodeKVKey(k []byte) (bucket string, gen uint64, ok bool) {
	if len(k) == 0 || k[0] != nsKV {
		return "", 0, false
	}
	n, w := binary.Uvarint(k[1:])
	if w <= 0 || uint64(len(k)-1-w) < n {
		return "", 0, false
	}
	b := k[1+w : 1+w+int(n)]
	g, w2 := binary.Uvarint(k[1+w+int(n):])
	if w2 <= 0 {
		return "", 0, false
	}
	return string(b), g, true
}

// Iterate calls fn with every key of bucket and its value (copies fn may
// keep), in no particular order, until fn returns false. Keys written or
// deleted meanwhile may or may not be seen; every key present throughout
// is seen once.
func (s *Store) Iterate(bucket string, fn func(key, value []byte) bool) error {
	if s.stopped.Load() {
		return ErrStopped
	}
	g, err := s.gen(bucket)
	if err != nil {
		return err
	}
	prefix := kvKey(bucket, g, nil)
	return s.be.scan(prefix, func(k, v []byte) bool { return fn(k[len(prefix):], v) })
}

// Set stores value under key in the default bucket "" (the documented
// kv.GetStore("simple_kv").Set usage).
func (s *Store) Set(key string, value []byte) error { return s.AddValue("", []byte(key), value) }

// Get returns the value of key in the default bucket, or (nil, nil).
func (s *Store) Get(key string) ([]byte, error) { return s.GetValue("", []byte(key)) }

// Delete removes key from the default bucket.
func (s *Store) Delete(key string) error { return s.DeleteKey("", []byte(key)) }

// Filter returns the store's filter role: set membership per bucket, kept
// apart from the kv role's keys.
func (s *Store) Filter() *Filter { return &Filter{s: s} }

// Filter is the filter role of a Store (filter.Filter). Membership is
// exact: no false positives, no false negatives.
type Filter struct{ s *Store }

// Open is a no-op (see Store.Open).
func (f *Filter) Open() error { return f.s.Open() }

// Close is a no-op (see Store.Close).
func (f *Filter) Close() error { return nil }

// Exists reports whether key is a member of bucket. It is false for a
// stopped store and on a read error.
func (f *Filter) Exists(bucket string, key []byte) bool {
	if f.s.check(key) != nil {
		return false
	}
	ok, err := f.s.be.has(encodeKey(nsFilter, bucket, key))
	return err == nil && ok
}

// Add makes key a member of bucket.
func (f *Filter) Add(bucket string, key []byte) error {
	if err := f.s.check(key); err != nil {
		return err
	}
	k := encodeKey(nsFilter, bucket, key)
	defer f.s.be.lock(k)()
	return f.s.be.put(k, nil)
}

// Delete removes key from bucket's members.
func (f *Filter) Delete(bucket string, key []byte) error {
	if err := f.s.check(key); err != nil {
		return err
	}
	k := encodeKey(nsFilter, bucket, key)
	defer f.s.be.lock(k)()
	return f.s.be.del(k)
}

// CheckThenAdd adds key to bucket and reports whether it was already a
// member, atomically: of any number of concurrent calls for one key,
// exactly one reports false (replicated: in the whole cluster).
func (f *Filter) CheckThenAdd(bucket string, key []byte) (bool, error) {
	if err := f.s.check(key); err != nil {
		return false, err
	}
	return f.s.be.addIfAbsent(encodeKey(nsFilter, bucket, key))
}

// deleteReplicated deletes every key of bucket with one replicated
// prefix delete (replica.OpDeletePrefix), ordered among the cluster's
// writes like any other.
func (s *Store) deleteReplicated(bucket string) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	if s.stopped.Load() {
		return ErrStopped
	}
	return s.be.(*replicatedBackend).deletePrefix(bucketPrefix(nsKV, bucket))
}
