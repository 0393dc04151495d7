package engine

import (
	"bytes"
	"errors"
	"fmt"
	mrand "math/rand"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
)

const repairDirName = "/db"

func repairOpts(fsys vfs.FS, maxFile int64) Options {
	return Options{FS: fsys, MaxFileSize: maxFile, DisableAutoCompaction: true}
}

// repairBuild writes a directory with several small log files, some of
// them compacted into last_state/ (with hint files), then more log files
// on top. Keys d000..d039 are put early in the second phase and deleted
// in later log files, so that a repair which changed the replay order of
// the log would bring them back.
func repairBuild(t *testing.T, maxFile int64) *vfs.MemFS {
	t.Helper()
	mem := vfs.NewMem()
	db, err := Open(repairDirName, repairOpts(mem, maxFile))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, uint64(maxFile)))
	val := func() []byte {
		b := make([]byte, 40+rng.IntN(80))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	put := func(format string, i int) { require.NoError(t, db.Put(fmt.Appendf(nil, format, i), val())) }
	del := func(format string, i int) { require.NoError(t, db.Delete(fmt.Appendf(nil, format, i))) }
	for i := range 80 {
		put("k%03d", i)
	}
	for i := 0; i < 80; i += 3 {
		put("k%03d", i)
	}
	for i := 0; i < 80; i += 5 {
		del("k%03d", i)
	}
	require.NoError(t, db.Compact())
	for i := range 40 {
		put("d%03d", i)
		put("k%03d", 60+i)
	}
	for i := range 20 {
		put("k%03d", i)
	}
	for i := range 40 {
		del("d%03d", i)
	}
	for i := 70; i < 80; i++ {
		del("k%03d", i)
	}
	for i := range 30 {
		put("n%03d", i)
	}
	require.NoError(t, db.Close())
	// The cases damage log files as if replayed: drop the hints Close
	// wrote (TestRepairWALHints covers hinted log files).
	names, err := mem.List(repairDirName + "/wal")
	require.NoError(t, err)
	for _, n := range names {
		if _, ok := parseHintFileName(n); ok {
			require.NoError(t, mem.Remove(repairDirName+"/wal/"+n))
		}
	}
	return mem
}

// repairRec is one record found in a clean directory.
type repairRec struct {
	path      string
	wal       bool
	off, size int64
	key       string
	seq       uint64
	tomb      bool
	value     []byte
}

func (r repairRec) end() int64 { return r.off + r.size }

// repairDataFiles lists the data files of wal/ (id order) or last_state/.
func repairDataFiles(t *testing.T, fsys vfs.FS, sub string) []string {
	t.Helper()
	names, err := fsys.List(path.Join(repairDirName, sub))
	require.NoError(t, err)
	var out []string
	for _, n := range names {
		if _, ok := parseDataFileName(n); ok {
			out = append(out, path.Join(repairDirName, sub, n))
		}
	}
	return out
}

// repairRecords scans every data file (which must be clean).
func repairRecords(t *testing.T, fsys vfs.FS) []repairRec {
	t.Helper()
	var recs []repairRec
	for _, sub := range []string{walDir, lastStateDir} {
		for _, p := range repairDataFiles(t, fsys, sub) {
			b := repairRead(t, fsys, p)
			s := datafile.NewScanner(bytes.NewReader(b), p, int64(len(b)))
			for s.Next() {
				rec, err := s.Record()
				require.NoError(t, err)
				recs = append(recs, repairRec{path: p, wal: sub == walDir, off: s.Offset(), size: s.Header().Size(),
					key: string(rec.Key), seq: rec.Seq, tomb: rec.Tombstone, value: bytes.Clone(rec.Value)})
			}
			require.NoError(t, s.Err(), p)
			require.False(t, s.Torn(), p)
		}
	}
	return recs
}

// repairExpect is what every key must read: the value of its record with
// the highest sequence number among those not lost (nil: absent).
func repairExpect(recs []repairRec, lost func(repairRec) bool) map[string][]byte {
	best := map[string]repairRec{}
	for _, r := range recs {
		if lost != nil && lost(r) {
			continue
		}
		if b, ok := best[r.key]; !ok || r.seq > b.seq {
			best[r.key] = r
		}
	}
	out := map[string][]byte{}
	for _, r := range recs {
		out[r.key] = nil
	}
	for k, r := range best {
		if !r.tomb {
			out[k] = r.value
		}
	}
	return out
}

