package engine_test

// Recovery tables: torn tails at every offset, corruption in older and
// newest files, unknown versions, and the semantics of a rebuilt keydir.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/internal/vfs"
)

// tornOp is one write of a scripted session: a Put, or a Delete of a key
// that exists (so it writes a tombstone).
type tornOp struct {
	key string
	val []byte
	del bool
}

func tornPut(key string, val []byte) tornOp { return tornOp{key: key, val: val} }
func tornDel(key string) tornOp             { return tornOp{key: key, del: true} }

// tornApply applies ops to the model (key -> value).
func tornApply(model map[string][]byte, ops ...tornOp) {
	for _, op := range ops {
		if op.del {
			delete(model, op.key)
		} else {
			model[op.key] = op.val
		}
	}
}

func tornCompressible(n int) []byte {
	return bytes.Repeat([]byte("compressible "), n/13+1)[:n]
}

func tornRandom(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// tornSession opens dir, runs ops, and closes it: one data file per session.
func tornSession(t *testing.T, dir string, opts engine.Options, ops ...tornOp) {
	t.Helper()
	db, err := engine.Open(dir, opts)
	require.NoError(t, err)
	for _, op := range ops {
		if op.del {
			require.NoError(t, db.Delete([]byte(op.key)))
		} else {
			require.NoError(t, db.Put([]byte(op.key), op.val))
		}
	}
	require.NoError(t, db.Close())
}

// tornDataFiles returns the data files of dir in id order.
func tornDataFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "wal", "*.data"))
	require.NoError(t, err)
	sort.Strings(names)
	return names
}

// tornRemoveWALHints removes the hint files of dir's log files.
func tornRemoveWALHints(t *testing.T, dir string) {
	t.Helper()
	hints, err := filepath.Glob(filepath.Join(dir, "wal", "*.hint"))
	require.NoError(t, err)
	for _, h := range hints {
		require.NoError(t, os.Remove(h))
	}
}

// tornRec is a record located by a scan.
type tornRec struct {
	off, end int64
	key      string
	tomb     bool
}

// tornScan returns the records of a clean data file.
func tornScan(t *testing.T, path string) []tornRec {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(t, err)
	s := datafile.NewScanner(f, path, fi.Size())
	var recs []tornRec
	for s.Next() {
		h := s.Header()
		recs = append(recs, tornRec{off: s.Offset(), end: s.Offset() + h.Size(), key: string(s.Key()),
			tomb: h.Flags&datafile.FlagTombstone != 0})
	}
	require.NoError(t, s.Err(), "scan %s", path)
	require.False(t, s.Torn(), "scan %s", path)
	require.Equal(t, fi.Size(), s.End())
	return recs
}

// tornSnapshot returns every file under dir (relative path -> contents).
func tornSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[rel] = string(b)
		}
		return nil
	}))
	return out
}

// tornCopyDir copies the tree at src to dst.
func tornCopyDir(t *testing.T, src, dst string) {
	t.Helper()
	for rel, data := range tornSnapshot(t, src) {
		p := filepath.Join(dst, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
	for _, d := range []string{"wal", "last_state"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dst, d), 0o755))
	}
}

// tornCheck asserts that db holds exactly model, reading every key of
// universe.
func tornCheck(t *testing.T, db *engine.DB, model map[string][]byte, universe []string, what string) {
	t.Helper()
	for _, k := range universe {
		got, err := db.Get([]byte(k))
		want, ok := model[k]
		if !ok {
			require.ErrorIs(t, err, engine.ErrNotFound, "%s: key %q must be absent", what, k)
			continue
		}
		require.NoError(t, err, "%s: key %q", what, k)
		require.NotNil(t, got, "%s: key %q: a nil value (an empty one must be non-nil)", what, k)
		require.Equal(t, want, got, "%s: key %q", what, k)
	}
	require.Equal(t, len(model), db.Stats().Keys, "%s: live keys", what)
}

// tornFixture is a directory with two data files written by two sessions.
type tornFixture struct {
	dir      string
	universe []string
	s1, s2   []tornOp
	older    string    // path of the session 1 file
	newest   string    // path of the session 2 file
	oldRecs  []tornRec // records of the older file
	newRecs  []tornRec // records of the newest file, one per s2 op
	newBytes []byte    // contents of the newest file
}

