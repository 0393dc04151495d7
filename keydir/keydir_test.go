package keydir

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// ent is a short constructor for test entries.
func ent(fileID, offset uint32, seq uint64) Entry {
	return Entry{FileID: fileID, Offset: offset, Size: 100 + offset, Seq: seq}
}

// key16 writes a distinct 16-byte key for i into buf.
func key16(buf []byte, i uint64) []byte {
	binary.BigEndian.PutUint64(buf[0:8], i)
	binary.BigEndian.PutUint64(buf[8:16], i*0x9E3779B97F4A7C15)
	return buf[:16]
}

// checkInvariants verifies the internal structure of every shard.
func checkInvariants(t require.TestingT, k *Keydir) {
	total := 0
	for si := range k.shards {
		s := &k.shards[si]
		s.mu.RLock()
		checkShard(t, si, s)
		total += s.count
		s.mu.RUnlock()
	}
	require.Equal(t, total, k.Len())
}

func checkShard(t require.TestingT, si int, s *shard) {
	require.Equal(t, s.n*slotSize, len(s.slots), "shard %d", si)
	occupied, live, flagged := 0, 0, 0
	uses := map[uint8]uint32{}
	seen := map[string]bool{}
	for j := 0; j < s.n; j++ {
		p := j * slotSize
		if le.Uint16(s.slots[p:]) == 0 {
			continue
		}
		occupied++
		ref := le.Uint32(s.slots[p+2:])
		rec := s.rec(ref)
		key := recKey(rec)
		h := xxhash.Sum64(key)
		require.Equal(t, si, int(h>>(64-shardBits)), "key in wrong shard")
		require.Equal(t, tagOf(h), le.Uint16(s.slots[p:]), "tag mismatch")
		require.Equal(t, home(h, s.n), s.slotHome(j), "home from the slot")
		require.False(t, seen[string(key)], "duplicate key %q", key)
		seen[string(key)] = true
		// Every slot between the key's home and its slot must be occupied.
		for i := home(h, s.n); i != j; i = (i + 1) % s.n {
			require.NotZero(t, le.Uint16(s.slots[i*slotSize:]), "hole on probe path of %q", key)
		}
		if ref&largeBit == 0 {
			live += recLen(rec)
		}
		if uint48(rec)&extFlag != 0 {
			flagged++
			_, ok := s.ext[ref]
			require.True(t, ok, "flagged record without ext entry")
		} else {
			uses[rec[6]]++
		}
	}
	require.Equal(t, s.count, occupied, "shard %d count", si)
	require.Equal(t, live, s.liveBytes, "shard %d live bytes", si)
	require.Equal(t, flagged, len(s.ext), "shard %d ext map size", si)
	// Every file index counts exactly the records that use it.
	require.Len(t, s.files.refs, len(s.files.ids))
	for i, n := range s.files.refs {
		require.Equal(t, uses[uint8(i)], n, "shard %d: file index %d (file %d)", si, i, s.files.ids[i])
	}
	if s.n > 0 {
		require.LessOrEqual(t, s.count, s.growAt)
		require.Less(t, s.growAt, s.n)
	}
}

func TestPutForwardOnly(t *testing.T) {
	type step struct {
		e                          Entry
		wantPrev                   Entry
		wantHadPrev, wantInstalled bool
		wantCur                    Entry
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first put installs", []step{
			{ent(1, 10, 5), Entry{}, false, true, ent(1, 10, 5)},
		}},
		{"higher seq replaces", []step{
			{ent(1, 10, 5), Entry{}, false, true, ent(1, 10, 5)},
			{ent(2, 20, 6), ent(1, 10, 5), true, true, ent(2, 20, 6)},
		}},
		{"equal seq in a lower or the same file rejected", []step{
			{ent(2, 10, 5), Entry{}, false, true, ent(2, 10, 5)},
			{ent(1, 20, 5), ent(2, 10, 5), true, false, ent(2, 10, 5)},
			{ent(2, 30, 5), ent(2, 10, 5), true, false, ent(2, 10, 5)},
		}},
		{"equal seq in a higher file replaces", []step{
			{ent(1, 10, 5), Entry{}, false, true, ent(1, 10, 5)},
			{ent(2, 20, 5), ent(1, 10, 5), true, true, ent(2, 20, 5)},
		}},
		{"lower seq rejected", []step{
			{ent(1, 10, 5), Entry{}, false, true, ent(1, 10, 5)},
			{ent(2, 20, 4), ent(1, 10, 5), true, false, ent(1, 10, 5)},
		}},
		{"seq zero on absent key installs", []step{
			{ent(7, 0, 0), Entry{}, false, true, ent(7, 0, 0)},
			{ent(6, 0, 0), ent(7, 0, 0), true, false, ent(7, 0, 0)},
		}},
		{"max seq", []step{
			{ent(1, 1, 1<<63-2), Entry{}, false, true, ent(1, 1, 1<<63-2)},
			{ent(2, 2, 1<<63-1), ent(1, 1, 1<<63-2), true, true, ent(2, 2, 1<<63-1)},
			{ent(1, 3, 1<<63-1), ent(2, 2, 1<<63-1), true, false, ent(2, 2, 1<<63-1)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := New()
			key := []byte("key")
			for i, st := range tc.steps {
				prev, had, inst := k.Put(key, st.e)
				require.Equal(t, st.wantPrev, prev, "step %d prev", i)
				require.Equal(t, st.wantHadPrev, had, "step %d hadPrev", i)
				require.Equal(t, st.wantInstalled, inst, "step %d installed", i)
				got, ok := k.Get(key)
				require.True(t, ok)
				require.Equal(t, st.wantCur, got, "step %d current", i)
			}
			require.Equal(t, 1, k.Len())
			checkInvariants(t, k)
		})
	}
}

