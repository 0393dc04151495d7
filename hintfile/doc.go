// Package hintfile owns the on-disk format of simplekv's hint files. A hint
// file sits next to a merged data file, last_state/<id>.data, as
// last_state/<id>.hint (or next to a sealed log file, as wal/<id>.hint) and
// lists every record of that data file (key,
// position, sequence, expiry, tombstone or not), so that Open can rebuild the
// in-memory index without reading the data file itself.
//
// A hint file is a 16-byte header, then blocks, the last of which is the
// footer. All integers are little endian; "uvarint" and "varint" are the
// encodings of encoding/binary (PutUvarint, and PutVarint with zigzag).
//
//	file header (16 bytes)
//	+--------+---------+----------+--------------+----------+
//	| magic  | version | reserved | data file id | checksum |
//	| "SKVH" | 2 (or 1)| u16 = 0  | u32          | u32      |
//	+--------+---------+----------+--------------+----------+
//	checksum = low 32 bits of xxhash64(bytes 0..11)
//
//	block
//	+----------------+----------+------------------------------+
//	| payload length | checksum | payload (length bytes)       |
//	| u32 (>= 1)     | u32      | kind u8, then kind-specific  |
//	+----------------+----------+------------------------------+
//	checksum = low 32 bits of xxhash64(the 4 length bytes, then the payload)
//	kind: 1 put entries, 2 tombstone entries, 3 footer
//
//	entry block payload (kind 1 or 2)
//	+------+-------+-----------------+----------------+---------+-----+---------+
//	| kind | group | count (uvarint) | base (uvarint) | entry 1 | ... | entry n |
//	| u8   | u8    | >= 1            | <= 2^32-1      |         |     |         |
//	+------+-------+-----------------+----------------+---------+-----+---------+
//	group: put block: GroupOf(key) = top 8 bits of xxhash64(key), the same
//	       for every entry of the block; tombstone block: 0
//	entry: uvarint keylen, key, uvarint gap, uvarint size, uvarint seqx,
//	       [varint expiry]
//	       version 2: seqx = seq<<1 | 1 if an (non-zero) expiry follows;
//	       version 1 (still read): seqx = seq and the expiry always follows
//	offset = prevEnd + gap; prevEnd starts at base and becomes offset+size
//	after each entry, so offsets increase and records never overlap.
//
//	footer payload (kind 3, 41 bytes; the last block, ending at end of file)
//	+------+-------------+----------------+---------------+------------+------------+
//	| kind | entries u64 | tombstones u64 | data size u64 | minSeq u64 | maxSeq u64 |
//	+------+-------------+----------------+---------------+------------+------------+
//
// Put and tombstone entries are kept in separate blocks, so the tombstones
// can be read without decoding the puts. Puts are further grouped by
// GroupOf(key), which is the engine's keydir shard function, so that a
// loader can fill one shard at a time instead of scattering inserts over
// the whole index (File.GroupBlocks lists a group's blocks). The writer
// keeps one open block per group and one for the tombstones, and closes a
// block once its payload reaches BlockSize bytes (a block never splits an
// entry); at Finish it writes the open put blocks in group order, then the
// open tombstone block, then the footer. Put blocks of different groups
// therefore interleave in the file. Within a kind and group, entries appear
// in increasing, non-overlapping offset order, across blocks too; the
// reader checks no order between groups, or between puts and tombstones.
//
// A file without a valid footer (for example one cut short by a crash, or
// one whose writer was abandoned) is damaged: Open rejects it, and the caller
// falls back to scanning the data file. Open verifies every checksum and
// validates every entry before it returns, so the iteration methods of a
// File cannot fail afterwards. Every length is checked against the bytes
// that remain before anything is sliced, and nothing is allocated on the
// strength of a length field.
//
// FORMAT.md at the repository root documents every byte.
package hintfile
