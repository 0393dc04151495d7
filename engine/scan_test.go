package engine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scanAll runs Scan and returns what it visited, failing on a key visited
// twice.
func scanAll(t *testing.T, db *DB, prefix []byte) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := db.Scan(prefix, func(k, v []byte) bool {
		_, dup := got[string(k)]
		require.False(t, dup, "key %q visited twice", k)
		got[string(k)] = string(v)
		return true
	})
	require.NoError(t, err)
	return got
}

// filterPrefix returns the entries of model whose key starts with prefix.
func filterPrefix(model map[string]string, prefix []byte) map[string]string {
	out := map[string]string{}
	for k, v := range model {
		if strings.HasPrefix(k, string(prefix)) {
			out[k] = v
		}
	}
	return out
}

func TestScanPrefix(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{})
	model := map[string]string{}
	put := func(k, v string) {
		require.NoError(t, db.Put([]byte(k), []byte(v)))
		model[k] = v
	}
	for _, k := range []string{"a", "ab", "abc", "abd", "b", "ba", "user:1", "user:2", "user:10", "usera"} {
		put(k, "v-"+k)
	}
	put("empty", "")
	for _, k := range [][]byte{{0x00}, {0x00, 0x00}, {0x00, 0x01}, {0xff}, {0xff, 0x00}, {0xff, 0xff}, {0xff, 0xff, 0x01}, {0x01, 0xff}} {
		put(string(k), fmt.Sprintf("bin-%x", k))
	}
	for i := range 500 {
		put(fmt.Sprintf("bulk/%04d", i), fmt.Sprint(i))
	}

	prefixes := [][]byte{
		nil, {}, []byte("a"), []byte("ab"), []byte("abc"), []byte("abcd"),
		[]byte("user:"), []byte("user:1"), []byte("bulk/01"), []byte("zzz"), []byte("empty"),
		{0x00}, {0x00, 0x00}, {0xff}, {0xff, 0xff}, {0xff, 0x00}, {0x01},
	}
	for _, p := range prefixes {
		got := scanAll(t, db, p)
		require.Equal(t, filterPrefix(model, p), got, "prefix %q", p)
	}
	require.Len(t, scanAll(t, db, nil), len(model))
	require.Equal(t, map[string]string{"abc": "v-abc"}, scanAll(t, db, []byte("abc")), "a prefix that is a whole key")
	require.Equal(t, map[string]string{"empty": ""}, scanAll(t, db, []byte("empty")))
	require.Len(t, scanAll(t, db, []byte{0xff}), 4)
	require.Len(t, scanAll(t, db, []byte{0x00}), 3)

	// An empty value is passed as an empty slice, not skipped.
	var sawEmpty bool
	require.NoError(t, db.Scan([]byte("empty"), func(k, v []byte) bool {
		sawEmpty = v != nil && len(v) == 0
		return true
	}))
	require.True(t, sawEmpty)
}

func TestScanEmptyDB(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{})
	calls := 0
	require.NoError(t, db.Scan(nil, func(k, v []byte) bool { calls++; return true }))
	require.Zero(t, calls)
	require.Zero(t, db.Len())
}

func TestScanSkipsDeletedAndExpired(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{})
	model := map[string]string{}
	for i := range 300 {
		k := fmt.Sprintf("k%03d", i)
		require.NoError(t, db.Put([]byte(k), []byte("v"+k)))
		model[k] = "v" + k
	}
	for i := 0; i < 300; i += 3 {
		k := fmt.Sprintf("k%03d", i)
		require.NoError(t, db.Delete([]byte(k)))
		delete(model, k)
	}
	for i := 1; i < 300; i += 3 {
		k := fmt.Sprintf("k%03d", i)
		if i%2 == 0 {
			require.NoError(t, db.PutWithTTL([]byte(k), []byte("ttl"), time.Nanosecond))
			delete(model, k)
		} else {
			require.NoError(t, db.PutWithTTL([]byte(k), []byte("long"), time.Hour))
			model[k] = "long"
		}
	}
	// Expired, then written again without TTL: live.
	require.NoError(t, db.PutWithTTL([]byte("back"), []byte("x"), time.Nanosecond))
	time.Sleep(time.Millisecond)
	require.NoError(t, db.Put([]byte("back"), []byte("again")))
	model["back"] = "again"
	// Deleted, then written again: live.
	require.NoError(t, db.Put([]byte("re"), []byte("1")))
	require.NoError(t, db.Delete([]byte("re")))
	require.NoError(t, db.Put([]byte("re"), []byte("2")))
	model["re"] = "2"

	require.Equal(t, model, scanAll(t, db, nil))
	require.Equal(t, filterPrefix(model, []byte("k1")), scanAll(t, db, []byte("k1")))
	require.Equal(t, len(model), db.Len())
}

