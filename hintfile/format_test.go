package hintfile

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
	"github.com/stretchr/testify/require"
)

// genEntries returns n valid entries laid out back to back (with gaps) as
// a data file would hold them, puts and tombstones interleaved, and the end
// of the last one. maxKey bounds key lengths and maxGap the holes between
// records.
func genEntries(rng *rand.Rand, n, maxKey int, maxGap uint64) ([]Entry, uint64) {
	es := make([]Entry, 0, n)
	off := uint64(datafile.FileHeaderSize)
	for i := range n {
		kl := 1 + rng.IntN(maxKey)
		if rng.IntN(4) != 0 {
			kl = 1 + rng.IntN(min(maxKey, 24))
		}
		key := make([]byte, kl)
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		copy(key, fmt.Appendf(nil, "%d", i)) // unique-ish, readable in failures
		if maxGap > 0 && rng.IntN(3) == 0 {
			off += rng.Uint64N(maxGap + 1)
		}
		e := Entry{
			Key:       key,
			Offset:    uint32(off),
			Size:      uint32(datafile.RecordHeaderSize + kl + rng.IntN(300)),
			Seq:       rng.Uint64N(1 << 63),
			Tombstone: rng.IntN(5) == 0,
		}
		if !e.Tombstone && rng.IntN(2) == 0 {
			e.Expiry = rng.Int64() - math.MaxInt64/2
		}
		es = append(es, e)
		off += uint64(e.Size)
	}
	return es, off
}

// split returns the puts and the tombstones of es, each in order.
func split(es []Entry) (puts, tombs []Entry) {
	for _, e := range es {
		if e.Tombstone {
			tombs = append(tombs, e)
		} else {
			puts = append(puts, e)
		}
	}
	return puts, tombs
}

// writeHint writes es as the hint file path and returns its bytes.
func writeHint(t require.TestingT, fs *vfs.MemFS, path string, id uint32, es []Entry, dataSize int64) []byte {
	if h, ok := t.(interface{ Helper() }); ok { // *rapid.T has no Helper
		h.Helper()
	}
	w, err := Create(fs, path, id)
	require.NoError(t, err)
	for _, e := range es {
		require.NoError(t, w.Add(e))
	}
	require.NoError(t, w.Finish(dataSize))
	require.NoError(t, w.Close())
	return readRaw(t, fs, path)
}

// buildHint returns the bytes of a hint file holding es.
func buildHint(t testing.TB, id uint32, es []Entry, dataSize int64) []byte {
	t.Helper()
	return writeHint(t, vfs.NewMem(), "h.hint", id, es, dataSize)
}

func readRaw(t require.TestingT, fs vfs.FS, path string) []byte {
	if h, ok := t.(interface{ Helper() }); ok { // *rapid.T has no Helper
		h.Helper()
	}
	f, err := fs.Open(path)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

// openBytes writes b to a fresh MemFS and opens it as a hint file.
func openBytes(t testing.TB, b []byte) (*File, error) {
	t.Helper()
	fs := vfs.NewMem()
	f, err := fs.Create("x.hint")
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return Open(fs, "x.hint")
}

// readBack returns every entry of f, with keys copied: the puts sorted by
// offset (EachPut over the blocks in file order mixes the groups), and the
// tombstones in the order EachTombstone gives them, which is offset order.
func readBack(f *File) (puts, tombs []Entry) {
	for i := range f.PutBlocks() {
		f.EachPut(i, func(e Entry) {
			e.Key = bytes.Clone(e.Key)
			puts = append(puts, e)
		})
	}
	sortByOffset(puts)
	f.EachTombstone(func(e Entry) {
		e.Key = bytes.Clone(e.Key)
		tombs = append(tombs, e)
	})
	return puts, tombs
}

// sortByOffset sorts es by offset, stably.
func sortByOffset(es []Entry) {
	slices.SortStableFunc(es, func(a, b Entry) int { return cmp.Compare(a.Offset, b.Offset) })
}

// keyInGroup returns the first key prefix+"0", prefix+"1", ... that belongs
// to group g.
func keyInGroup(g int, prefix string) []byte {
	for i := 0; ; i++ {
		if k := fmt.Appendf(nil, "%s%d", prefix, i); GroupOf(k) == g {
			return k
		}
	}
}

// requireCorrupt asserts that err is a *datafile.CorruptError.
func requireCorrupt(t testing.TB, err error, msgAndArgs ...any) *datafile.CorruptError {
	t.Helper()
	require.ErrorIs(t, err, ErrCorrupt, msgAndArgs...)
	var ce *datafile.CorruptError
	require.True(t, errors.As(err, &ce), msgAndArgs...)
	return ce
}

// Raw encoders, independent of the Writer, for files the Writer refuses to
// produce.

func rawBlock(payload []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, uint32(xxhash.Sum64(append(bytes.Clone(b), payload...))))
	return append(b, payload...)
}

