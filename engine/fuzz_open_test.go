package engine_test

// FuzzOpenDir: Open over arbitrary directory contents.
//
// The input bytes describe a directory (see fzDecode): a handful of files
// in wal/ and last_state/ with arbitrary contents. Seeds are directories
// the engine itself produced (logs, merged files with hint files, an
// interrupted merge with its journal, the temporary files of one that did
// not commit), so the fuzzer mutates realistic files.
//
// Properties: Open never panics; it succeeds or fails with an error (the
// kind is logged: ErrCorrupt, ErrVersion or other). When it succeeds,
// every key any file of the directory mentions reads as a value, as
// ErrNotFound or (a damaged record behind an intact hint) as ErrCorrupt;
// Stats().Keys agrees with that count; a write is accepted; Compact keeps
// every read the same; Close succeeds; and the directory opens a second
// time with the same contents.
//
// Setting SIMPLEKV_FUZZ_OUTCOMES=<file> appends one line per input with its
// outcome (used to summarize a fuzz run); SIMPLEKV_WRITE_FUZZ_CORPUS=1 makes
// TestFuzzOpenDirWriteCorpus regenerate the seed-* files of
// testdata/fuzz/FuzzOpenDir.
//
// Go minimizes every new interesting input for up to -fuzzminimizetime
// (60 s by default), which with inputs of a few KiB can take a whole short
// run: use e.g. -fuzzminimizetime 1s.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/hintfile"
	"github.com/simplekv/simplekv/internal/vfs"
)

const fzDir = "/db"

// File kinds of the input format (the low 3 bits of a kind byte).
const (
	fzWALData = iota
	fzLSData
	fzLSHint
	fzJournal
	fzDataTmp
	fzHintTmp
	fzJournalTmp
	fzUnknown
	fzWALHint // wal/<id>.hint, written when a log file is sealed
	// Kinds 9 to 15 are names Open must ignore, like fzUnknown.
)

// fzKindMask selects the kind bits of a kind byte.
const fzKindMask = 0x0f

// fzRawSums in a kind byte keeps the file's checksums as they are. Without
// it they are recomputed after decoding (a no-op for an intact file), so
// that mutated contents get past them and reach the checks behind: the
// framing, the fields, the cross-file rules.
const fzRawSums = 0x80

// fzFile is one file of a decoded directory.
type fzFile struct {
	kind byte // with fzRawSums possibly set
	id   uint32
	data []byte
}

// fzIDOf maps an id byte to a file id: 255 is the largest id there is.
func fzIDOf(b byte) uint32 {
	if b == 255 {
		return math.MaxUint32
	}
	return uint32(b)
}

func (f fzFile) path() string {
	ls := filepath.Join(fzDir, "last_state")
	name := fmt.Sprintf("%012d", f.id)
	switch f.kind & fzKindMask {
	case fzWALData:
		return filepath.Join(fzDir, "wal", name+".data")
	case fzWALHint:
		return filepath.Join(fzDir, "wal", name+".hint")
	case fzLSData:
		return filepath.Join(ls, name+".data")
	case fzLSHint:
		return filepath.Join(ls, name+".hint")
	case fzJournal:
		return filepath.Join(ls, compaction.JournalName)
	case fzDataTmp:
		return filepath.Join(ls, name+".data"+compaction.TmpSuffix)
	case fzHintTmp:
		return filepath.Join(ls, name+".hint"+compaction.TmpSuffix)
	case fzJournalTmp:
		return filepath.Join(ls, compaction.JournalName+compaction.TmpSuffix)
	default:
		if f.id%2 == 0 {
			return filepath.Join(fzDir, "wal", name+".junk")
		}
		return filepath.Join(ls, name)
	}
}

// fzDecode turns fuzz input into files. Format: byte 0 is the number of
// files (mod 16); then, per file, a kind byte (low 4 bits: wal/<id>.data,
// last_state/<id>.data, last_state/<id>.hint, last_state/COMPACTION,
// <id>.data.tmp, <id>.hint.tmp, COMPACTION.tmp, a name Open must ignore,
// wal/<id>.hint, 9 to 15 names Open must ignore; bit 7: keep the checksums as they are rather than fix them), an id byte (255 = the largest id), a
// little-endian uint16 length and that many bytes (fewer if the input ends).
// A later file with the same path replaces an earlier one.
func fzDecode(in []byte) []fzFile {
	if len(in) == 0 {
		return nil
	}
	n := int(in[0] % 16)
	in = in[1:]
	var files []fzFile
	for range n {
		if len(in) < 4 {
			break
		}
		f := fzFile{kind: in[0] & (fzRawSums | fzKindMask), id: fzIDOf(in[1])}
		l := int(binary.LittleEndian.Uint16(in[2:]))
		in = in[4:]
		l = min(l, len(in))
		f.data = bytes.Clone(in[:l])
		in = in[l:]
		if f.kind&fzRawSums == 0 {
			fzFixChecksums(f.kind&fzKindMask, f.data)
		}
		files = slices.DeleteFunc(files, func(g fzFile) bool { return g.path() == f.path() })
		files = append(files, f)
	}
	return files
}

