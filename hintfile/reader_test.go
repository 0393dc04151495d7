package hintfile

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// requireRoundTrip writes es and checks that Open gives them all back.
func requireRoundTrip(t require.TestingT, id uint32, es []Entry, dataSize int64) *File {
	if h, ok := t.(interface{ Helper() }); ok { // *rapid.T has no Helper
		h.Helper()
	}
	mfs := vfs.NewMem()
	require.NoError(t, mfs.MkdirAll("last_state", 0o755))
	writeHint(t, mfs, "last_state/h.hint", id, es, dataSize)
	f, err := Open(mfs, "last_state/h.hint")
	require.NoError(t, err)
	require.Equal(t, id, f.ID())

	want := Footer{Entries: uint64(len(es)), DataSize: dataSize}
	for i, e := range es {
		if e.Tombstone {
			want.Tombstones++
		}
		if i == 0 {
			want.MinSeq, want.MaxSeq = e.Seq, e.Seq
		}
		want.MinSeq, want.MaxSeq = min(want.MinSeq, e.Seq), max(want.MaxSeq, e.Seq)
	}
	require.Equal(t, want, f.Footer())

	puts, tombs := readBack(f)
	wantPuts, wantTombs := split(es)
	require.Equal(t, wantPuts, puts)
	require.Equal(t, wantTombs, tombs)
	requireGroups(t, f)
	return f
}

// requireGroups checks the grouping of f's put blocks: every entry of a put
// block belongs to the block's group, GroupBlocks lists every put block
// exactly once under its group, in file order, and the blocks of a group
// are in increasing, non-overlapping offset order.
func requireGroups(t require.TestingT, f *File) {
	if h, ok := t.(interface{ Helper() }); ok { // *rapid.T has no Helper
		h.Helper()
	}
	type span struct{ first, end uint64 }
	blockGroup := make([]int, f.PutBlocks())
	spans := make([]span, f.PutBlocks())
	for k := range f.PutBlocks() {
		blockGroup[k] = -1
		n := 0
		f.EachPut(k, func(e Entry) {
			g := GroupOf(e.Key)
			if n == 0 {
				blockGroup[k] = g
				spans[k].first = uint64(e.Offset)
			}
			require.Equal(t, blockGroup[k], g, "put block %d mixes groups", k)
			spans[k].end = uint64(e.Offset) + uint64(e.Size)
			n++
		})
		require.Positive(t, n, "put block %d is empty", k)
		require.Equal(t, int(f.puts[k][1]), blockGroup[k], "put block %d: group byte", k)
	}
	seen := make([]bool, f.PutBlocks())
	for g := range Groups {
		bs := f.GroupBlocks(g)
		if len(bs) == 0 {
			require.Nil(t, bs, "group %d", g)
		}
		for i, k := range bs {
			require.False(t, seen[k], "put block %d listed twice", k)
			seen[k] = true
			require.Equal(t, g, blockGroup[k], "block %d listed under group %d", k, g)
			if i > 0 {
				prev := bs[i-1]
				require.Less(t, prev, k, "group %d: blocks not in file order", g)
				require.GreaterOrEqual(t, spans[k].first, spans[prev].end, "group %d: block %d overlaps block %d", g, k, prev)
			}
		}
	}
	for k, ok := range seen {
		require.True(t, ok, "put block %d not listed by GroupBlocks", k)
	}
}

func TestRoundTripMultiBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	es, end := genEntries(rng, 5000, 4<<10, 1<<20)
	f := requireRoundTrip(t, 42, es, int64(end)+rng.Int64N(1000))
	require.Greater(t, f.PutBlocks(), 10)
	require.Greater(t, len(f.tombs), 2)

	// Huge gaps: records near the 4 GiB limit.
	es = []Entry{
		{Key: []byte("first"), Offset: 16, Size: 38, Seq: 0},
		{Key: []byte("far"), Offset: 1 << 31, Size: 1 << 30, Seq: 1<<63 - 1, Expiry: math.MinInt64},
		{Key: []byte("dead"), Offset: 1<<31 + 1<<30 + 5, Size: 40, Seq: 77, Tombstone: true},
		{Key: []byte("edge"), Offset: math.MaxUint32 - 100, Size: 100, Seq: 3, Expiry: math.MaxInt64},
	}
	requireRoundTrip(t, math.MaxUint32, es, math.MaxUint32+1000)
}

