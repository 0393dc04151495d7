package datafile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// appendV1 appends a version-1 record (the encoding of earlier releases,
// kept here to test that they are still read).
func appendV1(dst []byte, seq uint64, expiry int64, flags byte, key, stored []byte) []byte {
	rec := make([]byte, RecordHeaderSize+len(key)+len(stored))
	rec[8] = flags
	binary.LittleEndian.PutUint32(rec[9:], uint32(len(key)))
	binary.LittleEndian.PutUint32(rec[13:], uint32(len(stored)))
	binary.LittleEndian.PutUint64(rec[17:], seq)
	binary.LittleEndian.PutUint64(rec[25:], uint64(expiry))
	binary.LittleEndian.PutUint32(rec[4:], checksum(rec[8:RecordHeaderSize]))
	copy(rec[RecordHeaderSize:], key)
	copy(rec[RecordHeaderSize+len(key):], stored)
	binary.LittleEndian.PutUint32(rec[0:], checksum(rec[4:]))
	return append(dst, rec...)
}

// v2Header builds a version-2 record header from raw field values (no
// limits checked) with a header sum that holds and checksum 0.
func v2Header(flags byte, keyLen, valLen, seq uint64, expiry int64) []byte {
	b := make([]byte, v2Fixed, MaxRecordHeaderSize+8)
	b[6] = flags
	b = binary.AppendUvarint(b, keyLen)
	b = binary.AppendUvarint(b, valLen)
	b = binary.AppendUvarint(b, seq)
	if flags&FlagExpiry != 0 {
		b = binary.LittleEndian.AppendUint64(b, uint64(expiry))
	}
	binary.LittleEndian.PutUint16(b[4:], uint16(checksum(b[6:])))
	return b
}

// TestV1RecordsRead: a version-1 file (header version 1, 33-byte record
// headers) scans and decodes record by record, and every byte of a v1
// record is covered by a checksum.
func TestV1RecordsRead(t *testing.T) {
	file := EncodeFileHeaderVersion(7, VersionV1)
	var offs []int64
	for i, k := range []string{"a", "bb", "ccc"} {
		offs = append(offs, int64(len(file)))
		flags := byte(0)
		val := bytes.Repeat([]byte{byte(i)}, 10*i)
		if i == 1 {
			flags, val = FlagTombstone, nil
		}
		file = appendV1(file, uint64(10+i), int64(i)*1000, flags, []byte(k), val)
	}
	s := NewScanner(bytes.NewReader(file), "v1.data", int64(len(file)))
	var keys []string
	for s.Next() {
		require.EqualValues(t, VersionV1, s.Version())
		require.Equal(t, uint32(7), s.FileID())
		h := s.Header()
		require.EqualValues(t, RecordHeaderSize, h.Len)
		require.Equal(t, offs[len(keys)], s.Offset())
		keys = append(keys, string(s.Key()))
		rec, err := DecodeRecordVersion(VersionV1, "v1.data", s.Offset(), s.Raw())
		require.NoError(t, err)
		require.Equal(t, h.Seq, rec.Seq)
		require.Equal(t, h.Expiry, rec.Expiry)
		require.Equal(t, h.Flags&FlagTombstone != 0, rec.Tombstone)
		// Read as version 2, a v1 record is corrupt, never another record.
		_, err = DecodeRecord("v1.data", s.Offset(), s.Raw())
		require.ErrorIs(t, err, ErrCorrupt)
	}
	require.NoError(t, s.Err())
	require.False(t, s.Torn())
	require.Equal(t, []string{"a", "bb", "ccc"}, keys)

	raw := file[offs[2]:]
	for i := range raw {
		d := bytes.Clone(raw)
		d[i] ^= 0x10
		_, err := DecodeRecordVersion(VersionV1, "v1.data", 0, d)
		require.ErrorIs(t, err, ErrCorrupt, "flip at %d", i)
	}
	// The expiry flag does not exist in version 1.
	bad := appendV1(nil, 1, 0, FlagExpiry, []byte("k"), nil)
	_, err := DecodeRecordVersion(VersionV1, "v1.data", 0, bad)
	require.ErrorIs(t, err, ErrCorrupt)
}

// TestV2HeaderCompact: the header is 10 to 33 bytes and costs 12 for a
// typical record (seq below 2^14... 2^21, no expiry); the expiry is there
// only when set.
func TestV2HeaderCompact(t *testing.T) {
	cases := []struct {
		seq    uint64
		expiry int64
		key    int
		val    int
		want   int
	}{
		{1, 0, 1, 0, 10},
		{1 << 20, 0, 16, 100, 12},
		{1 << 20, 5, 16, 100, 20},
		{1<<63 - 1, -1, MaxKeyLen, 1<<31 - 2, MaxRecordHeaderSize},
	}
	for _, c := range cases {
		n := RecordSize(c.seq, c.expiry, c.key, c.val) - int64(c.key) - int64(c.val)
		require.EqualValues(t, c.want, n, "%+v", c)
	}
	b, err := AppendEncoded(nil, 1<<20, 0, 0, bytes.Repeat([]byte("k"), 16), make([]byte, 100))
	require.NoError(t, err)
	require.Len(t, b, 12+16+100)
	h, ok := ParseHeader(Version, b)
	require.True(t, ok)
	require.EqualValues(t, 12, h.Len)
	require.Zero(t, h.Flags&FlagExpiry)
}

// TestV2HeaderRejects: non-minimal varints, an expiry flag with a zero
// expiry, and lengths past the limits are corruption.
func TestV2HeaderRejects(t *testing.T) {
	good := v2Header(0, 1, 1, 5, 0)
	rec := func(hdr []byte) []byte {
		b := append(bytes.Clone(hdr), 'k', 'v')
		binary.LittleEndian.PutUint32(b, checksum(b[4:]))
		return b
	}
	_, err := DecodeRecord("f", 0, rec(good))
	require.NoError(t, err)
	nonMinimal := bytes.Clone(good[:v2Fixed])
	nonMinimal = append(nonMinimal, 0x81, 0x00, 1, 5) // key len 1 in two bytes
	binary.LittleEndian.PutUint16(nonMinimal[4:], uint16(checksum(nonMinimal[6:])))
	for name, hdr := range map[string][]byte{
		"non-minimal varint":   nonMinimal,
		"expiry flag, zero":    v2Header(FlagExpiry, 1, 1, 5, 0),
		"key too long":         v2Header(0, MaxKeyLen+1, 1, 5, 0),
		"seq out of range":     v2Header(0, 1, 1, 1<<63, 0),
		"unknown flag":         v2Header(0x40, 1, 1, 5, 0),
		"tombstone with value": v2Header(FlagTombstone, 1, 1, 5, 0),
	} {
		_, err := DecodeRecord("f", 0, rec(hdr))
		require.ErrorIs(t, err, ErrCorrupt, name)
		var ce *CorruptError
		require.True(t, errors.As(err, &ce), name)
	}
}
