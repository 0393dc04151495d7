package engine_test

// The bad-input suite: every public entry point with nil, empty, oversize
// and after-Close arguments, invalid Options and unusable paths. Each must
// return a clear sentinel error (errors.Is) and change nothing on disk.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/internal/vfs"
)

// biOSSnapshot returns every entry under dir: directories as "dir", files
// with their contents. Used to prove that a call wrote nothing.
func biOSSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[p+"/"] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = string(b)
		return nil
	})
	require.NoError(t, err)
	return out
}

// biMemSnapshot is biOSSnapshot for a MemFS (current, not durable, state).
func biMemSnapshot(t *testing.T, fsys *vfs.MemFS, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(p string)
	walk = func(p string) {
		fi, err := fsys.Stat(p)
		require.NoError(t, err)
		if fi.IsDir() {
			out[p+"/"] = "dir"
			names, err := fsys.List(p)
			require.NoError(t, err)
			for _, n := range names {
				walk(filepath.Join(p, n))
			}
			return
		}
		out[p] = string(biMemRead(t, fsys, p))
	}
	walk(dir)
	return out
}

// biMemRead returns the current contents of a MemFS file.
func biMemRead(t testing.TB, fsys *vfs.MemFS, p string) []byte {
	t.Helper()
	f, err := fsys.Open(p)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

// biEnv is where a bad-input DB lives: an OS directory or a MemFS. With a
// MemFS the suite also checks that a rejected call started no mutating
// filesystem operation at all (MemFS.OpCount).
type biEnv struct {
	name string
	opts engine.Options
	mem  bool
}

func (e biEnv) open(t *testing.T) (db *engine.DB, snap func() map[string]string, ops func() int) {
	t.Helper()
	opts := e.opts
	dir := t.TempDir()
	snap = func() map[string]string { return biOSSnapshot(t, dir) }
	ops = func() int { return -1 }
	if e.mem {
		m := vfs.NewMem()
		opts.FS, dir = m, "/db"
		snap = func() map[string]string { return biMemSnapshot(t, m, dir) }
		ops = m.OpCount
	}
	db, err := engine.Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, snap, ops
}

// Limits small enough that oversize arguments are cheap.
const (
	biMaxKey = 8
	biMaxVal = 16
)

var biEnvs = []biEnv{
	{name: "os-sync", opts: engine.Options{SyncWrites: true, MaxKeySize: biMaxKey, MaxValueSize: biMaxVal, DisableAutoCompaction: true}},
	// FlushInterval and SyncInterval long, so that only Sync writes.
	{name: "os-async", opts: engine.Options{MaxKeySize: biMaxKey, MaxValueSize: biMaxVal, DisableAutoCompaction: true,
		FlushInterval: time.Hour, SyncInterval: time.Hour}},
	{name: "mem-sync", mem: true, opts: engine.Options{SyncWrites: true, MaxKeySize: biMaxKey, MaxValueSize: biMaxVal, DisableAutoCompaction: true}},
}

// biCall is one call of a public entry point. want nil means it must
// succeed; otherwise the error must match one of want (a call with two bad
// arguments may report either). writes says a successful call appends a
// record; after is an extra check of a successful call's effect.
type biCall struct {
	name   string
	want   []error
	writes bool
	call   func(db *engine.DB) error
	after  func(t *testing.T, db *engine.DB)
}

var (
	biLimKey = []byte("K2345678")         // exactly MaxKeySize
	biBigKey = []byte("K23456789")        // MaxKeySize+1
	biLimVal = []byte("V234567890ABCDEF") // exactly MaxValueSize
	biBigVal = make([]byte, biMaxVal+1)
)

func biGet(key []byte) func(db *engine.DB) error {
	return func(db *engine.DB) error { _, err := db.Get(key); return err }
}

func biHas(key []byte) func(db *engine.DB) error {
	return func(db *engine.DB) error { _, err := db.Has(key); return err }
}

// biExpect returns an after-check that key holds want (nil: absent).
func biExpect(key, want []byte) func(t *testing.T, db *engine.DB) {
	return func(t *testing.T, db *engine.DB) {
		t.Helper()
		got, err := db.Get(key)
		if want == nil {
			require.ErrorIs(t, err, engine.ErrNotFound)
			return
		}
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

func biCalls() []biCall {
	var (
		emptyK = engine.ErrEmptyKey
		bigK   = engine.ErrKeyTooLarge
		bigV   = engine.ErrValueTooLarge
		badTTL = engine.ErrInvalidTTL
		ok     []error
		rej    = []byte("rejected") // a key no rejected call may create
		v      = []byte("v")
	)
	ttlPut := func(key, val []byte, ttl time.Duration) func(db *engine.DB) error {
		return func(db *engine.DB) error { return db.PutWithTTL(key, val, ttl) }
	}
	put := func(key, val []byte) func(db *engine.DB) error {
		return func(db *engine.DB) error { return db.Put(key, val) }
	}
	del := func(key []byte) func(db *engine.DB) error {
		return func(db *engine.DB) error { return db.Delete(key) }
	}
	calls := []biCall{
		// Put.
		{name: "Put/nil key", want: []error{emptyK}, call: put(nil, v)},
		{name: "Put/empty key", want: []error{emptyK}, call: put([]byte{}, v)},
		{name: "Put/nil key nil value", want: []error{emptyK}, call: put(nil, nil)},
		{name: "Put/key MaxKeySize+1", want: []error{bigK}, call: put(biBigKey, v)},
		{name: "Put/value MaxValueSize+1", want: []error{bigV}, call: put(rej, biBigVal)},
		{name: "Put/key and value oversize", want: []error{bigK, bigV}, call: put(biBigKey, biBigVal)},
		{name: "Put/empty key oversize value", want: []error{emptyK, bigV}, call: put(nil, biBigVal)},
		{name: "Put/key and value at limit", want: ok, writes: true, call: put(biLimKey, biLimVal), after: biExpect(biLimKey, biLimVal)},
		{name: "Put/nil value is an empty value", want: ok, writes: true, call: put([]byte("empty"), nil), after: biExpect([]byte("empty"), []byte{})},
		{name: "Put/one-byte key", want: ok, writes: true, call: put([]byte{0}, v), after: biExpect([]byte{0}, v)},

		// PutWithTTL.
		{name: "PutWithTTL/nil key", want: []error{emptyK}, call: ttlPut(nil, v, time.Hour)},
		{name: "PutWithTTL/empty key", want: []error{emptyK}, call: ttlPut([]byte{}, v, time.Hour)},
		{name: "PutWithTTL/key MaxKeySize+1", want: []error{bigK}, call: ttlPut(biBigKey, v, time.Hour)},
		{name: "PutWithTTL/value MaxValueSize+1", want: []error{bigV}, call: ttlPut(rej, biBigVal, time.Hour)},
		{name: "PutWithTTL/TTL 0", want: []error{badTTL}, call: ttlPut(rej, v, 0)},
		{name: "PutWithTTL/TTL -1ns", want: []error{badTTL}, call: ttlPut(rej, v, -1)},
		{name: "PutWithTTL/TTL -1h", want: []error{badTTL}, call: ttlPut(rej, v, -time.Hour)},
		{name: "PutWithTTL/TTL MinInt64", want: []error{badTTL}, call: ttlPut(rej, v, math.MinInt64)},
		{name: "PutWithTTL/nil key TTL 0", want: []error{emptyK, badTTL}, call: ttlPut(nil, v, 0)},
		{name: "PutWithTTL/oversize everything", want: []error{bigK, bigV, badTTL}, call: ttlPut(biBigKey, biBigVal, -1)},
		{name: "PutWithTTL/oversize value TTL 0", want: []error{bigV, badTTL}, call: ttlPut(rej, biBigVal, 0)},
		{name: "PutWithTTL/key and value at limit", want: ok, writes: true, call: ttlPut(biLimKey, biLimVal, time.Hour), after: biExpect(biLimKey, biLimVal)},
		{name: "PutWithTTL/TTL MaxInt64", want: ok, writes: true, call: ttlPut([]byte("forever"), v, math.MaxInt64), after: biExpect([]byte("forever"), v)},
		// The smallest TTL is valid: the record is written and expires at once.
		{name: "PutWithTTL/TTL 1ns", want: ok, writes: true, call: ttlPut([]byte("blink"), v, 1), after: biExpect([]byte("blink"), nil)},

		// Get.
		{name: "Get/nil key", want: []error{emptyK}, call: biGet(nil)},
		{name: "Get/empty key", want: []error{emptyK}, call: biGet([]byte{})},
		{name: "Get/key MaxKeySize+1", want: []error{bigK}, call: biGet(biBigKey)},
		{name: "Get/absent key at limit", want: []error{engine.ErrNotFound}, call: biGet([]byte("absent78"))},

		// Has.
		{name: "Has/nil key", want: []error{emptyK}, call: biHas(nil)},
		{name: "Has/empty key", want: []error{emptyK}, call: biHas([]byte{})},
		{name: "Has/key MaxKeySize+1", want: []error{bigK}, call: biHas(biBigKey)},
		{name: "Has/absent key at limit", want: ok, call: func(db *engine.DB) error {
			ok, err := db.Has([]byte("absent78"))
			if err == nil && ok {
				return errors.New("Has reports an absent key")
			}
			return err
		}},

		// Delete.
		{name: "Delete/nil key", want: []error{emptyK}, call: del(nil)},
		{name: "Delete/empty key", want: []error{emptyK}, call: del([]byte{})},
		{name: "Delete/key MaxKeySize+1", want: []error{bigK}, call: del(biBigKey)},
		// Deleting an absent key is not an error and writes nothing.
		{name: "Delete/absent key at limit", want: ok, call: del([]byte("absent78"))},
		{name: "Delete/present key at limit", want: ok, writes: true, call: del(biLimKey), after: biExpect(biLimKey, nil)},
	}
	return calls
}

// TestBadInputEntryPoints runs every entry point with every bad argument:
// each returns its sentinel, and nothing changes on disk (with a MemFS, not
// a single mutating filesystem operation runs). Arguments exactly at the
// limits succeed.
func TestBadInputEntryPoints(t *testing.T) {
	for _, env := range biEnvs {
		t.Run(env.name, func(t *testing.T) {
			db, snap, ops := env.open(t)
			require.NoError(t, db.Put([]byte("seed"), []byte("seed value")))
			require.NoError(t, db.Sync())
			for _, c := range biCalls() {
				t.Run(c.name, func(t *testing.T) {
					require.NoError(t, db.Sync(), "start from a state that is entirely on disk")
					before, opsBefore, st := snap(), ops(), db.Stats()
					err := c.call(db)
					if c.want == nil {
						require.NoError(t, err)
					} else {
						require.Error(t, err)
						require.Truef(t, slices.ContainsFunc(c.want, func(w error) bool { return errors.Is(err, w) }),
							"error %q matches none of %v", err, c.want)
						for _, w := range c.want {
							if errors.Is(err, w) {
								require.Contains(t, err.Error(), w.Error(), "the message carries the sentinel's text")
							}
						}
					}
					after := db.Stats()
					if c.writes {
						require.Greater(t, after.BytesWritten, st.BytesWritten, "an accepted write appends a record")
						if c.after != nil {
							c.after(t, db)
						}
						return
					}
					require.Equal(t, st.BytesWritten, after.BytesWritten, "a rejected call appends nothing")
					require.Equal(t, st.Keys, after.Keys)
					require.Equal(t, st.Puts+st.Deletes, after.Puts+after.Deletes)
					ok, err := db.Has([]byte("rejected"))
					require.NoError(t, err)
					require.False(t, ok, "a rejected write made its key visible")
					require.NoError(t, db.Sync())
					require.Equal(t, opsBefore, ops(), "a rejected call ran a mutating filesystem operation")
					require.Equal(t, before, snap(), "a rejected call changed the directory")
				})
			}
		})
	}
}

// biMaxValueSize is the largest MaxValueSize Validate accepts: a record of
// a maximal key and value must stay below the format's 32-bit limits.
const biMaxValueSize = datafile.MaxValueLen - datafile.MaxKeyLen - 1024

// biBadOptions lists invalid Options, each with the field names the error
// must mention.
func biBadOptions() []struct {
	name   string
	opts   engine.Options
	fields []string
} {
	type C = compaction.Options
	nan := math.NaN()
	return []struct {
		name   string
		opts   engine.Options
		fields []string
	}{
		{"MaxFileSize negative", engine.Options{MaxFileSize: -1}, []string{"MaxFileSize"}},
		{"MaxFileSize MinInt64", engine.Options{MaxFileSize: math.MinInt64}, []string{"MaxFileSize"}},
		{"MaxFileSize 1", engine.Options{MaxFileSize: 1}, []string{"MaxFileSize"}},
		{"MaxFileSize 4095", engine.Options{MaxFileSize: 4095}, []string{"MaxFileSize"}},
		{"MaxFileSize 4 GiB", engine.Options{MaxFileSize: 1 << 32}, []string{"MaxFileSize"}},
		{"MaxFileSize MaxInt64", engine.Options{MaxFileSize: math.MaxInt64}, []string{"MaxFileSize"}},
		{"MaxKeySize negative", engine.Options{MaxKeySize: -1}, []string{"MaxKeySize"}},
		{"MaxKeySize above the format limit", engine.Options{MaxKeySize: datafile.MaxKeyLen + 1}, []string{"MaxKeySize"}},
		{"MaxKeySize MaxInt", engine.Options{MaxKeySize: math.MaxInt}, []string{"MaxKeySize"}},
		{"MaxValueSize negative", engine.Options{MaxValueSize: -1}, []string{"MaxValueSize"}},
		{"MaxValueSize above its limit", engine.Options{MaxValueSize: biMaxValueSize + 1}, []string{"MaxValueSize"}},
		{"MaxValueSize 2 GiB", engine.Options{MaxValueSize: 1 << 31}, []string{"MaxValueSize"}},
		{"MaxValueSize MaxInt", engine.Options{MaxValueSize: math.MaxInt}, []string{"MaxValueSize"}},
		{"BufferSize negative", engine.Options{BufferSize: -1}, []string{"BufferSize"}},
		{"FlushInterval negative", engine.Options{FlushInterval: -time.Nanosecond}, []string{"FlushInterval"}},
		{"MaxOpenFiles negative", engine.Options{MaxOpenFiles: -1}, []string{"MaxOpenFiles"}},
		{"CompactionInterval negative", engine.Options{CompactionInterval: -time.Second}, []string{"CompactionInterval"}},
		{"TriggerDeadFraction NaN", engine.Options{Compaction: C{TriggerDeadFraction: nan}}, []string{"TriggerDeadFraction"}},
		{"TriggerDeadFraction negative NaN", engine.Options{Compaction: C{TriggerDeadFraction: math.Copysign(nan, -1)}}, []string{"TriggerDeadFraction"}},
		{"TriggerDeadFraction above 1", engine.Options{Compaction: C{TriggerDeadFraction: 1.0000001}}, []string{"TriggerDeadFraction"}},
		{"TriggerDeadFraction +Inf", engine.Options{Compaction: C{TriggerDeadFraction: math.Inf(1)}}, []string{"TriggerDeadFraction"}},
		{"TriggerDeadFraction -Inf", engine.Options{Compaction: C{TriggerDeadFraction: math.Inf(-1)}}, []string{"TriggerDeadFraction"}},
		{"ThresholdDeadFraction NaN", engine.Options{Compaction: C{ThresholdDeadFraction: nan}}, []string{"ThresholdDeadFraction"}},
		{"ThresholdDeadFraction above 1", engine.Options{Compaction: C{TriggerDeadFraction: 1, ThresholdDeadFraction: 2}}, []string{"ThresholdDeadFraction"}},
		{"ThresholdDeadFraction -Inf", engine.Options{Compaction: C{ThresholdDeadFraction: math.Inf(-1)}}, []string{"ThresholdDeadFraction"}},
		{"ThresholdDeadFraction above TriggerDeadFraction", engine.Options{Compaction: C{TriggerDeadFraction: 0.5, ThresholdDeadFraction: 0.5000001}},
			[]string{"ThresholdDeadFraction", "TriggerDeadFraction"}},
		{"ThresholdDeadFraction above the default trigger", engine.Options{Compaction: C{ThresholdDeadFraction: 0.7}},
			[]string{"ThresholdDeadFraction", "TriggerDeadFraction"}},
		{"TriggerDeadFraction below the default threshold", engine.Options{Compaction: C{TriggerDeadFraction: 0.3}},
			[]string{"ThresholdDeadFraction", "TriggerDeadFraction"}},
		{"ThresholdDeadBytes above TriggerDeadBytes", engine.Options{Compaction: C{TriggerDeadBytes: 1 << 20, ThresholdDeadBytes: 1<<20 + 1}},
			[]string{"ThresholdDeadBytes", "TriggerDeadBytes"}},
		{"ThresholdDeadBytes above the default trigger", engine.Options{Compaction: C{ThresholdDeadBytes: compaction.DefaultTriggerDeadBytes + 1}},
			[]string{"ThresholdDeadBytes", "TriggerDeadBytes"}},
		{"TriggerDeadBytes below the default threshold", engine.Options{Compaction: C{TriggerDeadBytes: compaction.DefaultThresholdDeadBytes - 1}},
			[]string{"ThresholdDeadBytes", "TriggerDeadBytes"}},
		// With MaxFileSize 4096 the defaults scale: TriggerDeadBytes 2048,
		// ThresholdDeadBytes 512.
		{"ThresholdDeadBytes above the scaled default trigger", engine.Options{MaxFileSize: 4096, Compaction: C{ThresholdDeadBytes: 2049}},
			[]string{"ThresholdDeadBytes", "TriggerDeadBytes"}},
		// With MaxFileSize 16 KiB the default ThresholdDeadBytes scales to 2048.
		{"TriggerDeadBytes below the scaled default threshold", engine.Options{MaxFileSize: 16 << 10, Compaction: C{TriggerDeadBytes: 2047}},
			[]string{"ThresholdDeadBytes", "TriggerDeadBytes"}},
		{"every field at once", engine.Options{
			MaxFileSize: -1, MaxKeySize: -1, MaxValueSize: -1, BufferSize: -1, FlushInterval: -1,
			MaxOpenFiles: -1, CompactionInterval: -1,
			Compaction: C{TriggerDeadFraction: nan, ThresholdDeadFraction: 3, TriggerDeadBytes: 10, ThresholdDeadBytes: 11},
		}, []string{"MaxFileSize", "MaxKeySize", "MaxValueSize", "BufferSize", "FlushInterval", "MaxOpenFiles",
			"CompactionInterval", "TriggerDeadFraction", "ThresholdDeadFraction", "ThresholdDeadBytes", "TriggerDeadBytes"}},
	}
}

// TestBadInputOptions checks that Open rejects every invalid Options with
// ErrInvalidOptions naming the field, and touches nothing: a missing
// directory is not created, an existing one stays byte-identical, and on a
// MemFS not a single mutating operation runs.
func TestBadInputOptions(t *testing.T) {
	base := t.TempDir()
	existing := filepath.Join(base, "existing")
	db, err := engine.Open(existing, engine.Options{SyncWrites: true})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Close())
	existingSnap := biOSSnapshot(t, existing)

	for i, c := range biBadOptions() {
		t.Run(c.name, func(t *testing.T) {
			check := func(err error, what string) {
				t.Helper()
				require.ErrorIs(t, err, engine.ErrInvalidOptions, what)
				for _, f := range c.fields {
					require.Contains(t, err.Error(), f, "%s: the message names the field", what)
				}
			}
			check(c.opts.Validate(), "Validate")

			missing := filepath.Join(base, fmt.Sprintf("missing-%d", i), "db")
			db, err := engine.Open(missing, c.opts)
			require.Nil(t, db)
			check(err, "Open of a missing directory")
			_, statErr := os.Stat(filepath.Dir(missing))
			require.ErrorIs(t, statErr, fs.ErrNotExist, "Open with invalid options created a directory")

			db, err = engine.Open(existing, c.opts)
			require.Nil(t, db)
			check(err, "Open of an existing DB")
			require.Equal(t, existingSnap, biOSSnapshot(t, existing), "Open with invalid options changed the directory")

			mem := vfs.NewMem()
			opts := c.opts
			opts.FS = mem
			db, err = engine.Open("/db", opts)
			require.Nil(t, db)
			check(err, "Open on a MemFS")
			require.Zero(t, mem.OpCount(), "Open with invalid options ran a mutating filesystem operation")
			names, err := mem.List("/")
			require.NoError(t, err)
			require.Empty(t, names)
		})
	}

	// The same DB still opens with valid options: nothing was left locked.
	db, err = engine.Open(existing, engine.Options{})
	require.NoError(t, err)
	v, err := db.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.NoError(t, db.Close())
}

// TestBadInputOptionsBoundaries checks the edges of every range from the
// valid side: these must pass Validate (and the cheap ones must open).
func TestBadInputOptionsBoundaries(t *testing.T) {
	type C = compaction.Options
	valid := []struct {
		name string
		opts engine.Options
		open bool // cheap enough to open on a MemFS
	}{
		{"zero", engine.Options{}, true},
		{"MaxFileSize 4096", engine.Options{MaxFileSize: 4096}, true},
		{"MaxFileSize 4 GiB - 1", engine.Options{MaxFileSize: math.MaxUint32}, false},
		{"MaxKeySize 1, MaxValueSize 1", engine.Options{MaxKeySize: 1, MaxValueSize: 1}, true},
		{"MaxKeySize format limit", engine.Options{MaxKeySize: datafile.MaxKeyLen}, true},
		{"MaxValueSize limit", engine.Options{MaxKeySize: datafile.MaxKeyLen, MaxValueSize: biMaxValueSize}, true},
		{"values above the file size", engine.Options{MaxFileSize: 4096, MaxValueSize: 1 << 20}, true},
		{"negative CacheSize disables", engine.Options{CacheSize: -1}, true},
		{"negative SyncInterval never syncs", engine.Options{SyncInterval: -1}, true},
		{"fractions at 1", engine.Options{Compaction: C{TriggerDeadFraction: 1, ThresholdDeadFraction: 1}}, true},
		{"threshold equal to trigger", engine.Options{Compaction: C{TriggerDeadFraction: 0.5, ThresholdDeadFraction: 0.5, TriggerDeadBytes: 100, ThresholdDeadBytes: 100}}, true},
		{"negative values disable", engine.Options{Compaction: C{TriggerDeadFraction: -1, ThresholdDeadFraction: -1, TriggerDeadBytes: -1,
			ThresholdDeadBytes: -1, TriggerWALFiles: -1, ThresholdSmallFile: -1}}, true},
		{"threshold above a disabled trigger", engine.Options{Compaction: C{TriggerDeadFraction: -1, ThresholdDeadFraction: 0.9,
			TriggerDeadBytes: -1, ThresholdDeadBytes: 1 << 40}}, true},
		{"threshold at the scaled default trigger", engine.Options{MaxFileSize: 4096, Compaction: C{ThresholdDeadBytes: 2048}}, true},
		{"trigger at the scaled default threshold", engine.Options{MaxFileSize: 16 << 10, Compaction: C{TriggerDeadBytes: 2048}}, true},
	}
	for _, c := range valid {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, c.opts.Validate())
			if !c.open {
				return
			}
			opts := c.opts
			opts.FS = vfs.NewMem()
			db, err := engine.Open("/db", opts)
			require.NoError(t, err)
			require.NoError(t, db.Put([]byte("k"), []byte("v")))
			require.NoError(t, db.Close())
		})
	}
}

