// Package bench puts simplekv and the key-value engines it is compared with
// behind one small interface, DB, so that benchmarks and the kvbench
// command can drive every engine with the same code.
//
// # Engines
//
// Engines returns, in this order:
//
//   - "simplekv": this module's engine (package engine);
//   - "bbolt": go.etcd.io/bbolt, a copy-on-write B+tree in one mmapped file;
//   - "badger": github.com/dgraph-io/badger/v4, an LSM tree with a value log;
//   - "pebble": github.com/cockroachdb/pebble/v2, the LSM tree of CockroachDB;
//   - "goleveldb": github.com/syndtr/goleveldb, a Go port of LevelDB.
//
// Each adapter's doc comment (see simplekv.go, bbolt.go, badger.go,
// pebble.go and goleveldb.go) says exactly how the engine is configured in
// each durability mode and why that is a fair comparison.
//
// # Fairness rules
//
// Every adapter follows the same rules:
//
//   - Durability is the same for every engine in a run, chosen by
//     Config.Sync. With Sync set, Put and Delete return only once their
//     write is on stable storage (an fsync per write, or a group commit that
//     covers it). With Sync unset, writes may be buffered in memory or the
//     OS page cache and are made durable by DB.Sync and DB.Close.
//   - One Put or Delete is one write of the engine: one transaction (bbolt,
//     badger) or one single-operation batch (pebble, goleveldb). No adapter
//     batches several calls together behind the caller's back.
//   - Every engine with a read cache of its own gets the same budget,
//     CacheSize (64 MiB: simplekv's default; badger's default is 256 MiB,
//     pebble's and goleveldb's 8 MiB). bbolt has none and reads through the
//     OS page cache, where every engine's files also are on this machine.
//     Otherwise each engine keeps its default buffers, compression and
//     compaction settings; only the durability knob, the logger and options
//     that the engine's authors ask to set explicitly are touched.
//     Benchmarks report heap and disk use so that differences show.
//   - Bulk preparation (Loader) uses each engine's own batch form and is
//     never timed; Compacter is each engine's "reclaim space now" call.
//   - Loggers are silenced so that benchmark output is not mixed with
//     engine logs. (goleveldb writes its own LOG file in its directory;
//     nothing reaches stdout or stderr.)
//   - Get returns a slice the caller owns: adapters copy where the engine's
//     slice is valid only inside a transaction or until a closer runs. A
//     stored empty value is returned as a non-nil empty slice, never as
//     ErrNotFound.
//
// A DB is safe for concurrent use by multiple goroutines, as every wrapped
// engine is.
//
// # Workloads
//
// The per-operation logic of kvbench's workloads lives here too, so that
// the command (cmd/kvbench) and the Go benchmarks (bench_bench_test.go:
// BenchmarkFillRand/simplekv, ...) run the same code:
//
//   - gen.go: Generator makes keys (hashed and so scattered, or sorted with
//     SeqKey) and values (random, or about 2x compressible) as pure
//     functions of (seed, index, version); Perm is a seeded permutation of
//     [0, n) that needs no memory.
//   - zipf.go: Zipf, YCSB's scrambled Zipfian key choice (theta 0.99, hot
//     keys scattered by a permutation).
//   - workload.go: Keyspace tracks the version every key holds so that each
//     read is checked, even while updates race it; OrderWriter (fills and
//     overwrites), MixWorker (uniform and Zipfian reads, YCSB A, B and C)
//     and FreshWriter (synced writers) each do one operation per Step;
//     Keyspace.Load is the untimed bulk load through Loader.
//
// Run the Go benchmarks with
//
//	go test -run '^$' -bench . ./bench/                 # every engine, about 1.5 minutes
//	go test -run '^$' -bench '/simplekv$' -count 5 ./bench/ | benchstat -
package bench