func rawFooter(entries, tombs uint64, dataSize, minSeq, maxSeq uint64) []byte {
	p := []byte{kindFooter}
	for _, v := range []uint64{entries, tombs, dataSize, minSeq, maxSeq} {
		p = binary.LittleEndian.AppendUint64(p, v)
	}
	return rawBlock(p)
}

type rawEntry struct {
	key            string
	gap, size, seq uint64
	expiry         int64
	keyLen         int // if > 0, overrides len(key) in the encoding
}

func rawEntries(kind, group byte, count, base uint64, es ...rawEntry) []byte {
	p := []byte{kind, group}
	p = binary.AppendUvarint(p, count)
	p = binary.AppendUvarint(p, base)
	for _, e := range es {
		kl := uint64(len(e.key))
		if e.keyLen > 0 {
			kl = uint64(e.keyLen)
		}
		p = binary.AppendUvarint(p, kl)
		p = append(p, e.key...)
		p = binary.AppendUvarint(p, e.gap)
		p = binary.AppendUvarint(p, e.size)
		p = binary.AppendUvarint(p, e.seq)
		p = binary.AppendVarint(p, e.expiry)
	}
	return rawBlock(p)
}

// rawPuts is a put block in the group of its first entry's key (0 without
// entries).
func rawPuts(count, base uint64, es ...rawEntry) []byte {
	g := 0
	if len(es) > 0 {
		g = GroupOf([]byte(es[0].key))
	}
	return rawEntries(kindPut, byte(g), count, base, es...)
}

// rawTombs is a tombstone block (group 0).
func rawTombs(count, base uint64, es ...rawEntry) []byte {
	return rawEntries(kindTombstone, 0, count, base, es...)
}

// rawFile is a hint file of version 1, the encoding rawEntries writes
// (TestEntryEncodingV2 covers version 2's).
func rawFile(id uint32, blocks ...[]byte) []byte {
	b := encodeHeaderVersion(id, VersionV1)
	for _, bl := range blocks {
		b = append(b, bl...)
	}
	return b
}

func TestHeader(t *testing.T) {
	h := encodeHeader(0xdeadbeef)
	require.Len(t, h, HeaderSize)
	require.Equal(t, Magic, string(h[:4]))
	require.Equal(t, []byte{2, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde}, h[4:12])
	require.Equal(t, uint32(xxhash.Sum64(h[:12])), binary.LittleEndian.Uint32(h[12:]))
	id, v, err := decodeHeader("p", h)
	require.EqualValues(t, Version, v)
	require.NoError(t, err)
	require.Equal(t, uint32(0xdeadbeef), id)

	_, _, err = decodeHeader("p", h[:HeaderSize-1])
	requireCorrupt(t, err)

	bad := bytes.Clone(h)
	copy(bad, "SKVD") // a data file is not a hint file
	binary.LittleEndian.PutUint32(bad[12:], uint32(xxhash.Sum64(bad[:12])))
	_, _, err = decodeHeader("p", bad)
	require.ErrorContains(t, requireCorrupt(t, err), "magic")

	bad = bytes.Clone(h)
	binary.LittleEndian.PutUint16(bad[6:], 1) // reserved, checksum fixed up
	binary.LittleEndian.PutUint32(bad[12:], uint32(xxhash.Sum64(bad[:12])))
	_, _, err = decodeHeader("p", bad)
	require.ErrorContains(t, requireCorrupt(t, err), "reserved")
}

