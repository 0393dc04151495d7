package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/simplekv/simplekv/bench"
)

// runner runs the selected workloads on every selected engine, one engine
// after the other, under one benchmark directory:
//
//	<root>/<engine>/db             the main DB (fill-rand ... reopen)
//	<root>/<engine>/reopen-clean   reopen-clean's DB
//	<root>/<engine>/fill-seq       fill-seq's fresh DB, deleted after it
//	<root>/<engine>/sync-<w>       each sync workload's fresh DB, deleted after it
//	<root>/simplekv/reopen-hints   reopen-hints' DB
//	<root>/simplekv/merge-latency  merge-latency's DB
type runner struct {
	o        *Options
	engines  []bench.Engine
	sel      []*workload
	gen      *bench.Generator
	root     string
	keep     bool // -dir: keep the main databases
	rep      *Report
	errw     io.Writer // progress bars and status lines
	progress bool
	start    time.Time // of the run, for the status lines

	ks    *bench.Keyspace // the main DB's keys, reset for each engine
	seqKS *bench.Keyspace // fill-seq's keys
	zipf  *bench.Zipf

	// beforeReopen, if set, runs between the close and the open of every
	// reopen (tests use it to damage files).
	beforeReopen func(workload, dir string)
}

func newRunner(o *Options, engines []bench.Engine, sel []*workload, root string, keep bool, rep *Report, errw io.Writer, progress bool) *runner {
	return &runner{
		o:        o,
		engines:  engines,
		sel:      sel,
		gen:      o.generator(),
		root:     root,
		keep:     keep,
		rep:      rep,
		errw:     errw,
		progress: progress,
		start:    time.Now(),
	}
}

// Seeds of the random orders and choices, mixed with -seed.
const (
	seedFill      = 0x66696c6c
	seedOverwrite = 0x6f766572
	seedReaders   = 0x72656164
	seedZipf      = 0x7a697066
	seedReopen    = 0x72656f70
)

