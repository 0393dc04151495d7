package keydir

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rangePrefixAll collects RangePrefix's visits, failing on a repeated key.
func rangePrefixAll(t *testing.T, k *Keydir, prefix []byte) map[string]Entry {
	t.Helper()
	got := map[string]Entry{}
	k.RangePrefix(prefix, func(key []byte, e Entry) bool {
		_, dup := got[string(key)]
		require.False(t, dup, "key %q visited twice", key)
		got[string(key)] = e
		return true
	})
	return got
}

func TestRangePrefixMatchesModel(t *testing.T) {
	k := New()
	model := map[string]Entry{}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0x00, 0x01, 'a', 'b', 0xfe, 0xff}
	for i := range 5000 {
		key := make([]byte, 1+rng.IntN(6))
		for j := range key {
			key[j] = alphabet[rng.IntN(len(alphabet))]
		}
		e := ent(uint32(i), uint32(i), uint64(i)+1)
		if i%5 == 0 {
			e.Expiry = int64(i) // expiry must come through too
		}
		k.Put(key, e)
		model[string(key)] = e
		if i%7 == 0 { // and deletes
			k.Delete(key, 1<<62)
			delete(model, string(key))
		}
	}
	prefixes := [][]byte{nil, {}, {0x00}, {0xff}, {0xff, 0xff}, {0x00, 0xff}, {'a', 0x00, 'b'}, {0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01}}
	for key := range model { // some prefixes that are whole keys
		prefixes = append(prefixes, []byte(key))
		if len(prefixes) > 20 {
			break
		}
	}
	for _, p := range prefixes {
		want := map[string]Entry{}
		for key, e := range model {
			if bytes.HasPrefix([]byte(key), p) {
				want[key] = e
			}
		}
		require.Equal(t, want, rangePrefixAll(t, k, p), "prefix %x", p)
	}
	require.Len(t, rangePrefixAll(t, k, nil), k.Len())
}

func TestRangePrefixEarlyStop(t *testing.T) {
	k := New()
	for i := range 1000 {
		k.Put(fmt.Appendf(nil, "p%d", i), ent(1, 1, 1))
		k.Put(fmt.Appendf(nil, "q%d", i), ent(1, 1, 1))
	}
	calls := 0
	k.RangePrefix([]byte("p"), func(key []byte, e Entry) bool {
		require.Equal(t, byte('p'), key[0])
		calls++
		return calls < 10
	})
	require.Equal(t, 10, calls)
}

// fn may call any method of k, and the key slice it gets is valid for the
// call (checked against the entry it came with).
func TestRangePrefixAllowsMutation(t *testing.T) {
	k := New()
	const n = 3000
	for i := range n {
		k.Put(fmt.Appendf(nil, "old/%d", i), ent(uint32(i), 0, uint64(i)+1))
	}
	done := make(chan struct{})
	seen := map[string]bool{}
	var bad []string
	go func() {
		defer close(done)
		k.RangePrefix([]byte("old/"), func(key []byte, e Entry) bool {
			if bytes.HasPrefix(key, []byte("old/x")) {
				return true // added by this loop
			}
			seen[string(key)] = true
			if want := fmt.Sprintf("old/%d", e.FileID); string(key) != want {
				bad = append(bad, fmt.Sprintf("key %q with the entry of %q", key, want))
			}
			k.Put(fmt.Appendf(nil, "new/%s", key), ent(1, 1, 1))
			k.Put(fmt.Appendf(nil, "old/x%s", key), ent(1, 1, 1)) // may or may not be seen
			k.Delete(key, 1<<62)
			_ = k.Len()
			k.RangePrefix([]byte("new/"), func([]byte, Entry) bool { return false })
			return true
		})
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("RangePrefix deadlocked with fn calling k")
	}
	require.Empty(t, bad)
	require.Len(t, seen, n)
	for i := range n {
		require.True(t, seen[fmt.Sprintf("old/%d", i)], "old/%d", i)
	}
	require.Len(t, rangePrefixAll(t, k, []byte("new/")), len(seen))
}

// Under concurrent writers, untouched keys are each seen exactly once.
func TestRangePrefixConcurrentWriters(t *testing.T) {
	k := New()
	const stable = 2000
	for i := range stable {
		k.Put(fmt.Appendf(nil, "s/%d", i), ent(uint32(i), 0, 1))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Appendf(nil, "s/c%d-%d", g, i%500)
				if i%3 == 0 {
					k.Delete(key, 1<<62)
				} else {
					k.Put(key, ent(0, 0, i))
				}
			}
		}()
	}
	for range 20 {
		got := rangePrefixAll(t, k, []byte("s/"))
		for i := range stable {
			e, ok := got[fmt.Sprintf("s/%d", i)]
			require.True(t, ok, "s/%d not seen", i)
			require.Equal(t, uint32(i), e.FileID)
		}
	}
	close(stop)
	wg.Wait()
}
