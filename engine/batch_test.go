package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/datafile"
)

func requireValue(t *testing.T, db *DB, key, want string) {
	t.Helper()
	v, err := db.Get([]byte(key))
	require.NoError(t, err, "key %q", key)
	require.Equal(t, want, string(v), "key %q", key)
}

func requireAbsent(t *testing.T, db *DB, key string) {
	t.Helper()
	_, err := db.Get([]byte(key))
	require.ErrorIs(t, err, ErrNotFound, "key %q", key)
}

func TestBatchBasics(t *testing.T) {
	for _, syncWrites := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", syncWrites), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SyncWrites: syncWrites}
			db, err := Open(dir, opts)
			require.NoError(t, err)
			require.NoError(t, db.Put([]byte("gone"), []byte("old")))
			require.NoError(t, db.Put([]byte("kept"), []byte("old")))

			b := db.NewBatch()
			b.Put([]byte("a"), []byte("1"))
			b.Put([]byte("b"), bytes.Repeat([]byte("compressible "), 100))
			b.PutWithTTL([]byte("ttl"), []byte("t"), time.Hour)
			b.Delete([]byte("gone"))
			b.Put([]byte("a"), []byte("2")) // the last op on a key wins
			b.Delete([]byte("never-written"))
			b.Put([]byte("empty"), nil)
			require.Equal(t, 7, b.Len())
			before := db.Stats()
			require.NoError(t, db.Write(b))
			after := db.Stats()
			require.Equal(t, int64(1), after.Batches-before.Batches)
			require.Equal(t, int64(4), after.Puts-before.Puts, "a, b, ttl, empty: the first put of a is not written")
			require.Equal(t, int64(2), after.Deletes-before.Deletes)
			if syncWrites {
				require.Equal(t, int64(1), after.Syncs-before.Syncs, "one fsync for the batch")
			}

			keys := 5
			check := func(db *DB) {
				t.Helper()
				requireValue(t, db, "a", "2")
				requireValue(t, db, "b", strings.Repeat("compressible ", 100))
				requireValue(t, db, "ttl", "t")
				requireValue(t, db, "kept", "old")
				requireValue(t, db, "empty", "")
				requireAbsent(t, db, "gone")
				requireAbsent(t, db, "never-written")
				require.Equal(t, keys, db.Len())
			}
			check(db)

			// Reset keeps the batch usable; the caller may reuse buffers.
			b.Reset()
			require.Zero(t, b.Len())
			key := []byte("reused")
			b.Put(key, key)
			copy(key, "XXXXXX")
			require.NoError(t, db.Write(b))
			requireValue(t, db, "reused", "reused")
			keys++
			require.NoError(t, db.Write(db.NewBatch()), "an empty batch")
			require.NoError(t, db.Write(nil), "a nil batch")

			// From hints (clean Close), then from a replay of the log.
			require.NoError(t, db.Close())
			db, err = Open(dir, opts)
			require.NoError(t, err)
			check(db)
			require.NoError(t, db.Close())
			removeWALHints(t, dir)
			db, err = Open(dir, opts)
			require.NoError(t, err)
			check(db)
			requireValue(t, db, "reused", "reused")
			require.NoError(t, db.Close())
			require.ErrorIs(t, db.Write(b), ErrClosed)
		})
	}
}

func removeWALHints(t *testing.T, dir string) {
	t.Helper()
	hints, err := filepath.Glob(filepath.Join(dir, walDir, "*.hint"))
	require.NoError(t, err)
	for _, h := range hints {
		require.NoError(t, os.Remove(h))
	}
}

func TestBatchBadInputWritesNothing(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{MaxKeySize: 8, MaxValueSize: 16, SyncWrites: true})
	require.NoError(t, db.Put([]byte("seed"), []byte("v")))
	before := dirSnapshot(t, dir)
	bytesBefore := db.Stats().BytesWritten

	cases := []struct {
		name string
		err  error
		bad  func(b *Batch)
	}{
		{"empty key", ErrEmptyKey, func(b *Batch) { b.Put(nil, []byte("v")) }},
		{"empty key delete", ErrEmptyKey, func(b *Batch) { b.Delete([]byte{}) }},
		{"key too large", ErrKeyTooLarge, func(b *Batch) { b.Put([]byte("123456789"), nil) }},
		{"value too large", ErrValueTooLarge, func(b *Batch) { b.Put([]byte("k"), make([]byte, 17)) }},
		{"ttl zero", ErrInvalidTTL, func(b *Batch) { b.PutWithTTL([]byte("k"), nil, 0) }},
		{"ttl negative", ErrInvalidTTL, func(b *Batch) { b.PutWithTTL([]byte("k"), nil, -time.Second) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := db.NewBatch()
			b.Put([]byte("ok1"), []byte("v"))
			b.Delete([]byte("seed"))
			c.bad(b)
			b.Put([]byte(""), nil) // a second bad op: the first one's error wins
			err := db.Write(b)
			require.ErrorIs(t, err, c.err)
			require.Contains(t, err.Error(), "batch operation 2 of 4")
		})
	}
	t.Run("too large", func(t *testing.T) {
		defer func(old int64) { maxBatchSize = old }(maxBatchSize)
		maxBatchSize = 100
		b := db.NewBatch()
		for i := range 5 {
			b.Put(fmt.Appendf(nil, "k%d", i), make([]byte, 16))
		}
		require.ErrorIs(t, db.Write(b), ErrBatchTooLarge)
	})
	requireValue(t, db, "seed", "v")
	require.Equal(t, bytesBefore, db.Stats().BytesWritten)
	require.Equal(t, before, dirSnapshot(t, dir))
}