// run runs everything; the first failure stops it.
func (r *runner) run() error {
	for _, e := range r.engines {
		if err := r.runEngine(e); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	return r.runRaft()
}

// status prints a one-line result to stderr when progress is shown.
func (r *runner) status(name string, w *workload, res *Result) {
	if !r.progress {
		return
	}
	var s string
	switch {
	case res.NA != "":
		s = naText
	case res.HeapPerKey != nil:
		s = metricHeap.format(*res.HeapPerKey)
	case res.OpsPerSec > 0 && w.table == tableThroughput:
		s = metricOps.format(res.OpsPerSec)
	default:
		s = fmtDur(secs(res.Seconds))
	}
	r.statusf("%-10s %-14s %s", name, w.displayName(r.o.Writers), s)
}

// statusf prints a status line, prefixed with the time since the start,
// to stderr when progress is shown.
func (r *runner) statusf(format string, args ...any) {
	if r.progress {
		fmt.Fprintf(r.errw, "[%5.0fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
	}
}

// add records engine e's result of workload w.
func (r *runner) add(e bench.Engine, w *workload, res *Result) { r.addRow(e.Name, w, res) }

// addRow records the result of the row called name (an engine, or a raft
// log store) of workload w.
func (r *runner) addRow(name string, w *workload, res *Result) {
	res.Engine = name
	r.rep.add(w, w.displayName(r.o.Writers), res)
	r.status(name, w, res)
}

func (r *runner) runEngine(e bench.Engine) error {
	edir := filepath.Join(r.root, e.Name)
	if needsMainDB(r.sel) {
		if err := r.runMain(e, filepath.Join(edir, "db")); err != nil {
			return err
		}
	}
	if selected(r.sel, wReopenClean) {
		if err := r.reopenClean(e, filepath.Join(edir, wReopenClean)); err != nil {
			return err
		}
	}
	if selected(r.sel, wFillSeq) {
		if err := r.fillSeq(e, filepath.Join(edir, wFillSeq)); err != nil {
			return err
		}
	}
	if selected(r.sel, wSync1) {
		if err := r.syncWrites(e, edir, workloadByName(wSync1), 1); err != nil {
			return err
		}
	}
	if selected(r.sel, wSyncN) {
		if err := r.syncWrites(e, edir, workloadByName(wSyncN), r.o.Writers); err != nil {
			return err
		}
	}
	for _, b := range []struct {
		name string
		sync bool
	}{{wBatch, false}, {wBatchSync, true}} {
		if selected(r.sel, b.name) {
			if err := r.batchWrites(e, edir, workloadByName(b.name), b.sync); err != nil {
				return err
			}
		}
	}
	if e.Name == simplekvName {
		if selected(r.sel, wReopenHints) {
			if err := r.reopenHints(filepath.Join(edir, wReopenHints)); err != nil {
				return err
			}
		}
		if selected(r.sel, wMergeLatency) {
			if err := r.mergeLatency(filepath.Join(edir, wMergeLatency)); err != nil {
				return err
			}
		}
	}
	if !r.keep {
		// Free the disk before the next engine (a 10M-key run takes GBs).
		return os.RemoveAll(edir)
	}
	return nil
}

// mainDB is an engine's main database while its workloads run.
type mainDB struct {
	e   bench.Engine
	dir string
	db  bench.DB
}

// mainKeyspace returns the main key space, with nothing written.
func (r *runner) mainKeyspace() (*bench.Keyspace, error) {
	if r.ks == nil {
		n := uint64(r.o.N)
		r.ks = bench.NewKeyspace(r.gen, n, false)
		z, err := bench.NewZipf(n, bench.ZipfTheta, r.o.Seed^seedZipf)
		if err != nil {
			return nil, err
		}
		r.zipf = z
	} else {
		r.ks.Reset()
	}
	return r.ks, nil
}

// runMain opens e's main DB with Config{Sync: false}, fills it and runs
// the selected workloads on it in order; it closes it at the end.
func (r *runner) runMain(e bench.Engine, dir string) (err error) {
	if _, err := r.mainKeyspace(); err != nil {
		return err
	}
	base := heapNow()
	db, err := e.Open(dir, bench.Config{})
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	m := &mainDB{e: e, dir: dir, db: db}
	defer func() {
		if m.db != nil {
			if cerr := m.db.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close: %w", cerr)
			}
		}
	}()

	fill := workloadByName(wFillRand)
	if selected(r.sel, wFillRand) {
		if err := r.writePass(m, fill, seedFill); err != nil {
			return fmt.Errorf("%s: %w", wFillRand, err)
		}
	} else if err := r.loadAll(m); err != nil {
		return fmt.Errorf("untimed fill: %w", err)
	}
	if selected(r.sel, wHeap) {
		r.heap(m, base)
	}
	mixes := []struct {
		name string
		mix  bench.Mix
	}{
		{wReadUniform, bench.Mix{ReadPercent: 100}},
		{wReadZipf, bench.Mix{ReadPercent: 100, Zipf: r.zipf}},
		{wYCSBA, bench.Mix{ReadPercent: bench.YCSBAReadPercent, Zipf: r.zipf}},
		{wYCSBB, bench.Mix{ReadPercent: bench.YCSBBReadPercent, Zipf: r.zipf}},
		{wYCSBC, bench.Mix{ReadPercent: bench.YCSBCReadPercent, Zipf: r.zipf}},
	}
	for _, mx := range mixes {
		if selected(r.sel, mx.name) {
			if err := r.runMix(m, workloadByName(mx.name), mx.mix); err != nil {
				return fmt.Errorf("%s: %w", mx.name, err)
			}
		}
	}
	if selected(r.sel, wOverwrite) {
		if err := r.writePass(m, workloadByName(wOverwrite), seedOverwrite); err != nil {
			return fmt.Errorf("%s: %w", wOverwrite, err)
		}
	}
	if selected(r.sel, wCompact) {
		if err := r.compact(m); err != nil {
			return fmt.Errorf("%s: %w", wCompact, err)
		}
	}
	if selected(r.sel, wReopen) {
		if err := r.reopen(m); err != nil {
			return fmt.Errorf("%s: %w", wReopen, err)
		}
	}
	err = m.db.Close()
	m.db = nil
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// recordBytes is the user payload of one operation, for MB/s.
func (r *runner) recordBytes() int64 { return int64(r.o.KeySize + r.o.ValueSize) }

// writePass is fill-rand and overwrite: every key once with its next
// version, in a seeded random order, one Put each from one goroutine, then
// Sync, all timed; if -max-phase passes first, the Puts stop there, the
// Sync is timed, and the rest of the pass is written untimed through
// Loader, so that a full pass is on disk either way.
func (r *runner) writePass(m *mainDB, w *workload, seed uint64) error {
	ks := r.ks
	n := ks.N
	order := bench.NewPerm(n, r.o.Seed^seed)
	wr := ks.NewOrderWriter(m.db, order)
	wr.Timed = true
	h := newHist()
	tr := newTracker(r.errw, r.progress, m.e.Name+" "+w.name, int64(n))
	var stop atomic.Bool
	timer := time.AfterFunc(r.o.MaxPhase, func() { stop.Store(true) })
	start := time.Now()
	for wr.Pos() < n && !stop.Load() {
		d, err := wr.Step()
		if err != nil {
			timer.Stop()
			tr.finish()
			return err
		}
		record(h, d)
		if wr.Pos()%progressBatch == 0 {
			tr.add(progressBatch)
		}
	}
	timed := wr.Pos()
	syncStart := time.Now()
	err := m.db.Sync()
	syncDur := time.Since(syncStart)
	elapsed := time.Since(start)
	timer.Stop()
	if err != nil {
		tr.finish()
		return fmt.Errorf("sync: %w", err)
	}
	tr.add(int64(timed % progressBatch))

	res := newResult(m.e.Name, int64(timed), elapsed, h)
	res.setMBps(int64(timed) * r.recordBytes())
	res.Extra = map[string]float64{"sync_ms": ms(syncDur)}
	res.Notes = "final Sync " + fmtDur(syncDur)
	if timed < n {
		tr.describe(m.e.Name + " " + w.name + " (untimed)")
		if err := ks.Load(m.db, order, timed, n, func(k int) { tr.add(int64(k)) }); err != nil {
			tr.finish()
			return fmt.Errorf("untimed rest: %w", err)
		}
		if err := m.db.Sync(); err != nil {
			tr.finish()
			return fmt.Errorf("sync after the untimed rest: %w", err)
		}
		res.TotalOps = int64(n)
		res.Notes = fmt.Sprintf("capped by -max-phase %v: %d of %d Puts timed (%.0f%%), the rest written untimed; %s",
			r.o.MaxPhase, timed, n, 100*float64(timed)/float64(n), res.Notes)
	}
	tr.finish()
	disk, err := dirBytes(m.dir)
	if err != nil {
		return fmt.Errorf("disk usage: %w", err)
	}
	res.setDisk(disk)
	r.add(m.e, w, res)
	return nil
}

// loadAll fills the main DB untimed through Loader, for a selection that
// needs a filled DB but not fill-rand.
func (r *runner) loadAll(m *mainDB) error {
	n := r.ks.N
	tr := newTracker(r.errw, r.progress, m.e.Name+" fill (untimed)", int64(n))
	defer tr.finish()
	order := bench.NewPerm(n, r.o.Seed^seedFill)
	if err := r.ks.Load(m.db, order, 0, n, func(k int) { tr.add(int64(k)) }); err != nil {
		return err
	}
	return m.db.Sync()
}

// heapNow is HeapAlloc after two garbage collections (the second frees
// what finalizers run by the first released).
func heapNow() int64 {
	runtime.GC()
	runtime.GC()
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	return int64(st.HeapAlloc)
}

// heap reports the Go heap the open, filled DB holds: HeapAlloc now minus
// base, HeapAlloc before it was opened.
func (r *runner) heap(m *mainDB, base int64) {
	heap := heapNow() - base
	per := float64(heap) / float64(r.o.N)
	res := &Result{HeapBytes: &heap, HeapPerKey: &per}
	res.Notes = "Go heap only"
	if why, ok := offHeap[m.e.Name]; ok {
		res.Notes += " (" + why + ")"
	}
	r.add(m.e, workloadByName(wHeap), res)
}

// offHeap says what an engine keeps outside the Go heap, which the heap
// workload does not see.
var offHeap = map[string]string{
	"pebble": "pebble allocates its block cache and memtables with cgo, outside it",
	"bbolt":  "bbolt's pages are in its mmap, outside it",
}

// runMix runs a read or YCSB mix from -readers goroutines for -duration.
func (r *runner) runMix(m *mainDB, w *workload, mix bench.Mix) error {
	readers := r.o.Readers
	workers := make([]*bench.MixWorker, readers)
	for g := range workers {
		seed := r.o.Seed ^ (seedReaders + uint64(slices.Index(workloads, w))<<32 + uint64(g))
		workers[g] = r.ks.NewMixWorker(m.db, mix, seed)
		workers[g].Timed = true
	}
	tr := newTimeTracker(r.errw, r.progress, m.e.Name+" "+w.name, r.o.Duration)
	ops, h, elapsed, err := runFor(readers, r.o.Duration, func(g int) (time.Duration, error) { return workers[g].Step() }, tr)
	tr.finish()
	if err != nil {
		return err
	}
	var reads, updates int64
	for _, wk := range workers {
		reads += wk.Reads
		updates += wk.Updates
	}
	res := newResult(m.e.Name, ops, elapsed, h)
	res.setMBps(ops * r.recordBytes())
	res.Extra = map[string]float64{"readers": float64(readers), "reads": float64(reads), "updates": float64(updates)}
	res.Notes = fmt.Sprintf("%d goroutines; %d reads, all verified", readers, reads)
	if updates > 0 {
		res.Notes += fmt.Sprintf("; %d updates", updates)
	}
	r.add(m.e, w, res)
	return nil
}

// compact times the engine's full compaction and measures the disk after
// it; n/a for an engine without one.
func (r *runner) compact(m *mainDB) error {
	w := workloadByName(wCompact)
	before, err := dirBytes(m.dir)
	if err != nil {
		return fmt.Errorf("disk usage: %w", err)
	}
	c, ok := m.db.(bench.Compacter)
	if !ok {
		r.add(m.e, w, &Result{
			NA:    "no compaction",
			Notes: fmt.Sprintf("no compaction (its file never shrinks; freed pages are reused in place): disk %s", fmtBytes(before)),
		})
		return nil
	}
	tr := newTracker(r.errw, r.progress, m.e.Name+" "+w.name, 0)
	t0 := time.Now()
	err = c.Compact()
	dur := time.Since(t0)
	tr.finish()
	if err != nil {
		return err
	}
	after, err := dirBytes(m.dir)
	if err != nil {
		return fmt.Errorf("disk usage: %w", err)
	}
	res := &Result{Seconds: dur.Seconds()}
	res.setDisk(after)
	res.Extra = map[string]float64{"disk_bytes_before": float64(before)}
	res.Notes = fmt.Sprintf("disk %s before", fmtBytes(before))
	r.add(m.e, w, res)
	return nil
}

// reopen closes the main DB (untimed), then times Open plus one Get of a
// random key, and checks a sample of keys.
func (r *runner) reopen(m *mainDB) error {
	w := workloadByName(wReopen)
	t0 := time.Now()
	err := m.db.Close()
	closeDur := time.Since(t0)
	m.db = nil
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if r.beforeReopen != nil {
		r.beforeReopen(wReopen, m.dir)
	}
	rng := rand.New(rand.NewPCG(r.o.Seed, seedReopen))
	i := rng.Uint64N(r.ks.N)
	kb := make([]byte, r.o.KeySize)
	scratch := make([]byte, r.o.ValueSize)
	k := r.ks.Key(kb, i)

	t1 := time.Now()
	db, err := m.e.Open(m.dir, bench.Config{})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	m.db = db
	v, gerr := db.Get(k)
	dur := time.Since(t1)
	before := r.ks.Version(i)
	if err := r.ks.Check(scratch, i, v, gerr, before, before); err != nil {
		return err
	}
	if err := r.ks.VerifySample(db, r.o.VerifySample, r.o.Seed^seedReopen); err != nil {
		return fmt.Errorf("after reopen: %w", err)
	}
	res := &Result{Ops: 1, Seconds: dur.Seconds()}
	res.Extra = map[string]float64{"close_ms": ms(closeDur), "verified": float64(r.o.VerifySample)}
	res.Notes = fmt.Sprintf("Open + Get; close took %s; %d keys verified after", fmtDur(closeDur), r.o.VerifySample)
	r.add(m.e, w, res)
	return nil
}

// fillSeq writes ascending keys into a fresh DB, one Put each from one
// goroutine, for n keys or -max-phase, then Syncs (timed), checks a
// sample and deletes the DB.
func (r *runner) fillSeq(e bench.Engine, dir string) (err error) {
	w := workloadByName(wFillSeq)
	n := uint64(r.o.N)
	if r.seqKS == nil {
		r.seqKS = bench.NewKeyspace(r.gen, n, true)
	} else {
		r.seqKS.Reset()
	}
	ks := r.seqKS
	db, closeDB, err := openFresh(e, dir, w.name, bench.Config{})
	if err != nil {
		return err
	}
	defer closeDB(&err)
	wr := ks.NewOrderWriter(db, bench.Ascending{})
	wr.Timed = true
	h := newHist()
	tr := newTracker(r.errw, r.progress, e.Name+" "+w.name, int64(n))
	defer tr.finish()
	var stop atomic.Bool
	timer := time.AfterFunc(r.o.MaxPhase, func() { stop.Store(true) })
	defer timer.Stop()
	start := time.Now()
	for wr.Pos() < n && !stop.Load() {
		d, err := wr.Step()
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		record(h, d)
		if wr.Pos()%progressBatch == 0 {
			tr.add(progressBatch)
		}
	}
	if err := db.Sync(); err != nil {
		return fmt.Errorf("%s: sync: %w", w.name, err)
	}
	elapsed := time.Since(start)
	done := wr.Pos()
	tr.add(int64(done % progressBatch))
	tr.finish()
	// Keys not written (if the cap hit) must be missing.
	if err := ks.VerifySample(db, min(r.o.VerifySample, 1000), r.o.Seed); err != nil {
		return fmt.Errorf("%s: %w", w.name, err)
	}
	res := newResult(e.Name, int64(done), elapsed, h)
	res.setMBps(int64(done) * r.recordBytes())
	if disk, err := dirBytes(dir); err == nil {
		res.setDisk(disk)
	}
	res.Notes = "fresh DB"
	if done < n {
		res.Notes = fmt.Sprintf("stopped by -max-phase %v after %d of %d keys; fresh DB", r.o.MaxPhase, done, n)
	}
	r.add(e, w, res)
	return nil
}

// syncWrites runs writers goroutines Putting new keys into a fresh DB
// opened with Config{Sync: true} for -duration, then deletes it.
func (r *runner) syncWrites(e bench.Engine, edir string, w *workload, writers int) (err error) {
	name := w.displayName(r.o.Writers)
	dir := filepath.Join(edir, name)
	// Every engine's synced writes start on a quiet disk: the gigabyte or
	// so the earlier workloads wrote may still be in writeback.
	settleDisk()
	db, closeDB, err := openFresh(e, dir, name, bench.Config{Sync: true})
	if err != nil {
		return err
	}
	defer closeDB(&err)
	ws := make([]*bench.FreshWriter, writers)
	for g := range ws {
		ws[g] = bench.NewFreshWriter(db, r.gen, 0, g, writers)
		ws[g].Timed = true
	}
	tr := newTimeTracker(r.errw, r.progress, e.Name+" "+name, r.o.Duration)
	ops, h, elapsed, err := runFor(writers, r.o.Duration, func(g int) (time.Duration, error) { return ws[g].Step() }, tr)
	tr.finish()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	res := newResult(e.Name, ops, elapsed, h)
	res.setMBps(ops * r.recordBytes())
	res.Extra = map[string]float64{"writers": float64(writers)}
	res.Notes = fmt.Sprintf("%d writer(s), Config{Sync: true}; fresh DB", writers)
	r.add(e, w, res)
	return nil
}

// openFresh opens a fresh database of e in dir for workload name. closeDB
// closes it and removes dir, setting *errp to the first error if it is nil.
func openFresh(e bench.Engine, dir, name string, cfg bench.Config) (db bench.DB, closeDB func(errp *error), err error) {
	db, err = e.Open(dir, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: open %s: %w", name, dir, err)
	}
	return db, func(errp *error) {
		cerr := db.Close()
		if rerr := os.RemoveAll(dir); cerr == nil {
			cerr = rerr
		}
		if cerr != nil && *errp == nil {
			*errp = fmt.Errorf("%s: close: %w", name, cerr)
		}
	}, nil
}

// batchSize is the number of keys per batch of the batch-100 workloads.
const batchSize = 100

// batchWrites runs one writer writing new keys in batches of batchSize into
// a fresh DB for -duration, then deletes the DB. Its ops are keys; its
// latencies are per batch.
func (r *runner) batchWrites(e bench.Engine, edir string, w *workload, sync bool) (err error) {
	dir := filepath.Join(edir, w.name)
	settleDisk()
	db, closeDB, err := openFresh(e, dir, w.name, bench.Config{Sync: sync})
	if err != nil {
		return err
	}
	defer closeDB(&err)
	bdb, ok := db.(bench.Batcher)
	if !ok {
		r.add(e, w, &Result{NA: "no batches", Notes: "no atomic batch"})
		return nil
	}
	bw := bench.NewBatchWriter(bdb, r.gen, 0, 0, 1, batchSize)
	bw.Timed = true
	tr := newTimeTracker(r.errw, r.progress, e.Name+" "+w.name, r.o.Duration)
	batches, h, elapsed, err := runFor(1, r.o.Duration, func(int) (time.Duration, error) { return bw.Step() }, tr)
	tr.finish()
	if err != nil {
		return fmt.Errorf("%s: %w", w.name, err)
	}
	ops := batches * batchSize
	res := newResult(e.Name, ops, elapsed, h)
	res.setMBps(ops * r.recordBytes())
	res.Extra = map[string]float64{"batches": float64(batches), "batch_size": batchSize}
	res.Notes = fmt.Sprintf("%d batches of %d keys, Config{Sync: %v}; fresh DB", batches, batchSize, sync)
	r.add(e, w, res)
	return nil
}

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

// runFor runs step from n goroutines for d, each recording latencies into
// a histogram of its own, and merges them. The first error stops every
// goroutine and is returned.
func runFor(n int, d time.Duration, step func(g int) (time.Duration, error), tr *tracker) (ops int64, h *hdrhistogram.Histogram, elapsed time.Duration, err error) {
	hists := make([]*hdrhistogram.Histogram, n)
	counts := make([]int64, n)
	errs := make([]error, n)
	for g := range n {
		hists[g] = newHist()
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for g := range n {
		wg.Go(func() {
			h := hists[g]
			var done int64
			// At least one operation each, however late the goroutine
			// starts.
			for {
				lat, err := step(g)
				if err != nil {
					errs[g] = err
					stop.Store(true)
					break
				}
				record(h, lat)
				done++
				if done%progressBatch == 0 {
					tr.add(progressBatch)
				}
				if stop.Load() {
					break
				}
			}
			counts[g] = done
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	h = hists[0]
	for g := range n {
		ops += counts[g]
		if g > 0 {
			h.Merge(hists[g])
		}
	}
	return ops, h, elapsed, errors.Join(errs...)
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