// tornMakeFixture writes the two sessions. The newest file ends with a
// compressible value, an empty value, a tombstone and an incompressible
// value; it also overwrites and deletes keys of the older file.
func tornMakeFixture(t *testing.T) *tornFixture {
	fx := &tornFixture{dir: filepath.Join(t.TempDir(), "base")}
	fx.s1 = []tornOp{
		tornPut("a", []byte("a-old")),
		tornPut("old1", tornRandom(1, 50)),
		tornPut("old2", []byte("old two")),
		tornPut("keep", tornCompressible(200)),
		tornPut("e1", []byte{}),
		tornPut("bin\x00\n\t\xff", []byte("binary key")),
	}
	fx.s2 = []tornOp{
		tornPut("a", []byte("a-new")),      // overwrites the older file's value
		tornDel("old1"),                    // deletes a key of the older file
		tornPut("b", tornRandom(2, 80)),    //
		tornPut("e1", []byte("not empty")), // an empty value becomes non-empty
		tornPut("comp", tornCompressible(300)),
		tornPut("e2", []byte{}),
		tornDel("old2"),
		tornPut("incomp", tornRandom(3, 150)),
	}
	tornSession(t, fx.dir, engine.Options{}, fx.s1...)
	tornSession(t, fx.dir, engine.Options{}, fx.s2...)
	// These tests are about the replay: a clean Close hinted both files,
	// and Open would load them from their hints without reading a record.
	// Without the hints, as a crash leaves the newest file, Open replays
	// (and checks) both.
	tornRemoveWALHints(t, fx.dir)
	files := tornDataFiles(t, fx.dir)
	require.Len(t, files, 2)
	fx.older, fx.newest = files[0], files[1]
	fx.oldRecs, fx.newRecs = tornScan(t, fx.older), tornScan(t, fx.newest)
	require.Len(t, fx.oldRecs, len(fx.s1))
	require.Len(t, fx.newRecs, len(fx.s2))
	for i, r := range fx.newRecs {
		require.Equal(t, fx.s2[i].key, r.key)
		require.Equal(t, fx.s2[i].del, r.tomb)
	}
	var err error
	fx.newBytes, err = os.ReadFile(fx.newest)
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, op := range append(append([]tornOp{}, fx.s1...), fx.s2...) {
		if !seen[op.key] {
			seen[op.key] = true
			fx.universe = append(fx.universe, op.key)
		}
	}
	fx.universe = append(fx.universe, "after", "never-written")
	return fx
}

// modelAt is the expected content when the newest file keeps its first cut
// bytes: the older file, plus the newest file's records that end by cut. It
// also returns the end of the last such record.
func (fx *tornFixture) modelAt(cut int64) (map[string][]byte, int64) {
	model := map[string][]byte{}
	tornApply(model, fx.s1...)
	end := int64(datafile.FileHeaderSize)
	if cut < end {
		end = 0
	}
	for i, r := range fx.newRecs {
		if r.end <= cut {
			tornApply(model, fx.s2[i])
			end = r.end
		}
	}
	return model, end
}

// TestTornTailEveryOffset cuts the newest data file at every byte offset of
// its last four records (plus the no-cut case), plain, followed by zeros
// (as after a crash that extended the size but not the data) and zero-filled
// over the rest of its length. Open must keep exactly the records that are
// whole, report the dropped bytes as torn (unless they are all zeros from a
// record boundary to a size that is a multiple of datafile.PadAlign:
// padding), truncate them, accept writes and reopen cleanly.
func TestTornTailEveryOffset(t *testing.T) {
	fx := tornMakeFixture(t)
	work := t.TempDir()
	size := int64(len(fx.newBytes))
	from := fx.newRecs[len(fx.newRecs)-4].off
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	t.Logf("newest file %s: %d bytes, %d records; cutting at every offset in [%d, %d]",
		filepath.Base(fx.newest), size, len(fx.newRecs), from, size)

	type variant struct {
		name string
		data func(cut int64) []byte
	}
	variants := []variant{
		{"cut", func(cut int64) []byte { return fx.newBytes[:cut] }},
		{"cut+zeros", func(cut int64) []byte {
			return append(bytes.Clone(fx.newBytes[:cut]), make([]byte, 1+rng.IntN(8192))...)
		}},
		{"zero-filled", func(cut int64) []byte {
			return append(bytes.Clone(fx.newBytes[:cut]), make([]byte, size-cut)...)
		}},
	}
	cases := 0
	start := time.Now()
	for _, v := range variants {
		for cut := from; cut <= size; cut++ {
			data := v.data(cut)
			// Zeros written over bytes that were zero change nothing: the
			// file is intact up to where it first differs.
			intact := cut
			for intact < size && intact < int64(len(data)) && data[intact] == fx.newBytes[intact] {
				intact++
			}
			model, end := fx.modelAt(intact)
			torn := int64(len(data)) - end
			if len(data)%datafile.PadAlign == 0 && !bytes.ContainsFunc(data[end:], func(r rune) bool { return r != 0 }) {
				// Zeros from a record boundary to an aligned end are what
				// the zero padding of synced writes looks like: cut, but not
				// counted as torn.
				torn = 0
			}
			tornRecover(t, fx, work, fmt.Sprintf("%s at %d (+%d bytes)", v.name, cut, int64(len(data))-cut),
				data, model, end, torn)
			cases++
		}
	}
	t.Logf("%d cases in %v", cases, time.Since(start).Round(time.Millisecond))
}

