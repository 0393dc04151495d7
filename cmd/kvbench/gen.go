package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Keys, values and orders are pure functions of (seed, index, version), so
// any phase can regenerate what another phase wrote and check it.

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

// generator makes the keys and values of one benchmark.
type generator struct {
	seed         uint64
	keySize      int
	valueSize    int
	compressible bool
}

func newGenerator(o *Options) *generator {
	return &generator{seed: o.Seed, keySize: o.KeySize, valueSize: o.ValueSize, compressible: o.Compressible}
}

// key writes the key of index i into dst (len keySize) and returns it. The
// first 8 bytes are mix64(i + seed·golden) big-endian: unique per index,
// because both steps are bijections. The rest is deterministic padding.
func (g *generator) key(dst []byte, i uint64) []byte {
	dst = dst[:g.keySize]
	h := mix64(i + g.seed*golden)
	binary.BigEndian.PutUint64(dst, h)
	pad := dst[8:]
	s := h
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

// value writes the value of index i at version into dst (len valueSize)
// and returns it. Random bytes from a splitmix64 stream seeded by (seed,
// i, version); with compressible, the first half repeats a 4-byte pattern
// and only the second half is random, so snappy about halves it (1.7x at
// 100 bytes, where its per-value overhead counts; the pattern comes first
// because snappy, after a long run without matches, skips ahead and would
// store the start of a trailing pattern as literals).
func (g *generator) value(dst []byte, i uint64, version uint32) []byte {
	dst = dst[:g.valueSize]
	s := mix64(g.seed ^ mix64(i^uint64(version)<<48) ^ uint64(version)*golden)
	rnd := dst
	if g.compressible {
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

// verify checks that got is the value of index i at version. scratch must
// have room for valueSize bytes.
func (g *generator) verify(scratch, got []byte, i uint64, version uint32) error {
	want := g.value(scratch, i, version)
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

// perm is a seeded pseudo-random permutation of [0, n) that needs no
// memory: a bijection on [0, 2^m) (odd multiply, add, xorshift, twice)
// applied by cycle walking until the value falls below n. Since 2^m < 2n,
// that takes fewer than two rounds on average.
type perm struct {
	n, mask uint64
	shift   uint
	a, b    [2]uint64
}

func newPerm(n, seed uint64) perm {
	m := uint(bits.Len64(n - 1)) // smallest m with 2^m >= n
	p := perm{n: n, mask: 1<<m - 1, shift: max(1, m/2)}
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

func (p perm) round(x uint64) uint64 {
	for r := range 2 {
		x = (x*p.a[r] + p.b[r]) & p.mask
		x ^= x >> p.shift
	}
	return x
}

// at returns the j-th element of the permutation (j < n).
func (p perm) at(j uint64) uint64 {
	x := p.round(j)
	for x >= p.n {
		x = p.round(x)
	}
	return x
}