// fzEncode is the inverse of fzDecode (for seeds); files must fit its
// limits.
func fzEncode(tb testing.TB, files []fzFile) []byte {
	require.Less(tb, len(files), 16, "too many files for the fuzz input format")
	out := []byte{byte(len(files))}
	for _, f := range files {
		require.LessOrEqual(tb, len(f.data), math.MaxUint16, "file too large for the fuzz input format")
		idb := byte(f.id)
		if f.id == math.MaxUint32 {
			idb = 255
		} else {
			require.Less(tb, f.id, uint32(255), "id too large for the fuzz input format")
		}
		out = append(out, f.kind, idb)
		out = binary.LittleEndian.AppendUint16(out, uint16(len(f.data)))
		out = append(out, f.data...)
	}
	return out
}

func fzSum(b ...[]byte) uint32 {
	d := xxhash.New()
	for _, p := range b {
		_, _ = d.Write(p)
	}
	return uint32(d.Sum64())
}

// fzFixChecksums recomputes, in place, every checksum of a file of the
// given kind whose framing can be followed.
func fzFixChecksums(kind byte, b []byte) {
	le := binary.LittleEndian
	switch kind {
	case fzWALData, fzLSData, fzDataTmp:
		if len(b) < datafile.FileHeaderSize {
			return
		}
		le.PutUint32(b[12:], fzSum(b[:12]))
		v1 := le.Uint16(b[4:]) == datafile.VersionV1
		for off := int64(datafile.FileHeaderSize); off < int64(len(b)); {
			r := b[off:]
			size, ok := fzFixRecordHeader(r, v1)
			if !ok || size > uint64(len(r)) {
				return
			}
			le.PutUint32(r[0:], fzSum(r[4:size]))
			off += int64(size)
		}
	case fzLSHint, fzHintTmp, fzWALHint:
		if len(b) < 16 {
			return
		}
		le.PutUint32(b[12:], fzSum(b[:12]))
		for off := 16; len(b)-off >= 8; {
			n := int(le.Uint32(b[off:]))
			if n > len(b)-off-8 {
				return
			}
			le.PutUint32(b[off+4:], fzSum(b[off:off+4], b[off+8:off+8+n]))
			off += 8 + n
		}
	case fzJournal, fzJournalTmp:
		if len(b) >= 4 {
			le.PutUint32(b[len(b)-4:], fzSum(b[:len(b)-4]))
		}
	}
}

// fzFixRecordHeader fixes the header sum of the record at the start of r
// (version 1 or 2, as its file header says) and returns the record size
// its header claims; false if r ends inside the header.
func fzFixRecordHeader(r []byte, v1 bool) (uint64, bool) {
	le := binary.LittleEndian
	if v1 {
		if len(r) < datafile.RecordHeaderSize {
			return 0, false
		}
		le.PutUint32(r[4:], fzSum(r[8:datafile.RecordHeaderSize]))
		return datafile.RecordHeaderSize + uint64(le.Uint32(r[9:])) + uint64(le.Uint32(r[13:])), true
	}
	if len(r) < datafile.MinRecordHeaderSize {
		return 0, false
	}
	p := 7
	var lens [3]uint64
	for i := range lens {
		x, n := binary.Uvarint(r[p:])
		if n <= 0 {
			return 0, false
		}
		lens[i], p = x, p+n
	}
	if r[6]&datafile.FlagExpiry != 0 {
		p += 8
	}
	if p > len(r) || lens[0] > math.MaxUint32 || lens[1] > math.MaxUint32 {
		return 0, false
	}
	le.PutUint16(r[4:], uint16(fzSum(r[6:p])))
	return uint64(p) + lens[0] + lens[1], true
}

// fzOptions are the options of every Open of the fuzz target.
func fzOptions(fsys vfs.FS) engine.Options {
	return engine.Options{FS: fsys, SyncWrites: true, DisableAutoCompaction: true, MaxFileSize: 4096,
		MaxKeySize: datafile.MaxKeyLen}
}

// fzWrite creates the files in a new MemFS.
func fzWrite(tb testing.TB, files []fzFile) *vfs.MemFS {
	m := vfs.NewMem()
	for _, d := range []string{"wal", "last_state"} {
		require.NoError(tb, m.MkdirAll(filepath.Join(fzDir, d), 0o755))
	}
	for _, f := range files {
		w, err := m.Create(f.path())
		require.NoError(tb, err)
		_, err = w.Write(f.data)
		require.NoError(tb, err)
		require.NoError(tb, w.Sync())
		require.NoError(tb, w.Close())
	}
	for _, d := range []string{"/", fzDir, filepath.Join(fzDir, "wal"), filepath.Join(fzDir, "last_state")} {
		require.NoError(tb, m.SyncDir(d))
	}
	return m
}