func repairVerify(t *testing.T, db *DB, want map[string][]byte, ctx string) {
	t.Helper()
	for k, v := range want {
		got, err := db.Get([]byte(k))
		if v == nil {
			require.ErrorIs(t, err, ErrNotFound, "%s: key %s", ctx, k)
			continue
		}
		require.NoError(t, err, "%s: key %s", ctx, k)
		require.Equal(t, v, got, "%s: key %s", ctx, k)
	}
}

func repairRead(t *testing.T, fsys vfs.FS, p string) []byte {
	t.Helper()
	f, err := fsys.Open(p)
	require.NoError(t, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(t, err)
	b := make([]byte, fi.Size())
	_, err = f.ReadAt(b, 0)
	if fi.Size() > 0 {
		require.NoError(t, err)
	}
	return b
}

// repairWrite replaces file p with b, durably.
func repairWrite(t *testing.T, fsys vfs.FS, p string, b []byte) {
	t.Helper()
	require.NoError(t, fsys.Remove(p))
	f, err := fsys.Create(p)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	require.NoError(t, fsys.SyncDir(path.Dir(p)))
}

// repairSnapshot maps every file under the DB directory to its contents,
// except LOCK (empty; taking the lock creates it if a crash lost it).
func repairSnapshot(t *testing.T, fsys vfs.FS) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(dir string)
	walk = func(dir string) {
		names, err := fsys.List(dir)
		require.NoError(t, err)
		for _, n := range names {
			p := path.Join(dir, n)
			fi, err := fsys.Stat(p)
			require.NoError(t, err)
			switch {
			case fi.IsDir():
				walk(p)
			case p != path.Join(repairDirName, lockFile):
				out[p] = string(repairRead(t, fsys, p))
			}
		}
	}
	walk(repairDirName)
	return out
}

// repairPick returns a put record of file p that is the newest record of
// its key and neither the first nor the last record of the file, as near
// the middle of the file as possible (skip: that many such records first).
func repairPick(t *testing.T, recs []repairRec, p string, skip int) repairRec {
	t.Helper()
	newest := map[string]uint64{}
	var in []repairRec
	for _, r := range recs {
		newest[r.key] = max(newest[r.key], r.seq)
		if r.path == p {
			in = append(in, r)
		}
	}
	require.Greater(t, len(in), 4, p)
	mid := len(in) / 2
	for d := 0; d < len(in); d++ {
		for _, i := range []int{mid + d, mid - d} {
			if i > 0 && i < len(in)-1 && !in[i].tomb && newest[in[i].key] == in[i].seq {
				if skip == 0 {
					return in[i]
				}
				skip--
			}
		}
	}
	t.Fatalf("no live record in %s", p)
	return repairRec{}
}

// repairDamage is what a case did to the directory.
type repairDamage struct {
	path string // the damaged data file ("" for hint-only damage)
	// lost reports the records the repair must drop.
	lost func(repairRec) bool
	// ranges are the byte ranges of the damaged file the report must list.
	ranges [][2]int64
	// openOK: Open succeeds on the damaged directory (a bad hint, or damage
	// in a merged file that a valid hint hides from Open); then corruptKey,
	// if set, is a key whose Get must fail with ErrCorrupt.
	openOK     bool
	corruptKey string
	// affected is the key whose newest record was destroyed.
	affected string
	hint     bool // a hint file must be rewritten
}

// repairRanges coalesces the spans of the records in p that lost selects,
// clipped to size, plus extra ranges.
func repairRanges(recs []repairRec, p string, lost func(repairRec) bool, size int64, extra ...[2]int64) [][2]int64 {
	out := slices.Clone(extra)
	for _, r := range recs {
		if r.path != p || !lost(r) || r.off >= size {
			continue
		}
		lo, hi := r.off, min(r.end(), size)
		if n := len(out); n > 0 && out[n-1][1] == lo {
			out[n-1][1] = hi
			continue
		}
		out = append(out, [2]int64{lo, hi})
	}
	return out
}

func repairInFile(p string, lo, hi int64) func(repairRec) bool {
	return func(r repairRec) bool { return r.path == p && r.off < hi && r.end() > lo }
}

type repairCase struct {
	name    string
	maxFile int64
	damage  func(t *testing.T, mem *vfs.MemFS, recs []repairRec) repairDamage
}

// repairOlderWAL is a log file in the middle: older than the newest.
func repairOlderWAL(t *testing.T, mem *vfs.MemFS) string {
	wal := repairDataFiles(t, mem, walDir)
	require.GreaterOrEqual(t, len(wal), 3)
	return wal[len(wal)/2-1]
}

