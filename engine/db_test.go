package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
)

// mustOpen opens dir and closes it when the test ends.
func mustOpen(t *testing.T, dir string, opts Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// dirSnapshot returns every file under dir with its contents.
func dirSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			out[p] = string(b)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestPutGetDeleteBasics(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			dir := t.TempDir()
			db := mustOpen(t, dir, Options{SyncWrites: sync})

			_, err := db.Get([]byte("missing"))
			require.ErrorIs(t, err, ErrNotFound)
			require.NoError(t, db.Delete([]byte("missing")), "deleting an absent key is not an error")

			require.NoError(t, db.Put([]byte("k"), []byte("v1")))
			require.NoError(t, db.Put([]byte("k"), []byte("v2")))
			v, err := db.Get([]byte("k"))
			require.NoError(t, err)
			require.Equal(t, "v2", string(v))
			ok, err := db.Has([]byte("k"))
			require.NoError(t, err)
			require.True(t, ok)

			require.NoError(t, db.Put([]byte("empty"), []byte{}))
			v, err = db.Get([]byte("empty"))
			require.NoError(t, err)
			require.NotNil(t, v, "an empty value is a value, not a delete")
			require.Empty(t, v)

			require.NoError(t, db.Delete([]byte("k")))
			_, err = db.Get([]byte("k"))
			require.ErrorIs(t, err, ErrNotFound)
			ok, err = db.Has([]byte("k"))
			require.NoError(t, err)
			require.False(t, ok)

			require.NoError(t, db.Close())
			db = mustOpen(t, dir, Options{SyncWrites: sync})
			_, err = db.Get([]byte("k"))
			require.ErrorIs(t, err, ErrNotFound, "delete survives reopen")
			v, err = db.Get([]byte("empty"))
			require.NoError(t, err, "empty value survives reopen")
			require.Empty(t, v)
			require.Equal(t, 1, db.Stats().Keys)
		})
	}
}

func TestArbitraryBytes(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{})
	keys := [][]byte{{0}, []byte("a\nb"), []byte("tab\there"), {0xff, 0xfe, 0x00, 0x80}, []byte("\x00\x00")}
	for i, k := range keys {
		require.NoError(t, db.Put(k, append([]byte{0, '\n', 0xff}, byte(i))))
	}
	require.NoError(t, db.Close())
	db = mustOpen(t, dir, Options{})
	for i, k := range keys {
		v, err := db.Get(k)
		require.NoError(t, err, "key %q", k)
		require.Equal(t, append([]byte{0, '\n', 0xff}, byte(i)), v)
	}
}

func TestCallerOwnsBuffers(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{DisableMmap: true})
	key, val := []byte("key"), bytes.Repeat([]byte("x"), 200)
	require.NoError(t, db.Put(key, val))
	key[0], val[0] = 'X', 'Y' // the DB must have copied both
	v, err := db.Get([]byte("key"))
	require.NoError(t, err)
	require.Equal(t, byte('x'), v[0])
	v[1] = 'Z' // mutating a returned (and cached) value must not leak back
	v2, err := db.Get([]byte("key"))
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte("x"), 200), v2)
}

