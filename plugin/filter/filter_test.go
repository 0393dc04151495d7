package filter

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memFilter is an exact, map-backed Filter.
type memFilter struct {
	mu  sync.Mutex
	set map[string]map[string]struct{} // bucket -> key
}

func newMem() *memFilter { return &memFilter{set: map[string]map[string]struct{}{}} }

func (m *memFilter) Open() error  { return nil }
func (m *memFilter) Close() error { return nil }

func (m *memFilter) Exists(bucket string, key []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.set[bucket][string(key)]
	return ok
}

func (m *memFilter) addLocked(bucket string, key []byte) {
	b := m.set[bucket]
	if b == nil {
		b = map[string]struct{}{}
		m.set[bucket] = b
	}
	b[string(key)] = struct{}{}
}

func (m *memFilter) Add(bucket string, key []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addLocked(bucket, key)
	return nil
}

func (m *memFilter) Delete(bucket string, key []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.set[bucket], string(key))
	return nil
}

func (m *memFilter) CheckThenAdd(bucket string, key []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.set[bucket][string(key)]
	m.addLocked(bucket, key)
	return ok, nil
}

func register(t *testing.T, name string, f Filter) {
	t.Helper()
	Register(name, f)
	t.Cleanup(func() { Unregister(name) })
}

func requireEmpty(t *testing.T) {
	t.Helper()
	mu.RLock()
	n := len(entries)
	mu.RUnlock()
	require.Zero(t, n, "registry not empty at test start")
}

func TestNoActiveFilter(t *testing.T) {
	requireEmpty(t)
	require.Nil(t, Active())
	require.Nil(t, GetFilter("simple_kv"))
	require.NotPanics(t, func() {
		require.False(t, Exists("b", []byte("k")))
		require.False(t, Contains([]byte("k")))
		require.ErrorIs(t, Add("b", []byte("k")), ErrNoFilter)
		require.ErrorIs(t, Remove("b", []byte("k")), ErrNoFilter)
		was, err := CheckThenAdd("b", []byte("k"))
		require.ErrorIs(t, err, ErrNoFilter)
		require.False(t, was)
	})
}

func TestActiveSwitching(t *testing.T) {
	requireEmpty(t)
	a, b, c := newMem(), newMem(), newMem()
	Register("a", a)
	require.Same(t, a, Active())
	Register("b", b)
	require.Same(t, b, Active(), "last registration is active")

	require.NoError(t, Add("bk", []byte("k")))
	require.False(t, a.Exists("bk", []byte("k")))
	require.True(t, b.Exists("bk", []byte("k")))
	require.True(t, Exists("bk", []byte("k")))

	Register("c", c)
	Unregister("b") // not active: c stays active
	require.Same(t, c, Active())
	Unregister("c") // active: falls back to the most recent still present
	require.Same(t, a, Active())
	require.False(t, Exists("bk", []byte("k")), "routed to a, which never saw the Add")

	Unregister("nope")
	require.Same(t, a, Active())
	Unregister("a")
	require.Nil(t, Active())
	require.ErrorIs(t, Add("bk", []byte("k")), ErrNoFilter)
}

func TestRegisterTwicePanics(t *testing.T) {
	requireEmpty(t)
	register(t, "simple_kv", newMem())
	require.PanicsWithValue(t, "filter: Register called twice for filter simple_kv", func() {
		Register("simple_kv", newMem())
	})
	require.PanicsWithValue(t, "filter: Register filter is nil", func() { Register("x", nil) })
	require.Nil(t, GetFilter("x"))
}

func TestStopSetupCycle(t *testing.T) {
	requireEmpty(t)
	first := newMem()
	Register("simple_kv", first)
	require.NoError(t, Add("b", []byte("k")))
	Unregister("simple_kv")
	require.Nil(t, GetFilter("simple_kv"))
	require.False(t, Exists("b", []byte("k")))

	second := newMem()
	require.NotPanics(t, func() { Register("simple_kv", second) })
	t.Cleanup(func() { Unregister("simple_kv") })
	require.Same(t, second, Active())
	require.False(t, Exists("b", []byte("k")))
	require.NoError(t, Add("b", []byte("k2")))
	require.True(t, second.Exists("b", []byte("k2")))
	require.False(t, first.Exists("b", []byte("k2")))
}

func TestGetFilterAdapter(t *testing.T) {
	requireEmpty(t)
	m := newMem()
	register(t, "simple_kv", m)
	require.Nil(t, GetFilter("unknown"))

	f := GetFilter("simple_kv")
	require.NotNil(t, f)
	require.Same(t, f, GetFilter("simple_kv"), "one view per registration")
	require.False(t, f.Contains([]byte("item")))
	require.NoError(t, f.Add([]byte("item")))
	require.True(t, m.Exists(DefaultBucket, []byte("item")), "adapter adds to bucket \"\"")
	require.True(t, f.Contains([]byte("item")))
	require.True(t, Contains([]byte("item")))

	require.NoError(t, m.Add("other", []byte("x")))
	require.False(t, f.Contains([]byte("x")), "other buckets are invisible to the adapter")
	require.False(t, Contains([]byte("x")))
}

func TestPackageFunctions(t *testing.T) {
	requireEmpty(t)
	m := newMem()
	register(t, "m", m)

	require.False(t, Exists("b", []byte("k")))
	require.NoError(t, Add("b", []byte("k")))
	require.True(t, Exists("b", []byte("k")))
	require.False(t, Exists("", []byte("k")), "buckets are distinct")

	was, err := CheckThenAdd("b", []byte("n"))
	require.NoError(t, err)
	require.False(t, was)
	was, err = CheckThenAdd("b", []byte("n"))
	require.NoError(t, err)
	require.True(t, was)

	require.NoError(t, Remove("b", []byte("k")))
	require.False(t, Exists("b", []byte("k")))
	require.False(t, m.Exists("b", []byte("k")))
	require.True(t, m.Exists("b", []byte("n")))
}

func TestConcurrentUseAndRegistration(t *testing.T) {
	requireEmpty(t)
	register(t, "base", newMem())

	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			key := []byte(fmt.Sprintf("k%d", g))
			okErr := func(err error) bool { return err == nil || errors.Is(err, ErrNoFilter) }
			for !stop.Load() {
				assert.True(t, okErr(Add("b", key)))
				_ = Exists("b", key)
				_, err := CheckThenAdd("b", key)
				assert.True(t, okErr(err))
				_ = Contains(key)
				assert.True(t, okErr(Remove("b", key)))
				_ = Active()
				if f := GetFilter("churn"); f != nil {
					assert.NoError(t, f.Add(key))
				}
			}
		})
	}
	wg.Go(func() {
		defer stop.Store(true)
		for i := range 500 {
			Register("churn", newMem())
			Unregister("base")
			Unregister("churn") // none registered
			if i%2 == 0 {
				runtime.Gosched()
			}
			Register("base", newMem())
		}
	})
	wg.Wait()
	require.NotNil(t, GetFilter("base"))
	require.Nil(t, GetFilter("churn"))
}

// TestCheckThenAddConcurrent: through the registry, exactly one caller sees
// a key as new.
func TestCheckThenAddConcurrent(t *testing.T) {
	requireEmpty(t)
	register(t, "m", newMem())
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			was, err := CheckThenAdd("b", []byte("once"))
			assert.NoError(t, err)
			if !was {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int32(1), fresh.Load())
}
