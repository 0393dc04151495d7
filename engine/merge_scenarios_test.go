package engine

import (
	"bytes"
	"errors"
	"fmt"
	mrand "math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
	"github.com/simplekv/simplekv/keydir"
)

// TestRandomPartialMerges drives random writes (puts, deletes, TTL
// puts that expire at once or never), seals, merges of random subsets of
// the sealed files (in any order), full compactions, clean reopens and
// power cuts (also in the middle of a merge) against a map model.
func TestRandomPartialMerges(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 5
	}
	for seed := 0; seed < seeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { scenarioRandom(t, int64(seed)) })
	}
}

func scenarioRandom(t *testing.T, seed int64) {
	rng := mrand.New(mrand.NewSource(seed))
	mem := vfs.NewMem()
	opts := smallFileOpts(mem)
	db, err := Open("/db", opts)
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	s := newKeyState()
	const keys = 12
	key := func() string { return fmt.Sprintf("k%02d", rng.Intn(keys)) }
	ver := 0
	for step := 0; step < 400; step++ {
		ctx := fmt.Sprintf("seed %d step %d", seed, step)
		switch op := rng.Intn(100); {
		case op < 40:
			k := key()
			ver++
			v := value(k, ver)
			require.NoError(t, db.Put([]byte(k), v))
			s.put(k, v)
		case op < 52:
			k := key()
			require.NoError(t, db.Delete([]byte(k)))
			if _, live := s.live[k]; live || s.deleted[k] {
				s.del(k)
			}
		case op < 60:
			k := key()
			ver++
			require.NoError(t, db.PutWithTTL([]byte(k), value(k, ver), time.Nanosecond))
			s.del(k)
		case op < 65:
			k := key()
			ver++
			v := value(k, ver)
			require.NoError(t, db.PutWithTTL([]byte(k), v, time.Hour))
			s.put(k, v)
		case op < 75:
			require.NoError(t, db.sealActive())
		case op < 88:
			sealed := db.sealedFiles()
			if len(sealed) == 0 {
				continue
			}
			var in []*dataFile
			for _, f := range sealed {
				if rng.Intn(2) == 0 {
					in = append(in, f)
				}
			}
			if len(in) == 0 {
				in = sealed[rng.Intn(len(sealed)):][:1]
			}
			ids := []uint32{}
			for _, f := range in {
				ids = append(ids, f.id)
			}
			ctx += fmt.Sprintf(" merge %v of %d", ids, len(sealed))
			// Sometimes cut the power in the middle of this merge.
			var crashed *vfs.MemFS
			if rng.Intn(3) == 0 {
				at := mem.OpCount() + 1 + rng.Intn(20)
				torn := rng.Intn(2) == 0
				crng := mrand.New(mrand.NewSource(rng.Int63()))
				mem.SetOpHook(func(op vfs.MemOp) error {
					if op.Seq == at && crashed == nil {
						if torn {
							crashed = mem.CrashClone(crng)
						} else {
							crashed = mem.CrashClone(nil)
						}
					}
					return nil
				})
			}
			db.mergeMu.Lock()
			err := db.merge(in, "scenario")
			db.mergeMu.Unlock()
			mem.SetOpHook(nil)
			require.NoError(t, err, ctx)
			s.check(t, db, ctx)
			if crashed != nil {
				for pass := 0; pass < 2; pass++ {
					db2, err := Open("/db", smallFileOpts(crashed))
					require.NoError(t, err, ctx+" power cut")
					s.check(t, db2, ctx+" power cut")
					require.NoError(t, db2.Close())
				}
			}
		case op < 91:
			require.NoError(t, db.Compact(), ctx)
			s.check(t, db, ctx+" compact")
		case op < 96:
			require.NoError(t, db.Close())
			db, err = Open("/db", opts)
			require.NoError(t, err, ctx)
			s.check(t, db, ctx+" reopen")
		default:
			img := mem.CrashClone(mrand.New(mrand.NewSource(rng.Int63())))
			db2, err := Open("/db", smallFileOpts(img))
			require.NoError(t, err, ctx)
			s.check(t, db2, ctx+" power cut")
			require.NoError(t, db2.Close())
		}
	}
	s.check(t, db, "end")
}

