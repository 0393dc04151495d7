package kv

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memStore is a map-backed KVStore with no optional extensions.
type memStore struct {
	mu   sync.Mutex
	data map[string]map[string][]byte // bucket -> key -> value
	comp map[string]bool              // bucket+"\x00"+key written compressed
}

func newMem() *memStore {
	return &memStore{data: map[string]map[string][]byte{}, comp: map[string]bool{}}
}

func (m *memStore) Open() error  { return nil }
func (m *memStore) Close() error { return nil }

func (m *memStore) GetValue(bucket string, key []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[bucket][string(key)]
	if !ok {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

func (m *memStore) GetCompressedValue(bucket string, key []byte) ([]byte, error) {
	m.mu.Lock()
	c := m.comp[bucket+"\x00"+string(key)]
	m.mu.Unlock()
	if !c {
		return nil, nil
	}
	return m.GetValue(bucket, key)
}

func (m *memStore) put(bucket string, key, value []byte, compressed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.data[bucket]
	if b == nil {
		b = map[string][]byte{}
		m.data[bucket] = b
	}
	b[string(key)] = append([]byte{}, value...)
	m.comp[bucket+"\x00"+string(key)] = compressed
}

func (m *memStore) AddValueCompress(bucket string, key []byte, value []byte) error {
	m.put(bucket, key, value, true)
	return nil
}

func (m *memStore) AddValue(bucket string, key []byte, value []byte) error {
	m.put(bucket, key, value, false)
	return nil
}

func (m *memStore) ExistsKey(bucket string, key []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.data[bucket][string(key)]
	return ok, nil
}

func (m *memStore) DeleteKey(bucket string, key []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data[bucket], string(key))
	delete(m.comp, bucket+"\x00"+string(key))
	return nil
}

func (m *memStore) raw(bucket, key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[bucket][key]
	return v, ok
}

// extStore adds every optional extension.
type extStore struct {
	*memStore
	ttls map[string]time.Duration
}

func newExt() *extStore { return &extStore{memStore: newMem(), ttls: map[string]time.Duration{}} }

func (e *extStore) AddValueWithTTL(bucket string, key, value []byte, ttl time.Duration) error {
	e.put(bucket, key, value, false)
	e.mu.Lock()
	e.ttls[bucket+"\x00"+string(key)] = ttl
	e.mu.Unlock()
	return nil
}

func (e *extStore) DeleteBucket(bucket string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.data, bucket)
	return nil
}

func (e *extStore) Iterate(bucket string, fn func(key, value []byte) bool) error {
	e.mu.Lock()
	type kv struct{ k, v []byte }
	var items []kv
	for k, v := range e.data[bucket] {
		items = append(items, kv{[]byte(k), v})
	}
	e.mu.Unlock()
	for _, it := range items {
		if !fn(it.k, it.v) {
			break
		}
	}
	return nil
}

// selfStore implements Store itself, in its own bucket "self".
type selfStore struct{ *memStore }

func (s selfStore) Set(key string, value []byte) error {
	return s.AddValue("self", []byte(key), value)
}
func (s selfStore) Get(key string) ([]byte, error) { return s.GetValue("self", []byte(key)) }
func (s selfStore) Delete(key string) error        { return s.DeleteKey("self", []byte(key)) }

// register registers s and unregisters it when the test ends.
func register(t *testing.T, name string, s KVStore) {
	t.Helper()
	Register(name, s)
	t.Cleanup(func() { Unregister(name) })
}

func requireEmpty(t *testing.T) {
	t.Helper()
	mu.RLock()
	n := len(entries)
	mu.RUnlock()
	require.Zero(t, n, "registry not empty at test start")
}

func TestNoActiveStore(t *testing.T) {
	requireEmpty(t)
	require.Nil(t, Active())
	require.Nil(t, GetStore("simple_kv"))

	k, v := []byte("k"), []byte("v")
	got, err := GetValue("b", k)
	require.ErrorIs(t, err, ErrNoStore)
	require.Nil(t, got)
	got, err = GetCompressedValue("b", k)
	require.ErrorIs(t, err, ErrNoStore)
	require.Nil(t, got)
	require.ErrorIs(t, AddValue("b", k, v), ErrNoStore)
	require.ErrorIs(t, AddValueCompress("b", k, v), ErrNoStore)
	ok, err := ExistsKey("b", k)
	require.ErrorIs(t, err, ErrNoStore)
	require.False(t, ok)
	require.ErrorIs(t, DeleteKey("b", k), ErrNoStore)
	require.ErrorIs(t, AddValueWithTTL("b", k, v, time.Second), ErrNoStore)
	require.ErrorIs(t, DeleteBucket("b"), ErrNoStore)
	require.ErrorIs(t, Iterate("b", func(_, _ []byte) bool { return true }), ErrNoStore)
	require.ErrorIs(t, Set("k", v), ErrNoStore)
	got, err = Get("k")
	require.ErrorIs(t, err, ErrNoStore)
	require.Nil(t, got)
	require.ErrorIs(t, Delete("k"), ErrNoStore)
}

