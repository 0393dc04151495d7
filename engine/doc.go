// Package engine is simplekv's database: DB opens a directory, recovers the
// keydir from hint files and the log, serves Put, PutWithTTL, Get, Has,
// Delete and Sync, and merges old files in the background (Compact).
//
// # Layout
//
//	<dir>/LOCK                   flock-held while a process has the DB open
//	<dir>/wal/<id>.data          the log: append-only data files; the highest id is active
//	<dir>/wal/<id>.hint          the hint file of a sealed log file (walhint.go)
//	<dir>/last_state/<id>.data   merged data files, each with
//	<dir>/last_state/<id>.hint   its hint file (the keydir entries of its records)
//	<dir>/last_state/COMPACTION  only while a merge is between its commit and its end
//
// # Write path
//
// A write encodes one record (compressing the value first, outside any lock),
// then, under the write lock, takes the next sequence number and appends the
// record to the active file's buffer. With Options.SyncWrites the writer then
// waits for group commit: the first waiter flushes the buffer and runs one
// fdatasync for every record appended so far while the others wait, so 16
// concurrent writers share fsyncs instead of queueing for 16 of them. The
// keydir is updated only after the record is durable, so a reader never sees
// a value that a crash could take back. Without SyncWrites the record is
// visible at once; the buffer is written to the OS when it fills
// (Options.BufferSize) and every Options.FlushInterval, and fsynced every
// Options.SyncInterval. See the README for the exact loss windows.
//
// # Read path
//
// A read is one keydir lookup and one read of the record: from a read-only
// memory mapping of the data file (no system call), from the active file's
// unflushed buffer, or with pread when mapping is off. A read keeps its
// key's keydir shard read-locked (keydir.GetPinned) from the lookup until
// it has copied the value out, and a merge that removes a data file waits
// for every such hold (keydir.Barrier) before it unmaps the file: readers
// take no lock beyond the lookup's own. Every read verifies the record's
// checksum and that the record is the key's. Values whose read costs a system call or a
// decompression are kept in a byte-budgeted cache keyed by key and sequence
// number, so an overwrite can never be served stale.
//
// # Compaction
//
// Overwrites, deletes and expiries leave dead records behind. The engine
// counts, per file, the bytes of records that are no longer live; a
// background worker checks the compaction triggers every
// Options.CompactionInterval and merges the files the picker chooses (see
// package compaction), and Compact merges every file on demand. A merge
// holds no lock that writers or readers wait for: it reads its inputs
// through its own descriptors, and moves each key to its copy by
// compare-and-swap, so a write that races the merge always wins. Inputs
// are removed (descriptors closed, mappings released) only once no read is
// using them; a read that finds its file gone looks the key up again.
//
// # TTL
//
// PutWithTTL stores a value with an expiry time. An expired key is invisible
// to Get and Has at once; its record stays in the keydir (hiding older
// versions of the key) until a merge drops it, or keeps it as a delete
// marker while an older version may survive in another file.
//
// # Recovery
//
// Open first finishes a merge that had committed (its journal exists) or
// deletes the temporary files of one that had not. It then loads every
// data file that has a hint file from it (last_state/ and the sealed log
// files, which get their hint at a rotation, at Close, or after an Open
// replayed them): every delete marker first, then the puts, in parallel,
// each worker filling its own half of the keydir's shards. A hint file
// that is missing, damaged or does not match its data file costs a scan of
// that data file, never a key. Last, it replays the other log files in id
// order (after a clean Close none, after a crash normally the newest): the highest sequence number of a key wins, and delete
// markers remove it. A torn record at the end of the newest log file (an
// append that never completed) is truncated away and reported in the log
// and in Stats; damage anywhere else in a replayed file fails Open with an
// error matching ErrCorrupt that names the file and offset (in a hinted
// file, the read of the damaged record fails so).
package engine
