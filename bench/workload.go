package bench

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The per-operation logic of every workload, shared by kvbench and the Go
// benchmarks (bench_bench_test.go) so that both run the same code. A
// worker belongs to one goroutine; its Step does one operation and, when
// the worker is Timed, returns the latency of the DB call alone (key and
// value generation and verification are outside it). Loops, deadlines,
// histograms and progress belong to the caller.

// Keyspace is the key space of one benchmark database: indexes [0, N),
// their keys and values from a Generator, and the version each key holds
// now, so that every read can be checked, including reads racing updates.
//
// Version 0 means never written. Every write of an index writes the next
// version of its value. Concurrent updates of one key are serialized by a
// striped lock (MixWorker); while one is in flight the key's version is
// marked pending, and a read accepts any version that the key could have
// held during its Get.
type Keyspace struct {
	Gen *Generator
	N   uint64
	// Seq selects sorted keys (Generator.SeqKey) instead of hashed ones
	// (Generator.Key).
	Seq bool

	versions []atomic.Uint32
	locks    []sync.Mutex
}

// pending marks a version whose write is in flight: the key holds either
// it or the one before.
const pending = 1 << 31

// updateStripes is the number of locks that serialize updates of one key.
const updateStripes = 1024

// NewKeyspace returns the key space of n keys of gen, none written yet.
func NewKeyspace(gen *Generator, n uint64, seq bool) *Keyspace {
	return &Keyspace{
		Gen:      gen,
		N:        n,
		Seq:      seq,
		versions: make([]atomic.Uint32, n),
		locks:    make([]sync.Mutex, updateStripes),
	}
}

// Reset forgets every write: all versions are 0 again (for a fresh
// database).
func (ks *Keyspace) Reset() {
	for i := range ks.versions {
		ks.versions[i].Store(0)
	}
}

// Key writes the key of index i into dst (capacity Gen.KeySize).
func (ks *Keyspace) Key(dst []byte, i uint64) []byte {
	if ks.Seq {
		return ks.Gen.SeqKey(dst, i)
	}
	return ks.Gen.Key(dst, i)
}

// Version is the version index i holds (0: never written), not counting a
// write in flight.
func (ks *Keyspace) Version(i uint64) uint32 { return ks.versions[i].Load() &^ pending }

// Check verifies a Get of index i that returned (got, err), given the
// version word before (before) and after (after) the Get. It accepts any
// version the key could have held meanwhile; ErrNotFound only for a key
// that could have been unwritten.
func (ks *Keyspace) Check(scratch []byte, i uint64, got []byte, err error, before, after uint32) error {
	lo := before &^ pending
	if before&pending != 0 {
		lo-- // the write in flight may not have landed
	}
	hi := after &^ pending
	if errors.Is(err, ErrNotFound) {
		if lo == 0 {
			return nil
		}
		return fmt.Errorf("index %d: not found, but version %d was written", i, lo)
	}
	if err != nil {
		return fmt.Errorf("get of index %d: %w", i, err)
	}
	if hi == 0 {
		return fmt.Errorf("index %d: found a value (%d bytes), but the key was never written", i, len(got))
	}
	var first error
	for v := hi; v >= max(lo, 1); v-- {
		verr := ks.Gen.Verify(scratch, got, i, v)
		if verr == nil {
			return nil
		}
		if first == nil {
			first = verr
		}
	}
	if lo < hi {
		return fmt.Errorf("wrong value: matches no version in [%d, %d]: %w", max(lo, 1), hi, first)
	}
	return fmt.Errorf("wrong value: %w", first)
}

// Get reads index i from db and checks the value (Check).
func (ks *Keyspace) Get(db DB, kb, scratch []byte, i uint64) error {
	before := ks.versions[i].Load()
	v, err := db.Get(ks.Key(kb, i))
	return ks.Check(scratch, i, v, err, before, ks.versions[i].Load())
}

// VerifySample reads count indexes drawn uniformly with seed and checks
// every value; it returns the first problem.
func (ks *Keyspace) VerifySample(db DB, count int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x7665726966))
	kb := make([]byte, ks.Gen.KeySize)
	scratch := make([]byte, ks.Gen.ValueSize)
	for range count {
		if err := ks.Get(db, kb, scratch, rng.Uint64N(ks.N)); err != nil {
			return err
		}
	}
	return nil
}

