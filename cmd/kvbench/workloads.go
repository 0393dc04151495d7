package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/simplekv/simplekv/bench"
)

// simplekvName is the engine every other is compared with.
const simplekvName = "simplekv"

// engineList returns the engines kvbench knows, in the order they run.
// Tests replace it to add a broken engine.
var engineList = bench.Engines

func engineNames() []string {
	var names []string
	for _, e := range engineList() {
		names = append(names, e.Name)
	}
	return names
}

// Workload names, as -workloads accepts them.
const (
	wFillRand     = "fill-rand"
	wHeap         = "heap"
	wReadUniform  = "read-uniform"
	wReadZipf     = "read-zipf"
	wYCSBA        = "ycsb-a"
	wYCSBB        = "ycsb-b"
	wYCSBC        = "ycsb-c"
	wOverwrite    = "overwrite"
	wCompact      = "compact"
	wReopen       = "reopen"
	wReopenClean  = "reopen-clean"
	wFillSeq      = "fill-seq"
	wSync1        = "sync-1"
	wSyncN        = "sync-n" // shown as sync-<writers>
	wBatch        = "batch-100"
	wBatchSync    = "batch-100-sync"
	wReopenHints  = "reopen-hints"
	wMergeLatency = "merge-latency"
)

// tableKind chooses the columns of a workload's table.
type tableKind int

const (
	tableThroughput tableKind = iota // ops, ops/s, latencies, MB/s
	tableHeap                        // heap per key and in all
	tableCompact                     // time and disk
	tableReopen                      // time
	tableSimplekv                    // simplekv-only rows with notes
)

// workload describes one workload: what it does, which figures it
// compares and how its table looks.
type workload struct {
	name  string
	about string
	// simplekvOnly workloads run only on simplekv, are not compared, and
	// are not in the default set.
	simplekvOnly bool
	// optIn workloads run on every engine but are not in the default set
	// either: they cost too much of `make bench`'s two minutes (a fill of
	// a DB of their own per engine).
	optIn bool
	// mainDB workloads run on each engine's main database, filled first.
	mainDB bool
	table  tableKind
	// ratios are the figures compared with the best peer, the headline
	// first.
	ratios []ratioSpec
}

// ratioSpec is one compared figure of a workload.
type ratioSpec struct {
	m *metric
	// byHeadline compares with the figure of the peer that is best by the
	// workload's headline figure (sync-16's p99 against the p99 of the
	// peer with the most ops/s), not with the best figure of any peer.
	byHeadline bool
	// peer, if set, compares with that engine's row instead of the best.
	peer string
}

// inDefault reports whether w is in the default set.
func (w *workload) inDefault() bool { return !w.simplekvOnly && !w.optIn }

// headline is the workload's main figure, or nil.
func (w *workload) headline() *metric {
	if len(w.ratios) == 0 {
		return nil
	}
	return w.ratios[0].m
}

// displayName is the workload's name in tables: sync-n is shown as
// sync-<writers>.
func (w *workload) displayName(writers int) string {
	if w.name == wSyncN {
		return "sync-" + strconv.Itoa(writers)
	}
	return w.name
}

// metric is a figure of a Result that can be compared between engines.
type metric struct {
	key    string // as in JSON and the summary: "ops/s", "p99", ...
	higher bool   // higher is better (else lower is)
	get    func(*Result) (float64, bool)
	format func(float64) string
}