func TestPutCopiesKey(t *testing.T) {
	k := New()
	key := []byte("mutable")
	k.Put(key, ent(1, 1, 1))
	copy(key, "XXXXXXX")
	_, ok := k.Get([]byte("mutable"))
	require.True(t, ok)
	_, ok = k.Get(key)
	require.False(t, ok)
}

func TestSeqTopBitPanics(t *testing.T) {
	k := New()
	require.Panics(t, func() { k.Put([]byte("a"), Entry{Seq: 1 << 63}) })
	k.Put([]byte("a"), Entry{Seq: 1})
	require.Panics(t, func() { k.CompareAndSwap([]byte("a"), Entry{Seq: 1}, Entry{Seq: 1<<64 - 1}) })
	got, ok := k.Get([]byte("a"))
	require.True(t, ok)
	require.Equal(t, Entry{Seq: 1}, got)
}

func TestDeleteBySeq(t *testing.T) {
	tests := []struct {
		name        string
		present     bool
		seq         uint64 // current seq, if present
		delSeq      uint64
		wantPrev    Entry
		wantRemoved bool
	}{
		{"absent", false, 0, 10, Entry{}, false},
		{"older entry removed", true, 5, 6, ent(1, 2, 5), true},
		{"much older entry removed", true, 5, 1 << 62, ent(1, 2, 5), true},
		{"equal seq kept", true, 5, 5, ent(1, 2, 5), false},
		{"newer entry kept", true, 5, 4, ent(1, 2, 5), false},
		{"seq zero entry, delete seq zero kept", true, 0, 0, ent(1, 2, 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := New()
			key := []byte("k")
			k.Put([]byte("other"), ent(9, 9, 9))
			if tc.present {
				k.Put(key, ent(1, 2, tc.seq))
			}
			prev, removed := k.Delete(key, tc.delSeq)
			require.Equal(t, tc.wantPrev, prev)
			require.Equal(t, tc.wantRemoved, removed)
			_, ok := k.Get(key)
			require.Equal(t, tc.present && !tc.wantRemoved, ok)
			got, ok := k.Get([]byte("other"))
			require.True(t, ok)
			require.Equal(t, ent(9, 9, 9), got)
			checkInvariants(t, k)
		})
	}
}

func TestCompareAndSwap(t *testing.T) {
	cur := Entry{FileID: 1, Offset: 2, Size: 3, Seq: 4, Expiry: 5}
	moved := Entry{FileID: 9, Offset: 8, Size: 3, Seq: 4, Expiry: 5}
	tests := []struct {
		name    string
		present bool
		old     Entry
		new     Entry
		wantOK  bool
	}{
		{"absent", false, cur, moved, false},
		{"exact match swaps", true, cur, moved, true},
		{"different file", true, Entry{FileID: 2, Offset: 2, Size: 3, Seq: 4, Expiry: 5}, moved, false},
		{"different offset", true, Entry{FileID: 1, Offset: 3, Size: 3, Seq: 4, Expiry: 5}, moved, false},
		{"different size", true, Entry{FileID: 1, Offset: 2, Size: 4, Seq: 4, Expiry: 5}, moved, false},
		{"different seq", true, Entry{FileID: 1, Offset: 2, Size: 3, Seq: 5, Expiry: 5}, moved, false},
		{"different expiry", true, Entry{FileID: 1, Offset: 2, Size: 3, Seq: 4}, moved, false},
		{"may lower seq", true, cur, Entry{FileID: 1, Seq: 1}, true},
		{"may drop expiry", true, cur, Entry{FileID: 1, Offset: 2, Size: 3, Seq: 4}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := New()
			key := []byte("cas")
			if tc.present {
				k.Put(key, cur)
			}
			require.Equal(t, tc.wantOK, k.CompareAndSwap(key, tc.old, tc.new))
			got, ok := k.Get(key)
			require.Equal(t, tc.present, ok)
			switch {
			case tc.wantOK:
				require.Equal(t, tc.new, got)
			case tc.present:
				require.Equal(t, cur, got)
			}
			checkInvariants(t, k)
		})
	}
}

func TestExpiryRoundTrip(t *testing.T) {
	k := New()
	key := []byte("exp")
	tests := []struct {
		name string
		e    Entry
	}{
		{"set", Entry{Seq: 1, Expiry: 1_700_000_000_000_000_000}},
		{"change", Entry{Seq: 2, Expiry: 42}},
		{"negative", Entry{Seq: 3, Expiry: -1}},
		{"max", Entry{Seq: 4, Expiry: 1<<63 - 1}},
		{"min", Entry{Seq: 5, Expiry: -1 << 63}},
		{"clear", Entry{Seq: 6}},
		{"set again", Entry{Seq: 7, Expiry: 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, inst := k.Put(key, tc.e)
			require.True(t, inst)
			got, ok := k.Get(key)
			require.True(t, ok)
			require.Equal(t, tc.e, got)
			checkInvariants(t, k)
		})
	}
	// The side map is accounted for.
	plain := New()
	plain.Put(key, Entry{Seq: 7})
	require.Greater(t, k.MemoryBytes(), plain.MemoryBytes())
	// A rejected Put does not touch the expiry.
	_, _, inst := k.Put(key, Entry{Seq: 1, Expiry: 99})
	require.False(t, inst)
	got, _ := k.Get(key)
	require.Equal(t, int64(7), got.Expiry)
	// Delete drops the expiry; the key comes back without one.
	_, removed := k.Delete(key, 100)
	require.True(t, removed)
	k.Put(key, Entry{Seq: 101})
	got, _ = k.Get(key)
	require.Equal(t, Entry{Seq: 101}, got)
	checkInvariants(t, k)
}