func TestBadInputWritesNothing(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{MaxKeySize: 8, MaxValueSize: 16, SyncWrites: true})
	require.NoError(t, db.Put([]byte("seed"), []byte("v")))
	before := dirSnapshot(t, dir)
	bytesBefore := db.Stats().BytesWritten

	cases := []struct {
		name string
		err  error
		call func() error
	}{
		{"nil key put", ErrEmptyKey, func() error { return db.Put(nil, []byte("v")) }},
		{"empty key put", ErrEmptyKey, func() error { return db.Put([]byte{}, []byte("v")) }},
		{"empty key delete", ErrEmptyKey, func() error { return db.Delete(nil) }},
		{"empty key get", ErrEmptyKey, func() error { _, err := db.Get(nil); return err }},
		{"empty key has", ErrEmptyKey, func() error { _, err := db.Has([]byte{}); return err }},
		{"key too large", ErrKeyTooLarge, func() error { return db.Put([]byte("123456789"), nil) }},
		{"key too large get", ErrKeyTooLarge, func() error { _, err := db.Get([]byte("123456789")); return err }},
		{"value too large", ErrValueTooLarge, func() error { return db.Put([]byte("k"), make([]byte, 17)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.ErrorIs(t, c.call(), c.err)
		})
	}
	require.NoError(t, db.Put([]byte("12345678"), make([]byte, 16)), "limits are inclusive")
	require.Equal(t, bytesBefore+datafile.RecordSize(2, 0, 8, 16), db.Stats().BytesWritten)
	require.NoError(t, db.Close())
	after := dirSnapshot(t, dir)
	// Only the accepted put changed the active file; Close added that
	// file's hint.
	active := filepath.Join(dir, walDir, dataFileName(1))
	var changed []string
	for p, b := range after {
		if before[p] != b {
			changed = append(changed, p)
		}
	}
	sort.Strings(changed)
	require.Equal(t, []string{active, walHintPath(dir, 1)}, changed)
}

func TestUseAfterClose(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "Close is idempotent")
	before := dirSnapshot(t, dir)
	require.ErrorIs(t, db.Put([]byte("k"), []byte("v")), ErrClosed)
	require.ErrorIs(t, db.Delete([]byte("k")), ErrClosed)
	require.ErrorIs(t, db.Sync(), ErrClosed)
	_, err = db.Get([]byte("k"))
	require.ErrorIs(t, err, ErrClosed)
	_, err = db.Has([]byte("k"))
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, before, dirSnapshot(t, dir))
}

func TestConcurrentUseDuringClose(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	var wg sync.WaitGroup
	var unexpected atomic.Value
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				k := fmt.Appendf(nil, "g%d-%d", g, i%100)
				err := db.Put(k, k)
				if err == nil {
					_, err = db.Get(k)
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					unexpected.Store(err)
					return
				}
			}
		}()
	}
	require.NoError(t, db.Close())
	wg.Wait()
	require.Nil(t, unexpected.Load())
}

func TestLockSameProcess(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{})
	_, err := Open(dir, Options{})
	require.ErrorIs(t, err, ErrLocked)
	require.Contains(t, err.Error(), dir)
	require.NoError(t, db.Close())
	db2, err := Open(dir, Options{})
	require.NoError(t, err, "the lock is released by Close")
	require.NoError(t, db2.Close())
}

// TestLockOtherProcess re-runs this test binary as a child that tries to
// open a directory the parent holds.
func TestLockOtherProcess(t *testing.T) {
	if dir := os.Getenv("SIMPLEKV_LOCK_CHILD"); dir != "" {
		_, err := Open(dir, Options{})
		if errors.Is(err, ErrLocked) && strings.Contains(err.Error(), dir) {
			os.Exit(3)
		}
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(4)
	}
	dir := t.TempDir()
	mustOpen(t, dir, Options{})
	cmd := testChild(t, "^TestLockOtherProcess$", "SIMPLEKV_LOCK_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	var ee interface{ ExitCode() int }
	require.ErrorAs(t, err, &ee, "output: %s", out)
	require.Equal(t, 3, ee.ExitCode(), "child should see ErrLocked naming the dir; output: %s", out)
}

func TestPermissionErrors(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores permission bits; use a read-only FS instead.
		fsys := &faultFS{FS: vfs.NewMem(), failMkdir: syscall.EACCES}
		_, err := Open("/db", Options{FS: fsys})
		require.ErrorIs(t, err, fs.ErrPermission)
		require.Contains(t, err.Error(), "/db")
		return
	}
	parent := t.TempDir()
	require.NoError(t, os.Chmod(parent, 0o500))
	t.Cleanup(func() { _ = os.Chmod(parent, 0o700) })
	dir := filepath.Join(parent, "db")
	_, err := Open(dir, Options{})
	require.ErrorIs(t, err, fs.ErrPermission)
	require.Contains(t, err.Error(), dir)
}

