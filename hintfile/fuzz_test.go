package hintfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
	"github.com/stretchr/testify/require"
)

// multiBlockFile is a valid hint file with several put blocks that stays
// fairly small: a few big keys.
func multiBlockFile(t testing.TB) []byte {
	var es []Entry
	off := uint32(datafile.FileHeaderSize)
	for i := range 8 {
		kl := 10
		if i%3 == 0 {
			kl = BlockSize / 2
		}
		e := Entry{Key: bytes.Repeat([]byte{'a' + byte(i)}, kl), Offset: off, Size: uint32(datafile.RecordHeaderSize + kl + i), Seq: uint64(100 - i), Tombstone: i%4 == 3}
		if !e.Tombstone && i%2 == 0 {
			e.Expiry = int64(i) << 40
		}
		es = append(es, e)
		off += e.Size + uint32(i)*1000
	}
	return buildHint(t, 77, es, int64(off))
}

// FuzzOpen feeds Open arbitrary bytes: it must never panic, must reject
// damage with ErrCorrupt (or ErrVersion), and whatever it accepts must keep
// every invariant of the format and survive being written again.
func FuzzOpen(f *testing.F) {
	f.Add(smallFile(f))
	f.Add(buildHint(f, 1, nil, 16))
	f.Add(multiBlockFile(f))
	es, end := genEntries(rand.New(rand.NewPCG(8, 9)), 30, 20, 500)
	_, tombs := split(es)
	f.Add(buildHint(f, 5, tombs, int64(end)))

	f.Fuzz(func(t *testing.T, data []byte) {
		checkOpen(t, data)
		// Random bytes almost never pass the checksums; with them fixed
		// up the fuzzer reaches the block and entry checks too.
		if fixed := fixChecksums(data); !bytes.Equal(fixed, data) {
			checkOpen(t, fixed)
		}
	})
}

// fixChecksums returns a copy of data with the header checksum and the
// checksum of every block whose length fits recomputed.
func fixChecksums(data []byte) []byte {
	b := bytes.Clone(data)
	if len(b) < HeaderSize {
		return b
	}
	binary.LittleEndian.PutUint32(b[12:], checksum(b[:12]))
	d := xxhash.New()
	for off := HeaderSize; len(b)-off >= blockHeaderSize; {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if n > len(b)-off-blockHeaderSize {
			break
		}
		binary.LittleEndian.PutUint32(b[off+4:], blockChecksum(d, b[off:off+4], b[off+8:off+8+n]))
		off += blockHeaderSize + n
	}
	return b
}