func TestRoundTripEmpty(t *testing.T) {
	f := requireRoundTrip(t, 1, nil, 16)
	require.Zero(t, f.PutBlocks())
	called := false
	f.EachTombstone(func(Entry) { called = true })
	require.False(t, called)
	b := buildHint(t, 1, nil, 16)
	require.Len(t, b, HeaderSize+blockHeaderSize+footerSize)

	// Only tombstones, and only puts.
	es, end := genEntries(rand.New(rand.NewPCG(1, 1)), 100, 16, 10)
	puts, tombs := split(es)
	require.Zero(t, requireRoundTrip(t, 2, tombs, int64(end)).PutBlocks())
	requireRoundTrip(t, 3, puts, int64(end))
}

func TestRoundTripRapid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(0, 300).Draw(rt, "n")
		bigKeys := rapid.Bool().Draw(rt, "bigKeys")
		es := make([]Entry, 0, n)
		off := uint64(datafile.FileHeaderSize) + rapid.Uint64Range(0, 1<<20).Draw(rt, "start")
		for range n {
			key := rapid.SliceOfN(rapid.Byte(), 1, 24).Draw(rt, "key")
			if bigKeys { // long keys make multi-block files
				pad := rapid.IntRange(0, 4000).Draw(rt, "pad")
				key = append(key, bytes.Repeat([]byte{byte(pad)}, pad)...)
			}
			size := uint64(datafile.RecordHeaderSize+len(key)) + rapid.Uint64Range(0, 1<<16).Draw(rt, "value")
			gap := rapid.OneOf(rapid.Just(uint64(0)), rapid.Uint64Range(0, 1<<22)).Draw(rt, "gap")
			if off+gap+size > math.MaxUint32 {
				break
			}
			off += gap
			e := Entry{
				Key:       key,
				Offset:    uint32(off),
				Size:      uint32(size),
				Seq:       rapid.OneOf(rapid.Uint64Range(0, 1000), rapid.Uint64Range(0, 1<<63-1)).Draw(rt, "seq"),
				Tombstone: rapid.Bool().Draw(rt, "tombstone"),
			}
			if !e.Tombstone {
				e.Expiry = rapid.OneOf(rapid.Just(int64(0)), rapid.Int64()).Draw(rt, "expiry")
			}
			es = append(es, e)
			off += size
		}
		dataSize := int64(off) + rapid.Int64Range(0, 1<<40).Draw(rt, "slack")
		requireRoundTrip(rt, rapid.Uint32().Draw(rt, "id"), es, dataSize)
	})
}

func TestKeysAliasAndAreCapped(t *testing.T) {
	es, end := genEntries(rand.New(rand.NewPCG(2, 3)), 50, 20, 0)
	f, err := openBytes(t, buildHint(t, 1, es, int64(end)))
	require.NoError(t, err)
	for k := range f.PutBlocks() {
		f.EachPut(k, func(e Entry) {
			require.Equal(t, len(e.Key), cap(e.Key), "appending to a key must not overwrite the file's memory")
		})
	}
	f.EachTombstone(func(e Entry) {
		require.Equal(t, len(e.Key), cap(e.Key))
	})
	for g := range Groups {
		if bs := f.GroupBlocks(g); bs != nil {
			require.Equal(t, len(bs), cap(bs), "appending to GroupBlocks must not overwrite the next group's")
		}
	}
	require.Panics(t, func() { f.EachPut(f.PutBlocks(), func(Entry) {}) })
	require.Panics(t, func() { f.EachPut(-1, func(Entry) {}) })
	f.Close()
	require.Zero(t, f.PutBlocks())
	for g := range Groups {
		require.Nil(t, f.GroupBlocks(g))
	}
}

