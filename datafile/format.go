package datafile

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/golang/snappy"
)

const (
	// Magic opens every data file.
	Magic = "SKVD"
	// Version is the data file format version this package writes: a
	// compact record header (record.go). VersionV1, the fixed 33-byte
	// header of earlier releases (record_v1.go), is still read.
	Version   = 2
	VersionV1 = 1
	// FileHeaderSize is the size of the file header.
	FileHeaderSize = 16
	// RecordHeaderSize is the size of a version-1 record header, and the
	// largest a version-2 header can be (MaxRecordHeaderSize).
	RecordHeaderSize = 33
	// MaxRecordHeaderSize bounds a record header of either version:
	// reading this many bytes (or up to the end of the file) at a record's
	// offset always covers its header.
	MaxRecordHeaderSize = 33
	// MinRecordHeaderSize is the smallest version-2 record header.
	MinRecordHeaderSize = v2Fixed + 3

	// MaxKeyLen is the format's hard limit on key length (engines may set
	// a lower one).
	MaxKeyLen = 16 << 20
	// MaxValueLen is the format's hard limit on a stored value length.
	MaxValueLen = 1 << 31
)

// Record flags.
const (
	FlagTombstone  = 1 << 0
	FlagCompressed = 1 << 1
	// FlagExpiry (version 2 only) says the header holds an expiry. It
	// is set exactly when the expiry is not 0; AppendEncoded sets it.
	FlagExpiry = 1 << 2
	// FlagBatch (version 2 only) marks a batch's header record (the one
	// record with an empty key) and each of its members (batch.go).
	FlagBatch    = 1 << 3
	knownFlagsV1 = FlagTombstone | FlagCompressed
	knownFlags   = FlagTombstone | FlagCompressed | FlagExpiry | FlagBatch
)

// Record is a decoded record. Key and Value may alias the buffer it was
// decoded from.
type Record struct {
	Seq       uint64
	Expiry    int64 // unix nanoseconds; 0 = never
	Tombstone bool
	// Compressed reports that the value was stored snappy-compressed.
	Compressed bool
	Key        []byte
	Value      []byte // uncompressed value; empty for tombstones
}

// Header is a decoded record header.
type Header struct {
	Checksum  uint32 // over every byte after this field
	HeaderSum uint32 // over the header fields after this one (16 bits in version 2)
	Flags     byte
	KeyLen    uint32
	ValLen    uint32 // stored (possibly compressed) length
	Seq       uint64
	Expiry    int64
	// Len is the header's own length: 33 in version 1, 10 to 33 in
	// version 2.
	Len uint32
}

// Size is the whole record size described by the header.
func (h Header) Size() int64 { return int64(h.Len) + int64(h.KeyLen) + int64(h.ValLen) }

func checksum(b []byte) uint32 { return uint32(xxhash.Sum64(b)) }

// EncodeFileHeader returns the 16-byte header of a data file id of the
// current Version.
func EncodeFileHeader(id uint32) []byte { return EncodeFileHeaderVersion(id, Version) }

// EncodeFileHeaderVersion returns the 16-byte header of data file id in
// format version v (a repair rewrites a version-1 file as version 1).
func EncodeFileHeaderVersion(id uint32, v uint16) []byte {
	b := make([]byte, FileHeaderSize)
	copy(b, Magic)
	binary.LittleEndian.PutUint16(b[4:], v)
	binary.LittleEndian.PutUint16(b[6:], 0)
	binary.LittleEndian.PutUint32(b[8:], id)
	binary.LittleEndian.PutUint32(b[12:], checksum(b[:12]))
	return b
}

// DecodeFileHeader checks a file header and returns the file id it names.
func DecodeFileHeader(path string, b []byte) (uint32, error) {
	id, _, err := DecodeFileHeaderVersion(path, b)
	return id, err
}

// DecodeFileHeaderVersion checks a file header and returns the file id it
// names and its format version (Version or VersionV1).
func DecodeFileHeaderVersion(path string, b []byte) (uint32, uint16, error) {
	if len(b) < FileHeaderSize {
		return 0, 0, corruptf(path, 0, "file header is %d bytes, want %d", len(b), FileHeaderSize)
	}
	if string(b[:4]) != Magic {
		return 0, 0, corruptf(path, 0, "bad magic %q", b[:4])
	}
	if got, want := binary.LittleEndian.Uint32(b[12:]), checksum(b[:12]); got != want {
		return 0, 0, corruptf(path, 0, "file header checksum %#x, want %#x", got, want)
	}
	v := binary.LittleEndian.Uint16(b[4:])
	if v != Version && v != VersionV1 {
		return 0, 0, fmt.Errorf("%w: %s has version %d, this build reads %d and %d", ErrVersion, path, v, VersionV1, Version)
	}
	if r := binary.LittleEndian.Uint16(b[6:]); r != 0 {
		return 0, 0, corruptf(path, 0, "reserved header field is %#x", r)
	}
	return binary.LittleEndian.Uint32(b[8:]), v, nil
}

// PrepareValue decides how value is stored: snappy-compressed when compress
// is set and that makes it smaller, as is otherwise. It returns the bytes to
// store and the flags to record. scratch (optional) is reused for the
// compressed form, so the result may alias *scratch. It can run outside any
// lock, before the record's sequence number is known.
func PrepareValue(value []byte, compress bool, scratch *[]byte) (stored []byte, flags byte) {
	if !compress || len(value) < MinCompressLen {
		return value, 0
	}
	var buf []byte
	if scratch != nil {
		buf = *scratch
	}
	n := snappy.MaxEncodedLen(len(value))
	if n < 0 {
		return value, 0
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	c := snappy.Encode(buf[:n], value)
	if scratch != nil {
		*scratch = buf
	}
	if len(c) < len(value) {
		return c, FlagCompressed
	}
	return value, 0
}

// AppendRecord is PrepareValue followed by AppendEncoded.
func AppendRecord(dst []byte, seq uint64, expiry int64, tombstone bool, key, value []byte, compress bool, scratch *[]byte) ([]byte, error) {
	if tombstone {
		return AppendEncoded(dst, seq, expiry, FlagTombstone, key, nil)
	}
	stored, flags := PrepareValue(value, compress, scratch)
	return AppendEncoded(dst, seq, expiry, flags, key, stored)
}

// MinCompressLen is the smallest value worth handing to snappy: below it the
// framing overhead makes a saving impossible.
const MinCompressLen = 16

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*cap(b)+n)
	copy(nb, b)
	return nb
}