// TestTornTailInHeader cuts the newest file inside (or right after) its
// file header: its records are all gone and so is the file, and the older
// file's records are intact.
func TestTornTailInHeader(t *testing.T) {
	fx := tornMakeFixture(t)
	work := t.TempDir()
	for _, cut := range []int64{0, 1, 8, 15, 16, 17, 16 + 28} {
		model, end := fx.modelAt(cut)
		torn := cut - end
		if cut == 16 {
			torn = 0
		}
		tornRecover(t, fx, work, fmt.Sprintf("cut at %d", cut), fx.newBytes[:cut], model, end, torn)
	}
}

// tornRecover copies the fixture with the newest file replaced by data,
// opens it and checks the result. end is where the newest file's intact
// records end (0 or the header size: none), torn the bytes Open must drop.
func tornRecover(t *testing.T, fx *tornFixture, work, what string, data []byte, model map[string][]byte, end, torn int64) {
	t.Helper()
	dir := filepath.Join(work, "c")
	require.NoError(t, os.RemoveAll(dir))
	tornCopyDir(t, fx.dir, dir)
	newest := filepath.Join(dir, "wal", filepath.Base(fx.newest))
	require.NoError(t, os.WriteFile(newest, data, 0o644))

	db, err := engine.Open(dir, engine.Options{})
	require.NoError(t, err, "%s: open", what)
	st := db.Stats()
	require.Equal(t, torn, st.TornBytes, "%s: torn bytes", what)
	tornCheck(t, db, model, fx.universe, what)
	fi, err := os.Stat(newest)
	if end <= datafile.FileHeaderSize {
		require.ErrorIs(t, err, fs.ErrNotExist, "%s: the newest file kept no record and must be removed", what)
	} else {
		require.NoError(t, err)
		require.Equal(t, end, fi.Size(), "%s: the newest file must be truncated to its last whole record", what)
	}
	require.NoError(t, db.Put([]byte("after"), []byte(what)), "%s: write after recovery", what)
	require.NoError(t, db.Close())

	model["after"] = []byte(what)
	db, err = engine.Open(dir, engine.Options{})
	require.NoError(t, err, "%s: reopen", what)
	require.Zero(t, db.Stats().TornBytes, "%s: torn bytes after a clean reopen", what)
	tornCheck(t, db, model, fx.universe, what+", reopened")
	require.NoError(t, db.Close())
}

// tornOpenFails opens dir, which must fail with target; it returns the
// error and checks that the failed Open changed no file.
func tornOpenFails(t *testing.T, dir string, target error, what string) error {
	t.Helper()
	before := tornSnapshot(t, dir)
	db, err := engine.Open(dir, engine.Options{})
	if err == nil {
		st := db.Stats()
		_ = db.Close()
		require.Failf(t, "open succeeded", "%s: want %v; recovered %d keys from %d records, torn bytes %d",
			what, target, st.Keys, st.RecoveredRecords, st.TornBytes)
	}
	require.ErrorIs(t, err, target, "%s", what)
	require.Equal(t, before, tornSnapshot(t, dir), "%s: a failed Open must not change the directory", what)
	return err
}

// tornFlipCase damages one byte of a data file.
type tornFlipCase struct {
	name   string
	at     int64 // byte to damage
	xor    byte
	recOff int64 // offset of the damaged record (0: the file header)
}

