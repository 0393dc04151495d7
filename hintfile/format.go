package hintfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cespare/xxhash/v2"
	"github.com/simplekv/simplekv/datafile"
)

const (
	// Magic opens every hint file.
	Magic = "SKVH"
	// Version is the hint file format version this package writes: an
	// entry's sequence number carries a flag for its expiry, which is
	// written only when there is one. VersionV1 (an expiry varint in
	// every entry) is still read.
	Version   = 2
	VersionV1 = 1
	// HeaderSize is the size of the file header.
	HeaderSize = 16
	// BlockSize is the payload size at which the writer closes a block and
	// starts the next one. A block holding an entry that crosses the limit
	// is larger: blocks never split an entry.
	BlockSize = 32 << 10
	// Groups is the number of put block groups. Every put entry belongs to
	// group GroupOf(key), and every put block holds the entries of one
	// group, so that a loader can fill one keydir shard at a time.
	Groups = 256
)

// GroupOf returns the group (0 <= group < Groups) of the put blocks that
// hold an entry with this key: the top 8 bits of xxhash64(key). It is, on
// purpose, the engine's keydir shard function (keydir.(*Keydir).ShardOf),
// so GroupBlocks(g) lists the entries of exactly one shard.
func GroupOf(key []byte) int {
	return int(xxhash.Sum64(key) >> (64 - groupBits))
}

// groupBits is log2(Groups).
const groupBits = 8

// Block kinds: the first payload byte of every block.
const (
	kindPut       = 1
	kindTombstone = 2
	kindFooter    = 3
)

const (
	// blockHeaderSize is the size of a block's length and checksum fields.
	blockHeaderSize = 8
	// footerSize is the size of the footer payload: the kind byte and five
	// u64 fields.
	footerSize = 1 + 5*8
	// entryHeaderMin is the smallest prefix of an entry block payload
	// before its count: the kind and group bytes.
	entryHeaderMin = 2
	// minEntrySize is the smallest encoding of an entry: a one-byte key
	// length, a one-byte key and three one-byte numbers (version 2, no
	// expiry; version 1 entries take one more).
	minEntrySize = 5
	// seqLimit is the bound on sequence numbers (exclusive), as in data
	// files.
	seqLimit = 1 << 63
)

var (
	// ErrCorrupt is returned when a hint file holds bytes that fail their
	// checksum or sanity checks. It is always wrapped in a
	// *datafile.CorruptError naming the file and offset.
	ErrCorrupt = datafile.ErrCorrupt
	// ErrVersion is returned for a hint file whose header carries a format
	// version this build does not know.
	ErrVersion = datafile.ErrVersion
	// ErrFault is returned (wrapped with the path) when reading a mapped
	// hint file faulted: a page of it could not be read from the disk.
	ErrFault = errors.New("hintfile: memory fault reading a mapped file (I/O error)")
	// ErrInvalid is returned by Writer.Add and Writer.Finish for an entry or
	// a data size the format cannot hold or that breaks the writer's
	// ordering rules.
	ErrInvalid = errors.New("hintfile: invalid entry")
)

// Entry describes one record of the data file a hint file belongs to.
type Entry struct {
	// Key is the record's key. Writer.Add copies it. In an Entry passed
	// by a File it aliases the File's memory and is valid until the File
	// is closed; it must not be modified.
	Key []byte
	// Offset is the record's offset in the data file.
	Offset uint32
	// Size is the size of the whole record (header, key and value).
	Size uint32
	// Seq is the record's sequence number (< 1<<63).
	Seq uint64
	// Expiry is the record's expiry in unix nanoseconds; 0 = never. It is
	// always 0 for a tombstone.
	Expiry int64
	// Tombstone reports that the record is a delete.
	Tombstone bool
}

// Footer is the summary stored at the end of a hint file.
type Footer struct {
	// Entries is the number of entries, puts and tombstones.
	Entries uint64
	// Tombstones is the number of tombstone entries.
	Tombstones uint64
	// DataSize is the size in bytes of the data file the hint describes.
	DataSize int64
	// MinSeq and MaxSeq are the smallest and largest sequence numbers of
	// all entries; both are 0 if there are none.
	MinSeq, MaxSeq uint64
}