func TestRangeAllowsMutation(t *testing.T) {
	k := New()
	const n = 5000
	buf := make([]byte, 16)
	for i := range n {
		k.Put(key16(buf, uint64(i)), ent(uint32(i), uint32(i), uint64(i)+1))
	}
	seen := map[string]Entry{}
	k.Range(func(key []byte, e Entry) bool {
		seen[string(key)] = e
		i := binary.BigEndian.Uint64(key)
		if i >= n {
			return true // added by this loop
		}
		// Mutate the keydir from inside fn: it must not deadlock.
		switch i % 3 {
		case 0:
			_, removed := k.Delete(key, 1<<62)
			require.True(t, removed)
		case 1:
			_, _, inst := k.Put(key, ent(0, 0, e.Seq+1000))
			require.True(t, inst)
		}
		_, _, inst := k.Put(key16(make([]byte, 16), i+n), ent(1, 1, 1))
		require.True(t, inst)
		_, ok := k.Get(key)
		require.Equal(t, i%3 != 0, ok)
		return true
	})
	// Every original key was seen with its original entry (new keys may
	// or may not have been seen).
	for i := range n {
		e, ok := seen[string(key16(buf, uint64(i)))]
		require.True(t, ok, "key %d not visited", i)
		require.Equal(t, ent(uint32(i), uint32(i), uint64(i)+1), e)
	}
	require.Equal(t, n-(n+2)/3+n, k.Len())
	checkInvariants(t, k)

	// Early stop.
	calls := 0
	k.Range(func([]byte, Entry) bool { calls++; return calls < 10 })
	require.Equal(t, 10, calls)

	// Range over an empty keydir.
	New().Range(func([]byte, Entry) bool { t.Fatal("called"); return false })
}

func TestGrowAndShrink(t *testing.T) {
	k := New()
	buf := make([]byte, 16)
	const n = 200_000
	for round := range 3 {
		for i := range n {
			_, had, inst := k.Put(key16(buf, uint64(i)), ent(uint32(round), uint32(i), uint64(round*n+i)+1))
			require.Equal(t, round > 0 && i%10 == 0, had, "round %d key %d", round, i)
			require.True(t, inst)
		}
		require.Equal(t, n, k.Len())
		grown := k.MemoryBytes()
		// Delete 90%.
		for i := range n {
			if i%10 == 0 {
				continue
			}
			_, removed := k.Delete(key16(buf, uint64(i)), 1<<62)
			require.True(t, removed)
		}
		require.Equal(t, n/10, k.Len())
		checkInvariants(t, k)
		for i := range n {
			e, ok := k.Get(key16(buf, uint64(i)))
			require.Equal(t, i%10 == 0, ok)
			if ok {
				require.Equal(t, ent(uint32(round), uint32(i), uint64(round*n+i)+1), e)
			}
		}
		shrunk := k.MemoryBytes()
		require.Less(t, shrunk, grown/4, "round %d: memory did not shrink: %d -> %d", round, grown, shrunk)
	}
	// Delete everything: the shards release all storage.
	for i := 0; i < n; i += 10 {
		_, removed := k.Delete(key16(buf, uint64(i)), 1<<62)
		require.True(t, removed)
	}
	require.Equal(t, 0, k.Len())
	require.Equal(t, New().MemoryBytes(), k.MemoryBytes())
	checkInvariants(t, k)
}

func TestArenaCompaction(t *testing.T) {
	// Keys of a single shard so that one shard's arena churns a lot.
	keys := shardKeys(0, 3000, 10, 120)
	k := New()
	s := &k.shards[0]
	for i, key := range keys {
		exp := int64(0)
		if i%7 == 0 {
			exp = int64(i) + 1
		}
		k.Put(key, Entry{FileID: uint32(i), Seq: 1, Expiry: exp})
	}
	chunksFull := len(s.chunks)
	compactions := 0
	// Repeatedly delete and re-add two thirds of the keys.
	for round := uint64(0); round < 10; round++ {
		for i, key := range keys {
			if i%3 != 0 {
				before := s.deadBytes
				_, removed := k.Delete(key, 1<<62+1)
				require.True(t, removed)
				if s.deadBytes < before {
					compactions++
				}
			}
		}
		require.LessOrEqual(t, s.deadBytes, max(s.liveBytes, compactMin))
		for i, key := range keys {
			if i%3 != 0 {
				k.Put(key, Entry{FileID: uint32(i), Seq: 1 << 62, Expiry: int64(round)})
			}
		}
	}
	require.Greater(t, compactions, 5)
	require.LessOrEqual(t, len(s.chunks), 2*chunksFull+4, "arena leaks under churn")
	checkInvariants(t, k)
	for i, key := range keys {
		got, ok := k.Get(key)
		require.True(t, ok)
		want := Entry{FileID: uint32(i), Seq: 1 << 62, Expiry: 9}
		if i%3 == 0 {
			want = Entry{FileID: uint32(i), Seq: 1}
			if i%7 == 0 {
				want.Expiry = int64(i) + 1
			}
		}
		require.Equal(t, want, got, "key %d", i)
	}
}

// shardKeys returns n distinct random keys (lengths in [minLen, maxLen])
// that all fall into shard si.
func shardKeys(si, n, minLen, maxLen int) [][]byte {
	r := rand.New(rand.NewPCG(uint64(si), uint64(n)))
	seen := map[string]bool{}
	var keys [][]byte
	for len(keys) < n {
		key := make([]byte, minLen+r.IntN(maxLen-minLen+1))
		for i := range key {
			key[i] = byte(r.Uint32())
		}
		if int(xxhash.Sum64(key)>>(64-shardBits)) != si || seen[string(key)] {
			continue
		}
		seen[string(key)] = true
		keys = append(keys, key)
	}
	return keys
}

