package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/hintfile"
	"github.com/simplekv/simplekv/internal/vfs"
	"github.com/simplekv/simplekv/keydir"
)

// keyState is what a test expects of every key it touched.
type keyState struct {
	live    map[string][]byte
	deleted map[string]bool // deleted or expired: must read as not found
}

func newKeyState() *keyState {
	return &keyState{live: map[string][]byte{}, deleted: map[string]bool{}}
}

func (s *keyState) put(k string, v []byte) { s.live[k] = bytes.Clone(v); delete(s.deleted, k) }
func (s *keyState) del(k string)           { delete(s.live, k); s.deleted[k] = true }

// check asserts that db holds exactly what s expects.
func (s *keyState) check(t testing.TB, db *DB, context string) {
	t.Helper()
	for k, want := range s.live {
		got, err := db.Get([]byte(k))
		require.NoError(t, err, "%s: Get(%q)", context, k)
		require.Equal(t, want, got, "%s: Get(%q)", context, k)
	}
	for k := range s.deleted {
		_, err := db.Get([]byte(k))
		require.ErrorIs(t, err, ErrNotFound, "%s: deleted key %q is back", context, k)
		has, err := db.Has([]byte(k))
		require.NoError(t, err)
		require.False(t, has, "%s: Has(deleted %q)", context, k)
	}
}

// value returns a 100-byte incompressible value for key k, version ver.
func value(k string, ver int) []byte {
	r := rand.New(rand.NewPCG(uint64(len(k)), uint64(ver)))
	v := make([]byte, 100)
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	copy(v, fmt.Sprintf("%s/%d/", k, ver))
	return v
}

// fillWorkload spreads puts, overwrites, deletes and TTL puts over several
// small files, so that deletes and expiries land in later files than the
// versions they hide.
func fillWorkload(t testing.TB, db *DB, s *keyState) {
	t.Helper()
	key := func(i int) string { return fmt.Sprintf("key-%03d", i) }
	for i := 0; i < 60; i++ {
		require.NoError(t, db.Put([]byte(key(i)), value(key(i), 0)))
		s.put(key(i), value(key(i), 0))
	}
	for i := 0; i < 30; i++ {
		require.NoError(t, db.Put([]byte(key(i)), value(key(i), 1)))
		s.put(key(i), value(key(i), 1))
	}
	for i := 30; i < 45; i++ {
		require.NoError(t, db.Delete([]byte(key(i))))
		s.del(key(i))
	}
	for i := 45; i < 50; i++ { // expired at once
		require.NoError(t, db.PutWithTTL([]byte(key(i)), value(key(i), 2), time.Nanosecond))
		s.del(key(i))
	}
	for i := 50; i < 55; i++ {
		require.NoError(t, db.PutWithTTL([]byte(key(i)), value(key(i), 2), time.Hour))
		s.put(key(i), value(key(i), 2))
	}
	// A key deleted, then written again, then deleted again.
	require.NoError(t, db.Put([]byte("again"), []byte("1")))
	require.NoError(t, db.Delete([]byte("again")))
	require.NoError(t, db.Put([]byte("again"), []byte("2")))
	require.NoError(t, db.Delete([]byte("again")))
	s.del("again")
}

func smallFileOpts(fsys vfs.FS) Options {
	return Options{
		FS: fsys, SyncWrites: true, MaxFileSize: 4096, DisableAutoCompaction: true, DisableMmap: true,
	}
}

// liveRecordBytes sums the sizes of the records the keydir points at.
func liveRecordBytes(db *DB) int64 {
	var n int64
	db.kd.Range(func(_ []byte, e keydir.Entry) bool { n += int64(e.Size); return true })
	return n
}

// dirBytes sums the sizes of every file under dir except LOCK.
func dirBytes(t *testing.T, dir string) int64 {
	var n int64
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.Type().IsRegular() && d.Name() != lockFile {
			fi, err := d.Info()
			require.NoError(t, err)
			n += fi.Size()
		}
		return nil
	}))
	return n
}