// tornLayout is where each header field of one record starts (relative to
// the record), and where its key starts. -1: no such field. It is found by
// experiment on the record itself (flip a byte of each field, see that the
// header no longer parses as intact) rather than written down, so these
// tests follow the format.
type tornLayout struct {
	checksum, headerSum, flags, keyLen, valLen, seq, expiry int
	seqLen, key                                             int
}

// tornHeaderLayout returns the layout of record r of file b (version 2: a
// checksum, a 16-bit header sum, flags, then uvarint lengths and seq).
func tornHeaderLayout(t *testing.T, b []byte, r tornRec) tornLayout {
	t.Helper()
	rec := b[r.off:r.end]
	h, ok := datafile.ParseHeader(datafile.Version, rec)
	require.True(t, ok)
	uv := func(x uint64) int { return len(binary.AppendUvarint(nil, x)) }
	l := tornLayout{checksum: 0, headerSum: 4, flags: 6, keyLen: 7, expiry: -1}
	l.valLen = l.keyLen + uv(uint64(h.KeyLen))
	l.seq = l.valLen + uv(uint64(h.ValLen))
	l.seqLen = uv(h.Seq)
	if h.Flags&datafile.FlagExpiry != 0 {
		l.expiry = l.seq + l.seqLen
	}
	l.key = int(h.Len)
	// Every header byte counts: a flip anywhere in it breaks the header.
	for i := 4; i < l.key; i++ {
		d := bytes.Clone(rec)
		d[i] ^= 0x01
		_, ok := datafile.ParseHeader(datafile.Version, d)
		require.False(t, ok, "a flip of header byte %d of %+v goes unnoticed", i, l)
	}
	return l
}

// tornRecordFlips returns damage to each field of record r, whose stored
// value is valLen bytes. Every one must fail Open with ErrCorrupt at r.off
// when intact bytes follow or the file is not the newest.
func tornRecordFlips(l tornLayout, label string, r tornRec, valLen int) []tornFlipCase {
	at := func(p int) int64 { return r.off + int64(p) }
	c := []tornFlipCase{
		{label + " checksum", at(l.checksum), 0x5a, r.off},
		{label + " flags", at(l.flags), 0x5a, r.off},
		{label + " key length", at(l.keyLen), 0x03, r.off},
		{label + " value length", at(l.valLen), 0x03, r.off},
		{label + " seq", at(l.seq), 0x5a, r.off},
		{label + " seq high bit", at(l.seq + l.seqLen - 1), 0x80, r.off},
		{label + " key", at(l.key), 0x5a, r.off},
		// Lengths that make the record claim to run past the end of the
		// file, as a torn append would.
		{label + " key length past EOF", at(l.keyLen), 0x40, r.off},
		{label + " value length past EOF", at(l.valLen), 0x40, r.off},
	}
	if l.expiry >= 0 {
		c = append(c, tornFlipCase{label + " expiry", at(l.expiry), 0x5a, r.off})
	}
	if l.headerSum >= 0 {
		c = append(c, tornFlipCase{label + " header sum", at(l.headerSum), 0x5a, r.off})
	}
	if valLen > 0 {
		c = append(c, tornFlipCase{label + " value", r.end - int64(valLen)/2 - 1, 0x5a, r.off})
	}
	return c
}

// tornCorruptAndOpen applies flip to path in a copy of the fixture and
// checks that Open fails with ErrCorrupt naming the file and the damaged
// record's offset, without changing the directory.
func tornCorruptAndOpen(t *testing.T, fx *tornFixture, work, file string, flip tornFlipCase) {
	t.Helper()
	dir := filepath.Join(work, "c")
	require.NoError(t, os.RemoveAll(dir))
	tornCopyDir(t, fx.dir, dir)
	path := filepath.Join(dir, "wal", filepath.Base(file))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[flip.at] ^= flip.xor
	require.NoError(t, os.WriteFile(path, b, 0o644))

	err = tornOpenFails(t, dir, engine.ErrCorrupt, flip.name)
	var ce *datafile.CorruptError
	require.ErrorAs(t, err, &ce, "%s", flip.name)
	require.Equal(t, path, ce.Path, "%s: the error names the file", flip.name)
	require.Equal(t, flip.recOff, ce.Offset, "%s: the error names the damaged record's offset (%v)", flip.name, err)
	require.Contains(t, err.Error(), path, flip.name)
	require.Contains(t, err.Error(), fmt.Sprintf("offset %d", flip.recOff), flip.name)
	t.Logf("%s: %v", flip.name, err)
}

