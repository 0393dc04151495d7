package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
	"github.com/stretchr/testify/require"
)

// Tests of the hints of sealed log files (wal/<id>.hint): written at a
// rotation, at Close and after Open replayed a file; used by Open instead
// of a replay; never needed for a key.

const whDir = "/db"

func whOpts(fsys vfs.FS) Options {
	return Options{FS: fsys, SyncWrites: true, MaxFileSize: 4096, DisableAutoCompaction: true}
}

// whWorkload writes puts (some compressible), overwrites and deletes over
// a small key space into db and model, enough for a dozen 4 KiB files.
func whWorkload(t *testing.T, db *DB, model map[string]string, seed uint64, n int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 3))
	for i := range n {
		k := fmt.Sprintf("k%03d", r.IntN(150))
		if r.IntN(5) == 0 {
			require.NoError(t, db.Delete([]byte(k)))
			delete(model, k)
			continue
		}
		v := fmt.Sprintf("%s/%d/%d/", k, seed, i)
		if r.IntN(3) == 0 {
			v += strings.Repeat("z", 50+r.IntN(100))
		} else {
			b := make([]byte, 20+r.IntN(100))
			for j := range b {
				b[j] = byte('a' + r.IntN(26))
			}
			v += string(b)
		}
		require.NoError(t, db.Put([]byte(k), []byte(v)))
		model[k] = v
	}
}

// whCheck asserts that db holds exactly model over the keys k000..k149.
func whCheck(t *testing.T, db *DB, model map[string]string, what string) {
	t.Helper()
	for i := range 150 {
		k := fmt.Sprintf("k%03d", i)
		v, err := db.Get([]byte(k))
		if want, ok := model[k]; ok {
			require.NoError(t, err, "%s: %s", what, k)
			require.Equal(t, want, string(v), "%s: %s", what, k)
		} else {
			require.ErrorIs(t, err, ErrNotFound, "%s: %s", what, k)
		}
	}
	require.Equal(t, len(model), db.Stats().Keys, what)
}

// whFiles returns the ids of the log data files and of the log hint files
// of the DB in fsys.
func whFiles(t *testing.T, fsys vfs.FS) (data, hints []uint32) {
	t.Helper()
	names, err := fsys.List(filepath.Join(whDir, walDir))
	require.NoError(t, err)
	for _, n := range names {
		if id, ok := parseDataFileName(n); ok {
			data = append(data, id)
		} else if id, ok := parseHintFileName(n); ok {
			hints = append(hints, id)
		}
	}
	return data, hints
}

// whWrite replaces (or creates) file p with b, durably.
func whWrite(t *testing.T, fsys vfs.FS, p string, b []byte) {
	t.Helper()
	if _, err := fsys.Stat(p); err == nil {
		require.NoError(t, fsys.Remove(p))
	}
	f, err := fsys.Create(p)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	require.NoError(t, fsys.SyncDir(filepath.Dir(p)))
}

// whWithRecords returns the log files among ids that hold a record (an
// empty one gets no hint: the next Open removes it).
func whWithRecords(t *testing.T, fsys vfs.FS, ids []uint32) []uint32 {
	t.Helper()
	var out []uint32
	for _, id := range ids {
		fi, err := fsys.Stat(walPath(whDir, id))
		require.NoError(t, err)
		if fi.Size() > datafile.FileHeaderSize {
			out = append(out, id)
		}
	}
	return out
}

func whRemoveHints(t *testing.T, fsys vfs.FS, ids ...uint32) {
	t.Helper()
	for _, id := range ids {
		require.NoError(t, fsys.Remove(walHintPath(whDir, id)))
	}
}