func TestArbitraryKeys(t *testing.T) {
	big := bytes.Repeat([]byte{0, 0xff, 'a'}, 3<<20/3) // 3 MiB
	big2 := bytes.Clone(big)
	big2[len(big2)-1] = 'b'
	smallMax := maxSmallRecord - hdrSize - 2 // largest key stored in chunks
	keys := [][]byte{
		{},
		{0},
		{0, 0},
		{0xff, 0xfe, 0xfd},
		[]byte("\xc3\x28 invalid utf8"),
		[]byte("with\x00nul"),
		[]byte("with\x00nuL"),
		bytes.Repeat([]byte{'x'}, 127),
		bytes.Repeat([]byte{'x'}, 128),
		bytes.Repeat([]byte{'y'}, smallMax),
		bytes.Repeat([]byte{'y'}, smallMax+1),
		bytes.Repeat([]byte{'z'}, chunkSize),
		big,
		big2,
	}
	k := New()
	for i, key := range keys {
		_, had, inst := k.Put(key, ent(uint32(i), 0, 1))
		require.False(t, had, "key %d", i)
		require.True(t, inst)
	}
	require.Equal(t, len(keys), k.Len())
	check := func() {
		t.Helper()
		for i, key := range keys {
			got, ok := k.Get(key)
			require.True(t, ok, "key %d", i)
			require.Equal(t, ent(uint32(i), 0, 1), got)
		}
		_, ok := k.Get(big[:len(big)-1])
		require.False(t, ok)
		_, ok = k.Get([]byte{0, 0, 0})
		require.False(t, ok)
		n := 0
		k.Range(func(key []byte, e Entry) bool {
			require.Equal(t, keys[e.FileID], key)
			n++
			return true
		})
		require.Equal(t, len(keys), n)
		checkInvariants(t, k)
	}
	check()
	require.Greater(t, k.MemoryBytes(), int64(2*len(big)))
	// Delete and re-add the large keys (exercises the large free list).
	for _, i := range []int{len(keys) - 1, len(keys) - 3, 0} {
		_, removed := k.Delete(keys[i], 2)
		require.True(t, removed)
		_, ok := k.Get(keys[i])
		require.False(t, ok)
	}
	for _, i := range []int{0, len(keys) - 3, len(keys) - 1} {
		_, _, inst := k.Put(keys[i], ent(uint32(i), 0, 1))
		require.True(t, inst)
	}
	check()
}

func TestGetDoesNotAllocate(t *testing.T) {
	k := New()
	buf := make([]byte, 16)
	for i := range 1000 {
		k.Put(key16(buf, uint64(i)), Entry{Seq: 1, Expiry: int64(i % 2)})
	}
	key := key16(make([]byte, 16), 501)
	missing := key16(make([]byte, 16), 5000)
	allocs := testing.AllocsPerRun(1000, func() {
		e, ok := k.Get(key)
		if !ok || e.Expiry != 1 {
			panic("bad get")
		}
		if _, ok := k.Get(missing); ok {
			panic("found missing key")
		}
	})
	require.Zero(t, allocs)
}

// TestModel checks the keydir against a map under random operations. The
// keys all come from two shards so that tables grow, shrink, shift and
// compact.
// TestLargeTableHomes runs the grow, shrink and delete paths with tag homes
// limited to tiny tables, so that tables cross from tag homes to hash homes
// and back (in production that takes ~14M keys).
func TestLargeTableHomes(t *testing.T) {
	defer func(old int) { maxTagHomeSlots = old }(maxTagHomeSlots)
	maxTagHomeSlots = 64
	k := New()
	buf := make([]byte, 16)
	const n = 60_000
	for i := range n {
		k.Put(key16(buf, uint64(i)), ent(1, uint32(i), uint64(i)+1))
	}
	checkInvariants(t, k)
	large := 0
	for i := range k.shards {
		if k.shards[i].n > maxTagHomeSlots {
			large++
		}
	}
	require.Equal(t, numShards, large, "every shard should have a large table")
	for i := range n {
		if i%7 != 0 {
			_, removed := k.Delete(key16(buf, uint64(i)), 1<<62)
			require.True(t, removed)
		}
	}
	checkInvariants(t, k)
	for i := range n {
		e, ok := k.Get(key16(buf, uint64(i)))
		require.Equal(t, i%7 == 0, ok, "key %d", i)
		if ok {
			require.Equal(t, ent(1, uint32(i), uint64(i)+1), e)
		}
	}
}