// The size limit counts the batch as it lands in the log, header included.
func TestBatchSizeLimitIsExact(t *testing.T) {
	defer func(old int64) { maxBatchSize = old }(maxBatchSize)
	db := mustOpen(t, t.TempDir(), Options{DisableCompression: true})
	member := datafile.RecordSize(1, 0, 1, 16)
	maxBatchSize = datafile.BatchHeaderSize(1, 2, 2*member) + 2*member
	b := db.NewBatch()
	b.Put([]byte("a"), make([]byte, 16))
	b.Put([]byte("b"), make([]byte, 16))
	require.NoError(t, db.Write(b), "exactly at the limit")
	b.Reset()
	b.Put([]byte("a"), make([]byte, 16))
	b.Put([]byte("b"), make([]byte, 17))
	require.ErrorIs(t, db.Write(b), ErrBatchTooLarge, "a byte over")
}

// A batch cut short anywhere by a crash is gone whole after the reopen;
// what came before it is intact.
func TestBatchTornTailDroppedWhole(t *testing.T) {
	src := t.TempDir()
	opts := Options{}
	db, err := Open(src, opts)
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("before"), []byte("v")))
	require.NoError(t, db.Sync())
	wal := filepath.Join(src, walDir, dataFileName(1))
	fi, err := os.Stat(wal)
	require.NoError(t, err)
	start := fi.Size()
	b := db.NewBatch()
	for i := range 40 {
		b.Put(fmt.Appendf(nil, "k%02d", i), tornRandomBytes(uint64(i), 300))
	}
	require.NoError(t, db.Write(b))
	require.NoError(t, db.Close())
	removeWALHints(t, src)
	fi, err = os.Stat(wal)
	require.NoError(t, err)
	end := fi.Size()
	data, err := os.ReadFile(wal)
	require.NoError(t, err)

	for _, cut := range []int64{start + 1, start + 20, (start + end) / 2, end - 300, end - 1} {
		dir := t.TempDir()
		copyDirFiles(t, src, dir)
		require.NoError(t, os.WriteFile(filepath.Join(dir, walDir, dataFileName(1)), data[:cut], 0o644))
		db, err := Open(dir, opts)
		require.NoError(t, err, "cut %d", cut)
		requireValue(t, db, "before", "v")
		require.Equal(t, 1, db.Len(), "cut %d: none of the batch", cut)
		require.Equal(t, cut-start, db.Stats().TornBytes, "cut %d", cut)
		require.NoError(t, db.Close())
	}
}

func tornRandomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func copyDirFiles(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	}))
}

// A batch damaged in a file that is not the newest makes Open fail with
// ErrCorrupt; Repair drops the batch whole and says so, and keeps the
// records around it.
func TestBatchDamagedRepairDropsWhole(t *testing.T) {
	for _, where := range []string{"header", "member"} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			db, err := Open(dir, Options{})
			require.NoError(t, err)
			require.NoError(t, db.Put([]byte("before"), []byte("v")))
			require.NoError(t, db.Sync())
			wal := filepath.Join(dir, walDir, dataFileName(1))
			fi, err := os.Stat(wal)
			require.NoError(t, err)
			start := fi.Size()
			b := db.NewBatch()
			for i := range 5 {
				b.Put(fmt.Appendf(nil, "k%d", i), tornRandomBytes(uint64(i), 50))
			}
			require.NoError(t, db.Write(b))
			require.NoError(t, db.Put([]byte("after"), []byte("v")))
			require.NoError(t, db.Close())
			removeWALHints(t, dir)
			data, err := os.ReadFile(wal)
			require.NoError(t, err)
			at := start + 2 // the header's checksum
			if where == "member" {
				at = start + 60 // inside the first member
			}
			data[at] ^= 0x10
			require.NoError(t, os.WriteFile(wal, data, 0o644))
			// A later log file, so that the damaged one is not the newest.
			data2, err := datafile.AppendRecord(datafile.EncodeFileHeader(2), 100, 0, false, []byte("newer"), []byte("v"), false, nil)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, walDir, dataFileName(2)), data2, 0o644))

			_, err = Open(dir, Options{})
			require.ErrorIs(t, err, ErrCorrupt)
			rep, err := Repair(dir, Options{})
			require.NoError(t, err)
			require.Len(t, rep.Files, 1)
			require.Len(t, rep.Files[0].Dropped, 1)
			require.Contains(t, rep.Files[0].Dropped[0].Reason, "a batch, dropped whole")
			require.Equal(t, int64(2), rep.Files[0].Records, "before and after")

			db, err = Open(dir, Options{})
			require.NoError(t, err)
			defer db.Close()
			requireValue(t, db, "before", "v")
			requireValue(t, db, "after", "v")
			requireValue(t, db, "newer", "v")
			for i := range 5 {
				requireAbsent(t, db, fmt.Sprintf("k%d", i))
			}
		})
	}
}

