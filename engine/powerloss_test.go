package engine_test

// Power-loss tests on the in-memory filesystem: writers run against a
// vfs.MemFS while an op hook takes CrashClones at random (seeded) points
// between filesystem operations; each clone is what a power cut would have
// left, and it must open and hold everything that was acknowledged as
// durable before the clone was taken.

import (
	"errors"
	"fmt"
	mrand "math/rand"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/internal/vfs"
)

const plDir = "/db"

// plValue is version ver of key's value (empty for about one in eight).
func plValue(key string, ver int) []byte {
	return crashGenValue(crashHash("pl", key, fmt.Sprint(ver)), 600)
}

// plHistory is what the writers did to one key: ops[v-1] is op version v
// (true for a delete), acked the last acknowledged version (0: none).
type plHistory struct {
	ops   []bool
	acked int
}

// plModel tracks every key's history. Writers append an op before issuing
// it and acknowledge it after it returns nil, under mu.
type plModel struct {
	mu   sync.Mutex
	keys map[string]*plHistory
}

func (m *plModel) issue(key string, del bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.keys[key]
	h.ops = append(h.ops, del)
	return len(h.ops)
}

func (m *plModel) ack(key string, ver int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[key].acked = ver
}

// ackedSnapshot returns the last acknowledged version of every key.
func (m *plModel) ackedSnapshot() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(m.keys))
	for k, h := range m.keys {
		out[k] = h.acked
	}
	return out
}

// issuedSnapshot returns every key's ops issued so far.
func (m *plModel) issuedSnapshot() map[string][]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]bool, len(m.keys))
	for k, h := range m.keys {
		out[k] = slices.Clone(h.ops)
	}
	return out
}

// plJob is one crash clone to verify.
type plJob struct {
	n      int // clone number
	op     vfs.MemOp
	torn   bool // cloned with an rng: unsynced appends partly kept
	fs     *vfs.MemFS
	acked  map[string]int    // acked versions before the clone
	issued map[string][]bool // ops issued by the time the clone was complete
	// Async test: keys 0..synced-1 were covered by a Sync that returned
	// before the clone; keys up to issuedN-1 had been issued after it.
	synced, ackedN, issuedN int
}

// plCloner installs a MemFS op hook that takes a CrashClone before a random
// op every 1..gap ops (and before every op that always(op) selects), until
// target clones were taken. snap builds the job from the model: before (the
// acked state) runs just before CrashClone and after (the issued state) just
// after it.
type plCloner struct {
	fs      *vfs.MemFS
	rng     *rand.Rand
	gap     int
	target  int
	always  func(vfs.MemOp) bool
	before  func(*plJob)
	after   func(*plJob)
	jobs    chan plJob
	quit    chan struct{}
	mu      sync.Mutex // serializes clones; guards the fields below
	next    int
	taken   int
	stopped atomic.Bool
	kinds   map[vfs.OpKind]int
}

func plStartCloner(t *testing.T, fsys *vfs.MemFS, seed uint64, gap, target int) *plCloner {
	c := &plCloner{
		fs: fsys, rng: rand.New(rand.NewPCG(seed, 7)), gap: gap, target: target,
		jobs: make(chan plJob, 2), quit: make(chan struct{}), kinds: map[vfs.OpKind]int{},
		always: func(vfs.MemOp) bool { return false },
		before: func(*plJob) {}, after: func(*plJob) {},
	}
	c.next = 1 + c.rng.IntN(gap)
	t.Cleanup(func() {
		close(c.quit)
		c.stop()
	})
	fsys.SetOpHook(c.hook)
	return c
}

func (c *plCloner) hook(op vfs.MemOp) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped.Load() || (op.Seq < c.next && !c.always(op)) {
		return nil
	}
	c.next = op.Seq + 1 + c.rng.IntN(c.gap)
	job := plJob{n: c.taken, op: op, torn: c.rng.IntN(2) == 0}
	var rng *mrand.Rand
	if job.torn {
		rng = mrand.New(mrand.NewSource(int64(c.rng.Uint64())))
	}
	c.before(&job)
	job.fs = c.fs.CrashClone(rng)
	c.after(&job)
	c.taken++
	c.kinds[op.Kind]++
	if c.taken >= c.target {
		c.stopped.Store(true)
	}
	select {
	case c.jobs <- job:
	case <-c.quit:
	}
	return nil
}

