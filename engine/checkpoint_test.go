package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/internal/vfs"
)

// dbContents reads every live key of db.
func dbContents(t testing.TB, db *DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, db.Scan(nil, func(k, v []byte) bool { out[string(k)] = string(v); return true }))
	return out
}

func TestCheckpointBasics(t *testing.T) {
	for _, syncWrites := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", syncWrites), func(t *testing.T) {
			root := t.TempDir()
			opts := Options{SyncWrites: syncWrites, MaxFileSize: 4096, DisableAutoCompaction: true}
			db := mustOpen(t, filepath.Join(root, "db"), opts)
			for i := range 200 {
				require.NoError(t, db.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "v%d", i)))
			}
			b := db.NewBatch()
			b.Delete([]byte("k000"))
			b.Put([]byte("batch"), []byte("b"))
			require.NoError(t, db.Write(b))
			require.NoError(t, db.Compact())
			for i := range 50 { // after the merge: in log files, the newest one active
				require.NoError(t, db.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "w%d", i)))
			}
			require.NoError(t, db.PutWithTTL([]byte("ttl"), []byte("t"), 1<<40))
			want := dbContents(t, db)

			target := filepath.Join(root, "copy")
			require.NoError(t, db.Checkpoint(target))
			// The source goes on; the copy does not see it.
			require.NoError(t, db.Put([]byte("later"), []byte("x")))

			cp, err := Open(target, opts)
			require.NoError(t, err)
			require.Equal(t, want, dbContents(t, cp))
			require.Zero(t, cp.Stats().TornBytes)
			require.NoError(t, cp.Close())
			_, err = os.Stat(target + checkpointTmpSuffix)
			require.ErrorIs(t, err, os.ErrNotExist, "no temporary directory left")

			// Merged files are hard links of the source's, not copies.
			merged, err := filepath.Glob(filepath.Join(root, "db", lastStateDir, "*"+dataExt))
			require.NoError(t, err)
			require.NotEmpty(t, merged)
			a, err := os.Stat(merged[0])
			require.NoError(t, err)
			c, err := os.Stat(filepath.Join(target, lastStateDir, filepath.Base(merged[0])))
			require.NoError(t, err)
			require.True(t, os.SameFile(a, c), "a merged file is linked")

			// A target that is not empty is refused and named; an empty
			// directory is fine.
			err = db.Checkpoint(target)
			require.ErrorIs(t, err, ErrTargetExists)
			require.Contains(t, err.Error(), target)
			empty := filepath.Join(root, "empty")
			require.NoError(t, os.Mkdir(empty, 0o755))
			require.NoError(t, db.Checkpoint(empty))
			cp, err = Open(empty, opts)
			require.NoError(t, err)
			require.Equal(t, "x", string(must(cp.Get([]byte("later")))))
			require.NoError(t, cp.Close())
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCheckpointUnderLoad takes checkpoints while a writer and merges run:
// each copy holds exactly a prefix of the write order (nothing later,
// nothing missing), at least every write acknowledged before Checkpoint
// was called.
//
// The writer's op n puts key u<n>, then overwrites hot key h<n%8> with n,
// so the state after any prefix is known from the copy itself: N, the
// highest u<n> present, says where the prefix ends (with or without the
// hot write of op N).
func TestCheckpointUnderLoad(t *testing.T) {
	root := t.TempDir()
	opts := Options{MaxFileSize: 8 << 10, CompactionInterval: 5e6} // 5 ms
	db := mustOpen(t, filepath.Join(root, "db"), opts)
	var acked atomic.Int64 // ops done: u<n> and h<n%8> for every n < acked
	var stop atomic.Bool
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() {
		for n := 0; !stop.Load() && n < 1_000_000; n++ {
			if err := db.Put(fmt.Appendf(nil, "u%07d", n), fmt.Appendf(nil, "%d", n)); err != nil {
				werr = err
				return
			}
			if err := db.Put(fmt.Appendf(nil, "h%d", n%8), fmt.Appendf(nil, "%d", n)); err != nil {
				werr = err
				return
			}
			acked.Store(int64(n + 1))
		}
	})
	for c := range 8 {
		before := acked.Load()
		target := filepath.Join(root, fmt.Sprintf("cp%d", c))
		require.NoError(t, db.Checkpoint(target))
		cp, err := Open(target, opts)
		require.NoError(t, err)
		got := dbContents(t, cp)
		require.NoError(t, cp.Close())

		n := -1 // the highest u<n> in the copy
		for k := range got {
			var i int
			if _, err := fmt.Sscanf(k, "u%d", &i); err == nil && i > n {
				n = i
			}
		}
		require.GreaterOrEqual(t, int64(n+1), before, "copy %d: acknowledged writes missing", c)
		// The copy is the state after op n's first write, or after both.
		want := map[string]string{}
		for i := 0; i <= n; i++ {
			want[fmt.Sprintf("u%07d", i)] = fmt.Sprint(i)
			if i < n {
				want[fmt.Sprintf("h%d", i%8)] = fmt.Sprint(i)
			}
		}
		if got[fmt.Sprintf("h%d", n%8)] == fmt.Sprint(n) {
			want[fmt.Sprintf("h%d", n%8)] = fmt.Sprint(n)
		}
		require.Equal(t, want, got, "copy %d is not a prefix of the writes (n = %d)", c, n)
	}
	stop.Store(true)
	wg.Wait()
	require.NoError(t, werr)
	require.Positive(t, db.Stats().Compactions, "merges ran meanwhile")
}