// TestGroups checks how the writer groups puts: on a file where a few
// groups have many blocks and most have one, and on one with every entry in
// a single group.
func TestGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	es, end := genGroupedEntries(rng, 30000, []int{0, 7, 255}, 0.9)
	f := requireRoundTrip(t, 5, es, int64(end))
	require.Greater(t, len(f.GroupBlocks(0)), 3)
	require.Greater(t, len(f.GroupBlocks(7)), 3)
	require.Greater(t, len(f.GroupBlocks(255)), 3)
	used := 0
	for g := range Groups {
		if f.GroupBlocks(g) != nil {
			used++
		}
	}
	require.Greater(t, used, 200, "the other groups hold a few entries each")

	// The blocks of the groups interleave in the file: a block is written
	// when it fills up, and at Finish the partly filled block of every
	// group, in group order, after all the full ones.
	var partial []int // groups of the partly filled blocks, in file order
	for k, p := range f.puts {
		if len(p) < BlockSize {
			partial = append(partial, int(p[1]))
		} else {
			require.Empty(t, partial, "full put block %d after a partial one", k)
		}
	}
	require.True(t, slices.IsSorted(partial), "the partial blocks are written in group order")
	require.Len(t, slices.Compact(slices.Clone(partial)), len(partial), "one partial block per group")
	require.Greater(t, len(partial), 200)
	interleaved := false
	for k := 1; k < f.PutBlocks()-len(partial); k++ {
		interleaved = interleaved || f.puts[k][1] != f.puts[k-1][1]
	}
	require.True(t, interleaved, "full blocks of different groups interleave")

	es, end = genGroupedEntries(rng, 5000, []int{42}, 1)
	f = requireRoundTrip(t, 6, es, int64(end))
	for g := range Groups {
		if g != 42 {
			require.Nil(t, f.GroupBlocks(g))
		}
	}
	require.Len(t, f.GroupBlocks(42), f.PutBlocks())
}

func TestEachPutConcurrent(t *testing.T) {
	es, end := genEntries(rand.New(rand.NewPCG(4, 5)), 20000, 64, 100)
	f, err := openBytes(t, buildHint(t, 1, es, int64(end)))
	require.NoError(t, err)
	wantPuts, _ := split(es)
	require.Greater(t, f.PutBlocks(), 4)

	perBlock := make([][]Entry, f.PutBlocks())
	var wg sync.WaitGroup
	for i := range f.PutBlocks() {
		wg.Go(func() { f.EachPut(i, func(e Entry) { perBlock[i] = append(perBlock[i], e) }) })
		wg.Go(func() { f.EachPut(i, func(Entry) {}) }) // same block, concurrently
	}
	wg.Wait()
	var got []Entry
	for _, b := range perBlock {
		got = append(got, b...)
	}
	sortByOffset(got)
	require.Equal(t, wantPuts, got)

	// Two loaders, each filling the groups g with g%2 == its number.
	perGroup := make([][]Entry, Groups)
	for w := range 2 {
		wg.Go(func() {
			for g := w; g < Groups; g += 2 {
				for _, k := range f.GroupBlocks(g) {
					f.EachPut(k, func(e Entry) { perGroup[g] = append(perGroup[g], e) })
				}
			}
		})
	}
	wg.Wait()
	got = got[:0]
	for g, es := range perGroup {
		require.True(t, slices.IsSortedFunc(es, func(a, b Entry) int { return cmp.Compare(a.Offset, b.Offset) }), "group %d", g)
		for _, e := range es {
			require.Equal(t, g, GroupOf(e.Key))
		}
		got = append(got, es...)
	}
	sortByOffset(got)
	require.Equal(t, wantPuts, got)
}

func TestOpenErrors(t *testing.T) {
	mfs := vfs.NewMem()
	_, err := Open(mfs, "missing.hint")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorContains(t, err, "missing.hint")

	require.NoError(t, mfs.MkdirAll("dir.hint", 0o755))
	_, err = Open(mfs, "dir.hint")
	require.Error(t, err)
	require.ErrorContains(t, err, "dir.hint")
}

// shortFS opens files whose ReadAt returns at most limit bytes, with err.
type shortFS struct {
	vfs.FS
	limit int
	err   error
}

type shortFile struct {
	vfs.File
	fs *shortFS
}

