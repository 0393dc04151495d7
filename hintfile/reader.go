package hintfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/simplekv/simplekv/internal/vfs"
)

// File is a verified hint file held in memory. Its methods may be called
// concurrently, except Close.
type File struct {
	id      uint32
	path    string
	data    []byte
	mapping vfs.Mapping // non-nil: data is this read-only mapping (OpenMapped)
	footer  Footer
	lim     limits
	version uint16   // the format version of the entries
	puts    [][]byte // payloads of the put blocks, in file order
	tombs   [][]byte // payloads of the tombstone blocks, in file order

	// groupBlocks lists the indexes in puts of the blocks of group 0, then
	// those of group 1, and so on, each group's in file order; the blocks
	// of group g are groupBlocks[groupStart[g]:groupStart[g+1]].
	groupBlocks []int
	groupStart  [Groups + 1]int
}

// Open reads the whole hint file path into memory and verifies it: the
// header, every block's checksum, the footer, and every entry (see
// FORMAT.md). After a nil error the iteration methods cannot fail. Damage
// is reported as a *datafile.CorruptError naming path and the offset
// (errors.Is(err, ErrCorrupt) holds), an unknown format version with an
// error wrapping ErrVersion, and I/O errors are wrapped with the path.
func Open(fs vfs.FS, path string) (*File, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hintfile: open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("hintfile: stat %s: %w", path, err)
	}
	size := st.Size()
	if size < 0 || uint64(size) > math.MaxInt {
		return nil, fmt.Errorf("hintfile: %s: impossible file size %d", path, size)
	}
	data := make([]byte, size)
	if n, err := f.ReadAt(data, 0); n < len(data) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("hintfile: read %s: %w", path, err)
	}
	return parse(path, data, false)
}

// OpenMapped is Open for a file that is read once, right away, in full:
// where the file can be memory-mapped (vfs.Mapper), its bytes are mapped
// read-only instead of copied. For a 1M-key hint (about 24 MB) that saves
// allocating, zeroing and copying it, and the garbage collections the
// allocation sets off: about a third of a reopen from hints in kvbench.
//
// A page of a mapping that cannot be read from the disk raises a memory
// fault instead of returning an error. OpenMapped catches the faults of
// its own checks (the file is then reported with an error wrapping
// ErrFault, as a failed read would be), and every later read of the
// file's entries (EachPut, EachTombstone, and the keys they pass) must
// run inside Guard, which turns a fault into an error. Hint files are
// never written after they are published, and the directory lock keeps
// other simplekv processes out, so the bytes stay as verified until Close
// unmaps them.
func OpenMapped(fs vfs.FS, path string) (*File, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hintfile: open %s: %w", path, err)
	}
	mp, ok := f.(vfs.Mapper)
	st, serr := f.Stat()
	if !ok || serr != nil || st.Size() <= 0 || uint64(st.Size()) > math.MaxInt {
		f.Close()
		return Open(fs, path)
	}
	m, err := mp.Map(int(st.Size()))
	f.Close() // the mapping outlives the descriptor
	if err != nil {
		// An address-space limit, say: not damage. Read it instead.
		return Open(fs, path)
	}
	hf, err := parseMapped(path, m)
	if err != nil {
		_ = m.Unmap()
		return nil, err
	}
	return hf, nil
}

// parseMapped verifies the mapped file m with its memory faults caught.
func parseMapped(path string, m vfs.Mapping) (hf *File, err error) {
	if ferr := catchFault(path, m.Bytes(), func() { hf, err = parse(path, m.Bytes(), true) }); ferr != nil {
		return nil, ferr
	}
	if err != nil {
		return nil, err
	}
	hf.mapping = m
	return hf, nil
}

// Mapped reports whether f's bytes are a memory mapping (OpenMapped).
func (f *File) Mapped() bool { return f.mapping != nil }