// Order is the order in which an OrderWriter visits indexes: the j-th
// index written is At(j). Perm is one; Ascending is another.
type Order interface {
	At(j uint64) uint64
}

// Ascending is the order 0, 1, 2, ...
type Ascending struct{}

// At returns j.
func (Ascending) At(j uint64) uint64 { return j }

// OrderWriter writes indexes of a Keyspace one Put each, in an Order (the
// fill and overwrite workloads): the j-th Step writes index
// order.At(j mod N) with its next version. It must be the only writer of
// its Keyspace while it runs.
type OrderWriter struct {
	// Timed makes Step measure the Put.
	Timed bool

	db     DB
	ks     *Keyspace
	order  Order
	next   uint64
	kb, vb []byte

	// The indexes of the next steps and the versions they hold
	// (ahead[pos:len]), read lookahead at a time.
	ahead [lookahead]struct {
		i uint64
		v uint32
	}
	pos, ln int
}

// lookahead is how many upcoming indexes an OrderWriter reads the versions
// of at once. The versions are 4 bytes per key read in random order, so
// at 1M keys each read misses the cache: about 170 ns on the development
// machine, more than a whole simplekv Put. Issued back to back, the misses
// overlap, and the harness stops shrinking the fastest engine's figure.
const lookahead = 64

// NewOrderWriter returns a writer of ks into db in order, starting at
// position 0.
func (ks *Keyspace) NewOrderWriter(db DB, order Order) *OrderWriter {
	return &OrderWriter{
		db:    db,
		ks:    ks,
		order: order,
		kb:    make([]byte, ks.Gen.KeySize),
		vb:    make([]byte, ks.Gen.ValueSize),
	}
}

// fill reads the indexes and versions of the next steps, up to the end of
// the current pass over the order, where no index repeats (so no version
// read ahead can be changed by an earlier step of the batch).
func (w *OrderWriter) fill() {
	ks := w.ks
	p := w.next % ks.N
	w.pos, w.ln = 0, int(min(lookahead, ks.N-p))
	for j := range w.ln {
		w.ahead[j].i = w.order.At(p + uint64(j))
	}
	for j := range w.ln {
		w.ahead[j].v = ks.versions[w.ahead[j].i].Load()
	}
}

// Step writes the next index.
func (w *OrderWriter) Step() (time.Duration, error) {
	if w.pos == w.ln {
		w.fill()
	}
	ks := w.ks
	i, v := w.ahead[w.pos].i, w.ahead[w.pos].v+1
	k, val := ks.Key(w.kb, i), ks.Gen.Value(w.vb, i, v)
	d, err := timed(w.Timed, func() error { return w.db.Put(k, val) })
	if err != nil {
		return d, fmt.Errorf("put of index %d: %w", i, err)
	}
	ks.versions[i].Store(v)
	w.pos++
	w.next++
	return d, nil
}

// timed runs op and, if on, returns how long it took.
func timed(on bool, op func() error) (time.Duration, error) {
	if !on {
		return 0, op()
	}
	t0 := time.Now()
	err := op()
	return time.Since(t0), err
}

// Pos is how many Steps have succeeded (the next position in the order).
func (w *OrderWriter) Pos() uint64 { return w.next }

// LoadBatch is the number of pairs Load passes to one Loader.Load call.
const LoadBatch = 100_000