// fzSerialize reads the current state of the DB directory in fsys back
// into files (LOCK excluded).
func fzSerialize(tb testing.TB, fsys *vfs.MemFS) []fzFile {
	var files []fzFile
	add := func(sub string, parse func(name string) (kind byte, id uint32, ok bool)) {
		dir := filepath.Join(fzDir, sub)
		names, err := fsys.List(dir)
		require.NoError(tb, err)
		for _, name := range names {
			kind, id, ok := parse(name)
			require.True(tb, ok, "unexpected file %s/%s", dir, name)
			files = append(files, fzFile{kind: kind, id: id, data: biMemRead(tb, fsys, filepath.Join(dir, name))})
		}
	}
	idOf := func(s string) (uint32, bool) {
		var id uint32
		_, err := fmt.Sscanf(s, "%012d", &id)
		return id, err == nil && len(s) == 12
	}
	add("wal", func(name string) (byte, uint32, bool) {
		if base, ok := strings.CutSuffix(name, ".hint"); ok {
			id, ok := idOf(base)
			return fzWALHint, id, ok
		}
		base, ok := strings.CutSuffix(name, ".data")
		id, ok2 := idOf(base)
		return fzWALData, id, ok && ok2
	})
	add("last_state", func(name string) (byte, uint32, bool) {
		switch name {
		case compaction.JournalName:
			return fzJournal, 0, true
		case compaction.JournalName + compaction.TmpSuffix:
			return fzJournalTmp, 0, true
		}
		for _, s := range []struct {
			suffix string
			kind   byte
		}{{".data.tmp", fzDataTmp}, {".hint.tmp", fzHintTmp}, {".data", fzLSData}, {".hint", fzLSHint}} {
			if base, ok := strings.CutSuffix(name, s.suffix); ok {
				id, ok := idOf(base)
				return s.kind, id, ok
			}
		}
		return 0, 0, false
	})
	return files
}

// fzWorkload writes a mix of puts (compressible and not, empty values),
// TTL puts (expired at once, and far in the future), overwrites and
// deletes. Keys are "k00".."k19" and "ttl0".."ttl2". Records are small so
// that the seeds stay a few KiB: the fuzzer mutates (and minimizes) small
// inputs much faster.
func fzWorkload(tb testing.TB, db *engine.DB, round int) {
	for i := range 24 {
		k := fmt.Appendf(nil, "k%02d", (i*7+round*3)%20)
		var v []byte
		switch i % 4 {
		case 0:
			v = bytes.Repeat([]byte("abc"), 8+i) // compressible
		case 1:
			v = fmt.Appendf(nil, "v%d.%d", i, round)
		case 2:
			v = nil
		case 3:
			v = bytes.Repeat([]byte{byte(i), byte(round)}, 6)
		}
		require.NoError(tb, db.Put(k, v))
		if i%5 == 4 {
			require.NoError(tb, db.Delete(fmt.Appendf(nil, "k%02d", (i*3+round)%20)))
		}
	}
	// A batch, so that the seeds' log files frame one.
	b := db.NewBatch()
	b.Put(fmt.Appendf(nil, "k%02d", round%20), fmt.Appendf(nil, "batch %d", round))
	b.Delete(fmt.Appendf(nil, "k%02d", (round+5)%20))
	b.Put(fmt.Appendf(nil, "b%d", round), bytes.Repeat([]byte("batch"), 10))
	require.NoError(tb, db.Write(b))
	// One TTL key expires at once; the others outlive any run of this test.
	require.NoError(tb, db.PutWithTTL([]byte("ttl0"), []byte("gone"), time.Nanosecond))
	for i := 1; i < 3; i++ {
		require.NoError(tb, db.PutWithTTL(fmt.Appendf(nil, "ttl%d", i), []byte("long"), 200*365*24*time.Hour))
	}
}

// fzRun runs body on a new DB in a MemFS, closes it and returns the
// directory's files.
func fzRun(tb testing.TB, name string, body func(db *engine.DB, m *vfs.MemFS)) []fzFile {
	m := vfs.NewMem()
	db, err := engine.Open(fzDir, fzOptions(m))
	require.NoError(tb, err, name)
	body(db, m)
	require.NoError(tb, db.Close(), name)
	return fzSerialize(tb, m)
}