// TestBadInputMaxValueSizeDocumentedLimit: Options.MaxValueSize is
// documented as "at most 2 GiB - 16 MiB - 1 KiB"; that value is accepted
// and one more is not.
func TestBadInputMaxValueSizeDocumentedLimit(t *testing.T) {
	const documented = 2<<30 - 16<<20 - 1<<10
	require.NoError(t, engine.Options{MaxValueSize: documented}.Validate(),
		"Options.MaxValueSize documents \"at most 2 GiB - 16 MiB - 1 KiB\" (%d); Validate's limit is %d", documented, biMaxValueSize)
	require.ErrorIs(t, engine.Options{MaxValueSize: documented + 1}.Validate(), engine.ErrInvalidOptions)
}

// biIsClosedOr reports whether err is ErrClosed or one of also.
func biIsClosedOr(err error, also ...error) bool {
	if errors.Is(err, engine.ErrClosed) {
		return true
	}
	for _, a := range also {
		if errors.Is(err, a) {
			return true
		}
	}
	return false
}

// TestBadInputAfterCloseConcurrent calls every method from many goroutines
// after Close (run it with -race): each returns ErrClosed (Close returns
// nil, Stats works), nothing panics, nothing is written.
func TestBadInputAfterCloseConcurrent(t *testing.T) {
	for _, mem := range []bool{false, true} {
		t.Run(fmt.Sprintf("mem=%v", mem), func(t *testing.T) {
			env := biEnv{mem: mem, opts: engine.Options{MaxKeySize: biMaxKey, MaxValueSize: biMaxVal, MaxFileSize: 4096, DisableCompression: true}}
			db, snap, ops := env.open(t)
			for i := range 40 {
				require.NoError(t, db.Put(fmt.Appendf(nil, "k%02d", i), biLimVal))
			}
			require.NoError(t, db.Compact(), "so that last_state/ and hint files exist too")
			for i := range 10 {
				require.NoError(t, db.Put(fmt.Appendf(nil, "k%02d", i), []byte("new")))
				require.NoError(t, db.Delete(fmt.Appendf(nil, "k%02d", 10+i)))
			}
			keys := db.Stats().Keys
			require.NoError(t, db.Close())
			before, opsBefore := snap(), ops()

			type check struct {
				name string
				call func() error
				also []error // besides ErrClosed, for calls with a bad argument
			}
			k, absent := []byte("k01"), []byte("absent")
			checks := []check{
				{"Put", func() error { return db.Put(k, []byte("x")) }, nil},
				{"Put/new key", func() error { return db.Put([]byte("brandnew"), nil) }, nil},
				{"PutWithTTL", func() error { return db.PutWithTTL(k, []byte("x"), time.Hour) }, nil},
				{"Get", func() error { _, err := db.Get(k); return err }, nil},
				{"Get/absent", func() error { _, err := db.Get(absent); return err }, nil},
				{"Has", func() error { _, err := db.Has(k); return err }, nil},
				{"Delete", func() error { return db.Delete(k) }, nil},
				{"Delete/absent", func() error { return db.Delete(absent) }, nil},
				{"Sync", db.Sync, nil},
				{"Compact", db.Compact, nil},
				// A bad argument may be reported before or instead of ErrClosed.
				{"Put/nil key", func() error { return db.Put(nil, nil) }, []error{engine.ErrEmptyKey}},
				{"Put/big value", func() error { return db.Put(k, biBigVal) }, []error{engine.ErrValueTooLarge}},
				{"PutWithTTL/TTL 0", func() error { return db.PutWithTTL(k, nil, 0) }, []error{engine.ErrInvalidTTL}},
				{"Get/big key", func() error { _, err := db.Get(biBigKey); return err }, []error{engine.ErrKeyTooLarge}},
				{"Delete/empty key", func() error { return db.Delete([]byte{}) }, []error{engine.ErrEmptyKey}},
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			var problems []string
			report := func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				if len(problems) < 20 {
					problems = append(problems, fmt.Sprintf(format, args...))
				}
			}
			for g := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() {
						if r := recover(); r != nil {
							report("goroutine %d panicked: %v", g, r)
						}
					}()
					for i := range 30 {
						c := checks[(g+i)%len(checks)]
						if err := c.call(); !biIsClosedOr(err, c.also...) {
							report("%s after Close: %v, want ErrClosed", c.name, err)
						}
						switch i % 3 {
						case 0:
							if err := db.Close(); err != nil {
								report("Close after Close: %v, want nil", err)
							}
						case 1:
							if st := db.Stats(); st.Keys != keys {
								report("Stats().Keys after Close = %d, want %d", st.Keys, keys)
							}
						}
					}
				}()
			}
			wg.Wait()
			require.Empty(t, problems)
			require.Equal(t, opsBefore, ops(), "calls after Close ran mutating filesystem operations")
			require.Equal(t, before, snap(), "calls after Close changed the directory")
		})
	}
}