// TestConcurrentPartialMerges runs writers (puts, deletes, TTL
// puts), readers and random partial merges at once, then closes the DB
// while a merge may be running, reopens it and compares with what the
// writers did last.
func TestConcurrentPartialMerges(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	for _, mode := range []string{"sync", "async", "async-auto", "sync-auto"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			auto := strings.HasSuffix(mode, "-auto")
			opts := Options{MaxFileSize: 8 << 10, DisableAutoCompaction: !auto, SyncWrites: strings.HasPrefix(mode, "sync"),
				CompactionInterval: time.Millisecond}
			db, err := Open(dir, opts)
			require.NoError(t, err)
			const writers, keys = 2, 200
			var stop atomic.Bool
			var wg sync.WaitGroup
			defer func() { stop.Store(true); wg.Wait() }()
			final := make([]map[string][]byte, writers)
			for w := 0; w < writers; w++ {
				final[w] = map[string][]byte{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := mrand.New(mrand.NewSource(int64(w)))
					for ver := 0; !stop.Load(); ver++ {
						k := fmt.Sprintf("w%d-%03d", w, r.Intn(keys))
						var err error
						switch r.Intn(10) {
						case 0:
							err = db.Delete([]byte(k))
							delete(final[w], k)
						case 1:
							err = db.PutWithTTL([]byte(k), value(k, ver), time.Nanosecond)
							delete(final[w], k)
						default:
							v := value(k, ver)
							err = db.Put([]byte(k), v)
							final[w][k] = v
						}
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := mrand.New(mrand.NewSource(99))
				for !stop.Load() {
					k := fmt.Sprintf("w%d-%03d", r.Intn(writers), r.Intn(keys))
					v, err := db.Get([]byte(k))
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil {
						t.Errorf("Get(%q): %v", k, err)
						return
					}
					if !bytes.HasPrefix(v, []byte(k+"/")) {
						t.Errorf("Get(%q) = value of another key", k)
						return
					}
				}
			}()
			r := mrand.New(mrand.NewSource(7))
			deadline := time.Now().Add(600 * time.Millisecond)
			merges := 0
			for time.Now().Before(deadline) {
				db.mergeMu.Lock()
				sealed := db.sealedFiles()
				var in []*dataFile
				for _, f := range sealed {
					if r.Intn(2) == 0 {
						in = append(in, f)
					}
				}
				if len(in) == 0 {
					db.mergeMu.Unlock()
					continue
				}
				err := db.merge(in, "scenario")
				db.mergeMu.Unlock()
				require.NoError(t, err)
				merges++
			}
			stop.Store(true)
			wg.Wait()
			t.Logf("%d merges", merges)
			s := newKeyState()
			for _, m := range final {
				for k, v := range m {
					s.put(k, v)
				}
			}
			for w := 0; w < writers; w++ {
				for i := 0; i < keys; i++ {
					k := fmt.Sprintf("w%d-%03d", w, i)
					if _, ok := s.live[k]; !ok {
						s.deleted[k] = true
					}
				}
			}
			s.check(t, db, "after load")
			if !auto {
				scenarioCheckAccounting(t, db, vfs.Default, "after load")
			}
			// Close racing a full merge.
			done := make(chan error, 1)
			go func() { done <- db.Compact() }()
			time.Sleep(time.Duration(r.Intn(2000)) * time.Microsecond)
			require.NoError(t, db.Close())
			if err := <-done; err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, compaction.ErrStopped) {
				t.Fatalf("Compact racing Close: %v", err)
			}
			db, err = Open(dir, opts)
			require.NoError(t, err)
			s.check(t, db, "reopened")
			require.NoError(t, db.Close())
		})
	}
}

