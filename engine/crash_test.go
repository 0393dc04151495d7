package engine_test

// Process-crash tests: the test binary re-executes itself as a child that
// writes to a directory and reports every acknowledged operation over a
// pipe; the parent SIGKILLs it at a random moment and checks that recovery
// kept what the engine promised. `make crash` runs these with many kills
// (SIMPLEKV_CRASH_KILLS).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/engine"
)

// Environment of a crash child. crashEnvRole is absent in normal runs, and
// TestCrashChildMain then returns at once.
const (
	crashEnvRole  = "SIMPLEKV_CRASH_CHILD" // "sync" or "async"
	crashEnvDir   = "SIMPLEKV_CRASH_DIR"
	crashEnvEpoch = "SIMPLEKV_CRASH_EPOCH" // iteration number: makes values and keys unique
	crashEnvSeed  = "SIMPLEKV_CRASH_SEED"

	crashEnvKills = "SIMPLEKV_CRASH_KILLS"
)

// Shape of the SyncWrites workload.
const (
	crashSyncWriters      = 4
	crashSyncKeysPerGroup = 24
	crashSyncMaxValue     = 2000
)

// Shape of the async workload.
const (
	crashAsyncBuffer   = 64 << 10
	crashAsyncValueLen = 100
)

// Kills per directory: state carries over from kill to kill on one
// directory, and a fresh one is started after this many.
const (
	crashSyncDirKills  = 200
	crashAsyncDirKills = 10
)

// crashSyncOptions are the options of the SyncWrites crash test, child and
// parent alike. The small MaxFileSize makes kills land around rotations too.
func crashSyncOptions() engine.Options {
	return engine.Options{
		SyncWrites:   true,
		MaxFileSize:  64 << 10,
		MaxKeySize:   256,
		MaxValueSize: 4096,
		// The background worker merges often, on top of the child's own
		// Compact calls, so kills land in merges of both kinds.
		CompactionInterval: 10 * time.Millisecond,
	}
}

// crashAsyncOptions flush only when the 64 KiB buffer fills: no timed
// flushes, no background syncs.
func crashAsyncOptions() engine.Options {
	return engine.Options{
		BufferSize:    crashAsyncBuffer,
		FlushInterval: time.Hour,
		SyncInterval:  -1,
	}
}

// crashHash is a process-independent hash (the child and the parent must
// agree on it).
func crashHash(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// crashGenValue derives a value from seed: about one in eight is empty, the
// rest are 1..maxLen bytes, half compressible and half random.
func crashGenValue(seed uint64, maxLen int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	if rng.IntN(8) == 0 {
		return []byte{}
	}
	n := 1 + rng.IntN(maxLen)
	v := make([]byte, n)
	if rng.IntN(2) == 0 {
		pat := []byte(fmt.Sprintf("<%d>", rng.IntN(1000)))
		for i := range v {
			v[i] = pat[i%len(pat)]
		}
		return v
	}
	for i := range v {
		v[i] = byte(rng.Uint32())
	}
	return v
}

// crashSyncKey is key i of writer g.
func crashSyncKey(g, i int) string { return fmt.Sprintf("g%d-k%02d", g, i) }

// crashSyncValue is the value version ver of key written in epoch.
func crashSyncValue(key string, epoch, ver int) []byte {
	return crashGenValue(crashHash(key, strconv.Itoa(epoch), strconv.Itoa(ver)), crashSyncMaxValue)
}

// crashAsyncKey is the n-th key written in epoch.
func crashAsyncKey(epoch, n int) string { return fmt.Sprintf("e%03d-k_%d", epoch, n) }

// crashAsyncValue is an incompressible crashAsyncValueLen-byte value.
func crashAsyncValue(key string) []byte {
	s := crashHash(key)
	rng := rand.New(rand.NewPCG(s, ^s))
	v := make([]byte, crashAsyncValueLen)
	for i := range v {
		v[i] = byte(rng.Uint32())
	}
	return v
}

// crashAckWriter writes protocol lines to the parent, one write(2) per line
// so that a kill never leaves a line half-written.
type crashAckWriter struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte
}

func (w *crashAckWriter) line(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = fmt.Appendf(w.buf[:0], format, args...)
	w.buf = append(w.buf, '\n')
	if _, err := w.f.Write(w.buf); err != nil {
		os.Exit(4) // the parent is gone
	}
}

// fail reports err to the parent and exits; the parent fails the test.
func (w *crashAckWriter) fail(err error) {
	w.line("E %s", strings.ReplaceAll(err.Error(), "\n", " | "))
	os.Exit(2)
}