func TestModel(t *testing.T) {
	pool := append(shardKeys(3, 150, 1, 40), shardKeys(200, 150, 100, 700)...)
	pool = append(pool, []byte{})
	rapid.Check(t, func(rt *rapid.T) {
		k := New()
		model := map[string]Entry{}
		genKey := rapid.SampledFrom(pool)
		genEntry := rapid.Custom(func(rt *rapid.T) Entry {
			// Mostly small values, sometimes the edges of what a record's
			// header holds inline (the rest goes to the ext map).
			e := Entry{
				FileID: rapid.OneOf(rapid.Uint32Range(0, 3), rapid.Just(uint32(1<<32-1))).Draw(rt, "file"),
				Offset: rapid.Uint32().Draw(rt, "off"),
				Size:   rapid.OneOf(rapid.Uint32Range(0, 2), rapid.Uint32Range(maxInlineSize, maxInlineSize+1), rapid.Just(uint32(1<<32-1))).Draw(rt, "size"),
				Seq:    rapid.OneOf(rapid.Uint64Range(0, 20), rapid.Uint64Range(maxInlineSeq-1, maxInlineSeq+2), rapid.Just(uint64(1<<63-1))).Draw(rt, "seq"),
			}
			if rapid.Bool().Draw(rt, "hasExp") {
				e.Expiry = rapid.Int64Range(-2, 2).Draw(rt, "exp")
			}
			return e
		})
		rt.Repeat(map[string]func(*rapid.T){
			"put": func(rt *rapid.T) {
				key, e := genKey.Draw(rt, "key"), genEntry.Draw(rt, "e")
				prev, had, inst := k.Put(key, e)
				m, mHad := model[string(key)]
				wantInst := !mHad || newer(e, m)
				require.Equal(rt, mHad, had)
				require.Equal(rt, m, prev)
				require.Equal(rt, wantInst, inst)
				if wantInst {
					model[string(key)] = e
				}
			},
			"putMany": func(rt *rapid.T) {
				seq := rapid.Uint64Range(0, 20).Draw(rt, "seq")
				for _, key := range pool[:rapid.IntRange(0, len(pool)).Draw(rt, "n")] {
					e := Entry{FileID: 7, Seq: seq}
					_, _, inst := k.Put(key, e)
					m, mHad := model[string(key)]
					require.Equal(rt, !mHad || seq > m.Seq || (seq == m.Seq && m.FileID < 7), inst)
					if inst {
						model[string(key)] = e
					}
				}
			},
			"delete": func(rt *rapid.T) {
				key, seq := genKey.Draw(rt, "key"), rapid.Uint64Range(0, 21).Draw(rt, "seq")
				prev, removed := k.Delete(key, seq)
				m, mHad := model[string(key)]
				require.Equal(rt, m, prev)
				require.Equal(rt, mHad && m.Seq < seq, removed)
				if removed {
					delete(model, string(key))
				}
			},
			"deleteMany": func(rt *rapid.T) {
				for _, key := range pool[rapid.IntRange(0, len(pool)).Draw(rt, "from"):] {
					_, removed := k.Delete(key, 1<<62)
					m, mHad := model[string(key)]
					require.Equal(rt, mHad && m.Seq < 1<<62, removed)
					if removed {
						delete(model, string(key))
					}
				}
			},
			"cas": func(rt *rapid.T) {
				key, e := genKey.Draw(rt, "key"), genEntry.Draw(rt, "new")
				old := genEntry.Draw(rt, "old")
				m, mHad := model[string(key)]
				if mHad && rapid.Bool().Draw(rt, "useCurrent") {
					old = m
				}
				ok := k.CompareAndSwap(key, old, e)
				require.Equal(rt, mHad && m == old, ok)
				if ok {
					model[string(key)] = e
				}
			},
			"get": func(rt *rapid.T) {
				key := genKey.Draw(rt, "key")
				got, ok := k.Get(key)
				m, mHad := model[string(key)]
				require.Equal(rt, mHad, ok)
				require.Equal(rt, m, got)
			},
			"range": func(rt *rapid.T) {
				seen := map[string]Entry{}
				k.Range(func(key []byte, e Entry) bool {
					_, dup := seen[string(key)]
					require.False(rt, dup)
					seen[string(key)] = e
					return true
				})
				require.Equal(rt, model, seen)
			},
			"": func(rt *rapid.T) {
				require.Equal(rt, len(model), k.Len())
			},
		})
		checkInvariants(rt, k)
	})
}

func TestConcurrent(t *testing.T) {
	k := New()
	const (
		writers  = 4
		perKey   = 4000
		keySpace = 2000
	)
	var wg sync.WaitGroup
	// maxDel[i] is the highest seq of a Delete of key i so far, published
	// before the Delete runs.
	var maxDel [keySpace]atomic.Uint64
	// Writers: each writes increasing seqs for the same key space, deleting
	// sometimes. Seqs are globally unique: seq = round*writers + w + 1.
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 16)
			for round := range perKey {
				i := uint64((round*7 + w*13) % keySpace)
				seq := uint64(round*writers + w + 1)
				key := key16(buf, i)
				if round%5 == 4 {
					for cur := maxDel[i].Load(); cur < seq && !maxDel[i].CompareAndSwap(cur, seq); cur = maxDel[i].Load() {
					}
					k.Delete(key, seq)
					continue
				}
				_, _, inst := k.Put(key, Entry{FileID: uint32(w), Offset: uint32(i), Seq: seq})
				if inst {
					// The entry can only be replaced by a newer one, or
					// removed by a newer Delete, after which (the keydir
					// keeps no delete markers) an older Put may land.
					e, ok := k.Get(key)
					if ok && e.Seq < seq && maxDel[i].Load() < seq {
						t.Errorf("keydir moved backwards: %d < %d", e.Seq, seq)
					}
				}
			}
		}()
	}
	// Readers and a compactor-like CAS user.
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 16)
			for round := range perKey {
				key := key16(buf, uint64((round+r)%keySpace))
				if e, ok := k.Get(key); ok {
					if e.Offset != uint32((round+r)%keySpace) {
						t.Errorf("entry of another key: %+v", e)
					}
					moved := e
					moved.FileID += 100
					k.CompareAndSwap(key, e, moved)
				}
				if round%500 == 0 {
					k.Range(func(key []byte, e Entry) bool {
						if len(key) != 16 {
							t.Errorf("bad key length %d", len(key))
						}
						return true
					})
					_ = k.Len()
					_ = k.MemoryBytes()
				}
			}
		}()
	}
	wg.Wait()
	checkInvariants(t, k)
	n := 0
	k.Range(func(key []byte, e Entry) bool {
		n++
		require.Equal(t, binary.BigEndian.Uint64(key), uint64(e.Offset))
		return true
	})
	require.Equal(t, k.Len(), n)
	require.Positive(t, n)
}

// heapAlloc returns the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// measureHeap inserts n 16-byte keys into a new Keydir and returns it
// with the heap bytes it added.
func measureHeap(n int) (*Keydir, int64) {
	before := heapAlloc()
	k := New()
	buf := make([]byte, 16)
	for i := range n {
		k.Put(key16(buf, uint64(i)), Entry{FileID: uint32(i % 100), Offset: uint32(i), Size: 64, Seq: uint64(i) + 1})
	}
	after := heapAlloc()
	return k, int64(after) - int64(before)
}

func TestHeapPerKey(t *testing.T) {
	sizes := []int{1_000_000}
	if os.Getenv("KEYDIR_HEAP_10M") != "" {
		sizes = append(sizes, 10_000_000)
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			k, heap := measureHeap(n)
			perKey := float64(heap) / float64(n)
			t.Logf("%d keys of 16 bytes: %.2f heap bytes/key (MemoryBytes %.2f/key)",
				n, perKey, float64(k.MemoryBytes())/float64(n))
			require.Equal(t, n, k.Len())
			require.LessOrEqual(t, perKey, 40.0)
			runtime.KeepAlive(k)
		})
	}
}

