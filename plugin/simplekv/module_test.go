package simplekv

import (
	"bytes"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/plugin/filter"
	"github.com/simplekv/simplekv/plugin/kv"
)

// setup starts a module on a fresh directory and stops it at the end.
func setup(t *testing.T, yamlCfg string) (*Module, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "kv")
	cfg, err := ParseConfig([]byte(fmt.Sprintf("simple_kv:\n  path: %s\n%s", dir, yamlCfg)))
	require.NoError(t, err)
	m := New(cfg)
	require.Equal(t, "simple_kv", m.Name())
	require.NoError(t, m.Setup())
	require.NoError(t, m.Start())
	t.Cleanup(func() { _ = m.Stop() })
	return m, dir
}

func TestSetupRegistersInBothRegistries(t *testing.T) {
	m, dir := setup(t, "")
	for _, d := range []string{dir, filepath.Join(dir, "wal"), filepath.Join(dir, "last_state")} {
		fi, err := os.Stat(d)
		require.NoError(t, err)
		require.True(t, fi.IsDir())
	}
	require.Same(t, m.Store(), kv.Active())
	require.NotNil(t, filter.Active())

	require.NoError(t, kv.AddValue("users", []byte("42"), []byte("ada")))
	v, err := kv.GetValue("users", []byte("42"))
	require.NoError(t, err)
	require.Equal(t, []byte("ada"), v)
	ok, err := kv.ExistsKey("users", []byte("42"))
	require.NoError(t, err)
	require.True(t, ok)
	// The documented usage.
	s := kv.GetStore("simple_kv")
	require.NotNil(t, s)
	require.NoError(t, s.Set("greeting", []byte("hi")))
	v, err = kv.Get("greeting")
	require.NoError(t, err)
	require.Equal(t, []byte("hi"), v)
	require.Nil(t, kv.GetStore("nope"))
	f := filter.GetFilter("simple_kv")
	require.NotNil(t, f)
	require.False(t, f.Contains([]byte("x")))
	require.NoError(t, f.Add([]byte("x")))
	require.True(t, f.Contains([]byte("x")))
	require.True(t, filter.Contains([]byte("x")))
	require.Nil(t, filter.GetFilter("nope"))
}

func TestFrameworkConventions(t *testing.T) {
	m, _ := setup(t, "")
	s := m.Store()
	// A missing key is (nil, nil).
	v, err := s.GetValue("b", []byte("missing"))
	require.NoError(t, err)
	require.Nil(t, v)
	// An empty value is a value, and exists.
	require.NoError(t, s.AddValue("b", []byte("empty"), nil))
	v, err = s.GetValue("b", []byte("empty"))
	require.NoError(t, err)
	require.NotNil(t, v)
	require.Empty(t, v)
	ok, err := s.ExistsKey("b", []byte("empty"))
	require.NoError(t, err)
	require.True(t, ok)
	// Compressed values come back as the original bytes, from either getter.
	big := bytes.Repeat([]byte("compress me "), 1000)
	require.NoError(t, s.AddValueCompress("b", []byte("big"), big))
	for _, get := range []func(string, []byte) ([]byte, error){s.GetCompressedValue, s.GetValue} {
		v, err := get("b", []byte("big"))
		require.NoError(t, err)
		require.Equal(t, big, v)
	}
	// Filter membership is exact and separate from kv keys.
	fl := m.Store().Filter()
	require.False(t, fl.Exists("b", []byte("empty")), "a kv key is not a filter member")
	require.NoError(t, fl.Add("b", []byte("m")))
	require.True(t, fl.Exists("b", []byte("m")))
	ok, err = s.ExistsKey("b", []byte("m"))
	require.NoError(t, err)
	require.False(t, ok, "a filter member is not a kv key")
	require.NoError(t, fl.Delete("b", []byte("m")))
	require.False(t, fl.Exists("b", []byte("m")))
	// TTL.
	require.NoError(t, s.AddValueWithTTL("b", []byte("t"), []byte("v"), 20*time.Millisecond))
	require.Eventually(t, func() bool {
		v, err := s.GetValue("b", []byte("t"))
		return err == nil && v == nil
	}, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, kv.AddValueWithTTL("b", []byte("t2"), []byte("v"), time.Hour))
	v, err = kv.GetValue("b", []byte("t2"))
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
}