// scenarioCheckAccounting checks that every file's live bytes (size minus
// header, dead and tombstone bytes) are exactly the bytes of the records
// the keydir points at in it, and that DiskBytes is the size of the files.
func scenarioCheckAccounting(t *testing.T, db *DB, fsys vfs.FS, ctx string) {
	t.Helper()
	pointed := map[uint32]int64{}
	db.kd.Range(func(_ []byte, e keydir.Entry) bool { pointed[e.FileID] += int64(e.Size); return true })
	var disk int64
	for _, f := range db.files.snapshot() {
		in := f.info(0) // expired records are still pointed at
		live := in.Size - datafile.FileHeaderSize - in.Dead - in.Tombstones
		require.Equal(t, pointed[f.id], live, "%s: file %d (wal %v) size %d dead %d tombs %d", ctx, f.id, f.wal, in.Size, in.Dead, in.Tombstones)
		fi, err := fsys.Stat(f.path)
		require.NoError(t, err)
		size := fi.Size()
		db.wmu.Lock()
		if f == db.activeFile {
			size = db.w.Size() // buffered bytes count too
		}
		db.wmu.Unlock()
		disk += size
		if !f.wal {
			hi, err := fsys.Stat(hintPath(db.dir, f.id))
			require.NoError(t, err)
			disk += hi.Size()
		}
	}
	require.Equal(t, disk, db.Stats().DiskBytes, "%s: DiskBytes", ctx)
}

func TestAccounting(t *testing.T) {
	for seed := int64(0); seed < 30; seed++ {
		rng := mrand.New(mrand.NewSource(seed))
		mem := vfs.NewMem()
		opts := smallFileOpts(mem)
		db, err := Open("/db", opts)
		require.NoError(t, err)
		for step := 0; step < 300; step++ {
			ctx := fmt.Sprintf("seed %d step %d", seed, step)
			k := fmt.Sprintf("k%02d", rng.Intn(15))
			switch op := rng.Intn(100); {
			case op < 50:
				require.NoError(t, db.Put([]byte(k), value(k, step)))
			case op < 62:
				require.NoError(t, db.Delete([]byte(k)))
			case op < 70:
				require.NoError(t, db.PutWithTTL([]byte(k), value(k, step), time.Nanosecond))
			case op < 80:
				require.NoError(t, db.sealActive())
			case op < 92:
				sealed := db.sealedFiles()
				var in []*dataFile
				for _, f := range sealed {
					if rng.Intn(2) == 0 {
						in = append(in, f)
					}
				}
				if len(in) == 0 {
					continue
				}
				db.mergeMu.Lock()
				require.NoError(t, db.merge(in, "scenario"))
				db.mergeMu.Unlock()
				scenarioCheckAccounting(t, db, mem, ctx+" after merge")
			default:
				scenarioCheckAccounting(t, db, mem, ctx+" before reopen")
				require.NoError(t, db.Close())
				db, err = Open("/db", opts)
				require.NoError(t, err)
				scenarioCheckAccounting(t, db, mem, ctx+" after reopen")
			}
		}
		require.NoError(t, db.Close())
	}
}

// TestAsyncPowerLossDuringMerges: without SyncWrites, a power cut
// may lose writes after the last Sync, but never one before it, and a
// merge running concurrently with the writes must not change that: each
// key recovers to its state at the last completed Sync or a later one.
func TestAsyncPowerLossDuringMerges(t *testing.T) {
	for seed := int64(0); seed < 12; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { scenarioAsyncPowerLoss(t, seed) })
	}
}