func checksum(b []byte) uint32 { return uint32(xxhash.Sum64(b)) }

// blockChecksum is the checksum of a block: over its 4 length bytes
// followed by its payload, given in parts.
func blockChecksum(d *xxhash.Digest, lenBytes []byte, payload ...[]byte) uint32 {
	d.Reset()
	_, _ = d.Write(lenBytes)
	for _, p := range payload {
		_, _ = d.Write(p)
	}
	return uint32(d.Sum64())
}

func corruptf(path string, off int64, format string, args ...any) error {
	return &datafile.CorruptError{Path: path, Offset: off, Reason: "hint file: " + fmt.Sprintf(format, args...)}
}

// encodeHeader returns the header of the hint file for data file id.
func encodeHeader(id uint32) []byte { return encodeHeaderVersion(id, Version) }

// encodeHeaderVersion is encodeHeader for format version v.
func encodeHeaderVersion(id uint32, v uint16) []byte {
	b := make([]byte, HeaderSize)
	copy(b, Magic)
	binary.LittleEndian.PutUint16(b[4:], v)
	binary.LittleEndian.PutUint16(b[6:], 0)
	binary.LittleEndian.PutUint32(b[8:], id)
	binary.LittleEndian.PutUint32(b[12:], checksum(b[:12]))
	return b
}

// decodeHeader checks a hint file header and returns the data file id and
// the format version (Version or VersionV1).
func decodeHeader(path string, b []byte) (uint32, uint16, error) {
	if len(b) < HeaderSize {
		return 0, 0, corruptf(path, 0, "file is %d bytes, shorter than the %d-byte header", len(b), HeaderSize)
	}
	if string(b[:4]) != Magic {
		return 0, 0, corruptf(path, 0, "bad magic %q", b[:4])
	}
	if got, want := binary.LittleEndian.Uint32(b[12:]), checksum(b[:12]); got != want {
		return 0, 0, corruptf(path, 0, "header checksum %#x, want %#x", got, want)
	}
	v := binary.LittleEndian.Uint16(b[4:])
	if v != Version && v != VersionV1 {
		return 0, 0, fmt.Errorf("%w: hint file %s has version %d, this build reads %d and %d", ErrVersion, path, v, VersionV1, Version)
	}
	if r := binary.LittleEndian.Uint16(b[6:]); r != 0 {
		return 0, 0, corruptf(path, 6, "reserved header field is %#x", r)
	}
	return binary.LittleEndian.Uint32(b[8:]), v, nil
}

// appendFooter appends the footer payload for ft to dst.
func appendFooter(dst []byte, ft Footer) []byte {
	dst = append(dst, kindFooter)
	dst = binary.LittleEndian.AppendUint64(dst, ft.Entries)
	dst = binary.LittleEndian.AppendUint64(dst, ft.Tombstones)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(ft.DataSize))
	dst = binary.LittleEndian.AppendUint64(dst, ft.MinSeq)
	dst = binary.LittleEndian.AppendUint64(dst, ft.MaxSeq)
	return dst
}

// decodeFooter parses and checks a footer payload (kind byte included). It
// returns a reason, or "" when the footer is plausible.
func decodeFooter(p []byte) (Footer, string) {
	if len(p) != footerSize {
		return Footer{}, fmt.Sprintf("footer payload is %d bytes, want %d", len(p), footerSize)
	}
	ft := Footer{
		Entries:    binary.LittleEndian.Uint64(p[1:]),
		Tombstones: binary.LittleEndian.Uint64(p[9:]),
		MinSeq:     binary.LittleEndian.Uint64(p[25:]),
		MaxSeq:     binary.LittleEndian.Uint64(p[33:]),
	}
	ds := binary.LittleEndian.Uint64(p[17:])
	switch {
	case ds > math.MaxInt64:
		return Footer{}, fmt.Sprintf("data size %d out of range", ds)
	case ft.Tombstones > ft.Entries:
		return Footer{}, fmt.Sprintf("%d tombstones among %d entries", ft.Tombstones, ft.Entries)
	case ft.MaxSeq >= seqLimit:
		return Footer{}, fmt.Sprintf("max sequence %d out of range", ft.MaxSeq)
	case ft.MinSeq > ft.MaxSeq:
		return Footer{}, fmt.Sprintf("min sequence %d above max sequence %d", ft.MinSeq, ft.MaxSeq)
	case ft.Entries == 0 && ft.MaxSeq != 0:
		return Footer{}, fmt.Sprintf("no entries but sequence range %d..%d", ft.MinSeq, ft.MaxSeq)
	}
	ft.DataSize = int64(ds)
	return ft, ""
}

