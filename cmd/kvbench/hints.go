package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/simplekv/simplekv/bench"
	"github.com/simplekv/simplekv/engine"
)

// engineDB drives an engine.DB opened with options of kvbench's own (the
// simplekv-only workloads) through bench.DB, like the simplekv adapter.
type engineDB struct{ *engine.DB }

func (d engineDB) Get(key []byte) ([]byte, error) {
	v, err := d.DB.Get(key)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, bench.ErrNotFound
	}
	if err == nil && v == nil {
		v = []byte{}
	}
	return v, err
}

// hintsOptions are reopen-hints' engine options: no background merge, so
// that the first reopen replays a log that was never merged.
func hintsOptions() engine.Options { return engine.Options{DisableAutoCompaction: true} }

// openFigures is what reopenEngine measures.
type openFigures struct {
	open, close time.Duration
	heap        int64        // HeapAlloc with the DB open minus with it closed
	st          engine.Stats // right after Open
}

// reopenEngine closes db and opens dir again, timing both, and measures
// the heap the reopened DB holds. It checks that the DB has n keys.
func (r *runner) reopenEngine(db *engine.DB, dir, step string, n int) (*engine.DB, openFigures, error) {
	var f openFigures
	t0 := time.Now()
	err := db.Close()
	f.close = time.Since(t0)
	if err != nil {
		return nil, f, fmt.Errorf("%s: close before %s: %w", wReopenHints, step, err)
	}
	if r.beforeReopen != nil {
		r.beforeReopen(wReopenHints, dir)
	}
	base := heapNow()
	t1 := time.Now()
	db, err = engine.Open(dir, hintsOptions())
	f.open = time.Since(t1)
	if err != nil {
		return nil, f, fmt.Errorf("%s: %s: open %s: %w", wReopenHints, step, dir, err)
	}
	f.heap = heapNow() - base
	f.st = db.Stats()
	if f.st.Keys != n {
		return db, f, fmt.Errorf("%s: %s: reopened DB has %d keys, want %d", wReopenHints, step, f.st.Keys, n)
	}
	return db, f, nil
}

