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
// that needs a filled DB fills it first (that row is marked with *).
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
//
// # Table
//
// ops, ops/s, per-operation latency percentiles p50, p99 and p99.9 (HDR
// histograms; concurrent phases keep one per goroutine and merge them),
// MB/s (10^6 bytes of keys plus values per second; for reopen, data file
// bytes scanned per second) and notes. A header names the date, Go version,
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
//	<dir>/db         the main DB (fill, read-random, overwrite, reopen)
//	<dir>/sync-1     the single-writer SyncWrites DB
//	<dir>/sync-<w>   the multi-writer SyncWrites DB
//
// -dir must name an empty or absent directory; it is kept afterwards.
//
// Progress bars go to stderr, only when it is a terminal or with -progress.
// Exit status: 0 on success, 1 when the benchmark failed (an engine error
// or a wrong value read back), 2 for bad flags.
package main