func TestVersion(t *testing.T) {
	es, end := genEntries(rand.New(rand.NewPCG(1, 2)), 10, 8, 100)
	b := buildHint(t, 7, es, int64(end))
	for _, v := range []uint16{0, Version + 1, 0xffff} {
		bad := bytes.Clone(b)
		binary.LittleEndian.PutUint16(bad[4:], v)
		binary.LittleEndian.PutUint32(bad[12:], uint32(xxhash.Sum64(bad[:12])))
		_, err := openBytes(t, bad)
		require.ErrorIs(t, err, ErrVersion, "version %d", v)
		require.NotErrorIs(t, err, ErrCorrupt)
		require.ErrorContains(t, err, "x.hint")
	}
	// A damaged version field fails its checksum: corruption, not a
	// version from the future.
	bad := bytes.Clone(b)
	bad[4] = Version + 1
	_, err := openBytes(t, bad)
	requireCorrupt(t, err)
}

func TestUvarint(t *testing.T) {
	var vals []uint64
	for s := range 64 {
		vals = append(vals, 1<<s-1, 1<<s, 1<<s+1)
	}
	vals = append(vals, math.MaxUint64)
	for _, v := range vals {
		b := binary.AppendUvarint([]byte{0xaa}, v)
		got, i := uvarint(b, 1)
		require.Equal(t, v, got)
		require.Equal(t, len(b), i)
		for cut := 1; cut < len(b); cut++ {
			_, i := uvarint(b[:cut], 1)
			require.Equal(t, -1, i, "value %d cut at %d", v, cut)
		}
	}
	// Overflow: 11 continuation bytes.
	_, i := uvarint(bytes.Repeat([]byte{0xff}, 11), 0)
	require.Equal(t, -1, i)
	_, i = uvarint(nil, 0)
	require.Equal(t, -1, i)
}

func TestFooterEncoding(t *testing.T) {
	ft := Footer{Entries: 10, Tombstones: 3, DataSize: 1 << 40, MinSeq: 5, MaxSeq: 1<<63 - 1}
	p := appendFooter(nil, ft)
	require.Len(t, p, footerSize)
	require.Equal(t, byte(kindFooter), p[0])
	got, reason := decodeFooter(p)
	require.Empty(t, reason)
	require.Equal(t, ft, got)

	for name, tc := range map[string]struct {
		p    []byte
		want string
	}{
		"short":         {p[:footerSize-1], "bytes"},
		"long":          {append(bytes.Clone(p), 0), "bytes"},
		"data size":     {appendFooter(nil, Footer{DataSize: -1}), "data size"},
		"tombstones":    {appendFooter(nil, Footer{Entries: 1, Tombstones: 2, MaxSeq: 1}), "tombstones"},
		"seq range":     {appendFooter(nil, Footer{Entries: 1, MinSeq: 2, MaxSeq: 1}), "min sequence"},
		"seq limit":     {appendFooter(nil, Footer{Entries: 1, MaxSeq: 1 << 63}), "max sequence"},
		"empty but seq": {appendFooter(nil, Footer{MinSeq: 0, MaxSeq: 4}), "no entries"},
	} {
		_, reason := decodeFooter(tc.p)
		require.Contains(t, reason, tc.want, name)
	}
}

