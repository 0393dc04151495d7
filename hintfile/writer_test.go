package hintfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
	"github.com/stretchr/testify/require"
)

// rawBlocks splits a hint file into its block payloads (no checks).
func rawBlocks(b []byte) [][]byte {
	var out [][]byte
	for off := HeaderSize; off+blockHeaderSize <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		out = append(out, b[off+blockHeaderSize:off+blockHeaderSize+n])
		off += blockHeaderSize + n
	}
	return out
}

func TestWriterRejectsInvalid(t *testing.T) {
	mfs := vfs.NewMem()
	w, err := Create(mfs, "h.hint", 9)
	require.NoError(t, err)
	good := Entry{Key: []byte("key"), Offset: 1000, Size: 100, Seq: 10}
	require.NoError(t, w.Add(good))
	goodTomb := Entry{Key: []byte("gone"), Offset: 2000, Size: 37, Seq: 11, Tombstone: true}
	require.NoError(t, w.Add(goodTomb))

	bad := map[string]Entry{
		"empty key":        {Key: nil, Offset: 5000, Size: 100, Seq: 1},
		"key too long":     {Key: make([]byte, datafile.MaxKeyLen+1), Offset: 5000, Size: math.MaxUint32 - 5000, Seq: 1},
		"seq 1<<63":        {Key: []byte("k"), Offset: 5000, Size: 100, Seq: 1 << 63},
		"seq max":          {Key: []byte("k"), Offset: 5000, Size: 100, Seq: math.MaxUint64},
		"tombstone expiry": {Key: []byte("k"), Offset: 5000, Size: 34, Seq: 1, Tombstone: true, Expiry: 5},
		"size too small":   {Key: []byte("key"), Offset: 5000, Size: datafile.MinRecordHeaderSize + 2, Seq: 1},
		"size zero":        {Key: []byte("key"), Offset: 5000, Size: 0, Seq: 1},
		"offset in header": {Key: []byte("k"), Offset: datafile.FileHeaderSize - 1, Size: 100, Seq: 1},
		"past 4 GiB":       {Key: []byte("k"), Offset: math.MaxUint32 - 50, Size: 100, Seq: 1},
		"put overlaps":     {Key: []byte("k"), Offset: 1099, Size: 34, Seq: 1},
		"put before":       {Key: []byte("k"), Offset: 500, Size: 34, Seq: 1},
		"put same offset":  {Key: []byte("k"), Offset: 1000, Size: 100, Seq: 1},
		"tomb overlaps":    {Key: []byte("k"), Offset: 2036, Size: 34, Seq: 1, Tombstone: true},
		"tomb before":      {Key: []byte("k"), Offset: 1500, Size: 34, Seq: 1, Tombstone: true},
	}
	for name, e := range bad {
		err := w.Add(e)
		require.ErrorIs(t, err, ErrInvalid, name)
		require.ErrorContains(t, err, "h.hint", name)
	}
	// The writer is still usable, and the kinds are ordered independently:
	// a put may sit before the last tombstone and right after the last put.
	adj := Entry{Key: []byte("adjacent"), Offset: 1100, Size: 50, Seq: 3}
	require.NoError(t, w.Add(adj))
	// A record ending exactly at 4 GiB is fine.
	last := Entry{Key: []byte("last"), Offset: math.MaxUint32 - 100, Size: 100, Seq: 1<<63 - 1, Expiry: -1}
	require.NoError(t, w.Add(last))
	require.NoError(t, w.Finish(math.MaxUint32))
	require.NoError(t, w.Close())

	f, err := Open(mfs, "h.hint")
	require.NoError(t, err)
	puts, tombs := readBack(f)
	require.Equal(t, []Entry{good, adj, last}, puts)
	require.Equal(t, []Entry{goodTomb}, tombs)
	require.Equal(t, Footer{Entries: 4, Tombstones: 1, DataSize: math.MaxUint32, MinSeq: 3, MaxSeq: 1<<63 - 1}, f.Footer())
}