// TestWALHintsCleanReopen: after a clean Close every log file has a hint,
// and Open loads them all from their hints, replaying nothing, into the
// same keys and the same per-file accounting as a full replay.
func TestWALHintsCleanReopen(t *testing.T) {
	mem := vfs.NewMem()
	db, err := Open(whDir, whOpts(mem))
	require.NoError(t, err)
	model := map[string]string{}
	whWorkload(t, db, model, 1, 600)
	require.NoError(t, db.Close())
	data, hints := whFiles(t, mem)
	require.Greater(t, len(data), 8)
	require.Equal(t, data, hints, "every log file has its hint")

	replay := mem.CrashClone(nil)
	whRemoveHints(t, replay, hints...)

	db, err = Open(whDir, whOpts(mem))
	require.NoError(t, err)
	st := db.Stats()
	require.EqualValues(t, len(data), st.WALHintFiles)
	require.Zero(t, st.HintFallbacks)
	whCheck(t, db, model, "from hints")

	db2, err := Open(whDir, whOpts(replay))
	require.NoError(t, err)
	st2 := db2.Stats()
	require.Zero(t, st2.WALHintFiles)
	whCheck(t, db2, model, "replayed")
	require.Equal(t, st2.Files, st.Files, "per-file accounting from hints equals a replay's")
	require.Equal(t, st2.ReclaimableBytes, st.ReclaimableBytes)
	require.Equal(t, st2.DiskBytes, st.DiskBytes)

	// Both take writes and merge alike.
	for _, d := range []*DB{db, db2} {
		require.NoError(t, d.Put([]byte("k000"), []byte("after")))
		require.NoError(t, d.Compact())
	}
	model["k000"] = "after"
	whCheck(t, db, model, "from hints, compacted")
	whCheck(t, db2, model, "replayed, compacted")
	require.NoError(t, db.Close())
	require.NoError(t, db2.Close())
	data, hints = whFiles(t, mem)
	require.Equal(t, whWithRecords(t, mem, data), hints,
		"a merge removes the hints of the log files it consumed; Close hints the active file unless it is empty")
}

// TestWALHintsCrashReplaysNewest: a crash (no Close) leaves every log file
// but the active one hinted; Open replays only that one, and hints it.
func TestWALHintsCrashReplaysNewest(t *testing.T) {
	mem := vfs.NewMem()
	db, err := Open(whDir, whOpts(mem))
	require.NoError(t, err)
	defer db.Close()
	model := map[string]string{}
	whWorkload(t, db, model, 2, 600)
	img := mem.CrashClone(nil)
	data, hints := whFiles(t, img)
	require.Greater(t, len(data), 8)
	require.Equal(t, data[:len(data)-1], hints, "every sealed file is hinted, the active one is not")
	active := data[len(data)-1]

	db2, err := Open(whDir, whOpts(img))
	require.NoError(t, err)
	st := db2.Stats()
	require.EqualValues(t, len(data)-1, st.WALHintFiles)
	whCheck(t, db2, model, "after the crash")
	_, hints = whFiles(t, img)
	require.Contains(t, hints, active, "Open hints the file it replayed")
	require.NoError(t, db2.Close())

	data, _ = whFiles(t, img)
	withRecords := whWithRecords(t, img, data)
	db3, err := Open(whDir, whOpts(img))
	require.NoError(t, err)
	require.EqualValues(t, len(withRecords), db3.Stats().WALHintFiles, "nothing replayed after a clean Close")
	whCheck(t, db3, model, "reopened")
	require.NoError(t, db3.Close())
}

// TestWALHintsUnusable: a hint that is damaged, truncated, describes
// another size of its file or names another file costs a replay of its
// file, never a key; Open then replaces it, and removes a hint whose data
// file is gone.
func TestWALHintsUnusable(t *testing.T) {
	damage := map[string]func(t *testing.T, fsys vfs.FS, id, other uint32){
		"bit flip": func(t *testing.T, fsys vfs.FS, id, _ uint32) {
			b := repairRead(t, fsys, walHintPath(whDir, id))
			b[len(b)/2] ^= 0x08
			whWrite(t, fsys, walHintPath(whDir, id), b)
		},
		"truncated": func(t *testing.T, fsys vfs.FS, id, _ uint32) {
			b := repairRead(t, fsys, walHintPath(whDir, id))
			whWrite(t, fsys, walHintPath(whDir, id), b[:len(b)-9])
		},
		"another file's hint": func(t *testing.T, fsys vfs.FS, id, other uint32) {
			whWrite(t, fsys, walHintPath(whDir, id), repairRead(t, fsys, walHintPath(whDir, other)))
		},
		"data file grew": func(t *testing.T, fsys vfs.FS, id, _ uint32) {
			// A torn append after the hint: the sizes disagree.
			p := walPath(whDir, id)
			whWrite(t, fsys, p, append(repairRead(t, fsys, p), 0x01, 0x02, 0x03))
		},
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			mem := vfs.NewMem()
			db, err := Open(whDir, whOpts(mem))
			require.NoError(t, err)
			model := map[string]string{}
			whWorkload(t, db, model, 3, 500)
			require.NoError(t, db.Close())
			data, _ := whFiles(t, mem)
			// The newest file, for "data file grew": a torn tail
			// anywhere else is damage, not a crash.
			victim, other := data[len(data)-1], data[0]
			fn(t, mem, victim, other)
			// And an orphan: the hint of a file that is gone.
			whWrite(t, mem, walHintPath(whDir, 900), repairRead(t, mem, walHintPath(whDir, other)))

			db, err = Open(whDir, whOpts(mem))
			require.NoError(t, err)
			st := db.Stats()
			require.EqualValues(t, 1, st.HintFallbacks)
			require.EqualValues(t, len(data)-1, st.WALHintFiles)
			whCheck(t, db, model, "after the fallback")
			require.NoError(t, db.Close())
			_, hints := whFiles(t, mem)
			require.NotContains(t, hints, uint32(900), "the orphan hint is removed")
			newData, _ := whFiles(t, mem)

			withRecords := whWithRecords(t, mem, newData)
			db, err = Open(whDir, whOpts(mem))
			require.NoError(t, err)
			st = db.Stats()
			require.Zero(t, st.HintFallbacks, "the replayed file got a new hint")
			require.EqualValues(t, len(withRecords), st.WALHintFiles)
			whCheck(t, db, model, "reopened")
			require.NoError(t, db.Close())
		})
	}
}