// fzSeeds returns directories made by the engine, encoded in the input
// format, by name.
func fzSeeds(tb testing.TB) map[string][]byte {
	seeds := map[string][]byte{
		"no files":                          {0},
		"empty input":                       {},
		"only a journal":                    nil,
		"real":                              nil,
		"log only":                          nil,
		"merge committed":                   nil,
		"merge tmp files":                   nil,
		"torn log tail":                     nil,
		"torn log tail, older files hinted": nil,
		"two merges, more":                  nil,
	}
	run := func(name string, body func(db *engine.DB, m *vfs.MemFS)) []fzFile { return fzRun(tb, name, body) }

	real := run("real", func(db *engine.DB, _ *vfs.MemFS) {
		fzWorkload(tb, db, 0)
		require.NoError(tb, db.Compact())
		fzWorkload(tb, db, 1)
	})
	seeds["real"] = fzEncode(tb, real)

	logOnly := run("log only", func(db *engine.DB, _ *vfs.MemFS) {
		fzWorkload(tb, db, 2)
		fzWorkload(tb, db, 3)
	})
	seeds["log only"] = fzEncode(tb, logOnly)

	// As a crash leaves it: the newest log file has no hint yet and
	// ends in a torn record.
	torn := slices.DeleteFunc(slices.Clone(logOnly), func(f fzFile) bool { return f.kind == fzWALHint })
	last := torn[len(torn)-1]
	last.data = last.data[:len(last.data)-7]
	torn[len(torn)-1] = last
	seeds["torn log tail"] = fzEncode(tb, torn)
	// And with the older log files' hints kept.
	var newest uint32
	for _, f := range logOnly {
		if f.kind == fzWALData {
			newest = max(newest, f.id)
		}
	}
	tornHinted := slices.DeleteFunc(slices.Clone(logOnly), func(f fzFile) bool { return f.kind == fzWALHint && f.id == newest })
	for i, f := range tornHinted {
		if f.kind == fzWALData && f.id == newest {
			f.data = f.data[:len(f.data)-7]
			tornHinted[i] = f
		}
	}
	seeds["torn log tail, older files hinted"] = fzEncode(tb, tornHinted)

	seeds["two merges, more"] = fzEncode(tb, run("two merges", func(db *engine.DB, _ *vfs.MemFS) {
		fzWorkload(tb, db, 4)
		require.NoError(tb, db.Compact())
		fzWorkload(tb, db, 5)
		require.NoError(tb, db.Compact())
		fzWorkload(tb, db, 6)
	}))

	// A merge caught at two points: after its commit (the journal is in
	// place, the inputs not yet removed) and before it (only temporary
	// outputs). The hook serializes the live state as a crashed process
	// would leave it.
	var committed, tmps []fzFile
	run("merge", func(db *engine.DB, m *vfs.MemFS) {
		fzWorkload(tb, db, 7)
		require.NoError(tb, db.Compact())
		fzWorkload(tb, db, 8)
		m.SetOpHook(func(op vfs.MemOp) error {
			switch {
			case tmps == nil && op.Kind == vfs.OpCreate && strings.HasSuffix(op.Path, compaction.JournalName+compaction.TmpSuffix):
				tmps = fzSerialize(tb, m)
			case committed == nil && op.Kind == vfs.OpRemove && !strings.HasSuffix(op.Path, compaction.TmpSuffix):
				committed = fzSerialize(tb, m)
			}
			return nil
		})
		require.NoError(tb, db.Compact())
		m.SetOpHook(nil)
	})
	require.NotNil(tb, committed)
	require.NotNil(tb, tmps)
	seeds["merge committed"] = fzEncode(tb, committed)
	seeds["merge tmp files"] = fzEncode(tb, tmps)
	for _, f := range committed {
		if f.kind == fzJournal {
			seeds["only a journal"] = fzEncode(tb, []fzFile{f})
		}
	}
	require.NotNil(tb, seeds["only a journal"])
	return seeds
}