func TestBucketsAreIsolated(t *testing.T) {
	m, _ := setup(t, "")
	s := m.Store()
	require.NoError(t, s.AddValue("a,b", []byte("c"), []byte("1")))
	require.NoError(t, s.AddValue("a", []byte("b,c"), []byte("2")))
	require.NoError(t, s.AddValue("", []byte("a,b,c"), []byte("3")))
	require.NoError(t, s.AddValue("x", []byte("k"), []byte("4")))
	for _, c := range []struct{ bucket, key, want string }{
		{"a,b", "c", "1"}, {"a", "b,c", "2"}, {"", "a,b,c", "3"}, {"a", "c", ""}, {"", "c", ""}, {"a,b", "b,c", ""},
	} {
		v, err := s.GetValue(c.bucket, []byte(c.key))
		require.NoError(t, err)
		require.Equal(t, c.want, string(v), "bucket %q key %q", c.bucket, c.key)
	}
	// Iterate sees exactly one bucket's keys, with bucket-relative keys.
	got := map[string]string{}
	require.NoError(t, s.Iterate("a", func(k, v []byte) bool { got[string(k)] = string(v); return true }))
	require.Equal(t, map[string]string{"b,c": "2"}, got)
	got = map[string]string{}
	require.NoError(t, kv.Iterate("", func(k, v []byte) bool { got[string(k)] = string(v); return true }))
	require.Equal(t, map[string]string{"a,b,c": "3"}, got)
	// DeleteBucket removes one bucket only.
	require.NoError(t, kv.DeleteBucket("a"))
	v, err := s.GetValue("a", []byte("b,c"))
	require.NoError(t, err)
	require.Nil(t, v)
	v, err = s.GetValue("a,b", []byte("c"))
	require.NoError(t, err)
	require.Equal(t, []byte("1"), v)
}

// TestCheckThenAddIsAtomic: of many concurrent CheckThenAdd calls for one
// key, exactly one reports that the key was not there.
func TestCheckThenAddIsAtomic(t *testing.T) {
	m, _ := setup(t, "")
	fl := m.Store().Filter()
	for round := 0; round < 20; round++ {
		key := []byte(fmt.Sprintf("k%d", round))
		var first atomic.Int32
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				had, err := fl.CheckThenAdd("b", key)
				if err != nil {
					t.Error(err)
				}
				if !had {
					first.Add(1)
				}
			}()
		}
		wg.Wait()
		require.EqualValues(t, 1, first.Load(), "round %d", round)
		had, err := filter.CheckThenAdd("b", key)
		require.NoError(t, err)
		require.True(t, had)
	}
}

// TestRestartPersists: Stop then Setup in one process, data intact.
func TestRestartPersists(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync_writes=%v", sync), func(t *testing.T) {
			m, _ := setup(t, fmt.Sprintf("  sync_writes: %v\n", sync))
			require.NoError(t, kv.AddValue("b", []byte("k"), []byte("v")))
			require.NoError(t, filter.Add("b", []byte("member")))
			require.NoError(t, m.Stop())
			require.Nil(t, kv.Active())
			require.Nil(t, filter.Active())
			require.NoError(t, m.Setup())
			v, err := kv.GetValue("b", []byte("k"))
			require.NoError(t, err)
			require.Equal(t, []byte("v"), v)
			require.True(t, filter.Exists("b", []byte("member")))
		})
	}
}

// TestSyncWritesReachTheFile: with sync_writes a write is in the data file
// (and fsynced) when it returns.
func TestSyncWritesReachTheFile(t *testing.T) {
	_, dir := setup(t, "  sync_writes: true\n")
	val := []byte("a value that must be on disk already 0123456789")
	require.NoError(t, kv.AddValue("b", []byte("k"), val))
	files, err := filepath.Glob(filepath.Join(dir, "wal", "*.data"))
	require.NoError(t, err)
	found := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		found = found || bytes.Contains(b, val)
	}
	require.True(t, found, "the acknowledged write is not in the log file")
}