// TestWALHintsFailedOpenKeepsStaleHints: an Open that fails leaves the
// hints it could not use in place.
func TestWALHintsFailedOpenKeepsStaleHints(t *testing.T) {
	mem := vfs.NewMem()
	db, err := Open(whDir, whOpts(mem))
	require.NoError(t, err)
	whWorkload(t, db, map[string]string{}, 4, 300)
	require.NoError(t, db.Close())
	data, _ := whFiles(t, mem)
	require.Greater(t, len(data), 2)
	// The first file: a flipped bit in a record and a damaged hint, so
	// Open replays it and finds the corruption.
	p := walPath(whDir, data[0])
	b := repairRead(t, mem, p)
	b[40] ^= 0x10
	whWrite(t, mem, p, b)
	h := repairRead(t, mem, walHintPath(whDir, data[0]))
	h[len(h)/2] ^= 0x08
	whWrite(t, mem, walHintPath(whDir, data[0]), h)
	before := repairSnapshot(t, mem)
	_, err = Open(whDir, whOpts(mem))
	require.ErrorIs(t, err, ErrCorrupt)
	after := repairSnapshot(t, mem)
	require.Equal(t, before, after, "a failed Open changed the directory")
}

// TestWALHintsAcrossFiles: a tombstone or a newer put wins whichever of
// the two files holding the key is loaded from its hint and which is
// replayed.
func TestWALHintsAcrossFiles(t *testing.T) {
	type op struct{ del bool }
	cases := map[string][2]op{"put then delete": {{}, {del: true}}, "delete then put": {{del: true}, {}}, "put then put": {{}, {}}}
	for name, ops := range cases {
		for hinted := range 4 { // bit 0: older file keeps its hint, bit 1: newer
			t.Run(fmt.Sprintf("%s/hinted=%02b", name, hinted), func(t *testing.T) {
				mem := vfs.NewMem()
				want := map[string]string{}
				for s, o := range ops {
					db, err := Open(whDir, whOpts(mem))
					require.NoError(t, err)
					if s == 0 || !o.del {
						// The key exists before a delete.
						v := fmt.Sprintf("v%d", s)
						require.NoError(t, db.Put([]byte("k001"), []byte(v)))
						want["k001"] = v
					}
					if o.del {
						require.NoError(t, db.Delete([]byte("k001")))
						delete(want, "k001")
					}
					k := fmt.Sprintf("k%03d", 10+s)
					require.NoError(t, db.Put([]byte(k), []byte("other")))
					want[k] = "other"
					require.NoError(t, db.Close())
				}
				data, hints := whFiles(t, mem)
				require.Len(t, data, 2)
				require.Equal(t, data, hints)
				for i, id := range data {
					if hinted&(1<<i) == 0 {
						whRemoveHints(t, mem, id)
					}
				}
				db, err := Open(whDir, whOpts(mem))
				require.NoError(t, err)
				whCheck(t, db, want, "reopened")
				require.NoError(t, db.Close())
			})
		}
	}
}