// fzCorpusVariants are damaged versions of the seeds, committed as the
// corpus in testdata/fuzz/FuzzOpenDir.
func fzCorpusVariants(tb testing.TB) map[string][]byte {
	seeds := fzSeeds(tb)
	real := fzDecode(seeds["real"])
	committed := fzDecode(seeds["merge committed"])
	out := map[string][]byte{}
	mutate := func(name string, files []fzFile, fn func(files []fzFile) []fzFile) {
		c := make([]fzFile, len(files))
		for i, f := range files {
			c[i] = fzFile{kind: f.kind, id: f.id, data: bytes.Clone(f.data)}
		}
		out[name] = fzEncode(tb, fn(c))
	}
	find := func(files []fzFile, kind byte) int {
		return slices.IndexFunc(files, func(f fzFile) bool { return f.kind&fzKindMask == kind })
	}
	mutate("hint-bitflip", real, func(fs []fzFile) []fzFile {
		i := find(fs, fzLSHint)
		fs[i].data[len(fs[i].data)/2] ^= 0x10
		fs[i].kind |= fzRawSums
		return fs
	})
	mutate("hint-bitflip-fixed-sums", real, func(fs []fzFile) []fzFile {
		h := fs[find(fs, fzLSHint)]
		h.data[len(h.data)/2] ^= 0x10
		return fs
	})
	mutate("merged-data-bitflip-behind-intact-hint", real, func(fs []fzFile) []fzFile {
		i := find(fs, fzLSData)
		fs[i].data[datafile.FileHeaderSize+fzFirstHeader(tb, fs[i].data).Len+1] ^= 0x01 // in the first record's key
		fs[i].kind |= fzRawSums
		return fs
	})
	mutate("wal-bitflip-fixed-sums", real, func(fs []fzFile) []fzFile {
		d := fs[find(fs, fzWALData)].data
		d[datafile.FileHeaderSize+fzSeqAt(tb, d)] ^= 0x40 // the first record's sequence number
		return fs
	})
	mutate("wal-bitflip", real, func(fs []fzFile) []fzFile {
		i := find(fs, fzWALData)
		fs[i].data[datafile.FileHeaderSize+fzSeqAt(tb, fs[i].data)] ^= 0x40
		fs[i].kind |= fzRawSums
		return fs
	})
	mutate("wal-id-mismatch", real, func(fs []fzFile) []fzFile {
		fs[find(fs, fzWALData)].id += 100
		return fs
	})
	mutate("largest-id", real, func(fs []fzFile) []fzFile {
		return append(fs, fzFile{kind: fzWALData, id: math.MaxUint32, data: datafile.EncodeFileHeader(math.MaxUint32)})
	})
	mutate("leftovers-and-unknown-names", real, func(fs []fzFile) []fzFile {
		return append(fs,
			fzFile{kind: fzDataTmp, id: 200, data: []byte("partial")},
			fzFile{kind: fzJournalTmp, data: []byte("SKVJ")},
			fzFile{kind: fzUnknown, id: 3, data: []byte("ignore me")},
			fzFile{kind: fzUnknown, id: 4, data: []byte("ignore me too")})
	})
	mutate("journal-without-outputs", committed, func(fs []fzFile) []fzFile {
		return slices.DeleteFunc(fs, func(f fzFile) bool { return f.kind&fzKindMask == fzDataTmp })
	})
	mutate("journal-version-2", committed, func(fs []fzFile) []fzFile {
		fs[find(fs, fzJournal)].data[4] = 2
		return fs
	})
	// A compacted directory: every live record is in last_state/, found
	// through the hint. Changing the last record (its checksums fixed up)
	// makes the hint disagree with the data file.
	compacted := fzRun(tb, "compacted", func(db *engine.DB, _ *vfs.MemFS) {
		fzWorkload(tb, db, 9)
		require.NoError(tb, db.Compact())
	})
	// rewrite re-encodes the last record of the merged file that
	// matches (same size, checksums correct) with change applied.
	rewrite := func(fs []fzFile, match func(h datafile.Header) bool, change func(h *datafile.Header)) []fzFile {
		d := fs[find(fs, fzLSData)].data
		var last int64 = -1
		var lh datafile.Header
		s := datafile.NewScanner(bytes.NewReader(d), "last", int64(len(d)))
		for s.Next() {
			if match(s.Header()) {
				last, lh = s.Offset(), s.Header()
			}
		}
		require.NoError(tb, s.Err())
		require.GreaterOrEqual(tb, last, int64(0), "no record to change")
		r := d[last : last+lh.Size()]
		key := bytes.Clone(r[lh.Len : lh.Len+lh.KeyLen])
		stored := bytes.Clone(r[int64(lh.Len)+int64(lh.KeyLen):])
		h := lh
		change(&h)
		rec, err := datafile.AppendEncoded(nil, h.Seq, h.Expiry, h.Flags, key, stored)
		require.NoError(tb, err)
		require.Len(tb, rec, len(r), "the change keeps the record's size")
		copy(r, rec)
		return fs
	}
	mutate("hint-disagrees-seq", compacted, func(fs []fzFile) []fzFile {
		return rewrite(fs, func(datafile.Header) bool { return true }, func(h *datafile.Header) { h.Seq ^= 1 })
	})
	mutate("hint-disagrees-expiry", compacted, func(fs []fzFile) []fzFile {
		return rewrite(fs, func(h datafile.Header) bool { return h.Expiry != 0 },
			func(h *datafile.Header) { h.Expiry = 1 }) // expired in 1970
	})
	// Log files loaded from their hints (a clean Close hints them all).
	logOnly := fzDecode(seeds["log only"])
	mutate("wal-hint-bitflip", logOnly, func(fs []fzFile) []fzFile {
		i := find(fs, fzWALHint)
		fs[i].data[len(fs[i].data)/2] ^= 0x10
		fs[i].kind |= fzRawSums
		return fs
	})
	mutate("wal-hint-bitflip-fixed-sums", logOnly, func(fs []fzFile) []fzFile {
		h := fs[find(fs, fzWALHint)]
		h.data[len(h.data)/2] ^= 0x10
		return fs
	})
	mutate("wal-data-bitflip-behind-intact-hint", logOnly, func(fs []fzFile) []fzFile {
		i := find(fs, fzWALData)
		fs[i].data[datafile.FileHeaderSize+fzFirstHeader(tb, fs[i].data).Len+1] ^= 0x01 // in the first record's key
		fs[i].kind |= fzRawSums
		return fs
	})
	mutate("wal-data-seq-changed-behind-intact-hint", logOnly, func(fs []fzFile) []fzFile {
		d := fs[find(fs, fzWALData)].data
		d[datafile.FileHeaderSize+fzSeqAt(tb, d)] ^= 0x40 // checksums fixed up
		return fs
	})
	mutate("wal-hint-orphan-and-stale", logOnly, func(fs []fzFile) []fzFile {
		h := fs[find(fs, fzWALHint)]
		// The hint of one file under the name of another, and one
		// without a data file.
		return append(fs, fzFile{kind: fzWALHint, id: h.id + 1, data: bytes.Clone(h.data)},
			fzFile{kind: fzWALHint, id: 200, data: bytes.Clone(h.data)})
	})
	mutate("journal-only-naming-its-own-outputs-as-inputs", nil, func([]fzFile) []fzFile {
		j := compaction.Journal{Inputs: []compaction.FileRef{{WAL: false, ID: 5}, {WAL: true, ID: 6}}, Outputs: []uint32{5}}
		return []fzFile{{kind: fzJournal, data: j.Encode()}}
	})
	return out
}