// biKeyState is what one writer goroutine last had acknowledged for a key.
type biKeyState struct {
	val     []byte
	present bool
}

// TestBadInputCallsRacingClose hammers Put, PutWithTTL, Delete, Get, Has
// and Compact while another goroutine closes the DB (background merges
// running too). Every call returns nil or ErrClosed (Compact: or an error
// wrapping compaction.ErrStopped), none panics, reads see the caller's own
// acknowledged writes, and after reopening every acknowledged write is
// there and no rejected one is.
func TestBadInputCallsRacingClose(t *testing.T) {
	envs := []biEnv{
		{name: "os-async", opts: engine.Options{MaxFileSize: 4096, DisableCompression: true, CompactionInterval: time.Millisecond,
			Compaction: compaction.Options{TriggerWALFiles: 2}}},
		{name: "mem-sync", mem: true, opts: engine.Options{SyncWrites: true, MaxFileSize: 4096, DisableCompression: true,
			CompactionInterval: time.Millisecond}},
	}
	for _, env := range envs {
		for _, delay := range []time.Duration{0, 5 * time.Millisecond, 40 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s/close-after-%v", env.name, delay), func(t *testing.T) {
				biRaceClose(t, env, delay)
			})
		}
	}
}

func biRaceClose(t *testing.T, env biEnv, delay time.Duration) {
	opts := env.opts
	dir := t.TempDir()
	if env.mem {
		opts.FS, dir = vfs.NewMem(), "/db"
	}
	db, err := engine.Open(dir, opts)
	require.NoError(t, err)

	const writers, keysPer = 4, 16
	states := make([]map[string]biKeyState, writers)
	var mu sync.Mutex
	var problems []string
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	var acked, closedSeen atomic.Int64
	var wg sync.WaitGroup
	for g := range writers {
		states[g] = map[string]biKeyState{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					report("writer %d panicked: %v", g, r)
				}
			}()
			st := states[g]
			afterClosed := -1
			for i := 0; afterClosed < 20 && i < 100000; i++ {
				key := fmt.Sprintf("w%d-%02d", g, i%keysPer)
				val := fmt.Appendf(nil, "%s-v%d-%0200d", key, i, i)
				var err error
				switch op := i % 6; op {
				case 0, 1:
					if err = db.Put([]byte(key), val); err == nil {
						st[key] = biKeyState{val: val, present: true}
					}
				case 2:
					if err = db.PutWithTTL([]byte(key), val, time.Hour); err == nil {
						st[key] = biKeyState{val: val, present: true}
					}
				case 3:
					if err = db.Delete([]byte(key)); err == nil {
						st[key] = biKeyState{}
					}
				case 4:
					var got []byte
					got, err = db.Get([]byte(key))
					want := st[key]
					switch {
					case err == nil && (!want.present || string(got) != string(want.val)):
						report("Get %s = %.20q..., want %v %.20q...", key, got, want.present, want.val)
					case errors.Is(err, engine.ErrNotFound):
						if want.present {
							report("Get %s: ErrNotFound, want %.20q...", key, want.val)
						}
						err = nil
					}
				case 5:
					var ok bool
					ok, err = db.Has([]byte(key))
					if err == nil && ok != st[key].present {
						report("Has %s = %v, want %v", key, ok, st[key].present)
					}
				}
				switch {
				case err == nil:
					acked.Add(1)
				case errors.Is(err, engine.ErrClosed):
					if afterClosed < 0 {
						afterClosed = 0
						closedSeen.Add(1)
					}
				default:
					report("writer %d op %d on %s: %v, want nil or ErrClosed", g, i%6, key, err)
					return
				}
				if afterClosed >= 0 {
					afterClosed++
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if r := recover(); r != nil {
				report("compactor panicked: %v", r)
			}
		}()
		for {
			err := db.Compact()
			switch {
			case err == nil:
			case errors.Is(err, engine.ErrClosed):
				return
			case errors.Is(err, compaction.ErrStopped):
			default:
				report("Compact: %v, want nil, ErrClosed or compaction.ErrStopped", err)
				return
			}
		}
	}()
	time.Sleep(delay)
	closeErr := db.Close()
	wg.Wait()
	require.NoError(t, closeErr)
	require.Empty(t, problems)
	require.EqualValues(t, writers, closedSeen.Load(), "every writer saw ErrClosed")
	t.Logf("%d calls succeeded before Close; %d compactions", acked.Load(), db.Stats().Compactions)

	db, err = engine.Open(dir, opts)
	require.NoError(t, err, "reopen after Close raced calls")
	defer db.Close()
	for g := range writers {
		for k := range keysPer {
			key := fmt.Sprintf("w%d-%02d", g, k)
			want := states[g][key]
			got, err := db.Get([]byte(key))
			if !want.present {
				require.ErrorIs(t, err, engine.ErrNotFound, "key %s: deleted or never acknowledged", key)
				continue
			}
			require.NoError(t, err, "key %s: an acknowledged write is lost", key)
			require.Equal(t, string(want.val), string(got), "key %s: not the last acknowledged value", key)
		}
	}
}

