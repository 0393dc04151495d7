package keydir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// An image is the whole index as bytes: every shard's hash table, record
// chunks, large records, file table and side map, as they are in memory.
// Loading one costs a copy per shard instead of an insert per key, which is
// what makes a reopen after a clean close cheap; the caller (the engine)
// frames it with a checksum and with what it must match on disk. The table
// layout depends only on the table size and xxhash, both fixed, so a table
// copied verbatim is valid as it is.
//
// Layout (uvarints unless said otherwise), shard after shard, 256 of them,
// each section preceded by its length as 8 bytes little endian (so that
// the shards load in parallel):
//
//	n (slots) | count (keys) | n*slotSize bytes of slots
//	chunks | per chunk: len, bytes | liveBytes | deadBytes
//	large | per large record: len (0 = a free index), bytes
//	files | per file index: id, refs
//	ext | per side entry: ref, FileID, Offset, Size, Seq, zigzag Expiry
//
// LoadImage checks every structural fact a lookup relies on (refs inside
// their chunk, records inside their chunk, file indexes in use, counts)
// and fails with ErrBadImage rather than install an index that could
// misdirect a read or panic.
//
// A loaded index keeps the image's bytes as its own storage (the tables
// and records are used where they lie instead of copied), so the caller
// hands p over: it must not modify or reuse it.

// ErrBadImage is returned by LoadImage for bytes that are not a valid
// image.
var ErrBadImage = errors.New("keydir: bad index image")

// AppendImage appends k's image to dst. It read-locks one shard at a time:
// the image is consistent only if nothing writes to k meanwhile.
func (k *Keydir) AppendImage(dst []byte) []byte {
	for i := range k.shards {
		s := &k.shards[i]
		at := len(dst)
		dst = append(dst, make([]byte, 8)...)
		s.mu.RLock()
		dst = s.appendImage(dst)
		s.mu.RUnlock()
		le.PutUint64(dst[at:], uint64(len(dst)-at-8))
	}
	return dst
}

func (s *shard) appendImage(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(s.n))
	b = binary.AppendUvarint(b, uint64(s.count))
	b = append(b, s.slots[:s.n*slotSize]...)
	b = binary.AppendUvarint(b, uint64(len(s.chunks)))
	for _, c := range s.chunks {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	b = binary.AppendUvarint(b, uint64(s.liveBytes))
	b = binary.AppendUvarint(b, uint64(s.deadBytes))
	b = binary.AppendUvarint(b, uint64(len(s.large)))
	for _, r := range s.large {
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	b = binary.AppendUvarint(b, uint64(len(s.files.ids)))
	for i, id := range s.files.ids {
		b = binary.AppendUvarint(b, uint64(id))
		b = binary.AppendUvarint(b, uint64(s.files.refs[i]))
	}
	b = binary.AppendUvarint(b, uint64(len(s.ext)))
	for ref, e := range s.ext {
		b = binary.AppendUvarint(b, uint64(ref))
		b = binary.AppendUvarint(b, uint64(e.FileID))
		b = binary.AppendUvarint(b, uint64(e.Offset))
		b = binary.AppendUvarint(b, uint64(e.Size))
		b = binary.AppendUvarint(b, e.Seq)
		b = binary.AppendVarint(b, e.Expiry)
	}
	return b
}

// LoadImage returns the index whose image is p (all of p), keeping p as
// its storage. The shards load on up to GOMAXPROCS goroutines.
func LoadImage(p []byte) (*Keydir, error) {
	var sections [numShards][]byte
	off := 0
	for i := range sections {
		if len(p)-off < 8 {
			return nil, fmt.Errorf("%w: shard %d: length runs past the end", ErrBadImage, i)
		}
		n := le.Uint64(p[off:])
		off += 8
		if n > uint64(len(p)-off) {
			return nil, fmt.Errorf("%w: shard %d: %d bytes at byte %d run past the end", ErrBadImage, i, n, off)
		}
		sections[i] = p[off : off+int(n) : off+int(n)]
		off += int(n)
	}
	if off != len(p) {
		return nil, fmt.Errorf("%w: %d bytes after the last shard", ErrBadImage, len(p)-off)
	}
	k := New()
	var errs [numShards]error
	var next atomic.Int32
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), 8) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= numShards {
					return
				}
				errs[i] = k.shards[i].loadImage(sections[i], uint64(i))
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("%w: shard %d: %w", ErrBadImage, i, err)
		}
	}
	return k, nil
}