func TestActiveSwitching(t *testing.T) {
	requireEmpty(t)
	a, b, c := newMem(), newMem(), newMem()
	Register("a", a)
	require.Same(t, a, Active())
	Register("b", b)
	require.Same(t, b, Active(), "last registration is active")

	require.NoError(t, AddValue("bk", []byte("k"), []byte("to-b")))
	_, inA := a.raw("bk", "k")
	require.False(t, inA)
	v, ok := b.raw("bk", "k")
	require.True(t, ok)
	require.Equal(t, []byte("to-b"), v)

	Register("c", c)
	Unregister("b") // not active: c stays active
	require.Same(t, c, Active())
	Unregister("c") // active: falls back to the most recent still present
	require.Same(t, a, Active())
	got, err := GetValue("bk", []byte("k"))
	require.NoError(t, err)
	require.Nil(t, got, "routed to a, which never saw the write")

	Unregister("nope") // unknown: no-op
	require.Same(t, a, Active())
	Unregister("a")
	require.Nil(t, Active())
	require.ErrorIs(t, AddValue("bk", []byte("k"), nil), ErrNoStore)
}

func TestRegisterTwicePanics(t *testing.T) {
	requireEmpty(t)
	register(t, "simple_kv", newMem())
	require.PanicsWithValue(t, "kv: Register called twice for store simple_kv", func() {
		Register("simple_kv", newMem())
	})
	require.PanicsWithValue(t, "kv: Register store is nil", func() { Register("x", nil) })
	require.Nil(t, GetStore("x"))
}

func TestStopSetupCycle(t *testing.T) {
	requireEmpty(t)
	first := newMem()
	Register("simple_kv", first)
	require.NoError(t, Set("k", []byte("1")))
	Unregister("simple_kv") // Stop
	require.Nil(t, GetStore("simple_kv"))

	second := newMem()
	require.NotPanics(t, func() { Register("simple_kv", second) }) // Setup again
	t.Cleanup(func() { Unregister("simple_kv") })
	require.Same(t, second, Active())
	require.NoError(t, Set("k", []byte("2")))
	v, _ := first.raw("", "k")
	require.Equal(t, []byte("1"), v)
	v, _ = second.raw("", "k")
	require.Equal(t, []byte("2"), v)
}

func TestGetStoreAdapter(t *testing.T) {
	requireEmpty(t)
	m := newMem()
	register(t, "simple_kv", m)
	require.Nil(t, GetStore("unknown"))

	s := GetStore("simple_kv")
	require.NotNil(t, s)
	require.NotSame(t, m, s)
	require.NoError(t, s.Set("user:1", []byte("ada")))
	v, ok := m.raw(DefaultBucket, "user:1")
	require.True(t, ok, "adapter writes to the default bucket \"\"")
	require.Equal(t, []byte("ada"), v)

	got, err := s.Get("user:1")
	require.NoError(t, err)
	require.Equal(t, []byte("ada"), got)
	got, err = s.Get("missing")
	require.NoError(t, err, "missing key: (nil, nil)")
	require.Nil(t, got)

	// A value in another bucket is invisible through the adapter.
	require.NoError(t, m.AddValue("other", []byte("x"), []byte("y")))
	got, err = s.Get("x")
	require.NoError(t, err)
	require.Nil(t, got)

	require.NoError(t, s.Delete("user:1"))
	_, ok = m.raw(DefaultBucket, "user:1")
	require.False(t, ok)
}

func TestGetStoreSelfImplementing(t *testing.T) {
	requireEmpty(t)
	s := selfStore{newMem()}
	register(t, "self", s)
	require.Equal(t, Store(s), GetStore("self"), "a KVStore that is a Store is returned as is")

	require.NoError(t, Set("k", []byte("v")))
	v, ok := s.raw("self", "k")
	require.True(t, ok, "package Set goes through the store's own Set")
	require.Equal(t, []byte("v"), v)
	_, ok = s.raw(DefaultBucket, "k")
	require.False(t, ok)
}