// TestCheckpointKeepsListedFiles runs the interleaving that once lost a
// file: a merge drops its inputs from the file set and deletes them just
// after a checkpoint listed them. The merge must wait for the copy.
func TestCheckpointKeepsListedFiles(t *testing.T) {
	root := t.TempDir()
	opts := Options{MaxFileSize: 4096, DisableAutoCompaction: true}
	db := mustOpen(t, filepath.Join(root, "db"), opts)
	for i := range 300 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%03d", i%100), fmt.Appendf(nil, "v%d", i)))
	}
	want := dbContents(t, db)

	installed, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	merged := make(chan error, 1)
	knobs.mergeInstalled = func() {
		once.Do(func() { close(installed) })
		<-resume
	}
	knobs.cutListed = func() {
		close(resume)
		// Time for the merge to drop and delete its inputs, were it
		// allowed to before the copy is made.
		select {
		case err := <-merged:
			merged <- err
		case <-time.After(300 * time.Millisecond):
		}
	}
	t.Cleanup(func() { knobs.mergeInstalled, knobs.cutListed = nil, nil })
	go func() { merged <- db.Compact() }()
	<-installed

	target := filepath.Join(root, "copy")
	require.NoError(t, db.Checkpoint(target))
	require.NoError(t, <-merged)
	cp, err := Open(target, opts)
	require.NoError(t, err)
	require.Equal(t, want, dbContents(t, cp))
	require.NoError(t, cp.Close())
	require.Positive(t, db.Stats().Compactions)
}

// backupFixture fills a DB with merged files, sealed and active log files
// and returns its contents and a backup of it.
func backupFixture(t testing.TB) (map[string]string, []byte) {
	t.Helper()
	db, err := Open(t.TempDir(), Options{MaxFileSize: 4096, DisableAutoCompaction: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	for i := range 120 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%03d", i), bytes.Repeat([]byte{byte(i)}, i)))
	}
	require.NoError(t, db.Compact())
	b := db.NewBatch()
	for i := range 30 {
		b.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "new%d", i))
	}
	b.Delete([]byte("k100"))
	require.NoError(t, db.Write(b))
	var buf bytes.Buffer
	n, err := db.Backup(&buf)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), n)
	return dbContents(t, db), buf.Bytes()
}

func TestBackupRestore(t *testing.T) {
	want, stream := backupFixture(t)
	dir := filepath.Join(t.TempDir(), "restored")
	require.NoError(t, Restore(bytes.NewReader(stream), dir))
	db, err := Open(dir, Options{})
	require.NoError(t, err)
	require.Equal(t, want, dbContents(t, db))
	require.NoError(t, db.Close())
	require.ErrorIs(t, Restore(bytes.NewReader(stream), dir), ErrTargetExists)
}

// A stream cut short or damaged anywhere fails with ErrBadBackup and
// leaves nothing at the target.
func TestRestoreRejectsDamagedStreams(t *testing.T) {
	_, stream := backupFixture(t)
	root := t.TempDir()
	check := func(what string, s []byte) {
		t.Helper()
		dir := filepath.Join(root, "t")
		err := Restore(bytes.NewReader(s), dir)
		require.ErrorIs(t, err, ErrBadBackup, what)
		_, serr := os.Stat(dir)
		require.ErrorIs(t, serr, os.ErrNotExist, "%s: a target was left", what)
		_, serr = os.Stat(dir + checkpointTmpSuffix)
		require.ErrorIs(t, serr, os.ErrNotExist, "%s: a temporary directory was left", what)
	}
	step := max(1, len(stream)/300)
	for cut := 0; cut < len(stream); cut += step {
		check(fmt.Sprintf("cut at %d of %d", cut, len(stream)), stream[:cut])
	}
	check("cut one byte short", stream[:len(stream)-1])
	for off := 0; off < len(stream); off += step {
		d := bytes.Clone(stream)
		d[off] ^= 0x20
		check(fmt.Sprintf("byte %d flipped", off), d)
	}
	check("a byte after the end", append(bytes.Clone(stream), 0))
	check("not a backup", []byte("hello, this is not a backup stream at all"))
}

func FuzzRestore(f *testing.F) {
	_, stream := backupFixture(f)
	f.Add(stream)
	f.Add(stream[:100])
	f.Add([]byte(backupMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := vfs.NewMem()
		err := restore(m, bytes.NewReader(data), "/r")
		if err != nil {
			if !errors.Is(err, ErrBadBackup) && !errors.Is(err, ErrVersion) {
				t.Fatalf("unexpected error class: %v", err)
			}
			if _, serr := m.Stat("/r"); serr == nil {
				t.Fatal("a failed restore left its target")
			}
			return
		}
		// A stream that restores is one whose every checksum holds: the
		// directory it makes opens, or fails as a damaged DB would.
		db, err := Open("/r", Options{FS: m, DisableMmap: true})
		if err == nil {
			_ = db.Close()
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			t.Fatalf("restored directory: unexpected open error: %v", err)
		}
	})
}