func TestCompactReclaimsSpaceAndKeepsKeydir(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxFileSize: 256 << 10, DisableAutoCompaction: true}
	db := mustOpen(t, dir, opts)
	s := newKeyState()
	const n = 5000
	for round := 0; round < 4; round++ {
		for i := 0; i < n; i++ {
			k := fmt.Sprintf("k%05d", i)
			require.NoError(t, db.Put([]byte(k), value(k, round)))
			s.put(k, value(k, round))
		}
	}
	for i := 0; i < n; i += 2 {
		k := fmt.Sprintf("k%05d", i)
		require.NoError(t, db.Delete([]byte(k)))
		s.del(k)
	}
	type seqExp struct {
		seq uint64
		exp int64
	}
	before := map[string]seqExp{}
	db.kd.Range(func(k []byte, e keydir.Entry) bool { before[string(k)] = seqExp{e.Seq, e.Expiry}; return true })
	diskBefore := dirBytes(t, dir)
	require.Positive(t, db.Stats().ReclaimableBytes)

	require.NoError(t, db.Compact())

	after := map[string]seqExp{}
	db.kd.Range(func(k []byte, e keydir.Entry) bool { after[string(k)] = seqExp{e.Seq, e.Expiry}; return true })
	require.Equal(t, before, after, "compaction changed the keydir's keys, sequence numbers or expiries")
	s.check(t, db, "after compact")
	live := liveRecordBytes(db)
	disk := dirBytes(t, dir)
	t.Logf("disk before %d, after %d, live records %d (ratio %.3f)", diskBefore, disk, live, float64(disk)/float64(live))
	require.LessOrEqual(t, float64(disk), 1.2*float64(live), "disk usage after compaction")
	st := db.Stats()
	require.EqualValues(t, 1, st.Compactions)
	require.Positive(t, st.CompactionReclaimed)
	require.Zero(t, st.ReclaimableBytes)
	require.Equal(t, disk, st.DiskBytes, "Stats().DiskBytes")

	// The log now holds only the new, empty active file.
	walNames, err := os.ReadDir(filepath.Join(dir, walDir))
	require.NoError(t, err)
	require.Len(t, walNames, 1)
	lsNames, err := os.ReadDir(filepath.Join(dir, lastStateDir))
	require.NoError(t, err)
	var hints, datas int
	for _, e := range lsNames {
		switch {
		case strings.HasSuffix(e.Name(), hintExt):
			hints++
		case strings.HasSuffix(e.Name(), dataExt):
			datas++
		default:
			t.Fatalf("unexpected file %s in last_state", e.Name())
		}
	}
	require.Equal(t, datas, hints)
	require.Positive(t, datas)

	require.NoError(t, db.Close())
	db = mustOpen(t, dir, opts)
	st = db.Stats()
	require.Zero(t, st.HintFallbacks)
	require.EqualValues(t, len(s.live), st.RecoveredRecords, "records loaded from hints")
	s.check(t, db, "after reopen from hints")
	reopened := map[string]seqExp{}
	db.kd.Range(func(k []byte, e keydir.Entry) bool { reopened[string(k)] = seqExp{e.Seq, e.Expiry}; return true })
	require.Equal(t, before, reopened)
}

// TestPartialMergesNeverResurrect merges one file at a time, in every
// order, around a key whose delete (or expiry) is in a later file than its
// older versions. A delete marker may only go once no older version can
// survive.
func TestPartialMergesNeverResurrect(t *testing.T) {
	for _, kind := range []string{"delete", "expire"} {
		for _, order := range []string{"newest-first", "oldest-first"} {
			t.Run(kind+"/"+order, func(t *testing.T) {
				mem := vfs.NewMem()
				opts := smallFileOpts(mem)
				db, err := Open("/db", opts)
				require.NoError(t, err)
				defer func() { _ = db.Close() }()
				s := newKeyState()
				require.NoError(t, db.Put([]byte("victim"), []byte("old")))
				require.NoError(t, db.Put([]byte("keep"), []byte("v")))
				s.put("keep", []byte("v"))
				require.NoError(t, db.sealActive())
				require.NoError(t, db.Put([]byte("victim"), []byte("newer")))
				require.NoError(t, db.sealActive())
				if kind == "delete" {
					require.NoError(t, db.Delete([]byte("victim")))
				} else {
					require.NoError(t, db.PutWithTTL([]byte("victim"), []byte("short"), time.Nanosecond))
				}
				s.del("victim")
				require.NoError(t, db.sealActive())
				sealed := db.sealedFiles()
				require.Len(t, sealed, 3)
				if order == "newest-first" {
					sealed[0], sealed[2] = sealed[2], sealed[0]
				}
				for i, f := range sealed {
					db.mergeMu.Lock()
					err := db.merge([]*dataFile{f}, "test")
					db.mergeMu.Unlock()
					require.NoError(t, err)
					s.check(t, db, fmt.Sprintf("after merging file %d", i))
					require.NoError(t, db.Close())
					db, err = Open("/db", opts)
					require.NoError(t, err)
					s.check(t, db, fmt.Sprintf("reopened after merging file %d", i))
					// And after a power cut right now.
					img := mem.CrashClone(nil)
					db2, err := Open("/db", Options{FS: img, DisableAutoCompaction: true, DisableMmap: true, MaxFileSize: 4096})
					require.NoError(t, err)
					s.check(t, db2, fmt.Sprintf("power cut after merging file %d", i))
					require.NoError(t, db2.Close())
				}
				// A full merge now drops every delete marker.
				require.NoError(t, db.Compact())
				for _, f := range db.Stats().Files {
					require.Zero(t, f.Tombstones, "file %d still has delete markers after a full merge", f.ID)
				}
				s.check(t, db, "after full merge")
			})
		}
	}
}