// reopenHints compares simplekv's reopen from its log with its reopen from
// hint files, on a DB of its own (auto compaction off): it fills n keys
// (untimed), reopens (a log replay), merges every file with Compact,
// reopens again, now from last_state/ and its hints, and checks a sample
// of keys. It fails unless Open read every merged file's hint
// (Stats.HintFallbacks 0) and found n keys.
func (r *runner) reopenHints(dir string) (err error) {
	w := workloadByName(wReopenHints)
	name := wReopenHints
	ks, err := r.mainKeyspace()
	if err != nil {
		return err
	}
	n := r.o.N
	tr := newTracker(r.errw, r.progress, name+": fill", int64(n))
	defer tr.finish()
	db, err := engine.Open(dir, hintsOptions())
	if err != nil {
		return fmt.Errorf("%s: open %s: %w", name, dir, err)
	}
	defer func() {
		if db != nil {
			if cerr := db.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("%s: close: %w", name, cerr)
			}
		}
		if !r.keep {
			if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
				err = rerr
			}
		}
	}()
	if err := ks.Load(engineDB{db}, bench.NewPerm(uint64(n), r.o.Seed^seedFill), 0, uint64(n), func(k int) { tr.add(int64(k)) }); err != nil {
		return fmt.Errorf("%s: fill: %w", name, err)
	}
	if err := db.Sync(); err != nil {
		return fmt.Errorf("%s: fill: sync: %w", name, err)
	}

	tr.describe(name + ": reopen (log)")
	db, noHints, err := r.reopenEngine(db, dir, "reopen from the log", n)
	if err != nil {
		return err
	}
	if m := mergedFiles(noHints.st); m > 0 {
		return fmt.Errorf("%s: the reopen without hints found %d merged files in last_state/; it was not a log replay", name, m)
	}

	tr.describe(name + ": Compact")
	before := db.Stats()
	t0 := time.Now()
	err = db.Compact()
	compactDur := time.Since(t0)
	if err != nil {
		return fmt.Errorf("%s: Compact: %w", name, err)
	}
	after := db.Stats()
	if after.Compactions != before.Compactions+1 {
		return fmt.Errorf("%s: Compact returned without merging (Stats.Compactions %d before, %d after)", name, before.Compactions, after.Compactions)
	}

	tr.describe(name + ": reopen (hints)")
	db, f, err := r.reopenEngine(db, dir, "reopen from hints", n)
	if err != nil {
		return err
	}
	st := f.st
	if st.HintFallbacks != 0 {
		return fmt.Errorf("%s: Open scanned %d merged data files instead of reading their hint files (Stats.HintFallbacks %d, want 0)", name, st.HintFallbacks, st.HintFallbacks)
	}
	if mergedFiles(st) == 0 {
		return fmt.Errorf("%s: no merged file in last_state/ after Compact", name)
	}
	if err := ks.VerifySample(engineDB{db}, r.o.VerifySample, r.o.Seed^seedReopen); err != nil {
		return fmt.Errorf("%s: after the reopen from hints: %w", name, err)
	}
	tr.finish()

	nf := float64(n)
	res := &Result{
		Ops:       st.RecoveredRecords,
		Seconds:   f.open.Seconds(),
		OpsPerSec: float64(st.RecoveredRecords) / f.open.Seconds(),
	}
	// Open read the hint files and scanned wal/ (only the active file's
	// header is left there); it did not read the merged data files.
	var dataBytes, walBytes int64
	for _, fs := range st.Files {
		dataBytes += fs.Size
		if fs.WAL {
			walBytes += fs.Size
		}
	}
	hintBytes := st.DiskBytes - dataBytes
	res.setMBps(hintBytes + walBytes)
	speedup := noHints.open.Seconds() / f.open.Seconds()
	res.Extra = map[string]float64{
		"open_ms":                     ms(f.open),
		"close_ms":                    ms(f.close),
		"recovery_ms":                 ms(st.RecoveryDuration),
		"recovery_hints_ms":           ms(st.RecoveryHintsDuration),
		"recovery_log_ms":             ms(st.RecoveryLogDuration),
		"recovered_records":           float64(st.RecoveredRecords),
		"hint_fallbacks":              float64(st.HintFallbacks),
		"keys":                        float64(st.Keys),
		"disk_bytes":                  float64(st.DiskBytes),
		"hint_bytes":                  float64(hintBytes),
		"data_files":                  float64(st.DataFiles),
		"open_no_hints_ms":            ms(noHints.open),
		"recovery_no_hints_ms":        ms(noHints.st.RecoveryDuration),
		"recovered_records_no_hints":  float64(noHints.st.RecoveredRecords),
		"heap_bytes_per_key_no_hints": float64(noHints.heap) / nf,
		"speedup":                     speedup,
		"compact_ms":                  ms(compactDur),
		"disk_bytes_before_compact":   float64(before.DiskBytes),
		"disk_bytes_after_compact":    float64(after.DiskBytes),
		"heap_bytes":                  float64(f.heap),
		"heap_bytes_per_key":          float64(f.heap) / nf,
		"keydir_bytes_per_key":        float64(st.KeydirBytes) / nf,
		"verified":                    float64(r.o.VerifySample),
	}
	res.Notes = fmt.Sprintf("open %s from hints (hints %s, log %s) vs %s from the log: %.1fx; "+
		"Compact %s, disk %s -> %s (hints %s); %d records, %d keys, %d hint fallbacks; heap %.1f B/key (%.1f after the log replay); %d keys verified",
		fmtDur(f.open), fmtDur(st.RecoveryHintsDuration), fmtDur(st.RecoveryLogDuration),
		fmtDur(noHints.open), speedup,
		fmtDur(compactDur), fmtBytes(before.DiskBytes), fmtBytes(after.DiskBytes), fmtBytes(hintBytes),
		st.RecoveredRecords, st.Keys, st.HintFallbacks, float64(f.heap)/nf, float64(noHints.heap)/nf, r.o.VerifySample)
	res.Engine = simplekvName
	r.rep.add(w, name, res)
	r.statusf("%-10s %-14s %s from hints, %s from the log", simplekvName, name, fmtDur(f.open), fmtDur(noHints.open))
	return nil
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
