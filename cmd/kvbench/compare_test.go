package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBetterRatio(t *testing.T) {
	cases := []struct {
		v, ref float64
		higher bool
		want   float64
		ok     bool
	}{
		{300, 100, true, 3, true},    // 3x the ops/s
		{50, 100, true, 0.5, true},   // half the ops/s
		{50, 100, false, 2, true},    // half the disk: 2x better
		{200, 100, false, 0.5, true}, // twice the latency: half as good
		{100, 100, false, 1, true},
		{0, 100, true, 0, false},
		{100, 0, true, 0, false},
		{-1, 100, false, 0, false},
	}
	for _, c := range cases {
		got, ok := betterRatio(c.v, c.ref, c.higher)
		require.Equal(t, c.ok, ok, "%+v", c)
		require.InDelta(t, c.want, got, 1e-12, "%+v", c)
	}
}

// row makes a result with the figures the tests compare.
func row(engine string, opsPerSec float64, p99 time.Duration, disk int64, seconds, heapPerKey float64) *Result {
	r := &Result{Engine: engine, OpsPerSec: opsPerSec, Seconds: seconds}
	if p99 > 0 {
		r.Latency = &Latency{P50: 1, P99: int64(p99), P999: int64(p99)}
	}
	if disk > 0 {
		r.DiskBytes = &disk
	}
	if heapPerKey > 0 {
		r.HeapPerKey = &heapPerKey
	}
	return r
}

func TestBestPeerExcludesSimplekvAndNA(t *testing.T) {
	rows := []*Result{
		row("simplekv", 1000, 0, 10, 0, 0),
		row("bbolt", 100, 0, 50, 0, 0),
		row("pebble", 300, 0, 40, 0, 0),
		{Engine: "goleveldb", NA: "no compaction"},
		row("badger", 0, 0, 0, 0, 0), // no figures at all
	}
	require.Equal(t, "pebble", bestPeer(rows, metricOps).Engine, "highest ops/s, simplekv's 1000 not counted")
	require.Equal(t, "pebble", bestPeer(rows, metricDisk).Engine, "smallest disk, simplekv's 10 not counted")
	rows[1].DiskBytes = new(int64(30))
	require.Equal(t, "bbolt", bestPeer(rows, metricDisk).Engine)
	// No peer with a figure: nil.
	require.Nil(t, bestPeer(rows, metricHeap))
	require.Nil(t, bestPeer(rows[:1], metricOps), "simplekv alone has no peer")
}

// testReport builds a report from rows per workload (display names).
func testReport(rows map[string][]*Result) *Report {
	rp := &Report{}
	for _, w := range workloads {
		name := w.displayName(16)
		for _, r := range rows[name] {
			rp.add(w, name, r)
		}
	}
	rp.sortWorkloads()
	rp.computeRatios()
	rp.summarize()
	return rp
}

func summaryRow(t *testing.T, rp *Report, workload, figure string) SummaryRow {
	t.Helper()
	for _, s := range rp.Summary {
		if s.Workload == workload && s.Figure == figure {
			return s
		}
	}
	require.Failf(t, "no summary row", "%s %s", workload, figure)
	return SummaryRow{}
}