func TestFileInTheWay(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	require.NoError(t, os.WriteFile(dir, []byte("x"), 0o644))
	_, err := Open(dir, Options{})
	require.Error(t, err)
	require.Contains(t, err.Error(), dir)
	require.Contains(t, err.Error(), "not a directory")
}

func TestCreatesLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	db := mustOpen(t, dir, Options{})
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	for _, p := range []string{"LOCK", "wal", "last_state"} {
		_, err := os.Stat(filepath.Join(dir, p))
		require.NoError(t, err, p)
	}
	names, err := os.ReadDir(filepath.Join(dir, "wal"))
	require.NoError(t, err)
	require.Len(t, names, 1)
	require.Equal(t, "000000000001.data", names[0].Name())
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxFileSize: 4096, DisableCompression: true}
	db := mustOpen(t, dir, opts)
	val := bytes.Repeat([]byte("v"), 500)
	for i := range 100 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "key-%03d", i), val))
	}
	require.NoError(t, db.Sync())
	st := db.Stats()
	require.GreaterOrEqual(t, st.DataFiles, 12, "100 records of ~540 bytes need a dozen 4 KiB files")
	names, err := os.ReadDir(filepath.Join(dir, "wal"))
	require.NoError(t, err)
	var total int64
	for _, n := range names {
		if filepath.Ext(n.Name()) != ".data" {
			continue // a sealed file's hint
		}
		fi, err := n.Info()
		require.NoError(t, err)
		require.LessOrEqual(t, fi.Size(), opts.MaxFileSize, n.Name())
		total += fi.Size()
	}
	require.Equal(t, st.DiskBytes, total)
	for i := range 100 {
		v, err := db.Get(fmt.Appendf(nil, "key-%03d", i))
		require.NoError(t, err)
		require.Equal(t, val, v)
	}
	require.NoError(t, db.Close())
	db = mustOpen(t, dir, opts)
	require.Equal(t, 100, db.Stats().Keys)
}

func TestFDCacheBoundsDescriptors(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxFileSize: 4096, DisableMmap: true, MaxOpenFiles: 3, CacheSize: -1, DisableCompression: true}
	db := mustOpen(t, dir, opts)
	val := bytes.Repeat([]byte("v"), 1000)
	for i := range 60 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "key-%03d", i), val))
	}
	require.Greater(t, db.Stats().DataFiles, 10)
	for round := range 3 {
		for i := range 60 {
			v, err := db.Get(fmt.Appendf(nil, "key-%03d", i))
			require.NoError(t, err, "round %d key %d", round, i)
			require.Equal(t, val, v)
		}
	}
	open := 0
	for _, f := range *db.files.files.Load() {
		if f.r.HasFD() {
			open++
		}
	}
	require.LessOrEqual(t, open, 3+1, "at most MaxOpenFiles readers (plus one racing) hold descriptors")
}

func TestOptionsValidate(t *testing.T) {
	require.NoError(t, Options{}.Validate())
	err := Options{MaxFileSize: -1, MaxKeySize: -2, MaxValueSize: -3, BufferSize: -4, FlushInterval: -5, MaxOpenFiles: -6}.Validate()
	require.ErrorIs(t, err, ErrInvalidOptions)
	for _, field := range []string{"MaxFileSize", "MaxKeySize", "MaxValueSize", "BufferSize", "FlushInterval", "MaxOpenFiles"} {
		require.Contains(t, err.Error(), field, "every problem is reported at once")
	}
	err = Options{MaxValueSize: 1 << 31}.Validate()
	require.ErrorIs(t, err, ErrInvalidOptions)
	require.Contains(t, err.Error(), "format limit")
	require.NoError(t, Options{MaxFileSize: 4096, MaxValueSize: 1 << 20}.Validate(), "values may exceed the file size")

	dir := filepath.Join(t.TempDir(), "db")
	_, err = Open(dir, Options{MaxFileSize: -1})
	require.ErrorIs(t, err, ErrInvalidOptions)
	_, statErr := os.Stat(dir)
	require.ErrorIs(t, statErr, fs.ErrNotExist, "invalid options create nothing")
}

