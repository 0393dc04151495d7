package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Keys, values and orders are pure functions of (seed, index, version), so
// any workload can regenerate what another wrote and check it, and none of
// them needs memory proportional to the number of keys.

// mix64 is the splitmix64 finalizer: a bijection on uint64 with good
// avalanche, so distinct inputs give distinct outputs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

const golden = 0x9e3779b97f4a7c15

// MinKeySize is the smallest key a Generator makes: its first 8 bytes hold
// the (hashed or plain) index, which keeps keys unique.
const MinKeySize = 8

// Generator makes the keys and values of one benchmark. Its fields are set
// once; its methods are safe for concurrent use, each goroutine with its
// own buffers.
type Generator struct {
	Seed      uint64
	KeySize   int // bytes per key, at least MinKeySize
	ValueSize int // bytes per value
	// Compressible makes the first half of every value a repeated 4-byte
	// pattern, so that snappy about halves it; otherwise values are random
	// bytes that do not compress.
	Compressible bool
}

// Key writes the key of index i into dst (which needs a capacity of at
// least KeySize) and returns it. The first 8 bytes are
// mix64(i + Seed·golden) big-endian: unique per index, because both steps
// are bijections, and scattered over the key space, so that keys written in
// index order arrive in random key order. The rest is deterministic
// padding.
func (g *Generator) Key(dst []byte, i uint64) []byte {
	return g.keyFrom(dst, mix64(i+g.Seed*golden))
}

// SeqKey writes the sequential key of index i into dst (capacity at least
// KeySize) and returns it: the first 8 bytes are i big-endian, so that the
// keys of ascending indexes sort in ascending byte order; the padding is
// as in Key.
func (g *Generator) SeqKey(dst []byte, i uint64) []byte {
	return g.keyFrom(dst, i)
}

func (g *Generator) keyFrom(dst []byte, h uint64) []byte {
	dst = dst[:g.KeySize]
	binary.BigEndian.PutUint64(dst, h)
	pad := dst[8:]
	s := h ^ g.Seed
	for len(pad) >= 8 {
		s = mix64(s + golden)
		binary.LittleEndian.PutUint64(pad, s)
		pad = pad[8:]
	}
	if len(pad) > 0 {
		s = mix64(s + golden)
		for j := range pad {
			pad[j] = byte(s >> (8 * j))
		}
	}
	return dst
}

// Value writes the value of index i at version into dst (capacity at least
// ValueSize) and returns it. Random bytes from a splitmix64 stream seeded
// by (Seed, i, version); with Compressible, the first half repeats a
// 4-byte pattern and only the second half is random, so snappy about
// halves it (1.7x at 100 bytes, where its per-value overhead counts; the
// pattern comes first because snappy, after a long run without matches,
// skips ahead and would store the start of a trailing pattern as
// literals).
func (g *Generator) Value(dst []byte, i uint64, version uint32) []byte {
	dst = dst[:g.ValueSize]
	s := mix64(g.Seed ^ mix64(i^uint64(version)<<48) ^ uint64(version)*golden)
	rnd := dst
	if g.Compressible {
		half := len(dst) / 2
		// A 4-byte pattern that still depends on the index and version.
		s += golden
		pat := uint32(mix64(s))
		for j := range dst[:half] {
			dst[j] = byte(pat >> (8 * (j & 3)))
		}
		rnd = dst[half:]
	}
	p := rnd
	for len(p) >= 8 {
		s += golden
		binary.LittleEndian.PutUint64(p, mix64(s))
		p = p[8:]
	}
	if len(p) > 0 {
		s += golden
		r := mix64(s)
		for j := range p {
			p[j] = byte(r >> (8 * j))
		}
	}
	return dst
}

// Verify checks that got is the value of index i at version; the error
// says where they differ. scratch needs a capacity of ValueSize bytes.
func (g *Generator) Verify(scratch, got []byte, i uint64, version uint32) error {
	want := g.Value(scratch, i, version)
	if bytes.Equal(got, want) {
		return nil
	}
	if len(got) != len(want) {
		return fmt.Errorf("index %d version %d: value has %d bytes, want %d", i, version, len(got), len(want))
	}
	for j := range got {
		if got[j] != want[j] {
			return fmt.Errorf("index %d version %d: value differs at byte %d (got %#02x, want %#02x)", i, version, j, got[j], want[j])
		}
	}
	return nil // unreachable
}

// Perm is a seeded pseudo-random permutation of [0, n) that needs no
// memory: a bijection on [0, 2^m) (odd multiply, add, xorshift, twice)
// applied by cycle walking until the value falls below n. Since 2^m < 2n,
// that takes fewer than two rounds on average. The zero Perm is not
// usable; make one with NewPerm.
type Perm struct {
	n, mask uint64
	shift   uint
	a, b    [2]uint64
}

// NewPerm returns the permutation of [0, n) chosen by seed. n must be
// positive.
func NewPerm(n, seed uint64) Perm {
	if n == 0 {
		panic("bench: NewPerm of an empty range")
	}
	m := uint(bits.Len64(n - 1)) // smallest m with 2^m >= n
	p := Perm{n: n, mask: 1<<m - 1, shift: max(1, m/2)}
	if m == 64 {
		p.mask = ^uint64(0)
	}
	s := seed
	for r := range 2 {
		s = mix64(s + golden)
		p.a[r] = s | 1
		s = mix64(s + golden)
		p.b[r] = s
	}
	return p
}

// Len is n, the size of the permuted range.
func (p Perm) Len() uint64 { return p.n }

func (p Perm) round(x uint64) uint64 {
	for r := range 2 {
		x = (x*p.a[r] + p.b[r]) & p.mask
		x ^= x >> p.shift
	}
	return x
}

// At returns the j-th element of the permutation (j < n).
func (p Perm) At(j uint64) uint64 {
	x := p.round(j)
	for x >= p.n {
		x = p.round(x)
	}
	return x
}
