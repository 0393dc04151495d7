// Package engine is simplekv's database: DB opens a directory, recovers the
// keydir from the data files, and serves Put, Get, Has, Delete and Sync.
//
// # Layout
//
//	<dir>/LOCK                 flock-held while a process has the DB open
//	<dir>/wal/<id>.data        append-only data files; the highest id is active
//	<dir>/last_state/          compaction output (data + hint files)
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
// unflushed buffer, or with pread when mapping is off. Every read verifies
// the record's checksum. Values whose read costs a system call or a
// decompression are kept in a byte-budgeted cache keyed by key and sequence
// number, so an overwrite can never be served stale.
//
// # Recovery
//
// Open scans the data files in id order and rebuilds the keydir: the highest
// sequence number of a key wins and tombstones remove it. A torn record at
// the end of the newest file (an append that never completed) is truncated
// away and reported in the log and in Stats; damage anywhere else fails Open
// with an error matching ErrCorrupt that names the file and offset.
package engine
