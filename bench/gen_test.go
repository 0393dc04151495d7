package bench

import (
	"bytes"
	"strings"
	"testing"

	"github.com/golang/snappy"
)

// testGen is the default run's generator: 16-byte keys, 100-byte
// incompressible values.
func testGen() *Generator { return &Generator{Seed: 1, KeySize: 16, ValueSize: 100} }

func TestPermIsPermutation(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 5, 8, 100, 1000, 1023, 1024, 1025, 65537} {
		for _, seed := range []uint64{0, 1, 42} {
			p := NewPerm(n, seed)
			seen := make([]bool, n)
			for j := range n {
				i := p.At(j)
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
	p := NewPerm(1000, 1)
	fixed := 0
	for j := range uint64(1000) {
		if p.At(j) == j {
			fixed++
		}
	}
	if fixed > 50 {
		t.Errorf("permutation leaves %d of 1000 in place", fixed)
	}
}

func TestKeysUniqueAndDeterministic(t *testing.T) {
	for _, size := range []int{8, 13, 16, 40} {
		g := &Generator{Seed: 1, KeySize: size, ValueSize: 100}
		seen := map[string]uint64{}
		buf := make([]byte, size)
		for i := range uint64(50_000) {
			k := string(g.Key(buf, i))
			if len(k) != size {
				t.Fatalf("key size %d, want %d", len(k), size)
			}
			if j, dup := seen[k]; dup {
				t.Fatalf("size %d: indexes %d and %d share a key", size, j, i)
			}
			seen[k] = i
		}
		if seen[string(g.Key(buf, 777))] != 777 {
			t.Fatalf("key of 777 not deterministic")
		}
	}
}

func TestValuesDeterministicAndVersioned(t *testing.T) {
	g := testGen()
	a := append([]byte(nil), g.Value(make([]byte, 100), 5, 1)...)
	b := g.Value(make([]byte, 100), 5, 1)
	if !bytes.Equal(a, b) {
		t.Fatal("value not deterministic")
	}
	if bytes.Equal(a, g.Value(make([]byte, 100), 5, 2)) {
		t.Fatal("versions 1 and 2 give the same value")
	}
	if bytes.Equal(a, g.Value(make([]byte, 100), 6, 1)) {
		t.Fatal("indexes 5 and 6 give the same value")
	}
	g2 := *g
	g2.Seed = 2
	if bytes.Equal(a, g2.Value(make([]byte, 100), 5, 1)) {
		t.Fatal("seeds 1 and 2 give the same value")
	}
}

func TestValueCompressibility(t *testing.T) {
	ratio := func(compressible bool, size int) float64 {
		g := &Generator{Seed: 1, KeySize: 16, ValueSize: size, Compressible: compressible}
		var raw, packed int
		buf := make([]byte, g.ValueSize)
		for i := range uint64(100) {
			v := g.Value(buf, i, 1)
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
	g := testGen()
	scratch := make([]byte, g.ValueSize)
	v := append([]byte(nil), g.Value(make([]byte, g.ValueSize), 9, 1)...)
	if err := g.Verify(scratch, v, 9, 1); err != nil {
		t.Fatalf("good value rejected: %v", err)
	}
	bad := append([]byte(nil), v...)
	bad[37] ^= 0x01
	if err := g.Verify(scratch, bad, 9, 1); err == nil || !strings.Contains(err.Error(), "byte 37") {
		t.Errorf("flipped bit: verify = %v, want a difference at byte 37", err)
	}
	if err := g.Verify(scratch, v[:50], 9, 1); err == nil || !strings.Contains(err.Error(), "50 bytes") {
		t.Errorf("short value: verify = %v", err)
	}
	if err := g.Verify(scratch, v, 9, 2); err == nil {
		t.Error("stale version accepted")
	}
	if err := g.Verify(scratch, v, 10, 1); err == nil {
		t.Error("another index's value accepted")
	}
}

func TestSeqKeysSorted(t *testing.T) {
	for _, size := range []int{8, 16, 24} {
		g := &Generator{Seed: 3, KeySize: size, ValueSize: 10}
		prev := append([]byte(nil), g.SeqKey(make([]byte, size), 0)...)
		// Across byte boundaries of the index too.
		for _, i := range []uint64{1, 2, 255, 256, 257, 65535, 65536, 1 << 24, 1<<32 + 5, 1 << 40} {
			k := g.SeqKey(make([]byte, size), i)
			if len(k) != size {
				t.Fatalf("size %d: key of %d has %d bytes", size, i, len(k))
			}
			if bytes.Compare(prev, k) >= 0 {
				t.Fatalf("size %d: key of %d (%x) does not sort after the previous one (%x)", size, i, k, prev)
			}
			prev = append(prev[:0], k...)
		}
		// Consecutive keys, exhaustively over a range.
		a, b := make([]byte, size), make([]byte, size)
		for i := range uint64(5000) {
			if bytes.Compare(g.SeqKey(a, i), g.SeqKey(b, i+1)) >= 0 {
				t.Fatalf("size %d: SeqKey(%d) >= SeqKey(%d)", size, i, i+1)
			}
		}
	}
	// Hashed keys, by contrast, are not in index order.
	g := testGen()
	a, b := make([]byte, 16), make([]byte, 16)
	inversions := 0
	for i := range uint64(1000) {
		if bytes.Compare(g.Key(a, i), g.Key(b, i+1)) > 0 {
			inversions++
		}
	}
	if inversions < 300 || inversions > 700 {
		t.Errorf("hashed keys: %d of 1000 consecutive pairs out of order, want about half", inversions)
	}
}
