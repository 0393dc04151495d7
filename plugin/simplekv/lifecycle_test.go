package simplekv

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Settings the engine rejects must name the YAML key and its line, like
// every other config error (issue 5: "bad values are errors that name the
// key and line"). It once named the Go field (MaxFileSize) and
// the line of the section's first key.
func TestConfigEngineErrorNamesKeyAndLine(t *testing.T) {
	y := "app: 1\nsimple_kv:\n  path: /tmp/x\n  max_file_size: 100\n"
	_, err := ParseConfig([]byte(y))
	require.ErrorIs(t, err, ErrConfig)
	require.Contains(t, err.Error(), "max_file_size", "error does not name the YAML key: %v", err)
	require.Contains(t, err.Error(), "line 4", "error does not give the key's line: %v", err)
}

// buffer_size above 2 GiB is accepted and silently clamped to 2 GiB - 1.
func TestConfigBufferSizeSilentlyClamped(t *testing.T) {
	cfg, err := ParseConfig([]byte("simple_kv:\n  buffer_size: 3GiB\n"))
	if err == nil {
		require.EqualValues(t, int64(3)<<30, cfg.EngineOptions().BufferSize, "buffer_size: 3GiB accepted but the engine gets another value")
	}
}

// Setup opens the database before registering; when Register panics (the
// name is held by another running module, documented behaviour), the
// opened database is never closed: its directory stays locked for the life
// of the process.
func TestSetupPanicLeaksOpenDB(t *testing.T) {
	m1, _ := setup(t, "")
	dir2 := filepath.Join(t.TempDir(), "kv2")
	cfg := DefaultConfig()
	cfg.Path = dir2
	m2 := New(cfg)
	func() {
		defer func() { require.NotNil(t, recover(), "second Setup did not panic") }()
		_ = m2.Setup()
	}()
	require.NoError(t, m1.Stop())
	// The name is free now; m2 should be able to set up on its directory.
	err := m2.Setup()
	require.NoError(t, err, "the panicked Setup left %s open and locked", dir2)
	require.NoError(t, m2.Stop())
}

// The default max_key_size is documented as 64 KiB, but the bucket
// encoding's overhead is counted against it: a 64 KiB key is refused.
func TestMaxKeySizeIncludesBucketOverhead(t *testing.T) {
	m, _ := setup(t, "  max_key_size: 1KiB\n")
	require.NoError(t, m.Store().AddValue("users", bytes.Repeat([]byte("k"), 1024), []byte("v")))
}

// Each DeleteBucket starts its own goroutine that walks the whole index
// (Scan examines every key of the DB, whatever the prefix), with no bound
// and no coalescing: N deletes of small buckets cost N full index walks in
// the background and N goroutines at once, and Stop waits for all of them.
func TestDeleteBucketSweepsAreUnbounded(t *testing.T) {
	m, _ := setup(t, "")
	s := m.Store()
	for i := 0; i < 50000; i++ {
		require.NoError(t, s.AddValue("data", []byte(fmt.Sprintf("k%07d", i)), nil))
	}
	before := runtime.NumGoroutine()
	for i := 0; i < 300; i++ {
		require.NoError(t, s.DeleteBucket(fmt.Sprintf("empty-%d", i)))
	}
	grown := runtime.NumGoroutine() - before
	require.NoError(t, m.Stop())
	require.Less(t, grown, 10, "300 DeleteBucket calls left %d sweep goroutines running at once", grown)
}

// Calls racing Stop, sweeps included: no panic, no race, and afterwards
// every call fails.
func TestStopRacingCalls(t *testing.T) {
	for round := 0; round < 5; round++ {
		m, _ := setup(t, "")
		s := m.Store()
		f := s.Filter()
		for i := 0; i < 500; i++ {
			require.NoError(t, s.AddValue("b", []byte(fmt.Sprint(i)), []byte("v")))
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					k := []byte(fmt.Sprint(i % 100))
					_ = s.AddValue("b", k, []byte("v"))
					_, _ = s.GetValue("b", k)
					_ = s.DeleteBucket("b")
					_ = s.Iterate("b", func(k, v []byte) bool { return true })
					_, _ = f.CheckThenAdd("b", k)
					_ = s.AddValueWithTTL("b", k, nil, time.Millisecond)
				}
			}(g)
		}
		time.Sleep(20 * time.Millisecond)
		require.NoError(t, m.Stop())
		close(stop)
		wg.Wait()
		require.ErrorIs(t, s.AddValue("b", []byte("x"), nil), ErrStopped)
		require.NoError(t, m.Setup())
		require.NoError(t, m.Stop())
	}
}

// A bucket deleted just before Stop (sweep cut short) stays deleted across
// restarts and a full compaction, and writes after the delete stay.
func TestDeletedBucketStaysDeleted(t *testing.T) {
	m, _ := setup(t, "")
	s := m.Store()
	for i := 0; i < 3000; i++ {
		require.NoError(t, s.AddValue("b", []byte(fmt.Sprint(i)), []byte("old")))
	}
	require.NoError(t, s.DeleteBucket("b"))
	require.NoError(t, s.AddValue("b", []byte("1"), []byte("new")))
	require.NoError(t, m.Stop())
	for r := 0; r < 2; r++ {
		require.NoError(t, m.Setup())
		s = m.Store()
		_ = m.DB().Compact()
		n := 0
		require.NoError(t, s.Iterate("b", func(k, v []byte) bool {
			n++
			require.Equal(t, "1", string(k))
			require.Equal(t, "new", string(v))
			return true
		}))
		require.Equal(t, 1, n)
		v, err := s.GetValue("b", []byte("2"))
		require.NoError(t, err)
		require.Nil(t, v)
		require.NoError(t, m.Stop())
	}
}
