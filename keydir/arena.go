package keydir

import (
	"encoding/binary"
	"fmt"
)

// Record layout (little endian, no padding):
//
//	[0:6)   uint48: bit 47 set = the entry is in shard.ext (the other
//	        header bytes are then unused); else bits 0..46 the sequence number
//	[6]     index of the FileID in the shard's file table (fileDict)
//	[7:11)  Offset
//	[11:13) Size
//	[13:)   uvarint len(key), then the key bytes
//
// Entries that do not fit (an expiry, a sequence number >= 1<<47, a size
// >= 1<<16, or a 257th distinct file in the shard) live whole in the ext
// side map. They are rare, and the fixed header stays 13 bytes instead of
// the 28 an Entry takes.
const (
	hdrSize = 13
	extFlag = uint64(1) << 47
	// maxInlineSeq and maxInlineSize bound what the header holds.
	maxInlineSeq  = extFlag - 1
	maxInlineSize = 1<<16 - 1

	chunkBits = 12
	chunkSize = 1 << chunkBits // bytes per small-record chunk
	chunkMask = chunkSize - 1
	// maxSmallRecord is the largest record packed into chunks; bigger
	// records get an allocation of their own.
	maxSmallRecord = 512
	// largeBit marks a ref that indexes arena.large instead of a chunk.
	largeBit = uint32(1) << 31
	// maxChunks is the number of chunk indexes a small ref can express
	// (19 bits): 2 GiB of small records per shard, 512 GiB per Keydir.
	maxChunks = int(largeBit >> chunkBits)
	// maxLarge is the number of large-record indexes a ref can express.
	maxLarge = int(largeBit)
)

// arena stores the records of one shard. A ref (uint32) names a record:
// chunk<<chunkBits | offset for small records, largeBit | index for large
// ones. It is not safe for concurrent use; the shard's lock guards it.
type arena struct {
	chunks    [][]byte // each cap chunkSize; len = bytes used
	liveBytes int      // bytes of live small records
	deadBytes int      // bytes of deleted small records still in chunks

	large      [][]byte // records > maxSmallRecord; nil = free index
	largeFree  []uint32 // free indexes in large
	largeBytes int64    // sum of len(large[i])
}

// recordLen is the size of the record holding a key of length n.
func recordLen(n int) int {
	return hdrSize + uvarintLen(uint64(n)) + n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// rec returns the record named by ref. For a small record the slice runs
// to the end of its chunk; use recKey / recLen to find its end.
func (a *arena) rec(ref uint32) []byte {
	if ref&largeBit != 0 {
		return a.large[ref&^largeBit]
	}
	return a.chunks[ref>>chunkBits][ref&chunkMask:]
}

// recKey returns the key stored in rec.
func recKey(rec []byte) []byte {
	p := rec[hdrSize:]
	n, w := uint64(p[0]), 1
	if n >= 0x80 {
		n, w = binary.Uvarint(p)
	}
	return p[w : w+int(n)]
}

// recLen returns the total length of the record rec.
func recLen(rec []byte) int {
	k := recKey(rec)
	return hdrSize + uvarintLen(uint64(len(k))) + len(k)
}

// alloc stores a new record for key with a zero header and returns its ref
// and bytes (exactly the record's length).
func (a *arena) alloc(key []byte) (uint32, []byte) {
	n := recordLen(len(key))
	var ref uint32
	var r []byte
	if n <= maxSmallRecord {
		ref, r = a.allocSmall(n)
	} else {
		ref, r = a.allocLarge(n)
	}
	w := binary.PutUvarint(r[hdrSize:], uint64(len(key)))
	copy(r[hdrSize+w:], key)
	return ref, r
}

func (a *arena) allocSmall(n int) (uint32, []byte) {
	c := len(a.chunks)
	if c == 0 || len(a.chunks[c-1])+n > chunkSize {
		if c >= maxChunks {
			panic(fmt.Sprintf("keydir: shard holds more than %d GiB of small keys; key space exhausted", maxChunks*chunkSize>>30))
		}
		a.chunks = append(a.chunks, make([]byte, 0, chunkSize))
		c++
	}
	ch := a.chunks[c-1]
	off := len(ch)
	ch = ch[:off+n]
	a.chunks[c-1] = ch
	a.liveBytes += n
	return uint32(c-1)<<chunkBits | uint32(off), ch[off : off+n : off+n]
}

func (a *arena) allocLarge(n int) (uint32, []byte) {
	r := make([]byte, n)
	a.largeBytes += int64(n)
	if k := len(a.largeFree); k > 0 {
		i := a.largeFree[k-1]
		a.largeFree = a.largeFree[:k-1]
		a.large[i] = r
		return largeBit | i, r
	}
	if len(a.large) >= maxLarge {
		panic("keydir: shard holds more than 2^31 large keys; key space exhausted")
	}
	a.large = append(a.large, r)
	return largeBit | uint32(len(a.large)-1), r
}

// free releases the record ref (whose bytes are rec).
func (a *arena) free(ref uint32, rec []byte) {
	if ref&largeBit != 0 {
		i := ref &^ largeBit
		a.largeBytes -= int64(len(a.large[i]))
		a.large[i] = nil
		a.largeFree = append(a.largeFree, i)
		return
	}
	n := recLen(rec)
	a.liveBytes -= n
	a.deadBytes += n
}

// memoryBytes approximates the heap bytes held by the arena.
func (a *arena) memoryBytes() int64 {
	const sliceHdr = 24
	return int64(len(a.chunks))*chunkSize + int64(cap(a.chunks))*sliceHdr +
		a.largeBytes + int64(cap(a.large))*sliceHdr + int64(cap(a.largeFree))*4
}