// Guard runs fn, which may read f's entries (EachPut, EachTombstone and
// the keys they pass), and returns an error wrapping ErrFault if reading
// f's mapping faulted meanwhile (fn is then cut short). For a file that
// is not mapped it only runs fn. It must be called on the goroutine that
// reads the entries (fault handling is per goroutine).
func (f *File) Guard(fn func()) error {
	if f.mapping == nil {
		fn()
		return nil
	}
	return catchFault(f.path, f.data, fn)
}

// catchFault runs fn with memory faults turned into panics, and returns a
// fault at an address inside data as an error wrapping ErrFault. Any other
// panic goes on.
func catchFault(path string, data []byte, fn func()) (err error) {
	prev := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(prev)
		r := recover()
		if r == nil {
			return
		}
		if fe, ok := r.(interface{ Addr() uintptr }); ok && len(data) > 0 {
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
			if a := fe.Addr(); a >= lo && a < lo+uintptr(len(data)) {
				err = fmt.Errorf("hintfile: read %s: %w", path, ErrFault)
				return
			}
		}
		panic(r)
	}()
	fn()
	return nil
}

// parse verifies the hint file data (read from path) and returns the File
// that holds it. Checksums and entries are checked on several goroutines
// for a large file. Which error is reported does not depend on that: the
// framing of all blocks is checked first, then checksums, kinds and the
// footer block by block in file order, then the entries block by block.
// Version is the file's format version (Version or VersionV1).
func (f *File) Version() uint16 { return f.version }