// mergeImage builds a directory in memory with the fill workload, closed
// cleanly, and returns it with the expected state.
func mergeImage(t *testing.T) (*vfs.MemFS, *keyState) {
	mem := vfs.NewMem()
	db, err := Open("/db", smallFileOpts(mem))
	require.NoError(t, err)
	s := newKeyState()
	fillWorkload(t, db, s)
	require.NoError(t, db.Close())
	return mem.CrashClone(nil), s
}

// mergePlans are the merges the step tests cut short: a full Compact,
// and partial merges of the newest and the oldest sealed files.
var mergePlans = []string{"full", "newest", "oldest", "middle-two"}

func runPlan(db *DB, plan string) error {
	if plan == "full" {
		return db.Compact()
	}
	sealed := db.sealedFiles()
	var in []*dataFile
	switch plan {
	case "newest":
		in = sealed[len(sealed)-1:]
	case "oldest":
		in = sealed[:1]
	case "middle-two":
		in = sealed[len(sealed)/2-1 : len(sealed)/2+1]
	}
	db.mergeMu.Lock()
	defer db.mergeMu.Unlock()
	return db.merge(in, plan)
}

// countMergeOps returns how many filesystem operations plan makes on a
// copy of img.
func countMergeOps(t *testing.T, img *vfs.MemFS, plan string) int {
	fsys := img.CrashClone(nil)
	db, err := Open("/db", smallFileOpts(fsys))
	require.NoError(t, err)
	start := fsys.OpCount()
	require.NoError(t, runPlan(db, plan))
	n := fsys.OpCount() - start
	require.NoError(t, db.Close())
	require.Greater(t, n, 5)
	return n
}

// TestMergeCrashAtEveryStep cuts the power before each filesystem
// operation of a merge (with and without torn unsynced data) and checks
// that the directory opens with every acknowledged write and no deleted
// key back, twice (finishing an interrupted merge is idempotent).
func TestMergeCrashAtEveryStep(t *testing.T) {
	img, s := mergeImage(t)
	for _, plan := range mergePlans {
		n := countMergeOps(t, img, plan)
		t.Logf("plan %s: %d operations", plan, n)
		for i := 1; i <= n; i++ {
			for _, torn := range []bool{false, true} {
				fsys := img.CrashClone(nil)
				db, err := Open("/db", smallFileOpts(fsys))
				require.NoError(t, err)
				start := fsys.OpCount()
				var crashed *vfs.MemFS
				fsys.SetOpHook(func(op vfs.MemOp) error {
					if op.Seq == start+i && crashed == nil {
						var rng *mrand.Rand
						if torn {
							rng = mrand.New(mrand.NewSource(int64(i)))
						}
						crashed = fsys.CrashClone(rng)
					}
					return nil
				})
				require.NoError(t, runPlan(db, plan))
				fsys.SetOpHook(nil)
				require.NoError(t, db.Close())
				require.NotNil(t, crashed)
				ctx := fmt.Sprintf("plan %s, power cut before op %d (torn %v)", plan, i, torn)
				for pass := 0; pass < 2; pass++ {
					db, err := Open("/db", smallFileOpts(crashed))
					require.NoError(t, err, ctx)
					s.check(t, db, ctx)
					require.NoError(t, db.Close())
				}
			}
		}
	}
}