// fzFirstHeader is the header of the first record of data file d.
func fzFirstHeader(tb testing.TB, d []byte) datafile.Header {
	h, ok := datafile.ParseHeader(datafile.Version, d[datafile.FileHeaderSize:])
	require.True(tb, ok)
	return h
}

// fzSeqAt is where the first record's sequence number starts (a version-2
// header: checksum, header sum, flags, key and value lengths).
func fzSeqAt(tb testing.TB, d []byte) uint32 {
	h := fzFirstHeader(tb, d)
	return 7 + uint32(len(binary.AppendUvarint(nil, uint64(h.KeyLen)))+len(binary.AppendUvarint(nil, uint64(h.ValLen))))
}

// fzHintMismatch returns a description of the first entry of a hint file
// that disagrees with the record its data file holds at that place (other
// key, sequence number, expiry or kind), or "". Such a hint has valid
// checksums and the data file's size, so Open uses it; the fuzzer makes one
// by changing a record of a merged file (its checksums are fixed up).
// Found by this fuzzer (testdata/fuzz/FuzzOpenDir/e91e45b27eb4fa31 and
// cb3b06d3c22e4f86), since fixed: Open trusts the hint, and a read of such
// a record, or a merge of its file, now fails with ErrCorrupt instead of
// changing what readers see.
func fzHintMismatch(m *vfs.MemFS, files []fzFile) string {
	type fileKey struct {
		wal bool
		id  uint32
	}
	data := map[fileKey][]byte{}
	for _, f := range files {
		switch f.kind & fzKindMask {
		case fzLSData, fzDataTmp:
			data[fileKey{false, f.id}] = f.data
		case fzWALData:
			data[fileKey{true, f.id}] = f.data
		}
	}
	for _, f := range files {
		k := f.kind & fzKindMask
		if k != fzLSHint && k != fzHintTmp && k != fzWALHint {
			continue
		}
		hf, err := hintfile.Open(m, f.path())
		if err != nil {
			continue
		}
		d, ok := data[fileKey{k == fzWALHint, f.id}]
		if !ok || hf.ID() != f.id || hf.Footer().DataSize != int64(len(d)) {
			hf.Close()
			continue
		}
		var bad string
		check := func(e hintfile.Entry) {
			end := int64(e.Offset) + int64(e.Size)
			if bad != "" || end > int64(len(d)) || e.Size < datafile.MinRecordHeaderSize {
				return
			}
			v := uint16(datafile.Version)
			if len(d) >= datafile.FileHeaderSize && binary.LittleEndian.Uint16(d[4:]) == datafile.VersionV1 {
				v = datafile.VersionV1
			}
			h, ok := datafile.ParseHeader(v, d[e.Offset:end])
			if !ok {
				return // a read of it fails its checks: no value to disagree with
			}
			key := d[int64(e.Offset)+int64(h.Len) : min(end, int64(e.Offset)+int64(h.Len)+int64(h.KeyLen))]
			tomb := h.Flags&datafile.FlagTombstone != 0
			if !bytes.Equal(key, e.Key) || h.Seq != e.Seq || h.Expiry != e.Expiry || tomb != e.Tombstone || h.Size() != int64(e.Size) {
				bad = fmt.Sprintf("%s: entry %q seq %d expiry %d at %d, record %q seq %d expiry %d",
					f.path(), e.Key, e.Seq, e.Expiry, e.Offset, key, h.Seq, h.Expiry)
			}
		}
		hf.EachTombstone(check)
		for b := range hf.PutBlocks() {
			hf.EachPut(b, check)
		}
		hf.Close()
		if bad != "" {
			return bad
		}
	}
	return ""
}

