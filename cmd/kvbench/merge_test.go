package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/simplekv/simplekv/datafile"
	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
)

// runOut runs kvbench with args plus -out and returns the exit status,
// stdout, stderr and the parsed report.
func runOut(t *testing.T, args ...string) (int, string, string, *Report) {
	t.Helper()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	rc := run(append(args, "-out", out), &stdout, &stderr)
	return rc, stdout.String(), stderr.String(), readReport(t, out)
}

// only returns simplekv's row of the only workload in rep, which must be
// name.
func only(t *testing.T, rep *Report, name string) *Result {
	t.Helper()
	require.Len(t, rep.Workloads, 1)
	require.Equal(t, name, rep.Workloads[0].Name)
	require.Len(t, rep.Workloads[0].Results, 1)
	return rep.Workloads[0].Results[0]
}

func TestMergeLatency(t *testing.T) {
	rc, out, stderr, rep := runOut(t, tinyArgs("-engines", "simplekv", "-workloads", "merge-latency", "-merge-keys", "1500", "-verify-sample", "500")...)
	require.Equal(t, exitOK, rc, "stdout:\n%s\nstderr:\n%s", out, stderr)
	t.Logf("output:\n%s", out)
	require.Empty(t, stderr)

	// Only merge-latency ran: it has a DB of its own and needs no fill.
	p := only(t, rep, wMergeLatency)
	require.Contains(t, out, "merge     keys=1500 writers=2 duration=1s")
	require.Equal(t, 1500, rep.Header.Config.Merge.Keys)
	require.Equal(t, simplekvName, p.Engine)

	require.Greater(t, p.Extra["merges"], 0.0, "the run must complete merges")
	require.Greater(t, p.Ops, int64(0))
	require.Greater(t, p.OpsPerSec, 0.0)
	require.NotNil(t, p.Latency)
	require.Equal(t, 1500.0, p.Extra["keys"])
	require.Equal(t, 500.0, p.Extra["verified"])

	// The two parts split the puts between them.
	require.Len(t, p.Parts, 2)
	idle, merging := p.Parts[0], p.Parts[1]
	require.Equal(t, partNoMerge, idle.Part)
	require.Equal(t, partMerging, merging.Part)
	require.Equal(t, p.Ops, idle.Ops+merging.Ops)
	for _, part := range p.Parts {
		if part.Ops == 0 {
			require.Nil(t, part.Latency, "%s: no puts, so no latencies", part.Part)
			require.NotContains(t, p.Extra, "p99_merging_over_no_merge")
			continue
		}
		require.NotNil(t, part.Latency, part.Part)
		require.Positive(t, part.Latency.P50, part.Part)
		require.GreaterOrEqual(t, part.Latency.P99, part.Latency.P50, part.Part)
		require.GreaterOrEqual(t, part.Latency.P999, part.Latency.P99, part.Part)
		require.Positive(t, part.OpsPerSec, part.Part)
	}
	if idle.Ops > 0 && merging.Ops > 0 {
		require.InDelta(t, float64(merging.Latency.P99)/float64(idle.Latency.P99), p.Extra["p99_merging_over_no_merge"], 1e-9)
	}
	require.Greater(t, p.Extra["merging_seconds"], 0.0)
	require.InDelta(t, p.Extra["merging_seconds"], merging.Seconds, 1e-9)

	// Disk accounting: after the final full merge only the live records
	// remain (16 B keys, 100 B incompressible values, 10 to 33 B headers:
	// 11 for these sequence numbers), and the disk holds them plus hint
	// files and file headers.
	require.GreaterOrEqual(t, p.Extra["live_bytes_compacted"], 1500.0*(datafile.MinRecordHeaderSize+16+100))
	require.LessOrEqual(t, p.Extra["live_bytes_compacted"], 1500.0*(datafile.MaxRecordHeaderSize+16+100))
	require.Greater(t, p.Extra["disk_bytes_before"], 0.0)
	require.Greater(t, p.Extra["disk_bytes_end"], 0.0)
	require.Greater(t, p.Extra["disk_over_live_compacted"], 1.0)
	require.Less(t, p.Extra["disk_over_live_compacted"], 1.5)
	require.Less(t, p.Extra["disk_bytes_compacted"], p.Extra["disk_bytes_end"])
	require.Greater(t, p.Extra["disk_over_live_end"], 0.0)

	// The table shows the row and its two parts under it.
	require.Contains(t, out, "== merge-latency: simplekv only")
	require.Contains(t, out, "\nsimplekv ")
	require.Contains(t, out, "\n  no-merge ")
	require.Contains(t, out, "\n  merging ")
	// No summary row: simplekv-only workloads are not compared.
	require.Empty(t, rep.Summary)
}

