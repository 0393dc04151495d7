package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/simplekv/simplekv/bench"
	"github.com/simplekv/simplekv/engine"
)

// merge-latency writes version 1 of every key, then overwrites random keys
// with version 2.
const (
	versionFill      = 1
	versionOverwrite = 2
)

// Names of merge-latency's two latency rows.
const (
	partNoMerge = "no-merge"
	partMerging = "merging"
)

// mergePollInterval is how often merge-latency asks the DB whether a
// merge is running. Writers read the answer from an atomic.Bool, since
// Stats takes every keydir and cache shard lock and is too heavy per Put.
const mergePollInterval = time.Millisecond

// mergeWatcher polls db.Stats().CompactionRunning and publishes it, and
// adds up the time it saw a merge running.
type mergeWatcher struct {
	running atomic.Bool
	stop    chan struct{}
	done    chan struct{}

	// Written by the polling goroutine, read after done is closed.
	mergingTime time.Duration
	elapsed     time.Duration
	// seen counts the merges seen: the one running when the watch began,
	// if any, and each one seen starting at a poll; or, if more, the
	// merges that completed meanwhile (a merge shorter than a poll, or
	// one that starts within a poll of the last one's end, is not seen
	// starting).
	seen int
}

func watchMerges(db *engine.DB) *mergeWatcher {
	w := &mergeWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	st0 := db.Stats()
	cur := st0.CompactionRunning
	w.running.Store(cur)
	if cur {
		w.seen = 1
	}
	start := time.Now()
	go func() {
		defer close(w.done)
		tick := time.NewTicker(mergePollInterval)
		defer tick.Stop()
		last := start
		for {
			select {
			case <-w.stop:
				now := time.Now()
				if cur {
					w.mergingTime += now.Sub(last)
				}
				w.elapsed = now.Sub(start)
				w.seen = max(w.seen, int(db.Stats().Compactions-st0.Compactions))
				return
			case <-tick.C:
			}
			running := db.Stats().CompactionRunning
			now := time.Now()
			// The state seen at the previous poll is charged with the
			// time since: the split is accurate to about one poll.
			if cur {
				w.mergingTime += now.Sub(last)
			}
			if running && !cur {
				w.seen++
			}
			last, cur = now, running
			w.running.Store(running)
		}
	}()
	return w
}

func (w *mergeWatcher) finish() {
	close(w.stop)
	<-w.done
}

// mergeFill writes every one of keys once (version 1) in a seeded random
// order, then syncs.
func (r *runner) mergeFill(db *engine.DB, keys uint64) (time.Duration, error) {
	p := bench.NewPerm(keys, r.o.Seed^0x636f6d70616374)
	kb := make([]byte, r.o.KeySize)
	vb := make([]byte, r.o.ValueSize)
	tr := newTracker(r.errw, r.progress, wMergeLatency+": fill", int64(keys))
	defer tr.finish()
	start := time.Now()
	for j := range keys {
		i := p.At(j)
		if err := db.Put(r.gen.Key(kb, i), r.gen.Value(vb, i, versionFill)); err != nil {
			return 0, fmt.Errorf("%s: fill: put of index %d: %w", wMergeLatency, i, err)
		}
		if j%progressBatch == progressBatch-1 {
			tr.add(progressBatch)
		}
	}
	if err := db.Sync(); err != nil {
		return 0, fmt.Errorf("%s: fill: sync: %w", wMergeLatency, err)
	}
	return time.Since(start), nil
}

// mergeRun is what the overwrite run of merge-latency measured.
type mergeRun struct {
	ops, opsMerging int64
	idle, merging   *hdrhistogram.Histogram
	elapsed         time.Duration
	watch           *mergeWatcher
}