func TestSummaryRatiosAndGoals(t *testing.T) {
	ms := time.Millisecond
	rp := testReport(map[string][]*Result{
		// ops/s: 3.1x the best peer (pebble); bbolt is slower and
		// simplekv's own figure is not a peer's.
		"fill-rand": {row("simplekv", 3100, 0, 0, 0, 0), row("bbolt", 200, 0, 0, 0, 0), row("pebble", 1000, 0, 0, 0, 0)},
		// 1.1x: below the 5x goal.
		"read-uniform": {row("simplekv", 1100, 0, 0, 0, 0), row("pebble", 1000, 0, 0, 0, 0)},
		// No goal for ycsb-a: a row without a verdict.
		"ycsb-a": {row("simplekv", 500, 0, 0, 0, 0), row("pebble", 1000, 0, 0, 0, 0)},
		// Heap: absolute goal (≤ 40 B/key), met at 39 whatever the peers.
		"heap": {row("simplekv", 0, 0, 0, 0, 39), row("bbolt", 0, 0, 0, 0, 2)},
		// Reopen: absolute goal (≤ 50 ms), missed at 200 ms.
		"reopen": {row("simplekv", 0, 0, 0, 0.200, 0), row("pebble", 0, 0, 0, 0.010, 0)},
		// Compact: bbolt is n/a and not the smallest peer; simplekv's
		// disk equals the smallest peer's: met (≤).
		"compact": {row("simplekv", 0, 0, 400, 2, 0), {Engine: "bbolt", NA: "no compaction"}, row("pebble", 0, 0, 400, 1, 0), row("goleveldb", 0, 0, 600, 3, 0)},
		// sync-16: 2.5x pebble's ops/s; p99 compared with pebble's (the
		// peer with the most ops/s: 1 ms), not goleveldb's lower 0.5 ms.
		"sync-16": {row("simplekv", 2500, 800*time.Microsecond, 0, 0, 0), row("pebble", 1000, ms, 0, 0, 0), row("goleveldb", 900, 500*time.Microsecond, 0, 0, 0)},
		// Overwrite without simplekv: n/a.
		"overwrite": {row("pebble", 1000, 0, 100, 0, 0)},
		// sync-1 with simplekv alone: no best peer.
		"sync-1": {row("simplekv", 100, ms, 0, 0, 0)},
	})

	cases := []struct {
		workload, figure string
		ratio            float64 // 0: n/a
		bestPeer         string
		met              string
	}{
		{"fill-rand", "ops/s", 3.1, "pebble", "yes"},
		{"read-uniform", "ops/s", 1.1, "pebble", "NO"},
		{"ycsb-a", "ops/s", 0.5, "pebble", ""},
		{"heap", "heap/key", 2.0 / 39, "bbolt", "yes"},
		{"reopen", "time", 0.05, "pebble", "NO"},
		{"compact", "disk", 1, "pebble", "yes"},
		{"compact", "time", 0.5, "pebble", ""},
		{"sync-16", "ops/s", 2.5, "pebble", "yes"},
		{"sync-16", "p99", 1.25, "pebble", "yes"},
		{"overwrite", "ops/s", 0, "pebble", naText},
		{"overwrite", "disk", 0, "pebble", ""},
		{"sync-1", "ops/s", 0, "", ""},
		{"sync-1", "p99", 0, "", ""},
	}
	for _, c := range cases {
		s := summaryRow(t, rp, c.workload, c.figure)
		name := c.workload + " " + c.figure
		if c.ratio == 0 {
			require.Nil(t, s.Ratio, name)
		} else {
			require.NotNil(t, s.Ratio, name)
			require.InDelta(t, c.ratio, *s.Ratio, 1e-9, name)
		}
		require.Equal(t, c.bestPeer, s.BestPeer, name)
		require.Equal(t, c.met, s.Met, name)
	}
	require.Len(t, rp.Summary, len(cases), "one row per compared figure of each workload that ran")
	require.Equal(t, "≥ 3x", summaryRow(t, rp, "fill-rand", "ops/s").Goal)
	require.Equal(t, "≤ best peer's", summaryRow(t, rp, "sync-16", "p99").Goal)
	require.Equal(t, "3.10k ops/s", summaryRow(t, rp, "fill-rand", "ops/s").SimplekvText)
	require.Equal(t, "pebble 1.00k ops/s", summaryRow(t, rp, "fill-rand", "ops/s").BestPeerText)
	require.Equal(t, naText, summaryRow(t, rp, "overwrite", "ops/s").SimplekvText)
	require.Equal(t, naText, summaryRow(t, rp, "sync-1", "ops/s").BestPeerText)

	// Every row's ratio, peers included, in the direction of its figure:
	// the best peer is at 1, the others below.
	fill := rp.workload("fill-rand").Results
	require.InDelta(t, 3.1, fill[0].VsBestPeer["ops/s"], 1e-9)
	require.InDelta(t, 0.2, fill[1].VsBestPeer["ops/s"], 1e-9)
	require.InDelta(t, 1, fill[2].VsBestPeer["ops/s"], 1e-9)
	compact := rp.workload("compact").Results
	require.Nil(t, compact[1].VsBestPeer, "n/a row")
	require.InDelta(t, 400.0/600, compact[3].VsBestPeer["disk"], 1e-9, "more disk: below 1")
	require.InDelta(t, 1.0/3, compact[3].VsBestPeer["time"], 1e-9)
	sync16 := rp.workload("sync-16").Results
	require.InDelta(t, 2, sync16[2].VsBestPeer["p99"], 1e-9, "goleveldb's p99 against pebble's")
}

func TestGoalsCoverTheIssue(t *testing.T) {
	// The issues' tables, and only them: a goal per row, each on a figure
	// its workload compares.
	want := map[string]string{
		"fill-rand ops/s": "≥ 3x", "read-uniform ops/s": "≥ 5x", "read-zipf ops/s": "≥ 6x",
		"overwrite ops/s": "≥ 3x", "sync-16 ops/s": "≥ 2x", "sync-16 p99": "≤ best peer's",
		"reopen time": "≤ 50 ms", "reopen-clean time": "≤ 50 ms", "heap heap/key": "≤ 40 B/key", "compact disk": "≤ smallest peer",
		// Issue 13's.
		"raft-append ops/s": "≥ 1x", "raft-append ops/s vs raft-boltdb": "≥ 2x",
		"raft-append-truncated ops/s": "≥ 1x", "raft-append-truncated ops/s vs raft-boltdb": "≥ 2x",
		"raft-cluster ops/s": "≥ 10k ops/s",
	}
	require.Len(t, goals, len(want))
	for _, g := range goals {
		require.Equal(t, want[g.workload+" "+g.metric], g.text, "%+v", g)
		w := lookupWorkload(g.workload, 16)
		require.NotNil(t, w, g.workload)
		found := false
		for _, spec := range w.ratios {
			found = found || spec.m.key == g.metric
		}
		require.True(t, found, "%s does not compare %s", g.workload, g.metric)
	}
	// Absolute goals in the metric's unit.
	reopen := goalFor("reopen", "time")
	met, known := reopen.met(0.049, true, 0, false)
	require.True(t, known)
	require.True(t, met)
	met, _ = reopen.met(0.051, true, 0, false)
	require.False(t, met)
	_, known = reopen.met(0, false, 0, false)
	require.False(t, known)
	// sync-16's goal belongs to 16 writers only.
	require.Nil(t, goalFor("sync-8", "ops/s"))
}

func TestFmtRatio(t *testing.T) {
	for x, want := range map[float64]string{2.3149: "2.31x", 1: "1.00x", 0.1: "0.10x", 0.0123: "0.012x", 0.0011: "0.0011x", 6e-05: "<0.001x", 12.34: "12.3x", 250: "250x"} {
		require.Equal(t, want, fmtRatio(x))
	}
}