func TestPackageSimpleFunctions(t *testing.T) {
	requireEmpty(t)
	a, b := newMem(), newMem()
	register(t, "a", a)
	register(t, "b", b)

	require.NoError(t, Set("k", []byte("v")))
	_, ok := a.raw("", "k")
	require.False(t, ok)
	v, ok := b.raw("", "k")
	require.True(t, ok)
	require.Equal(t, []byte("v"), v)

	got, err := Get("k")
	require.NoError(t, err)
	require.Equal(t, []byte("v"), got)
	got, err = Get("missing")
	require.NoError(t, err)
	require.Nil(t, got)
	require.NoError(t, Delete("k"))
	_, ok = b.raw("", "k")
	require.False(t, ok)
}

func TestPackageBucketFunctions(t *testing.T) {
	requireEmpty(t)
	m := newMem()
	register(t, "m", m)

	got, err := GetValue("b", []byte("k"))
	require.NoError(t, err, "missing key: (nil, nil)")
	require.Nil(t, got)

	require.NoError(t, AddValue("b", []byte("k"), []byte("v")))
	got, err = GetValue("b", []byte("k"))
	require.NoError(t, err)
	require.Equal(t, []byte("v"), got)
	ok, err := ExistsKey("b", []byte("k"))
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = ExistsKey("", []byte("k"))
	require.NoError(t, err)
	require.False(t, ok, "buckets are distinct")

	require.NoError(t, AddValueCompress("b", []byte("c"), []byte("compressed")))
	got, err = GetCompressedValue("b", []byte("c"))
	require.NoError(t, err)
	require.Equal(t, []byte("compressed"), got)

	require.NoError(t, DeleteKey("b", []byte("k")))
	ok, err = ExistsKey("b", []byte("k"))
	require.NoError(t, err)
	require.False(t, ok)
}

func TestOptionalExtensions(t *testing.T) {
	requireEmpty(t)
	plain := newMem()
	register(t, "plain", plain)

	err := AddValueWithTTL("b", []byte("k"), []byte("v"), time.Minute)
	require.ErrorIs(t, err, ErrNotSupported)
	require.Contains(t, err.Error(), `"plain"`)
	require.Contains(t, err.Error(), "AddValueWithTTL")
	require.ErrorIs(t, DeleteBucket("b"), ErrNotSupported)
	require.ErrorIs(t, Iterate("b", func(_, _ []byte) bool { return true }), ErrNotSupported)
	_, ok := plain.raw("b", "k")
	require.False(t, ok)

	ext := newExt()
	register(t, "ext", ext)
	require.NoError(t, AddValueWithTTL("b", []byte("k"), []byte("v"), time.Minute))
	require.Equal(t, time.Minute, ext.ttls["b\x00k"])
	require.NoError(t, AddValue("b", []byte("k2"), []byte("v2")))
	require.NoError(t, AddValue("other", []byte("k3"), []byte("v3")))

	seen := map[string]string{}
	require.NoError(t, Iterate("b", func(k, v []byte) bool {
		seen[string(k)] = string(v)
		return true
	}))
	require.Equal(t, map[string]string{"k": "v", "k2": "v2"}, seen)

	n := 0
	require.NoError(t, Iterate("b", func(_, _ []byte) bool { n++; return false }))
	require.Equal(t, 1, n, "fn returning false stops the iteration")

	require.NoError(t, DeleteBucket("b"))
	ok, err = ExistsKey("b", []byte("k2"))
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = ExistsKey("other", []byte("k3"))
	require.NoError(t, err)
	require.True(t, ok)
}

func TestConcurrentUseAndRegistration(t *testing.T) {
	requireEmpty(t)
	register(t, "base", newExt())

	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			key := []byte(fmt.Sprintf("k%d", g))
			okErr := func(err error) bool {
				return err == nil || errors.Is(err, ErrNoStore) || errors.Is(err, ErrNotSupported)
			}
			for !stop.Load() {
				assert.True(t, okErr(AddValue("b", key, key)))
				_, err := GetValue("b", key)
				assert.True(t, okErr(err))
				_, err = ExistsKey("b", key)
				assert.True(t, okErr(err))
				assert.True(t, okErr(AddValueWithTTL("b", key, key, time.Second)))
				assert.True(t, okErr(Iterate("b", func(_, _ []byte) bool { return true })))
				assert.True(t, okErr(Set(string(key), key)))
				_, err = Get(string(key))
				assert.True(t, okErr(err))
				assert.True(t, okErr(DeleteKey("b", key)))
				_ = Active()
				_ = GetStore("churn")
			}
		})
	}
	wg.Go(func() {
		defer stop.Store(true)
		for i := range 500 {
			Register("churn", newMem()) // active: a store without extensions
			Unregister("base")
			Unregister("churn") // none registered
			if i%2 == 0 {
				runtime.Gosched()
			}
			Register("base", newExt())
		}
	})
	wg.Wait()
	require.NotNil(t, GetStore("base"))
	require.Nil(t, GetStore("churn"))
}
