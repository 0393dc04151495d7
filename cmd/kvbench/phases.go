package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/schollz/progressbar/v3"

	"github.com/simplekv/simplekv/engine"
)

// Value versions: fill writes version 1, overwrite version 2. The runner
// remembers which one is live so reads can check every value.
const (
	versionFill      = 1
	versionOverwrite = 2
)

// Latencies are recorded in nanoseconds, 1 ns to 1 minute, 3 significant
// digits.
func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Minute), 3)
}

func record(h *hdrhistogram.Histogram, d time.Duration) {
	// Out-of-range values are clamped: a latency over a minute is a
	// disaster either way, and RecordValue would drop it silently.
	v := max(int64(d), 1)
	v = min(v, h.HighestTrackableValue())
	_ = h.RecordValue(v)
}

// runner runs the phases against one benchmark directory.
type runner struct {
	opts     *Options
	gen      *generator
	errw     io.Writer // progress bars
	progress bool

	root  string // benchmark directory
	dbDir string // the main DB, root/db

	db      *engine.DB
	version uint32 // live version of every key in db; 0 = not filled

	report *Report

	// logReopen holds the figures of the first reopen of the main DB (a
	// replay of its log), which reopen-hints compares with its own.
	logReopen       *openFigures
	logReopenSource string // which row measured it, for notes

	// afterGet, if set, sees every value read-random gets before it is
	// verified (tests use it to corrupt one).
	afterGet func(i uint64, v []byte)
	// beforeReopen, if set, runs between the close and the open of every
	// reopen of the main DB (tests use it to damage hint files).
	beforeReopen func(phase, dir string)
}

func newRunner(o *Options, root string, rep *Report, progressW io.Writer, progress bool) *runner {
	return &runner{
		opts:     o,
		gen:      newGenerator(o),
		errw:     progressW,
		progress: progress,
		root:     root,
		dbDir:    filepath.Join(root, "db"),
		report:   rep,
	}
}

// tracker drives one progress bar from an atomic counter, so the hot loops
// only do a batched atomic add. A nil tracker does nothing.
type tracker struct {
	n    atomic.Int64
	bar  *progressbar.ProgressBar
	stop chan struct{}
	done chan struct{}

	finished bool
}

const progressBatch = 1024

func (r *runner) startProgress(desc string, total int64) *tracker {
	if !r.progress {
		return nil
	}
	if total <= 0 {
		total = -1 // spinner
	}
	t := &tracker{stop: make(chan struct{}), done: make(chan struct{})}
	t.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(r.errw),
		progressbar.OptionSetDescription(fmt.Sprintf("%-12s", desc)),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	go func() {
		defer close(t.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
				_ = t.bar.Set64(t.n.Load())
			}
		}
	}()
	return t
}

func (t *tracker) add(n int64) {
	if t != nil {
		t.n.Add(n)
	}
}

// describe changes the bar's description.
func (t *tracker) describe(desc string) {
	if t != nil {
		t.bar.Describe(fmt.Sprintf("%-12s", desc))
	}
}

// finish stops the bar; later calls do nothing.
func (t *tracker) finish() {
	if t == nil || t.finished {
		return
	}
	t.finished = true
	close(t.stop)
	<-t.done
	_ = t.bar.Set64(t.n.Load())
	_ = t.bar.Finish()
	_ = t.bar.Close()
}

// openMain opens (creating) the main DB.
func (r *runner) openMain() error {
	db, err := engine.Open(r.dbDir, r.opts.engineOptions(false))
	if err != nil {
		return fmt.Errorf("open %s: %w", r.dbDir, err)
	}
	r.db = db
	return nil
}

// closeMain closes the main DB if it is open.
func (r *runner) closeMain() error {
	if r.db == nil {
		return nil
	}
	err := r.db.Close()
	r.db = nil
	return err
}