// TestCrashChildMain is the body of a crash child. Without crashEnvRole in
// the environment (every normal run) it returns immediately. As a child it
// never returns: it writes until the parent kills it.
func TestCrashChildMain(t *testing.T) {
	role := os.Getenv(crashEnvRole)
	if role == "" {
		return
	}
	engine.UseBackgroundHints()
	// Never outlive a parent that died without killing us.
	time.AfterFunc(2*time.Minute, func() { os.Exit(3) })
	out := &crashAckWriter{f: os.NewFile(3, "crash-acks")}
	dir := os.Getenv(crashEnvDir)
	epoch, err := strconv.Atoi(os.Getenv(crashEnvEpoch))
	if err != nil {
		out.fail(err)
	}
	seed, err := strconv.ParseUint(os.Getenv(crashEnvSeed), 10, 64)
	if err != nil {
		out.fail(err)
	}
	switch role {
	case "sync":
		crashChildSync(out, dir, epoch, seed)
	case "async":
		crashChildAsync(out, dir, epoch)
	default:
		out.fail(fmt.Errorf("unknown crash child role %q", role))
	}
}

// crashChildSync runs crashSyncWriters writers on disjoint keys. Each op is
// announced ("I key ver P|D") before it is issued and acknowledged
// ("A key ver") after it returned nil.
func crashChildSync(out *crashAckWriter, dir string, epoch int, seed uint64) {
	db, err := engine.Open(dir, crashSyncOptions())
	if err != nil {
		out.fail(err)
	}
	out.line("R")
	// Full merges, one after another with short pauses, each announced
	// ("C") and reported done ("c"), so the parent can aim kills at them.
	go func() {
		rng := rand.New(rand.NewPCG(seed, uint64(epoch)<<8|0xff))
		for {
			out.line("C")
			if err := db.Compact(); err != nil {
				out.fail(fmt.Errorf("compact: %w", err))
			}
			out.line("c")
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		}
	}()
	go crashChildBatches(out, db, epoch, seed)
	for g := range crashSyncWriters {
		go func() {
			rng := rand.New(rand.NewPCG(seed, uint64(epoch)<<8|uint64(g)))
			for ver := 1; ; ver++ {
				key := crashSyncKey(g, rng.IntN(crashSyncKeysPerGroup))
				var err error
				if rng.IntN(5) == 0 {
					out.line("I %s %d D", key, ver)
					err = db.Delete([]byte(key))
				} else {
					out.line("I %s %d P", key, ver)
					err = db.Put([]byte(key), crashSyncValue(key, epoch, ver))
				}
				if err != nil {
					out.fail(fmt.Errorf("writer %d, %s version %d: %w", g, key, ver, err))
				}
				out.line("A %s %d", key, ver)
			}
		}()
	}
	select {}
}

// crashChildBatches writes batches over the keys of group crashSyncWriters,
// its own: batch ver puts (or deletes) keys 0..k-1 of the group, for k from
// 1 to all of them (tens of KiB, sometimes more than a data file). It
// announces the batch ("W ver k"), then each op ("I key ver P|D"), calls
// Write, and acknowledges each op ("A key ver").
func crashChildBatches(out *crashAckWriter, db *engine.DB, epoch int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(epoch)<<8|0xfe))
	b := db.NewBatch()
	for ver := 1; ; ver++ {
		k := []int{1, 2, 8, crashSyncKeysPerGroup}[rng.IntN(4)]
		del := rng.IntN(5) == 0
		out.line("W %d %d", ver, k)
		b.Reset()
		for i := range k {
			key := crashSyncKey(crashSyncWriters, i)
			if del {
				out.line("I %s %d D", key, ver)
				b.Delete([]byte(key))
			} else {
				out.line("I %s %d P", key, ver)
				b.Put([]byte(key), crashSyncValue(key, epoch, ver))
			}
		}
		if err := db.Write(b); err != nil {
			out.fail(fmt.Errorf("batch version %d: %w", ver, err))
		}
		for i := range k {
			out.line("A %s %d", crashSyncKey(crashSyncWriters, i), ver)
		}
	}
}

