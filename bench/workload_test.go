package bench

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// memDB is an in-memory DB for testing the workloads' logic. mangle, if
// set, may change a value on its way out of Get; dropPut, if set, makes
// Put silently do nothing for a key.
type memDB struct {
	mu      sync.RWMutex
	m       map[string][]byte
	puts    atomic.Int64
	loads   atomic.Int64
	loaded  [][][]byte // the keys of each Load call
	mangle  func(key, v []byte) []byte
	dropPut func(key []byte) bool
}

func newMemDB() *memDB { return &memDB{m: map[string][]byte{}} }

func (d *memDB) Put(k, v []byte) error {
	d.puts.Add(1)
	if d.dropPut != nil && d.dropPut(k) {
		return nil
	}
	d.mu.Lock()
	d.m[string(k)] = append([]byte{}, v...)
	d.mu.Unlock()
	return nil
}

func (d *memDB) Get(k []byte) ([]byte, error) {
	d.mu.RLock()
	v, ok := d.m[string(k)]
	d.mu.RUnlock()
	if !ok {
		return nil, ErrNotFound
	}
	v = append([]byte{}, v...)
	if d.mangle != nil {
		v = d.mangle(k, v)
	}
	return v, nil
}

func (d *memDB) Delete(k []byte) error {
	d.mu.Lock()
	delete(d.m, string(k))
	d.mu.Unlock()
	return nil
}

func (d *memDB) Load(keys, values [][]byte) error {
	d.loads.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	var ks [][]byte
	for _, k := range keys {
		ks = append(ks, append([]byte{}, k...))
	}
	d.loaded = append(d.loaded, ks)
	for i := range keys {
		d.m[string(keys[i])] = append([]byte{}, values[i]...)
	}
	return nil
}

func (d *memDB) Sync() error  { return nil }
func (d *memDB) Close() error { return nil }

func TestOrderWriterAndLoad(t *testing.T) {
	const n = 25_000
	ks := NewKeyspace(testGen(), n, false)
	db := newMemDB()
	perm := NewPerm(n, 9)

	// The first 5,000 positions one Put each, the rest loaded in batches,
	// each sorted by key.
	w := ks.NewOrderWriter(db, perm)
	w.Timed = true
	for range 5000 {
		d, err := w.Step()
		require.NoError(t, err)
		require.Positive(t, d)
	}
	require.Equal(t, uint64(5000), w.Pos())
	loaded := 0
	require.NoError(t, ks.Load(db, perm, w.Pos(), n, func(k int) { loaded += k }))
	require.Equal(t, n-5000, loaded)
	require.Equal(t, int64(5000), db.puts.Load())
	require.Equal(t, int64(1), db.loads.Load(), "20,000 pairs in batches of %d", LoadBatch)
	require.Len(t, db.loaded, 1)
	require.Len(t, db.loaded[0], n-5000)
	require.True(t, slices.IsSortedFunc(db.loaded[0], bytes.Compare), "a batch is sorted by key")
	require.Len(t, db.m, n, "every key once")
	for i := range uint64(n) {
		require.Equal(t, uint32(1), ks.Version(i))
	}
	require.NoError(t, ks.VerifySample(db, 2000, 1))

	// A second pass writes version 2 of every key (overwrite).
	w = ks.NewOrderWriter(db, NewPerm(n, 10))
	for range n {
		d, err := w.Step()
		require.NoError(t, err)
		require.Zero(t, d, "untimed")
	}
	require.Len(t, db.m, n)
	require.Equal(t, uint32(2), ks.Version(0))
	require.NoError(t, ks.VerifySample(db, 2000, 2))

	// A value of the previous version is caught.
	kb := make([]byte, 16)
	require.NoError(t, db.Put(ks.Key(kb, 7), ks.Gen.Value(make([]byte, 100), 7, 1)))
	err := ks.Get(db, kb, make([]byte, 100), 7)
	require.ErrorContains(t, err, "wrong value")
	require.ErrorContains(t, err, "index 7 version 2")
}

func TestSeqKeyspaceWritesSortedKeys(t *testing.T) {
	ks := NewKeyspace(testGen(), 1000, true)
	var keys [][]byte
	db := &recordingDB{memDB: newMemDB(), keys: &keys}
	w := ks.NewOrderWriter(db, Ascending{})
	for range 1000 {
		_, err := w.Step()
		require.NoError(t, err)
	}
	require.Len(t, keys, 1000)
	for j := 1; j < len(keys); j++ {
		require.Negative(t, bytes.Compare(keys[j-1], keys[j]), "put %d", j)
	}
	require.NoError(t, ks.VerifySample(db, 100, 1))
}

type recordingDB struct {
	*memDB
	keys *[][]byte
}

func (d *recordingDB) Put(k, v []byte) error {
	*d.keys = append(*d.keys, append([]byte{}, k...))
	return d.memDB.Put(k, v)
}