// imageDecoder reads an image; the first failure sticks in err and makes
// every later read return zero.
type imageDecoder struct {
	p   []byte
	off int
	err error
}

func (d *imageDecoder) uvarint(what string, max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.p[d.off:])
	if n <= 0 {
		d.err = fmt.Errorf("bad %s at byte %d", what, d.off)
		return 0
	}
	if v > max {
		d.err = fmt.Errorf("%s %d at byte %d exceeds %d", what, v, d.off, max)
		return 0
	}
	d.off += n
	return v
}

func (d *imageDecoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.p[d.off:])
	if n <= 0 {
		d.err = fmt.Errorf("bad %s at byte %d", what, d.off)
		return 0
	}
	d.off += n
	return v
}

// count reads the number of items that follow, each at least one byte
// long: a damaged count cannot make a loop outrun the image.
func (d *imageDecoder) count(what string, max uint64) uint64 {
	return d.uvarint(what, min(max, uint64(len(d.p)-d.off)))
}

// bytes returns the next n bytes, in place: appending to the result
// copies it.
func (d *imageDecoder) bytes(what string, n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.p)-d.off) {
		d.err = fmt.Errorf("%s of %d bytes at byte %d runs past the end", what, n, d.off)
		return nil
	}
	b := d.p[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b
}

// loadImage loads the shard (index idx) from its section p.
func (s *shard) loadImage(p []byte, idx uint64) error {
	d := &imageDecoder{p: p}
	n := d.uvarint("slot count", math.MaxInt32/slotSize)
	count := d.uvarint("key count", n)
	slots := d.bytes("slot table", n*slotSize)
	nChunks := d.count("chunk count", uint64(maxChunks))
	chunks := make([][]byte, 0, nChunks)
	for range nChunks {
		l := d.uvarint("chunk length", chunkSize)
		chunks = append(chunks, d.bytes("chunk", l))
	}
	if c := len(chunks); c > 0 && d.err == nil {
		// The last chunk is the one new records go to: it needs its full
		// capacity (see allocSmall).
		chunks[c-1] = append(make([]byte, 0, chunkSize), chunks[c-1]...)
	}
	live := d.uvarint("live bytes", math.MaxInt64)
	dead := d.uvarint("dead bytes", math.MaxInt64)
	nLarge := d.count("large record count", uint64(maxLarge))
	var large [][]byte
	var largeFree []uint32
	var largeBytes int64
	for i := range nLarge {
		l := d.uvarint("large record length", math.MaxInt32)
		if l == 0 {
			large = append(large, nil)
			largeFree = append(largeFree, uint32(i))
			continue
		}
		large = append(large, d.bytes("large record", l))
		largeBytes += int64(l)
	}
	nFiles := d.count("file table size", maxDictFiles)
	var files fileDict
	for range nFiles {
		files.ids = append(files.ids, uint32(d.uvarint("file id", math.MaxUint32)))
		files.refs = append(files.refs, uint32(d.uvarint("file refs", math.MaxUint32)))
	}
	nExt := d.count("side entry count", count)
	var ext map[uint32]Entry
	if nExt > 0 {
		ext = make(map[uint32]Entry, nExt)
	}
	for range nExt {
		ref := uint32(d.uvarint("side entry ref", math.MaxUint32))
		e := Entry{
			FileID: uint32(d.uvarint("side entry file", math.MaxUint32)),
			Offset: uint32(d.uvarint("side entry offset", math.MaxUint32)),
			Size:   uint32(d.uvarint("side entry size", math.MaxUint32)),
			Seq:    d.uvarint("side entry seq", 1<<63-1),
			Expiry: d.varint("side entry expiry"),
		}
		ext[ref] = e
	}
	if d.err == nil && d.off != len(p) {
		d.err = fmt.Errorf("%d bytes after the shard", len(p)-d.off)
	}
	if d.err != nil {
		return d.err
	}
	if n == 0 && (count != 0 || nChunks != 0 || nLarge != 0 || nFiles != 0) {
		return errors.New("storage without a table")
	}
	if uint64(len(ext)) != nExt {
		return errors.New("side map repeats a ref")
	}
	s.slots, s.n, s.count = slots, int(n), int(count)
	if n > 0 {
		s.growAt = s.n * maxLoadPct / 100
		if s.n > minSlots {
			s.shrinkAt = s.n / 4
		}
	}
	s.arena = arena{chunks: chunks, liveBytes: int(live), deadBytes: int(dead),
		large: large, largeFree: largeFree, largeBytes: largeBytes}
	s.files = files
	s.ext = ext
	return s.checkImage(idx)
}

