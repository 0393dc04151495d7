package bench

// Optional interfaces. kvbench and the Go benchmarks use them when a DB
// implements them and report "n/a" where it does not.

// Loader is implemented by every adapter: it writes many pairs at once in
// the engine's own bulk form (one transaction or batch per call). It is
// used only to prepare untimed state (the keys a read workload needs), never
// for a timed write workload, where each Put is one write.
type Loader interface {
	// Load sets keys[i] to values[i] for every i. With Config.Sync the
	// pairs are durable when Load returns.
	Load(keys, values [][]byte) error
}

// Batcher is implemented by every adapter: it writes several pairs as one
// atomic write, in the engine's own form (simplekv's Write, a bbolt or
// badger transaction, a pebble or goleveldb batch). The batch-* workloads
// time it.
type Batcher interface {
	// WriteBatch sets keys[i] to values[i] for every i, all or nothing.
	// With Config.Sync the batch is durable when WriteBatch returns.
	WriteBatch(keys, values [][]byte) error
}

// Compacter is implemented by engines that can be told to reclaim the space
// of overwritten and deleted records now, so that disk use after compaction
// can be compared. bbolt has no such operation: its file never shrinks and
// its free pages are reused in place.
type Compacter interface {
	// Compact rewrites the database to drop every dead record it can and
	// returns when that is done.
	Compact() error
}

// CacheSize is the read-cache budget every engine with a cache of its own
// gets: 64 MiB, simplekv's default. bbolt has none and reads through the OS
// page cache, as every engine's files are also in the page cache here.
const CacheSize = 64 << 20