// crashChildAsync writes unique keys 0, 1, 2, ... of epoch from one
// goroutine and acknowledges each ("A n"). About one write in four is a
// batch of the next 2 to 1000 keys (up to about twice the write buffer),
// announced first ("B n k": keys n..n+k-1) and acknowledged key by key
// once Write returned.
func crashChildAsync(out *crashAckWriter, dir string, epoch int) {
	db, err := engine.Open(dir, crashAsyncOptions())
	if err != nil {
		out.fail(err)
	}
	out.line("R")
	rng := rand.New(rand.NewPCG(uint64(epoch), 0xba))
	b := db.NewBatch()
	for n := 0; ; {
		if rng.IntN(4) != 0 {
			key := crashAsyncKey(epoch, n)
			if err := db.Put([]byte(key), crashAsyncValue(key)); err != nil {
				out.fail(fmt.Errorf("put %s: %w", key, err))
			}
			out.line("A %d", n)
			n++
			continue
		}
		k := []int{2, 10, 100, 1000}[rng.IntN(4)]
		out.line("B %d %d", n, k)
		b.Reset()
		for i := n; i < n+k; i++ {
			key := crashAsyncKey(epoch, i)
			b.Put([]byte(key), crashAsyncValue(key))
		}
		if err := db.Write(b); err != nil {
			out.fail(fmt.Errorf("batch of keys %d..%d: %w", n, n+k-1, err))
		}
		for i := n; i < n+k; i++ {
			out.line("A %d", i)
		}
		n += k
	}
}

// crashKills is the number of kills: SIMPLEKV_CRASH_KILLS if set, else def
// (short in -short mode).
func crashKills(t *testing.T, def, short int) int {
	if s := os.Getenv(crashEnvKills); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "%s=%q", crashEnvKills, s)
		require.Positive(t, n, "%s", crashEnvKills)
		return n
	}
	if testing.Short() {
		return short
	}
	return def
}

// crashSeed returns a fresh seed (or SIMPLEKV_TEST_SEED), logged so that a
// failure's workload can be replayed. Kill timing and goroutine scheduling
// are not reproducible; the seeded choices are.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SIMPLEKV_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		seed = v
	}
	t.Logf("seed %d (set SIMPLEKV_TEST_SEED to reuse it)", seed)
	return seed
}

// crashRunChild starts a child of role on dir, waits for it to report ready,
// SIGKILLs it delay later and returns every complete protocol line it wrote
// after the ready line.
//
// If killOn is not empty, the delay starts when the child writes that line
// (the first time after ready) instead of at ready.
func crashRunChild(t *testing.T, role, dir string, epoch int, seed uint64, delay time.Duration, killOn string) []string {
	t.Helper()
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChildMain$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		crashEnvRole+"="+role,
		crashEnvDir+"="+dir,
		crashEnvEpoch+"="+strconv.Itoa(epoch),
		crashEnvSeed+"="+strconv.FormatUint(seed, 10),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.ExtraFiles = []*os.File{pw}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		require.NoError(t, err)
	}

	ready := make(chan struct{})
	done := make(chan []string, 1)
	go func() {
		defer pr.Close()
		var lines []string
		br := bufio.NewReaderSize(pr, 1<<16)
		sawReady, sawKillOn := false, false
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				break // EOF; a partial last line is an op that was never issued
			}
			l = l[:len(l)-1]
			if !sawReady && l == "R" {
				sawReady = true
				if killOn == "" {
					close(ready)
				}
				continue
			}
			if sawReady && !sawKillOn && killOn != "" && l == killOn {
				sawKillOn = true
				close(ready)
			}
			lines = append(lines, l)
		}
		if !sawReady || (killOn != "" && !sawKillOn) {
			close(ready) // let the parent see the child is gone
		}
		done <- lines
	}()

	var lines []string
	select {
	case <-ready:
		time.Sleep(delay)
		_ = cmd.Process.Kill() // fails only if the child already exited; Wait tells
		err = cmd.Wait()
		lines = <-done
	case lines = <-done:
		err = cmd.Wait()
		require.Failf(t, "crash child exited before it was ready",
			"exit: %v\nlines: %q\nstdout:\n%s\nstderr:\n%s", err, lines, stdout.String(), stderr.String())
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		require.FailNow(t, "crash child never became ready", "stderr:\n%s", stderr.String())
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "E ") {
			require.FailNow(t, "crash child failed", "%s\nstderr:\n%s", l[2:], stderr.String())
		}
	}
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "child wait: %v", err)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL,
		"child was not killed by us: %v\nstderr:\n%s", err, stderr.String())
	return lines
}