// TestRawBaseline checks that the raw encoders above build files Open
// accepts, so that the failures in TestSemanticCorruption come from the one
// field each case breaks.
func TestRawBaseline(t *testing.T) {
	ga := GroupOf([]byte("a"))
	bc := string(keyInGroup(ga, "b")) // a second key in the group of "a"
	ge := GroupOf([]byte("e"))
	if ge == ga {
		t.Fatal("test assumes that a and e lie in different groups")
	}
	b := rawFile(3,
		rawPuts(2, 16, rawEntry{key: "a", size: 40, seq: 5, expiry: -7}, rawEntry{key: bc, gap: 9, size: uint64(33 + len(bc)), seq: 9}),
		rawTombs(1, 100, rawEntry{key: "d", size: 34, seq: 7}),
		rawPuts(1, 300, rawEntry{key: "e", size: 34, seq: 6}),
		// Blocks of different groups are ordered independently: this one
		// lies before the previous block of group ge.
		rawPuts(1, 200, rawEntry{key: "a", size: 34, seq: 8}),
		rawFooter(5, 1, 334, 5, 9),
	)
	f, err := openBytes(t, b)
	require.NoError(t, err)
	require.Equal(t, uint32(3), f.ID())
	require.Equal(t, Footer{Entries: 5, Tombstones: 1, DataSize: 334, MinSeq: 5, MaxSeq: 9}, f.Footer())
	puts, tombs := readBack(f)
	require.Equal(t, []Entry{
		{Key: []byte("a"), Offset: 16, Size: 40, Seq: 5, Expiry: -7},
		{Key: []byte(bc), Offset: 65, Size: uint32(33 + len(bc)), Seq: 9},
		{Key: []byte("a"), Offset: 200, Size: 34, Seq: 8},
		{Key: []byte("e"), Offset: 300, Size: 34, Seq: 6},
	}, puts)
	require.Equal(t, []Entry{{Key: []byte("d"), Offset: 100, Size: 34, Seq: 7, Tombstone: true}}, tombs)
	require.Equal(t, 3, f.PutBlocks())
	require.Equal(t, []int{0, 2}, f.GroupBlocks(ga))
	require.Equal(t, []int{1}, f.GroupBlocks(ge))
	for g := range Groups {
		if g != ga && g != ge {
			require.Nil(t, f.GroupBlocks(g), "group %d", g)
		}
	}

	f, err = openBytes(t, rawFile(1, rawFooter(0, 0, 0, 0, 0)))
	require.NoError(t, err)
	require.Zero(t, f.PutBlocks())
	for g := range Groups {
		require.Nil(t, f.GroupBlocks(g))
	}
	require.Panics(t, func() { f.GroupBlocks(-1) })
	require.Panics(t, func() { f.GroupBlocks(Groups) })
}