// appendEntry appends the encoding of e to dst. gap is e.Offset minus the
// end of the previous entry of the block (or the block's base).
func appendEntry(dst []byte, e *Entry, gap uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(e.Key)))
	dst = append(dst, e.Key...)
	dst = binary.AppendUvarint(dst, gap)
	dst = binary.AppendUvarint(dst, uint64(e.Size))
	// Version 2: the low bit of seqx says an expiry follows (most
	// records have none, and then cost no byte for it).
	if e.Expiry == 0 {
		return binary.AppendUvarint(dst, e.Seq<<1)
	}
	dst = binary.AppendUvarint(dst, e.Seq<<1|1)
	return binary.AppendVarint(dst, e.Expiry)
}

// uvarint decodes the uvarint at p[i:] (0 <= i) and returns it with the
// index just past it, or -1 if p holds no valid uvarint there.
func uvarint(p []byte, i int) (uint64, int) {
	if i < len(p) && p[i] < 0x80 {
		return uint64(p[i]), i + 1
	}
	return uvarintSlow(p, i)
}

// uvarintSlow is uvarint for a uvarint that is not a single byte: its
// callers handle that case inline.
func uvarintSlow(p []byte, i int) (uint64, int) {
	if i < 0 || i >= len(p) {
		return 0, -1
	}
	if i+1 < len(p) && p[i] >= 0x80 && p[i+1] < 0x80 {
		return uint64(p[i]&0x7f) | uint64(p[i+1])<<7, i + 2
	}
	// Three bytes: the typical gap in a put block, whose consecutive
	// entries are those of one group, some Groups records apart.
	if i+2 < len(p) && p[i] >= 0x80 && p[i+1] >= 0x80 && p[i+2] < 0x80 {
		return uint64(p[i]&0x7f) | uint64(p[i+1]&0x7f)<<7 | uint64(p[i+2])<<14, i + 3
	}
	v, n := binary.Uvarint(p[i:])
	if n <= 0 {
		return 0, -1
	}
	return v, i + n
}

// limits are the footer values every entry is checked against.
type limits struct {
	dataSize       uint64
	minSeq, maxSeq uint64
	// v1: entries in the version-1 encoding (an expiry in each).
	v1 bool
}

// blockInfo summarizes a decoded entry block.
type blockInfo struct {
	group  uint8 // the block's group (0 for a tombstone block)
	count  uint64
	first  uint64 // offset of the first entry
	end    uint64 // end of the last entry
	minSeq uint64
	maxSeq uint64
}