// crashMergeLeftovers reports whether dir holds the remains of a merge cut
// short: temporary outputs or a commit journal.
func crashMergeLeftovers(t *testing.T, dir string) bool {
	names, err := os.ReadDir(filepath.Join(dir, "last_state"))
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	require.NoError(t, err)
	for _, e := range names {
		if strings.HasSuffix(e.Name(), compaction.TmpSuffix) || e.Name() == compaction.JournalName {
			return true
		}
	}
	return false
}

// crashState is the state of a key: absent, or the value written by op ver
// of epoch.
type crashState struct {
	present    bool
	epoch, ver int
}

func (s crashState) String() string {
	if !s.present {
		return "absent"
	}
	return fmt.Sprintf("value of epoch %d version %d", s.epoch, s.ver)
}

// crashMatches reports whether the value read (nil for absent) is state s.
func crashMatches(key string, got []byte, s crashState) bool {
	if !s.present {
		return got == nil
	}
	return got != nil && bytes.Equal(got, crashSyncValue(key, s.epoch, s.ver))
}

// crashGet reads key: nil if absent.
func crashGet(t *testing.T, db *engine.DB, key string) []byte {
	t.Helper()
	v, err := db.Get([]byte(key))
	if errors.Is(err, engine.ErrNotFound) {
		return nil
	}
	require.NoError(t, err, "get %q", key)
	require.NotNil(t, v, "get %q returned a nil value without an error", key)
	return v
}