func TestMergeLatencyWithoutMergesFails(t *testing.T) {
	// A trigger check once an hour never comes during a 200 ms run.
	rc, out, stderr, rep := runOut(t, tinyArgs("-workloads", "merge-latency", "-merge-duration", "200ms", "-merge-interval", "1h")...)
	require.Equal(t, exitFail, rc, "stdout:\n%s", out)
	for _, want := range []string{"no merge completed", "CompactionInterval 1h0m0s", "MaxFileSize 32.0 KiB", "2 writer(s) for 200ms over 2000 keys", "-merge-duration"} {
		require.Contains(t, stderr, want)
		require.Contains(t, rep.Error, want)
	}
	require.Empty(t, rep.Workloads, "a run without merges has no row")
}

// TestMergeSplitWithoutMergingPuts: when no put started during a merge,
// the merging part says so and has no latencies, and there is no ratio.
func TestMergeSplitWithoutMergingPuts(t *testing.T) {
	idle := newHist()
	for i := range 100 {
		record(idle, time.Duration(1000+i))
	}
	run := &mergeRun{
		ops: 100, opsMerging: 0, idle: idle, merging: newHist(), elapsed: time.Second,
		watch: &mergeWatcher{elapsed: time.Second, mergingTime: 0},
	}
	no, merging, p99 := mergeSplit(run, 116)
	require.Zero(t, p99)
	require.Equal(t, int64(100), no.Ops)
	require.NotNil(t, no.Latency)
	require.Equal(t, int64(0), merging.Ops)
	require.Nil(t, merging.Latency)
	require.Contains(t, merging.Notes, "no put started while a merge ran")

	// Its row in the table: no figures but the count.
	sk := &Result{Engine: simplekvName, Ops: 100, Parts: []*Result{no, merging}}
	tbl := workloadTable(&WorkloadResult{Name: wMergeLatency, Results: []*Result{sk}, w: workloadByName(wMergeLatency)})
	require.Len(t, tbl.rows, 3)
	require.Equal(t, []string{"  merging", "0", "-", "-", "-", "-", "-"}, tbl.rows[2][:7])
	require.Equal(t, "  no-merge", tbl.rows[1][0])

	// And with puts on both sides, the ratio of the p99s.
	m := newHist()
	for range 50 {
		record(m, 4000*time.Nanosecond)
	}
	run = &mergeRun{
		ops: 150, opsMerging: 50, idle: idle, merging: m, elapsed: time.Second,
		watch: &mergeWatcher{elapsed: time.Second, mergingTime: 250 * time.Millisecond},
	}
	no, merging, p99 = mergeSplit(run, 116)
	require.InDelta(t, float64(merging.Latency.P99)/float64(no.Latency.P99), p99, 1e-9)
	require.Greater(t, p99, 3.0)
	require.InDelta(t, 200.0, merging.OpsPerSec, 1e-6) // 50 puts in 250 ms
	require.InDelta(t, 100.0/0.75, no.OpsPerSec, 1e-6)
	require.Contains(t, merging.Notes, "33% of puts, 25% of the time")
}

