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
	// Version is the data file format version this package writes.
	Version = 1
	// FileHeaderSize is the size of the file header.
	FileHeaderSize = 16
	// RecordHeaderSize is the size of a record header.
	RecordHeaderSize = 33

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
	knownFlags     = FlagTombstone | FlagCompressed
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
	HeaderSum uint32 // over the header fields after this one
	Flags     byte
	KeyLen    uint32
	ValLen    uint32 // stored (possibly compressed) length
	Seq       uint64
	Expiry    int64
}

// Size is the whole record size described by the header.
func (h Header) Size() int64 { return RecordHeaderSize + int64(h.KeyLen) + int64(h.ValLen) }

func checksum(b []byte) uint32 { return uint32(xxhash.Sum64(b)) }

// EncodeFileHeader returns the 16-byte header of data file id.
func EncodeFileHeader(id uint32) []byte {
	b := make([]byte, FileHeaderSize)
	copy(b, Magic)
	binary.LittleEndian.PutUint16(b[4:], Version)
	binary.LittleEndian.PutUint16(b[6:], 0)
	binary.LittleEndian.PutUint32(b[8:], id)
	binary.LittleEndian.PutUint32(b[12:], checksum(b[:12]))
	return b
}

// DecodeFileHeader checks a file header and returns the file id it names.
func DecodeFileHeader(path string, b []byte) (uint32, error) {
	if len(b) < FileHeaderSize {
		return 0, corruptf(path, 0, "file header is %d bytes, want %d", len(b), FileHeaderSize)
	}
	if string(b[:4]) != Magic {
		return 0, corruptf(path, 0, "bad magic %q", b[:4])
	}
	if got, want := binary.LittleEndian.Uint32(b[12:]), checksum(b[:12]); got != want {
		return 0, corruptf(path, 0, "file header checksum %#x, want %#x", got, want)
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != Version {
		return 0, fmt.Errorf("%w: %s has version %d, this build reads %d", ErrVersion, path, v, Version)
	}
	if r := binary.LittleEndian.Uint16(b[6:]); r != 0 {
		return 0, corruptf(path, 0, "reserved header field is %#x", r)
	}
	return binary.LittleEndian.Uint32(b[8:]), nil
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

// AppendEncoded appends a record whose value is already in stored form (see
// PrepareValue) to dst. flags may hold FlagTombstone or FlagCompressed.
func AppendEncoded(dst []byte, seq uint64, expiry int64, flags byte, key, stored []byte) ([]byte, error) {
	if len(key) == 0 || len(key) > MaxKeyLen || int64(len(stored)) >= MaxValueLen || flags&^knownFlags != 0 ||
		(flags&FlagTombstone != 0 && (len(stored) != 0 || flags&FlagCompressed != 0)) || seq >= 1<<63 {
		return dst, fmt.Errorf("%w: key %d bytes, value %d bytes, flags %#x, seq %d", ErrInvalid, len(key), len(stored), flags, seq)
	}
	start := len(dst)
	total := RecordHeaderSize + len(key) + len(stored)
	dst = grow(dst, total)
	rec := dst[start : start+total]
	rec[8] = flags
	binary.LittleEndian.PutUint32(rec[9:], uint32(len(key)))
	binary.LittleEndian.PutUint32(rec[13:], uint32(len(stored)))
	binary.LittleEndian.PutUint64(rec[17:], seq)
	binary.LittleEndian.PutUint64(rec[25:], uint64(expiry))
	binary.LittleEndian.PutUint32(rec[4:], checksum(rec[8:RecordHeaderSize]))
	copy(rec[RecordHeaderSize:], key)
	copy(rec[RecordHeaderSize+len(key):], stored)
	binary.LittleEndian.PutUint32(rec[0:], checksum(rec[4:]))
	return dst, nil
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

// DecodeHeader parses the fixed record header at the start of b (which must
// hold at least RecordHeaderSize bytes) without verifying the checksum.
func DecodeHeader(b []byte) Header {
	return Header{
		Checksum:  binary.LittleEndian.Uint32(b[0:]),
		HeaderSum: binary.LittleEndian.Uint32(b[4:]),
		Flags:     b[8],
		KeyLen:    binary.LittleEndian.Uint32(b[9:]),
		ValLen:    binary.LittleEndian.Uint32(b[13:]),
		Seq:       binary.LittleEndian.Uint64(b[17:]),
		Expiry:    int64(binary.LittleEndian.Uint64(b[25:])),
	}
}

// headerIntact reports whether the header fields in b (a full record
// header) match their own checksum. It lets a scan tell a damaged length
// (corruption) from a record cut short by a crash (a torn tail).
func headerIntact(b []byte) bool {
	return binary.LittleEndian.Uint32(b[4:]) == checksum(b[8:RecordHeaderSize])
}

// checkHeader validates the fields of h that can be checked without the
// body; avail is the number of bytes from the record start to the end of the
// file. It returns a reason, or "" when the header is plausible.
func checkHeader(h Header, avail int64) string {
	switch {
	case h.Flags&^knownFlags != 0:
		return fmt.Sprintf("unknown flags %#x", h.Flags)
	case h.KeyLen == 0:
		return "zero key length"
	case h.KeyLen > MaxKeyLen:
		return fmt.Sprintf("key length %d exceeds limit", h.KeyLen)
	case int64(h.ValLen) >= MaxValueLen:
		return fmt.Sprintf("value length %d exceeds limit", h.ValLen)
	case h.Flags&FlagTombstone != 0 && (h.ValLen != 0 || h.Flags&FlagCompressed != 0):
		return "tombstone with a value"
	case h.Seq >= 1<<63:
		return fmt.Sprintf("sequence %d out of range", h.Seq)
	case h.Size() > avail:
		return fmt.Sprintf("record of %d bytes runs past the end of the file (%d bytes left)", h.Size(), avail)
	}
	return ""
}

// DecodeRecord verifies and decodes the complete record in b (exactly one
// record, as located by the keydir). path and off are used in errors. The
// returned Key aliases b; Value aliases b unless it was compressed, in which
// case it is decompressed into a new slice.
func DecodeRecord(path string, off int64, b []byte) (Record, error) {
	if len(b) < RecordHeaderSize {
		return Record{}, corruptf(path, off, "record of %d bytes is shorter than a header", len(b))
	}
	h := DecodeHeader(b)
	if !headerIntact(b) {
		return Record{}, corruptf(path, off, "record header checksum mismatch")
	}
	if reason := checkHeader(h, int64(len(b))); reason != "" {
		return Record{}, corruptf(path, off, "%s", reason)
	}
	if h.Size() != int64(len(b)) {
		return Record{}, corruptf(path, off, "record is %d bytes, header says %d", len(b), h.Size())
	}
	if got := checksum(b[4:]); got != h.Checksum {
		return Record{}, corruptf(path, off, "checksum %#x, want %#x", got, h.Checksum)
	}
	return decodeBody(path, off, h, b)
}

func decodeBody(path string, off int64, h Header, b []byte) (Record, error) {
	r := Record{
		Seq:       h.Seq,
		Expiry:    h.Expiry,
		Tombstone: h.Flags&FlagTombstone != 0,
		Key:       b[RecordHeaderSize : RecordHeaderSize+h.KeyLen],
		Value:     b[RecordHeaderSize+h.KeyLen : h.Size()],
	}
	if h.Flags&FlagCompressed != 0 {
		r.Compressed = true
		n, err := snappy.DecodedLen(r.Value)
		if err != nil || n > MaxValueLen {
			return Record{}, corruptf(path, off, "bad compressed value: length %d, %v", n, err)
		}
		v, err := snappy.Decode(make([]byte, n), r.Value)
		if err != nil {
			return Record{}, corruptf(path, off, "bad compressed value: %v", err)
		}
		r.Value = v
	}
	return r, nil
}

// DecodeStored verifies the complete record in b (exactly one record, as
// located by the keydir) like DecodeRecord, but leaves a compressed value
// as stored, with Compressed set: Decompress decodes it. Key and Value
// alias b. A reader can thus look at the record (is it compressed, is it
// the key it wants) before it pays for a decompression.
//
// It verifies the record checksum but not the header sum: the checksum
// covers the header as well, and the header sum only serves a scan, which
// must tell a torn tail from damage before it trusts a length. Here the
// length is known, and checked, before anything is read past the header.
func DecodeStored(path string, off int64, b []byte) (Record, error) {
	if len(b) < RecordHeaderSize {
		return Record{}, corruptf(path, off, "record of %d bytes is shorter than a header", len(b))
	}
	h := DecodeHeader(b)
	if h.Size() != int64(len(b)) {
		return Record{}, corruptf(path, off, "record is %d bytes, header says %d", len(b), h.Size())
	}
	if got := checksum(b[4:]); got != h.Checksum {
		return Record{}, corruptf(path, off, "checksum %#x, want %#x", got, h.Checksum)
	}
	if reason := checkHeader(h, int64(len(b))); reason != "" {
		return Record{}, corruptf(path, off, "%s", reason)
	}
	return Record{
		Seq:        h.Seq,
		Expiry:     h.Expiry,
		Tombstone:  h.Flags&FlagTombstone != 0,
		Compressed: h.Flags&FlagCompressed != 0,
		Key:        b[RecordHeaderSize : RecordHeaderSize+h.KeyLen],
		Value:      b[RecordHeaderSize+h.KeyLen:],
	}, nil
}

// Decompress returns the value of a record that DecodeStored returned with
// Compressed set, decoded into a new slice. path and off are used in
// errors.
func Decompress(path string, off int64, stored []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(stored)
	if err != nil || n > MaxValueLen {
		return nil, corruptf(path, off, "bad compressed value: length %d, %v", n, err)
	}
	v, err := snappy.Decode(make([]byte, n), stored)
	if err != nil {
		return nil, corruptf(path, off, "bad compressed value: %v", err)
	}
	return v, nil
}