// tornValLen returns the stored value length of record r of file b.
func tornValLen(b []byte, r tornRec) int {
	h, _ := datafile.ParseHeader(datafile.Version, b[r.off:r.end])
	return int(h.ValLen)
}

// TestCorruptOlderFile damages each part of the older of two data files:
// Open must fail with ErrCorrupt naming the file and the damaged record's
// offset, and leave the directory as it was. Damage is never treated as a
// torn tail outside the newest file.
func TestCorruptOlderFile(t *testing.T) {
	fx := tornMakeFixture(t)
	work := t.TempDir()
	old, err := os.ReadFile(fx.older)
	require.NoError(t, err)
	flips := []tornFlipCase{
		{"file header magic", 0, 0x5a, 0},
		{"file header version", 4, 0x01, 0},
		{"file header reserved", 6, 0x01, 0},
		{"file header id", 8, 0x01, 0},
		{"file header checksum", 12, 0x5a, 0},
	}
	first, mid, last := fx.oldRecs[0], fx.oldRecs[len(fx.oldRecs)/2], fx.oldRecs[len(fx.oldRecs)-1]
	for _, rc := range []struct {
		label string
		r     tornRec
	}{{"first record", first}, {"middle record", mid}, {"last record", last}} {
		flips = append(flips, tornRecordFlips(tornHeaderLayout(t, old, rc.r), rc.label, rc.r, tornValLen(old, rc.r))...)
	}
	for _, flip := range flips {
		t.Run(strings.ReplaceAll(flip.name, " ", "_"), func(t *testing.T) {
			tornCorruptAndOpen(t, fx, work, fx.older, flip)
		})
	}

	t.Run("truncated_older_file", func(t *testing.T) {
		dir := filepath.Join(work, "c")
		require.NoError(t, os.RemoveAll(dir))
		tornCopyDir(t, fx.dir, dir)
		path := filepath.Join(dir, "wal", filepath.Base(fx.older))
		require.NoError(t, os.Truncate(path, last.end-3))
		err := tornOpenFails(t, dir, engine.ErrCorrupt, "truncated older file")
		var ce *datafile.CorruptError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, path, ce.Path)
		require.Equal(t, last.off, ce.Offset)
	})

	t.Run("header_names_another_id", func(t *testing.T) {
		dir := filepath.Join(work, "c")
		require.NoError(t, os.RemoveAll(dir))
		tornCopyDir(t, fx.dir, dir)
		path := filepath.Join(dir, "wal", filepath.Base(fx.older))
		b := bytes.Clone(old)
		copy(b, datafile.EncodeFileHeader(77)) // a valid header, for the wrong file
		require.NoError(t, os.WriteFile(path, b, 0o644))
		err := tornOpenFails(t, dir, engine.ErrCorrupt, "header names another id")
		var ce *datafile.CorruptError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, path, ce.Path)
		require.Equal(t, int64(0), ce.Offset)
	})
}