// repairFlipCase flips one byte at offset delta into a live record of the
// file chosen by file.
func repairFlipCase(name string, file func(*testing.T, *vfs.MemFS) string, delta func(repairRec) int64) repairCase {
	return repairCase{name: name, maxFile: 4096, damage: func(t *testing.T, mem *vfs.MemFS, recs []repairRec) repairDamage {
		p := file(t, mem)
		r := repairPick(t, recs, p, 0)
		b := repairRead(t, mem, p)
		b[r.off+delta(r)] ^= 0x40
		repairWrite(t, mem, p, b)
		lost := repairInFile(p, r.off, r.end())
		return repairDamage{path: p, lost: lost, affected: r.key,
			ranges: repairRanges(recs, p, lost, int64(len(b)))}
	}}
}

func repairLastState(t *testing.T, mem *vfs.MemFS) string {
	ls := repairDataFiles(t, mem, lastStateDir)
	require.NotEmpty(t, ls)
	return ls[0]
}

func repairNewestWAL(t *testing.T, mem *vfs.MemFS) string {
	wal := repairDataFiles(t, mem, walDir)
	return wal[len(wal)-1]
}

var repairCases = []repairCase{
	repairFlipCase("wal-value", repairOlderWAL, func(r repairRec) int64 { return r.size - 3 }),
	// A flipped key length: the header sum fails, the length cannot be
	// trusted, and the salvage must find the next record byte by byte.
	repairFlipCase("wal-key-length", repairOlderWAL, func(repairRec) int64 { return 10 }),
	repairFlipCase("newest-wal-mid-file", repairNewestWAL, func(r repairRec) int64 { return r.size / 2 }),
	{name: "wal-two-flips", maxFile: 4096, damage: func(t *testing.T, mem *vfs.MemFS, recs []repairRec) repairDamage {
		p := repairOlderWAL(t, mem)
		r1, r2 := repairPick(t, recs, p, 0), repairPick(t, recs, p, 2)
		b := repairRead(t, mem, p)
		b[r1.off+20] ^= 1
		b[r2.end()-1] ^= 1
		repairWrite(t, mem, p, b)
		lost := func(r repairRec) bool { return r.path == p && (r.off == r1.off || r.off == r2.off) }
		return repairDamage{path: p, lost: lost, affected: r1.key, ranges: repairRanges(recs, p, lost, int64(len(b)))}
	}},
	{name: "wal-zero-page", maxFile: 3 * 4096, damage: func(t *testing.T, mem *vfs.MemFS, recs []repairRec) repairDamage {
		wal := repairDataFiles(t, mem, walDir)
		p := wal[0]
		b := repairRead(t, mem, p)
		require.Greater(t, len(b), 2*4096+200, "the first log file must span 3 pages")
		clear(b[4096 : 2*4096])
		repairWrite(t, mem, p, b)
		lost := repairInFile(p, 4096, 2*4096)
		newest := map[string]uint64{}
		for _, r := range recs {
			newest[r.key] = max(newest[r.key], r.seq)
		}
		var affected string
		for _, r := range recs {
			if lost(r) && !r.tomb && newest[r.key] == r.seq {
				affected = r.key
				break
			}
		}
		return repairDamage{path: p, lost: lost, affected: affected, ranges: repairRanges(recs, p, lost, int64(len(b)))}
	}},
	{name: "wal-truncated", maxFile: 4096, damage: func(t *testing.T, mem *vfs.MemFS, recs []repairRec) repairDamage {
		p := repairOlderWAL(t, mem)
		r := repairPick(t, recs, p, 0)
		b := repairRead(t, mem, p)[:r.off+10]
		repairWrite(t, mem, p, b)
		lost := func(x repairRec) bool { return x.path == p && x.off >= r.off }
		return repairDamage{path: p, lost: lost, affected: r.key, ranges: repairRanges(recs, p, lost, int64(len(b)))}
	}},
	{name: "wal-garbage-inserted", maxFile: 4096, damage: func(t *testing.T, mem *vfs.MemFS, recs []repairRec) repairDamage {
		p := repairOlderWAL(t, mem)
		r := repairPick(t, recs, p, 0)
		b := repairRead(t, mem, p)
		junk := bytes.Repeat([]byte{0xa5, 0x01, 0x00, 0x7f}, 25)
		b = slices.Insert(b, int(r.end()), junk...)
		repairWrite(t, mem, p, b)
		// Nothing is lost: the salvage skips the junk and resyncs.
		return repairDamage{path: p, lost: func(repairRec) bool { return false },
			ranges: [][2]int64{{r.end(), r.end() + int64(len(junk))}}}
	}},
	{name: "wal-file-header", maxFile: 4096, damage: func(t *testing.T, mem *vfs.MemFS, recs []repairRec) repairDamage {
		p := repairOlderWAL(t, mem)
		b := repairRead(t, mem, p)
		b[9] ^= 0x02 // the file id: the header checksum fails
		repairWrite(t, mem, p, b)
		return repairDamage{path: p, lost: func(repairRec) bool { return false }, ranges: [][2]int64{{0, 16}}}
	}},
	{name: "last-state-value", maxFile: 4096, damage: func(t *testing.T, mem *vfs.MemFS, recs []repairRec) repairDamage {
		p := repairLastState(t, mem)
		r := repairPick(t, recs, p, 0)
		b := repairRead(t, mem, p)
		b[r.end()-5] ^= 0x08
		repairWrite(t, mem, p, b)
		lost := repairInFile(p, r.off, r.end())
		// Open loads last_state/ from the (intact) hint and never reads
		// the record: the damage shows only when the key is read.
		return repairDamage{path: p, lost: lost, affected: r.key, ranges: repairRanges(recs, p, lost, int64(len(b))),
			openOK: true, corruptKey: r.key, hint: true}
	}},
	{name: "last-state-value-and-hint", maxFile: 4096, damage: func(t *testing.T, mem *vfs.MemFS, recs []repairRec) repairDamage {
		p := repairLastState(t, mem)
		r := repairPick(t, recs, p, 0)
		b := repairRead(t, mem, p)
		b[r.off+40] ^= 0x08
		repairWrite(t, mem, p, b)
		h := strings.TrimSuffix(p, dataExt) + hintExt
		hb := repairRead(t, mem, h)
		hb[len(hb)/2] ^= 0x10
		repairWrite(t, mem, h, hb)
		lost := repairInFile(p, r.off, r.end())
		return repairDamage{path: p, lost: lost, affected: r.key, ranges: repairRanges(recs, p, lost, int64(len(b))), hint: true}
	}},
	{name: "last-state-truncated", maxFile: 4096, damage: func(t *testing.T, mem *vfs.MemFS, recs []repairRec) repairDamage {
		p := repairLastState(t, mem)
		r := repairPick(t, recs, p, 0)
		b := repairRead(t, mem, p)[:r.off+r.size/2]
		repairWrite(t, mem, p, b)
		lost := func(x repairRec) bool { return x.path == p && x.off >= r.off }
		// The hint no longer matches the data file's size: Open scans
		// the file and finds the torn record.
		return repairDamage{path: p, lost: lost, affected: r.key, ranges: repairRanges(recs, p, lost, int64(len(b))), hint: true}
	}},
	{name: "hint", maxFile: 4096, damage: func(t *testing.T, mem *vfs.MemFS, recs []repairRec) repairDamage {
		h := strings.TrimSuffix(repairLastState(t, mem), dataExt) + hintExt
		hb := repairRead(t, mem, h)
		hb[len(hb)/2] ^= 0x10
		repairWrite(t, mem, h, hb)
		return repairDamage{lost: func(repairRec) bool { return false }, openOK: true, hint: true}
	}},
}