// A key deleted or expired by fn itself, before Scan reaches it, is not
// visited, whether it is in a shard already copied or not; a key
// overwritten before Scan reaches it is visited with its new value.
func TestScanSkipsKeysRemovedDuringScan(t *testing.T) {
	for _, mode := range []string{"delete", "expire", "overwrite"} {
		t.Run(mode, func(t *testing.T) {
			db := mustOpen(t, t.TempDir(), Options{})
			const n = 3000 // enough for many keys to share each shard
			for i := range n {
				require.NoError(t, db.Put(fmt.Appendf(nil, "k%d", i), []byte("v")))
			}
			var visited []string
			require.NoError(t, db.Scan(nil, func(k, v []byte) bool {
				visited = append(visited, string(k))
				if len(visited) == 1 {
					require.Equal(t, "v", string(v))
					for i := range n {
						other := fmt.Appendf(nil, "k%d", i)
						if bytes.Equal(other, k) {
							continue
						}
						switch mode {
						case "delete":
							require.NoError(t, db.Delete(other))
						case "expire":
							require.NoError(t, db.PutWithTTL(other, []byte("x"), time.Nanosecond))
						case "overwrite":
							require.NoError(t, db.Put(other, []byte("new")))
						}
					}
				} else {
					require.Equal(t, "new", string(v), "%q: not the value at the time of the visit", k)
				}
				return true
			}))
			if mode == "overwrite" {
				require.Len(t, visited, n)
				require.Equal(t, n, db.Len())
				return
			}
			require.Len(t, visited, 1, "keys removed before Scan reached them were visited")
			require.Equal(t, 1, db.Len())
		})
	}
}

func TestScanEarlyStop(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{})
	for i := range 100 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%d", i), []byte("v")))
	}
	for _, stopAt := range []int{1, 10, 99, 100} {
		calls := 0
		require.NoError(t, db.Scan(nil, func(k, v []byte) bool {
			calls++
			return calls < stopAt
		}))
		require.Equal(t, stopAt, calls)
	}
	// fn that never says stop sees all.
	calls := 0
	require.NoError(t, db.Scan([]byte("k"), func(k, v []byte) bool { calls++; return true }))
	require.Equal(t, 100, calls)
}

// The key and value passed to fn are copies fn may keep and modify.
func TestScanCallerOwnsKeyAndValue(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{})
	model := map[string]string{}
	for i := range 200 {
		k, v := fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i)
		require.NoError(t, db.Put([]byte(k), []byte(v)))
		model[k] = v
	}
	type kv struct{ k, v []byte }
	var kept []kv
	require.NoError(t, db.Scan(nil, func(k, v []byte) bool {
		kept = append(kept, kv{k, v})
		return true
	}))
	require.Len(t, kept, len(model))
	for _, e := range kept {
		require.Equal(t, model[string(e.k)], string(e.v), "a kept key or value was overwritten by a later visit")
	}
	// Scribbling over them changes nothing in the DB or in later scans.
	for _, e := range kept {
		for i := range e.k {
			e.k[i] = 'X'
		}
		for i := range e.v {
			e.v[i] = 'Y'
		}
	}
	require.Equal(t, model, scanAll(t, db, nil))
	v, err := db.Get([]byte("key-7"))
	require.NoError(t, err)
	require.Equal(t, "value-7", string(v))
}

// withTimeout fails the test if f does not return in time (a deadlock).
func withTimeout(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not finish within %v: deadlock?", d)
	}
}