// TestWALHintsBackgroundRacesMerges: hints written in the background (as
// outside tests) while writers rotate files and merges consume them: no
// hint outlives its data file, none is wrong, and a reopen loads what was
// written. Meant for -race.
func TestWALHintsBackgroundRacesMerges(t *testing.T) {
	hintsInline = false
	defer func() { hintsInline = true }()
	dir := t.TempDir()
	opts := Options{MaxFileSize: 8 << 10, DisableAutoCompaction: true}
	db, err := Open(dir, opts)
	require.NoError(t, err)
	const writers, perWriter = 2, 1500
	var wg sync.WaitGroup
	var werr error
	var mu sync.Mutex
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				k := fmt.Appendf(nil, "w%d-%03d", w, i%300)
				if err := db.Put(k, bytes.Repeat(fmt.Appendf(nil, "%d.", i), 10)); err != nil {
					mu.Lock()
					werr = errors.Join(werr, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	merges := 0
	for stop := false; !stop && merges < 200; merges++ {
		select {
		case <-done:
			stop = true
		default:
		}
		require.NoError(t, db.Compact())
	}
	<-done
	require.NoError(t, werr)
	require.NoError(t, db.Close())

	osfs := vfs.Default
	names, err := osfs.List(filepath.Join(dir, walDir))
	require.NoError(t, err)
	data := map[uint32]bool{}
	withRecords := 0
	for _, n := range names {
		if id, ok := parseDataFileName(n); ok {
			data[id] = true
			fi, err := osfs.Stat(filepath.Join(dir, walDir, n))
			require.NoError(t, err)
			if fi.Size() > datafile.FileHeaderSize {
				withRecords++
			}
		}
	}
	for _, n := range names {
		if id, ok := parseHintFileName(n); ok {
			require.True(t, data[id], "hint %s outlived its data file", n)
		}
	}
	db, err = Open(dir, opts)
	require.NoError(t, err)
	defer db.Close()
	require.Zero(t, db.Stats().HintFallbacks)
	require.EqualValues(t, withRecords, db.Stats().WALHintFiles)
	for w := range writers {
		for j := range 300 {
			i := perWriter - 300 + j
			v, err := db.Get(fmt.Appendf(nil, "w%d-%03d", w, i%300))
			require.NoError(t, err)
			require.Equal(t, bytes.Repeat(fmt.Appendf(nil, "%d.", i), 10), v)
		}
	}
}

// TestRepairWALHints: damage in a log file behind its intact hint is not
// seen by Open (as for a merged file: a read of the damaged record fails
// with ErrCorrupt); Check finds it, and Repair salvages the file and
// writes its hint again from the salvaged records. A damaged log hint is
// rewritten.
func TestRepairWALHints(t *testing.T) {
	mem := vfs.NewMem()
	opts := whOpts(mem)
	db, err := Open(whDir, opts)
	require.NoError(t, err)
	model := map[string]string{}
	whWorkload(t, db, model, 5, 500)
	require.NoError(t, db.Close())
	data, _ := whFiles(t, mem)
	require.Greater(t, len(data), 4)
	victim := walPath(whDir, data[1])
	b := repairRead(t, mem, victim)
	b[len(b)/2] ^= 0x20
	whWrite(t, mem, victim, b)
	badHint := walHintPath(whDir, data[2])
	h := repairRead(t, mem, badHint)
	h[len(h)/2] ^= 0x20
	whWrite(t, mem, badHint, h)

	probe := mem.CrashClone(nil)
	db, err = Open(whDir, whOpts(probe))
	require.NoError(t, err, "Open trusts an intact hint")
	require.EqualValues(t, len(data)-1, db.Stats().WALHintFiles)
	require.NoError(t, db.Close())

	before := repairSnapshot(t, mem)
	check, err := Check(whDir, opts)
	require.NoError(t, err)
	require.Equal(t, before, repairSnapshot(t, mem), "Check changed the directory")
	rep, err := Repair(whDir, opts)
	require.NoError(t, err)
	t.Log(rep.String())
	require.Equal(t, check.Files, rep.Files)
	require.Equal(t, check.Hints, rep.Hints)
	require.Len(t, rep.Files, 1)
	require.Equal(t, victim, rep.Files[0].Path)
	var hinted []string
	for _, hr := range rep.Hints {
		require.True(t, hr.Rewritten, hr.Path)
		hinted = append(hinted, hr.Path)
	}
	require.ElementsMatch(t, []string{walHintPath(whDir, data[1]), badHint}, hinted)

	again, err := Repair(whDir, opts)
	require.NoError(t, err)
	require.False(t, again.Damaged(), again.String())

	db, err = Open(whDir, opts)
	require.NoError(t, err)
	defer db.Close()
	st := db.Stats()
	require.Zero(t, st.HintFallbacks, "Repair left every hint usable")
	require.EqualValues(t, len(data), st.WALHintFiles)
	// Only the key of the dropped record may read otherwise (an older
	// value, or none); nothing reads as corrupt.
	differ := 0
	for i := range 150 {
		k := fmt.Sprintf("k%03d", i)
		v, err := db.Get([]byte(k))
		if err != nil {
			require.ErrorIs(t, err, ErrNotFound, k)
		}
		if want, ok := model[k]; ok != (err == nil) || string(v) != want {
			differ++
		}
	}
	require.LessOrEqual(t, differ, 1, "only the key of the one dropped record may differ")
}