// TestRepairDamage damages a directory in each way a disk can, and checks
// that Open refuses it (or, where it tolerates the damage, what it does),
// that Check reports it without changing anything, that Repair drops
// exactly the damaged records and reports the ranges, that Open then
// succeeds with every other key at its newest value, and that a second
// Repair finds nothing to do.
func TestRepairDamage(t *testing.T) {
	for _, tc := range repairCases {
		t.Run(tc.name, func(t *testing.T) {
			mem := repairBuild(t, tc.maxFile)
			recs := repairRecords(t, mem)
			opts := repairOpts(mem, tc.maxFile)
			dmg := tc.damage(t, mem, recs)

			// Open on a copy, so a successful Open changes nothing here.
			probe := mem.CrashClone(nil)
			db, err := Open(repairDirName, repairOpts(probe, tc.maxFile))
			if dmg.openOK {
				require.NoError(t, err)
				if dmg.corruptKey != "" {
					_, err := db.Get([]byte(dmg.corruptKey))
					require.ErrorIs(t, err, ErrCorrupt)
				}
				if dmg.hint && dmg.corruptKey == "" {
					require.EqualValues(t, 1, db.Stats().HintFallbacks)
				}
				require.NoError(t, db.Close())
			} else {
				require.ErrorIs(t, err, ErrCorrupt)
			}

			before := repairSnapshot(t, mem)
			check, err := Check(repairDirName, opts)
			require.NoError(t, err)
			require.True(t, check.Damaged())
			require.True(t, check.DryRun)
			require.Equal(t, before, repairSnapshot(t, mem), "Check changed the directory")

			rep, err := Repair(repairDirName, opts)
			require.NoError(t, err)
			t.Log(rep.String())
			require.True(t, rep.Damaged())
			require.Nil(t, rep.Journal)
			require.Equal(t, check.Files, rep.Files, "Check and Repair disagree")
			require.Equal(t, check.Hints, rep.Hints, "Check and Repair disagree")
			if dmg.path == "" {
				require.Empty(t, rep.Files)
			} else {
				require.Len(t, rep.Files, 1)
				fr := rep.Files[0]
				require.Equal(t, dmg.path, fr.Path)
				var got [][2]int64
				var dropped int64
				for _, d := range fr.Dropped {
					require.NotEmpty(t, d.Reason)
					got = append(got, [2]int64{d.Offset, d.Offset + d.Length})
					dropped += d.Length
				}
				require.Equal(t, dmg.ranges, got, "dropped ranges")
				require.Equal(t, dropped, rep.BytesDropped)
				kept := 0
				for _, r := range recs {
					if r.path == dmg.path && !dmg.lost(r) {
						kept++
					}
				}
				require.EqualValues(t, kept, fr.Records)
				require.EqualValues(t, kept, rep.RecordsSalvaged)
				require.False(t, fr.Removed)
				newSize := fr.Size - dropped
				if got[0][0] == 0 {
					newSize += datafile.FileHeaderSize // a new header replaces the damaged one
				}
				require.Equal(t, newSize, fr.NewSize)
			}
			if dmg.hint {
				require.Len(t, rep.Hints, 1)
				require.True(t, rep.Hints[0].Rewritten)
			} else {
				require.Empty(t, rep.Hints)
			}
			for p := range repairSnapshot(t, mem) {
				require.NotContains(t, p, compaction.TmpSuffix)
			}

			// A second Repair finds nothing and changes nothing.
			after := repairSnapshot(t, mem)
			again, err := Repair(repairDirName, opts)
			require.NoError(t, err)
			require.False(t, again.Damaged(), again.String())
			require.Equal(t, after, repairSnapshot(t, mem))

			want := repairExpect(recs, dmg.lost)
			db, err = Open(repairDirName, opts)
			require.NoError(t, err)
			require.Zero(t, db.Stats().HintFallbacks, "Repair leaves a usable hint for every merged file")
			repairVerify(t, db, want, tc.name)
			if dmg.affected != "" {
				newest := repairExpect(recs, nil)[dmg.affected]
				got, err := db.Get([]byte(dmg.affected))
				if err == nil {
					require.NotEqual(t, newest, got, "the damaged record's value survived")
				} else {
					require.ErrorIs(t, err, ErrNotFound)
				}
			}
			// Log keys deleted in newer log files stay deleted: the
			// salvaged log file keeps its place in the replay order.
			for i := range 40 {
				_, err := db.Get(fmt.Appendf(nil, "d%03d", i))
				require.ErrorIs(t, err, ErrNotFound)
			}
			require.NoError(t, db.Close())
		})
	}
}