// TestSemanticCorruption feeds Open files whose checksums all hold but
// whose contents break one rule each.
func TestSemanticCorruption(t *testing.T) {
	ok := rawEntry{key: "k", size: 34, seq: 5}
	put := func(es ...rawEntry) []byte { return rawPuts(uint64(len(es)), 16, es...) }
	gk := byte(GroupOf([]byte("k")))
	other := keyInGroup(int(gk+1), "o") // a key of another group
	foot2 := rawFooter(2, 0, 1000, 5, 5)
	foot := rawFooter(1, 0, 1000, 5, 5)
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"no blocks":         {rawFile(1), "no footer"},
		"no footer":         {rawFile(1, put(ok)), "no footer"},
		"two footers":       {rawFile(1, put(ok), foot, foot), "footer followed"},
		"footer not last":   {rawFile(1, foot, put(ok)), "footer followed"},
		"unknown kind":      {rawFile(1, rawBlock([]byte{4, 1, 2}), foot), "unknown block kind"},
		"kind zero":         {rawFile(1, rawBlock([]byte{0}), foot), "unknown block kind"},
		"empty block":       {rawFile(1, rawBlock(nil), foot), "empty block"},
		"short footer":      {rawFile(1, put(ok), rawBlock([]byte{kindFooter, 1})), "footer payload"},
		"count too high":    {rawFile(1, rawPuts(2, 16, ok), foot), "cannot fit"},
		"count huge":        {rawFile(1, rawPuts(math.MaxUint64, 16, ok), foot), "cannot fit"},
		"count short":       {rawFile(1, rawPuts(1, 16, ok, rawEntry{key: "k", gap: 0, size: 34, seq: 5}), rawFooter(2, 0, 1000, 5, 5)), "bytes after"},
		"count zero":        {rawFile(1, rawPuts(0, 16), rawFooter(0, 0, 1000, 0, 0)), "without entries"},
		"trailing byte":     {rawFile(1, rawBlock(append(rawPuts(1, 16, ok)[8:], 0)), foot), "bytes after"},
		"empty key":         {rawFile(1, put(rawEntry{key: "", size: 34, seq: 5}), foot), "key length 0"},
		"key too long":      {rawFile(1, put(rawEntry{key: "k", keyLen: datafile.MaxKeyLen + 1, size: 34, seq: 5}), foot), "key length"},
		"key past block":    {rawFile(1, put(rawEntry{key: "k", keyLen: 40, size: 34, seq: 5}), foot), "key length"},
		"size too small":    {rawFile(1, put(rawEntry{key: "k", size: datafile.MinRecordHeaderSize, seq: 5}), foot), "record size"},
		"size too big":      {rawFile(1, put(rawEntry{key: "k", size: math.MaxUint32 + 1, seq: 5}), foot), "record size"},
		"offset in header":  {rawFile(1, rawPuts(1, 15, ok), foot), "data file header"},
		"base too big":      {rawFile(1, rawPuts(1, math.MaxUint32+1, ok), foot), "base"},
		"gap too big":       {rawFile(1, put(rawEntry{key: "k", gap: math.MaxUint32 + 1, size: 34, seq: 5}), foot), "gap"},
		"past 4 GiB":        {rawFile(1, rawPuts(1, math.MaxUint32-33, ok), rawFooter(1, 0, 1<<40, 5, 5)), "runs past"},
		"past data size":    {rawFile(1, put(ok), rawFooter(1, 0, 49, 5, 5)), "runs past"},
		"seq below min":     {rawFile(1, put(ok), rawFooter(1, 0, 1000, 6, 6)), "outside the footer"},
		"seq above max":     {rawFile(1, put(ok), rawFooter(1, 0, 1000, 4, 4)), "outside the footer"},
		"seq range loose":   {rawFile(1, put(ok), rawFooter(1, 0, 1000, 4, 6)), "footer sequence range"},
		"seq out of range":  {rawFile(1, put(rawEntry{key: "k", size: 34, seq: 1 << 63}), rawFooter(1, 0, 1000, 5, 5)), "sequence"},
		"tombstone expiry":  {rawFile(1, rawTombs(1, 16, rawEntry{key: "k", size: 34, seq: 5, expiry: 1}), rawFooter(1, 1, 1000, 5, 5)), "tombstone with expiry"},
		"entry count":       {rawFile(1, put(ok), rawFooter(2, 0, 1000, 5, 5)), "footer counts"},
		"tombstone count":   {rawFile(1, put(ok), rawFooter(1, 1, 1000, 5, 5)), "footer counts"},
		"blocks overlap":    {rawFile(1, put(ok), rawPuts(1, 49, ok), rawFooter(2, 0, 1000, 5, 5)), "overlaps"},
		"block runs past":   {append(rawFile(1, put(ok)), 200, 0, 0, 0, 0, 0, 0, 0, kindPut), "runs past the end of the file"},
		"bad varint":        {rawFile(1, rawBlock(append([]byte{kindPut, gk, 1, 16}, bytes.Repeat([]byte{0xff}, 12)...)), foot), "bad key length"},
		"truncated entry":   {rawFile(1, rawBlock(rawPuts(1, 16, ok)[8:15]), foot), ""},
		"no group byte":     {rawFile(1, rawBlock([]byte{kindPut}), foot), "group byte"},
		"no count":          {rawFile(1, rawBlock([]byte{kindPut, gk}), foot), "bad entry count"},
		"wrong group":       {rawFile(1, rawEntries(kindPut, gk+1, 1, 16, ok), foot), "not to its block's group"},
		"wrong group later": {rawFile(1, rawPuts(2, 16, ok, rawEntry{key: string(other), size: 100, seq: 5}), foot2), "not to its block's group"},
		"tombstone group 1": {rawFile(1, rawEntries(kindTombstone, 1, 1, 16, ok), rawFooter(1, 1, 1000, 5, 5)), "tombstone block with group 1"},
		"group overlaps":    {rawFile(1, put(ok), rawEntries(kindPut, gk+1, 1, 200, rawEntry{key: string(other), size: 100, seq: 5}), rawEntries(kindPut, gk+1, 1, 299, rawEntry{key: string(other), size: 100, seq: 5}), rawFooter(3, 0, 1000, 5, 5)), "previous put block of group"},
		"tombs overlap":     {rawFile(1, rawTombs(1, 16, ok), rawTombs(1, 49, ok), rawFooter(2, 2, 1000, 5, 5)), "previous tombstone block"},
		"block past EOF":    {append(rawFile(1, foot), 200, 0, 0, 0, 0, 0, 0, 0), "runs past the end"},
		"header only block": {append(rawFile(1, put(ok)), 1, 2, 3), "too few"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := openBytes(t, tc.b)
			ce := requireCorrupt(t, err)
			require.Equal(t, "x.hint", ce.Path)
			require.GreaterOrEqual(t, ce.Offset, int64(0))
			require.LessOrEqual(t, ce.Offset, int64(len(tc.b)))
			require.Contains(t, ce.Reason, tc.want)
		})
	}
}

