package datafile

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// buildFile returns a data file with n records and the offsets where each
// record starts (plus the end).
func buildFile(t *testing.T, id uint32, n int) ([]byte, []int64) {
	t.Helper()
	b := EncodeFileHeader(id)
	offs := []int64{int64(len(b))}
	var err error
	for i := range n {
		b, err = AppendRecord(b, uint64(i+1), 0, i%5 == 4, fmt.Appendf(nil, "key-%d", i), bytes.Repeat([]byte{byte(i)}, i*7), true, nil)
		require.NoError(t, err)
		offs = append(offs, int64(len(b)))
	}
	return b, offs
}

type scanResult struct {
	keys    []string
	err     error
	torn    bool
	padding bool
	end     int64
}

func scanAll(b []byte) scanResult {
	s := NewScanner(bytes.NewReader(b), "f.data", int64(len(b)))
	var r scanResult
	for s.Next() {
		r.keys = append(r.keys, string(s.Key()))
		if _, err := s.Record(); err != nil {
			panic(err)
		}
	}
	r.err, r.torn, r.padding, r.end = s.Err(), s.Torn(), s.Padding(), s.End()
	return r
}

func TestScannerClean(t *testing.T) {
	b, offs := buildFile(t, 3, 20)
	r := scanAll(b)
	require.NoError(t, r.err)
	require.False(t, r.torn)
	require.Len(t, r.keys, 20)
	require.Equal(t, offs[len(offs)-1], r.end)
}

func TestScannerTornAtEveryOffset(t *testing.T) {
	b, offs := buildFile(t, 3, 12)
	for cut := int64(0); cut < int64(len(b)); cut++ {
		r := scanAll(b[:cut])
		require.NoError(t, r.err, "cut %d", cut)
		complete := 0
		for complete+1 < len(offs) && offs[complete+1] <= cut {
			complete++
		}
		require.Len(t, r.keys, complete, "cut %d", cut)
		if cut < FileHeaderSize {
			require.True(t, r.torn)
			require.Equal(t, int64(0), r.end)
			continue
		}
		require.Equal(t, offs[complete], r.end, "cut %d", cut)
		require.Equal(t, cut != offs[complete], r.torn, "cut %d", cut)
	}
}

func TestScannerZeroTailIsTorn(t *testing.T) {
	b, offs := buildFile(t, 3, 6)
	// A partial last record followed by zeros, as a crashed FS can leave.
	cut := offs[5] + 10
	padded := append(bytes.Clone(b[:cut]), make([]byte, 4096)...)
	r := scanAll(padded)
	require.NoError(t, r.err)
	require.True(t, r.torn)
	require.False(t, r.padding, "part of a record precedes the zeros")
	require.Equal(t, offs[5], r.end)
	require.Len(t, r.keys, 5)
	// Only zeros after the last complete record: torn, and padding when
	// they end at a multiple of PadAlign.
	r = scanAll(append(bytes.Clone(b), make([]byte, 100)...))
	require.NoError(t, r.err)
	require.True(t, r.torn)
	require.Equal(t, len(b)+100 == PadAlign, r.padding, "%d bytes", len(b)+100)
	require.Equal(t, offs[6], r.end)
	aligned := append(bytes.Clone(b), make([]byte, 2*PadAlign-len(b)%PadAlign)...)
	r = scanAll(aligned)
	require.NoError(t, r.err)
	require.True(t, r.torn)
	require.True(t, r.padding)
	require.Equal(t, offs[6], r.end)
	// A plain cut inside a record is torn, not padding.
	r = scanAll(b[:offs[6]-3])
	require.True(t, r.torn)
	require.False(t, r.padding)
}

