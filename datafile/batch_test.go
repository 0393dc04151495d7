package datafile

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// appendBatch appends a batch of n members (seq first, first+1, ...) with
// values of valLen bytes; member i is a delete if i%4 == 3.
func appendBatch(t *testing.T, b []byte, first uint64, n, valLen int) []byte {
	t.Helper()
	var body []byte
	var err error
	for i := range n {
		flags, val := byte(FlagBatch), bytes.Repeat([]byte{byte(i + 1)}, valLen)
		if i%4 == 3 {
			flags, val = FlagBatch|FlagTombstone, nil
		}
		body, err = AppendEncoded(body, first+uint64(i), 0, flags, fmt.Appendf(nil, "b%d-%d", first, i), val)
		require.NoError(t, err)
	}
	b, err = AppendBatchHeader(b, first, n, int64(len(body)))
	require.NoError(t, err)
	return append(b, body...)
}

// batchFile is a data file of a record (seq 1), a batch of 5 members
// (seqs 2-6) and a record (seq 7), with the offsets where the batch starts
// and ends.
func batchFile(t *testing.T, valLen int) (b []byte, start, end int64) {
	t.Helper()
	b = EncodeFileHeader(1)
	b, err := AppendRecord(b, 1, 0, false, []byte("before"), []byte("v"), false, nil)
	require.NoError(t, err)
	start = int64(len(b))
	b = appendBatch(t, b, 2, 5, valLen)
	end = int64(len(b))
	b, err = AppendRecord(b, 7, 0, false, []byte("after"), []byte("v"), false, nil)
	require.NoError(t, err)
	return b, start, end
}

func TestScannerBatchWhole(t *testing.T) {
	b, _, _ := batchFile(t, 10)
	r := scanAll(b)
	require.NoError(t, r.err)
	require.False(t, r.torn)
	require.Equal(t, []string{"before", "b2-0", "b2-1", "b2-2", "b2-3", "b2-4", "after"}, r.keys)
	require.Equal(t, int64(len(b)), r.end)

	s := NewScanner(bytes.NewReader(b), "f.data", int64(len(b)))
	var seqs []uint64
	for s.Next() {
		seqs = append(seqs, s.Header().Seq)
	}
	require.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7}, seqs)
}

// A batch cut anywhere is dropped whole: the scan ends torn at its header,
// having yielded none of its members.
func TestScannerBatchTornAtEveryOffset(t *testing.T) {
	b, start, end := batchFile(t, 10)
	for cut := start + 1; cut < end; cut++ {
		r := scanAll(b[:cut])
		require.NoError(t, r.err, "cut %d", cut)
		require.True(t, r.torn, "cut %d", cut)
		require.Equal(t, start, r.end, "cut %d", cut)
		require.Equal(t, []string{"before"}, r.keys, "cut %d", cut)
	}
	r := scanAll(b[:end])
	require.NoError(t, r.err)
	require.False(t, r.torn)
	require.Len(t, r.keys, 6)
}

// Damage inside a batch with intact data after it is corruption, reported
// at the batch's header; the same damage followed by zeros only is a torn
// append, and a lost page inside a batch is torn too.
func TestScannerBatchDamage(t *testing.T) {
	b, start, end := batchFile(t, 10)
	for off := start; off < end; off++ {
		d := bytes.Clone(b)
		d[off] ^= 0x40
		r := scanAll(d)
		require.ErrorIs(t, r.err, ErrCorrupt, "flip at %d", off)
		var ce *CorruptError
		require.True(t, errors.As(r.err, &ce))
		require.Equal(t, start, ce.Offset, "flip at %d", off)
		require.Equal(t, []string{"before"}, r.keys, "flip at %d", off)
	}
	// The same damage in the last member, with only zeros after it.
	d := append(bytes.Clone(b[:end]), make([]byte, 100)...)
	d[end-1] ^= 0x40
	r := scanAll(d)
	require.NoError(t, r.err)
	require.True(t, r.torn)
	require.Equal(t, start, r.end)

	// A batch over several pages, one of them lost (zeroed) by a crash.
	b, start, end = batchFile(t, 3000)
	page := (start/sectorSize + 1) * sectorSize
	require.Less(t, page+sectorSize, end)
	d = bytes.Clone(b)
	clear(d[page : page+sectorSize])
	r = scanAll(d)
	require.NoError(t, r.err)
	require.True(t, r.torn)
	require.Equal(t, start, r.end)
}

// Batch framing whose checksums hold but that is wrong is corruption.
func TestScannerBatchFraming(t *testing.T) {
	member := func(b []byte, seq uint64, key string) []byte {
		b, err := AppendEncoded(b, seq, 0, FlagBatch, []byte(key), []byte("a value of some bytes"))
		require.NoError(t, err)
		return b
	}
	plain := func(b []byte, seq uint64, key string) []byte {
		b, err := AppendEncoded(b, seq, 0, 0, []byte(key), []byte("v"))
		require.NoError(t, err)
		return b
	}
	header := func(b []byte, first uint64, n int, body []byte) []byte {
		b, err := AppendBatchHeader(b, first, n, int64(len(body)))
		require.NoError(t, err)
		return append(b, body...)
	}
	cases := map[string][]byte{
		"member without header": member(nil, 1, "a"),
		"plain record in batch": header(nil, 1, 2, plain(member(nil, 1, "a"), 2, "b")),
		"seq gap":               header(nil, 1, 2, member(member(nil, 1, "a"), 3, "b")),
		"nested header":         header(nil, 1, 2, header(member(nil, 1, "a"), 2, 1, member(nil, 2, "b"))),
	}
	// Fewer members than the header's count, in the bytes it gives.
	two := member(member(nil, 1, "a"), 2, "b")
	short, err := AppendBatchHeader(nil, 1, 3, int64(len(two)))
	require.NoError(t, err)
	cases["count above members"] = append(short, two...)
	for name, recs := range cases {
		t.Run(name, func(t *testing.T) {
			b := append(EncodeFileHeader(1), recs...)
			b = plain(b, 9, "after")
			r := scanAll(b)
			require.ErrorIs(t, r.err, ErrCorrupt)
			require.Empty(t, r.keys)
		})
	}
}

func TestBatchHeaderIsNotARecord(t *testing.T) {
	h, err := AppendBatchHeader(nil, 5, 1, 20)
	require.NoError(t, err)
	_, err = DecodeRecord("f", 16, h)
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = DecodeStored("f", 16, h)
	require.ErrorIs(t, err, ErrCorrupt)

	for _, bad := range []struct {
		first uint64
		n     int
		body  int64
	}{{1, 0, 0}, {1, 2, 5}, {1 << 63, 1, 100}} {
		_, err := AppendBatchHeader(nil, bad.first, bad.n, bad.body)
		require.ErrorIs(t, err, ErrInvalid, "%+v", bad)
	}
}

func TestCheckBatchAt(t *testing.T) {
	b, start, end := batchFile(t, 10)
	isBatch, ends, e, reason := CheckBatchAt(Version, b, start)
	require.True(t, isBatch)
	require.Empty(t, reason)
	require.Equal(t, end, e)
	require.Len(t, ends, 6) // the header's end, then each member's
	require.Equal(t, end, ends[5])

	isBatch, _, _, _ = CheckBatchAt(Version, b, FileHeaderSize)
	require.False(t, isBatch, "a plain record")

	d := bytes.Clone(b)
	d[end-1] ^= 1
	isBatch, ends, _, reason = CheckBatchAt(Version, d, start)
	require.True(t, isBatch)
	require.Nil(t, ends)
	require.Contains(t, reason, "batch record 4")
}