// checkOpen opens data as a hint file and checks that it is either
// rejected with a proper error or holds only entries that keep every
// promise of the format.
func checkOpen(t *testing.T, data []byte) {
	mfs := vfs.NewMem()
	file, err := mfs.Create("f.hint")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	hf, err := Open(mfs, "f.hint")
	if err != nil {
		var ce *datafile.CorruptError
		switch {
		case errors.As(err, &ce):
			if ce.Path != "f.hint" || ce.Offset < 0 || ce.Offset > int64(len(data)) {
				t.Fatalf("corrupt error with bad location: %v", err)
			}
		case errors.Is(err, ErrVersion):
		default:
			t.Fatalf("error is neither corruption nor version: %v", err)
		}
		return
	}
	defer hf.Close()
	ft := hf.Footer()
	var n, tombs uint64
	minSeq, maxSeq := uint64(math.MaxUint64), uint64(0)
	check := func(e Entry, tomb bool, prevEnd *uint64) {
		n++
		kl := uint64(len(e.Key))
		end := uint64(e.Offset) + uint64(e.Size)
		switch {
		case e.Tombstone != tomb:
			t.Fatalf("entry %+v from the wrong iterator", e)
		case kl == 0 || kl > datafile.MaxKeyLen || cap(e.Key) != len(e.Key):
			t.Fatalf("bad key: len %d cap %d", len(e.Key), cap(e.Key))
		case uint64(e.Size) < datafile.MinRecordHeaderSize+kl:
			t.Fatalf("size %d too small for key of %d", e.Size, kl)
		case e.Offset < datafile.FileHeaderSize:
			t.Fatalf("offset %d inside the data file header", e.Offset)
		case end > math.MaxUint32 || end > uint64(ft.DataSize):
			t.Fatalf("record %d+%d past data size %d", e.Offset, e.Size, ft.DataSize)
		case e.Seq >= 1<<63 || e.Seq < ft.MinSeq || e.Seq > ft.MaxSeq:
			t.Fatalf("seq %d outside %d..%d", e.Seq, ft.MinSeq, ft.MaxSeq)
		case tomb && e.Expiry != 0:
			t.Fatalf("tombstone with expiry %d", e.Expiry)
		case uint64(e.Offset) < *prevEnd:
			t.Fatalf("offset %d before the end %d of the previous entry", e.Offset, *prevEnd)
		}
		*prevEnd = end
		minSeq, maxSeq = min(minSeq, e.Seq), max(maxSeq, e.Seq)
	}
	// Each group's blocks, in GroupBlocks order, hold that group's puts in
	// increasing, non-overlapping offset order; every put block is listed
	// once.
	var puts, tombList []Entry
	listed := make([]bool, hf.PutBlocks())
	for g := range Groups {
		var groupEnd uint64
		for _, k := range hf.GroupBlocks(g) {
			if k < 0 || k >= len(listed) || listed[k] {
				t.Fatalf("GroupBlocks(%d) lists block %d (of %d) badly", g, k, len(listed))
			}
			listed[k] = true
			hf.EachPut(k, func(e Entry) {
				if GroupOf(e.Key) != g {
					t.Fatalf("put of group %d in a block of group %d", GroupOf(e.Key), g)
				}
				check(e, false, &groupEnd)
				puts = append(puts, e)
			})
		}
	}
	for k, ok := range listed {
		if !ok {
			t.Fatalf("put block %d not in any group", k)
		}
	}
	var tombEnd uint64
	hf.EachTombstone(func(e Entry) { check(e, true, &tombEnd); tombs++; tombList = append(tombList, e) })
	if n != ft.Entries || tombs != ft.Tombstones {
		t.Fatalf("footer says %d entries, %d tombstones; iterated %d, %d", ft.Entries, ft.Tombstones, n, tombs)
	}
	if n > 0 && (minSeq != ft.MinSeq || maxSeq != ft.MaxSeq) {
		t.Fatalf("footer seq range %d..%d, entries %d..%d", ft.MinSeq, ft.MaxSeq, minSeq, maxSeq)
	}
	if n == 0 && (ft.MinSeq != 0 || ft.MaxSeq != 0) {
		t.Fatalf("empty file with seq range %d..%d", ft.MinSeq, ft.MaxSeq)
	}

	// What was accepted can be written again and reads back the same,
	// unless puts of different groups overlap: Open checks the order of
	// the puts only within each group (checking it across groups would
	// take a sort), but the Writer takes puts in global offset order only.
	sortByOffset(puts)
	overlap := -1
	for i := 1; i < len(puts) && overlap < 0; i++ {
		if uint64(puts[i].Offset) < uint64(puts[i-1].Offset)+uint64(puts[i-1].Size) {
			overlap = i
		}
	}
	w, err := Create(mfs, "again.hint", hf.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, e := range tombList {
		if err := w.Add(e); err != nil {
			t.Fatalf("re-adding an accepted tombstone: %v", err)
		}
	}
	for i, e := range puts {
		err := w.Add(e)
		if i == overlap {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("re-adding a put that overlaps another group's: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("re-adding an accepted put: %v", err)
		}
	}
	if err := w.Finish(ft.DataSize); err != nil {
		t.Fatal(err)
	}
	again, err := Open(mfs, "again.hint")
	if err != nil {
		t.Fatalf("rewritten file rejected: %v", err)
	}
	defer again.Close()
	if again.Footer() != ft || again.ID() != hf.ID() {
		t.Fatalf("rewritten footer %+v, want %+v", again.Footer(), ft)
	}
	gotPuts, gotTombs := readBack(again)
	same := func(what string, got, want []Entry) {
		if len(got) != len(want) {
			t.Fatalf("rewritten file has %d %s, want %d", len(got), what, len(want))
		}
		for i, e := range got {
			if !bytes.Equal(e.Key, want[i].Key) || e.Offset != want[i].Offset || e.Size != want[i].Size ||
				e.Seq != want[i].Seq || e.Expiry != want[i].Expiry || e.Tombstone != want[i].Tombstone {
				t.Fatalf("rewritten %s %d differs", what, i)
			}
		}
	}
	same("puts", gotPuts, puts)
	same("tombstones", gotTombs, tombList)
}

// TestCrossGroupOverlap pins down what Open does not check: puts of
// different groups may overlap (only each group's are ordered), and the
// Writer, which takes puts in global offset order, refuses to write such a
// file again, as checkOpen expects.
func TestCrossGroupOverlap(t *testing.T) {
	gk := GroupOf([]byte("k"))
	other := string(keyInGroup((gk+1)%Groups, "o"))
	b := rawFile(1,
		rawPuts(1, 16, rawEntry{key: "k", size: 100, seq: 5}),
		rawPuts(1, 50, rawEntry{key: other, size: 100, seq: 5}), // inside the record of "k"
		rawFooter(2, 0, 1000, 5, 5),
	)
	f, err := openBytes(t, b)
	require.NoError(t, err)
	require.Equal(t, 2, f.PutBlocks())
	checkOpen(t, b)
}