func TestRepairUndamagedChangesNothing(t *testing.T) {
	mem := repairBuild(t, 4096)
	opts := repairOpts(mem, 4096)
	before := repairSnapshot(t, mem)
	rep, err := Repair(repairDirName, opts)
	require.NoError(t, err)
	require.False(t, rep.Damaged(), rep.String())
	require.Empty(t, rep.Notes)
	require.Greater(t, rep.FilesScanned, 4)
	require.Contains(t, rep.String(), "no damage found")
	require.Equal(t, before, repairSnapshot(t, mem))
}

// TestRepairLeavesNewestTornTail: a torn tail of the newest log file is
// what a crash leaves; Open truncates it, so Repair leaves it alone.
func TestRepairLeavesNewestTornTail(t *testing.T) {
	mem := repairBuild(t, 4096)
	opts := repairOpts(mem, 4096)
	recs := repairRecords(t, mem)
	p := repairNewestWAL(t, mem)
	r := repairPick(t, recs, p, 0)
	repairWrite(t, mem, p, repairRead(t, mem, p)[:r.off+20])
	before := repairSnapshot(t, mem)
	rep, err := Repair(repairDirName, opts)
	require.NoError(t, err)
	require.False(t, rep.Damaged(), rep.String())
	require.Len(t, rep.Notes, 1)
	require.Contains(t, rep.Notes[0], "torn tail")
	require.Equal(t, before, repairSnapshot(t, mem))
	db, err := Open(repairDirName, opts)
	require.NoError(t, err)
	repairVerify(t, db, repairExpect(recs, func(x repairRec) bool { return x.path == p && x.off >= r.off }), "torn")
	require.NoError(t, db.Close())
}