// stop ends cloning (for example after a writer failed).
func (c *plCloner) stop() {
	c.mu.Lock()
	c.stopped.Store(true)
	c.mu.Unlock()
}

// plRunSyncWriters opens the DB and runs writers goroutines on disjoint keys
// (keys per writer, already in m) until the cloner has taken its clones,
// then closes the DB and the job channel. It returns at once (Open's own
// filesystem ops are cloned too, so the caller must be consuming jobs); the
// returned function reports the first Open, writer or Close error.
func plRunSyncWriters(opts engine.Options, m *plModel, c *plCloner, seed uint64, writers, keys int) func() error {
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	setErr := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	db, openErr := (*engine.DB)(nil), error(nil)
	opened := make(chan struct{})
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-opened
			if openErr != nil {
				return
			}
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			for n := 0; !c.stopped.Load(); n++ {
				if n == 200_000 {
					setErr(fmt.Errorf("writer %d: %d ops and the cloner is not done", g, n))
					c.stop()
					return
				}
				key := fmt.Sprintf("w%d-k%02d", g, rng.IntN(keys))
				del := rng.IntN(5) == 0
				ver := m.issue(key, del)
				var err error
				if del {
					err = db.Delete([]byte(key))
				} else {
					err = db.Put([]byte(key), plValue(key, ver))
				}
				if err != nil {
					setErr(fmt.Errorf("writer %d: %s version %d: %w", g, key, ver, err))
					c.stop()
					return
				}
				m.ack(key, ver)
				// The key is this writer's: a read must see the op.
				got, err := db.Get([]byte(key))
				if errors.Is(err, engine.ErrNotFound) {
					got, err = nil, nil
				}
				if err != nil || (got == nil) != del || (!del && string(got) != string(plValue(key, ver))) {
					setErr(fmt.Errorf("writer %d: get %s right after acked version %d (delete %v): %d bytes, %v",
						g, key, ver, del, len(got), err))
					c.stop()
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		db, openErr = engine.Open(plDir, opts)
		if openErr != nil {
			setErr(fmt.Errorf("open: %w", openErr))
			c.stop()
		}
		close(opened)
		wg.Wait()
		if db != nil {
			if err := db.Close(); err != nil {
				setErr(fmt.Errorf("close: %w", err))
			}
		}
		c.stop()
		close(c.jobs)
		close(done)
	}()
	return func() error {
		<-done
		errMu.Lock()
		defer errMu.Unlock()
		return firstErr
	}
}

// plStateOK reports whether got (nil: absent) is the state of key after op
// version v of ops (v = 0: before any op, absent).
func plStateOK(key string, got []byte, ops []bool, v int) bool {
	if v == 0 || ops[v-1] {
		return got == nil
	}
	return got != nil && string(got) == string(plValue(key, v))
}

// plGet reads key from db: nil if absent.
func plGet(t *testing.T, db *engine.DB, key string) []byte {
	t.Helper()
	v, err := db.Get([]byte(key))
	if errors.Is(err, engine.ErrNotFound) {
		return nil
	}
	require.NoError(t, err, "get %q", key)
	require.NotNil(t, v, "get %q: nil value without an error", key)
	return v
}

// plVerifySync opens a clone and checks that every key holds its last
// version acked before the clone, or a version issued after it.
func plVerifySync(t *testing.T, job plJob, opts engine.Options, reopen bool) engine.Stats {
	t.Helper()
	what := fmt.Sprintf("clone %d (before op %d %s %s, torn=%v)", job.n, job.op.Seq, job.op.Kind, job.op.Path, job.torn)
	opts.FS = job.fs
	db, err := engine.Open(plDir, opts)
	require.NoError(t, err, "%s: open", what)
	st := db.Stats()
	state := map[string][]byte{}
	for key, ops := range job.issued {
		got := plGet(t, db, key)
		acked := job.acked[key]
		ok := false
		for v := acked; v <= len(ops) && !ok; v++ {
			ok = plStateOK(key, got, ops, v)
		}
		require.True(t, ok, "%s: key %s holds %d bytes (present %v): not the state after acked version %d nor after a later one (issued up to %d)",
			what, key, len(got), got != nil, acked, len(ops))
		if got != nil {
			state[key] = got
		}
	}
	require.Equal(t, len(state), st.Keys, "%s: live keys", what)
	if !reopen {
		require.NoError(t, db.Close())
		return st
	}
	// The recovered DB takes writes, and they and the recovered state
	// survive a clean reopen.
	require.NoError(t, db.Put([]byte("after-recovery"), []byte(what)), "%s", what)
	require.NoError(t, db.Close())
	db, err = engine.Open(plDir, opts)
	require.NoError(t, err, "%s: reopen after recovery", what)
	require.Zero(t, db.Stats().TornBytes, "%s: torn bytes after a clean close", what)
	require.Equal(t, []byte(what), plGet(t, db, "after-recovery"))
	for key := range job.issued {
		require.Equal(t, state[key], plGet(t, db, key), "%s: key %s changed across a clean reopen", what, key)
	}
	require.Equal(t, len(state)+1, db.Stats().Keys, "%s: live keys after reopen", what)
	require.NoError(t, db.Close())
	return st
}

// plRunSync is the SyncWrites power-loss scenario shared by
// TestPowerLossSyncWrites and TestPowerLossRotation.
func plRunSync(t *testing.T, opts engine.Options, writers, keys, gap, target int, always func(vfs.MemOp) bool) *plCloner {
	seed := crashSeed(t)
	fsys := vfs.NewMem()
	m := &plModel{keys: map[string]*plHistory{}}
	c := plStartCloner(t, fsys, seed, gap, target)
	if always != nil {
		c.always = always
	}
	c.before = func(j *plJob) { j.acked = m.ackedSnapshot() }
	c.after = func(j *plJob) { j.issued = m.issuedSnapshot() }
	opts.FS = fsys
	opts.SyncWrites = true
	// The model must be complete before the first clone: Open's own ops
	// are hooked too.
	for g := range writers {
		for i := range keys {
			m.keys[fmt.Sprintf("w%d-k%02d", g, i)] = &plHistory{}
		}
	}
	wait := plRunSyncWriters(opts, m, c, seed, writers, keys)

	start := time.Now()
	var torn, tornClones, files int
	for job := range c.jobs {
		st := plVerifySync(t, job, opts, job.n%8 == 0)
		if st.TornBytes > 0 {
			tornClones++
			torn += int(st.TornBytes)
		}
		files = max(files, st.DataFiles)
	}
	require.NoError(t, wait())
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Equal(t, target, c.taken, "clones taken")
	t.Logf("%d clones verified in %v (by op: %v); %d recovered with a torn tail (%d bytes); up to %d data files",
		c.taken, time.Since(start).Round(time.Millisecond), c.kinds, tornClones, torn, files)

	// A clean close keeps everything.
	final := fsys.CrashClone(nil)
	plVerifySync(t, plJob{n: -1, fs: final, acked: m.ackedSnapshot(), issued: m.issuedSnapshot()}, opts, false)
	for key, h := range m.keys {
		require.Equal(t, len(h.ops), h.acked, "%s: every op was acked", key)
	}
	return c
}

// TestPowerLossSyncWrites: with SyncWrites, every op acknowledged before a
// power cut survives it, whatever the cut interrupted.
func TestPowerLossSyncWrites(t *testing.T) {
	target := 300
	if testing.Short() {
		target = 80
	}
	plRunSync(t, engine.Options{}, 4, 16, 8, target, nil)
}

// TestPowerLossRotation cuts power around file rotations (a 4 KiB
// MaxFileSize): before every create, directory sync, remove and truncate
// and every few ops otherwise. Open must succeed and keep every acked op.
func TestPowerLossRotation(t *testing.T) {
	target := 250
	if testing.Short() {
		target = 60
	}
	opts := engine.Options{MaxFileSize: 4096, MaxKeySize: 64, MaxValueSize: 1024}
	c := plRunSync(t, opts, 3, 12, 3, target, func(op vfs.MemOp) bool {
		switch op.Kind {
		case vfs.OpCreate, vfs.OpSyncDir, vfs.OpRemove, vfs.OpTruncate, vfs.OpRename:
			return true
		}
		return false
	})
	require.GreaterOrEqual(t, c.kinds[vfs.OpCreate], target/25, "clones before a data file creation")
	require.GreaterOrEqual(t, c.kinds[vfs.OpSyncDir], target/25, "clones before a directory sync")
}

// plAsyncKey is the n-th key of the async test.
func plAsyncKey(n int) string { return fmt.Sprintf("k_%06d", n) }

// TestPowerLossAsync: without SyncWrites, a power cut keeps every write
// acknowledged before the last successful Sync, and the writes after it that
// survive are a prefix (one writer, unique keys: no holes).
func TestPowerLossAsync(t *testing.T) {
	target := 150
	if testing.Short() {
		target = 40
	}
	for _, tc := range []struct {
		name string
		opts engine.Options
	}{
		{"buffered", engine.Options{BufferSize: 4096, SyncInterval: -1}},
		{"rotating", engine.Options{BufferSize: 1024, SyncInterval: 3 * time.Millisecond,
			MaxFileSize: 4096, MaxKeySize: 64, MaxValueSize: 1024}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := crashSeed(t)
			fsys := vfs.NewMem()
			var (
				mu                      sync.Mutex
				synced, acked, issued   int
				writerErr               error
				lostAfterSync, survived int
			)
			c := plStartCloner(t, fsys, seed, 3, target)
			c.before = func(j *plJob) {
				mu.Lock()
				j.synced, j.ackedN = synced, acked
				mu.Unlock()
			}
			c.after = func(j *plJob) {
				mu.Lock()
				j.issuedN = issued
				mu.Unlock()
			}
			opts := tc.opts
			opts.FS = fsys
			go func() {
				defer close(c.jobs)
				rng := rand.New(rand.NewPCG(seed, 99))
				fail := func(err error) {
					mu.Lock()
					if writerErr == nil {
						writerErr = err
					}
					mu.Unlock()
					c.stop()
				}
				db, err := engine.Open(plDir, opts) // its ops are cloned too
				if err != nil {
					fail(fmt.Errorf("open: %w", err))
					return
				}
				for n := 0; !c.stopped.Load(); n++ {
					if n == 500_000 {
						fail(errors.New("writer: the cloner is not done after 500000 writes"))
						break
					}
					key := plAsyncKey(n)
					mu.Lock()
					issued = n + 1
					mu.Unlock()
					if err := db.Put([]byte(key), plValue(key, 1)); err != nil {
						fail(fmt.Errorf("put %s: %w", key, err))
						break
					}
					mu.Lock()
					acked = n + 1
					mu.Unlock()
					if rng.IntN(16) == 0 {
						if err := db.Sync(); err != nil {
							fail(fmt.Errorf("sync after %s: %w", key, err))
							break
						}
						mu.Lock()
						synced = n + 1
						mu.Unlock()
					}
				}
				if err := db.Close(); err != nil {
					fail(fmt.Errorf("close: %w", err))
				}
			}()

			for job := range c.jobs {
				what := fmt.Sprintf("clone %d (before op %d %s %s, torn=%v; synced %d, acked %d, issued %d)",
					job.n, job.op.Seq, job.op.Kind, job.op.Path, job.torn, job.synced, job.ackedN, job.issuedN)
				o := opts
				o.FS = job.fs
				cdb, err := engine.Open(plDir, o)
				require.NoError(t, err, "%s: open", what)
				m := 0
				for ; m < job.issuedN; m++ {
					key := plAsyncKey(m)
					got := plGet(t, cdb, key)
					if got == nil {
						break
					}
					require.Equal(t, plValue(key, 1), got, "%s: %s", what, key)
				}
				require.GreaterOrEqual(t, m, job.synced, "%s: key %d was synced but is lost", what, m)
				for n := m + 1; n <= job.issuedN; n++ {
					require.Nil(t, plGet(t, cdb, plAsyncKey(n)), "%s: key %d survived but key %d is lost: a hole", what, n, m)
				}
				require.Equal(t, m, cdb.Stats().Keys, "%s: live keys", what)
				require.NoError(t, cdb.Close())
				lostAfterSync += max(0, job.ackedN-m)
				survived += max(0, m-job.synced)
			}
			mu.Lock()
			defer mu.Unlock()
			require.NoError(t, writerErr)
			require.Equal(t, target, c.taken)
			t.Logf("%d clones (by op: %v): %d writes (the last synced one: %d); after the last sync point %d acked writes survived and %d were lost in total",
				c.taken, c.kinds, acked, synced, survived, lostAfterSync)
			require.Positive(t, synced, "no Sync before the clones: nothing was checked")

			// Close syncs: everything survives a cut after it.
			o := opts
			o.FS = fsys.CrashClone(nil)
			cdb, err := engine.Open(plDir, o)
			require.NoError(t, err)
			require.Equal(t, acked, cdb.Stats().Keys, "after Close every acked write is durable")
			require.NoError(t, cdb.Close())
		})
	}
}