// fzRead is what a Get returned, for comparisons.
func fzRead(db *engine.DB, key []byte) (string, error) {
	v, err := db.Get(key)
	switch {
	case err == nil:
		return "value " + string(v), nil
	case errors.Is(err, engine.ErrNotFound):
		return "not found", nil
	case errors.Is(err, engine.ErrCorrupt):
		return "corrupt", nil
	}
	return "", err
}

// fzUniverse returns every key that some file of the directory mentions:
// the records a scan of each file accepts and the entries of each file
// that opens as a hint file, whatever its name. expiries holds, per key,
// the expiry of every such put record or hint entry that has one.
func fzUniverse(m *vfs.MemFS, files []fzFile) (keys map[string]bool, expiries map[string][]int64) {
	keys, expiries = map[string]bool{}, map[string][]int64{}
	note := func(key []byte, expiry int64, put bool) {
		keys[string(key)] = true
		if put && expiry != 0 {
			expiries[string(key)] = append(expiries[string(key)], expiry)
		}
	}
	for _, f := range files {
		s := datafile.NewScanner(bytes.NewReader(f.data), f.path(), int64(len(f.data)))
		for s.Next() {
			h := s.Header()
			note(s.Key(), h.Expiry, h.Flags&datafile.FlagTombstone == 0)
		}
		hf, err := hintfile.Open(m, f.path())
		if err != nil {
			continue
		}
		hf.EachTombstone(func(e hintfile.Entry) { note(e.Key, 0, false) })
		for b := range hf.PutBlocks() {
			hf.EachPut(b, func(e hintfile.Entry) { note(e.Key, e.Expiry, true) })
		}
		hf.Close()
	}
	return keys, expiries
}

// fzOutcome appends a line to $SIMPLEKV_FUZZ_OUTCOMES, if set.
func fzOutcome(format string, args ...any) {
	p := os.Getenv("SIMPLEKV_FUZZ_OUTCOMES")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, format+"\n", args...)
}

// fzErrKind classifies an error of Open.
func fzErrKind(err error) string {
	switch {
	case errors.Is(err, engine.ErrCorrupt):
		return "corrupt"
	case errors.Is(err, engine.ErrVersion):
		return "version"
	}
	return "other"
}

// fzCheckDir runs every property on one directory.
func fzCheckDir(t *testing.T, files []fzFile) {
	m := fzWrite(t, files)
	keys, expiries := fzUniverse(m, files)
	mismatch := fzHintMismatch(m, files)
	if mismatch != "" {
		t.Logf("hint mismatch: %s", mismatch)
	}
	before := biMemSnapshot(t, m, fzDir)

	db, err := engine.Open(fzDir, fzOptions(m))
	if err != nil {
		require.Nil(t, db)
		kind := fzErrKind(err)
		after := biMemSnapshot(t, m, fzDir)
		delete(after, filepath.Join(fzDir, "LOCK"))
		changed := fzDiff(before, after)
		t.Logf("Open failed (%s, directory changed: %v): %v", kind, changed, err)
		fzOutcome("open-failed %s changed=%v: %s", kind, changed, fzShort(err))
		if kind == "corrupt" {
			require.Contains(t, err.Error(), fzDir+"/", "a corruption error names the file")
		}
		// A failed Open leaves the directory unlocked, and fails again
		// the same way: if it had changed the directory into one that
		// opens, it could have opened it in the first place.
		db, err2 := engine.Open(fzDir, fzOptions(m))
		if err2 == nil {
			require.NoError(t, db.Close())
		}
		require.NotErrorIs(t, err2, engine.ErrLocked, "a failed Open left the directory locked")
		require.Error(t, err2, "Open failed (%v), then the same directory opened", err)
		require.Equal(t, kind, fzErrKind(err2), "Open failed with %v, then with %v", err, err2)
		return
	}

	// Every key any file mentions reads as a value, not found, or (a
	// damaged record the hint pointed at) corrupt.
	state := map[string]string{}
	live, corrupt := 0, 0
	for k := range keys {
		r, err := fzRead(db, []byte(k))
		require.NoError(t, err, "Get %q: an error other than ErrNotFound or ErrCorrupt", k)
		has, err := db.Has([]byte(k))
		require.NoError(t, err, "Has %q", k)
		require.Equal(t, r != "not found", has, "Has %q disagrees with Get (%s)", k, r)
		state[k] = r
		if has {
			live++
		}
		if r == "corrupt" {
			corrupt++
		}
	}
	// Stats().Keys counts expired keys until a merge drops them: it lies
	// between the live keys and those plus every key not live that has an
	// expired put somewhere.
	now := time.Now().UnixNano()
	expired := 0
	for k := range keys {
		if state[k] == "not found" && slices.ContainsFunc(expiries[k], func(e int64) bool { return e <= now }) {
			expired++
		}
	}
	st := db.Stats()
	require.GreaterOrEqual(t, st.Keys, live, "Stats().Keys below the number of readable keys")
	require.LessOrEqual(t, st.Keys, live+expired, "Stats().Keys counts keys no file holds a live or expired put of")

	// The recovered DB takes writes, and Compact changes no read.
	newKey, newVal := []byte("fuzz\x00new key"), []byte("fuzz new value")
	require.NoError(t, db.Put(newKey, newVal), "a write after recovery")
	state[string(newKey)] = "value " + string(newVal)
	cerr := db.Compact()
	if cerr != nil {
		t.Logf("Compact: %v", cerr)
		require.ErrorIs(t, cerr, engine.ErrCorrupt, "Compact after recovery failed")
	}
	fzCheckState(t, db, state, "after Compact", mismatch)
	require.NoError(t, db.Close())

	// Recovery left a directory that opens again, with the same contents.
	db, err = engine.Open(fzDir, fzOptions(m))
	require.NoError(t, err, "the directory opened once but not twice")
	fzCheckState(t, db, state, "after reopening", mismatch)
	require.NoError(t, db.Close())
	fzOutcome("opened keys=%d live=%d corrupt=%d hint-mismatch=%v compact=%s", st.Keys, live, corrupt, mismatch != "", fzShort(cerr))
}

