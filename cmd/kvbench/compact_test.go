package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
)

// runJSON runs kvbench with args plus -json and returns the exit status,
// stdout, stderr and the parsed report.
func runJSON(t *testing.T, args ...string) (int, string, string, *Report) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	rc := run(append(args, "-json", path), &stdout, &stderr)
	b, err := os.ReadFile(path)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	var rep Report
	require.NoError(t, json.Unmarshal(b, &rep), "JSON:\n%s", b)
	return rc, stdout.String(), stderr.String(), &rep
}

// phase returns the named phase of rep.
func phase(t *testing.T, rep *Report, name string) *PhaseResult {
	t.Helper()
	for _, p := range rep.Phases {
		if p.Name == name {
			return p
		}
	}
	require.Failf(t, "phase missing", "no phase %s in the report", name)
	return nil
}

func TestCompactPhase(t *testing.T) {
	rc, out, stderr, rep := runJSON(t, tinyArgs("-phases", "compact", "-compact-keys", "1500")...)
	require.Equal(t, exitOK, rc, "stdout:\n%s\nstderr:\n%s", out, stderr)
	t.Logf("output:\n%s", out)
	require.Empty(t, stderr)

	// Only the compact phase ran: it has a DB of its own and needs no fill.
	require.Len(t, rep.Phases, 1)
	p := phase(t, rep, phaseCompact)
	require.Contains(t, out, "compact   keys=1500 writers=2 duration=1s")
	require.Equal(t, 1500, rep.Header.Config.CompactKeys)

	require.Greater(t, p.Extra["merges"], 0.0, "the run must complete merges")
	require.Greater(t, p.Ops, int64(0))
	require.Greater(t, p.OpsPerSec, 0.0)
	require.NotNil(t, p.Latency)
	require.Equal(t, 1500.0, p.Extra["keys"])
	require.Equal(t, 500.0, p.Extra["verified"])

	// The two parts split the puts between them.
	require.Len(t, p.Parts, 2)
	idle, merging := p.Parts[0], p.Parts[1]
	require.Equal(t, partNoMerge, idle.Name)
	require.Equal(t, partMerging, merging.Name)
	require.Equal(t, p.Ops, idle.Ops+merging.Ops)
	for _, part := range p.Parts {
		if part.Ops == 0 {
			require.Nil(t, part.Latency, "%s: no puts, so no latencies", part.Name)
			require.NotContains(t, p.Extra, "p99_merging_over_no_merge")
			continue
		}
		require.NotNil(t, part.Latency, part.Name)
		require.Positive(t, part.Latency.P50, part.Name)
		require.GreaterOrEqual(t, part.Latency.P99, part.Latency.P50, part.Name)
		require.GreaterOrEqual(t, part.Latency.P999, part.Latency.P99, part.Name)
		require.Positive(t, part.OpsPerSec, part.Name)
	}
	if idle.Ops > 0 && merging.Ops > 0 {
		require.InDelta(t, float64(merging.Latency.P99)/float64(idle.Latency.P99), p.Extra["p99_merging_over_no_merge"], 1e-9)
	}
	require.Greater(t, p.Extra["merging_seconds"], 0.0)
	require.InDelta(t, p.Extra["merging_seconds"], merging.Seconds, 1e-9)

	// Disk accounting: after the final full merge only the live records
	// remain (16 B keys, 100 B incompressible values, 33 B headers), and
	// the disk holds them plus hint files and file headers.
	require.Equal(t, 1500.0*(33+16+100), p.Extra["live_bytes_compacted"])
	require.Greater(t, p.Extra["disk_bytes_before"], 0.0)
	require.Greater(t, p.Extra["disk_bytes_end"], 0.0)
	require.Greater(t, p.Extra["disk_over_live_compacted"], 1.0)
	require.Less(t, p.Extra["disk_over_live_compacted"], 1.5)
	require.Less(t, p.Extra["disk_bytes_compacted"], p.Extra["disk_bytes_end"])
	require.Greater(t, p.Extra["disk_over_live_end"], 0.0)

	// The table shows the phase and its two parts.
	rows := tableRows(t, out)
	require.Contains(t, rows, phaseCompact)
	require.Contains(t, rows, partNoMerge)
	require.Contains(t, rows, partMerging)
	require.Contains(t, out, "\n  no-merge ")
	require.Contains(t, out, "\n  merging ")
}

