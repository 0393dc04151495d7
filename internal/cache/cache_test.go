package cache

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGetRequiresSameSeq(t *testing.T) {
	c := New(1 << 20)
	c.Add([]byte("k"), 5, []byte("v5"))
	v, ok := c.Get([]byte("k"), 5)
	require.True(t, ok)
	require.Equal(t, "v5", string(v))
	_, ok = c.Get([]byte("k"), 6)
	require.False(t, ok, "a newer keydir sequence must miss")
	c.Add([]byte("k"), 4, []byte("v4"))
	v, ok = c.Get([]byte("k"), 5)
	require.True(t, ok, "an older value never replaces a newer one")
	require.Equal(t, "v5", string(v))
	c.Invalidate([]byte("k"))
	_, ok = c.Get([]byte("k"), 5)
	require.False(t, ok)
	_, hits, misses := c.Stats()
	require.Equal(t, int64(2), hits)
	require.Equal(t, int64(1), misses, "the lookup on the emptied cache is not counted")
}

func TestBudgetEvictsLeastRecentlyUsed(t *testing.T) {
	const budget = 16 * 4 * (entryOverhead + 100) // about 4 entries per shard
	c := New(budget)
	val := make([]byte, 100-3)
	for i := range 1000 {
		c.Add(fmt.Appendf(nil, "k%02d", i%100), uint64(i), val)
	}
	bytes, _, _ := c.Stats()
	require.LessOrEqual(t, bytes, int64(budget))
	require.Positive(t, bytes)
	// The most recently added key of its shard is present.
	_, ok := c.Get([]byte("k99"), 999)
	require.True(t, ok)
	// Something older must have been evicted.
	present := 0
	for i := range 100 {
		if _, ok := c.Get(fmt.Appendf(nil, "k%02d", i), uint64(900+i)); ok {
			present++
		}
	}
	require.Less(t, present, 100)
}

func TestOversizeValueNotCached(t *testing.T) {
	c := New(16 * 1024)
	c.Add([]byte("big"), 1, make([]byte, 4096))
	_, ok := c.Get([]byte("big"), 1)
	require.False(t, ok)
}

func TestNilCache(t *testing.T) {
	var c *Cache = New(0)
	require.Nil(t, c)
	c.Add([]byte("k"), 1, []byte("v"))
	_, ok := c.Get([]byte("k"), 1)
	require.False(t, ok)
	c.Invalidate([]byte("k"))
	b, h, m := c.Stats()
	require.Zero(t, b+h+m)
}

func TestConcurrent(t *testing.T) {
	c := New(64 << 10)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := fmt.Appendf(nil, "k%d", i%50)
				c.Add(k, uint64(i), fmt.Appendf(nil, "v%d-%d", g, i))
				if v, ok := c.Get(k, uint64(i)); ok && len(v) == 0 {
					t.Error("empty value")
				}
				if i%7 == 0 {
					c.Invalidate(k)
				}
			}
		}()
	}
	wg.Wait()
	bytes, _, _ := c.Stats()
	require.LessOrEqual(t, bytes, int64(64<<10))
}