func fzCheckState(t *testing.T, db *engine.DB, want map[string]string, when, mismatch string) {
	t.Helper()
	for k, w := range want {
		r, err := fzRead(db, []byte(k))
		require.NoError(t, err, "%s: Get %q", when, k)
		require.Equal(t, w, r, "%s: Get %q changed", when, k)
	}
}

// fzDiff describes how a directory snapshot changed: the paths removed,
// added and rewritten (file names only, ids as <id>).
func fzDiff(before, after map[string]string) []string {
	var out []string
	name := func(p string) string {
		b := filepath.Base(p)
		if len(b) > 12 && strings.Trim(b[:12], "0123456789") == "" {
			b = "<id>" + b[12:]
		}
		return b
	}
	for p, v := range before {
		w, ok := after[p]
		switch {
		case !ok:
			out = append(out, "removed "+name(p))
		case w != v:
			out = append(out, "rewrote "+name(p))
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			out = append(out, "added "+name(p))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// fzShort shortens an error for the outcome log: no temp paths, no offsets.
func fzShort(err error) string {
	if err == nil {
		return "ok"
	}
	s := err.Error()
	if len(s) > 160 {
		s = s[:160]
	}
	return s
}

func FuzzOpenDir(f *testing.F) {
	seeds := fzSeeds(f)
	for _, name := range slices.Sorted(maps.Keys(seeds)) {
		f.Add(seeds[name])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fzCheckDir(t, fzDecode(in))
	})
}

// TestFuzzOpenDirSeeds checks that the seeds decode to what the engine
// wrote and open cleanly: a regression guard for the input format.
func TestFuzzOpenDirSeeds(t *testing.T) {
	seeds := fzSeeds(t)
	for name, in := range seeds {
		t.Run(name, func(t *testing.T) {
			files := fzDecode(in)
			if len(in) > 0 {
				require.Equal(t, in, fzEncode(t, files), "the input format round-trips")
			}
			m := fzWrite(t, files)
			db, err := engine.Open(fzDir, fzOptions(m))
			if name == "only a journal" {
				// A committed journal whose outputs are missing cannot
				// be finished: Open refuses it, naming the output.
				require.Error(t, err)
				require.Contains(t, err.Error(), filepath.Join(fzDir, "last_state"))
				return
			}
			require.NoError(t, err, "a directory the engine wrote opens")
			if strings.HasPrefix(name, "log only") || strings.HasPrefix(name, "torn log tail") {
				// Every hinted log file loads from its hint.
				hints := 0
				for _, f := range files {
					if f.kind == fzWALHint {
						hints++
					}
				}
				if name == "log only" {
					require.Positive(t, hints, "a clean Close hints every log file")
				}
				require.EqualValues(t, hints, db.Stats().WALHintFiles)
			}
			if name == "real" || name == "merge committed" || name == "log only" {
				for _, k := range []string{"ttl1", "ttl2"} {
					v, err := db.Get([]byte(k))
					require.NoError(t, err, k)
					require.Equal(t, "long", string(v))
				}
				_, err := db.Get([]byte("ttl0"))
				require.ErrorIs(t, err, engine.ErrNotFound)
			}
			require.NoError(t, db.Close())
		})
	}
}

// TestFuzzOpenDirWriteCorpus regenerates testdata/fuzz/FuzzOpenDir from
// fzCorpusVariants when SIMPLEKV_WRITE_FUZZ_CORPUS is set.
func TestFuzzOpenDirWriteCorpus(t *testing.T) {
	if os.Getenv("SIMPLEKV_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set SIMPLEKV_WRITE_FUZZ_CORPUS=1 to regenerate testdata/fuzz/FuzzOpenDir")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzOpenDir")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, in := range fzCorpusVariants(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", in)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644))
	}
}