// faultyCopyDB opens a DB on a FaultFS over a MemFS, with no background
// work, and fills it with merged and log files.
func faultyCopyDB(t *testing.T) (*DB, *vfs.MemFS, *vfs.FaultFS, map[string]string) {
	t.Helper()
	mem := vfs.NewMem()
	ffs := vfs.NewFaultFS(mem, nil)
	opts := Options{FS: ffs, MaxFileSize: 4096, DisableAutoCompaction: true, DisableMmap: true,
		FlushInterval: 1 << 40, SyncInterval: -1}
	db, err := Open("/db", opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	for i := range 60 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%02d", i), bytes.Repeat([]byte{byte(i)}, 50)))
	}
	require.NoError(t, db.Compact())
	for i := range 20 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%02d", i), []byte("new")))
	}
	return db, mem, ffs, dbContents(t, db)
}

// copyState says what a copy at dir in fsys is: "absent", "complete" (it
// opens and holds want), or why it is neither.
func copyState(fsys vfs.FS, dir string, want map[string]string) string {
	if _, err := fsys.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return "absent"
	}
	db, err := Open(dir, Options{FS: fsys, DisableMmap: true, DisableAutoCompaction: true})
	if err != nil {
		return fmt.Sprintf("present but does not open: %v", err)
	}
	defer db.Close()
	got := map[string]string{}
	if err := db.Scan(nil, func(k, v []byte) bool { got[string(k)] = string(v); return true }); err != nil {
		return fmt.Sprintf("present but unreadable: %v", err)
	}
	if len(got) != len(want) {
		return fmt.Sprintf("present with %d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			return fmt.Sprintf("present, key %q = %q, want %q", k, got[k], v)
		}
	}
	return "complete"
}

// TestCheckpointAndRestoreFaultAtEveryOp fails each filesystem operation
// of a Checkpoint, and of a Restore, in turn: the call returns the error,
// and the target is absent or a complete copy (a fault after the rename
// cannot take it back); a later call to the same target succeeds.
func TestCheckpointAndRestoreFaultAtEveryOp(t *testing.T) {
	db, mem, ffs, want := faultyCopyDB(t)
	var stream bytes.Buffer
	_, err := db.Backup(&stream)
	require.NoError(t, err)
	ops := map[string]func(target string) error{
		"checkpoint": db.Checkpoint,
		"restore":    func(target string) error { return restore(ffs, bytes.NewReader(stream.Bytes()), target) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			start := ffs.OpCount()
			require.NoError(t, op("/probe-"+name))
			n := ffs.OpCount() - start
			require.Greater(t, n, 10)
			for i := 1; i <= n; i++ {
				for _, fault := range []vfs.Fault{vfs.FaultEIO, vfs.FaultENOSPC} {
					target := fmt.Sprintf("/%s-%d-%v", name, i, fault)
					ffs.SetInjector(vfs.AtOp(ffs.OpCount()+i, fault))
					err := op(target)
					injected := len(ffs.Injected()) > 0
					ffs.SetInjector(nil)
					st := copyState(mem, target, want)
					if err == nil {
						require.Equal(t, "complete", st, "op %d (%v): no error, so the copy must be whole", i, fault)
						continue
					}
					require.True(t, injected, "op %d: an error without a fault: %v", i, err)
					require.Contains(t, []string{"absent", "complete"}, st, "op %d (%v) failed with %v", i, fault, err)
					if st == "absent" {
						require.NoError(t, op(target), "op %d (%v): a retry after the fault", i, fault)
						require.Equal(t, "complete", copyState(mem, target, want))
					}
				}
			}
		})
	}
}

// TestCheckpointAndRestorePowerCut cuts power before every filesystem
// operation of a Checkpoint and of a Restore: what survives at the target
// is nothing or the complete copy.
func TestCheckpointAndRestorePowerCut(t *testing.T) {
	db, mem, ffs, want := faultyCopyDB(t)
	var stream bytes.Buffer
	_, err := db.Backup(&stream)
	require.NoError(t, err)
	for name, op := range map[string]func() error{
		"checkpoint": func() error { return db.Checkpoint("/cp") },
		"restore":    func() error { return restore(ffs, bytes.NewReader(stream.Bytes()), "/rs") },
	} {
		target := map[string]string{"checkpoint": "/cp", "restore": "/rs"}[name]
		var states []string
		mem.SetOpHook(func(vfs.MemOp) error {
			states = append(states, copyState(mem.CrashClone(nil), target, want))
			return nil
		})
		err := op()
		mem.SetOpHook(nil)
		require.NoError(t, err, name)
		require.Greater(t, len(states), 10, name)
		for i, s := range states {
			require.Contains(t, []string{"absent", "complete"}, s, "%s: power cut before op %d", name, i+1)
		}
		require.Equal(t, "complete", copyState(mem.CrashClone(nil), target, want), "%s: after it returned", name)
	}
}