func TestScanCallbackMayCallDB(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{MaxFileSize: 4096, DisableAutoCompaction: true})
	const n = 300
	for i := range n {
		require.NoError(t, db.Put(fmt.Appendf(nil, "s/%03d", i), bytes.Repeat([]byte{'v'}, 40)))
	}
	var (
		calls    int
		errs     []error
		compacts int
	)
	withTimeout(t, 60*time.Second, func() {
		err := db.Scan([]byte("s/"), func(k, v []byte) bool {
			calls++
			note := func(err error) {
				if err != nil {
					errs = append(errs, err)
				}
			}
			// Writes to other keys and to this one.
			note(db.Put(append([]byte("t/"), k...), v))
			note(db.Put(k, []byte("rewritten")))
			got, err := db.Get(k)
			note(err)
			if err == nil && string(got) != "rewritten" {
				errs = append(errs, fmt.Errorf("Get %q in fn = %q", k, got))
			}
			_, err = db.Has(k)
			note(err)
			note(db.Delete(append([]byte("t/"), k...)))
			note(db.PutWithTTL(append([]byte("ttl/"), k...), v, time.Hour))
			// A nested Scan.
			inner := 0
			note(db.Scan([]byte("t/"), func(k, v []byte) bool { inner++; return true }))
			if inner != 0 {
				errs = append(errs, fmt.Errorf("nested Scan saw %d deleted keys", inner))
			}
			_ = db.Len()
			_ = db.Stats()
			if calls%50 == 1 {
				note(db.Compact())
				compacts++
			}
			if calls%100 == 1 {
				note(db.Sync())
			}
			return true
		})
		if err != nil {
			errs = append(errs, err)
		}
	})
	require.Empty(t, errs)
	require.Equal(t, n, calls, "every s/ key once, though each was rewritten and files were merged")
	require.Greater(t, compacts, 1)
	got := scanAll(t, db, []byte("s/"))
	require.Len(t, got, n)
	for k, v := range got {
		require.Equal(t, "rewritten", v, k)
	}
	require.Empty(t, scanAll(t, db, []byte("t/")))
	require.Len(t, scanAll(t, db, []byte("ttl/")), n)
	require.Equal(t, 2*n, db.Len())
}

// Writers running during Scan: keys they never touch are each seen exactly
// once with their value; keys deleted before the Scan never; keys they do
// touch at most once, with a value one of them wrote.
func TestScanConcurrentWriters(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{MaxFileSize: 64 << 10, CompactionInterval: 5 * time.Millisecond})
	const stable, churn = 2000, 200
	stableVal := func(i int) string { return fmt.Sprintf("stable-value-%d", i) }
	for i := range stable {
		require.NoError(t, db.Put(fmt.Appendf(nil, "s/%d", i), []byte(stableVal(i))))
	}
	for i := range 500 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "d/%d", i), []byte("doomed")))
		require.NoError(t, db.PutWithTTL(fmt.Appendf(nil, "e/%d", i), []byte("expiring"), time.Nanosecond))
	}
	for i := range 500 {
		require.NoError(t, db.Delete(fmt.Appendf(nil, "d/%d", i)))
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var werr atomic.Value
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Appendf(nil, "c/%d", (i*7+g)%churn)
				var err error
				switch i % 4 {
				case 0, 1:
					err = db.Put(k, append([]byte("churn:"), k...))
				case 2:
					err = db.Delete(k)
				case 3:
					err = db.PutWithTTL(k, append([]byte("churn:"), k...), time.Duration(i%3)*time.Millisecond+time.Nanosecond)
				}
				// New keys too, so shards grow and rehash during scans.
				if err == nil {
					err = db.Put(fmt.Appendf(nil, "n/%d/%d", g, i%3000), []byte("new"))
				}
				if err != nil {
					werr.Store(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // manual merges too, moving records under the scans
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				if err := db.Compact(); err != nil {
					werr.Store(err)
					return
				}
			}
		}
	}()

	for range 8 {
		seen := map[string]int{}
		err := db.Scan(nil, func(k, v []byte) bool {
			key := string(k)
			seen[key]++
			switch {
			case strings.HasPrefix(key, "s/"):
				var i int
				_, err := fmt.Sscanf(key, "s/%d", &i)
				require.NoError(t, err)
				require.Equal(t, stableVal(i), string(v), key)
			case strings.HasPrefix(key, "c/"):
				require.Equal(t, "churn:"+key, string(v))
			case strings.HasPrefix(key, "n/"):
				require.Equal(t, "new", string(v))
			default:
				t.Errorf("visited %q (%q), which was deleted or expired before the scan", key, v)
			}
			return true
		})
		require.NoError(t, err)
		for k, c := range seen {
			require.Equal(t, 1, c, "key %q visited %d times", k, c)
		}
		for i := range stable {
			require.Equal(t, 1, seen[fmt.Sprintf("s/%d", i)], "stable key s/%d", i)
		}
		// And a prefix scan alongside.
		n := 0
		require.NoError(t, db.Scan([]byte("s/1"), func(k, v []byte) bool { n++; return true }))
		require.Equal(t, 1111, n) // s/1, s/10-19, s/100-199, s/1000-1999
	}
	close(stop)
	wg.Wait()
	require.Nil(t, werr.Load())
}

