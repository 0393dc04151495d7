// Package raftlog is hashicorp/raft's log store on simplekv's own data
// file format: Store implements raft.LogStore, raft.MonotonicLogStore and
// raft.StableStore.
//
// Entries are not keys in a keydir. They live in segment files in the
// store's directory, each a simplekv data file (datafile's record format,
// checksummed) named for the index of its first entry, whose records carry
// the entry's index as their sequence number and the encoded raft.Log as
// their value (FORMAT.md, "Raft log segments"). An in-memory table maps
// each index to its record's place, rebuilt at Open by scanning the
// segments. StoreLogs appends a whole call as one write and one fsync
// before it returns.
//
// The stable values (raft's current term, vote) and the store's first
// index are kept in a small engine.DB under stable/, with SyncWrites, so
// they are durable when Set returns. Deleting from the head (after a
// snapshot) first records the new first index there and then removes the
// segments wholly below it; deleting from the tail (after a conflict)
// truncates the segment holding the cut and removes the ones after it.
// Either way a crash leaves the store at the range before or after the
// call, never a gap.
package raftlog