// biDenyFS emulates, through the FS seam, a directory whose permission
// bits deny access (which root does not get from the OS): listing dir and
// any operation on a path inside it fail with EACCES; dir itself can still
// be stat'ed, as its parent is readable.
type biDenyFS struct {
	vfs.FS
	dir string
}

func (f biDenyFS) denied(op, p string) error {
	p = filepath.Clean(p)
	if strings.HasPrefix(p, f.dir+"/") || (op == "open" && p == f.dir) {
		return &fs.PathError{Op: op, Path: p, Err: syscall.EACCES}
	}
	return nil
}

func (f biDenyFS) List(dir string) ([]string, error) {
	if err := f.denied("open", dir); err != nil {
		return nil, err
	}
	return f.FS.List(dir)
}

func (f biDenyFS) Stat(name string) (os.FileInfo, error) {
	if err := f.denied("stat", name); err != nil {
		return nil, err
	}
	return f.FS.Stat(name)
}

func (f biDenyFS) Open(name string) (vfs.File, error) {
	if err := f.denied("open", name); err != nil {
		return nil, err
	}
	return f.FS.Open(name)
}

func (f biDenyFS) OpenReadWrite(name string) (vfs.File, error) {
	if err := f.denied("open", name); err != nil {
		return nil, err
	}
	return f.FS.OpenReadWrite(name)
}

