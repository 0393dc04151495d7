package keydir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// imageWorkload fills a Keydir (and the model of what it must hold) with
// every kind of record an image carries: small and large keys, entries that
// live in the side map (expiry, a seq of 2^47 or more, a size of 64 KiB or
// more), more files than one shard's table numbers (side map again), and
// deletes that leave dead bytes and trigger arena compactions.
func imageWorkload(rng *rand.Rand, k *Keydir, model map[string]Entry, ops int) {
	var keys []string
	for range ops {
		if len(keys) > 0 && rng.IntN(10) < 3 {
			key := keys[rng.IntN(len(keys))]
			if _, ok := model[key]; ok {
				_, removed := k.Delete([]byte(key), 1<<62)
				if !removed {
					panic("delete of a present key with a higher seq did not remove it")
				}
				delete(model, key)
			}
			continue
		}
		var key []byte
		if len(keys) > 0 && rng.IntN(4) == 0 {
			key = []byte(keys[rng.IntN(len(keys))]) // an overwrite
		} else {
			n := 1 + rng.IntN(24)
			if rng.IntN(50) == 0 {
				n = 500 + rng.IntN(300) // a record too big for a chunk
			}
			key = make([]byte, n)
			for i := range key {
				key[i] = byte(rng.Uint32())
			}
			keys = append(keys, string(key))
		}
		prev, had := model[string(key)]
		e := Entry{FileID: uint32(rng.IntN(300)), Offset: rng.Uint32(), Size: uint32(20 + rng.IntN(200)), Seq: prev.Seq + 1 + uint64(rng.IntN(5))}
		switch rng.IntN(20) {
		case 0:
			e.Expiry = rng.Int64()
		case 1:
			e.Seq += 1 << 47
		case 2:
			e.Size = 1<<16 + rng.Uint32N(1<<20)
		}
		if !had {
			e.Seq = max(e.Seq, 1)
		}
		k.Put(key, e)
		model[string(key)] = e
	}
}

func requireModel(t *testing.T, k *Keydir, model map[string]Entry) {
	t.Helper()
	checkInvariants(t, k)
	require.Equal(t, len(model), k.Len())
	for key, want := range model {
		got, ok := k.Get([]byte(key))
		require.True(t, ok, "key %x missing", key)
		require.Equal(t, want, got, "key %x", key)
	}
}

// TestImageRoundTrip: a loaded image answers exactly as the index it was
// taken of, keeps working as an index (puts, deletes, compactions), and
// its own image loads again.
func TestImageRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	k, model := New(), map[string]Entry{}
	imageWorkload(rng, k, model, 40_000)
	requireModel(t, k, model)

	img := k.AppendImage(nil)
	k2, err := LoadImage(img)
	require.NoError(t, err)
	requireModel(t, k2, model)
	// Same storage, give or take the capacity of the chunk lists.
	require.InDelta(t, k.MemoryBytes(), k2.MemoryBytes(), float64(k.MemoryBytes())/100)
	// The loaded index owns img now: k, which it was taken of, shares
	// nothing with it.
	k.Put([]byte("only in k"), ent(1, 2, 3))
	requireModel(t, k2, model)

	imageWorkload(rng, k2, model, 20_000)
	requireModel(t, k2, model)
	k3, err := LoadImage(k2.AppendImage(nil))
	require.NoError(t, err)
	requireModel(t, k3, model)

	empty, err := LoadImage(New().AppendImage(nil))
	require.NoError(t, err)
	requireModel(t, empty, map[string]Entry{})
}

// TestLoadImageRejectsDamage: a cut-short image, one with bytes after
// it, and one whose counts or refs were changed fail with ErrBadImage;
// no damage makes LoadImage panic or return an index that breaks the
// structural invariants.
func TestLoadImageRejectsDamage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	k, model := New(), map[string]Entry{}
	imageWorkload(rng, k, model, 3000)
	img := k.AppendImage(nil)

	for cut := 0; cut < len(img); cut += 1 + rng.IntN(len(img)/300) {
		_, err := LoadImage(img[:cut])
		require.ErrorIs(t, err, ErrBadImage, "image cut to %d of %d bytes", cut, len(img))
	}
	_, err := LoadImage(append(append([]byte(nil), img...), 0))
	require.ErrorIs(t, err, ErrBadImage)

	bad := 0
	for range 3000 {
		d := append([]byte(nil), img...)
		i := rng.IntN(len(d))
		d[i] ^= byte(1 + rng.IntN(255))
		k2, err := LoadImage(d)
		if err != nil {
			require.ErrorIs(t, err, ErrBadImage)
			bad++
			continue
		}
		// An entry's location or seq can change without a trace (the
		// engine's checksum over the image is what catches that); the
		// structure must still hold.
		checkInvariants(t, k2)
	}
	require.Greater(t, bad, 0, "no damage was detected")
}

// FuzzLoadImage: whatever the bytes, LoadImage returns ErrBadImage or an
// index whose structure holds and which can be used.
func FuzzLoadImage(f *testing.F) {
	// A small seed: the fuzzer all but stalls on one of tens of KiB (a
	// 600-operation image ran 5 inputs a minute; this one 100k a second).
	k, model := New(), map[string]Entry{}
	imageWorkload(rand.New(rand.NewPCG(1, 2)), k, model, 60)
	f.Add(k.AppendImage(nil))
	f.Add(New().AppendImage(nil))
	f.Fuzz(func(t *testing.T, p []byte) {
		k, err := LoadImage(bytes.Clone(p)) // LoadImage keeps and changes its input
		if err != nil {
			if !errors.Is(err, ErrBadImage) {
				t.Fatalf("error %v is not ErrBadImage", err)
			}
			return
		}
		checkInvariants(t, k)
		k.Range(func(key []byte, e Entry) bool {
			k.Delete(key, e.Seq+1)
			return true
		})
		require.Equal(t, 0, k.Len())
		k.Put([]byte("after"), ent(1, 2, 3))
		_, ok := k.Get([]byte("after"))
		require.True(t, ok)
	})
}

// BenchmarkImage measures taking and loading the image of 1M keys of 16
// bytes: what a clean Close and the Open after it spend on the index.
func BenchmarkImage(b *testing.B) {
	k := New()
	key := make([]byte, 16)
	for i := range 1_000_000 {
		binary.BigEndian.PutUint64(key, uint64(i)*0x9E3779B97F4A7C15)
		binary.BigEndian.PutUint64(key[8:], uint64(i))
		k.Put(key, Entry{FileID: uint32(i % 7), Offset: uint32(i * 128), Size: 128, Seq: uint64(i + 1)})
	}
	img := k.AppendImage(nil)
	b.Run("append", func(b *testing.B) {
		buf := make([]byte, 0, len(img))
		for b.Loop() {
			buf = k.AppendImage(buf[:0])
		}
		b.ReportMetric(float64(len(img))/float64(k.Len()), "B/key")
	})
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if _, err := LoadImage(img); err != nil { // loads do not write to img
				b.Fatal(err)
			}
		}
	})
}