// checkImage verifies a loaded shard (index idx): every occupied slot names
// a whole record of a key of this shard with the slot's tag, reachable
// from its home slot; every inline entry's file index is in use, and the
// use counts match; every side entry belongs to a record flagged for it.
// It reads each key once, about the cost of hashing it.
func (s *shard) checkImage(idx uint64) error {
	if s.n > 0 && s.count >= s.n {
		return fmt.Errorf("%d keys in %d slots", s.count, s.n)
	}
	refs := make([]uint32, len(s.files.ids))
	seen, inExt, small, large := 0, 0, 0, int64(0)
	for j := 0; j < s.n; j++ {
		p := j * slotSize
		tag := le.Uint16(s.slots[p:])
		if tag == 0 {
			continue
		}
		seen++
		ref := le.Uint32(s.slots[p+2:])
		rec, err := s.imageRec(ref)
		if err != nil {
			return fmt.Errorf("slot %d: %w", j, err)
		}
		if ref&largeBit != 0 {
			large += int64(len(rec))
		} else {
			small += recLen(rec)
		}
		h := xxhash.Sum64(recKey(rec))
		if h>>(64-shardBits) != idx || tagOf(h) != tag {
			return fmt.Errorf("slot %d holds a key of another shard or tag", j)
		}
		for i := home(h, s.n); i != j; {
			if le.Uint16(s.slots[i*slotSize:]) == 0 {
				return fmt.Errorf("slot %d is not reachable from its home slot", j)
			}
			if i++; i == s.n {
				i = 0
			}
		}
		if uint48(rec)&extFlag != 0 {
			if _, ok := s.ext[ref]; !ok {
				return fmt.Errorf("slot %d: record flagged for the side map, which lacks it", j)
			}
			inExt++
			continue
		}
		fi := int(rec[6])
		if fi >= len(refs) {
			return fmt.Errorf("slot %d: file index %d of %d", j, fi, len(refs))
		}
		refs[fi]++
	}
	if seen != s.count {
		return fmt.Errorf("%d occupied slots, count says %d", seen, s.count)
	}
	// Each record is named once: two slots naming one record would hold
	// its key twice, and the byte totals would not add up.
	used := 0
	for _, c := range s.chunks {
		used += len(c)
	}
	if small != s.liveBytes || used != s.liveBytes+s.deadBytes || large != s.largeBytes {
		return fmt.Errorf("records named by the table hold %d small and %d large bytes; the arena says %d live, %d dead of %d, %d large",
			small, large, s.liveBytes, s.deadBytes, used, s.largeBytes)
	}
	if inExt != len(s.ext) {
		return fmt.Errorf("side map has %d entries, %d records use it", len(s.ext), inExt)
	}
	for i, r := range refs {
		if s.files.refs[i] != r {
			return fmt.Errorf("file index %d used by %d records, table says %d", i, r, s.files.refs[i])
		}
	}
	return nil
}

// imageRec returns the record ref names, checking that it lies whole
// inside its chunk (or is a live large record).
func (s *shard) imageRec(ref uint32) ([]byte, error) {
	if ref&largeBit != 0 {
		i := int(ref &^ largeBit)
		if i >= len(s.large) || s.large[i] == nil {
			return nil, fmt.Errorf("ref %#x names no large record", ref)
		}
		r := s.large[i]
		if err := checkRecLen(r, len(r)); err != nil {
			return nil, err
		}
		return r, nil
	}
	c, off := int(ref>>chunkBits), int(ref&chunkMask)
	if c >= len(s.chunks) || off >= len(s.chunks[c]) {
		return nil, fmt.Errorf("ref %#x lies outside the chunks", ref)
	}
	r := s.chunks[c][off:]
	if err := checkRecLen(r, -1); err != nil {
		return nil, err
	}
	return r, nil
}

// checkRecLen checks that rec holds a whole record (exactly want bytes
// when want >= 0).
func checkRecLen(rec []byte, want int) error {
	if len(rec) < hdrSize+1 {
		return errors.New("record shorter than its header")
	}
	n, w := binary.Uvarint(rec[hdrSize:])
	if w <= 0 || n > uint64(len(rec)-hdrSize-w) {
		return errors.New("record key runs past its chunk")
	}
	if want >= 0 && hdrSize+w+int(n) != want {
		return errors.New("large record length disagrees with its key")
	}
	return nil
}