var (
	metricOps = &metric{
		key:    "ops/s",
		higher: true,
		get:    func(r *Result) (float64, bool) { return r.OpsPerSec, r.OpsPerSec > 0 },
		format: func(v float64) string { return fmtCount(v) + " ops/s" },
	}
	metricP99 = &metric{
		key: "p99",
		get: func(r *Result) (float64, bool) {
			if r.Latency == nil {
				return 0, false
			}
			return float64(r.Latency.P99), true
		},
		format: func(v float64) string { return fmtDur(time.Duration(v)) },
	}
	metricDisk = &metric{
		key: "disk",
		get: func(r *Result) (float64, bool) {
			if r.DiskBytes == nil {
				return 0, false
			}
			return float64(*r.DiskBytes), true
		},
		format: func(v float64) string { return fmtBytes(int64(v)) },
	}
	metricHeap = &metric{
		key: "heap/key",
		get: func(r *Result) (float64, bool) {
			if r.HeapPerKey == nil {
				return 0, false
			}
			return *r.HeapPerKey, true
		},
		format: func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " B/key" },
	}
	metricTime = &metric{
		key:    "time",
		get:    func(r *Result) (float64, bool) { return r.Seconds, r.Seconds > 0 },
		format: func(v float64) string { return fmtDur(time.Duration(v * float64(time.Second))) },
	}
)

// workloads is every workload in the order they run on each engine.
var workloads = []*workload{
	{name: wFillRand, mainDB: true, ratios: []ratioSpec{{m: metricOps}},
		about: "every key once in a seeded random order, one goroutine, one Put each, then Sync (timed); capped at -max-phase, the rest written untimed"},
	{name: wHeap, mainDB: true, table: tableHeap, ratios: []ratioSpec{{m: metricHeap}},
		about: "Go heap per key after the fill: HeapAlloc (after two GCs) with the DB open minus before it was opened, over n"},
	{name: wReadUniform, mainDB: true, ratios: []ratioSpec{{m: metricOps}},
		about: "Gets of uniformly random keys from -readers goroutines for -duration; every value verified"},
	{name: wReadZipf, mainDB: true, ratios: []ratioSpec{{m: metricOps}},
		about: "Gets of Zipfian keys (theta 0.99, hot keys scattered) from -readers goroutines for -duration; every value verified"},
	{name: wYCSBA, mainDB: true, ratios: []ratioSpec{{m: metricOps}},
		about: "YCSB A: 50% reads, 50% updates of Zipfian keys from -readers goroutines for -duration"},
	{name: wYCSBB, mainDB: true, ratios: []ratioSpec{{m: metricOps}},
		about: "YCSB B: 95% reads, 5% updates of Zipfian keys from -readers goroutines for -duration"},
	{name: wYCSBC, mainDB: true, ratios: []ratioSpec{{m: metricOps}},
		about: "YCSB C: 100% reads of Zipfian keys from -readers goroutines for -duration (read-zipf again, later)"},
	{name: wOverwrite, mainDB: true, ratios: []ratioSpec{{m: metricOps}, {m: metricDisk}},
		about: "every key again with a new value, random order, one goroutine, then Sync (timed); capped like fill-rand; disk = the directory after the full pass"},
	{name: wCompact, mainDB: true, table: tableCompact, ratios: []ratioSpec{{m: metricDisk}, {m: metricTime}},
		about: "the engine's full compaction (bench.Compacter), timed; disk = the directory after it"},
	{name: wReopen, mainDB: true, table: tableReopen, ratios: []ratioSpec{{m: metricTime}},
		about: "Close (untimed), then Open plus one Get (timed); then -verify-sample keys checked"},
	{name: wReopenClean, optIn: true, table: tableReopen, ratios: []ratioSpec{{m: metricTime}},
		about: "a DB of its own: n keys written once (untimed, simplekv with auto compaction off), Close (untimed), then Open plus one Get (timed); then -verify-sample keys checked"},
	{name: wFillSeq, ratios: []ratioSpec{{m: metricOps}},
		about: "a fresh DB, keys in ascending order, one goroutine, one Put each, then Sync (timed); min(n keys, -max-phase)"},
	{name: wSync1, ratios: []ratioSpec{{m: metricOps}, {m: metricP99, byHeadline: true}},
		about: "a fresh DB with Config{Sync: true}: one writer Putting new random keys for -duration"},
	{name: wSyncN, ratios: []ratioSpec{{m: metricOps}, {m: metricP99, byHeadline: true}},
		about: "a fresh DB with Config{Sync: true}: -writers writers Putting new random keys for -duration (group commit)"},
	{name: wBatch, ratios: []ratioSpec{{m: metricOps}},
		about: "a fresh DB: one writer writing new random keys in atomic batches of 100 (bench.Batcher: each engine's own batch or transaction) for -duration; ops = keys, latency per batch"},
	{name: wBatchSync, ratios: []ratioSpec{{m: metricOps}, {m: metricP99, byHeadline: true}},
		about: "batch-100 with Config{Sync: true}: every batch durable when it returns"},
	{name: wRaftAppend, optIn: true, ratios: []ratioSpec{{m: metricOps}, {m: metricP99, byHeadline: true}, {m: metricOpsBolt, peer: "raft-boltdb"}},
		about: "raft log stores (simplekv = its raftlog, raft-wal, raft-boltdb), each fresh: StoreLogs of one 128-byte entry, durable on return, one writer for -duration"},
	{name: wRaftTruncated, optIn: true, ratios: []ratioSpec{{m: metricOps}, {m: metricP99, byHeadline: true}, {m: metricOpsBolt, peer: "raft-boltdb"}},
		about: "raft-append after 300k entries (batches of 64, untimed) and a head DeleteRange keeping the last 1024, as after a snapshot"},
	{name: wRaftCluster, optIn: true, ratios: []ratioSpec{{m: metricOps}},
		about: "3 replica.Nodes in one process on 127.0.0.1 (TCP transport, raftlog, raft defaults): -writers clients Putting new keys through the leader for -duration, each acknowledged once a majority has it"},
	{name: wReopenHints, simplekvOnly: true, table: tableSimplekv,
		about: "simplekv only: reopen from the log against reopen from hint files after Compact, on a DB of its own"},
	{name: wMergeLatency, simplekvOnly: true, table: tableSimplekv,
		about: "simplekv only: Put latency outside and during background merges, on a DB of its own with small files"},
}