// run runs the selected phases in canonical order, filling first when a
// selected phase needs a filled DB.
func (r *runner) run(sel map[string]bool) error {
	needFill := sel[phaseReadRandom] || sel[phaseOverwrite] || sel[phaseReopen] || sel[phaseHeapPerKey] || sel[phaseReopenHints]
	if sel[phaseFill] || needFill {
		if err := r.openMain(); err != nil {
			return err
		}
		if err := r.writeAll(phaseFill, versionFill, !sel[phaseFill]); err != nil {
			return err
		}
	}
	if sel[phaseReadRandom] {
		if err := r.readRandom(); err != nil {
			return err
		}
	}
	if sel[phaseOverwrite] {
		if err := r.writeAll(phaseOverwrite, versionOverwrite, false); err != nil {
			return err
		}
	}
	if sel[phaseSync1] {
		if err := r.syncWrites(phaseSync1, 1); err != nil {
			return err
		}
	}
	if sel[phaseSyncN] {
		if err := r.syncWrites(r.opts.syncNName(), r.opts.Writers); err != nil {
			return err
		}
	}
	if sel[phaseReopen] || sel[phaseHeapPerKey] {
		if err := r.reopen(sel[phaseReopen], sel[phaseHeapPerKey]); err != nil {
			return err
		}
	}
	if sel[phaseReopenHints] {
		if err := r.reopenHints(); err != nil {
			return err
		}
	}
	// The main DB is done with: close it so that the compact phase has
	// the machine to itself.
	if err := r.closeMain(); err != nil {
		return fmt.Errorf("close %s: %w", r.dbDir, err)
	}
	if sel[phaseCompact] {
		if err := r.compact(); err != nil {
			return err
		}
	}
	return nil
}

// recordBytes is the user payload of one operation, for MB/s.
func (r *runner) recordBytes() int64 { return int64(r.opts.KeySize + r.opts.ValueSize) }

// writeAll is fill and overwrite: every key once, in a seeded random
// order, from one goroutine, then db.Sync (inside the timed span).
func (r *runner) writeAll(name string, version uint32, prerequisite bool) error {
	n := uint64(r.opts.N)
	p := newPerm(n, r.opts.Seed^uint64(version)*0x5851f42d4c957f2d)
	kb := make([]byte, r.opts.KeySize)
	vb := make([]byte, r.opts.ValueSize)
	h := newHist()
	tr := r.startProgress(name, int64(n))
	before := r.db.Stats()

	start := time.Now()
	for j := range n {
		i := p.at(j)
		k := r.gen.key(kb, i)
		v := r.gen.value(vb, i, version)
		t0 := time.Now()
		err := r.db.Put(k, v)
		record(h, time.Since(t0))
		if err != nil {
			tr.finish()
			return fmt.Errorf("%s: put of index %d: %w", name, i, err)
		}
		if j%progressBatch == progressBatch-1 {
			tr.add(progressBatch)
		}
	}
	syncStart := time.Now()
	err := r.db.Sync()
	syncDur := time.Since(syncStart)
	elapsed := time.Since(start)
	tr.add(int64(n % progressBatch))
	tr.finish()
	if err != nil {
		return fmt.Errorf("%s: sync: %w", name, err)
	}
	r.version = version

	st := r.db.Stats()
	res := newResult(name, int64(n), elapsed, h)
	res.setMBps(int64(n) * r.recordBytes())
	res.Prerequisite = prerequisite
	written := st.BytesWritten - before.BytesWritten
	res.Extra = map[string]float64{
		"sync_ms":       ms(syncDur),
		"bytes_written": float64(written),
		"disk_bytes":    float64(st.DiskBytes),
		"data_files":    float64(st.DataFiles),
	}
	res.Notes = fmt.Sprintf("final Sync %s; wrote %s (%.0f B/rec); disk %s in %d files",
		fmtDur(syncDur), fmtBytes(written), float64(written)/float64(n), fmtBytes(st.DiskBytes), st.DataFiles)
	if prerequisite {
		res.Notes = "prerequisite; " + res.Notes
	}
	return r.report.add(res)
}

// workerFunc is one goroutine of a concurrent phase. It records latencies
// into its own histogram and stops early when stop is set.
type workerFunc func(g int, h *hdrhistogram.Histogram, stop *atomic.Bool) (ops int64, err error)