func TestReopenHints(t *testing.T) {
	rc, out, stderr, rep := runOut(t, tinyArgs("-workloads", "reopen-hints", "-verify-sample", "500")...)
	require.Equal(t, exitOK, rc, "stdout:\n%s\nstderr:\n%s", out, stderr)
	t.Logf("output:\n%s", out)
	// reopen-hints fills a DB of its own: no other row.
	p := only(t, rep, wReopenHints)

	require.Equal(t, 0.0, p.Extra["hint_fallbacks"])
	require.Equal(t, 2000.0, p.Extra["keys"])
	require.Equal(t, int64(2000), p.Ops)
	require.Equal(t, 2000.0, p.Extra["recovered_records"])
	require.Equal(t, 2000.0, p.Extra["recovered_records_no_hints"])
	require.Greater(t, p.Extra["open_ms"], 0.0, "hinted reopen time")
	require.Greater(t, p.Extra["open_no_hints_ms"], 0.0, "log replay time")
	require.Greater(t, p.Extra["recovery_hints_ms"], 0.0)
	require.LessOrEqual(t, p.Extra["recovery_hints_ms"]+p.Extra["recovery_log_ms"], p.Extra["recovery_ms"])
	require.Greater(t, p.Extra["compact_ms"], 0.0)
	require.Greater(t, p.Extra["disk_bytes_before_compact"], 0.0)
	require.Greater(t, p.Extra["disk_bytes_after_compact"], 0.0)
	require.Greater(t, p.Extra["heap_bytes_per_key"], 0.0)
	require.Greater(t, p.Extra["hint_bytes"], 0.0)
	require.Less(t, p.Extra["hint_bytes"], p.Extra["disk_bytes"])
	require.NotNil(t, p.MBPerSec)
	require.Equal(t, 500.0, p.Extra["verified"])
	require.Greater(t, p.Extra["heap_bytes_per_key_no_hints"], 0.0)
	require.Contains(t, p.Notes, "0 hint fallbacks")
	require.Contains(t, out, "== reopen-hints: simplekv only")
	require.Empty(t, rep.Summary)
}

// TestReopenHintsCatchesFallback removes the hint files before the hinted
// reopen: Open then scans the merged data file, and the phase must fail.
func TestReopenHintsCatchesFallback(t *testing.T) {
	o := DefaultOptions()
	o.N, o.VerifySample, o.Workloads, o.Engines = 500, 100, "reopen-hints", "simplekv"
	require.NoError(t, o.Validate())
	r := testRunner(t, &o)
	removed := 0
	r.beforeReopen = func(workload, dir string) {
		require.Equal(t, wReopenHints, workload)
		hints, err := filepath.Glob(filepath.Join(dir, "last_state", "*.hint"))
		require.NoError(t, err)
		for _, h := range hints {
			require.NoError(t, os.Remove(h))
			removed++
		}
	}
	err := r.run()
	require.Positive(t, removed, "no hint file to remove: did Compact run?")
	require.ErrorContains(t, err, "Stats.HintFallbacks 1, want 0")
	require.ErrorContains(t, err, "simplekv: "+wReopenHints)
}

// testRunner makes a runner for o in a temp directory, with progress off.
func testRunner(t *testing.T, o *Options) *runner {
	t.Helper()
	engines, err := o.engineList()
	require.NoError(t, err)
	sel, err := o.workloadList()
	require.NoError(t, err)
	root := t.TempDir()
	rep := newReport(o, nil, nil, sel, root, true)
	return newRunner(o, engines, sel, root, true, rep, io.Discard, false)
}

// TestMergeOverwriteSplitsByMergeState drives the overwrite loop on a DB
// whose merges the test controls: with none, every put is no-merge; with
// Compact running back to back, puts land in the merging group too, and
// each histogram holds exactly its group's puts.
func TestMergeOverwriteSplitsByMergeState(t *testing.T) {
	o := DefaultOptions()
	o.N, o.MergeDuration, o.MergeFileSize = 3000, 300*time.Millisecond, 32<<10
	require.NoError(t, o.Validate())
	r := testRunner(t, &o)
	db, err := engine.Open(filepath.Join(r.root, "db"), o.mergeEngineOptions(false))
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	_, err = r.mergeFill(db, 3000)
	require.NoError(t, err)

	// No merge at all.
	run, err := r.mergeOverwrite(db, 3000)
	require.NoError(t, err)
	require.Positive(t, run.ops)
	require.Zero(t, run.opsMerging)
	require.Zero(t, run.merging.TotalCount())
	require.Equal(t, run.ops, run.idle.TotalCount())
	require.Zero(t, run.watch.mergingTime)
	require.Zero(t, run.watch.seen)

	// Merges back to back.
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := db.Compact(); err != nil {
				done <- err
				return
			}
		}
	}()
	run, err = r.mergeOverwrite(db, 3000)
	close(stop)
	require.NoError(t, <-done)
	require.NoError(t, err)
	require.Positive(t, run.opsMerging, "no put landed during %v of merging", run.watch.mergingTime)
	require.Equal(t, run.opsMerging, run.merging.TotalCount())
	require.Equal(t, run.ops-run.opsMerging, run.idle.TotalCount())
	require.Positive(t, run.watch.mergingTime)
	require.Positive(t, run.watch.seen)
}