// TestMergeFaultAtEveryStep fails each filesystem operation of a merge in
// turn. The merge reports the error (or, past its commit, finishes later);
// the open DB keeps serving every acknowledged write; after a reopen too.
func TestMergeFaultAtEveryStep(t *testing.T) {
	img, s := mergeImage(t)
	injected := errors.New("injected fault")
	for _, plan := range mergePlans {
		n := countMergeOps(t, img, plan)
		for i := 1; i <= n; i++ {
			fsys := img.CrashClone(nil)
			db, err := Open("/db", smallFileOpts(fsys))
			require.NoError(t, err)
			start := fsys.OpCount()
			var failed atomic.Bool
			fsys.SetOpHook(func(op vfs.MemOp) error {
				if op.Seq == start+i {
					failed.Store(true)
					return injected
				}
				return nil
			})
			err = runPlan(db, plan)
			fsys.SetOpHook(nil)
			ctx := fmt.Sprintf("plan %s, fault at op %d", plan, i)
			require.True(t, failed.Load(), ctx)
			if err != nil {
				require.ErrorIs(t, err, injected, ctx)
			}
			s.check(t, db, ctx+", same process")
			_ = db.Close() // may report the failed sync of a broken writer
			db, err = Open("/db", smallFileOpts(fsys))
			require.NoError(t, err, ctx)
			s.check(t, db, ctx+", reopened")
			require.NoError(t, db.Close())
		}
	}
}

// TestMergeUnderLoad runs merges while writers overwrite and delete and
// readers check that every value they see is one that was written.
func TestMergeUnderLoad(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxFileSize: 32 << 10, DisableAutoCompaction: true}
	db := mustOpen(t, dir, opts)
	const keys, writers = 300, 2
	var stop atomic.Bool
	var wg sync.WaitGroup
	final := make([]map[string][]byte, writers)
	for w := 0; w < writers; w++ {
		final[w] = map[string][]byte{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for ver := 0; !stop.Load(); ver++ {
				k := fmt.Sprintf("w%d-%03d", w, r.IntN(keys))
				if r.IntN(10) == 0 {
					if err := db.Delete([]byte(k)); err != nil {
						t.Error(err)
						return
					}
					delete(final[w], k)
					continue
				}
				v := value(k, ver)
				if err := db.Put([]byte(k), v); err != nil {
					t.Error(err)
					return
				}
				final[w][k] = v
			}
		}()
	}
	for rd := 0; rd < 2; rd++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(rd), 2))
			for !stop.Load() {
				k := fmt.Sprintf("w%d-%03d", r.IntN(writers), r.IntN(keys))
				v, err := db.Get([]byte(k))
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					t.Errorf("Get(%q): %v", k, err)
					return
				}
				if !bytes.HasPrefix(v, []byte(k+"/")) {
					t.Errorf("Get(%q) returned a value of another key: %q", k, v[:20])
					return
				}
			}
		}()
	}
	merges := 0
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		require.NoError(t, db.Compact())
		merges++
	}
	stop.Store(true)
	wg.Wait()
	require.Positive(t, merges)
	t.Logf("%d merges under load", merges)
	s := newKeyState()
	for _, m := range final {
		for k, v := range m {
			s.put(k, v)
		}
	}
	s.check(t, db, "after load")
	require.Equal(t, len(s.live), db.Stats().Keys)
	require.NoError(t, db.Close())
	db = mustOpen(t, dir, opts)
	s.check(t, db, "reopened")
	require.Equal(t, len(s.live), db.Stats().Keys)
}

func TestAutoCompactionTriggers(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxFileSize: 16 << 10, CompactionInterval: 5 * time.Millisecond}
	db := mustOpen(t, dir, opts)
	s := newKeyState()
	for round := 0; round < 10; round++ {
		for i := 0; i < 200; i++ {
			k := fmt.Sprintf("k%03d", i)
			require.NoError(t, db.Put([]byte(k), value(k, round)))
			s.put(k, value(k, round))
		}
	}
	require.Eventually(t, func() bool {
		st := db.Stats()
		walFiles := 0
		for _, f := range st.Files {
			if f.WAL {
				walFiles++
			}
		}
		return st.Compactions > 0 && walFiles < compaction.DefaultTriggerWALFiles+1
	}, 20*time.Second, 10*time.Millisecond)
	s.check(t, db, "after automatic compaction")
	require.NoError(t, db.Close())
	db = mustOpen(t, dir, opts)
	s.check(t, db, "reopened")
}