func TestDefaultLimits(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{})
	bigKey := bytes.Repeat([]byte("k"), DefaultMaxKeySize)
	bigVal := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, DefaultMaxValueSize/7)
	require.NoError(t, db.Put(bigKey, bigVal))
	v, err := db.Get(bigKey)
	require.NoError(t, err)
	require.Equal(t, bigVal, v)
	require.ErrorIs(t, db.Put(append(bigKey, 'x'), nil), ErrKeyTooLarge)
	require.ErrorIs(t, db.Put([]byte("k"), make([]byte, DefaultMaxValueSize+1)), ErrValueTooLarge)
}

func TestCompressionFlagged(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{})
	comp := bytes.Repeat([]byte("abc"), 1000)
	require.NoError(t, db.Put([]byte("c"), comp))
	written := db.Stats().BytesWritten
	require.Less(t, written, int64(1000), "a 3000-byte repetitive value is stored compressed")
	v, err := db.Get([]byte("c"))
	require.NoError(t, err)
	require.Equal(t, comp, v)

	db2 := mustOpen(t, t.TempDir(), Options{DisableCompression: true})
	require.NoError(t, db2.Put([]byte("c"), comp))
	require.Equal(t, datafile.RecordSize(1, 0, 1, 3000), db2.Stats().BytesWritten)
}

func TestCacheNeverServesStale(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{DisableMmap: true})
	k := []byte("hot")
	for i := range 50 {
		want := fmt.Appendf(nil, "value-%d", i)
		require.NoError(t, db.Put(k, want))
		require.NoError(t, db.Sync()) // out of the write buffer, so reads use pread
		for range 3 {
			v, err := db.Get(k)
			require.NoError(t, err)
			require.Equal(t, want, v)
		}
	}
	st := db.Stats()
	require.Positive(t, st.CacheHits, "repeated reads are served from the cache")
	require.NoError(t, db.Delete(k))
	_, err := db.Get(k)
	require.ErrorIs(t, err, ErrNotFound)
}

// faultFS wraps an FS and fails chosen operations.
type faultFS struct {
	vfs.FS
	failMkdir error
	failSync  atomic.Bool
}

func (f *faultFS) MkdirAll(dir string, perm os.FileMode) error {
	if f.failMkdir != nil {
		return &os.PathError{Op: "mkdir", Path: dir, Err: f.failMkdir}
	}
	return f.FS.MkdirAll(dir, perm)
}

func (f *faultFS) Create(name string) (vfs.File, error) {
	file, err := f.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

type faultFile struct {
	vfs.File
	fs *faultFS
}

func (f *faultFile) Sync() error {
	if f.fs.failSync.Load() {
		return &os.PathError{Op: "fdatasync", Path: "injected", Err: syscall.EIO}
	}
	return f.File.Sync()
}

func TestFsyncFailureRefusesWrites(t *testing.T) {
	fsys := &faultFS{FS: vfs.NewMem()}
	db, err := Open("/db", Options{FS: fsys, SyncWrites: true})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("a"), []byte("1")))
	fsys.failSync.Store(true)
	err = db.Put([]byte("b"), []byte("2"))
	require.ErrorIs(t, err, ErrWriteFailed)
	require.ErrorIs(t, err, syscall.EIO, "the cause is kept")
	_, err = db.Get([]byte("b"))
	require.ErrorIs(t, err, ErrNotFound, "a write whose sync failed is not made visible")
	fsys.failSync.Store(false)
	require.ErrorIs(t, db.Put([]byte("c"), []byte("3")), ErrWriteFailed, "writes stay refused after the fault clears")
	require.ErrorIs(t, db.Delete([]byte("a")), ErrWriteFailed)
	v, err := db.Get([]byte("a"))
	require.NoError(t, err, "reads keep working")
	require.Equal(t, "1", string(v))
	require.NoError(t, db.Close())

	db, err = Open("/db", Options{FS: fsys, SyncWrites: true})
	require.NoError(t, err, "reopen recovers")
	v, err = db.Get([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	require.NoError(t, db.Put([]byte("c"), []byte("3")))
	require.NoError(t, db.Close())
}

func TestGroupCommitSharesSyncs(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{SyncWrites: true})
	const writers, each = 16, 50
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := db.Put(fmt.Appendf(nil, "w%d-%d", g, i), []byte("v")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := db.Stats()
	require.Equal(t, int64(writers*each), st.Puts)
	t.Logf("%d synced puts used %d fsyncs", st.Puts, st.Syncs)
	require.Less(t, st.Syncs, st.Puts, "concurrent writers share fsyncs")
}

func TestRecordLargerThanFile(t *testing.T) {
	for _, mmap := range []bool{true, false} {
		t.Run(fmt.Sprintf("mmap=%v", mmap), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{MaxFileSize: 4096, DisableMmap: !mmap, DisableCompression: true}
			db := mustOpen(t, dir, opts)
			big := bytes.Repeat([]byte("B"), 20000)
			require.NoError(t, db.Put([]byte("small1"), []byte("s")))
			require.NoError(t, db.Put([]byte("big"), big))
			require.NoError(t, db.Put([]byte("small2"), []byte("s")))
			check := func() {
				v, err := db.Get([]byte("big"))
				require.NoError(t, err)
				require.Equal(t, big, v)
				v, err = db.Get([]byte("small2"))
				require.NoError(t, err)
				require.Equal(t, "s", string(v))
			}
			check()
			require.NoError(t, db.Sync())
			check()
			require.NoError(t, db.Close())
			db = mustOpen(t, dir, opts)
			check()
		})
	}
}