// workloadFlagNames lists the names -workloads accepts.
func workloadFlagNames() []string {
	var names []string
	for _, w := range workloads {
		if w.name == wSyncN {
			names = append(names, "sync-<writers>")
			continue
		}
		names = append(names, w.name)
	}
	return names
}

// defaultWorkloadNames lists the default set, as -workloads accepts them.
func defaultWorkloadNames() []string {
	var names []string
	for _, w := range workloads {
		if w.inDefault() {
			names = append(names, w.displayName(16))
		}
	}
	return names
}

// lookupWorkload finds a workload by a name -workloads accepts: its own,
// or sync-<writers> (and sync-16, the default's name, whatever -writers
// is) for sync-n.
func lookupWorkload(name string, writers int) *workload {
	if name == "sync-"+strconv.Itoa(writers) || name == "sync-16" || name == "sync-<writers>" {
		name = wSyncN
	}
	for _, w := range workloads {
		if w.name == name {
			return w
		}
	}
	return nil
}

// workloadByName returns the workload called name (canonical).
func workloadByName(name string) *workload {
	for _, w := range workloads {
		if w.name == name {
			return w
		}
	}
	panic(fmt.Sprintf("kvbench: no workload %q", name))
}

// needsMainDB reports whether any selected workload runs on the main DB.
func needsMainDB(sel []*workload) bool {
	for _, w := range sel {
		if w.mainDB {
			return true
		}
	}
	return false
}

// selected reports whether the workload called name is in sel.
func selected(sel []*workload, name string) bool {
	for _, w := range sel {
		if w.name == name {
			return true
		}
	}
	return false
}

// joinNames lists the display names of sel.
func joinNames(sel []*workload, writers int) string {
	var names []string
	for _, w := range sel {
		names = append(names, w.displayName(writers))
	}
	return strings.Join(names, ",")
}