func TestDisableAutoCompaction(t *testing.T) {
	opts := Options{MaxFileSize: 4096, CompactionInterval: time.Millisecond, DisableAutoCompaction: true}
	db := mustOpen(t, t.TempDir(), opts)
	for i := 0; i < 500; i++ {
		require.NoError(t, db.Put([]byte("k"), value("k", i)))
	}
	time.Sleep(50 * time.Millisecond)
	require.Zero(t, db.Stats().Compactions)
}

// TestDamagedHintFallsBack: a hint file that is damaged, missing or does
// not match its data file costs a scan, never a key.
func TestDamagedHintFallsBack(t *testing.T) {
	for _, damage := range []string{"flip", "remove", "truncate", "swap"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{MaxFileSize: 8 << 10, DisableAutoCompaction: true}
			db := mustOpen(t, dir, opts)
			s := newKeyState()
			for i := 0; i < 300; i++ {
				k := fmt.Sprintf("k%03d", i)
				require.NoError(t, db.Put([]byte(k), value(k, 0)))
				s.put(k, value(k, 0))
			}
			for i := 0; i < 300; i += 3 {
				k := fmt.Sprintf("k%03d", i)
				require.NoError(t, db.Delete([]byte(k)))
				s.del(k)
			}
			require.NoError(t, db.Compact())
			require.NoError(t, db.Close())
			hints, err := filepath.Glob(filepath.Join(dir, lastStateDir, "*"+hintExt))
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(hints), 2)
			h := hints[0]
			switch damage {
			case "flip":
				b, err := os.ReadFile(h)
				require.NoError(t, err)
				b[len(b)/2] ^= 0x10
				require.NoError(t, os.WriteFile(h, b, 0o644))
			case "remove":
				require.NoError(t, os.Remove(h))
			case "truncate":
				fi, err := os.Stat(h)
				require.NoError(t, err)
				require.NoError(t, os.Truncate(h, fi.Size()-3))
			case "swap": // another file's intact hint
				b, err := os.ReadFile(hints[1])
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(h, b, 0o644))
			}
			db = mustOpen(t, dir, opts)
			require.EqualValues(t, 1, db.Stats().HintFallbacks)
			s.check(t, db, "after hint damage")
		})
	}
}

func TestTTL(t *testing.T) {
	dir := t.TempDir()
	opts := Options{DisableAutoCompaction: true}
	db := mustOpen(t, dir, opts)
	before := dirSnapshot(t, dir)
	for _, ttl := range []time.Duration{0, -time.Second} {
		require.ErrorIs(t, db.PutWithTTL([]byte("k"), []byte("v"), ttl), ErrInvalidTTL)
	}
	require.ErrorIs(t, db.PutWithTTL(nil, []byte("v"), time.Second), ErrEmptyKey)
	require.Equal(t, before, dirSnapshot(t, dir), "a rejected PutWithTTL wrote something")

	require.NoError(t, db.Put([]byte("k"), []byte("forever")))
	require.NoError(t, db.PutWithTTL([]byte("k"), []byte("brief"), 200*time.Millisecond))
	require.NoError(t, db.PutWithTTL([]byte("long"), []byte("v"), time.Hour))
	require.NoError(t, db.PutWithTTL([]byte("max"), []byte("v"), time.Duration(1<<63-1)))
	v, err := db.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, []byte("brief"), v)
	require.Eventually(t, func() bool {
		_, err := db.Get([]byte("k"))
		return errors.Is(err, ErrNotFound)
	}, 5*time.Second, 5*time.Millisecond)
	has, err := db.Has([]byte("k"))
	require.NoError(t, err)
	require.False(t, has, "an expired key must not come back as the older version")
	for _, k := range []string{"long", "max"} {
		_, err := db.Get([]byte(k))
		require.NoError(t, err, k)
	}

	require.NoError(t, db.Close())
	db = mustOpen(t, dir, opts)
	_, err = db.Get([]byte("k"))
	require.ErrorIs(t, err, ErrNotFound, "expired key after reopen")
	require.Equal(t, 3, db.Stats().Keys, "expired keys stay in the keydir until a merge")
	require.NoError(t, db.Compact())
	require.Equal(t, 2, db.Stats().Keys, "the merge drops the expired key")
	require.NoError(t, db.Close())
	db = mustOpen(t, dir, opts)
	_, err = db.Get([]byte("k"))
	require.ErrorIs(t, err, ErrNotFound, "expired key after merge and reopen")
	require.Equal(t, 2, db.Stats().Keys)

	// Overwriting with a plain Put makes the key permanent again.
	require.NoError(t, db.PutWithTTL([]byte("p"), []byte("1"), time.Nanosecond))
	require.NoError(t, db.Put([]byte("p"), []byte("2")))
	time.Sleep(time.Millisecond)
	v, err = db.Get([]byte("p"))
	require.NoError(t, err)
	require.Equal(t, []byte("2"), v)
}