// TestConcurrentWritersAcrossRotations checks that sequence numbers stay in
// file order when many writers race through rotations and group commits: a
// duplicated or reordered sequence would let an older value win on reopen.
func TestConcurrentWritersAcrossRotations(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SyncWrites: true, MaxFileSize: 4096, DisableCompression: true}
	db, err := Open(dir, opts)
	require.NoError(t, err)
	const writers, versions = 8, 60
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range versions {
				k := fmt.Appendf(nil, "g%d-k%d", g, v%3)
				if err := db.Put(k, fmt.Appendf(nil, "%0300d", v)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, db.Close())
	db = mustOpen(t, dir, opts)
	for g := range writers {
		for k := range 3 {
			last := versions - 3 + k // the last version written to key k
			for last%3 != k {
				last--
			}
			v, err := db.Get(fmt.Appendf(nil, "g%d-k%d", g, k))
			require.NoError(t, err)
			require.Equal(t, fmt.Sprintf("%0300d", last), string(v), "writer %d key %d", g, k)
		}
	}
}

// TestCacheAdmission: from a mapping or the write buffer, a small
// compressed value is not cached (decompressing it is cheaper than the
// cache), a large compressed one is; without a mapping every value read
// from the file is.
func TestCacheAdmission(t *testing.T) {
	small := bytes.Repeat([]byte("ab"), 50)    // 100 bytes, compressible
	large := bytes.Repeat([]byte("abc"), 1000) // 3000 bytes
	for _, c := range []struct {
		name     string
		opts     Options
		value    []byte
		cachedOK bool
	}{
		{"mapped small compressed", Options{}, small, false},
		{"mapped large compressed", Options{}, large, true},
		{"pread small compressed", Options{DisableMmap: true}, small, true},
		// An hour between background flushes keeps the record in the buffer.
		{"write buffer large compressed", Options{FlushInterval: time.Hour}, large, true},
		{"write buffer small compressed", Options{DisableMmap: true, FlushInterval: time.Hour}, small, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := mustOpen(t, t.TempDir(), c.opts)
			require.NoError(t, db.Put([]byte("k"), c.value))
			if !strings.HasPrefix(c.name, "write buffer") {
				require.NoError(t, db.Sync()) // out of the write buffer
			}
			for range 5 {
				v, err := db.Get([]byte("k"))
				require.NoError(t, err)
				require.Equal(t, c.value, v)
			}
			st := db.Stats()
			if c.cachedOK {
				require.Equal(t, int64(4), st.CacheHits)
			} else {
				require.Zero(t, st.CacheHits)
				require.Zero(t, st.CacheBytes)
			}
		})
	}
}