// TestMixConcurrentUpdatesVerify runs YCSB A on a tiny key space from
// several goroutines, so that reads race updates of the same keys all the
// time: every read must still verify.
func TestMixConcurrentUpdatesVerify(t *testing.T) {
	const n = 64
	ks := NewKeyspace(testGen(), n, false)
	db := newMemDB()
	require.NoError(t, ks.Load(db, NewPerm(n, 1), 0, n, nil))
	z, err := NewZipf(n, ZipfTheta, 1)
	require.NoError(t, err)
	var wg sync.WaitGroup
	var reads, updates atomic.Int64
	errs := make([]error, 4)
	for g := range 4 {
		wg.Go(func() {
			w := ks.NewMixWorker(db, Mix{ReadPercent: YCSBAReadPercent, Zipf: z}, uint64(g))
			for range 20_000 {
				if _, err := w.Step(); err != nil {
					errs[g] = err
					return
				}
			}
			reads.Add(w.Reads)
			updates.Add(w.Updates)
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.Equal(t, int64(80_000), reads.Load()+updates.Load())
	require.InDelta(t, 0.5, float64(reads.Load())/80_000, 0.02)
	// Versions moved on, and the store agrees with them.
	hot := z.Index(0)
	require.Greater(t, ks.Version(hot), uint32(100))
	require.NoError(t, ks.VerifySample(db, 500, 3))
}

func TestMixReadsCatchBadValues(t *testing.T) {
	const n = 1000
	setup := func(t *testing.T) (*Keyspace, *memDB) {
		ks := NewKeyspace(testGen(), n, false)
		db := newMemDB()
		require.NoError(t, ks.Load(db, NewPerm(n, 1), 0, n, nil))
		return ks, db
	}
	t.Run("flipped byte", func(t *testing.T) {
		ks, db := setup(t)
		db.mangle = func(_, v []byte) []byte { v[42] ^= 1; return v }
		w := ks.NewMixWorker(db, Mix{ReadPercent: 100}, 1)
		_, err := w.Step()
		require.ErrorContains(t, err, "wrong value")
		require.ErrorContains(t, err, "byte 42")
	})
	t.Run("lost update", func(t *testing.T) {
		// Updates that the DB acknowledges but drops leave the old
		// version behind: the next read of the key must fail.
		ks, db := setup(t)
		db.dropPut = func([]byte) bool { return true }
		w := ks.NewMixWorker(db, Mix{ReadPercent: YCSBAReadPercent}, 1)
		var err error
		for range 1000 {
			if _, err = w.Step(); err != nil {
				break
			}
		}
		require.ErrorContains(t, err, "wrong value")
		require.Positive(t, w.Updates)
	})
	t.Run("missing key", func(t *testing.T) {
		ks, db := setup(t)
		kb := make([]byte, 16)
		require.NoError(t, db.Delete(ks.Key(kb, 5)))
		require.ErrorContains(t, ks.Get(db, kb, make([]byte, 100), 5), "not found, but version 1 was written")
	})
}

// TestCheckVersionWindow: a read accepts exactly the versions the key
// could have held during its Get.
func TestCheckVersionWindow(t *testing.T) {
	ks := NewKeyspace(testGen(), 10, false)
	val := func(v uint32) []byte { return ks.Gen.Value(make([]byte, 100), 3, v) }
	scratch := make([]byte, 100)
	cases := []struct {
		name          string
		got           uint32 // version of the value read; 0 = ErrNotFound
		before, after uint32
		ok            bool
	}{
		{"steady", 4, 4, 4, true},
		{"steady, older", 3, 4, 4, false},
		{"steady, newer", 5, 4, 4, false},
		{"pending before: old", 3, 4 | pending, 4, true},
		{"pending before: new", 4, 4 | pending, 4, true},
		{"pending before: older", 2, 4 | pending, 4, false},
		{"updates during the get", 6, 4, 7, true},
		{"updates during the get, lowest", 4, 4, 7, true},
		{"pending after: the new one", 8, 4, 8 | pending, true},
		{"never written", 0, 0, 0, true},
		{"never written, found", 1, 0, 0, false},
		{"first write in flight: not yet", 0, 1 | pending, 1, true},
		{"first write in flight: landed", 1, 1 | pending, 1, true},
		{"written, not found", 0, 2, 2, false},
	}
	for _, c := range cases {
		var got []byte
		var err error
		if c.got == 0 {
			err = ErrNotFound
		} else {
			got = val(c.got)
		}
		cerr := ks.Check(scratch, 3, got, err, c.before, c.after)
		if c.ok {
			require.NoError(t, cerr, c.name)
		} else {
			require.Error(t, cerr, c.name)
		}
	}
	require.ErrorContains(t, ks.Check(scratch, 3, nil, errors.New("disk on fire"), 1, 1), "disk on fire")
}

func TestFreshWritersWriteDistinctKeys(t *testing.T) {
	db := newMemDB()
	gen := testGen()
	const writers, each = 4, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			w := NewFreshWriter(db, gen, 1000, g, writers)
			for range each {
				_, err := w.Step()
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.Len(t, db.m, writers*each, "no two Puts share a key")
	kb := make([]byte, 16)
	// Indexes 1000 .. 1000+writers*each-1, version 1.
	for _, i := range []uint64{1000, 1001, 1000 + writers*each - 1} {
		v, err := db.Get(gen.Key(kb, i))
		require.NoError(t, err)
		require.NoError(t, gen.Verify(make([]byte, 100), v, i, 1))
	}
	_, err := db.Get(gen.Key(kb, 999))
	require.ErrorIs(t, err, ErrNotFound)
}