// TestCorruptMiddleOfNewest damages a record of the newest file that intact
// records follow: that is corruption, not a torn append, and Open must fail
// rather than truncate the intact records away.
func TestCorruptMiddleOfNewest(t *testing.T) {
	fx := tornMakeFixture(t)
	work := t.TempDir()
	r := fx.newRecs[2] // "b": a random 80-byte value, 5 records follow
	flips := tornRecordFlips(tornHeaderLayout(t, fx.newBytes, r), "record 2", r, tornValLen(fx.newBytes, r))
	flips = append(flips, tornFlipCase{"file header checksum", 12, 0x5a, 0})
	for _, flip := range flips {
		t.Run(strings.ReplaceAll(flip.name, " ", "_"), func(t *testing.T) {
			tornCorruptAndOpen(t, fx, work, fx.newest, flip)
		})
	}

	// A value that ends in zero bytes (a little-endian counter, padding)
	// can straddle a 512-byte boundary so that the bytes after the
	// boundary are all zero. A flipped bit elsewhere in that record, with
	// intact records after it, is still corruption: a sector the kernel
	// never wrote back would have zeroed the start of the next record too.
	t.Run("zero-tailed_value_across_a_sector_boundary", func(t *testing.T) {
		const boundary, zeroTail, valLen = 512, 32, 100
		// Records "pad" (seq 2) then "r" (seq 3): find the pad length
		// that makes r end zeroTail bytes past the boundary.
		rSize := datafile.RecordSize(3, 0, 1, valLen)
		h := rSize - 1 - valLen // r's header length
		padLen := 0
		for datafile.FileHeaderSize+datafile.RecordSize(2, 0, 3, padLen)+rSize < boundary+zeroTail {
			padLen++
		}
		require.Equal(t, int64(boundary+zeroTail), datafile.FileHeaderSize+datafile.RecordSize(2, 0, 3, padLen)+rSize)
		pad := tornRandom(5, padLen)
		for i := range pad {
			pad[i] |= 1
		}
		val := append(bytes.Repeat([]byte{0xab}, valLen-64), make([]byte, 64)...)
		zfx := &tornFixture{dir: filepath.Join(t.TempDir(), "base")}
		opts := engine.Options{DisableCompression: true}
		tornSession(t, zfx.dir, opts, tornPut("old", []byte("old")))
		tornSession(t, zfx.dir, opts, tornPut("pad", pad), tornPut("r", val),
			tornPut("after1", []byte("intact")), tornPut("after2", []byte("intact")))
		tornRemoveWALHints(t, zfx.dir) // replayed, as in tornMakeFixture
		files := tornDataFiles(t, zfx.dir)
		require.Len(t, files, 2)
		recs := tornScan(t, files[1])
		require.Len(t, recs, 4)
		r := recs[1]
		require.Equal(t, int64(boundary+zeroTail), r.end, "record r must end %d bytes past the boundary", zeroTail)
		tornCorruptAndOpen(t, zfx, work, files[1], tornFlipCase{"record r value", r.off + h + 5, 0x5a, r.off})
	})
}

// tornVersionHeader returns the header of file id with format version v and
// a correct checksum.
func tornVersionHeader(id uint32, v uint16) []byte {
	b := datafile.EncodeFileHeader(id)
	binary.LittleEndian.PutUint16(b[4:], v)
	binary.LittleEndian.PutUint32(b[12:], uint32(xxhash.Sum64(b[:12])))
	return b
}

// TestRecoveryUnknownVersion: a data file of an unknown format version
// (with a valid header checksum) fails Open with ErrVersion, older or
// newest, and Open changes nothing.
func TestRecoveryUnknownVersion(t *testing.T) {
	fx := tornMakeFixture(t)
	work := t.TempDir()
	for _, tc := range []struct {
		name string
		file string
		id   uint32
	}{{"older", fx.older, 1}, {"newest", fx.newest, 2}} {
		for _, v := range []uint16{0, datafile.Version + 1, 0xffff} {
			t.Run(fmt.Sprintf("%s_v%d", tc.name, v), func(t *testing.T) {
				require.Equal(t, fmt.Sprintf("%012d.data", tc.id), filepath.Base(tc.file))
				dir := filepath.Join(work, "c")
				require.NoError(t, os.RemoveAll(dir))
				tornCopyDir(t, fx.dir, dir)
				path := filepath.Join(dir, "wal", filepath.Base(tc.file))
				b, err := os.ReadFile(path)
				require.NoError(t, err)
				copy(b, tornVersionHeader(tc.id, v))
				require.NoError(t, os.WriteFile(path, b, 0o644))
				err = tornOpenFails(t, dir, engine.ErrVersion, "version")
				require.NotErrorIs(t, err, engine.ErrCorrupt)
				require.Contains(t, err.Error(), path)
				t.Logf("%v", err)
			})
		}
	}
}