func (s *shortFS) Open(name string) (vfs.File, error) {
	f, err := s.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return shortFile{f, s}, nil
}

func (f shortFile) ReadAt(p []byte, off int64) (int, error) {
	n, _ := f.File.ReadAt(p[:min(len(p), f.fs.limit)], off)
	return n, f.fs.err
}

func TestOpenReadErrors(t *testing.T) {
	mfs := vfs.NewMem()
	b := writeHint(t, mfs, "h.hint", 1, nil, 16)
	_, err := Open(&shortFS{FS: mfs, limit: len(b) - 1}, "h.hint")
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorContains(t, err, "h.hint")
	_, err = Open(&shortFS{FS: mfs, limit: 3, err: syscall.EIO}, "h.hint")
	require.ErrorIs(t, err, syscall.EIO)
	require.ErrorContains(t, err, "h.hint")
	// A full read that also reports EOF is fine.
	f, err := Open(&shortFS{FS: mfs, limit: len(b), err: io.EOF}, "h.hint")
	require.NoError(t, err)
	require.Equal(t, uint32(1), f.ID())
}

// smallFile is a valid hint file of a few hundred bytes with puts,
// tombstones and expiries.
func smallFile(t testing.TB) []byte {
	es := []Entry{
		{Key: []byte("alpha"), Offset: 16, Size: 60, Seq: 1},
		{Key: []byte("beta"), Offset: 76, Size: 37, Seq: 2, Tombstone: true},
		{Key: []byte("gamma"), Offset: 200, Size: 1000, Seq: 3, Expiry: 1_700_000_000_000_000_000},
		{Key: []byte("delta"), Offset: 1200, Size: 38, Seq: 4, Tombstone: true},
		{Key: []byte("epsilon"), Offset: 1 << 20, Size: 50, Seq: 9, Expiry: -5},
		{Key: []byte("zeta"), Offset: 1<<20 + 50, Size: 40, Seq: 5},
		{Key: bytes.Repeat([]byte("long key "), 12), Offset: 1<<20 + 90, Size: 200, Seq: 6},
		{Key: []byte("theta"), Offset: 1<<20 + 290, Size: 38, Seq: 7, Tombstone: true},
	}
	return buildHint(t, 12, es, 1<<20+400)
}

func TestEveryBitFlipDetected(t *testing.T) {
	b := smallFile(t)
	require.Greater(t, len(b), 200)
	_, err := openBytes(t, b)
	require.NoError(t, err)
	for i := range b {
		for bit := range 8 {
			bad := bytes.Clone(b)
			bad[i] ^= 1 << bit
			_, err := openBytes(t, bad)
			require.Error(t, err, "flip of bit %d of byte %d", bit, i)
			require.True(t, isCorruptOrVersion(err), "flip of bit %d of byte %d: %v", bit, i, err)
		}
	}
}

func isCorruptOrVersion(err error) bool {
	var ce *datafile.CorruptError
	return errors.As(err, &ce) || errors.Is(err, ErrVersion)
}

func TestEveryTruncationDetected(t *testing.T) {
	for _, b := range [][]byte{smallFile(t), buildHint(t, 1, nil, 16)} {
		for n := range len(b) {
			_, err := openBytes(t, b[:n])
			ce := requireCorrupt(t, err, "truncated to %d of %d bytes", n, len(b))
			require.LessOrEqual(t, ce.Offset, int64(n))
		}
	}
}

func TestAppendedGarbageDetected(t *testing.T) {
	b := smallFile(t)
	rng := rand.New(rand.NewPCG(6, 7))
	for n := 1; n < 64; n++ {
		garbage := make([]byte, n)
		for i := range garbage {
			garbage[i] = byte(rng.Uint32())
		}
		_, err := openBytes(t, append(bytes.Clone(b), garbage...))
		requireCorrupt(t, err, "%d bytes of garbage", n)
		_, err = openBytes(t, append(bytes.Clone(b), make([]byte, n)...))
		requireCorrupt(t, err, "%d zero bytes", n)
	}
	// A well-formed block, or a second copy of the footer, after the footer.
	blocks := rawBlocks(b)
	_, err := openBytes(t, append(bytes.Clone(b), rawBlock(blocks[0])...))
	requireCorrupt(t, err)
	_, err = openBytes(t, append(bytes.Clone(b), rawBlock(blocks[len(blocks)-1])...))
	requireCorrupt(t, err)
}

