package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/golang/snappy"
)

func TestPermIsPermutation(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 5, 8, 100, 1000, 1023, 1024, 1025, 65537} {
		for _, seed := range []uint64{0, 1, 42} {
			p := newPerm(n, seed)
			seen := make([]bool, n)
			for j := range n {
				i := p.at(j)
				if i >= n {
					t.Fatalf("n=%d seed=%d: at(%d) = %d out of range", n, seed, j, i)
				}
				if seen[i] {
					t.Fatalf("n=%d seed=%d: %d produced twice", n, seed, i)
				}
				seen[i] = true
			}
		}
	}
	// Not the identity (a shuffled order is the point).
	p := newPerm(1000, 1)
	fixed := 0
	for j := range uint64(1000) {
		if p.at(j) == j {
			fixed++
		}
	}
	if fixed > 50 {
		t.Errorf("permutation leaves %d of 1000 in place", fixed)
	}
}

func TestKeysUniqueAndDeterministic(t *testing.T) {
	for _, size := range []int{8, 13, 16, 40} {
		o := DefaultOptions()
		o.KeySize = size
		g := newGenerator(&o)
		seen := map[string]uint64{}
		buf := make([]byte, size)
		for i := range uint64(50_000) {
			k := string(g.key(buf, i))
			if len(k) != size {
				t.Fatalf("key size %d, want %d", len(k), size)
			}
			if j, dup := seen[k]; dup {
				t.Fatalf("size %d: indexes %d and %d share a key", size, j, i)
			}
			seen[k] = i
		}
		if seen[string(g.key(buf, 777))] != 777 {
			t.Fatalf("key of 777 not deterministic")
		}
	}
}

func TestValuesDeterministicAndVersioned(t *testing.T) {
	o := DefaultOptions()
	g := newGenerator(&o)
	a := append([]byte(nil), g.value(make([]byte, 100), 5, 1)...)
	b := g.value(make([]byte, 100), 5, 1)
	if !bytes.Equal(a, b) {
		t.Fatal("value not deterministic")
	}
	if bytes.Equal(a, g.value(make([]byte, 100), 5, 2)) {
		t.Fatal("versions 1 and 2 give the same value")
	}
	if bytes.Equal(a, g.value(make([]byte, 100), 6, 1)) {
		t.Fatal("indexes 5 and 6 give the same value")
	}
	o2 := o
	o2.Seed = 2
	if bytes.Equal(a, newGenerator(&o2).value(make([]byte, 100), 5, 1)) {
		t.Fatal("seeds 1 and 2 give the same value")
	}
}

func TestValueCompressibility(t *testing.T) {
	ratio := func(compressible bool, size int) float64 {
		o := DefaultOptions()
		o.ValueSize = size
		o.Compressible = compressible
		g := newGenerator(&o)
		var raw, packed int
		buf := make([]byte, o.ValueSize)
		for i := range uint64(100) {
			v := g.value(buf, i, 1)
			raw += len(v)
			packed += len(snappy.Encode(nil, v))
		}
		return float64(raw) / float64(packed)
	}
	for _, size := range []int{100, 4096} {
		if r := ratio(false, size); r > 1.0 {
			t.Errorf("%d-byte default values compress %.2fx; want incompressible", size, r)
		}
	}
	if r := ratio(true, 4096); r < 1.8 || r > 2.2 {
		t.Errorf("4 KiB -compressible values compress %.2fx; want about 2x", r)
	}
	// At 100 bytes snappy's fixed overhead (length, tags, the pattern's
	// first literal) weighs: 50 bytes compress to about 60.
	if r := ratio(true, 100); r < 1.55 || r > 2.2 {
		t.Errorf("100-byte -compressible values compress %.2fx; want about 1.7x", r)
	}
}

func TestVerifyCatchesCorruption(t *testing.T) {
	o := DefaultOptions()
	g := newGenerator(&o)
	scratch := make([]byte, o.ValueSize)
	v := append([]byte(nil), g.value(make([]byte, o.ValueSize), 9, 1)...)
	if err := g.verify(scratch, v, 9, 1); err != nil {
		t.Fatalf("good value rejected: %v", err)
	}
	bad := append([]byte(nil), v...)
	bad[37] ^= 0x01
	if err := g.verify(scratch, bad, 9, 1); err == nil || !strings.Contains(err.Error(), "byte 37") {
		t.Errorf("flipped bit: verify = %v, want a difference at byte 37", err)
	}
	if err := g.verify(scratch, v[:50], 9, 1); err == nil || !strings.Contains(err.Error(), "50 bytes") {
		t.Errorf("short value: verify = %v", err)
	}
	if err := g.verify(scratch, v, 9, 2); err == nil {
		t.Error("stale version accepted")
	}
	if err := g.verify(scratch, v, 10, 1); err == nil {
		t.Error("another index's value accepted")
	}
}
