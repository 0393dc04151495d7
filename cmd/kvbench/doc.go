// Command kvbench compares simplekv with the engines a user would choose
// instead: go.etcd.io/bbolt, github.com/dgraph-io/badger/v4,
// github.com/cockroachdb/pebble/v2 and github.com/syndtr/goleveldb, side by
// side, in one process on one machine.
//
// With no arguments it runs the default: every engine, every default
// workload, 1M keys of 16 bytes with 100-byte incompressible values, in a
// fresh temporary directory (removed afterwards), and prints a table per
// workload and a summary against the goals of issues 6, 11 and 13:
//
//	go run ./cmd/kvbench                     # make bench; just under 2 minutes on 2 cores
//	go run ./cmd/kvbench -n 10000000         # make bench-large
//	go run ./cmd/kvbench -out docs/bench -readme README.md   # make bench-readme
//
// # Fairness
//
// Every engine is driven through package bench (bench.DB: Put, Get,
// Delete, Sync, Close), whose doc comment states the rules and whose
// adapters (bench/simplekv.go, bbolt.go, badger.go, pebble.go,
// goleveldb.go) say how each engine is configured: the same durability in
// a run (each main database with bench.Config{Sync: false}, the sync-*
// databases with Sync: true), the same 64 MiB read cache where an engine
// has one, one write per Put (no batching behind the caller's back), bulk
// loading (bench.Loader) only for untimed setup. kvbench and the Go
// benchmarks in bench/ run the same per-operation code (bench/workload.go).
//
// # Workloads
//
// Each selected engine runs the selected workloads in this order, then the
// next engine does. -workloads selects a subset (in any order; they
// always run in this one); a subset that needs a filled main database but
// not fill-rand gets it filled untimed through bench.Loader.
//
//	fill-rand      every one of -n keys once, in a seeded random order, one
//	               goroutine, one Put each, then Sync, all timed. If
//	               -max-phase passes first, the timed Puts stop there, the
//	               Sync is timed, and the rest is written untimed through
//	               Loader in batches, so the database holds every key; the
//	               row's ops and notes say how many Puts were timed
//	heap           Go heap per key: HeapAlloc after two GCs with the filled
//	               DB open, minus the same before it was opened, over n
//	               (Go heap only: pebble keeps its cache and memtables in
//	               cgo memory, bbolt its data in an mmap)
//	read-uniform   -readers goroutines Get uniformly random keys for
//	               -duration; every value is checked and a wrong one (or an
//	               error) fails the run (exit status 1)
//	read-zipf      the same with Zipfian keys (bench.Zipf: YCSB's theta 0.99,
//	               hot keys scattered over the key space)
//	ycsb-a         YCSB workload A: 50% reads, 50% updates (a Put of the
//	               key's next value version), Zipfian keys, -readers
//	               goroutines, -duration; reads accept any version the key
//	               could hold during the Get (bench.Keyspace)
//	ycsb-b         the same with 95% reads, 5% updates
//	ycsb-c         the same with 100% reads: read-zipf again, after the
//	               updates of A and B
//	overwrite      every key again with its next value version, random
//	               order, one goroutine, capped like fill-rand; then the
//	               disk bytes of the directory ("disk after overwrite")
//	compact        the engine's full compaction (bench.Compacter), timed;
//	               then the disk bytes ("disk after compaction"). n/a for
//	               bbolt, which has none
//	reopen         Close (untimed), then Open plus one Get, timed; then
//	               -verify-sample keys read back and checked
//	fill-seq       a fresh DB, keys in ascending byte order
//	               (bench.Generator.SeqKey), one goroutine, one Put each,
//	               then Sync, for n keys or -max-phase; then deleted
//	sync-1         a fresh DB with Config{Sync: true}, one writer Putting
//	               new random keys for -duration, each Put's latency
//	               recorded; then deleted. Before it (and sync-<writers>)
//	               kvbench calls sync(2), so that no engine's synced writes
//	               wait behind the writeback of the workloads before them
//	sync-<writers> the same with -writers writers (16: sync-16), showing
//	               group commit
//	batch-100      a fresh DB, one writer writing new random keys in
//	               atomic batches of 100 (bench.Batcher: simplekv's Write,
//	               a bbolt or badger transaction, a pebble or goleveldb
//	               batch) for -duration; ops are keys, latencies are per
//	               batch; then deleted
//	batch-100-sync the same with Config{Sync: true}: one durable batch at a
//	               time
//
// One more runs on every engine but only when -workloads names it (or
// "all"): its fill of a database of its own per engine adds about a
// quarter to the default run's two minutes (33 s at 1M keys on 2 cores):
//
//	reopen-clean   a fresh DB, n keys written once in the fill order
//	               (untimed, through bench.Loader), Sync and Close
//	               (untimed), then Open plus one Get of a present key,
//	               timed, and -verify-sample keys checked: the reopen of a
//	               DB that was never overwritten or compacted, where reopen
//	               measures the main DB after overwrite and compact. simplekv
//	               runs with automatic compaction off
//	               (engine.Options.DisableAutoCompaction; otherwise the
//	               default), so that no background merge (at large n the
//	               TriggerWALFiles trigger, 2 sealed files) writes hint
//	               files before Close and its Open replays the log; it fails
//	               unless the reopened DB has n keys and no merged file. Every
//	               other engine is opened as its main DB is. It runs after
//	               reopen, and -dir keeps its DB like the main one
//
// Three raft workloads compare raft log stores, each in a fresh directory,
// and run a replicated cluster; they run when -workloads names them (or
// "all", or make bench-raft). Their "simplekv" row is simplekv's raftlog
// (or, in raft-cluster, package replica):
//
//	raft-append            StoreLogs of one 128-byte entry at a time, each
//	                       durable on return, on raftlog, hashicorp/raft-wal
//	                       and raft-boltdb/v2 taking turns entry by entry
//	                       (rotating who goes first), -duration per store;
//	                       a store's ops/s is its entries over the time in
//	                       its own calls; ratios against the best peer and
//	                       raft-boltdb
//	raft-append-truncated  the same after a burst of 300k entries (batches
//	                       of 64, untimed) and a head DeleteRange keeping
//	                       the last 1024, as raft does after a snapshot;
//	                       the notes give each store's ratio to its own
//	                       raft-append figure (flat is 1.00x)
//	raft-cluster           three replica.Nodes in this process on 127.0.0.1
//	                       (TCP transport, raft's default timeouts), and
//	                       -writers clients Putting new keys through the
//	                       leader for -duration; a Put returns once a
//	                       majority holds it durably and the leader applied it
//
// Two more run only on simplekv and only when -workloads names them (or
// "all"), each on a database of its own opened with engine options that the
// comparison does not use:
//
//	reopen-hints   fills n keys with automatic compaction off, then
//	               compares the reopen from the log with the reopen from
//	               hint files after a Compact: open times, recovery split
//	               (hints, log), records loaded, heap per key after each,
//	               and a sample of keys read back. Fails unless
//	               Stats().HintFallbacks is 0 and Keys is n
//	merge-latency  Put latency outside and during background merges:
//	               min(n, -merge-keys) keys are filled (auto compaction
//	               off), the DB reopened with it on, small files
//	               (-merge-file-size, default 8 MiB) and frequent trigger
//	               checks (-merge-interval, default 250ms), and
//	               -merge-writers goroutines overwrite random keys for
//	               -merge-duration (default 10s). Each Put's latency goes
//	               to one of two histograms by whether a merge was running
//	               when it started (polled every millisecond); indented
//	               rows no-merge and merging show each. Fails if no merge
//	               completes
//
// # Flags
//
//	-engines LIST     engines to compare (default all: simplekv, bbolt,
//	                  badger, pebble, goleveldb)
//	-workloads LIST   workloads (default: all but reopen-clean, the raft
//	                  ones, reopen-hints and merge-latency; "all": every one).
//	                  sync-16 names the multi-writer workload whatever
//	                  -writers is
//	-n N              keys in each main database (default 1000000)
//	-key-size B       bytes per key, at least 8 (default 16)
//	-value-size B     bytes per value (default 100)
//	-values KIND      incompressible (random bytes, the default) or
//	                  compressible (the first half a repeated 4-byte
//	                  pattern: about 2x with snappy, 1.7x at 100 bytes)
//	-readers N        goroutines of the read and YCSB workloads (default 2)
//	-writers N        goroutines of sync-<writers> (default 16)
//	-duration D       length of each timed read, YCSB and sync workload,
//	                  per engine (default 1s)
//	-max-phase D      cap on the timed part of fill-rand, overwrite and
//	                  fill-seq (default 3s)
//	-dir DIR          benchmark in DIR (empty or absent) and keep the main
//	                  databases (fresh ones are always deleted); default a
//	                  temp dir, each engine's part removed once it is done
//	-out DIR          also write results.json, results.md, chart.svg and
//	                  chart.png there
//	-readme FILE      replace the lines between <!-- kvbench:begin --> and
//	                  <!-- kvbench:end --> in FILE with results.md, the chart
//	                  linked relative to FILE (needs -out; refused before
//	                  the run if the markers are missing; only after a run
//	                  that succeeded)
//	-seed N           seeds keys, values and every random choice (default 1)
//	-progress         progress bars and a status line per result on stderr
//	                  even when it is not a terminal
//	-verify-sample N  keys checked after reopen, reopen-clean and
//	                  reopen-hints (10000)
//	-cpuprofile FILE  write a CPU profile of the whole run to FILE (for
//	                  go tool pprof; narrow the run with -engines and
//	                  -workloads, or the profile with -focus)
//	-merge-*          merge-latency's keys, writers, duration, file size
//	                  and trigger interval
//
// The default -duration and -max-phase keep `go run ./cmd/kvbench` near
// two minutes on the 2-core development machine: the peers that write
// slowest (bbolt, one copy-on-write transaction per Put, and badger) hit
// the cap in fill-rand, overwrite and fill-seq. Raise both for steadier
// figures.
//
// # Output
//
// A header names the date, the command, Go version, GOMAXPROCS, CPU model,
// memory, the benchmark directory's file system and disk, the kernel and
// the options. Then one table per workload, one row per engine:
//
//	ops       operations timed (fills and overwrites: Puts before the cap)
//	ops/s     ops over the timed span
//	p50 p99 p99.9  per-operation latency (HDR histograms, one per goroutine,
//	          merged; the DB call only, not key generation or checks)
//	MB/s      10^6 bytes of keys and values per second
//	disk      the directory's allocated blocks, as du counts them (badger
//	          preallocates sparse files)
//	heap/key, heap   the heap workload's figures
//	time      compact: Compact(); reopen, reopen-clean: Open plus one Get
//	x FIGURE  how many times better than the best peer, where a peer is
//	          any engine but simplekv: for ops/s higher is better (x =
//	          ops/s ÷ the best peer's), for latency, time, disk and heap
//	          lower is better (x = the best peer's ÷ the figure). Above
//	          1.00x an engine beats every peer; the best peer is at 1.00x.
//	          sync-* compare p99 with the p99 of the peer with the most
//	          ops/s
//
// The summary gives, for each compared figure, simplekv's value, the best
// peer's (and its name), the ratio, and the goal of issue 6 or 11 where
// there is one, met or not ("n/a" when a figure is missing). The goals
// live in one table, goals in compare.go, and are not repeated here (a
// copy of them in this comment had gone stale).
//
// -out writes results.json (the header, every row with its raw figures
// and ratios, the summary, and the error of a failed run), results.md (a
// section for the README: command, machine, date, the chart, the summary
// and, folded, every table) and a grouped bar chart of every throughput
// workload, each engine's ops/s relative to the best peer's (chart.svg
// for the README, chart.png).
//
// # Data
//
// Package bench generates everything (bench/gen.go): the key of index i is
// 8 bytes of a bijective hash of i (so unique, and scattered) padded to
// -key-size; fill-seq's keys are i big-endian instead. Values are a pure
// function of (-seed, i, version). Write orders are seeded permutations
// computed without memory (cycle walking). Every write of a key writes its
// next version, and every read is checked against the version the key
// holds.
//
// # Layout of the benchmark directory
//
//	<dir>/<engine>/db              the main DB (fill-rand ... reopen)
//	<dir>/<engine>/reopen-clean    reopen-clean's DB
//	<dir>/<engine>/fill-seq        fill-seq's DB, deleted after it
//	<dir>/<engine>/sync-1, sync-<w>  the synced DBs, deleted after them
//	<dir>/simplekv/reopen-hints    reopen-hints' DB
//	<dir>/simplekv/merge-latency   merge-latency's DB
//
// Exit status: 0 on success, 1 when the benchmark failed (an engine error
// or a wrong value read back; the tables and -out files still show what
// ran, and results.json has the error), 2 for bad flags.
package main
