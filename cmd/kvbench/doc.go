// Command kvbench is simplekv's throughput and latency benchmark.
//
// With no arguments it runs the embedded default: a fresh temporary
// directory (removed afterwards), 1M keys of 16 bytes with 100-byte
// incompressible values, and every phase, printing a table to stdout:
//
//	go run ./cmd/kvbench
//
// # Phases
//
// Phases always run in this order; -phases selects a subset, and a phase
// that needs a filled main DB fills it first (that row is marked with *).
//
//	fill            every key once, random order, SyncWrites off, one
//	                goroutine, then db.Sync (inside the timed span)
//	read-random     random Gets of existing keys from -readers goroutines:
//	                n reads in all, or for -read-duration; every value is
//	                checked against the generator and a wrong one is fatal
//	overwrite       every key again with a new value version, like fill
//	sync-1          SyncWrites on, one writer, for -sync-duration, into a
//	                fresh DB of its own
//	sync-<writers>  the same with -writers concurrent writers (default 16,
//	                so sync-16), showing group commit
//	reopen          Close and Open of the filled DB: open time, recovery
//	                time and scan rate; then a sample of keys is read back
//	heap/key        runtime heap per key: HeapAlloc after a GC with the DB
//	                closed against after a GC with it reopened, and
//	                Stats().KeydirBytes per key
//	reopen-hints    the main DB's reopen from hint files against its
//	                reopen from the log: the log replay is the reopen
//	                row's (measured here if reopen did not run); then
//	                db.Compact() (its time, disk bytes before and after),
//	                Close, and Open from last_state/ and its hints: open
//	                time, RecoveryHintsDuration and RecoveryLogDuration,
//	                records loaded, heap per key (as heap/key measures it)
//	                and a sample of keys read back. Fails unless
//	                Stats().HintFallbacks is 0 and Keys is n
//	compact         automatic compaction under an overwrite-heavy load, on
//	                a DB of its own with -compact-file-size files (default
//	                8 MiB), trigger checks every -compact-interval
//	                (default 250ms) and the default triggers and
//	                thresholds: min(n, -compact-keys) keys are filled
//	                (auto compaction off), the DB reopened with it on, and
//	                -compact-writers goroutines overwrite random keys for
//	                -compact-duration (default 10s). A goroutine polls
//	                Stats().CompactionRunning every millisecond; each Put's
//	                latency goes to one of two histograms by whether a
//	                merge was running when it started. Fails if no merge
//	                completes during the run
//
// The main DB and the sync-* DBs run with DisableAutoCompaction, so that
// no background merge lands in the middle of a phase at a time that
// depends on the machine's speed, and reopen replays a log that was never
// merged.
//
// # Table
//
// ops, ops/s, per-operation latency percentiles p50, p99 and p99.9 (HDR
// histograms; concurrent phases keep one per goroutine and merge them),
// MB/s (10^6 bytes of keys plus values per second; for reopen, data file
// bytes scanned per second; for reopen-hints, hint file bytes loaded per
// second) and notes.
//
// The compact row gives the throughput and latencies of every Put of the
// run, the merges completed (Stats().Compactions), the share of the time
// a merge was running and the disk bytes before the run, at its end and
// after a final explicit Compact, each against the live data (the sum of
// Stats().Files[].Live) as disk/live. Two indented rows under it split the
// Puts: no-merge (started with no merge running) and merging (started
// during one), each with its ops/s over the time spent in that state and
// its own p50, p99 and p99.9; the merging row's notes give its p99 over the
// no-merge p99. The JSON report has them as the phase's "parts". A header names the date, Go version,
// GOMAXPROCS, CPU model, memory, kernel, directory and file system, and the
// options. -json FILE writes the same data as JSON.
//
// # Data
//
// The key of index i is 8 bytes of a bijective hash of i (big-endian, so
// unique) padded to -key-size. Values are a pure function of (-seed, i,
// version), random bytes from a splitmix64 stream; with -compressible the
// second half repeats a 4-byte pattern, so snappy halves them. Write orders
// are seeded permutations computed without memory (cycle walking), so they
// do not disturb the heap measurement.
//
// # Layout of the benchmark directory
//
//	<dir>/db         the main DB (fill, read-random, overwrite, reopen,
//	                 reopen-hints)
//	<dir>/sync-1     the single-writer SyncWrites DB
//	<dir>/sync-<w>   the multi-writer SyncWrites DB
//	<dir>/compact    the compact phase's DB
//
// -dir must name an empty or absent directory; it is kept afterwards.
//
// Progress bars go to stderr, only when it is a terminal or with -progress.
// Exit status: 0 on success, 1 when the benchmark failed (an engine error
// or a wrong value read back), 2 for bad flags.
package main