// mergeOverwrite runs opts.CompactWriters goroutines that overwrite
// random keys of [0, keys) with version 2 for opts.CompactDuration. Each
// Put's latency goes to the merging histogram if the watcher said a merge
// was running when the Put started, else to the idle one.
func (r *runner) mergeOverwrite(db *engine.DB, keys uint64) (*mergeRun, error) {
	writers := r.o.MergeWriters
	idle := make([]*hdrhistogram.Histogram, writers)
	merging := make([]*hdrhistogram.Histogram, writers)
	counts := make([]int64, writers)
	countsMerging := make([]int64, writers)
	errs := make([]error, writers)
	for g := range writers {
		idle[g], merging[g] = newHist(), newHist()
	}
	tr := newTimeTracker(r.errw, r.progress, wMergeLatency, r.o.MergeDuration)
	var stop atomic.Bool
	var wg sync.WaitGroup
	watch := watchMerges(db)
	start := time.Now()
	deadline := start.Add(r.o.MergeDuration)
	for g := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(r.o.Seed, 0x636f6d70+uint64(g)))
			kb := make([]byte, r.o.KeySize)
			vb := make([]byte, r.o.ValueSize)
			var done, during int64
			defer func() {
				counts[g], countsMerging[g] = done, during
				tr.add(done % progressBatch)
			}()
			for !stop.Load() {
				i := rng.Uint64N(keys)
				k := r.gen.Key(kb, i)
				v := r.gen.Value(vb, i, versionOverwrite)
				inMerge := watch.running.Load()
				t0 := time.Now()
				err := db.Put(k, v)
				t1 := time.Now()
				if inMerge {
					record(merging[g], t1.Sub(t0))
					during++
				} else {
					record(idle[g], t1.Sub(t0))
				}
				if err != nil {
					errs[g] = fmt.Errorf("%s: put of index %d: %w", wMergeLatency, i, err)
					stop.Store(true)
					return
				}
				done++
				if done%progressBatch == 0 {
					tr.add(progressBatch)
				}
				if !t1.Before(deadline) {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	watch.finish()
	tr.finish()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	run := &mergeRun{idle: idle[0], merging: merging[0], elapsed: elapsed, watch: watch}
	for g := range writers {
		run.ops += counts[g]
		run.opsMerging += countsMerging[g]
		if g > 0 {
			run.idle.Merge(idle[g])
			run.merging.Merge(merging[g])
		}
	}
	return run, nil
}

// liveBytes sums the live record bytes of every file.
func liveBytes(st engine.Stats) int64 {
	var n int64
	for _, f := range st.Files {
		n += f.Live
	}
	return n
}

// ratio is a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// mergeLatency is the merge-latency workload (simplekv only): on a DB of
// its own (dir) with small files and frequent trigger checks, it fills
// min(n, -merge-keys) keys with automatic compaction off, reopens with it
// on, overwrites random keys from -merge-writers goroutines for
// -merge-duration, splitting the Put latencies by whether a merge was
// running, and ends with an explicit full Compact. A run that completes no
// merge fails: the workload exists to show them.
func (r *runner) mergeLatency(dir string) (err error) {
	const name = wMergeLatency
	o := r.o
	keys := uint64(o.mergeKeys())
	settings := fmt.Sprintf("%d writer(s) for %v over %d keys, MaxFileSize %s (-merge-file-size %d), CompactionInterval %v, default triggers",
		o.MergeWriters, o.MergeDuration, keys, fmtBytes(o.MergeFileSize), o.MergeFileSize, o.MergeInterval)

	// Fill with automatic compaction off, so that the run starts from
	// the same unmerged state whatever the machine's speed.
	db, err := engine.Open(dir, o.mergeEngineOptions(false))
	if err != nil {
		return fmt.Errorf("%s: open %s: %w", name, dir, err)
	}
	fillDur, err := r.mergeFill(db, keys)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: close after fill: %w", name, cerr)
	}
	if err != nil {
		return err
	}

	db, err = engine.Open(dir, o.mergeEngineOptions(true))
	if err != nil {
		return fmt.Errorf("%s: reopen %s: %w", name, dir, err)
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%s: close: %w", name, cerr)
		}
		if !r.keep {
			if rerr := os.RemoveAll(dir); err == nil && rerr != nil {
				err = rerr
			}
		}
	}()
	before := db.Stats()
	run, err := r.mergeOverwrite(db, keys)
	if err != nil {
		return err
	}
	end := db.Stats()
	merges := end.Compactions - before.Compactions
	if merges == 0 {
		return fmt.Errorf("%s: no merge completed during the run (%s; %d puts, %s written, %d files at the end): "+
			"give it more time (-merge-duration), smaller files (-merge-file-size) or more frequent checks (-merge-interval)",
			name, settings, run.ops, fmtBytes(end.BytesWritten-before.BytesWritten), end.DataFiles)
	}

	// A final full merge: waits for a background merge in progress, then
	// merges every file.
	t0 := time.Now()
	if err := db.Compact(); err != nil {
		return fmt.Errorf("%s: final Compact: %w", name, err)
	}
	compactDur := time.Since(t0)
	final := db.Stats()
	if final.Keys != int(keys) {
		return fmt.Errorf("%s: %d keys after the final Compact, want %d", name, final.Keys, keys)
	}
	verified, err := r.verifyMergeSample(db, keys)
	if err != nil {
		return fmt.Errorf("%s: after the final Compact: %w", name, err)
	}

	w := run.watch
	res := newResult(simplekvName, run.ops, run.elapsed, mergedHist(run.idle, run.merging))
	res.setMBps(run.ops * r.recordBytes())
	liveEnd, liveFinal := liveBytes(end), liveBytes(final)
	ampEnd := ratio(float64(end.DiskBytes), float64(liveEnd))
	ampFinal := ratio(float64(final.DiskBytes), float64(liveFinal))
	mergingFrac := ratio(w.mergingTime.Seconds(), w.elapsed.Seconds())
	res.Extra = map[string]float64{
		"writers":                  float64(o.MergeWriters),
		"keys":                     float64(keys),
		"max_file_size":            float64(o.MergeFileSize),
		"compaction_interval_ms":   ms(o.MergeInterval),
		"fill_ms":                  ms(fillDur),
		"merges":                   float64(merges),
		"merges_seen":              float64(w.seen),
		"merging_seconds":          w.mergingTime.Seconds(),
		"merging_fraction":         mergingFrac,
		"compaction_reclaimed":     float64(end.CompactionReclaimed - before.CompactionReclaimed),
		"last_compaction_ms":       ms(end.LastCompaction),
		"bytes_written":            float64(end.BytesWritten - before.BytesWritten),
		"disk_bytes_before":        float64(before.DiskBytes),
		"disk_bytes_end":           float64(end.DiskBytes),
		"disk_bytes_compacted":     float64(final.DiskBytes),
		"live_bytes_end":           float64(liveEnd),
		"live_bytes_compacted":     float64(liveFinal),
		"disk_over_live_end":       ampEnd,
		"disk_over_live_compacted": ampFinal,
		"data_files_end":           float64(end.DataFiles),
		"data_files_compacted":     float64(final.DataFiles),
		"final_compact_ms":         ms(compactDur),
		"verified":                 float64(verified),
	}
	res.Notes = fmt.Sprintf("%d writers, %s files, checks every %v; %d merges (%.0f%% of the time), reclaimed %s; "+
		"disk %s before the run, %s at its end (%.2fx live), %s after a final Compact of %s (%.2fx live); %d keys verified",
		o.MergeWriters, fmtBytes(o.MergeFileSize), o.MergeInterval, merges, 100*mergingFrac,
		fmtBytes(end.CompactionReclaimed-before.CompactionReclaimed),
		fmtBytes(before.DiskBytes), fmtBytes(end.DiskBytes), ampEnd, fmtBytes(final.DiskBytes), fmtDur(compactDur), ampFinal, verified)

	idle, merging, p99 := mergeSplit(run, r.recordBytes())
	if p99 > 0 {
		res.Extra["p99_merging_over_no_merge"] = p99
	}
	res.Parts = []*Result{idle, merging}
	r.rep.add(workloadByName(name), name, res)
	r.statusf("%-10s %-14s %d merges; p99 %s outside, %s during", simplekvName, name, merges, fmtP99(idle), fmtP99(merging))
	return nil
}