func parse(path string, data []byte, mapped bool) (*File, error) {
	id, version, err := decodeHeader(path, data)
	if err != nil {
		return nil, err
	}
	hf := &File{id: id, path: path, data: data, version: version}
	// The checks run on several goroutines; for a mapping each catches its
	// own faults (fault handling is per goroutine).
	var faultMu sync.Mutex
	var fault error
	guarded := func(fn func()) {
		if !mapped {
			fn()
			return
		}
		if err := catchFault(path, data, fn); err != nil {
			faultMu.Lock()
			fault = err
			faultMu.Unlock()
		}
	}

	// Pass 1: block framing.
	type block struct {
		off int64
		p   []byte
	}
	var blocks []block
	for off := HeaderSize; off < len(data); {
		left := len(data) - off
		if left < blockHeaderSize {
			return nil, corruptf(path, int64(off), "%d bytes after the last block, too few for a block header", left)
		}
		n := binary.LittleEndian.Uint32(data[off:])
		if n == 0 {
			return nil, corruptf(path, int64(off), "empty block")
		}
		if uint64(n) > uint64(left-blockHeaderSize) {
			return nil, corruptf(path, int64(off), "block of %d bytes runs past the end of the file (%d bytes left)", n, left-blockHeaderSize)
		}
		end := off + blockHeaderSize + int(n)
		blocks = append(blocks, block{int64(off), data[off+blockHeaderSize : end : end]})
		off = end
	}

	// Pass 2: checksums, kinds and the footer.
	sums := make([]uint32, len(blocks))
	forBlocks(len(blocks), guarded, func(d *xxhash.Digest, k int) {
		off := blocks[k].off
		sums[k] = blockChecksum(d, data[off:off+4], blocks[k].p)
	})
	if fault != nil {
		return nil, fault
	}
	haveFooter := false
	var footerOff int64
	entryBlocks := blocks[:0] // filled in place, never ahead of k
	for k, b := range blocks {
		if got, want := binary.LittleEndian.Uint32(data[b.off+4:]), sums[k]; got != want {
			return nil, corruptf(path, b.off, "block checksum %#x, want %#x", got, want)
		}
		switch b.p[0] {
		case kindPut, kindTombstone:
			entryBlocks = append(entryBlocks, b)
		case kindFooter:
			if k != len(blocks)-1 {
				return nil, corruptf(path, b.off, "footer followed by %d more bytes", int64(len(data))-b.off-blockHeaderSize-int64(len(b.p)))
			}
			ft, reason := decodeFooter(b.p)
			if reason != "" {
				return nil, corruptf(path, b.off, "%s", reason)
			}
			hf.footer, footerOff = ft, b.off
			haveFooter = true
		default:
			return nil, corruptf(path, b.off, "unknown block kind %d", b.p[0])
		}
	}
	if !haveFooter {
		return nil, corruptf(path, int64(len(data)), "no footer (file cut short or never finished)")
	}

	// Pass 3: every entry, against the footer.
	ft := hf.footer
	hf.lim = limits{dataSize: uint64(ft.DataSize), minSeq: ft.MinSeq, maxSeq: ft.MaxSeq, v1: hf.version == VersionV1}
	results := make([]blockResult, len(entryBlocks))
	forBlocks(len(entryBlocks), guarded, func(_ *xxhash.Digest, k int) {
		r := &results[k]
		r.info, r.pos, r.reason = decodeBlock(entryBlocks[k].p, hf.lim, true, nil)
	})
	if fault != nil {
		return nil, fault
	}
	var entries, tombstones uint64
	minSeq, maxSeq := uint64(math.MaxUint64), uint64(0)
	// The end of the previous block of each (kind, group): the put groups,
	// then the tombstones (whose group is always 0).
	var prevEnd [Groups + 1]uint64
	var groupCount [Groups]int
	for k, b := range entryBlocks {
		info := results[k].info
		at := b.off + blockHeaderSize + int64(results[k].pos)
		if reason := results[k].reason; reason != "" {
			return nil, corruptf(path, at, "%s", reason)
		}
		slot := Groups // tombstones
		if b.p[0] == kindPut {
			slot = int(info.group)
		}
		if info.first < prevEnd[slot] {
			if slot == Groups {
				return nil, corruptf(path, at, "first entry at %d overlaps the previous tombstone block (ending at %d)", info.first, prevEnd[slot])
			}
			return nil, corruptf(path, at, "first entry at %d overlaps the previous put block of group %d (ending at %d)", info.first, slot, prevEnd[slot])
		}
		prevEnd[slot] = info.end
		// Counts are bounded by the file size, so the sums cannot wrap.
		entries += info.count
		if slot == Groups {
			tombstones += info.count
			hf.tombs = append(hf.tombs, b.p)
		} else {
			hf.puts = append(hf.puts, b.p)
			groupCount[slot]++
		}
		minSeq = min(minSeq, info.minSeq)
		maxSeq = max(maxSeq, info.maxSeq)
	}
	switch {
	case entries != ft.Entries || tombstones != ft.Tombstones:
		return nil, corruptf(path, footerOff, "footer counts %d entries and %d tombstones, blocks hold %d and %d", ft.Entries, ft.Tombstones, entries, tombstones)
	case entries > 0 && (minSeq != ft.MinSeq || maxSeq != ft.MaxSeq):
		return nil, corruptf(path, footerOff, "footer sequence range %d..%d, entries span %d..%d", ft.MinSeq, ft.MaxSeq, minSeq, maxSeq)
	}

	// Index the put blocks by group (a counting sort, stable: each group's
	// blocks stay in file order).
	if len(hf.puts) > 0 {
		for g := range Groups {
			hf.groupStart[g+1] = hf.groupStart[g] + groupCount[g]
		}
		next := groupCount // reused as each group's fill position
		for g := range Groups {
			next[g] = hf.groupStart[g]
		}
		hf.groupBlocks = make([]int, len(hf.puts))
		for k, p := range hf.puts {
			g := p[1]
			hf.groupBlocks[next[g]] = k
			next[g]++
		}
	}
	return hf, nil
}

// blockResult is the outcome of decodeBlock for one block.
type blockResult struct {
	info   blockInfo
	pos    int
	reason string
}