func TestMemoryBytesMatchesHeap(t *testing.T) {
	for _, n := range []int{50_000, 300_000} {
		k, heap := measureHeap(n)
		mb := k.MemoryBytes()
		t.Logf("%d keys: heap %d, MemoryBytes %d (%.1f%%)", n, heap, mb, 100*float64(mb)/float64(heap))
		require.InEpsilon(t, float64(heap), float64(mb), 0.10)
		runtime.KeepAlive(k)
	}
}

const benchKeys = 1_000_000

// BenchmarkGet looks up existing keys. With 1M keys, "random" visits them
// in a random order, so nearly every lookup misses the CPU caches and the
// TLB twice (slot table, then record arena); "sequential" visits them in
// insertion order. "4K-keys" uses a Keydir small enough to stay in cache,
// which measures the code path itself.
func BenchmarkGet(b *testing.B) {
	big, small := New(), New()
	buf := make([]byte, 16)
	for i := range benchKeys {
		big.Put(key16(buf, uint64(i)), Entry{Seq: uint64(i) + 1})
	}
	for i := range 4096 {
		small.Put(key16(buf, uint64(i)), Entry{Seq: uint64(i) + 1})
	}
	for _, bc := range []struct {
		name  string
		k     *Keydir
		order []int
	}{
		{"1M-keys/random", big, rand.Perm(benchKeys)},
		{"1M-keys/sequential", big, seq(benchKeys)},
		{"4K-keys/random", small, rand.Perm(4096)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := len(bc.order)
			keys := make([]byte, 16*n)
			for i, j := range bc.order {
				key16(keys[16*i:], uint64(j))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % n
				if _, ok := bc.k.Get(keys[16*j : 16*j+16]); !ok {
					b.Fatal("missing key")
				}
			}
		})
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func BenchmarkPut(b *testing.B) {
	b.Run("insert", func(b *testing.B) {
		// Insert fresh keys, starting a new Keydir every benchKeys keys.
		k := New()
		buf := make([]byte, 16)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if i%benchKeys == 0 && i > 0 {
				b.StopTimer()
				k = New()
				runtime.GC()
				b.StartTimer()
			}
			k.Put(key16(buf, uint64(i)), Entry{Seq: uint64(i) + 1})
		}
	})
	b.Run("update", func(b *testing.B) {
		k := New()
		buf := make([]byte, 16)
		for i := range benchKeys {
			k.Put(key16(buf, uint64(i)), Entry{Seq: 1})
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			k.Put(key16(buf, uint64(i%benchKeys)), Entry{Seq: uint64(i) + 2})
		}
	})
}

func BenchmarkDelete(b *testing.B) {
	k := New()
	buf := make([]byte, 16)
	for i := range benchKeys {
		k.Put(key16(buf, uint64(i)), Entry{Seq: 1})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Delete and re-insert so that the table size stays put.
		key := key16(buf, uint64(i%benchKeys))
		k.Delete(key, 1<<62)
		k.Put(key, Entry{Seq: 2})
	}
}

func TestReserveKeepsContentsAndAvoidsGrowth(t *testing.T) {
	k := New()
	k.Put([]byte("before"), Entry{FileID: 1, Seq: 1})
	k.Reserve(100_000)
	before := k.MemoryBytes()
	for i := 0; i < 100_000; i++ {
		k.Put([]byte(fmt.Sprintf("key-%d", i)), Entry{FileID: 2, Seq: uint64(i + 2)})
	}
	e, ok := k.Get([]byte("before"))
	require.True(t, ok)
	require.Equal(t, uint32(1), e.FileID)
	require.Equal(t, 100_001, k.Len())
	// No shard had to grow: the slot tables are the size Reserve made them.
	grown := 0
	for i := range k.shards {
		per := 100_000/numShards + 4*isqrt(100_000/numShards) + 8
		if k.shards[i].n != per*100/reserveLoadPct+1 {
			grown++
		}
	}
	require.Zero(t, grown, "shards resized after Reserve")
	require.Greater(t, k.MemoryBytes(), before)
}

func TestFitGivesBackAnOverReserve(t *testing.T) {
	buf := make([]byte, 16)
	organic := New()
	for i := range 50_000 {
		organic.Put(key16(buf, uint64(i)), ent(1, uint32(i), uint64(i)+1))
	}
	k := New()
	k.Reserve(200_000) // four times too many
	for i := range 50_000 {
		k.Put(key16(buf, uint64(i)), ent(1, uint32(i), uint64(i)+1))
	}
	require.Greater(t, k.MemoryBytes(), organic.MemoryBytes()*5/4)
	k.Fit()
	checkInvariants(t, k)
	require.LessOrEqual(t, k.MemoryBytes(), organic.MemoryBytes()*21/20, "Fit left the reserve")
	for i := range 50_000 {
		e, ok := k.Get(key16(buf, uint64(i)))
		require.True(t, ok)
		require.Equal(t, ent(1, uint32(i), uint64(i)+1), e)
	}
	// Tables reserved for the right count are (nearly all) left alone.
	exact := New()
	exact.Reserve(50_000)
	for i := range 50_000 {
		exact.Put(key16(buf, uint64(i)), ent(1, uint32(i), uint64(i)+1))
	}
	m := exact.MemoryBytes()
	exact.Fit()
	require.InEpsilon(t, m, exact.MemoryBytes(), 0.01)
}

func TestShardOf(t *testing.T) {
	k := New()
	for i := 0; i < 10000; i++ {
		key := []byte(fmt.Sprintf("key-%d", i))
		s := k.ShardOf(key)
		require.True(t, s >= 0 && s < Shards)
		_, sh := k.shardOf(key)
		require.Same(t, &k.shards[s], sh, "ShardOf disagrees with the shard Put uses")
	}
}