// TestCrashSyncWrites SIGKILLs a SyncWrites child over and over on the same
// directory (a fresh one every crashSyncDirKills kills), the state carrying
// over from kill to kill. After each kill, every key must hold the result of
// its last acknowledged op, or of the one op that was in flight after it,
// and no other key may exist.
func TestCrashSyncWrites(t *testing.T) {
	kills := crashKills(t, 100, 15)
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	base := t.TempDir()
	t.Logf("%d kills under %s", kills, base)

	var (
		dir   string
		model map[string]crashState // carries over from kill to kill
	)
	var keys []string
	for g := range crashSyncWriters + 1 { // the last group is the batches'
		for i := range crashSyncKeysPerGroup {
			keys = append(keys, crashSyncKey(g, i))
		}
	}
	var totalAcked, totalLanded, totalInFlight, killsInMerge, killsWithLeftovers, batchesLanded int
	var totalTorn int64
	for epoch := range kills {
		if epoch%crashSyncDirKills == 0 {
			// Start afresh now and then, so a long run (make crash) also
			// covers young directories.
			dir = filepath.Join(base, strconv.Itoa(epoch))
			model = map[string]crashState{}
			t.Logf("kill %d: starting on a fresh directory %s", epoch, dir)
		}
		delay := time.Duration(5+rng.IntN(146)) * time.Millisecond
		killOn := ""
		if epoch%2 == 1 {
			// Aim at a merge: kill 0-4 ms after the child starts one.
			killOn, delay = "C", time.Duration(rng.IntN(4000))*time.Microsecond
		}
		lines := crashRunChild(t, "sync", dir, epoch, seed, delay, killOn)
		inMerge := false
		ops := lines[:0:0]
		lastBatch, lastBatchLen := 0, 0 // the last batch announced ("W ver k")
		for _, l := range lines {
			switch {
			case l == "C":
				inMerge = true
			case l == "c":
				inMerge = false
			case strings.HasPrefix(l, "W "):
				_, err := fmt.Sscanf(l, "W %d %d", &lastBatch, &lastBatchLen)
				require.NoError(t, err, "bad line %q", l)
			default:
				ops = append(ops, l)
			}
		}
		lines = ops
		if inMerge {
			killsInMerge++
		}
		if crashMergeLeftovers(t, dir) {
			killsWithLeftovers++
		}

		// Replay the protocol: the last acked op and the op in flight
		// after it, per key.
		type op struct {
			ver int
			del bool
		}
		issued := map[string]op{}
		acked := map[string]crashState{}
		nAcked := 0
		for _, l := range lines {
			f := strings.Fields(l)
			require.True(t, len(f) >= 3, "bad line %q", l)
			ver, err := strconv.Atoi(f[2])
			require.NoError(t, err, "bad line %q", l)
			key := f[1]
			switch f[0] {
			case "I":
				require.Len(t, f, 4, "bad line %q", l)
				issued[key] = op{ver: ver, del: f[3] == "D"}
			case "A":
				o, ok := issued[key]
				require.True(t, ok && o.ver == ver, "ack %q without its issue line", l)
				acked[key] = crashState{present: !o.del, epoch: epoch, ver: ver}
				nAcked++
			default:
				require.Failf(t, "bad line", "%q", l)
			}
		}
		inFlight := map[string]crashState{}
		for key, o := range issued {
			if a, ok := acked[key]; !ok || a.ver < o.ver {
				inFlight[key] = crashState{present: !o.del, epoch: epoch, ver: o.ver}
			}
		}
		before := maps.Clone(model) // each key's state before this run
		for key, s := range acked {
			model[key] = s
		}

		db, err := engine.Open(dir, crashSyncOptions())
		require.NoError(t, err, "open after kill %d", epoch)
		st := db.Stats()
		present, landed := 0, 0
		for _, key := range keys {
			got := crashGet(t, db, key)
			want := model[key]
			switch {
			case crashMatches(key, got, want):
			case inFlight[key] != (crashState{}) && crashMatches(key, got, inFlight[key]):
				model[key] = inFlight[key]
				landed++
			default:
				f, ok := inFlight[key]
				// Say which op of this run the value came from, if any.
				var hist []string
				from := "no op of this run"
				for _, l := range lines {
					if f := strings.Fields(l); f[1] == key {
						hist = append(hist, l)
						if v, _ := strconv.Atoi(f[2]); f[0] == "I" && got != nil &&
							crashMatches(key, got, crashState{present: true, epoch: epoch, ver: v}) {
							from = "op " + f[2]
						}
					}
				}
				t.Logf("ops on %s in run %d (I = issued, A = acked): %q; the value read is from %s", key, epoch, hist, from)
				require.Failf(t, "acknowledged write lost",
					"kill %d (delay %v): key %s holds %d bytes (present %v); want %v, or the in-flight op (%v: %v)",
					epoch, delay, key, len(got), got != nil, want, ok, f)
			}
			if got != nil {
				present++
			}
		}
		require.Equal(t, present, st.Keys, "kill %d: live keys in Stats", epoch)
		require.GreaterOrEqual(t, st.TornBytes, int64(0))
		// The last batch is there whole or not at all. The per-key checks
		// above allow either state for each key alone; here all of its
		// keys must hold the batch's op, or (if Write never returned)
		// all of them the state from before it.
		if lastBatch > 0 {
			whole, none, returned := true, true, false
			for i := range lastBatchLen {
				key := crashSyncKey(crashSyncWriters, i)
				o, ok := issued[key]
				if !ok || o.ver != lastBatch {
					whole, none = false, false // announced, never issued: Write was not called
					break
				}
				got := crashGet(t, db, key)
				whole = whole && crashMatches(key, got, crashState{present: !o.del, epoch: epoch, ver: lastBatch})
				prev, ok := acked[key] // an earlier batch of this run
				if !ok || prev.ver == lastBatch {
					prev = before[key]
				}
				none = none && crashMatches(key, got, prev)
				returned = returned || acked[key].ver == lastBatch
			}
			if issued[crashSyncKey(crashSyncWriters, lastBatchLen-1)].ver == lastBatch {
				require.True(t, whole || (none && !returned),
					"kill %d: batch %d of %d ops is neither whole nor absent (Write returned: %v)", epoch, lastBatch, lastBatchLen, returned)
				if whole {
					batchesLanded++
				}
			}
		}
		require.NoError(t, db.Close())

		totalAcked += nAcked
		totalLanded += landed
		totalInFlight += len(inFlight)
		totalTorn += st.TornBytes
		t.Logf("kill %d after %v: %d ops acked, %d in flight (%d of them survived), %d live keys, %d data files, recovered %d records, torn bytes %d",
			epoch, delay, nAcked, len(inFlight), landed, present, st.DataFiles, st.RecoveredRecords, st.TornBytes)
	}
	t.Logf("%d kills: %d ops acked, %d in flight at a kill (%d survived), %d torn bytes truncated in total",
		kills, totalAcked, totalInFlight, totalLanded, totalTorn)
	t.Logf("%d kills during a Compact call; %d left an unfinished merge on disk (temporary outputs or a journal)",
		killsInMerge, killsWithLeftovers)
	require.Positive(t, totalAcked, "the children acknowledged nothing: the test checked nothing")
	require.Positive(t, batchesLanded, "no batch ever survived a kill: the batch check checked nothing")
}

