package datafile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFileHeaderRoundTrip(t *testing.T) {
	for _, id := range []uint32{0, 1, 42, 1<<32 - 1} {
		b := EncodeFileHeader(id)
		require.Len(t, b, FileHeaderSize)
		got, err := DecodeFileHeader("f", b)
		require.NoError(t, err)
		require.Equal(t, id, got)
	}
}

func TestFileHeaderDamage(t *testing.T) {
	good := EncodeFileHeader(7)
	for i := range FileHeaderSize {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		_, err := DecodeFileHeader("f", b)
		require.Error(t, err, "flipped byte %d accepted", i)
	}
	_, err := DecodeFileHeader("f", good[:10])
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestFileHeaderUnknownVersion(t *testing.T) {
	b := EncodeFileHeader(3)
	b[4] = 9 // version 9, then fix the checksum so only the version is wrong
	copy(b[12:], le32(checksum(b[:12])))
	_, err := DecodeFileHeader("path/x.data", b)
	require.ErrorIs(t, err, ErrVersion)
	require.NotErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "path/x.data")
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

func TestRecordRoundTrip(t *testing.T) {
	compressible := bytes.Repeat([]byte("abcd"), 100)
	random := make([]byte, 300)
	for i := range random {
		random[i] = byte(rand.Uint32())
	}
	cases := []struct {
		name       string
		key, value []byte
		tombstone  bool
		compress   bool
		wantComp   bool
	}{
		{"empty value", []byte("k"), []byte{}, false, true, false},
		{"binary key", []byte("a\x00b\n\t\xff\xfe"), []byte("v"), false, true, false},
		{"compressible", []byte("key"), compressible, false, true, true},
		{"compressible but off", []byte("key"), compressible, false, false, false},
		{"incompressible", []byte("key"), random, false, true, false},
		{"tombstone", []byte("gone"), nil, true, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var scratch []byte
			// Every header field non-zero.
			b, err := AppendRecord([]byte("prefix"), 0x0102030405060708, 0x1112131415161718, c.tombstone, c.key, c.value, c.compress, &scratch)
			require.NoError(t, err)
			require.Equal(t, "prefix", string(b[:6]))
			rec, err := DecodeRecord("f", 6, b[6:])
			require.NoError(t, err)
			require.Equal(t, uint64(0x0102030405060708), rec.Seq)
			require.Equal(t, int64(0x1112131415161718), rec.Expiry)
			require.Equal(t, c.tombstone, rec.Tombstone)
			require.Equal(t, c.key, rec.Key)
			require.Equal(t, c.wantComp, rec.Compressed)
			if c.tombstone {
				require.Empty(t, rec.Value)
			} else {
				require.Equal(t, c.value, rec.Value)
				require.NotNil(t, rec.Value)
			}
			if c.wantComp {
				require.Less(t, len(b)-6, RecordHeaderSize+len(c.key)+len(c.value))
			}
		})
	}
}

func TestRecordEveryByteCovered(t *testing.T) {
	b, err := AppendRecord(nil, 5, 6, false, []byte("key"), []byte("value"), false, nil)
	require.NoError(t, err)
	for i := range b {
		for _, mask := range []byte{0x01, 0x80} {
			d := bytes.Clone(b)
			d[i] ^= mask
			_, err := DecodeRecord("f", 100, d)
			require.ErrorIs(t, err, ErrCorrupt, "flip at %d not detected", i)
			var ce *CorruptError
			require.True(t, errors.As(err, &ce))
			require.Equal(t, int64(100), ce.Offset)
		}
	}
}