// TestRecoverySemantics checks what a rebuilt keydir holds.
func TestRecoverySemantics(t *testing.T) {
	small := engine.Options{MaxFileSize: 4096, MaxKeySize: 1024, MaxValueSize: 1024, DisableCompression: true}
	reopen := func(t *testing.T, dir string, opts engine.Options) *engine.DB {
		t.Helper()
		db, err := engine.Open(dir, opts)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	get := func(t *testing.T, db *engine.DB, key string) []byte {
		t.Helper()
		v, err := db.Get([]byte(key))
		if errors.Is(err, engine.ErrNotFound) {
			return nil
		}
		require.NoError(t, err)
		return v
	}

	t.Run("newest_seq_wins_across_files", func(t *testing.T) {
		dir := t.TempDir()
		db := reopen(t, dir, small)
		for i := range 100 { // ~8 files
			require.NoError(t, db.Put([]byte("hot"), []byte(fmt.Sprintf("v%03d %0150d", i, i))))
			require.NoError(t, db.Put([]byte(fmt.Sprintf("cold%02d", i)), []byte(fmt.Sprintf("%0100d", i))))
		}
		require.NoError(t, db.Close())
		db = reopen(t, dir, small)
		require.Greater(t, db.Stats().DataFiles, 5)
		require.Equal(t, []byte(fmt.Sprintf("v099 %0150d", 99)), get(t, db, "hot"))
		require.Equal(t, 101, db.Stats().Keys)
		// A later session's write wins over every earlier file, also after
		// another reopen: recovered sequence numbers continue upwards.
		require.NoError(t, db.Put([]byte("hot"), []byte("session 2")))
		require.NoError(t, db.Put([]byte("cold00"), []byte("session 2")))
		require.NoError(t, db.Close())
		db = reopen(t, dir, small)
		require.Equal(t, []byte("session 2"), get(t, db, "hot"))
		require.Equal(t, []byte("session 2"), get(t, db, "cold00"))
		require.Equal(t, []byte(fmt.Sprintf("%0100d", 1)), get(t, db, "cold01"))
	})

	t.Run("tombstone_in_later_file", func(t *testing.T) {
		dir := t.TempDir()
		tornSession(t, dir, engine.Options{}, tornPut("x", []byte("x1")), tornPut("y", []byte("y1")), tornPut("z", []byte("z1")))
		tornSession(t, dir, engine.Options{}, tornDel("x"), tornPut("y", []byte("y2")), tornDel("y"))
		db := reopen(t, dir, engine.Options{})
		require.Nil(t, get(t, db, "x"), "a tombstone in a later file removes the key")
		require.Nil(t, get(t, db, "y"))
		require.Equal(t, []byte("z1"), get(t, db, "z"))
		require.Equal(t, 1, db.Stats().Keys)
		// The key comes back when written again, and stays after reopen
		// (its new seq is above the tombstone's).
		require.NoError(t, db.Put([]byte("x"), []byte("x3")))
		require.NoError(t, db.Close())
		db = reopen(t, dir, engine.Options{})
		require.Equal(t, []byte("x3"), get(t, db, "x"))
		require.Nil(t, get(t, db, "y"))
		require.Equal(t, 2, db.Stats().Keys)
	})

	t.Run("tombstone_has_the_highest_seq", func(t *testing.T) {
		// The newest record of the first session is a tombstone: the next
		// session's sequence numbers must continue above it.
		dir := t.TempDir()
		tornSession(t, dir, engine.Options{}, tornPut("a", []byte("1")), tornPut("b", []byte("1")), tornDel("b"))
		tornSession(t, dir, engine.Options{}, tornPut("b", []byte("2")))
		db := reopen(t, dir, engine.Options{})
		require.Equal(t, []byte("2"), get(t, db, "b"))
		require.Equal(t, []byte("1"), get(t, db, "a"))
	})

	t.Run("empty_value_is_not_a_delete", func(t *testing.T) {
		dir := t.TempDir()
		tornSession(t, dir, engine.Options{}, tornPut("empty", []byte{}), tornPut("nil", nil), tornPut("was-full", []byte("x")))
		tornSession(t, dir, engine.Options{}, tornPut("was-full", []byte{}))
		db := reopen(t, dir, engine.Options{})
		for _, k := range []string{"empty", "nil", "was-full"} {
			v, err := db.Get([]byte(k))
			require.NoError(t, err, k)
			require.NotNil(t, v, "%s: an empty value is returned as a non-nil empty slice", k)
			require.Empty(t, v, k)
			ok, err := db.Has([]byte(k))
			require.NoError(t, err)
			require.True(t, ok, k)
		}
		require.Equal(t, 3, db.Stats().Keys)
	})

	t.Run("arbitrary_key_bytes", func(t *testing.T) {
		dir := t.TempDir()
		keys := []string{"\x00", "a\x00", "a", "a\x00b", "line\nbreak", "tab\tkey", "\xff\xfe\xfd", "\xc3\x28",
			"trailing\n", " ", strings.Repeat("\x00", 300), strings.Repeat("\xff", 1000), "ключ", "k\r\n"}
		var ops []tornOp
		for i, k := range keys {
			ops = append(ops, tornPut(k, []byte(fmt.Sprintf("value %d", i))))
		}
		tornSession(t, dir, small, ops...)
		db := reopen(t, dir, small)
		for i, k := range keys {
			require.Equal(t, []byte(fmt.Sprintf("value %d", i)), get(t, db, k), "key %q", k)
		}
		require.Equal(t, len(keys), db.Stats().Keys)
		require.Nil(t, get(t, db, "\x00\x00"))
	})

	t.Run("empty_sessions", func(t *testing.T) {
		// Sessions that write nothing leave header-only files, which a
		// later Open removes; data and sequence numbers carry on.
		dir := t.TempDir()
		tornSession(t, dir, engine.Options{}, tornPut("k", []byte("1")))
		for range 3 {
			tornSession(t, dir, engine.Options{})
		}
		tornSession(t, dir, engine.Options{}, tornPut("k", []byte("2")))
		db := reopen(t, dir, engine.Options{})
		require.Equal(t, []byte("2"), get(t, db, "k"))
		require.LessOrEqual(t, db.Stats().DataFiles, 3, "header-only files are removed")
	})
}

// TestRecoverySeqOrderAcrossRotation pins down how a write that must rotate
// the active file gets its sequence number when it has to wait for a
// group-commit fsync in progress: writes that take the lock meanwhile must
// not share or exceed its sequence number, or a later overwrite of one of
// their keys can lose to the older record (live and after recovery).
//
// The MemFS op hook holds the group-commit leader inside its fsync while a
// rotating writer and two more writers queue up.
func TestRecoverySeqOrderAcrossRotation(t *testing.T) {
	fsys := vfs.NewMem()
	opts := engine.Options{FS: fsys, SyncWrites: true, MaxFileSize: 4096, MaxKeySize: 64, MaxValueSize: 2048}
	db, err := engine.Open(plDir, opts)
	require.NoError(t, err)
	defer db.Close()
	// Fill the active file to about 3000 bytes: room left for small
	// records, not for a 1500-byte one.
	for i := range 10 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("fill%d", i)), tornRandom(uint64(i), 260)))
	}
	require.Equal(t, 1, db.Stats().DataFiles)

	var (
		armed   sync.Mutex
		holding bool
		inSync  = make(chan struct{})
		release = make(chan struct{})
	)
	armed.Lock()
	holding = true
	armed.Unlock()
	fsys.SetOpHook(func(op vfs.MemOp) error {
		if op.Kind != vfs.OpSync || !strings.HasSuffix(op.Path, ".data") {
			return nil
		}
		armed.Lock()
		hold := holding
		holding = false
		armed.Unlock()
		if hold {
			close(inSync)
			<-release
		}
		return nil
	})

	var wg sync.WaitGroup
	put := func(key string, val []byte) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.Put([]byte(key), val); err != nil {
				t.Errorf("put %s: %v", key, err)
			}
		}()
	}
	waitWritten := func(n int64) {
		deadline := time.Now().Add(5 * time.Second)
		for db.Stats().BytesWritten < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	base := db.Stats().BytesWritten
	put("leader", []byte("l")) // becomes the group-commit leader; held in fsync
	<-inSync
	put("rotator", tornRandom(9, 1500)) // must rotate: waits for the fsync
	time.Sleep(50 * time.Millisecond)
	small := datafile.RecordSize(1, 0, 2, 2) // seqs stay below 128: one-byte varints
	put("y1", []byte("v1"))
	leader := datafile.RecordSize(1, 0, 6, 1)
	waitWritten(base + leader + small)
	put("y2", []byte("v1"))
	waitWritten(base + leader + 2*small)
	close(release)
	wg.Wait()

	require.NoError(t, db.Put([]byte("y2"), []byte("v2")))
	require.NoError(t, db.Put([]byte("y1"), []byte("v2")))
	for _, k := range []string{"y1", "y2"} {
		v, err := db.Get([]byte(k))
		require.NoError(t, err)
		require.Equal(t, "v2", string(v), "%s: a Put that returned nil is not visible: an older record has an equal or higher seq", k)
	}
	require.NoError(t, db.Close())
	db2, err := engine.Open(plDir, engine.Options{FS: fsys.CrashClone(nil), MaxFileSize: 4096, MaxKeySize: 64, MaxValueSize: 2048})
	require.NoError(t, err)
	defer db2.Close()
	for _, k := range []string{"y1", "y2"} {
		v, err := db2.Get([]byte(k))
		require.NoError(t, err)
		require.Equal(t, "v2", string(v), "%s after recovery", k)
	}
}
