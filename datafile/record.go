package datafile

import (
	"encoding/binary"
	"fmt"

	"github.com/golang/snappy"
)

// Version-2 record layout (little endian):
//
//	+----------+------------+-------+---------+---------+---------+----------+-----+-------+
//	| checksum | header sum | flags | key len | val len | seq     | [expiry] | key | value |
//	| u32      | u16        | u8    | uvarint | uvarint | uvarint | i64      |     |       |
//	+----------+------------+-------+---------+---------+---------+----------+-----+-------+
//
// The expiry is there only when FlagExpiry is set. See FORMAT.md.
const (
	// v2Fixed is the fixed part of a version-2 header: checksum, header
	// sum and flags.
	v2Fixed = 7
	// Longest minimal uvarints of the three length fields within the
	// format limits: key len ≤ 16 MiB, val len < 2 GiB, seq < 2^63.
	maxKeyLenBytes = 4
	maxValLenBytes = 5
	maxSeqBytes    = 9
)

// hdrStatus is how the parse of a record header went.
type hdrStatus uint8

const (
	hdrOK    hdrStatus = iota // parsed, and the header sum holds
	hdrShort                  // the bytes end inside the header
	hdrBad                    // malformed, or the header sum fails
)

// ParseHeader decodes the record header at the start of b, a record of a
// file in format version v, and reports whether it is intact: completely
// in b, well formed and matching its header sum. The checksum over the
// whole record is not verified (DecodeRecord does that).
func ParseHeader(v uint16, b []byte) (Header, bool) {
	h, st := parseHeader(v, b)
	return h, st == hdrOK
}

func parseHeader(v uint16, b []byte) (Header, hdrStatus) { return parseHeaderSum(v, b, true) }

// parseHeaderSum is parseHeader, checking the header sum only if sum is set.
func parseHeaderSum(v uint16, b []byte, sum bool) (Header, hdrStatus) {
	if v == VersionV1 {
		return parseHeaderV1(b, sum)
	}
	if len(b) < MinRecordHeaderSize {
		return Header{}, hdrShort
	}
	h := Header{
		Checksum:  binary.LittleEndian.Uint32(b),
		HeaderSum: uint32(binary.LittleEndian.Uint16(b[4:])),
		Flags:     b[6],
	}
	p := v2Fixed
	var kl, vl uint64
	var st hdrStatus
	if kl, p, st = uvarintAt(b, p, maxKeyLenBytes); st != hdrOK {
		return Header{}, st
	}
	if vl, p, st = uvarintAt(b, p, maxValLenBytes); st != hdrOK {
		return Header{}, st
	}
	if h.Seq, p, st = uvarintAt(b, p, maxSeqBytes); st != hdrOK {
		return Header{}, st
	}
	if h.Flags&FlagExpiry != 0 {
		if len(b) < p+8 {
			return Header{}, hdrShort
		}
		h.Expiry = int64(binary.LittleEndian.Uint64(b[p:]))
		p += 8
	}
	if kl > 1<<32-1 || vl > 1<<32-1 {
		return Header{}, hdrBad
	}
	h.KeyLen, h.ValLen, h.Len = uint32(kl), uint32(vl), uint32(p)
	if sum && uint16(checksum(b[6:p])) != uint16(h.HeaderSum) {
		return Header{}, hdrBad
	}
	return h, hdrOK
}

// uvarintAt reads the minimal uvarint of at most maxLen bytes at b[p:] and
// returns it with the offset after it.
func uvarintAt(b []byte, p, maxLen int) (uint64, int, hdrStatus) {
	var x uint64
	for i := 0; i < maxLen; i++ {
		if p+i >= len(b) {
			return 0, p, hdrShort
		}
		c := b[p+i]
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, p, hdrBad // not minimal: one record, one encoding
			}
			return x, p + i + 1, hdrOK
		}
	}
	return 0, p, hdrBad
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// RecordSize is the size of the version-2 record AppendEncoded writes for
// these fields.
func RecordSize(seq uint64, expiry int64, keyLen, storedLen int) int64 {
	n := v2Fixed + uvarintLen(uint64(keyLen)) + uvarintLen(uint64(storedLen)) + uvarintLen(seq) + keyLen + storedLen
	if expiry != 0 {
		n += 8
	}
	return int64(n)
}

// AppendEncoded appends a version-2 record whose value is already in
// stored form (see PrepareValue) to dst. flags may hold FlagTombstone or
// FlagCompressed; FlagExpiry is set from expiry (a flag passed in is
// ignored), so the flags of any decoded header can be passed back.
func AppendEncoded(dst []byte, seq uint64, expiry int64, flags byte, key, stored []byte) ([]byte, error) {
	if len(key) == 0 || len(key) > MaxKeyLen || int64(len(stored)) >= MaxValueLen || flags&^knownFlags != 0 ||
		(flags&FlagTombstone != 0 && (len(stored) != 0 || flags&FlagCompressed != 0)) || seq >= 1<<63 {
		return dst, fmt.Errorf("%w: key %d bytes, value %d bytes, flags %#x, seq %d", ErrInvalid, len(key), len(stored), flags, seq)
	}
	return appendRecord(dst, seq, expiry, flags, key, stored), nil
}