func TestScannerCorruptInTheMiddle(t *testing.T) {
	b, offs := buildFile(t, 3, 8)
	for rec := 0; rec < 7; rec++ { // not the last record
		for _, at := range []int64{0, 4, 8, 10, 14, 20, 30, 33} {
			d := bytes.Clone(b)
			pos := offs[rec] + at
			if pos >= offs[rec+1] {
				continue
			}
			d[pos] ^= 0x08
			r := scanAll(d)
			require.ErrorIs(t, r.err, ErrCorrupt, "record %d byte %d", rec, at)
			var ce *CorruptError
			require.True(t, errors.As(r.err, &ce))
			require.Equal(t, offs[rec], ce.Offset)
			require.Equal(t, "f.data", ce.Path)
			require.Len(t, r.keys, rec)
		}
	}
}

func TestScannerDamagedHeader(t *testing.T) {
	b, _ := buildFile(t, 3, 3)
	d := bytes.Clone(b)
	d[1] ^= 0xff
	r := scanAll(d)
	require.ErrorIs(t, r.err, ErrCorrupt)
	// A header of zeros with nothing else is a torn file creation.
	r = scanAll(make([]byte, FileHeaderSize))
	require.NoError(t, r.err)
	require.True(t, r.torn)
	require.Equal(t, int64(0), r.end)
}

func FuzzScanner(f *testing.F) {
	b, _ := buildFile(&testing.T{}, 1, 5)
	f.Add(b)
	f.Add(b[:40])
	f.Add(EncodeFileHeader(2))
	bb, start, _ := batchFile(&testing.T{}, 10)
	f.Add(bb)
	f.Add(bb[:start+30])
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewScanner(bytes.NewReader(data), "f", int64(len(data)))
		n := int64(0)
		for s.Next() {
			if _, err := s.Record(); err != nil {
				t.Fatalf("intact record fails to decode: %v", err)
			}
			n++
		}
		if s.End() > int64(len(data)) || s.End() < 0 {
			t.Fatalf("end %d outside file of %d", s.End(), len(data))
		}
		if s.Err() != nil && s.Torn() {
			t.Fatal("both torn and failed")
		}
		if err := s.Err(); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			t.Fatalf("unexpected error class: %v", err)
		}
	})
}

func TestScannerZeroedSectorIsTorn(t *testing.T) {
	// Records big enough to span sectors; a crash that lost the write-back
	// of one page while a later page of the unsynced tail reached the disk
	// leaves zeros in the middle and data after them.
	b := EncodeFileHeader(1)
	var offs []int64
	var err error
	for i := range 10 {
		offs = append(offs, int64(len(b)))
		b, err = AppendRecord(b, uint64(i+1), 0, false, fmt.Appendf(nil, "k%d", i), bytes.Repeat([]byte{byte(i + 1)}, 3000), false, nil)
		require.NoError(t, err)
	}
	offs = append(offs, int64(len(b)))
	t.Run("hole from a sector boundary", func(t *testing.T) {
		d := bytes.Clone(b)
		hole := int64(4096) // inside record 1 (records are ~3040 bytes)
		for i := hole; i < hole+4096; i++ {
			d[i] = 0
		}
		r := scanAll(d)
		require.NoError(t, r.err)
		require.True(t, r.torn)
		rec := 0
		for offs[rec+1] <= hole {
			rec++
		}
		require.Equal(t, offs[rec], r.end, "truncated at the record holding the hole")
	})
	t.Run("zeroed record at a record boundary", func(t *testing.T) {
		d := bytes.Clone(b)
		for i := offs[4]; i < offs[5]; i++ {
			d[i] = 0
		}
		r := scanAll(d)
		require.NoError(t, r.err)
		require.True(t, r.torn)
		require.Equal(t, offs[4], r.end)
	})
	t.Run("a short zero run is corruption", func(t *testing.T) {
		d := bytes.Clone(b)
		for i := offs[4] + 40; i < offs[4]+48; i++ {
			d[i] = 0
		}
		r := scanAll(d)
		require.ErrorIs(t, r.err, ErrCorrupt)
	})
}