func TestRepairLocked(t *testing.T) {
	mem := repairBuild(t, 4096)
	opts := repairOpts(mem, 4096)
	db, err := Open(repairDirName, opts)
	require.NoError(t, err)
	_, err = Repair(repairDirName, opts)
	require.ErrorIs(t, err, ErrLocked)
	_, err = Check(repairDirName, opts)
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, db.Close())
	_, err = Repair(repairDirName, opts)
	require.NoError(t, err)
	_, err = Repair("/nonexistent", opts)
	require.Error(t, err)
}

// TestRepairWholeFileLost: a log file with nothing salvageable is removed.
func TestRepairWholeFileLost(t *testing.T) {
	mem := repairBuild(t, 4096)
	opts := repairOpts(mem, 4096)
	recs := repairRecords(t, mem)
	p := repairOlderWAL(t, mem)
	b := repairRead(t, mem, p)
	for i := range b {
		b[i] = 0xff
	}
	repairWrite(t, mem, p, b)
	rep, err := Repair(repairDirName, opts)
	require.NoError(t, err)
	require.Len(t, rep.Files, 1)
	require.True(t, rep.Files[0].Removed)
	require.Equal(t, [2]int64{0, 16}, [2]int64{rep.Files[0].Dropped[0].Offset, rep.Files[0].Dropped[0].Length})
	require.EqualValues(t, len(b), rep.BytesDropped)
	_, err = mem.Stat(p)
	require.Error(t, err)
	db, err := Open(repairDirName, opts)
	require.NoError(t, err)
	repairVerify(t, db, repairExpect(recs, func(x repairRec) bool { return x.path == p }), "whole file")
	require.NoError(t, db.Close())
}

// TestRepairCrashAtEveryStep cuts the power before each filesystem
// operation of a Repair (with and without torn unsynced data): running
// Repair again then succeeds and the directory opens with the same keys
// as after an uninterrupted repair.
func TestRepairCrashAtEveryStep(t *testing.T) {
	img := repairBuild(t, 4096)
	recs := repairRecords(t, img)
	// Damage a log file and a merged file (with its hint).
	pw := repairOlderWAL(t, img)
	rw := repairPick(t, recs, pw, 0)
	b := repairRead(t, img, pw)
	b[rw.off+rw.size/2] ^= 1
	repairWrite(t, img, pw, b)
	pl := repairLastState(t, img)
	rl := repairPick(t, recs, pl, 0)
	b = repairRead(t, img, pl)
	b[rl.off+rl.size/2] ^= 1
	repairWrite(t, img, pl, b)
	want := repairExpect(recs, func(x repairRec) bool {
		return (x.path == pw && x.off == rw.off) || (x.path == pl && x.off == rl.off)
	})

	count := img.CrashClone(nil)
	start := count.OpCount()
	_, err := Repair(repairDirName, repairOpts(count, 4096))
	require.NoError(t, err)
	n := count.OpCount() - start
	require.Greater(t, n, 8)
	for i := 1; i <= n; i++ {
		for _, torn := range []bool{false, true} {
			fsys := img.CrashClone(nil)
			start := fsys.OpCount()
			var crashed *vfs.MemFS
			fsys.SetOpHook(func(op vfs.MemOp) error {
				if op.Seq == start+i && crashed == nil {
					var rng *mrand.Rand
					if torn {
						rng = mrand.New(mrand.NewSource(int64(i)))
					}
					crashed = fsys.CrashClone(rng)
				}
				return nil
			})
			_, err := Repair(repairDirName, repairOpts(fsys, 4096))
			require.NoError(t, err)
			require.NotNil(t, crashed)
			ctx := fmt.Sprintf("power cut before op %d of %d (torn %v)", i, n, torn)
			opts := repairOpts(crashed, 4096)
			_, err = Repair(repairDirName, opts)
			require.NoError(t, err, ctx)
			again, err := Repair(repairDirName, opts)
			require.NoError(t, err, ctx)
			require.False(t, again.Damaged(), ctx)
			db, err := Open(repairDirName, opts)
			require.NoError(t, err, ctx)
			repairVerify(t, db, want, ctx)
			require.NoError(t, db.Close())
		}
	}
}