func scenarioAsyncPowerLoss(t *testing.T, seed int64) {
	mem := vfs.NewMem()
	opts := Options{FS: mem, MaxFileSize: 8 << 10, BufferSize: 512, FlushInterval: time.Hour,
		SyncInterval: -1, DisableAutoCompaction: true, DisableMmap: true}
	db, err := Open("/db", opts)
	require.NoError(t, err)
	const keys = 30
	var mu sync.Mutex
	hist := make([][][]byte, keys) // hist[k][j] is key k's state after its op j+1 (nil: absent)
	marker := make([]int, keys)    // ops of key k covered by the last Sync that returned
	type clone struct {
		fs             *vfs.MemFS
		marker, issued []int
		at             int
	}
	var clones []clone
	rng := mrand.New(mrand.NewSource(seed))
	nextClone := mem.OpCount() + 50 + rng.Intn(200)
	mem.SetOpHook(func(op vfs.MemOp) error {
		mu.Lock()
		defer mu.Unlock()
		if op.Seq < nextClone || len(clones) >= 25 {
			return nil
		}
		c := clone{marker: append([]int(nil), marker...), at: op.Seq}
		var crng *mrand.Rand
		if rng.Intn(2) == 0 {
			crng = mrand.New(mrand.NewSource(rng.Int63()))
		}
		c.fs = mem.CrashClone(crng)
		c.issued = make([]int, keys)
		for k := range hist {
			c.issued[k] = len(hist[k])
		}
		nextClone = op.Seq + 1 + rng.Intn(150)
		clones = append(clones, c)
		return nil
	})
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the merger
		defer wg.Done()
		r := mrand.New(mrand.NewSource(seed + 1000))
		for !stop.Load() {
			db.mergeMu.Lock()
			sealed := db.sealedFiles()
			var in []*dataFile
			for _, f := range sealed {
				if r.Intn(2) == 0 {
					in = append(in, f)
				}
			}
			if len(in) == 0 {
				db.mergeMu.Unlock()
				time.Sleep(100 * time.Microsecond)
				continue
			}
			err := db.merge(in, "scenario")
			db.mergeMu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wr := mrand.New(mrand.NewSource(seed + 2000))
	for i := 0; i < 4000 && !t.Failed(); i++ {
		k := wr.Intn(keys)
		name := fmt.Sprintf("k%02d", k)
		var state []byte
		op := wr.Intn(10)
		switch {
		case op < 6:
			state = value(name, i)
		case op == 6:
			state = value(name, i)
		}
		mu.Lock()
		hist[k] = append(hist[k], state)
		mu.Unlock()
		switch {
		case op < 6:
			err = db.Put([]byte(name), state)
		case op == 6:
			err = db.PutWithTTL([]byte(name), state, time.Hour)
		case op == 7:
			err = db.PutWithTTL([]byte(name), value(name, i), time.Nanosecond)
		default:
			err = db.Delete([]byte(name))
		}
		require.NoError(t, err)
		if wr.Intn(25) == 0 {
			require.NoError(t, db.Sync())
			mu.Lock()
			for k := range hist {
				marker[k] = len(hist[k])
			}
			mu.Unlock()
		}
	}
	stop.Store(true)
	wg.Wait()
	mem.SetOpHook(nil)
	require.NoError(t, db.Close())
	require.NotEmpty(t, clones)
	t.Logf("%d clones, %d ops, %d compactions", len(clones), mem.OpCount(), db.Stats().Compactions)
	for ci, c := range clones {
		ctx := fmt.Sprintf("seed %d clone %d (before op %d)", seed, ci, c.at)
		db2, err := Open("/db", Options{FS: c.fs, MaxFileSize: 8 << 10, DisableAutoCompaction: true, DisableMmap: true})
		require.NoError(t, err, ctx)
		for k := 0; k < keys; k++ {
			name := fmt.Sprintf("k%02d", k)
			got, err := db2.Get([]byte(name))
			if errors.Is(err, ErrNotFound) {
				got = nil
			} else {
				require.NoError(t, err, ctx)
			}
			ok := false
			for j := c.marker[k]; j <= c.issued[k]; j++ {
				var want []byte
				if j > 0 {
					want = hist[k][j-1]
				}
				if (want == nil) == (got == nil) && bytes.Equal(want, got) {
					ok = true
					break
				}
			}
			if !ok {
				var gotVer string
				for j := 1; j <= len(hist[k]); j++ {
					if got != nil && bytes.Equal(hist[k][j-1], got) {
						gotVer += fmt.Sprintf(" %d", j)
					}
				}
				t.Fatalf("%s: key %s recovered to a state (op%s, nil %v) outside ops [%d, %d]", ctx, name, gotVer, got == nil, c.marker[k], c.issued[k])
			}
		}
		require.NoError(t, db2.Close())
	}
}

// TestFaultThenPowerCut fails each filesystem operation of a merge,
// keeps writing (synced) after the failure, then cuts the power; and also
// fails each operation of the next Open's recovery once. Every
// acknowledged write must survive and nothing deleted come back.
func TestFaultThenPowerCut(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	img, base := mergeImage(t)
	injected := errors.New("injected fault")
	for _, plan := range mergePlans {
		n := countMergeOps(t, img, plan)
		for i := 1; i <= n; i++ {
			ctx := fmt.Sprintf("plan %s, fault at op %d", plan, i)
			fsys := img.CrashClone(nil)
			db, err := Open("/db", smallFileOpts(fsys))
			require.NoError(t, err)
			s := newKeyState()
			for k, v := range base.live {
				s.put(k, v)
			}
			for k := range base.deleted {
				s.del(k)
			}
			start := fsys.OpCount()
			fsys.SetOpHook(func(op vfs.MemOp) error {
				if op.Seq == start+i {
					return injected
				}
				return nil
			})
			mergeErr := runPlan(db, plan)
			fsys.SetOpHook(nil)
			// Keep writing: overwrite, delete and expire some keys.
			for j := 0; j < 20; j++ {
				k := fmt.Sprintf("key-%03d", j*3)
				var err error
				switch j % 3 {
				case 0:
					err = db.Put([]byte(k), value(k, 50))
					if err == nil {
						s.put(k, value(k, 50))
					}
				case 1:
					err = db.Delete([]byte(k))
					if err == nil {
						s.del(k)
					}
				case 2:
					err = db.PutWithTTL([]byte(k), value(k, 51), time.Nanosecond)
					if err == nil {
						s.del(k)
					}
				}
				if err != nil {
					// The write path failed (the fault hit the log's
					// sync): the key's fate is unknown.
					require.ErrorIs(t, err, ErrWriteFailed, ctx)
					delete(s.live, k)
					delete(s.deleted, k)
					break
				}
			}
			// A second merge (refused if the first is committed but not
			// finished).
			if err := db.Compact(); err != nil && mergeErr == nil {
				if !errors.Is(err, ErrWriteFailed) {
					t.Fatalf("%s: second merge: %v", ctx, err)
				}
			}
			cut := fsys.CrashClone(nil)
			_ = db.Close()
			for _, fs := range []*vfs.MemFS{cut, fsys} {
				// Fail each op of recovery in turn, then open for real.
				for j := 1; j <= 25; j++ {
					try := fs.CrashClone(nil)
					base := try.OpCount()
					try.SetOpHook(func(op vfs.MemOp) error {
						if op.Seq == base+j {
							return injected
						}
						return nil
					})
					if db, err := Open("/db", smallFileOpts(try)); err == nil {
						_ = db.Close()
					}
					try.SetOpHook(nil)
					db, err := Open("/db", smallFileOpts(try))
					require.NoError(t, err, "%s, recovery fault at op %d", ctx, j)
					s.check(t, db, fmt.Sprintf("%s, recovery fault at op %d", ctx, j))
					require.NoError(t, db.Close())
				}
			}
		}
	}
}

// TestCompactDropsRecordsExpiredSinceLastMerge: Compact promises a
// directory of live records only, and PutWithTTL that compaction drops an
// expired record. After a full merge left one clean last_state/ file, some
// of whose records expire later, Compact must still drop them.
// worthFullMerge only looks at Dead, Tombstones and whole-file expiry, so
// it skips the merge and the expired records (and keydir entries) stay.
func TestCompactDropsRecordsExpiredSinceLastMerge(t *testing.T) {
	mem := vfs.NewMem()
	db, err := Open("/db", smallFileOpts(mem))
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	for i := 0; i < 10; i++ {
		k := fmt.Sprintf("keep-%d", i)
		require.NoError(t, db.Put([]byte(k), []byte("v")))
		k = fmt.Sprintf("ttl-%d", i)
		require.NoError(t, db.PutWithTTL([]byte(k), []byte("v"), 500*time.Millisecond))
	}
	expires := time.Now().Add(500 * time.Millisecond)
	require.NoError(t, db.Compact()) // nothing expired yet: all 20 copied
	require.Equal(t, 20, db.Stats().Keys)
	require.Len(t, db.sealedFiles(), 1)
	time.Sleep(time.Until(expires) + 20*time.Millisecond)
	_, err = db.Get([]byte("ttl-0"))
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, db.Compact())
	st := db.Stats()
	require.Equal(t, 10, st.Keys, "Compact left the expired keys in the keydir")
	var dead int64
	for _, f := range st.Files {
		dead += f.Dead
	}
	require.Zero(t, dead, "Compact left dead bytes")
}

