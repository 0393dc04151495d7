// Package datafile owns the on-disk format of simplekv's data files: the
// append-only logs in wal/ (and, after compaction, last_state/). It provides
// the record encoding, an appending Writer, positional reads, and a Scanner
// that walks a file and tells a clean end, a torn tail and corruption apart.
//
// A data file is a 16-byte header followed by records, back to back:
//
//	file header (16 bytes, little endian)
//	+--------+-----------+----------+---------+----------+
//	| magic  | version   | reserved | file id | checksum |
//	| "SKVD" | u16 = 2|1 | u16 = 0  | u32     | u32      |
//	+--------+-----------+----------+---------+----------+
//	checksum = low 32 bits of xxhash64(bytes 0..11)
//
//	record, version 2 (written): a 10 to 33-byte header, then key, then value
//	+----------+------------+-------+---------+---------+---------+----------+-----+-------+
//	| checksum | header sum | flags | key len | val len | seq     | [expiry] | key | value |
//	| u32      | u16        | u8    | uvarint | uvarint | uvarint | i64      |     |       |
//	+----------+------------+-------+---------+---------+---------+----------+-----+-------+
//	checksum   = low 32 bits of xxhash64(every byte after the checksum field)
//	header sum = low 16 bits of xxhash64(flags through the end of the header)
//	flags:   bit 0 tombstone (a delete; the value is empty)
//	         bit 1 value is snappy-compressed (val len is the stored length)
//	         bit 2 an expiry follows seq (set exactly when the expiry is not 0)
//	         bit 3 part of a batch (a batch header, or one of its members)
//	         other bits must be zero
//	key len: 1 .. 16 MiB (0: a batch header); val len: < 2 GiB; uvarints are minimal
//	seq:     the record's sequence number (< 2^63); the highest seq of a key wins
//	expiry:  unix nanoseconds after which the record is dead
//
// Version 1 (files of earlier releases, still read: record_v1.go) has a
// fixed 33-byte header: u32 checksum, u32 header sum, u8 flags, u32 key
// len, u32 val len, u64 seq, i64 expiry (0 = never). The version is in
// the file header and holds for every record of the file; a merge
// re-encodes version-1 records as version 2.
//
// A batch (batch.go) is a header record (bit 3, key len 0, value: uvarint
// member count and uvarint members' size) followed by its members (bit 3,
// consecutive seqs from the header's), all appended at once. A scan yields
// a batch's members only after reading all of them intact, so a batch a
// crash cut short is torn at its header and dropped whole.
//
// The header sum lets a scan tell a damaged length field (corruption) from a
// record that a crash cut short (a torn tail): a torn append leaves an intact
// header whose body runs past the end of the file, or a half-written header
// followed only by zeros.
//
// Lengths are validated against the bytes left in the file and against the
// format limits before anything is allocated, so a damaged length can never
// trigger a huge allocation.
//
// How a scan ends: at the exact end of the file (clean); at a record whose
// intact header says it runs past the end of the file, or at a damaged record
// after which the file holds only zero bytes (torn: a write that never
// completed; the caller may truncate); or at a damaged record followed by
// non-zero bytes (corrupt: an error naming the file and offset). A torn end
// where only zeros follow the last record is also Padding: the zeros a
// Writer preallocates ahead of its records for synced writes (Preallocate;
// Seal cuts them off before a file is sealed).
package datafile