// appendRecord appends a version-2 record without checking its fields.
func appendRecord(dst []byte, seq uint64, expiry int64, flags byte, key, stored []byte) []byte {
	flags &^= FlagExpiry
	if expiry != 0 {
		flags |= FlagExpiry
	}
	start := len(dst)
	total := int(RecordSize(seq, expiry, len(key), len(stored)))
	dst = grow(dst, total)
	rec := dst[start : start+total]
	rec[6] = flags
	p := v2Fixed
	p += binary.PutUvarint(rec[p:], uint64(len(key)))
	p += binary.PutUvarint(rec[p:], uint64(len(stored)))
	p += binary.PutUvarint(rec[p:], seq)
	if expiry != 0 {
		binary.LittleEndian.PutUint64(rec[p:], uint64(expiry))
		p += 8
	}
	binary.LittleEndian.PutUint16(rec[4:], uint16(checksum(rec[6:p])))
	copy(rec[p:], key)
	copy(rec[p+len(key):], stored)
	binary.LittleEndian.PutUint32(rec[0:], checksum(rec[4:]))
	return dst
}

// checkHeader validates the fields of h (of a file in version v) that can
// be checked without the body; avail is the number of bytes from the
// record start to the end of the file. It returns a reason, or "" when the
// header is plausible.
func checkHeader(v uint16, h Header, avail int64) string {
	known := byte(knownFlags)
	if v == VersionV1 {
		known = knownFlagsV1
	}
	switch {
	case h.Flags&^known != 0:
		return fmt.Sprintf("unknown flags %#x", h.Flags)
	case v != VersionV1 && (h.Flags&FlagExpiry != 0) != (h.Expiry != 0):
		return "expiry flag disagrees with the expiry"
	case IsBatchHeader(h) && (h.Flags != FlagBatch || h.ValLen < 2 || h.ValLen > maxBatchValueLen):
		return fmt.Sprintf("malformed batch header (flags %#x, value length %d)", h.Flags, h.ValLen)
	case h.KeyLen == 0 && !IsBatchHeader(h):
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

// DecodeRecord verifies and decodes the complete version-2 record in b
// (exactly one record, as located by the keydir). path and off are used in
// errors. The returned Key aliases b; Value aliases b unless it was
// compressed, in which case it is decompressed into a new slice.
func DecodeRecord(path string, off int64, b []byte) (Record, error) {
	return DecodeRecordVersion(Version, path, off, b)
}

// DecodeRecordVersion is DecodeRecord for a record of a file in format
// version v.
func DecodeRecordVersion(v uint16, path string, off int64, b []byte) (Record, error) {
	h, st := parseHeader(v, b)
	switch st {
	case hdrShort:
		return Record{}, corruptf(path, off, "record of %d bytes is shorter than its header", len(b))
	case hdrBad:
		return Record{}, corruptf(path, off, "record header checksum mismatch")
	}
	if reason := checkHeader(v, h, int64(len(b))); reason != "" {
		return Record{}, corruptf(path, off, "%s", reason)
	}
	if IsBatchHeader(h) {
		return Record{}, corruptf(path, off, "a batch header, not a record of a key")
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
		Key:       b[h.Len : h.Len+h.KeyLen],
		Value:     b[int64(h.Len)+int64(h.KeyLen) : h.Size()],
	}
	if h.Flags&FlagCompressed != 0 {
		r.Compressed = true
		v, err := Decompress(path, off, r.Value)
		if err != nil {
			return Record{}, err
		}
		r.Value = v
	}
	return r, nil
}

// DecodeStored verifies the complete version-2 record in b (exactly one
// record, as located by the keydir) like DecodeRecord, but leaves a
// compressed value as stored, with Compressed set: Decompress decodes it.
// Key and Value alias b. A reader can thus look at the record (is it
// compressed, is it the key it wants) before it pays for a decompression.
//
// It verifies the record checksum but not the header sum: the checksum
// covers the header as well, and the header sum only serves a scan, which
// must tell a torn tail from damage before it trusts a length. Here the
// length is known, and checked, before anything is read past the header.
func DecodeStored(path string, off int64, b []byte) (Record, error) {
	return DecodeStoredVersion(Version, path, off, b)
}

// DecodeStoredVersion is DecodeStored for a record of a file in format
// version v.
func DecodeStoredVersion(v uint16, path string, off int64, b []byte) (Record, error) {
	h, st := parseHeaderSum(v, b, false)
	if st != hdrOK {
		return Record{}, corruptf(path, off, "record of %d bytes does not start with a whole header", len(b))
	}
	if h.Size() != int64(len(b)) {
		return Record{}, corruptf(path, off, "record is %d bytes, header says %d", len(b), h.Size())
	}
	if got := checksum(b[4:]); got != h.Checksum {
		return Record{}, corruptf(path, off, "checksum %#x, want %#x", got, h.Checksum)
	}
	if reason := checkHeader(v, h, int64(len(b))); reason != "" {
		return Record{}, corruptf(path, off, "%s", reason)
	}
	if IsBatchHeader(h) {
		return Record{}, corruptf(path, off, "a batch header, not a record of a key")
	}
	return Record{
		Seq:        h.Seq,
		Expiry:     h.Expiry,
		Tombstone:  h.Flags&FlagTombstone != 0,
		Compressed: h.Flags&FlagCompressed != 0,
		Key:        b[h.Len : h.Len+h.KeyLen],
		Value:      b[h.Len+h.KeyLen:],
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