// repairJournalImage runs a full Compact on a copy of a built directory
// and returns the state a power cut would leave just before the first
// filesystem operation that at matches, together with the records of the
// directory before the merge.
func repairJournalImage(t *testing.T, at func(op vfs.MemOp) bool) (*vfs.MemFS, []repairRec) {
	t.Helper()
	img := repairBuild(t, 4096)
	recs := repairRecords(t, img)
	fsys := img.CrashClone(nil)
	db, err := Open(repairDirName, repairOpts(fsys, 4096))
	require.NoError(t, err)
	var crashed *vfs.MemFS
	fsys.SetOpHook(func(op vfs.MemOp) error {
		if crashed == nil && at(op) {
			crashed = fsys.CrashClone(nil)
		}
		return nil
	})
	require.NoError(t, db.Compact())
	fsys.SetOpHook(nil)
	require.NoError(t, db.Close())
	require.NotNil(t, crashed, "no such operation")
	_, err = crashed.Stat(path.Join(repairDirName, lastStateDir, compaction.JournalName))
	require.NoError(t, err, "the image must hold a committed journal")
	return crashed, recs
}

// TestRepairJournal damages the journal of a merge interrupted at each
// stage after its commit. Open fails; Repair removes the journal, keeps
// every data file that might still be needed, and says whether keys may
// have come back (only when some inputs were removed and some not).
func TestRepairJournal(t *testing.T) {
	ls := path.Join(repairDirName, lastStateDir)
	// Stages of a merge after its commit, as seen by the operation a
	// power cut comes just before.
	publishing := func() func(vfs.MemOp) bool {
		return func(op vfs.MemOp) bool {
			return op.Kind == vfs.OpRename && strings.HasSuffix(op.Path, dataExt+compaction.TmpSuffix)
		}
	}
	removingInputs := func() func(vfs.MemOp) bool {
		return func(op vfs.MemOp) bool { return op.Kind == vfs.OpRemove && strings.HasSuffix(op.Path, dataExt) }
	}
	// Inputs are removed, then wal/ is synced, then last_state/: between
	// the two syncs the log inputs are gone for good and the merged ones
	// are not.
	walInputsGone := func() func(vfs.MemOp) bool {
		removing := false
		return func(op vfs.MemOp) bool {
			removing = removing || (op.Kind == vfs.OpRemove && strings.HasSuffix(op.Path, dataExt))
			return removing && op.Kind == vfs.OpSyncDir && op.Path == ls
		}
	}
	removingJournal := func() func(vfs.MemOp) bool {
		return func(op vfs.MemOp) bool {
			return op.Kind == vfs.OpRemove && strings.HasSuffix(op.Path, compaction.JournalName)
		}
	}
	cases := []struct {
		name string
		at   func() func(vfs.MemOp) bool
		// prepare changes the image before the journal is damaged.
		prepare func(t *testing.T, mem *vfs.MemFS, j compaction.Journal)
		intact  bool // leave the journal intact (prepare breaks the merge)
		// flipID damages an input id instead of the checksum: the lists
		// read from the journal are then wrong.
		flipID  bool
		risk    bool
		exact   bool // no key may come back even though the report warns
		removed bool // merge temporaries removed
	}{
		{name: "nothing-published", at: publishing, removed: true},
		{name: "half-published", at: publishing, removed: true,
			// A process crash (not a power cut) in the middle of
			// publishing: the first output has its final names.
			prepare: func(t *testing.T, mem *vfs.MemFS, j compaction.Journal) {
				require.Greater(t, len(j.Outputs), 1)
				for _, p := range []string{lastStatePath(repairDirName, j.Outputs[0]), hintPath(repairDirName, j.Outputs[0])} {
					require.NoError(t, mem.Rename(p+compaction.TmpSuffix, p))
				}
				require.NoError(t, mem.SyncDir(ls))
			}},
		{name: "published", at: removingInputs},
		// The damaged id names no file, so the journal seems to have had
		// one input removed: Repair warns, though nothing was removed.
		{name: "published-id-flipped", at: removingInputs, flipID: true, risk: true, exact: true},
		{name: "wal-inputs-removed", at: walInputsGone, risk: true},
		{name: "inputs-removed", at: removingJournal},
		{name: "output-missing", at: removingInputs, intact: true,
			prepare: func(t *testing.T, mem *vfs.MemFS, j compaction.Journal) {
				for _, p := range []string{lastStatePath(repairDirName, j.Outputs[0]), hintPath(repairDirName, j.Outputs[0])} {
					require.NoError(t, mem.Remove(p))
				}
				require.NoError(t, mem.SyncDir(ls))
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem, recs := repairJournalImage(t, tc.at())
			opts := repairOpts(mem, 4096)
			j, found, err := compaction.ReadJournal(mem, ls)
			require.NoError(t, err)
			require.True(t, found)
			if tc.prepare != nil {
				tc.prepare(t, mem, j)
			}
			jp := path.Join(ls, compaction.JournalName)
			if !tc.intact {
				b := repairRead(t, mem, jp)
				if tc.flipID {
					b[12+5*4+3] ^= 0x04 // third byte of the fifth input's id
				} else {
					b[len(b)-1] ^= 0x04 // the checksum
				}
				repairWrite(t, mem, jp, b)
				_, err := Open(repairDirName, repairOpts(mem.CrashClone(nil), 4096))
				require.ErrorIs(t, err, ErrCorrupt)
			} else {
				_, err := Open(repairDirName, repairOpts(mem.CrashClone(nil), 4096))
				require.Error(t, err)
			}

			check, err := Check(repairDirName, opts)
			require.NoError(t, err)
			require.NotNil(t, check.Journal)
			rep, err := Repair(repairDirName, opts)
			require.NoError(t, err)
			t.Log(rep.String())
			require.Equal(t, check.Journal, rep.Journal)
			jr := rep.Journal
			require.NotNil(t, jr)
			require.True(t, jr.Readable, "a one-byte flip leaves the lists readable")
			if tc.flipID {
				require.NotEqual(t, j.Inputs, jr.Inputs)
			} else {
				require.Equal(t, j.Inputs, jr.Inputs)
			}
			require.Equal(t, j.Outputs, jr.Outputs)
			require.Equal(t, tc.risk, jr.Risk != "", jr.Risk)
			require.Equal(t, tc.removed, len(jr.Removed) > 0)
			require.Empty(t, rep.Files)
			_, err = mem.Stat(jp)
			require.Error(t, err, "the journal is removed")
			again, err := Repair(repairDirName, opts)
			require.NoError(t, err)
			require.False(t, again.Damaged(), again.String())

			db, err := Open(repairDirName, opts)
			require.NoError(t, err)
			want := repairExpect(recs, nil)
			if !tc.risk || tc.exact {
				repairVerify(t, db, want, tc.name)
			} else {
				// Every live key keeps its value; a deleted key may
				// come back, as the report warns.
				back := 0
				for k, v := range want {
					got, err := db.Get([]byte(k))
					if v != nil {
						require.NoError(t, err, k)
						require.Equal(t, v, got, k)
					} else if !errors.Is(err, ErrNotFound) {
						require.NoError(t, err, k)
						back++
					}
				}
				t.Logf("%d deleted keys came back", back)
			}
			require.NoError(t, db.Close())
		})
	}
}