func (f biDenyFS) Create(name string) (vfs.File, error) {
	if err := f.denied("open", name); err != nil {
		return nil, err
	}
	return f.FS.Create(name)
}

func (f biDenyFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := f.denied("mkdir", dir); err != nil {
		return err
	}
	return f.FS.MkdirAll(dir, perm)
}

func (f biDenyFS) Lock(name string) (io.Closer, error) {
	if err := f.denied("open", name); err != nil {
		return nil, err
	}
	return f.FS.Lock(name)
}

// TestBadInputPaths opens directories that cannot be used: a file where a
// directory must be, unreadable directories, a directory held by another
// DB. Each Open fails with an error naming the path; once the obstacle is
// gone the directory opens (nothing was left locked or half-made).
func TestBadInputPaths(t *testing.T) {
	mkDB := func(t *testing.T, dir string) {
		t.Helper()
		db, err := engine.Open(dir, engine.Options{SyncWrites: true})
		require.NoError(t, err)
		require.NoError(t, db.Put([]byte("k"), []byte("v")))
		require.NoError(t, db.Close())
	}
	type pathCase struct {
		name     string
		rootSkip bool
		// setup prepares the obstacle and returns the directory to open,
		// the path the error must name and a function that removes it.
		setup func(t *testing.T, base string) (dir, named string, fix func())
		is    error // if set, errors.Is must hold
	}
	rm := func(t *testing.T, p string) func() { return func() { require.NoError(t, os.RemoveAll(p)) } }
	cases := []pathCase{
		{name: "file in the way of the directory", setup: func(t *testing.T, base string) (string, string, func()) {
			dir := filepath.Join(base, "db")
			require.NoError(t, os.WriteFile(dir, []byte("x"), 0o644))
			return dir, dir, rm(t, dir)
		}},
		{name: "file in the way of a parent", setup: func(t *testing.T, base string) (string, string, func()) {
			parent := filepath.Join(base, "parent")
			require.NoError(t, os.WriteFile(parent, []byte("x"), 0o644))
			dir := filepath.Join(parent, "db")
			return dir, dir, rm(t, parent)
		}},
		{name: "file in the way of wal", setup: func(t *testing.T, base string) (string, string, func()) {
			dir := filepath.Join(base, "db")
			mkDB(t, dir)
			wal := filepath.Join(dir, "wal")
			require.NoError(t, os.RemoveAll(wal))
			require.NoError(t, os.WriteFile(wal, []byte("x"), 0o644))
			return dir, wal, rm(t, wal)
		}},
		{name: "file in the way of last_state", setup: func(t *testing.T, base string) (string, string, func()) {
			dir := filepath.Join(base, "db")
			require.NoError(t, os.MkdirAll(dir, 0o755))
			ls := filepath.Join(dir, "last_state")
			require.NoError(t, os.WriteFile(ls, []byte("x"), 0o644))
			return dir, ls, rm(t, ls)
		}},
		{name: "directory in the way of LOCK", setup: func(t *testing.T, base string) (string, string, func()) {
			dir := filepath.Join(base, "db")
			lock := filepath.Join(dir, "LOCK")
			require.NoError(t, os.MkdirAll(lock, 0o755))
			return dir, dir, rm(t, lock)
		}},
		{name: "directory in the way of a data file", setup: func(t *testing.T, base string) (string, string, func()) {
			dir := filepath.Join(base, "db")
			mkDB(t, dir)
			p := filepath.Join(dir, "wal", "000000000009.data")
			require.NoError(t, os.MkdirAll(p, 0o755))
			return dir, p, rm(t, p)
		}},
		{name: "unreadable directory", rootSkip: true, is: fs.ErrPermission, setup: func(t *testing.T, base string) (string, string, func()) {
			dir := filepath.Join(base, "db")
			mkDB(t, dir)
			require.NoError(t, os.Chmod(dir, 0))
			return dir, dir, func() { require.NoError(t, os.Chmod(dir, 0o755)) }
		}},
		{name: "unreadable wal", rootSkip: true, is: fs.ErrPermission, setup: func(t *testing.T, base string) (string, string, func()) {
			dir := filepath.Join(base, "db")
			mkDB(t, dir)
			wal := filepath.Join(dir, "wal")
			require.NoError(t, os.Chmod(wal, 0))
			return dir, wal, func() { require.NoError(t, os.Chmod(wal, 0o755)) }
		}},
		{name: "unwritable parent", rootSkip: true, is: fs.ErrPermission, setup: func(t *testing.T, base string) (string, string, func()) {
			parent := filepath.Join(base, "ro")
			require.NoError(t, os.Mkdir(parent, 0o555))
			dir := filepath.Join(parent, "db")
			return dir, dir, func() { require.NoError(t, os.Chmod(parent, 0o755)) }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.rootSkip && os.Geteuid() == 0 {
				t.Skip("running as root: permission bits are not enforced for root, so this directory is readable; " +
					"TestBadInputPaths/unreadable_*_(injected) covers the same error path through the FS seam")
			}
			base := t.TempDir()
			dir, named, fix := c.setup(t, base)
			t.Cleanup(func() { _ = os.Chmod(dir, 0o755); _ = os.Chmod(filepath.Join(dir, "wal"), 0o755) })
			db, err := engine.Open(dir, engine.Options{})
			require.Nil(t, db)
			require.Error(t, err)
			require.Contains(t, err.Error(), named, "the error names the path")
			if c.is != nil {
				require.ErrorIs(t, err, c.is)
			}
			t.Logf("Open: %v", err)
			fix()
			db, err = engine.Open(dir, engine.Options{})
			require.NoError(t, err, "once the obstacle is gone the directory opens")
			require.NoError(t, db.Close())
		})
	}

	for _, sub := range []string{"/db", "/db/wal", "/db/last_state"} {
		t.Run("unreadable "+sub+" (injected)", func(t *testing.T) {
			mem := vfs.NewMem()
			db, err := engine.Open("/db", engine.Options{FS: mem, SyncWrites: true})
			require.NoError(t, err)
			require.NoError(t, db.Put([]byte("k"), []byte("v")))
			require.NoError(t, db.Close())
			before := biMemSnapshot(t, mem, "/db")
			db, err = engine.Open("/db", engine.Options{FS: biDenyFS{FS: mem, dir: sub}})
			require.Nil(t, db)
			require.ErrorIs(t, err, fs.ErrPermission)
			require.Contains(t, err.Error(), sub, "the error names the path")
			t.Logf("Open: %v", err)
			require.Equal(t, before, biMemSnapshot(t, mem, "/db"), "the failed Open changed the directory")
			db, err = engine.Open("/db", engine.Options{FS: mem})
			require.NoError(t, err, "a failed Open released the lock")
			v, err := db.Get([]byte("k"))
			require.NoError(t, err)
			require.Equal(t, "v", string(v))
			require.NoError(t, db.Close())
		})
	}

	t.Run("second Open", func(t *testing.T) {
		for _, mem := range []bool{false, true} {
			dir, opts := filepath.Join(t.TempDir(), "db"), engine.Options{}
			if mem {
				dir, opts.FS = "/db", vfs.NewMem()
			}
			db, err := engine.Open(dir, opts)
			require.NoError(t, err)
			require.NoError(t, db.Put([]byte("k"), []byte("v")))
			for range 3 {
				db2, err := engine.Open(dir, opts)
				require.Nil(t, db2)
				require.ErrorIs(t, err, engine.ErrLocked)
				require.Contains(t, err.Error(), dir)
			}
			v, err := db.Get([]byte("k"))
			require.NoError(t, err, "a refused second Open does not disturb the first")
			require.Equal(t, "v", string(v))
			require.NoError(t, db.Close())
			db, err = engine.Open(dir, opts)
			require.NoError(t, err)
			require.NoError(t, db.Close())
		}
	})
}