// runWorkers runs w workers and merges their histograms. The first error
// stops the others and is returned.
func runWorkers(w int, fn workerFunc) (ops int64, h *hdrhistogram.Histogram, elapsed time.Duration, err error) {
	hists := make([]*hdrhistogram.Histogram, w)
	counts := make([]int64, w)
	errs := make([]error, w)
	for g := range w {
		hists[g] = newHist()
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for g := range w {
		wg.Go(func() {
			counts[g], errs[g] = fn(g, hists[g], &stop)
			if errs[g] != nil {
				stop.Store(true)
			}
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	h = hists[0]
	for g := range w {
		ops += counts[g]
		if g > 0 {
			h.Merge(hists[g])
		}
	}
	return ops, h, elapsed, errors.Join(errs...)
}

// readRandom reads random existing keys from opts.Readers goroutines and
// checks every value against the generator.
func (r *runner) readRandom() error {
	n := uint64(r.opts.N)
	total := int64(n)
	var deadline time.Time
	if r.opts.ReadDuration > 0 {
		total = 0
		deadline = time.Now().Add(r.opts.ReadDuration)
	}
	readers := r.opts.Readers
	version := r.version
	tr := r.startProgress(phaseReadRandom, total)
	before := r.db.Stats()
	ops, h, elapsed, err := runWorkers(readers, func(g int, h *hdrhistogram.Histogram, stop *atomic.Bool) (int64, error) {
		quota := total / int64(readers)
		if int64(g) < total%int64(readers) {
			quota++
		}
		rng := rand.New(rand.NewPCG(r.opts.Seed, 0x7265616472+uint64(g)))
		kb := make([]byte, r.opts.KeySize)
		scratch := make([]byte, r.opts.ValueSize)
		var done int64
		defer func() { tr.add(done % progressBatch) }()
		for {
			if deadline.IsZero() {
				if done >= quota {
					return done, nil
				}
			}
			if done%64 == 0 && stop.Load() {
				return done, nil
			}
			i := rng.Uint64N(n)
			k := r.gen.key(kb, i)
			t0 := time.Now()
			v, err := r.db.Get(k)
			t1 := time.Now()
			record(h, t1.Sub(t0))
			if err != nil {
				return done, fmt.Errorf("%s: get of index %d: %w", phaseReadRandom, i, err)
			}
			if r.afterGet != nil {
				r.afterGet(i, v)
			}
			if err := r.gen.verify(scratch, v, i, version); err != nil {
				return done, fmt.Errorf("%s: wrong value: %w", phaseReadRandom, err)
			}
			done++
			if done%progressBatch == 0 {
				tr.add(progressBatch)
			}
			if !deadline.IsZero() && !t1.Before(deadline) {
				return done, nil
			}
		}
	})
	tr.finish()
	if err != nil {
		return err
	}
	st := r.db.Stats()
	res := newResult(phaseReadRandom, ops, elapsed, h)
	res.setMBps(ops * r.recordBytes())
	hits, misses := st.CacheHits-before.CacheHits, st.CacheMisses-before.CacheMisses
	res.Extra = map[string]float64{
		"readers":      float64(readers),
		"cache_hits":   float64(hits),
		"cache_misses": float64(misses),
		"cache_bytes":  float64(st.CacheBytes),
	}
	res.Notes = fmt.Sprintf("%d readers, all %d values verified; cache hits %d misses %d", readers, ops, hits, misses)
	return r.report.add(res)
}

// syncWrites runs writers goroutines of SyncWrites puts against a fresh DB
// (root/<name>) for opts.SyncDuration. Writer g writes indexes g, g+w, ...
// so no two puts share a key.
func (r *runner) syncWrites(name string, writers int) error {
	dir := filepath.Join(r.root, name)
	db, err := engine.Open(dir, r.opts.engineOptions(true))
	if err != nil {
		return fmt.Errorf("%s: open %s: %w", name, dir, err)
	}
	deadline := time.Now().Add(r.opts.SyncDuration)
	ops, h, elapsed, err := runWorkers(writers, func(g int, h *hdrhistogram.Histogram, stop *atomic.Bool) (int64, error) {
		kb := make([]byte, r.opts.KeySize)
		vb := make([]byte, r.opts.ValueSize)
		var done int64
		for !stop.Load() {
			i := uint64(g) + uint64(done)*uint64(writers)
			k := r.gen.key(kb, i)
			v := r.gen.value(vb, i, versionFill)
			t0 := time.Now()
			err := db.Put(k, v)
			t1 := time.Now()
			record(h, t1.Sub(t0))
			if err != nil {
				return done, fmt.Errorf("%s: put of index %d: %w", name, i, err)
			}
			done++
			if !t1.Before(deadline) {
				break
			}
		}
		return done, nil
	})
	st := db.Stats()
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: close: %w", name, cerr)
	}
	if err != nil {
		return err
	}
	res := newResult(name, ops, elapsed, h)
	res.setMBps(ops * r.recordBytes())
	perSync := 0.0
	if st.Syncs > 0 {
		perSync = float64(st.Puts) / float64(st.Syncs)
	}
	res.Extra = map[string]float64{
		"writers":       float64(writers),
		"fsyncs":        float64(st.Syncs),
		"puts_per_sync": perSync,
	}
	res.Notes = fmt.Sprintf("%d writer(s), SyncWrites; %d fsyncs, %.1f puts/fsync; fresh DB", writers, st.Syncs, perSync)
	return r.report.add(res)
}

// openFigures is what reopenMain measures.
type openFigures struct {
	open, close time.Duration
	heap        int64        // HeapAlloc with the DB open minus with it closed
	st          engine.Stats // right after Open
}

// reopenMain closes the main DB and opens it again, timing both, and
// measures the heap the reopened DB holds: HeapAlloc after a GC with the
// DB closed against HeapAlloc after a GC with it reopened. It checks that
// the reopened DB has N keys.
func (r *runner) reopenMain(phase string) (openFigures, error) {
	var f openFigures
	t0 := time.Now()
	err := r.closeMain()
	f.close = time.Since(t0)
	if err != nil {
		return f, fmt.Errorf("%s: close: %w", phase, err)
	}
	if r.beforeReopen != nil {
		r.beforeReopen(phase, r.dbDir)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m0)

	t1 := time.Now()
	db, err := engine.Open(r.dbDir, r.opts.engineOptions(false))
	f.open = time.Since(t1)
	if err != nil {
		return f, fmt.Errorf("%s: open %s: %w", phase, r.dbDir, err)
	}
	r.db = db
	runtime.GC()
	runtime.ReadMemStats(&m1)
	f.heap = int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	f.st = db.Stats()
	if f.st.Keys != r.opts.N {
		return f, fmt.Errorf("%s: reopened DB has %d keys, want %d", phase, f.st.Keys, r.opts.N)
	}
	return f, nil
}

// reopen closes the main DB and opens it again (a replay of the log: the
// main DB is never merged before this), reports the open and the heap the
// reopened DB holds, then reads back a sample of keys.
func (r *runner) reopen(showReopen, showHeap bool) error {
	f, err := r.reopenMain(phaseReopen)
	if err != nil {
		return err
	}
	r.logReopen = &f
	r.logReopenSource = "reopen row"
	if !showReopen {
		r.logReopenSource = "heap/key's reopen"
	}
	st := f.st
	openDur, closeDur := f.open, f.close

	verified, err := r.verifySample()
	if err != nil {
		return fmt.Errorf("%s: %w", phaseReopen, err)
	}

	if showReopen {
		res := &PhaseResult{
			Name:      phaseReopen,
			Ops:       st.RecoveredRecords,
			Seconds:   openDur.Seconds(),
			OpsPerSec: float64(st.RecoveredRecords) / openDur.Seconds(),
		}
		res.setMBps(st.DiskBytes)
		res.Extra = map[string]float64{
			"open_ms":           ms(openDur),
			"close_ms":          ms(closeDur),
			"recovery_ms":       ms(st.RecoveryDuration),
			"recovered_records": float64(st.RecoveredRecords),
			"disk_bytes":        float64(st.DiskBytes),
			"data_files":        float64(st.DataFiles),
			"verified":          float64(verified),
		}
		res.Notes = fmt.Sprintf("open %s (recovery %s), close %s; %d records, %s in %d files; %d keys verified",
			fmtDur(openDur), fmtDur(st.RecoveryDuration), fmtDur(closeDur), st.RecoveredRecords,
			fmtBytes(st.DiskBytes), st.DataFiles, verified)
		if err := r.report.add(res); err != nil {
			return err
		}
	}
	if showHeap {
		n := float64(r.opts.N)
		heap := f.heap
		res := &PhaseResult{Name: phaseHeapPerKey, Ops: int64(r.opts.N)}
		res.Extra = map[string]float64{
			"heap_bytes":           float64(heap),
			"heap_bytes_per_key":   float64(heap) / n,
			"keydir_bytes":         float64(st.KeydirBytes),
			"keydir_bytes_per_key": float64(st.KeydirBytes) / n,
		}
		res.Notes = fmt.Sprintf("heap %.1f B/key (%s); Stats.KeydirBytes %.1f B/key (%s)",
			float64(heap)/n, fmtBytes(heap), float64(st.KeydirBytes)/n, fmtBytes(st.KeydirBytes))
		if err := r.report.add(res); err != nil {
			return err
		}
	}
	return nil
}

// reopenHints compares the reopen of the main DB from its log with the
// reopen from hint files: it takes the log replay's figures from the
// reopen phase (or measures a close and open itself), merges every file
// with Compact, reopens again, now from last_state/ and its hints, and
// reads back a sample of keys.
func (r *runner) reopenHints() error {
	const name = phaseReopenHints
	steps := int64(3)
	noHints, source := r.logReopen, r.logReopenSource
	if noHints == nil {
		steps++
	}
	tr := r.startProgress(name, steps)
	defer tr.finish()
	if noHints == nil {
		tr.describe(name + ": reopen from the log")
		f, err := r.reopenMain(name)
		if err != nil {
			return err
		}
		noHints, source = &f, "measured here"
		r.logReopen = noHints
		tr.add(1)
	}
	if n := mergedFiles(noHints.st); n > 0 {
		// The main DB has automatic compaction off, so this cannot
		// happen unless the engine merged at Open.
		return fmt.Errorf("%s: the reopen without hints found %d merged files in last_state/; it was not a log replay", name, n)
	}

	tr.describe(name + ": Compact")
	before := r.db.Stats()
	t0 := time.Now()
	err := r.db.Compact()
	compactDur := time.Since(t0)
	if err != nil {
		return fmt.Errorf("%s: Compact: %w", name, err)
	}
	after := r.db.Stats()
	if after.Compactions != before.Compactions+1 {
		return fmt.Errorf("%s: Compact returned without merging (Stats.Compactions %d before, %d after)", name, before.Compactions, after.Compactions)
	}
	tr.add(1)

	tr.describe(name + ": reopen from hints")
	f, err := r.reopenMain(name)
	if err != nil {
		return err
	}
	st := f.st
	tr.add(1)
	if st.HintFallbacks != 0 {
		return fmt.Errorf("%s: Open scanned %d merged data files instead of reading their hint files (Stats.HintFallbacks %d, want 0)", name, st.HintFallbacks, st.HintFallbacks)
	}
	if merged := mergedFiles(st); merged == 0 {
		return fmt.Errorf("%s: no merged file in last_state/ after Compact", name)
	}

	tr.describe(name + ": verify")
	verified, err := r.verifySample()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	tr.add(1)
	tr.finish()

	n := float64(r.opts.N)
	res := &PhaseResult{
		Name:      name,
		Ops:       st.RecoveredRecords,
		Seconds:   f.open.Seconds(),
		OpsPerSec: float64(st.RecoveredRecords) / f.open.Seconds(),
	}
	// Open read the hint files and scanned wal/ (only the active file's
	// header is left there); it did not read the merged data files.
	var dataBytes, walBytes int64
	for _, f := range st.Files {
		dataBytes += f.Size
		if f.WAL {
			walBytes += f.Size
		}
	}
	hintBytes := st.DiskBytes - dataBytes
	res.setMBps(hintBytes + walBytes)
	speedup := noHints.open.Seconds() / f.open.Seconds()
	res.Extra = map[string]float64{
		"open_ms":                    ms(f.open),
		"close_ms":                   ms(f.close),
		"recovery_ms":                ms(st.RecoveryDuration),
		"recovery_hints_ms":          ms(st.RecoveryHintsDuration),
		"recovery_log_ms":            ms(st.RecoveryLogDuration),
		"recovered_records":          float64(st.RecoveredRecords),
		"hint_fallbacks":             float64(st.HintFallbacks),
		"keys":                       float64(st.Keys),
		"disk_bytes":                 float64(st.DiskBytes),
		"hint_bytes":                 float64(hintBytes),
		"data_files":                 float64(st.DataFiles),
		"open_no_hints_ms":           ms(noHints.open),
		"recovery_no_hints_ms":       ms(noHints.st.RecoveryDuration),
		"recovered_records_no_hints": float64(noHints.st.RecoveredRecords),
		"speedup":                    speedup,
		"compact_ms":                 ms(compactDur),
		"disk_bytes_before_compact":  float64(before.DiskBytes),
		"disk_bytes_after_compact":   float64(after.DiskBytes),
		"heap_bytes":                 float64(f.heap),
		"heap_bytes_per_key":         float64(f.heap) / n,
		"keydir_bytes_per_key":       float64(st.KeydirBytes) / n,
		"verified":                   float64(verified),
	}
	res.Notes = fmt.Sprintf("open %s from hints (hints %s, log %s) vs %s from the log (%s): %.1fx; "+
		"Compact %s, disk %s -> %s (hints %s); %d records, %d keys, %d hint fallbacks; heap %.1f B/key; %d keys verified",
		fmtDur(f.open), fmtDur(st.RecoveryHintsDuration), fmtDur(st.RecoveryLogDuration),
		fmtDur(noHints.open), source, speedup,
		fmtDur(compactDur), fmtBytes(before.DiskBytes), fmtBytes(after.DiskBytes), fmtBytes(hintBytes),
		st.RecoveredRecords, st.Keys, st.HintFallbacks, float64(f.heap)/n, verified)
	return r.report.add(res)
}

// mergedFiles counts the data files in last_state/.
func mergedFiles(st engine.Stats) int {
	n := 0
	for _, f := range st.Files {
		if !f.WAL {
			n++
		}
	}
	return n
}

// verifySample reads opts.VerifySample random keys (at most N) and checks
// their values.
func (r *runner) verifySample() (int, error) {
	count := min(r.opts.VerifySample, r.opts.N)
	rng := rand.New(rand.NewPCG(r.opts.Seed, 0x7665726966))
	kb := make([]byte, r.opts.KeySize)
	scratch := make([]byte, r.opts.ValueSize)
	for range count {
		i := rng.Uint64N(uint64(r.opts.N))
		v, err := r.db.Get(r.gen.key(kb, i))
		if err != nil {
			return 0, fmt.Errorf("get of index %d after reopen: %w", i, err)
		}
		if err := r.gen.verify(scratch, v, i, r.version); err != nil {
			return 0, fmt.Errorf("wrong value after reopen: %w", err)
		}
	}
	return count, nil
}

// prepareDir returns the benchmark directory and a cleanup function.
func prepareDir(o *Options) (root string, cleanup func() error, err error) {
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return "", nil, err
		}
		return o.Dir, func() error { return nil }, nil
	}
	root, err = os.MkdirTemp("", "kvbench-")
	if err != nil {
		return "", nil, err
	}
	return root, func() error { return os.RemoveAll(root) }, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