// benchHint holds a hint file of benchEntries puts with 16-byte keys.
var benchHint struct {
	once sync.Once
	fs   *vfs.MemFS
	size int
}

const benchEntries = 1 << 20

func benchFS(b *testing.B) *vfs.MemFS {
	benchHint.once.Do(func() {
		mfs := vfs.NewMem()
		w, err := Create(mfs, "bench.hint", 1)
		require.NoError(b, err)
		off := uint32(datafile.FileHeaderSize)
		for i := range benchEntries {
			e := Entry{Key: fmt.Appendf(nil, "key-%012d", i), Offset: off, Size: datafile.RecordHeaderSize + 16 + 100, Seq: uint64(i + 1)}
			if i%10 == 0 {
				e.Expiry = time.Now().UnixNano()
			}
			require.NoError(b, w.Add(e))
			off += e.Size
		}
		require.NoError(b, w.Finish(int64(off)))
		require.NoError(b, w.Close())
		benchHint.fs = mfs
		benchHint.size = len(readRaw(b, mfs, "bench.hint"))
	})
	return benchHint.fs
}

// BenchmarkOpen reads and verifies a hint file of 1M entries.
func BenchmarkOpen(b *testing.B) {
	mfs := benchFS(b)
	b.SetBytes(int64(benchHint.size))
	b.ReportAllocs()
	for b.Loop() {
		f, err := Open(mfs, "bench.hint")
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchEntries, "ns/entry")
}