// parallelBlocks is the number of blocks from which Open checks them on
// several goroutines.
const parallelBlocks = 16

// forBlocks calls fn(d, k) for every k in [0, n), on up to GOMAXPROCS
// goroutines when n is large. d is a digest owned by the calling goroutine.
// Each goroutine's work runs inside guard.
func forBlocks(n int, guard func(func()), fn func(d *xxhash.Digest, k int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < parallelBlocks || workers == 1 {
		guard(func() {
			d := xxhash.New()
			for k := range n {
				fn(d, k)
			}
		})
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			guard(func() {
				d := xxhash.New()
				for {
					k := int(next.Add(1) - 1)
					if k >= n {
						return
					}
					fn(d, k)
				}
			})
		})
	}
	wg.Wait()
}

// ID is the id of the data file the hint describes.
func (f *File) ID() uint32 { return f.id }

// Footer returns the file's footer.
func (f *File) Footer() Footer { return f.footer }

// PutBlocks is the number of put blocks. EachPut takes a block index (0 to
// PutBlocks()-1, in file order), so the blocks can be decoded in parallel.
func (f *File) PutBlocks() int { return len(f.puts) }

// EachPut calls fn for every entry of put block block (0 <= block <
// PutBlocks()), in increasing offset order within the block. All entries
// of a block belong to one group (see GroupBlocks and GroupOf).
//
// Blocks are numbered in file order, and put blocks of different groups
// interleave in the file, so calling EachPut for blocks 0, 1, 2, ... does
// NOT visit the puts in global offset order: it visits each group's
// entries in increasing offset order, and so the entries of any one key in
// increasing offset order, but the groups' entries are mixed. To load one
// keydir shard at a time, iterate GroupBlocks(g) instead.
//
// It may be called concurrently, for the same or different blocks. It
// panics if block is out of range.
func (f *File) EachPut(block int, fn func(e Entry)) {
	if block < 0 || block >= len(f.puts) {
		panic(fmt.Sprintf("hintfile: EachPut of block %d, file has %d", block, len(f.puts)))
	}
	f.each(f.puts[block], fn)
}

// GroupBlocks returns the indexes (as taken by EachPut) of the put blocks of
// group g (0 <= g < Groups), in file order, which is also increasing offset
// order: every entry of one lies before every entry of the next. Together
// they hold exactly the puts whose key has GroupOf(key) == g, that is the
// puts that go to keydir shard g. The slice is computed once by Open and
// shared: it must not be modified. It is nil for a group without blocks.
// It panics if g is out of range.
func (f *File) GroupBlocks(g int) []int {
	if g < 0 || g >= Groups {
		panic(fmt.Sprintf("hintfile: GroupBlocks of group %d, want 0 <= group < %d", g, Groups))
	}
	lo, hi := f.groupStart[g], f.groupStart[g+1]
	if lo == hi {
		return nil
	}
	return f.groupBlocks[lo:hi:hi]
}

// EachTombstone calls fn for every tombstone entry, in increasing offset
// order.
func (f *File) EachTombstone(fn func(e Entry)) {
	for _, p := range f.tombs {
		f.each(p, fn)
	}
}

func (f *File) each(p []byte, fn func(e Entry)) {
	if _, _, reason := decodeBlock(p, f.lim, false, fn); reason != "" {
		// Open verified every block; this means the memory was modified.
		panic("hintfile: verified block fails to decode: " + reason)
	}
}

// Close releases the memory. Keys passed by the iteration methods must not
// be used afterwards, and no other method may be called.
func (f *File) Close() {
	if f.mapping != nil {
		// Munmap of a range we mapped fails only on a bad address or
		// length, which would be a bug here.
		_ = f.mapping.Unmap()
		f.mapping = nil
	}
	f.data, f.puts, f.tombs = nil, nil, nil
	f.groupBlocks, f.groupStart = nil, [Groups + 1]int{}
}