// decodeBlock walks the entry block payload p (kind byte included),
// checking every entry against lim, and calls fn, if not nil, for each.
// With checkGroups it also checks that every key of a put block hashes to
// the block's group (Open does; iterating an already verified block need
// not hash every key again). On failure it returns the position in p of the
// damage and a reason; reason is "" on success. It never panics, whatever p
// holds.
func decodeBlock(p []byte, lim limits, checkGroups bool, fn func(Entry)) (info blockInfo, pos int, reason string) {
	if len(p) == 0 || (p[0] != kindPut && p[0] != kindTombstone) {
		return info, 0, "not an entry block"
	}
	if len(p) < entryHeaderMin {
		return info, len(p), "entry block without a group byte"
	}
	tomb := p[0] == kindTombstone
	group := uint64(p[1])
	if tomb && group != 0 {
		return info, 1, fmt.Sprintf("tombstone block with group %d, want 0", group)
	}
	checkGroups = checkGroups && !tomb
	info.group = uint8(group)
	count, i := uvarint(p, 2)
	if i < 0 {
		return info, 2, "bad entry count"
	}
	if count == 0 {
		return info, 2, "entry block without entries"
	}
	if count > uint64(len(p)-i)/minEntrySize {
		return info, 2, fmt.Sprintf("entry count %d cannot fit in %d bytes", count, len(p)-i)
	}
	base, j := uvarint(p, i)
	if j < 0 || base > math.MaxUint32 {
		return info, i, "bad base offset"
	}
	i = j
	prevEnd := base
	info.minSeq = math.MaxUint64
	for n := uint64(0); n < count; n++ {
		at := i
		// The varints are decoded with the one-byte case inline (uvarint
		// is too big for the compiler to inline); this loop is what
		// loading an index costs.
		var keyLen, gap, size, seq, ux uint64
		if i < len(p) && p[i] < 0x80 {
			keyLen = uint64(p[i])
			i++
		} else if keyLen, i = uvarintSlow(p, i); i < 0 {
			return info, at, "bad key length"
		}
		if keyLen == 0 || keyLen > datafile.MaxKeyLen || keyLen > uint64(len(p)-i) {
			return info, at, fmt.Sprintf("key length %d out of range (%d bytes left in block)", keyLen, len(p)-i)
		}
		key := p[i : i+int(keyLen) : i+int(keyLen)]
		i += int(keyLen)
		if i < len(p) && p[i] < 0x80 {
			gap = uint64(p[i])
			i++
		} else if gap, i = uvarintSlow(p, i); i < 0 {
			return info, at, "bad offset gap"
		}
		if i < len(p) && p[i] < 0x80 {
			size = uint64(p[i])
			i++
		} else if size, i = uvarintSlow(p, i); i < 0 {
			return info, at, "bad record size"
		}
		if i < len(p) && p[i] < 0x80 {
			seq = uint64(p[i])
			i++
		} else if seq, i = uvarintSlow(p, i); i < 0 {
			return info, at, "bad sequence"
		}
		hasExpiry := true
		if !lim.v1 {
			seq, hasExpiry = seq>>1, seq&1 != 0
		}
		var expiry int64
		if hasExpiry {
			if i < len(p) && p[i] < 0x80 {
				ux = uint64(p[i])
				i++
			} else if ux, i = uvarintSlow(p, i); i < 0 {
				return info, at, "bad expiry"
			}
			expiry = int64(ux >> 1) // zigzag, as binary.Varint
			if ux&1 != 0 {
				expiry = ^expiry
			}
			if !lim.v1 && expiry == 0 {
				return info, at, "expiry flag with a zero expiry"
			}
		}
		// prevEnd <= MaxUint32 here, so with gap and size bounded no sum
		// below can overflow.
		if gap > math.MaxUint32 {
			return info, at, fmt.Sprintf("offset gap %d out of range", gap)
		}
		off := prevEnd + gap
		switch {
		case size < datafile.MinRecordHeaderSize+keyLen || size > math.MaxUint32:
			return info, at, fmt.Sprintf("record size %d impossible for a %d-byte key", size, keyLen)
		case off < datafile.FileHeaderSize:
			return info, at, fmt.Sprintf("record offset %d inside the data file header", off)
		case off+size > math.MaxUint32 || off+size > lim.dataSize:
			return info, at, fmt.Sprintf("record at %d of %d bytes runs past the data file's %d bytes", off, size, lim.dataSize)
		case seq >= seqLimit || seq < lim.minSeq || seq > lim.maxSeq:
			return info, at, fmt.Sprintf("sequence %d outside the footer's range %d..%d", seq, lim.minSeq, lim.maxSeq)
		case tomb && expiry != 0:
			return info, at, fmt.Sprintf("tombstone with expiry %d", expiry)
		case checkGroups && xxhash.Sum64(key)>>(64-groupBits) != group:
			return info, at, fmt.Sprintf("put entry's key belongs to group %d, not to its block's group %d", xxhash.Sum64(key)>>(64-groupBits), group)
		}
		if n == 0 {
			info.first = off
		}
		info.minSeq = min(info.minSeq, seq)
		info.maxSeq = max(info.maxSeq, seq)
		prevEnd = off + size
		if fn != nil {
			fn(Entry{Key: key, Offset: uint32(off), Size: uint32(size), Seq: seq, Expiry: expiry, Tombstone: tomb})
		}
	}
	if i != len(p) {
		return info, i, fmt.Sprintf("%d bytes after the block's %d entries", len(p)-i, count)
	}
	info.count = count
	info.end = prevEnd
	return info, 0, ""
}