func TestScanAfterClose(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Close())
	called := false
	err = db.Scan(nil, func(k, v []byte) bool { called = true; return true })
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, db.Scan([]byte("nomatch"), func(k, v []byte) bool { called = true; return true }), ErrClosed)
	require.False(t, called)
}

// fn closing the DB: Scan stops at the next key with ErrClosed, unless fn
// also stopped it.
func TestScanCloseInCallback(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%d", i), []byte("v")))
	}
	calls := 0
	err = db.Scan(nil, func(k, v []byte) bool {
		calls++
		if calls == 5 {
			require.NoError(t, db.Close())
		}
		return true
	})
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, 5, calls)

	db, err = Open(t.TempDir(), Options{})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("a"), []byte("v")))
	require.NoError(t, db.Put([]byte("b"), []byte("v")))
	require.NoError(t, db.Scan(nil, func(k, v []byte) bool {
		require.NoError(t, db.Close())
		return false
	}), "fn stopped the scan itself")

	// Closing during the last visit still reports ErrClosed.
	db, err = Open(t.TempDir(), Options{})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("only"), []byte("v")))
	require.ErrorIs(t, db.Scan(nil, func(k, v []byte) bool {
		require.NoError(t, db.Close())
		return true
	}), ErrClosed)
}

// Close from another goroutine during Scans: each returns nil or ErrClosed,
// never panics, never another error.
func TestScanConcurrentClose(t *testing.T) {
	for _, mmap := range []bool{true, false} {
		for round := range 5 {
			db, err := Open(t.TempDir(), Options{DisableMmap: !mmap, MaxFileSize: 16 << 10, CacheSize: -1})
			require.NoError(t, err)
			for i := range 2000 {
				require.NoError(t, db.Put(fmt.Appendf(nil, "k%d", i), bytes.Repeat([]byte{byte(i)}, 30)))
			}
			var wg sync.WaitGroup
			results := make(chan error, 4)
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						err := db.Scan(nil, func(k, v []byte) bool { return true })
						if err != nil {
							results <- err
							return
						}
					}
				}()
			}
			time.Sleep(time.Duration(round) * time.Millisecond)
			require.NoError(t, db.Close())
			wg.Wait()
			close(results)
			for err := range results {
				require.ErrorIs(t, err, ErrClosed)
			}
		}
	}
}

func TestScanReturnsReadError(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{SyncWrites: true, DisableCompression: true, DisableMmap: true, CacheSize: -1})
	marker := []byte("MARKER-VALUE-0123456789")
	require.NoError(t, db.Put([]byte("bad"), marker))
	for i := range 20 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "good%d", i), []byte("fine")))
	}
	path := filepath.Join(dir, walDir, dataFileName(1))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	off := bytes.Index(b, marker)
	require.Positive(t, off)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{b[off] ^ 0x01}, int64(off))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	err = db.Scan(nil, func(k, v []byte) bool {
		require.NotEqual(t, "bad", string(k))
		return true
	})
	require.ErrorIs(t, err, ErrCorrupt)
	// A prefix that avoids the damaged key is unaffected.
	require.Len(t, scanAll(t, db, []byte("good")), 20)

	// Keys reads no value: the damaged key is listed with the rest.
	var keys []string
	require.NoError(t, db.Keys(nil, func(k []byte) bool { keys = append(keys, string(k)); return true }))
	require.Len(t, keys, 21)
	require.Contains(t, keys, "bad")
}

func TestKeys(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{})
	for i := range 300 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "p/%03d", i), []byte("v")))
	}
	require.NoError(t, db.Put([]byte("q"), []byte("v")))
	require.NoError(t, db.Delete([]byte("p/007")))
	require.NoError(t, db.PutWithTTL([]byte("p/ttl"), []byte("v"), time.Nanosecond))
	require.NoError(t, db.PutWithTTL([]byte("p/long"), []byte("v"), time.Hour))
	time.Sleep(time.Millisecond)
	got := map[string]int{}
	require.NoError(t, db.Keys([]byte("p/"), func(k []byte) bool {
		got[string(k)]++
		k[0] = 'X' // the caller's copy
		return true
	}))
	require.Len(t, got, 300) // 299 left of p/000..p/299, and p/long
	require.Zero(t, got["p/007"], "deleted")
	require.Zero(t, got["p/ttl"], "expired")
	require.Equal(t, 1, got["p/long"])
	for k, n := range got {
		require.Equal(t, 1, n, k)
	}
	n := 0
	require.NoError(t, db.Keys(nil, func([]byte) bool { n++; return n < 5 }))
	require.Equal(t, 5, n, "stops when fn returns false")
	require.NoError(t, db.Close())
	require.ErrorIs(t, db.Keys(nil, func([]byte) bool { return true }), ErrClosed)
}