// TestRepairLeavesPendingMerge: an intact journal is no damage. Even with
// an output whose data file is published and whose hint is not yet (a
// process crash inside Publish), Repair leaves everything for Open.
func TestRepairLeavesPendingMerge(t *testing.T) {
	mem, recs := repairJournalImage(t, func(op vfs.MemOp) bool {
		return op.Kind == vfs.OpRename && strings.HasSuffix(op.Path, dataExt+compaction.TmpSuffix)
	})
	ls := path.Join(repairDirName, lastStateDir)
	j, found, err := compaction.ReadJournal(mem, ls)
	require.NoError(t, err)
	require.True(t, found)
	p := lastStatePath(repairDirName, j.Outputs[0])
	require.NoError(t, mem.Rename(p+compaction.TmpSuffix, p))
	require.NoError(t, mem.SyncDir(ls))
	opts := repairOpts(mem, 4096)
	before := repairSnapshot(t, mem)
	rep, err := Repair(repairDirName, opts)
	require.NoError(t, err)
	require.False(t, rep.Damaged(), rep.String())
	require.Len(t, rep.Notes, 1)
	require.Contains(t, rep.Notes[0], "Open finishes it")
	require.Equal(t, before, repairSnapshot(t, mem))
	db, err := Open(repairDirName, opts)
	require.NoError(t, err)
	repairVerify(t, db, repairExpect(recs, nil), "pending merge")
	require.NoError(t, db.Close())
	again, err := Repair(repairDirName, opts)
	require.NoError(t, err)
	require.False(t, again.Damaged(), again.String())
	require.Empty(t, again.Notes)
}