func TestCompactWithoutMergesFails(t *testing.T) {
	// A trigger check once an hour never comes during a 200 ms run.
	rc, out, stderr, rep := runJSON(t, tinyArgs("-phases", "compact", "-compact-duration", "200ms", "-compact-interval", "1h")...)
	require.Equal(t, exitFail, rc, "stdout:\n%s", out)
	for _, want := range []string{"no merge completed", "CompactionInterval 1h0m0s", "MaxFileSize 32.0 KiB", "2 writer(s) for 200ms over 2000 keys", "-compact-duration"} {
		require.Contains(t, stderr, want)
		require.Contains(t, rep.Error, want)
	}
	require.Empty(t, rep.Phases, "a run without merges has no row")
}

// TestMergeSplitWithoutMergingPuts: when no put started during a merge,
// the merging part says so and has no latencies, and there is no ratio.
func TestMergeSplitWithoutMergingPuts(t *testing.T) {
	idle := newHist()
	for i := range 100 {
		record(idle, time.Duration(1000+i))
	}
	run := &compactRun{
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

	var b bytes.Buffer
	row := resultRow("  "+merging.Name, merging)
	b.WriteString(row)
	f := strings.Fields(b.String())
	require.Equal(t, []string{"merging", "0", "-", "-", "-", "-", "-"}, f[:7])

	// And with puts on both sides, the ratio of the p99s.
	m := newHist()
	for range 50 {
		record(m, 4000*time.Nanosecond)
	}
	run = &compactRun{
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

func TestReopenHintsPhase(t *testing.T) {
	// Without the reopen phase, reopen-hints measures the log replay
	// itself.
	rc, out, stderr, rep := runJSON(t, tinyArgs("-phases", "reopen-hints")...)
	require.Equal(t, exitOK, rc, "stdout:\n%s\nstderr:\n%s", out, stderr)
	t.Logf("output:\n%s", out)
	require.Len(t, rep.Phases, 2)
	require.True(t, phase(t, rep, phaseFill).Prerequisite)
	p := phase(t, rep, phaseReopenHints)

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
	require.Contains(t, p.Notes, "(measured here)")
	require.Contains(t, p.Notes, "0 hint fallbacks")
	require.Contains(t, tableRows(t, out), phaseReopenHints)
}

// TestReopenHintsCatchesFallback removes the hint files before the hinted
// reopen: Open then scans the merged data file, and the phase must fail.
func TestReopenHintsCatchesFallback(t *testing.T) {
	o := DefaultOptions()
	o.N, o.VerifySample, o.Phases = 500, 100, "reopen-hints"
	require.NoError(t, o.Validate())
	sel, err := o.phaseSet()
	require.NoError(t, err)
	var stdout bytes.Buffer
	rep := newReport(&stdout, &o, t.TempDir(), true, sel)
	r := newRunner(&o, rep.Header.Dir, rep, io.Discard, false)
	removed := 0
	r.beforeReopen = func(phase, dir string) {
		hints, err := filepath.Glob(filepath.Join(dir, "last_state", "*.hint"))
		require.NoError(t, err)
		for _, h := range hints {
			require.NoError(t, os.Remove(h))
			removed++
		}
	}
	err = r.run(sel)
	_ = r.closeMain()
	require.Positive(t, removed, "no hint file to remove: did Compact run?")
	require.ErrorContains(t, err, "Stats.HintFallbacks 1, want 0")
	require.ErrorContains(t, err, phaseReopenHints)
}

func TestCompactFlags(t *testing.T) {
	o := DefaultOptions()
	require.Equal(t, 250_000, o.CompactKeys)
	require.Equal(t, 2, o.CompactWriters)
	require.Equal(t, 10*time.Second, o.CompactDuration)
	require.Equal(t, int64(8<<20), o.CompactFileSize)
	require.Equal(t, 250*time.Millisecond, o.CompactInterval)

	fs := flag.NewFlagSet("kvbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	require.NoError(t, fs.Parse([]string{"-n", "1000", "-compact-keys", "5000", "-compact-writers", "3",
		"-compact-duration", "2s", "-compact-file-size", "4096", "-compact-interval", "5ms"}))
	require.NoError(t, o.Validate())
	require.Equal(t, 1000, o.compactKeys(), "the compact phase uses at most n keys")
	eo := o.compactEngineOptions(true)
	require.Equal(t, int64(4096), eo.MaxFileSize)
	require.Equal(t, 5*time.Millisecond, eo.CompactionInterval)
	require.False(t, eo.DisableAutoCompaction)
	require.True(t, o.compactEngineOptions(false).DisableAutoCompaction)
	require.True(t, o.engineOptions(false).DisableAutoCompaction, "the main DB never merges in the background")

	// Every bad compact flag is reported at once.
	o = DefaultOptions()
	o.CompactDuration, o.CompactInterval, o.CompactFileSize, o.CompactWriters, o.CompactKeys = -time.Second, -time.Millisecond, -1, 0, -1
	err := o.Validate()
	require.Error(t, err)
	for _, want := range []string{"-compact-duration -1s", "-compact-interval -1ms", "-compact-file-size -1", "-compact-writers 0", "-compact-keys -1"} {
		require.ErrorContains(t, err, want)
	}

	// The usage names the new flags and phases.
	var stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"-h"}, io.Discard, &stderr))
	for _, want := range []string{"-compact-duration", "-compact-file-size", "-compact-interval", "-compact-writers", "-compact-keys", "reopen-hints", "compact"} {
		require.Contains(t, stderr.String(), want)
	}
}