// A key longer than MaxKeySize, written before a reopen with a smaller
// limit, is still scanned.
func TestScanKeyLongerThanReopenedLimit(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	require.NoError(t, err)
	long := bytes.Repeat([]byte("L"), 64)
	require.NoError(t, db.Put(long, []byte("long-value")))
	require.NoError(t, db.Put([]byte("s"), []byte("short")))
	require.NoError(t, db.Close())

	db = mustOpen(t, dir, Options{MaxKeySize: 8})
	require.Equal(t, map[string]string{string(long): "long-value", "s": "short"}, scanAll(t, db, nil))
	require.Equal(t, 2, db.Len())
}

// Len follows a model through puts, overwrites, deletes, expiries, reopen
// and Compact, and agrees with a full Scan.
func TestLenModel(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxFileSize: 4096, DisableAutoCompaction: true}
	db, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	model := map[string]bool{}
	check := func(what string) {
		t.Helper()
		require.Equal(t, len(model), db.Len(), what)
		got := scanAll(t, db, nil)
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		want := make([]string, 0, len(model))
		for k := range model {
			want = append(want, k)
		}
		sort.Strings(keys)
		sort.Strings(want)
		require.Equal(t, want, keys, what)
	}
	check("empty")
	for i := range 200 {
		k := fmt.Sprintf("k%d", i)
		require.NoError(t, db.Put([]byte(k), []byte("v1")))
		model[k] = true
	}
	check("puts")
	for i := range 100 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%d", i), []byte("v2")))
	}
	check("overwrites")
	for i := 0; i < 200; i += 4 {
		k := fmt.Sprintf("k%d", i)
		require.NoError(t, db.Delete([]byte(k)))
		delete(model, k)
	}
	require.NoError(t, db.Delete([]byte("never-there")))
	check("deletes")
	for i := 1; i < 200; i += 4 {
		k := fmt.Sprintf("k%d", i)
		require.NoError(t, db.PutWithTTL([]byte(k), []byte("gone"), time.Nanosecond))
		delete(model, k)
	}
	for i := range 30 {
		k := fmt.Sprintf("ttl%d", i)
		require.NoError(t, db.PutWithTTL([]byte(k), []byte("later"), time.Hour))
		model[k] = true
	}
	for i := range 10 { // expired keys, deleted: still not counted
		require.NoError(t, db.Delete(fmt.Appendf(nil, "k%d", 1+4*i)))
	}
	time.Sleep(time.Millisecond)
	check("expiries")

	require.NoError(t, db.Close())
	require.Equal(t, len(model), db.Len(), "after Close")
	db, err = Open(dir, opts)
	require.NoError(t, err)
	check("reopen")

	require.NoError(t, db.Compact())
	check("compact")
	require.NoError(t, db.Put([]byte("k1"), []byte("back")))
	model["k1"] = true
	check("expired key written again")
	require.NoError(t, db.Compact())
	require.NoError(t, db.Close())
	db, err = Open(dir, opts)
	require.NoError(t, err)
	check("compact, reopen")
}

// Len with writers running stays within the bounds of the keys that can be
// live, and never goes negative even when everything is expiring.
func TestLenConcurrent(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{})
	for i := range 100 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "fixed%d", i), []byte("v")))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var werr atomic.Value
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Appendf(nil, "x%d-%d", g, i%50)
				var err error
				if i%2 == 0 {
					err = db.PutWithTTL(k, []byte("v"), time.Duration(i%5)*time.Microsecond+time.Nanosecond)
				} else {
					err = db.Delete(k)
				}
				if err != nil {
					werr.Store(err)
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		n := db.Len()
		require.GreaterOrEqual(t, n, 0)
		require.LessOrEqual(t, n, 100+4*50) // fixed keys and every x key at once
	}
	close(stop)
	wg.Wait()
	require.Nil(t, werr.Load())
	time.Sleep(time.Millisecond)
	require.Equal(t, 100, db.Len())
}