func TestCompactAfterClose(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.ErrorIs(t, db.Compact(), ErrClosed)
}

// TestCloseStopsMerge: Close during a long merge returns promptly, and the
// stopped merge leaves nothing behind.
func TestCloseStopsMerge(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxFileSize: 1 << 20, DisableAutoCompaction: true, DisableCompression: true}
	db, err := Open(dir, opts)
	require.NoError(t, err)
	s := newKeyState()
	for i := 0; i < 40000; i++ {
		k := fmt.Sprintf("k%05d", i)
		require.NoError(t, db.Put([]byte(k), value(k, 0)))
		s.put(k, value(k, 0))
	}
	done := make(chan error, 1)
	go func() { done <- db.Compact() }()
	time.Sleep(5 * time.Millisecond)
	require.NoError(t, db.Close())
	err = <-done
	if err != nil {
		require.True(t, errors.Is(err, compaction.ErrStopped) || errors.Is(err, ErrClosed), "%v", err)
	}
	names, err := os.ReadDir(filepath.Join(dir, lastStateDir))
	require.NoError(t, err)
	for _, e := range names {
		require.False(t, strings.HasSuffix(e.Name(), compaction.TmpSuffix), "leftover %s", e.Name())
	}
	db = mustOpen(t, dir, opts)
	s.check(t, db, "reopened after a stopped merge")
}

// TestMergeCrashAsync: without SyncWrites, writes after the last Sync may
// be lost in a power cut, but a merge must never make a key fall back to
// something older than its last synced value: the merge drops the older
// versions that unsynced writes replaced, so it syncs the log before it
// commits.
func TestMergeCrashAsync(t *testing.T) {
	img, s := mergeImage(t)
	asyncOpts := func(fsys vfs.FS) Options {
		o := smallFileOpts(fsys)
		o.SyncWrites, o.SyncInterval, o.FlushInterval = false, -1, time.Hour
		return o
	}
	for _, plan := range mergePlans {
		n := countMergeOps(t, img, plan) + 4 // the log sync adds a few
		for i := 1; i <= n; i++ {
			fsys := img.CrashClone(nil)
			db, err := Open("/db", asyncOpts(fsys))
			require.NoError(t, err)
			newer := map[string][]byte{}
			for j := 0; j < 10; j++ { // old versions are in sealed files
				k := fmt.Sprintf("key-%03d", j)
				newer[k] = value(k, 9)
				require.NoError(t, db.Put([]byte(k), newer[k]))
			}
			start := fsys.OpCount()
			var crashed *vfs.MemFS
			fsys.SetOpHook(func(op vfs.MemOp) error {
				if op.Seq == start+i && crashed == nil {
					crashed = fsys.CrashClone(nil)
				}
				return nil
			})
			require.NoError(t, runPlan(db, plan))
			fsys.SetOpHook(nil)
			require.NoError(t, db.Close())
			if crashed == nil {
				continue // the merge made fewer operations
			}
			ctx := fmt.Sprintf("plan %s, power cut before op %d", plan, i)
			db, err = Open("/db", asyncOpts(crashed))
			require.NoError(t, err, ctx)
			for k, want := range s.live {
				got, err := db.Get([]byte(k))
				require.NoError(t, err, "%s: Get(%q)", ctx, k)
				if nv, ok := newer[k]; ok && bytes.Equal(got, nv) {
					continue
				}
				require.Equal(t, want, got, "%s: Get(%q)", ctx, k)
			}
			for k := range s.deleted {
				_, err := db.Get([]byte(k))
				require.ErrorIs(t, err, ErrNotFound, "%s: %q is back", ctx, k)
			}
			require.NoError(t, db.Close())
		}
	}
}