func TestAfterStopEveryCallFails(t *testing.T) {
	m, _ := setup(t, "")
	s := m.Store()
	fl := s.Filter()
	require.NoError(t, m.Stop())
	require.NoError(t, m.Stop(), "Stop twice")
	_, err := s.GetValue("b", []byte("k"))
	require.ErrorIs(t, err, ErrStopped)
	require.ErrorIs(t, s.AddValue("b", []byte("k"), nil), ErrStopped)
	require.ErrorIs(t, s.DeleteKey("b", []byte("k")), ErrStopped)
	require.ErrorIs(t, s.DeleteBucket("b"), ErrStopped)
	require.ErrorIs(t, s.Iterate("b", func(k, v []byte) bool { return true }), ErrStopped)
	_, err = s.ExistsKey("b", []byte("k"))
	require.ErrorIs(t, err, ErrStopped)
	require.ErrorIs(t, fl.Add("b", []byte("k")), ErrStopped)
	_, err = fl.CheckThenAdd("b", []byte("k"))
	require.ErrorIs(t, err, ErrStopped)
	require.False(t, fl.Exists("b", []byte("k")))
	// The registries no longer route anywhere.
	_, err = kv.GetValue("b", []byte("k"))
	require.ErrorIs(t, err, kv.ErrNoStore)
	require.ErrorIs(t, filter.Add("b", []byte("k")), filter.ErrNoFilter)
	require.False(t, filter.Exists("b", []byte("k")))
}

func TestDisabledRegistersNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kv")
	cfg, err := ParseConfig([]byte("simple_kv:\n  enabled: false\n  path: " + dir + "\n"))
	require.NoError(t, err)
	m := New(cfg)
	require.NoError(t, m.Setup())
	require.Nil(t, kv.Active())
	require.Nil(t, filter.Active())
	require.Nil(t, m.Store())
	_, err = os.Stat(dir)
	require.True(t, errors.Is(err, os.ErrNotExist), "a disabled module created its directory")
	require.NoError(t, m.Stop())
}

func TestBadPathFailsSetup(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	m := New(Config{Enabled: true, Path: file})
	err := m.Setup()
	require.Error(t, err)
	require.Contains(t, err.Error(), file)
	require.Nil(t, kv.Active(), "a failed Setup registered something")

	// A directory held by another running module.
	m1, dir := setup(t, "")
	_ = m1
	cfg := DefaultConfig()
	cfg.Path = dir
	err = New(cfg).Setup()
	require.Error(t, err)
	require.Contains(t, err.Error(), dir)
}

func TestStatsExported(t *testing.T) {
	m, _ := setup(t, "")
	require.NoError(t, kv.AddValue("b", []byte("k1"), []byte("v")))
	require.NoError(t, kv.AddValue("b", []byte("k2"), []byte("v")))
	// expvar
	v := expvar.Get("simple_kv")
	require.NotNil(t, v)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(v.String()), &st))
	require.EqualValues(t, 2, st["Keys"])
	// Prometheus
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(NewCollector(m)))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			if g := mt.GetGauge(); g != nil {
				got[mf.GetName()] = g.GetValue()
			}
			if c := mt.GetCounter(); c != nil {
				got[mf.GetName()] = c.GetValue()
			}
		}
	}
	require.EqualValues(t, 2, got["simple_kv_keys"])
	require.EqualValues(t, 2, got["simple_kv_puts_total"])
	require.Positive(t, got["simple_kv_disk_bytes"])
	require.NoError(t, m.Stop())
	mfs, err = reg.Gather()
	require.NoError(t, err)
	require.Empty(t, mfs, "a stopped module reports nothing")
}