func TestWriterCopiesKey(t *testing.T) {
	mfs := vfs.NewMem()
	w, err := Create(mfs, "h.hint", 1)
	require.NoError(t, err)
	key := []byte("original")
	require.NoError(t, w.Add(Entry{Key: key, Offset: 16, Size: 100, Seq: 1}))
	copy(key, "CHANGED!")
	require.NoError(t, w.Finish(116))
	require.NoError(t, w.Close())
	f, err := Open(mfs, "h.hint")
	require.NoError(t, err)
	puts, _ := readBack(f)
	require.Equal(t, "original", string(puts[0].Key))
}

func TestFinishDataSize(t *testing.T) {
	mfs := vfs.NewMem()
	w, err := Create(mfs, "h.hint", 1)
	require.NoError(t, err)
	require.NoError(t, w.Add(Entry{Key: []byte("a"), Offset: 16, Size: 100, Seq: 1}))
	require.NoError(t, w.Add(Entry{Key: []byte("b"), Offset: 200, Size: 50, Seq: 2, Tombstone: true}))
	require.ErrorIs(t, w.Finish(249), ErrInvalid)
	require.ErrorIs(t, w.Finish(-1), ErrInvalid)
	require.ErrorIs(t, w.Finish(0), ErrInvalid)
	require.NoError(t, w.Finish(250))
	require.Error(t, w.Finish(250), "Finish twice")
	require.Error(t, w.Add(Entry{Key: []byte("c"), Offset: 300, Size: 50, Seq: 3}), "Add after Finish")
	require.NoError(t, w.Close())
	require.Error(t, w.Close(), "Close twice")

	f, err := Open(mfs, "h.hint")
	require.NoError(t, err)
	require.Equal(t, Footer{Entries: 2, Tombstones: 1, DataSize: 250, MinSeq: 1, MaxSeq: 2}, f.Footer())
}

func TestCreateExisting(t *testing.T) {
	mfs := vfs.NewMem()
	w, err := Create(mfs, "h.hint", 1)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	_, err = Create(mfs, "h.hint", 1)
	require.ErrorIs(t, err, fs.ErrExist)
	require.ErrorContains(t, err, "h.hint")
}

func TestWriterAbandoned(t *testing.T) {
	mfs := vfs.NewMem()
	w, err := Create(mfs, "h.hint", 1)
	require.NoError(t, err)
	// Two groups only, so that blocks fill up and reach the file.
	es, _ := genGroupedEntries(rand.New(rand.NewPCG(3, 4)), 20000, []int{1, 2}, 1)
	for _, e := range es {
		require.NoError(t, w.Add(e))
	}
	require.NoError(t, w.Close())
	require.Error(t, w.Add(es[0]), "Add after Close")
	require.Error(t, w.Finish(1<<40), "Finish after Close")
	size := len(readRaw(t, mfs, "h.hint"))
	require.Positive(t, size, "20000 entries should have filled the buffer at least once")
	_, err = Open(mfs, "h.hint")
	require.ErrorContains(t, requireCorrupt(t, err), "no footer")
}

// genGroupedEntries is genEntries (without gaps) with skewed keys: with
// probability skew a put's key is drawn from one of groups, otherwise its
// group is random. Tombstone keys are random.
func genGroupedEntries(rng *rand.Rand, n int, groups []int, skew float64) ([]Entry, uint64) {
	es := make([]Entry, 0, n)
	off := uint64(datafile.FileHeaderSize)
	for i := range n {
		key := fmt.Appendf(nil, "%d-", i)
		for range rng.IntN(32) {
			key = append(key, 'a'+byte(rng.IntN(26)))
		}
		tomb := rng.IntN(5) == 0
		if !tomb && rng.Float64() < skew {
			want := groups[rng.IntN(len(groups))]
			key = append(key, 0, 0, 0, 0)
			for c := uint32(0); GroupOf(key) != want; c++ {
				binary.LittleEndian.PutUint32(key[len(key)-4:], c)
			}
		}
		e := Entry{Key: key, Offset: uint32(off), Size: uint32(datafile.RecordHeaderSize + len(key) + rng.IntN(100)), Seq: uint64(i), Tombstone: tomb}
		if !tomb && rng.IntN(3) == 0 {
			e.Expiry = rng.Int64()
		}
		es = append(es, e)
		off += uint64(e.Size)
	}
	return es, off
}

func TestWriterBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	es, end := genGroupedEntries(rng, 20000, []int{3, 200}, 0.95)
	off := uint32(end)
	add := func(key []byte, tomb bool) {
		e := Entry{Key: key, Offset: off, Size: uint32(datafile.RecordHeaderSize + len(key) + 10), Seq: uint64(len(es)), Tombstone: tomb}
		es = append(es, e)
		off += e.Size
	}
	add(bytes.Repeat([]byte{'k'}, 3*BlockSize), false) // a key larger than a block
	for i := range 100 {
		add(keyInGroup(3, fmt.Sprintf("after%d-", i)), false)
	}
	b := buildHint(t, 1, es, int64(off))

	blocks := rawBlocks(b)
	require.Equal(t, byte(kindFooter), blocks[len(blocks)-1][0])
	type kindGroup struct{ kind, group byte }
	lastOf := map[kindGroup]int{}
	for i, p := range blocks[:len(blocks)-1] {
		lastOf[kindGroup{p[0], p[1]}] = i
	}
	counts := map[kindGroup]int{}
	puts := 0
	sawHuge := false
	for i, p := range blocks[:len(blocks)-1] {
		kg := kindGroup{p[0], p[1]}
		counts[kg]++
		require.Contains(t, []byte{kindPut, kindTombstone}, p[0])
		if p[0] == kindTombstone {
			require.Zero(t, p[1], "tombstone block %d has a group", i)
		} else {
			puts++
		}
		if len(p) > 2*BlockSize {
			sawHuge = true
			continue
		}
		// An entry here is at most ~160 bytes, so a block is closed
		// within that of reaching BlockSize.
		require.Less(t, len(p), BlockSize+160, "block %d", i)
		if i != lastOf[kg] {
			require.GreaterOrEqual(t, len(p), BlockSize, "block %d is not the last of its kind and group", i)
		}
	}
	require.True(t, sawHuge)
	require.Greater(t, counts[kindGroup{kindPut, 3}], 3)
	require.Greater(t, counts[kindGroup{kindPut, 200}], 3)
	require.Greater(t, counts[kindGroup{kindTombstone, 0}], 1)
	// Finish writes the open put blocks in group order, then the open
	// tombstone block, then the footer.
	require.Equal(t, byte(kindTombstone), blocks[len(blocks)-2][0])

	f, err := openBytes(t, b)
	require.NoError(t, err)
	require.Equal(t, puts, f.PutBlocks())
	gotPuts, gotTombs := readBack(f)
	wantPuts, wantTombs := split(es)
	require.Equal(t, wantPuts, gotPuts)
	require.Equal(t, wantTombs, gotTombs)
	requireGroups(t, f)
}