// deletedStillOpen lists files under dir that this process still holds
// (as a descriptor or a mapping) although they have been deleted: space
// the merge meant to free but did not.
func deletedStillOpen(t *testing.T, dir string) []string {
	var held []string
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir) && strings.HasSuffix(target, "(deleted)") {
			held = append(held, "fd "+target)
		}
	}
	maps, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.Contains(line, dir) && strings.HasSuffix(line, "(deleted)") {
			held = append(held, "map "+line)
		}
	}
	return held
}

// TestMergeReleasesInputs: once a merge returns, the inputs are gone from
// the directory and no descriptor or mapping keeps their space.
func TestMergeReleasesInputs(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc (Linux)")
	}
	for _, mmap := range []bool{true, false} {
		t.Run(fmt.Sprintf("mmap=%v", mmap), func(t *testing.T) {
			dir := t.TempDir()
			db := mustOpen(t, dir, Options{MaxFileSize: 8 << 10, DisableAutoCompaction: true, DisableMmap: !mmap})
			for round := 0; round < 3; round++ {
				for i := 0; i < 300; i++ {
					k := fmt.Sprintf("k%03d", i)
					require.NoError(t, db.Put([]byte(k), value(k, round)))
				}
			}
			// Read from every file so that each has a descriptor or mapping.
			for i := 0; i < 300; i++ {
				_, err := db.Get([]byte(fmt.Sprintf("k%03d", i)))
				require.NoError(t, err)
			}
			before := db.Stats().DataFiles
			require.Greater(t, before, 5)
			require.NoError(t, db.Compact())
			require.Empty(t, deletedStillOpen(t, dir))
			for i := 0; i < 300; i++ {
				k := fmt.Sprintf("k%03d", i)
				v, err := db.Get([]byte(k))
				require.NoError(t, err)
				require.Equal(t, value(k, 2), v)
			}
		})
	}
}

func TestCompactionDefaultsScaleWithFileSize(t *testing.T) {
	o := Options{MaxFileSize: 8 << 20}.withDefaults()
	require.EqualValues(t, 4<<20, o.Compaction.TriggerDeadBytes)
	require.EqualValues(t, 1<<20, o.Compaction.ThresholdDeadBytes)
	require.EqualValues(t, 512<<10, o.Compaction.ThresholdSmallFile)
	d := Options{}.withDefaults()
	require.EqualValues(t, compaction.DefaultTriggerDeadBytes, d.Compaction.TriggerDeadBytes)
	require.EqualValues(t, compaction.DefaultThresholdSmallFile, d.Compaction.ThresholdSmallFile)
	// Explicit values win, and validation sees the scaled defaults: a
	// threshold above the scaled trigger is rejected.
	x := Options{MaxFileSize: 8 << 20, Compaction: compaction.Options{ThresholdSmallFile: 1 << 20}}.withDefaults()
	require.EqualValues(t, 1<<20, x.Compaction.ThresholdSmallFile)
	err := Options{MaxFileSize: 8 << 20, Compaction: compaction.Options{ThresholdDeadBytes: 5 << 20}}.Validate()
	require.ErrorIs(t, err, ErrInvalidOptions)
	require.ErrorIs(t, err, compaction.ErrInvalidOptions)
}

// TestHintGroupsAreKeydirShards: recovery fills one keydir shard at a time
// from the hint blocks of the group with the same number, which works only
// while the two functions agree.
func TestHintGroupsAreKeydirShards(t *testing.T) {
	require.Equal(t, keydir.Shards, hintfile.Groups)
	kd := keydir.New()
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 100000; i++ {
		k := make([]byte, 1+r.IntN(40))
		for j := range k {
			k[j] = byte(r.Uint32())
		}
		require.Equal(t, kd.ShardOf(k), hintfile.GroupOf(k), "key %x", k)
	}
}