// No reader sees part of a batch: each batch sets every key to the same
// new version, and a reader that reads a key and then one the batch writes
// after it must never find the second older than the first. Installed one
// at a time, the keys of a batch this large take tens of microseconds to
// become visible, and a reader inside that window would see the first key
// new and the second old.
func TestBatchAtomicForReaders(t *testing.T) {
	// A batch is flushed before it is applied (it exceeds the buffer), so
	// readers find its records in the file, without the write lock.
	db := mustOpen(t, t.TempDir(), Options{BufferSize: 1024})
	const keys = 2000
	key := func(i int) []byte { return fmt.Appendf(nil, "key-%04d", i) }
	version := func(i int) (int, error) {
		v, err := db.Get(key(i))
		if errors.Is(err, ErrNotFound) {
			return -1, nil
		}
		var ver int
		if err == nil {
			_, err = fmt.Sscanf(string(v), "%d", &ver)
		}
		return ver, err
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan error, 2)
	for g := range 2 {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				i, j := 0, keys-1
				if n%2 == 1 {
					i, j = (n*7+g)%(keys/2), keys/2+(n*13)%(keys/2)
				}
				first, err := version(i)
				if err == nil {
					var second int
					second, err = version(j)
					if err == nil && second < first {
						err = fmt.Errorf("read key %d at version %d, then key %d at version %d: part of a batch", i, first, j, second)
					}
				}
				if err != nil {
					errs <- err
					return
				}
				reads.Add(1)
			}
		})
	}
	b := db.NewBatch()
	deadline := time.Now().Add(time.Second)
	for v := 0; v < 2000 && time.Now().Before(deadline); v++ {
		b.Reset()
		for i := range keys {
			b.Put(key(i), fmt.Appendf(nil, "%d", v))
		}
		require.NoError(t, db.Write(b))
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	require.Positive(t, reads.Load())
}

// A merge copies a batch's live members as plain records: merged files
// hold no batch framing, and every value survives.
func TestBatchSurvivesCompaction(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxFileSize: 4096, DisableAutoCompaction: true}
	db, err := Open(dir, opts)
	require.NoError(t, err)
	b := db.NewBatch()
	for round := range 10 {
		b.Reset()
		for i := range 20 {
			b.Put(fmt.Appendf(nil, "k%02d", i), fmt.Appendf(nil, "v%d-%d", round, i))
		}
		b.Delete([]byte("k00"))
		require.NoError(t, db.Write(b))
	}
	require.NoError(t, db.Compact())
	check := func(db *DB) {
		t.Helper()
		requireAbsent(t, db, "k00")
		for i := 1; i < 20; i++ {
			requireValue(t, db, fmt.Sprintf("k%02d", i), fmt.Sprintf("v9-%d", i))
		}
	}
	check(db)
	require.NoError(t, db.Close())
	merged, err := filepath.Glob(filepath.Join(dir, lastStateDir, "*.data"))
	require.NoError(t, err)
	require.NotEmpty(t, merged)
	for _, p := range merged {
		f, err := os.Open(p)
		require.NoError(t, err)
		fi, err := f.Stat()
		require.NoError(t, err)
		s := datafile.NewScanner(f, p, fi.Size())
		for s.Next() {
			require.Zero(t, s.Header().Flags&datafile.FlagBatch, "%s at %d", p, s.Offset())
		}
		require.NoError(t, s.Err())
		require.NoError(t, f.Close())
	}
	db, err = Open(dir, opts)
	require.NoError(t, err)
	defer db.Close()
	check(db)
}