// TestWriterMemory checks that a Writer's open put blocks grow with what
// they hold: one entry in every group costs far less than Groups blocks.
func TestWriterMemory(t *testing.T) {
	mfs := vfs.NewMem()
	keys := make([][]byte, Groups)
	for g := range keys {
		keys[g] = keyInGroup(g, "k")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w, err := Create(mfs, "h.hint", 1)
	require.NoError(t, err)
	off := uint32(datafile.FileHeaderSize)
	for g, key := range keys {
		if err := w.Add(Entry{Key: key, Offset: off, Size: 100, Seq: uint64(g)}); err != nil {
			t.Fatal(err)
		}
		off += 100
	}
	runtime.ReadMemStats(&after)
	open, held := 0, 0
	for _, b := range w.puts {
		require.NotNil(t, b)
		require.Equal(t, uint64(1), b.count)
		open++
		held += cap(b.body)
	}
	require.Equal(t, Groups, open)
	require.LessOrEqual(t, held, Groups*builderInitialCap)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d put builders holding %d bytes; %d bytes allocated in all", open, held, allocated)
	require.Less(t, allocated, uint64(Groups*BlockSize/8), "a writer with %d small entries allocated %d bytes", Groups, allocated)

	require.NoError(t, w.Finish(int64(off)))
	require.NoError(t, w.Close())
	f, err := Open(mfs, "h.hint")
	require.NoError(t, err)
	require.Equal(t, Groups, f.PutBlocks())
	for g := range Groups {
		require.Equal(t, []int{g}, f.GroupBlocks(g), "blocks at Finish come in group order")
	}
}

func TestWriterBuffersWrites(t *testing.T) {
	mfs := vfs.NewMem()
	var writes, syncs int
	var writesAtSync int
	mfs.SetOpHook(func(op vfs.MemOp) error {
		switch op.Kind {
		case vfs.OpWrite:
			writes++
		case vfs.OpSync:
			syncs++
			writesAtSync = writes
		}
		return nil
	})
	es, end := genEntries(rand.New(rand.NewPCG(7, 8)), 100000, 32, 0)
	w, err := Create(mfs, "h.hint", 1)
	require.NoError(t, err)
	for _, e := range es {
		require.NoError(t, w.Add(e))
	}
	require.NoError(t, w.Finish(int64(end)))
	require.NoError(t, w.Close())
	size := len(readRaw(t, mfs, "h.hint"))
	require.Greater(t, size, 2*flushSize)
	require.LessOrEqual(t, writes, size/flushSize+1)
	require.Equal(t, 1, syncs)
	require.Equal(t, writes, writesAtSync, "the sync comes after the last write")

	// What Finish wrote is durable (once the directory entry is).
	require.NoError(t, mfs.SyncDir("/"))
	f, err := Open(mfs.CrashClone(nil), "h.hint")
	require.NoError(t, err)
	require.Equal(t, uint64(len(es)), f.Footer().Entries)
}

var errInjected = errors.New("injected failure")

func TestWriterWriteErrorSticky(t *testing.T) {
	mfs := vfs.NewMem()
	mfs.SetOpHook(func(op vfs.MemOp) error {
		if op.Kind == vfs.OpWrite {
			return errInjected
		}
		return nil
	})
	w, err := Create(mfs, "h.hint", 1)
	require.NoError(t, err)
	es, end := genEntries(rand.New(rand.NewPCG(9, 10)), 50000, 32, 0)
	var addErr error
	n := 0
	for _, e := range es {
		if addErr = w.Add(e); addErr != nil {
			break
		}
		n++
	}
	require.ErrorIs(t, addErr, errInjected)
	require.ErrorContains(t, addErr, "h.hint")
	require.Less(t, n, len(es))
	require.ErrorIs(t, w.Add(es[len(es)-1]), errInjected)
	require.ErrorIs(t, w.Finish(int64(end)), errInjected)
	require.NoError(t, w.Close())
	_, err = Open(mfs, "h.hint")
	requireCorrupt(t, err)
}

func TestWriterSyncError(t *testing.T) {
	mfs := vfs.NewMem()
	mfs.SetOpHook(func(op vfs.MemOp) error {
		if op.Kind == vfs.OpSync {
			return errInjected
		}
		return nil
	})
	w, err := Create(mfs, "h.hint", 1)
	require.NoError(t, err)
	require.NoError(t, w.Add(Entry{Key: []byte("a"), Offset: 16, Size: 40, Seq: 1}))
	err = w.Finish(56)
	require.ErrorIs(t, err, errInjected)
	require.True(t, strings.Contains(err.Error(), "sync"), err.Error())
	require.ErrorIs(t, w.Finish(56), errInjected)
	require.NoError(t, w.Close())
}