func TestExpired(t *testing.T) {
	k := New()
	k.Put([]byte("never"), Entry{FileID: 1, Seq: 1})
	k.Put([]byte("past"), Entry{FileID: 2, Size: 10, Seq: 2, Expiry: 100})
	k.Put([]byte("now"), Entry{FileID: 3, Size: 20, Seq: 3, Expiry: 200})
	k.Put([]byte("future"), Entry{FileID: 4, Seq: 4, Expiry: 300})
	k.Put([]byte("renewed"), Entry{FileID: 5, Seq: 5, Expiry: 50})
	k.Put([]byte("renewed"), Entry{FileID: 6, Seq: 6}) // no expiry any more
	var got []Entry
	k.Expired(200, func(e Entry) { got = append(got, e) })
	require.ElementsMatch(t, []Entry{
		{FileID: 2, Size: 10, Seq: 2, Expiry: 100},
		{FileID: 3, Size: 20, Seq: 3, Expiry: 200},
	}, got)
}

// TestShardWriter: puts under one shard lock behave like Keydir.Put for
// keys of that shard (newer sequence numbers win, the previous entry is
// returned), are visible after Unlock, and keys of other shards are
// refused untouched.
func TestShardWriter(t *testing.T) {
	k := New()
	const shard = 17
	var mine, other [][]byte
	for i := 0; len(mine) < 500 || len(other) < 50; i++ {
		key := []byte(fmt.Sprintf("key-%d", i))
		if k.ShardOf(key) == shard {
			mine = append(mine, key)
		} else if len(other) < 50 {
			other = append(other, key)
		}
	}
	sw := k.LockShard(shard)
	for i, key := range mine {
		e := Entry{FileID: 1, Offset: uint32(i), Size: 10, Seq: uint64(100 + i)}
		_, had, installed, ok := sw.Put(key, e)
		if !ok || had || !installed {
			t.Fatalf("put %q: had %v installed %v ok %v", key, had, installed, ok)
		}
	}
	// An older record loses, a newer one wins; both report the previous.
	prev, had, installed, ok := sw.Put(mine[0], Entry{FileID: 2, Seq: 50})
	if !ok || !had || installed || prev.Seq != 100 {
		t.Fatalf("older put: prev %+v had %v installed %v ok %v", prev, had, installed, ok)
	}
	prev, had, installed, ok = sw.Put(mine[1], Entry{FileID: 3, Offset: 7, Size: 9, Seq: 1000})
	if !ok || !had || !installed || prev.Seq != 101 {
		t.Fatalf("newer put: prev %+v had %v installed %v ok %v", prev, had, installed, ok)
	}
	for _, key := range other {
		if _, _, _, ok := sw.Put(key, Entry{FileID: 1, Seq: 1}); ok {
			t.Fatalf("key %q of shard %d accepted by shard %d", key, k.ShardOf(key), shard)
		}
	}
	sw.Unlock()

	if got := k.Len(); got != len(mine) {
		t.Fatalf("Len %d, want %d", got, len(mine))
	}
	for _, key := range other {
		if _, ok := k.Get(key); ok {
			t.Fatalf("refused key %q is present", key)
		}
	}
	if e, _ := k.Get(mine[0]); e.Seq != 100 {
		t.Fatalf("mine[0] %+v, want seq 100", e)
	}
	if e, _ := k.Get(mine[1]); e != (Entry{FileID: 3, Offset: 7, Size: 9, Seq: 1000}) {
		t.Fatalf("mine[1] %+v", e)
	}
	// The lock was released: a normal Put of the shard does not block.
	k.Put(mine[2], Entry{FileID: 4, Seq: 5000})
	if e, _ := k.Get(mine[2]); e.Seq != 5000 {
		t.Fatalf("mine[2] %+v after Put", e)
	}
}

// Barrier must not return while a Pin taken before it is held: the engine
// unmaps a removed data file right after it, and a reader still holding
// its pin reads that mapping.
func TestBarrierWaitsForPins(t *testing.T) {
	k := New()
	buf := make([]byte, 16)
	for i := range 1000 {
		k.Put(key16(buf, uint64(i)), Entry{Seq: uint64(i) + 1})
	}
	e, ok, pin := k.GetPinned(key16(buf, 7))
	require.True(t, ok)
	require.Equal(t, uint64(8), e.Seq)
	_, ok, _ = k.GetPinned(key16(buf, 5000))
	require.False(t, ok, "an absent key gives no pin (and holds no lock: Barrier below would hang)")

	var released atomic.Bool
	done := make(chan bool)
	go func() {
		k.Barrier()
		done <- released.Load()
	}()
	// Give Barrier every chance to return early if it were broken; the
	// assertion itself does not depend on timing.
	for range 100 {
		runtime.Gosched()
	}
	released.Store(true)
	pin.Release()
	require.True(t, <-done, "Barrier returned while a pin was held")

	// Pins of other keys and Gets still work after a barrier.
	_, ok, pin = k.GetPinned(key16(buf, 9))
	require.True(t, ok)
	pin.Release()
	k.Barrier()
}