// TestCrashAsyncLossBound SIGKILLs a non-synced child writing unique keys.
// With only buffer-full flushes, the survivors of each run must be a prefix
// of the acknowledged sequence (never an older record lost while a newer one
// is kept), and the acknowledged records lost must fit in the 64 KiB buffer:
// the README's "with sync_writes off, a process crash loses at most
// BufferSize bytes of the newest acknowledged records".
func TestCrashAsyncLossBound(t *testing.T) {
	kills := crashKills(t, 20, 5)
	if os.Getenv(crashEnvKills) != "" {
		kills = max(1, kills/3)
	}
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	base := t.TempDir()
	t.Logf("%d kills under %s", kills, base)

	var (
		dir                string
		survived           int      // keys of earlier kills on dir, all of which must stay
		earlier            []string // a sample of them to re-read
		maxLost, totalLost int64    // encoded bytes of acked records lost
		totalSurvived      int
	)
	for epoch := range kills {
		if epoch%crashAsyncDirKills == 0 {
			// Each kill adds up to a few MB: start afresh now and then so
			// that long runs (make crash) stay linear.
			dir = filepath.Join(base, strconv.Itoa(epoch))
			survived, earlier = 0, nil
			t.Logf("kill %d: starting on a fresh directory %s", epoch, dir)
		}
		delay := time.Duration(5+rng.IntN(146)) * time.Millisecond
		lines := crashRunChild(t, "async", dir, epoch, seed, delay, "")
		acked := 0
		var batches [][2]int // keys [start, end) written as one batch
		for _, l := range lines {
			if strings.HasPrefix(l, "B ") {
				var start, k int
				_, err := fmt.Sscanf(l, "B %d %d", &start, &k)
				require.NoError(t, err, "bad line %q", l)
				require.Equal(t, acked, start, "a batch starts at the next key")
				batches = append(batches, [2]int{start, start + k})
				continue
			}
			require.Equal(t, fmt.Sprintf("A %d", acked), l, "acks must arrive in order")
			acked++
		}

		db, err := engine.Open(dir, crashAsyncOptions())
		require.NoError(t, err, "open after kill %d", epoch)
		st := db.Stats()
		// Keys up to issued-1 may have been written: the one after the
		// last acked, or the rest of a batch whose acks were cut short.
		issued := acked + 1
		if len(batches) > 0 {
			issued = max(issued, batches[len(batches)-1][1])
		}
		// m is the number of survivors: keys 0..m-1.
		m := 0
		for ; m < issued; m++ {
			key := crashAsyncKey(epoch, m)
			got := crashGet(t, db, key)
			if got == nil {
				break
			}
			require.Equal(t, crashAsyncValue(key), got, "kill %d: %s survived with the wrong value", epoch, key)
		}
		for n := m + 1; n <= issued+1; n++ {
			require.Nil(t, crashGet(t, db, crashAsyncKey(epoch, n)),
				"kill %d: key %d survived although key %d (acked) was lost: a hole", epoch, n, m)
		}
		for _, key := range earlier {
			require.Equal(t, crashAsyncValue(key), crashGet(t, db, key), "kill %d: %s from an earlier run changed", epoch, key)
		}
		for _, bt := range batches {
			require.False(t, bt[0] < m && m < bt[1],
				"kill %d: keys %d..%d were one batch, and only %d..%d survived: part of a batch", epoch, bt[0], bt[1]-1, bt[0], m-1)
		}
		require.Equal(t, survived+m, st.Keys, "kill %d: live keys (earlier survivors + this run's prefix)", epoch)
		require.NoError(t, db.Close())

		var lost int64
		for n := m; n < acked; n++ {
			// The smallest header: a lower bound on the bytes lost.
			lost += int64(datafile.MinRecordHeaderSize + len(crashAsyncKey(epoch, n)) + crashAsyncValueLen)
		}
		require.LessOrEqual(t, lost, int64(crashAsyncBuffer),
			"kill %d: lost %d acked records (%d bytes), more than the %d-byte buffer", epoch, acked-m, lost, crashAsyncBuffer)
		maxLost = max(maxLost, lost)
		totalLost += lost
		t.Logf("kill %d after %v: %d acked, %d survived, %d acked records lost (%d bytes of %d), torn bytes %d",
			epoch, delay, acked, m, max(0, acked-m), lost, crashAsyncBuffer, st.TornBytes)

		survived += m
		totalSurvived += m
		for range 20 {
			if m > 0 {
				earlier = append(earlier, crashAsyncKey(epoch, rng.IntN(m)))
			}
		}
	}
	t.Logf("%d kills: %d keys survived; lost at most %d bytes of acked records in one kill, %d in total", kills, totalSurvived, maxLost, totalLost)
	require.Positive(t, totalSurvived, "nothing ever survived: the test checked nothing")
}