// TestCloseStopsMergeOfLargeRecords: Compact documents that Close
// makes it return an error wrapping compaction.ErrStopped, and Close is
// meant to stop a merge in progress. Run looks at its Stop channel only
// every 4096 records, so a merge of fewer (large) records copies every
// byte of its inputs after Close asked it to stop, and Close waits for
// all of it; Compact then fails with ErrClosed from the log sync instead.
func TestCloseStopsMergeOfLargeRecords(t *testing.T) {
	mem := vfs.NewMem()
	opts := Options{FS: mem, MaxFileSize: 1 << 20, DisableAutoCompaction: true, DisableCompression: true}
	db, err := Open("/db", opts)
	require.NoError(t, err)
	big := make([]byte, 60<<10)
	for i := 0; i < 100; i++ {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%03d", i)), big))
	}
	var writesAfterStop atomic.Int64
	var stopped atomic.Bool
	mem.SetOpHook(func(op vfs.MemOp) error {
		if op.Kind == vfs.OpCreate && strings.HasSuffix(op.Path, ".data"+compaction.TmpSuffix) && !stopped.Load() {
			<-db.compStop // hold the merge until Close has asked it to stop
			stopped.Store(true)
		}
		if stopped.Load() && op.Kind == vfs.OpWrite && strings.HasSuffix(op.Path, compaction.TmpSuffix) {
			writesAfterStop.Add(1)
		}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- db.Compact() }()
	for !db.st.merging.Load() {
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, db.Close())
	err = <-done
	mem.SetOpHook(nil)
	t.Logf("Compact: %v; output writes after the stop request: %d", err, writesAfterStop.Load())
	require.ErrorIs(t, err, compaction.ErrStopped)
}

// TestTTLExpiringAcrossMerges: TTL records that are copied by one
// merge while live and expire before the next, with partial merges in
// random subsets and reopens: once expired, a key never shows an older
// value again.
func TestTTLExpiringAcrossMerges(t *testing.T) {
	for seed := int64(0); seed < 15; seed++ {
		rng := mrand.New(mrand.NewSource(seed))
		mem := vfs.NewMem()
		opts := smallFileOpts(mem)
		db, err := Open("/db", opts)
		require.NoError(t, err)
		type st struct {
			v []byte
			// The record expires at some instant in [expiresLo,
			// expiresHi]: PutWithTTL reads the clock between the two
			// readings the test takes around it. Zero: never.
			expiresLo, expiresHi time.Time
		}
		model := map[string]st{}
		check := func(ctx string, d *DB) {
			for k, s := range model {
				now := time.Now()
				got, err := d.Get([]byte(k))
				expired := !s.expiresHi.IsZero() && now.After(s.expiresHi.Add(time.Millisecond))
				live := s.v != nil && (s.expiresLo.IsZero() || time.Now().Before(s.expiresLo.Add(-time.Millisecond)))
				switch {
				case expired || s.v == nil:
					require.ErrorIs(t, err, ErrNotFound, "%s: key %s (got the model's value: %v)", ctx, k, err == nil && bytes.Equal(got, s.v))
				case live:
					require.NoError(t, err, "%s: key %s", ctx, k)
					require.Equal(t, s.v, got, "%s: key %s", ctx, k)
				default:
					if err == nil {
						require.Equal(t, s.v, got, "%s: key %s", ctx, k)
					} else {
						require.ErrorIs(t, err, ErrNotFound)
					}
				}
			}
		}
		for step := 0; step < 300; step++ {
			ctx := fmt.Sprintf("seed %d step %d", seed, step)
			k := fmt.Sprintf("k%02d", rng.Intn(10))
			switch op := rng.Intn(100); {
			case op < 35:
				v := value(k, step)
				require.NoError(t, db.Put([]byte(k), v))
				model[k] = st{v: v}
			case op < 45:
				require.NoError(t, db.Delete([]byte(k)))
				if _, ok := model[k]; ok {
					model[k] = st{}
				}
			case op < 65:
				v := value(k, step)
				ttl := time.Duration(1+rng.Intn(8)) * time.Millisecond
				before := time.Now()
				require.NoError(t, db.PutWithTTL([]byte(k), v, ttl))
				model[k] = st{v: v, expiresLo: before.Add(ttl), expiresHi: time.Now().Add(ttl)}
			case op < 75:
				require.NoError(t, db.sealActive())
			case op < 92:
				sealed := db.sealedFiles()
				var in []*dataFile
				for _, f := range sealed {
					if rng.Intn(2) == 0 {
						in = append(in, f)
					}
				}
				if len(in) > 0 {
					db.mergeMu.Lock()
					require.NoError(t, db.merge(in, "scenario"))
					db.mergeMu.Unlock()
				}
			case op < 96:
				require.NoError(t, db.Close())
				db, err = Open("/db", opts)
				require.NoError(t, err)
			default:
				img := mem.CrashClone(nil)
				d2, err := Open("/db", smallFileOpts(img))
				require.NoError(t, err)
				check(ctx+" power cut", d2)
				require.NoError(t, d2.Close())
			}
			if rng.Intn(4) == 0 {
				time.Sleep(time.Duration(rng.Intn(3)) * time.Millisecond)
			}
			check(ctx, db)
		}
		require.NoError(t, db.Close())
	}
}

// TestPowerCutDuringRecovery cuts the power before each operation
// of a merge, then again before each operation of the Open that finishes
// (or discards) it: the directory must still open with everything.
func TestPowerCutDuringRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	img, s := mergeImage(t)
	for _, plan := range mergePlans {
		n := countMergeOps(t, img, plan)
		for i := 1; i <= n; i++ {
			fsys := img.CrashClone(nil)
			db, err := Open("/db", smallFileOpts(fsys))
			require.NoError(t, err)
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
			for j := 1; j <= 30; j++ {
				try := crashed.CrashClone(nil)
				base := try.OpCount()
				var cut *vfs.MemFS
				try.SetOpHook(func(op vfs.MemOp) error {
					if op.Seq == base+j && cut == nil {
						cut = try.CrashClone(mrand.New(mrand.NewSource(int64(j))))
					}
					return nil
				})
				db, err := Open("/db", smallFileOpts(try))
				require.NoError(t, err)
				try.SetOpHook(nil)
				require.NoError(t, db.Close())
				if cut == nil {
					break
				}
				ctx := fmt.Sprintf("plan %s, cut before merge op %d, then before recovery op %d", plan, i, j)
				db, err = Open("/db", smallFileOpts(cut))
				require.NoError(t, err, ctx)
				s.check(t, db, ctx)
				require.NoError(t, db.Close())
			}
		}
	}
}