// BenchmarkEachPut decodes every put block of a 1M-entry hint file, on one
// goroutine and on GOMAXPROCS goroutines (a block each at a time).
func BenchmarkEachPut(b *testing.B) {
	f, err := Open(benchFS(b), "bench.hint")
	require.NoError(b, err)
	defer f.Close()
	var sink uint64
	b.Run("goroutines=1", func(b *testing.B) {
		for b.Loop() {
			for i := range f.PutBlocks() {
				f.EachPut(i, func(e Entry) { sink += uint64(e.Offset) + uint64(len(e.Key)) })
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchEntries, "ns/entry")
	})
	b.Run(fmt.Sprintf("goroutines=%d", runtime.GOMAXPROCS(0)), func(b *testing.B) {
		for b.Loop() {
			var next sync.Mutex
			blk := 0
			var wg sync.WaitGroup
			for range runtime.GOMAXPROCS(0) {
				wg.Go(func() {
					var local uint64
					for {
						next.Lock()
						i := blk
						blk++
						next.Unlock()
						if i >= f.PutBlocks() {
							break
						}
						f.EachPut(i, func(e Entry) { local += uint64(e.Offset) + uint64(len(e.Key)) })
					}
					_ = local
				})
			}
			wg.Wait()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchEntries, "ns/entry")
	})
	_ = sink
}

// BenchmarkGroupedLoad opens a 1M-entry hint file and decodes its puts the
// way a grouped loader does: 2 goroutines, the one numbered w taking the
// groups g with g%2 == w, each group's blocks in GroupBlocks order (so that
// a loader would fill one keydir shard at a time). ns/entry covers Open
// and the iteration.
func BenchmarkGroupedLoad(b *testing.B) {
	mfs := benchFS(b)
	const loaders = 2
	var sinks [loaders]uint64
	for b.Loop() {
		f, err := Open(mfs, "bench.hint")
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range loaders {
			wg.Go(func() {
				var local uint64
				for g := w; g < Groups; g += loaders {
					for _, k := range f.GroupBlocks(g) {
						f.EachPut(k, func(e Entry) { local += uint64(e.Offset) + uint64(len(e.Key)) })
					}
				}
				sinks[w] += local
			})
		}
		wg.Wait()
		f.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchEntries, "ns/entry")
	_ = sinks
}

// writeOSHint writes a hint with es to a new file in a temp dir and
// returns its path.
func writeOSHint(t *testing.T, es []Entry, dataSize int64) (string, []byte) {
	t.Helper()
	b := buildHint(t, 7, es, dataSize)
	path := t.TempDir() + "/7.hint"
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path, b
}

// TestOpenMapped: on the real file system OpenMapped maps the file and
// gives the same entries as a copy; damage is caught the same way; on a
// file system without mappings it reads; Close unmaps.
func TestOpenMapped(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	es, end := genEntries(rng, 5000, 4<<10, 1<<20)
	path, good := writeOSHint(t, es, int64(end))

	f, err := OpenMapped(vfs.Default, path)
	require.NoError(t, err)
	require.True(t, f.Mapped(), "a mappable file was read, not mapped")
	heap, err := openBytes(t, good)
	require.NoError(t, err)
	require.False(t, heap.Mapped())
	var gotPuts, gotTombs []Entry
	require.NoError(t, f.Guard(func() { gotPuts, gotTombs = readBack(f) }))
	wantPuts, wantTombs := readBack(heap)
	require.Equal(t, wantPuts, gotPuts)
	require.Equal(t, wantTombs, gotTombs)
	require.Equal(t, heap.Footer(), f.Footer())
	f.Close()
	require.False(t, f.Mapped())

	for _, at := range []int{HeaderSize + 9, len(good) / 2, len(good) - 3} {
		bad := bytes.Clone(good)
		bad[at] ^= 0x10
		require.NoError(t, os.WriteFile(path, bad, 0o644))
		_, merr := OpenMapped(vfs.Default, path)
		_, herr := openBytes(t, bad)
		requireCorrupt(t, merr, "mapped, flip at %d", at)
		require.Equal(t, herr.Error(), strings.ReplaceAll(merr.Error(), path, "x.hint"), "flip at %d", at)
	}

	mfs := vfs.NewMem()
	writeHint(t, mfs, "/m.hint", 7, es, int64(end))
	mf, err := OpenMapped(mfs, "/m.hint")
	require.NoError(t, err)
	require.False(t, mf.Mapped(), "MemFS files cannot be mapped")
	p, tb := readBack(mf)
	require.Equal(t, wantPuts, p)
	require.Equal(t, wantTombs, tb)
}

// TestMappedFaultIsAnError: a mapped page that cannot be read (here: the
// file was cut after it was mapped, which faults like a failed disk read)
// makes Guard, and the checks of OpenMapped, return ErrFault instead of
// killing the process; other panics go through Guard untouched.
func TestMappedFaultIsAnError(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	es, end := genEntries(rng, 20000, 64, 1<<10)
	path, _ := writeOSHint(t, es, int64(end))

	f, err := OpenMapped(vfs.Default, path)
	require.NoError(t, err)
	require.True(t, f.Mapped())
	defer f.Close()
	require.NoError(t, os.Truncate(path, 0))
	n := 0
	err = f.Guard(func() {
		for b := range f.PutBlocks() {
			f.EachPut(b, func(e Entry) { n += len(e.Key) })
		}
	})
	require.ErrorIs(t, err, ErrFault)
	require.Contains(t, err.Error(), path)

	// The same during OpenMapped's own checks.
	path2, _ := writeOSHint(t, es, int64(end))
	h, err := vfs.Default.Open(path2)
	require.NoError(t, err)
	st, err := h.Stat()
	require.NoError(t, err)
	m, err := h.(vfs.Mapper).Map(int(st.Size()))
	require.NoError(t, err)
	require.NoError(t, h.Close())
	require.NoError(t, os.Truncate(path2, 0))
	_, err = parseMapped(path2, m)
	require.ErrorIs(t, err, ErrFault)
	require.NoError(t, m.Unmap())

	// A panic that is not a fault in the mapping is not swallowed.
	f2, err := OpenMapped(vfs.Default, path2+".none")
	require.Error(t, err)
	require.Nil(t, f2)
	path3, _ := writeOSHint(t, es, int64(end))
	f3, err := OpenMapped(vfs.Default, path3)
	require.NoError(t, err)
	defer f3.Close()
	require.PanicsWithValue(t, "boom", func() { _ = f3.Guard(func() { panic("boom") }) })
}