// Load writes the indexes at positions [from, to) of order (mod N) into
// db untimed, each with its next version, in batches of LoadBatch pairs
// sorted by key through Loader.Load (one Put each if db is no Loader).
// Sorted batches are what a bulk load would give every engine, and
// bbolt needs them: it loads 1M random keys in 100k-key batches 7 times
// faster sorted than not. progress, if not nil, is called with the number
// of pairs after each batch. Like an OrderWriter it must be the only
// writer of ks while it runs.
func (ks *Keyspace) Load(db DB, order Order, from, to uint64, progress func(int)) error {
	loader, _ := db.(Loader)
	batch := int(min(to-from, LoadBatch))
	ksz, vsz := ks.Gen.KeySize, ks.Gen.ValueSize
	kbuf := make([]byte, batch*ksz)
	vbuf := make([]byte, batch*vsz)
	// One entry per pair of the batch, sorted by the key's first 8 bytes,
	// which are unique (Generator.Key and SeqKey) and so order the keys.
	type pair struct {
		prefix uint64
		i      uint64
		v      uint32
		slot   int
	}
	pairs := make([]pair, 0, batch)
	keys := make([][]byte, 0, batch)
	vals := make([][]byte, 0, batch)
	flush := func() error {
		if len(pairs) == 0 {
			return nil
		}
		slices.SortFunc(pairs, func(a, b pair) int { return cmp.Compare(a.prefix, b.prefix) })
		keys, vals = keys[:0], vals[:0]
		for _, p := range pairs {
			keys = append(keys, kbuf[p.slot*ksz:(p.slot+1)*ksz])
			vals = append(vals, vbuf[p.slot*vsz:(p.slot+1)*vsz])
		}
		if loader != nil {
			if err := loader.Load(keys, vals); err != nil {
				return fmt.Errorf("load of %d pairs: %w", len(keys), err)
			}
		} else {
			for j, p := range pairs {
				if err := db.Put(keys[j], vals[j]); err != nil {
					return fmt.Errorf("put of index %d: %w", p.i, err)
				}
			}
		}
		for _, p := range pairs {
			ks.versions[p.i].Store(p.v)
		}
		if progress != nil {
			progress(len(pairs))
		}
		pairs = pairs[:0]
		return nil
	}
	for j := from; j < to; j++ {
		i := order.At(j % ks.N)
		v := ks.versions[i].Load() + 1
		slot := len(pairs)
		k := ks.Key(kbuf[slot*ksz:], i)
		ks.Gen.Value(vbuf[slot*vsz:], i, v)
		pairs = append(pairs, pair{prefix: binary.BigEndian.Uint64(k), i: i, v: v, slot: slot})
		if len(pairs) == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// Mix is a read/update workload over the written keys of a Keyspace:
// read-uniform and read-zipf read only, YCSB A updates half the time and
// YCSB B 5% of the time.
type Mix struct {
	// ReadPercent is the share of operations that are Gets (0 to 100);
	// the others are Puts of the key's next version ("updates").
	ReadPercent int
	// Zipf chooses the keys; nil chooses them uniformly.
	Zipf *Zipf
}

// The YCSB core workloads' read shares.
const (
	YCSBAReadPercent = 50  // workload A: update heavy
	YCSBBReadPercent = 95  // workload B: read mostly
	YCSBCReadPercent = 100 // workload C: read only
)

// MixWorker is one goroutine of a Mix.
type MixWorker struct {
	// Timed makes Step measure the Get or Put.
	Timed bool
	// Reads and Updates count the operations done.
	Reads, Updates int64

	db              DB
	ks              *Keyspace
	mix             Mix
	rng             *rand.Rand
	kb, vb, scratch []byte
}

// NewMixWorker returns a worker of mix against db, drawing keys and
// operations from its own generator seeded by seed (give each goroutine
// its own).
func (ks *Keyspace) NewMixWorker(db DB, mix Mix, seed uint64) *MixWorker {
	return &MixWorker{
		db:      db,
		ks:      ks,
		mix:     mix,
		rng:     rand.New(rand.NewPCG(seed, 0x6d6978)),
		kb:      make([]byte, ks.Gen.KeySize),
		vb:      make([]byte, ks.Gen.ValueSize),
		scratch: make([]byte, ks.Gen.ValueSize),
	}
}

// Step does one operation: a Get whose value is checked (a wrong value is
// an error), or an update.
func (w *MixWorker) Step() (time.Duration, error) {
	ks := w.ks
	var i uint64
	if w.mix.Zipf != nil {
		i = w.mix.Zipf.Next(w.rng)
	} else {
		i = w.rng.Uint64N(ks.N)
	}
	if w.mix.ReadPercent >= 100 || w.rng.IntN(100) < w.mix.ReadPercent {
		w.Reads++
		return w.read(i)
	}
	w.Updates++
	return w.update(i)
}

func (w *MixWorker) read(i uint64) (time.Duration, error) {
	ks := w.ks
	k := ks.Key(w.kb, i)
	before := ks.versions[i].Load()
	var v []byte
	d, err := timed(w.Timed, func() (err error) { v, err = w.db.Get(k); return err })
	return d, ks.Check(w.scratch, i, v, err, before, ks.versions[i].Load())
}

// update writes the next version of i. The stripe lock makes the updates
// of one key one at a time, so that the version it holds is always the
// last one published or the pending one.
func (w *MixWorker) update(i uint64) (time.Duration, error) {
	ks := w.ks
	mu := &ks.locks[i%updateStripes]
	mu.Lock()
	defer mu.Unlock()
	v := ks.versions[i].Load()&^pending + 1
	k, val := ks.Key(w.kb, i), ks.Gen.Value(w.vb, i, v)
	ks.versions[i].Store(v | pending)
	d, err := timed(w.Timed, func() error { return w.db.Put(k, val) })
	if err != nil {
		// Leave the version pending: the key may hold either.
		return d, fmt.Errorf("update of index %d: %w", i, err)
	}
	ks.versions[i].Store(v)
	return d, nil
}

// FreshWriter is one of w goroutines writing new keys into a database
// (the sync-1 and sync-<w> workloads): writer g writes indexes
// base+g, base+g+w, base+g+2w, ..., version 1, so no two Puts share a
// key and the keys are scattered (Generator.Key).
type FreshWriter struct {
	// Timed makes Step measure the Put.
	Timed bool

	db     DB
	gen    *Generator
	next   uint64
	stride uint64
	kb, vb []byte
}

// NewFreshWriter returns writer g of writers, starting at index base.
func NewFreshWriter(db DB, gen *Generator, base uint64, g, writers int) *FreshWriter {
	return &FreshWriter{
		db:     db,
		gen:    gen,
		next:   base + uint64(g),
		stride: uint64(writers),
		kb:     make([]byte, gen.KeySize),
		vb:     make([]byte, gen.ValueSize),
	}
}

// Step writes the writer's next key.
func (w *FreshWriter) Step() (time.Duration, error) {
	i := w.next
	k, v := w.gen.Key(w.kb, i), w.gen.Value(w.vb, i, 1)
	d, err := timed(w.Timed, func() error { return w.db.Put(k, v) })
	if err != nil {
		return d, fmt.Errorf("put of index %d: %w", i, err)
	}
	w.next += w.stride
	return d, nil
}

// BatchWriter is one writer of a batch-<k> workload: each Step writes the
// writer's next k keys (as FreshWriter numbers them), version 1, as one
// atomic batch through Batcher.
type BatchWriter struct {
	// Timed makes Step measure the WriteBatch.
	Timed bool

	db     Batcher
	gen    *Generator
	next   uint64
	stride uint64
	keys   [][]byte
	values [][]byte
}

// NewBatchWriter returns writer g of writers writing batches of k keys,
// starting at index base.
func NewBatchWriter(db Batcher, gen *Generator, base uint64, g, writers, k int) *BatchWriter {
	w := &BatchWriter{db: db, gen: gen, next: base + uint64(g), stride: uint64(writers)}
	for range k {
		w.keys = append(w.keys, make([]byte, gen.KeySize))
		w.values = append(w.values, make([]byte, gen.ValueSize))
	}
	return w
}

// Step writes the writer's next batch.
func (w *BatchWriter) Step() (time.Duration, error) {
	first := w.next
	for j := range w.keys {
		w.keys[j] = w.gen.Key(w.keys[j], w.next)
		w.values[j] = w.gen.Value(w.values[j], w.next, 1)
		w.next += w.stride
	}
	d, err := timed(w.Timed, func() error { return w.db.WriteBatch(w.keys, w.values) })
	if err != nil {
		return d, fmt.Errorf("batch from index %d: %w", first, err)
	}
	return d, nil
}