// TestEntryEncodingV2: a version-2 entry spends no byte on a missing
// expiry (its seq's low bit says whether one follows), decodes to what was
// written, and a flagged zero expiry is corruption.
func TestEntryEncodingV2(t *testing.T) {
	e := Entry{Key: []byte("key"), Offset: 100, Size: 40, Seq: 300}
	plain := appendEntry(nil, &e, 0)
	e.Expiry = 5
	withExpiry := appendEntry(nil, &e, 0)
	require.Len(t, plain, 1+3+1+1+2, "keylen, key, gap, size, seq<<1")
	require.Len(t, withExpiry, len(plain)+1)
	for _, exp := range []int64{0, 5, -7} {
		e.Expiry = exp
		payload := []byte{kindPut, byte(GroupOf(e.Key))}
		payload = binary.AppendUvarint(payload, 1)
		payload = binary.AppendUvarint(payload, 100)
		payload = appendEntry(payload, &e, 0)
		var got []Entry
		_, _, reason := decodeBlock(payload, limits{dataSize: 1000, minSeq: 1, maxSeq: 1000}, true, func(x Entry) {
			x.Key = bytes.Clone(x.Key)
			got = append(got, x)
		})
		require.Empty(t, reason)
		require.Equal(t, []Entry{e}, got)
	}
	// seq 300 with the expiry flag, then a zero expiry.
	payload := []byte{kindPut, byte(GroupOf(e.Key))}
	payload = binary.AppendUvarint(payload, 1)
	payload = binary.AppendUvarint(payload, 100)
	payload = binary.AppendUvarint(payload, 3)
	payload = append(payload, "key"...)
	payload = binary.AppendUvarint(payload, 0)
	payload = binary.AppendUvarint(payload, 40)
	payload = binary.AppendUvarint(payload, 300<<1|1)
	payload = binary.AppendVarint(payload, 0)
	_, _, reason := decodeBlock(payload, limits{dataSize: 1000, minSeq: 1, maxSeq: 1000}, true, nil)
	require.Contains(t, reason, "zero expiry")
}