func TestAppendEncodedRejects(t *testing.T) {
	_, err := AppendEncoded(nil, 1, 0, 0, nil, []byte("v"))
	require.ErrorIs(t, err, ErrInvalid)
	_, err = AppendEncoded(nil, 1, 0, FlagTombstone, []byte("k"), []byte("v"))
	require.ErrorIs(t, err, ErrInvalid)
	_, err = AppendEncoded(nil, 1, 0, 0x80, []byte("k"), nil)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = AppendEncoded(nil, 1<<63, 0, 0, []byte("k"), nil)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = AppendEncoded(nil, 1, 0, 0, make([]byte, MaxKeyLen+1), nil)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestDecodeRejectsHugeLengthsWithoutAllocating(t *testing.T) {
	// Value length far beyond the buffer, with a header sum that holds.
	b := v2Header(0, 1, 0x7fffff00, 1, 0)
	b = append(b, "kv"...)
	v1 := appendV1(nil, 1, 0, 0, []byte("k"), []byte("v"))
	binary.LittleEndian.PutUint32(v1[13:], 0x7fffff00)
	binary.LittleEndian.PutUint32(v1[4:], checksum(v1[8:RecordHeaderSize]))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := DecodeRecord("f", 0, b)
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = DecodeRecordVersion(VersionV1, "f", 0, v1)
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "decoding a bad length allocated")
}

func FuzzDecodeRecord(f *testing.F) {
	for _, v := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("ab"), 64)} {
		b, _ := AppendRecord(nil, 9, 3, false, []byte("key"), v, true, nil)
		f.Add(b)
	}
	b, _ := AppendRecord(nil, 9, 0, true, []byte("key"), nil, true, nil)
	f.Add(b)
	b, _ = AppendEncoded(nil, 9, 0, FlagBatch, []byte("key"), []byte("a batch member"))
	f.Add(b)
	b, _ = AppendBatchHeader(nil, 9, 1, 30)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := DecodeRecord("f", 0, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		// A record that decodes must re-encode to the same bytes (when it
		// was not compressed: snappy output is not canonical).
		if !rec.Compressed {
			h, ok := ParseHeader(Version, data)
			if !ok {
				t.Fatal("a record that decodes has an intact header")
			}
			again, err := AppendEncoded(nil, rec.Seq, rec.Expiry, h.Flags, rec.Key, rec.Value)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("re-encode mismatch: %v", err)
			}
		}
	})
}

// DecodeStored skips the header sum, so the record checksum alone must
// catch damage anywhere, header included; and it must agree with
// DecodeRecord on every field, leaving a compressed value as stored.
func TestDecodeStored(t *testing.T) {
	compressible := bytes.Repeat([]byte("abcd"), 100)
	for _, compress := range []bool{false, true} {
		rec, err := AppendRecord(nil, 1<<40+3, 1<<50+5, false, []byte("some key"), compressible, compress, nil)
		require.NoError(t, err)
		want, err := DecodeRecord("f", 64, rec)
		require.NoError(t, err)
		got, err := DecodeStored("f", 64, rec)
		require.NoError(t, err)
		require.Equal(t, compress, got.Compressed)
		require.Equal(t, want.Seq, got.Seq)
		require.Equal(t, want.Expiry, got.Expiry)
		require.Equal(t, want.Key, got.Key)
		v := got.Value
		if compress {
			require.Less(t, len(v), len(compressible), "the value is left as stored")
			v, err = Decompress("f", 64, v)
			require.NoError(t, err)
		}
		require.Equal(t, compressible, v)

		for i := range rec {
			b := bytes.Clone(rec)
			b[i] ^= 0x10
			_, err := DecodeStored("f", 64, b)
			require.ErrorIs(t, err, ErrCorrupt, "flipped byte %d accepted", i)
		}
		_, err = DecodeStored("f", 64, rec[:len(rec)-1])
		require.ErrorIs(t, err, ErrCorrupt)
		_, err = DecodeStored("f", 64, rec[:RecordHeaderSize-1])
		require.ErrorIs(t, err, ErrCorrupt)
	}
	_, err := Decompress("f", 0, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x0f})
	require.ErrorIs(t, err, ErrCorrupt)
}