// A shard numbers at most maxDictFiles files; entries of further files go
// to the ext map, and an index comes free (and is reused) once no record
// uses its file. Every entry must read back exactly throughout.
func TestFileDictOverflowAndReuse(t *testing.T) {
	k := New()
	keys := shardKeys(5, 3*maxDictFiles, 16, 16) // all in shard 5
	want := map[string]Entry{}
	check := func(stage string) {
		for key, e := range want {
			got, ok := k.Get([]byte(key))
			require.True(t, ok, "%s: %x", stage, key)
			require.Equal(t, e, got, "%s: %x", stage, key)
		}
		checkInvariants(t, k)
	}
	// Each key in a file of its own: 256 get an index, the rest go ext.
	for i, key := range keys {
		e := Entry{FileID: uint32(1000 + i), Offset: uint32(i), Size: 40, Seq: 1}
		k.Put(key, e)
		want[string(key)] = e
	}
	s := &k.shards[5]
	require.Len(t, s.files.ids, maxDictFiles)
	require.Len(t, s.ext, len(keys)-maxDictFiles)
	check("one file per key")

	// Move the first 10 keys, which hold indexes, into one file: 9
	// indexes come free, and new files take them instead of the ext map.
	for i, key := range keys[:10] {
		e := Entry{FileID: 7, Offset: uint32(i), Size: 40, Seq: 2}
		require.True(t, k.CompareAndSwap(key, want[string(key)], e))
		want[string(key)] = e
	}
	extBefore := len(s.ext)
	for i, key := range keys[len(keys)-9:] {
		e := Entry{FileID: uint32(5000 + i), Offset: 1, Size: 40, Seq: 3}
		_, _, inst := k.Put(key, e)
		require.True(t, inst)
		want[string(key)] = e
	}
	require.Len(t, s.files.ids, maxDictFiles, "freed indexes are reused")
	require.Equal(t, extBefore-9, len(s.ext))
	check("after reuse")

	// Deleting everything frees all of it.
	for _, key := range keys {
		_, removed := k.Delete(key, 10)
		require.True(t, removed)
		delete(want, string(key))
	}
	require.Nil(t, s.ext)
	check("emptied")
}

// Two keys whose slot tags are equal (the tag is 16 bits of the hash, so
// such pairs are common among a few hundred thousand keys) are both
// readable and distinct: a tag match is only a hint, the key decides.
func TestTagCollision(t *testing.T) {
	byTag := map[[2]uint64][]byte{} // (shard, tag) -> first key
	var a, b []byte
	buf := make([]byte, 16)
	for i := uint64(0); a == nil; i++ {
		key := key16(buf, i)
		h := xxhash.Sum64(key)
		id := [2]uint64{h >> (64 - shardBits), uint64(tagOf(h))}
		if prev, ok := byTag[id]; ok {
			a, b = prev, bytes.Clone(key)
		} else {
			byTag[id] = bytes.Clone(key)
		}
	}
	k := New()
	k.Put(a, Entry{FileID: 1, Offset: 10, Size: 20, Seq: 1})
	_, ok := k.Get(b)
	require.False(t, ok, "a key with the same tag is not found as the other")
	k.Put(b, Entry{FileID: 2, Offset: 30, Size: 40, Seq: 2})
	ea, ok := k.Get(a)
	require.True(t, ok)
	eb, ok := k.Get(b)
	require.True(t, ok)
	require.Equal(t, uint32(10), ea.Offset)
	require.Equal(t, uint32(30), eb.Offset)
	_, removed := k.Delete(a, 5)
	require.True(t, removed)
	_, ok = k.Get(a)
	require.False(t, ok)
	eb, ok = k.Get(b)
	require.True(t, ok, "deleting one key of a tag pair keeps the other")
	require.Equal(t, uint32(30), eb.Offset)
	checkInvariants(t, k)
}

// TestPutEqualSeqHigherFileWins: of two entries with the same Seq, the one
// in the higher file id stays, whichever is put first.
func TestPutEqualSeqHigherFileWins(t *testing.T) {
	lo := Entry{FileID: 3, Offset: 100, Size: 40, Seq: 7}
	hi := Entry{FileID: 5, Offset: 16, Size: 44, Seq: 7, Expiry: 99}
	for _, order := range [][2]Entry{{lo, hi}, {hi, lo}} {
		k := New()
		k.Put([]byte("k"), order[0])
		_, _, installed := k.Put([]byte("k"), order[1])
		require.Equal(t, order[1] == hi, installed)
		got, ok := k.Get([]byte("k"))
		require.True(t, ok)
		require.Equal(t, hi, got)
	}
}

// Apply installs its ops, records a nonzero stamp in exactly the shards it
// touches (CopyShard reports it), and leaves stamps alone with stamp 0.
func TestApplyStampsTouchedShards(t *testing.T) {
	k := New()
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	ops := make([]Op, len(keys))
	for i, key := range keys {
		ops[i] = Op{Key: key, Entry: Entry{FileID: 1, Offset: uint32(i), Size: 10, Seq: uint64(i + 1)}}
	}
	k.Apply(ops, 7)
	touched := map[int]bool{}
	for i, key := range keys {
		require.True(t, ops[i].Done)
		require.False(t, ops[i].HadPrev)
		e, ok := k.Get(key)
		require.True(t, ok)
		require.Equal(t, ops[i].Entry, e)
		touched[k.ShardOf(key)] = true
	}
	var c ShardCopy
	for i := range Shards {
		k.CopyShard(i, nil, &c)
		if touched[i] {
			require.Equal(t, uint64(7), c.Stamp, "shard %d", i)
		} else {
			require.Zero(t, c.Stamp, "shard %d", i)
			require.Zero(t, c.Len(), "shard %d", i)
		}
	}
	// A delete with stamp 0: the key goes, the stamp stays.
	del := []Op{{Key: keys[0], Entry: Entry{Seq: 10}, Delete: true}}
	k.Apply(del, 0)
	require.True(t, del[0].Done)
	require.Equal(t, ops[0].Entry, del[0].Prev)
	_, ok := k.Get(keys[0])
	require.False(t, ok)
	k.CopyShard(k.ShardOf(keys[0]), nil, &c)
	require.Equal(t, uint64(7), c.Stamp)
	// CopyShard with a prefix copies only the matching keys.
	k.CopyShard(k.ShardOf(keys[1]), []byte("b"), &c)
	require.Equal(t, 1, c.Len())
	key, e := c.At(0)
	require.Equal(t, "b", string(key))
	require.Equal(t, ops[1].Entry, e)
}