// TestCompactOverwriteSplitsByMergeState drives the overwrite loop on a DB
// whose merges the test controls: with none, every put is no-merge; with
// Compact running back to back, puts land in the merging group too, and
// each histogram holds exactly its group's puts.
func TestCompactOverwriteSplitsByMergeState(t *testing.T) {
	o := DefaultOptions()
	o.N, o.CompactDuration, o.CompactFileSize = 3000, 300*time.Millisecond, 32<<10
	require.NoError(t, o.Validate())
	r := newRunner(&o, t.TempDir(), nil, io.Discard, false)
	db, err := engine.Open(filepath.Join(r.root, "db"), o.compactEngineOptions(false))
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	_, err = r.compactFill(db, 3000)
	require.NoError(t, err)

	// No merge at all.
	run, err := r.compactOverwrite(db, 3000)
	require.NoError(t, err)
	require.Positive(t, run.ops)
	require.Zero(t, run.opsMerging)
	require.Zero(t, run.merging.TotalCount())
	require.Equal(t, run.ops, run.idle.TotalCount())
	require.Zero(t, run.watch.mergingTime)
	require.Zero(t, run.watch.starts)

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
	run, err = r.compactOverwrite(db, 3000)
	close(stop)
	require.NoError(t, <-done)
	require.NoError(t, err)
	require.Positive(t, run.opsMerging, "no put landed during %v of merging", run.watch.mergingTime)
	require.Equal(t, run.opsMerging, run.merging.TotalCount())
	require.Equal(t, run.ops-run.opsMerging, run.idle.TotalCount())
	require.Positive(t, run.watch.mergingTime)
	require.Positive(t, run.watch.starts)
}