// TestDeleteBucketIsCheap: one write hides the whole bucket at once; the
// old keys are swept in the background; the deletion survives a restart;
// the bucket is usable again at once; other buckets are untouched.
func TestDeleteBucketIsCheap(t *testing.T) {
	m, _ := setup(t, "")
	s := m.Store()
	for i := 0; i < 2000; i++ {
		require.NoError(t, s.AddValue("big", []byte(fmt.Sprintf("k%d", i)), []byte("v")))
	}
	require.NoError(t, s.AddValue("other", []byte("k1"), []byte("stays")))
	before := m.DB().Stats().Puts
	require.NoError(t, s.DeleteBucket("big"))
	require.Equal(t, before+1, m.DB().Stats().Puts, "DeleteBucket wrote more than its one record")
	v, err := s.GetValue("big", []byte("k1"))
	require.NoError(t, err)
	require.Nil(t, v)
	n := 0
	require.NoError(t, s.Iterate("big", func(k, v []byte) bool { n++; return true }))
	require.Zero(t, n)
	require.NoError(t, s.AddValue("big", []byte("k1"), []byte("new")))
	v, err = s.GetValue("big", []byte("k1"))
	require.NoError(t, err)
	require.Equal(t, []byte("new"), v)
	v, err = s.GetValue("other", []byte("k1"))
	require.NoError(t, err)
	require.Equal(t, []byte("stays"), v)
	// The sweep deletes the 2000 old keys: left are the generation record,
	// the new k1 and "other".
	require.Eventually(t, func() bool { return m.DB().Len() == 3 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, m.Stop())
	require.NoError(t, m.Setup())
	s = m.Store()
	v, err = s.GetValue("big", []byte("k2"))
	require.NoError(t, err)
	require.Nil(t, v, "a deleted bucket came back after a restart")
	v, err = s.GetValue("big", []byte("k1"))
	require.NoError(t, err)
	require.Equal(t, []byte("new"), v)
}

// TestWriteBatch: the framework-level kv.WriteBatch reaches the store,
// applies every op to its bucket only, and a bad op writes nothing.
func TestWriteBatch(t *testing.T) {
	m, _ := setup(t, "")
	s := m.Store()
	require.NoError(t, s.AddValue("b", []byte("old"), []byte("x")))
	require.NoError(t, s.AddValue("other", []byte("k1"), []byte("other")))
	require.NoError(t, kv.WriteBatch("b", []kv.BatchOp{
		{Key: []byte("k1"), Value: []byte("v1")},
		{Key: []byte("k2"), Value: []byte("v2"), TTL: time.Hour},
		{Key: []byte("old"), Delete: true},
		{Key: []byte("k1"), Value: []byte("v1b")}, // the last op on a key wins
	}))
	for _, c := range []struct{ bucket, key, want string }{
		{"b", "k1", "v1b"}, {"b", "k2", "v2"}, {"b", "old", ""}, {"other", "k1", "other"},
	} {
		v, err := s.GetValue(c.bucket, []byte(c.key))
		require.NoError(t, err)
		require.Equal(t, c.want, string(v), "bucket %q key %q", c.bucket, c.key)
	}

	puts := m.DB().Stats().Puts
	for _, bad := range []struct {
		op  kv.BatchOp
		err error
	}{
		{kv.BatchOp{Key: nil, Value: []byte("v")}, engine.ErrEmptyKey},
		{kv.BatchOp{Key: []byte("k"), Value: []byte("v"), TTL: -time.Second}, engine.ErrInvalidTTL},
	} {
		err := s.WriteBatch("b", []kv.BatchOp{{Key: []byte("fine"), Value: []byte("v")}, bad.op})
		require.ErrorIs(t, err, bad.err)
		v, err := s.GetValue("b", []byte("fine"))
		require.NoError(t, err)
		require.Nil(t, v, "a rejected batch writes nothing")
	}
	require.Equal(t, puts, m.DB().Stats().Puts)
}

// TestModuleCheckpointAndBackup: the running module's copies hold its
// data and open as databases; a stopped module refuses.
func TestModuleCheckpointAndBackup(t *testing.T) {
	m, _ := setup(t, "")
	require.NoError(t, kv.AddValue("b", []byte("k"), []byte("v")))
	read := func(dir string) []byte {
		db, err := engine.Open(dir, engine.Options{})
		require.NoError(t, err)
		defer db.Close()
		s := newStore(newLocal(db), 1024)
		v, err := s.GetValue("b", []byte("k"))
		require.NoError(t, err)
		return v
	}
	cp := filepath.Join(t.TempDir(), "cp")
	require.NoError(t, m.Checkpoint(cp))
	require.Equal(t, []byte("v"), read(cp))

	var buf bytes.Buffer
	n, err := m.Backup(&buf)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), n)
	rs := filepath.Join(t.TempDir(), "rs")
	require.NoError(t, engine.Restore(&buf, rs))
	require.Equal(t, []byte("v"), read(rs))

	require.NoError(t, m.Stop())
	require.ErrorIs(t, m.Checkpoint(filepath.Join(t.TempDir(), "x")), ErrStopped)
	_, err = m.Backup(&buf)
	require.ErrorIs(t, err, ErrStopped)
}