// mergeSplit makes merge-latency's two part rows: the puts started
// with no merge running and those started during one, each with its
// throughput over the time spent in that state. p99 is the merging p99
// over the no-merge p99, or 0 if either group is empty.
func mergeSplit(run *mergeRun, recordBytes int64) (idle, merging *Result, p99 float64) {
	w := run.watch
	mergingFrac := ratio(w.mergingTime.Seconds(), w.elapsed.Seconds())
	opsIdle := run.ops - run.opsMerging
	idle = newResult("", opsIdle, max(w.elapsed-w.mergingTime, 0), run.idle)
	idle.Part = partNoMerge
	idle.setMBps(opsIdle * recordBytes)
	idle.Notes = fmt.Sprintf("puts started with no merge running: %.0f%% of puts, %.0f%% of the time",
		100*ratio(float64(opsIdle), float64(run.ops)), 100*(1-mergingFrac))
	merging = newResult("", run.opsMerging, w.mergingTime, run.merging)
	merging.Part = partMerging
	merging.setMBps(run.opsMerging * recordBytes)
	merging.Notes = fmt.Sprintf("puts started while a merge ran: %.0f%% of puts, %.0f%% of the time",
		100*ratio(float64(run.opsMerging), float64(run.ops)), 100*mergingFrac)
	switch {
	case run.opsMerging == 0:
		merging.Notes = "no put started while a merge ran (merges shorter than the 1 ms poll, or none ran): no latencies"
	case opsIdle == 0:
		idle.Notes = "every put started while a merge ran: no latencies"
	default:
		p99 = ratio(float64(merging.Latency.P99), float64(idle.Latency.P99))
		merging.Notes += fmt.Sprintf("; p99 %.2fx no-merge's", p99)
	}
	return idle, merging, p99
}

// mergedHist returns a histogram holding the values of a and b (a copy).
func mergedHist(a, b *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	h := newHist()
	h.Merge(a)
	h.Merge(b)
	return h
}

// verifyMergeSample reads -verify-sample random keys of merge-latency's
// DB (at most keys) and checks that each value is the fill's or the
// overwrite's (which one depends on whether a writer drew the key).
func (r *runner) verifyMergeSample(db *engine.DB, keys uint64) (int, error) {
	count := min(r.o.VerifySample, int(keys))
	rng := rand.New(rand.NewPCG(r.o.Seed, 0x636f6d7076))
	kb := make([]byte, r.o.KeySize)
	scratch := make([]byte, r.o.ValueSize)
	for range count {
		i := rng.Uint64N(keys)
		v, err := db.Get(r.gen.Key(kb, i))
		if err != nil {
			return 0, fmt.Errorf("get of index %d: %w", i, err)
		}
		if r.gen.Verify(scratch, v, i, versionOverwrite) == nil {
			continue
		}
		if err := r.gen.Verify(scratch, v, i, versionFill); err != nil {
			return 0, fmt.Errorf("wrong value (neither the fill's nor the overwrite's): %w", err)
		}
	}
	return count, nil
}

// fmtP99 prints a part's p99, or "-".
func fmtP99(r *Result) string {
	if r.Latency == nil {
		return "-"
	}
	return fmtDur(time.Duration(r.Latency.P99))
}
