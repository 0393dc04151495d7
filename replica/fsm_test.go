package replica

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/internal/vfs"
)

func openFSM(t *testing.T, dir string) *FSM {
	t.Helper()
	f, err := OpenFSM(dir, engine.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func cmd(index uint64, ops ...Op) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: encodeCommand(ops)}
}

func put(k, v string) Op { return Op{Kind: OpPut, Key: []byte(k), Value: []byte(v)} }
func del(k string) Op    { return Op{Kind: OpDelete, Key: []byte(k)} }
func add(k string) Op    { return Op{Kind: OpAddIfAbsent, Key: []byte(k), Value: []byte("1")} }

// contents is every user key and value of f.
func contents(t *testing.T, f *FSM) map[string]string {
	t.Helper()
	m := map[string]string{}
	require.NoError(t, f.scan(nil, func(k, v []byte) bool { m[string(k)] = string(v); return true }))
	return m
}

func TestReplayAfterRestartIsSkipped(t *testing.T) {
	dir := t.TempDir()
	f := openFSM(t, dir)
	logs := []*raft.Log{cmd(1, put("a", "1")), cmd(2, put("b", "1")), cmd(3, del("a")), cmd(4, put("b", "2"))}
	f.ApplyBatch(logs[:2])
	f.ApplyBatch(logs[2:])
	require.Equal(t, uint64(4), f.Applied())
	require.NoError(t, f.Close())

	f = openFSM(t, dir)
	require.Equal(t, uint64(4), f.Applied())
	// raft replays from its snapshot: entries 1..4 again, then 5. Had 1
	// been applied again, "a" would be back.
	f.ApplyBatch(append(logs, cmd(5, put("c", "1"))))
	require.Equal(t, map[string]string{"b": "2", "c": "1"}, contents(t, f))
	require.Equal(t, uint64(5), f.Applied())
}

func TestAddIfAbsentSeesEarlierEntriesOfItsBatch(t *testing.T) {
	f := openFSM(t, t.TempDir())
	resp := f.ApplyBatch([]*raft.Log{
		cmd(1, add("x")),           // absent
		cmd(2, add("x")),           // present: entry 1 added it
		cmd(3, del("x"), add("x")), // deleted, then absent again
		cmd(4, put("y", "v"), add("y")),
	})
	var got []bool
	for _, r := range resp {
		res := r.(*Result)
		got = append(got, res.Existed[len(res.Existed)-1])
	}
	require.Equal(t, []bool{false, true, false, true}, got)
	require.Equal(t, map[string]string{"x": "1", "y": "v"}, contents(t, f))
}

func TestBadEntryAppliesNothing(t *testing.T) {
	f := openFSM(t, t.TempDir())
	big := make([]byte, engine.DefaultMaxKeySize) // one byte too long with the prefix
	resp := f.ApplyBatch([]*raft.Log{
		{Index: 1, Type: raft.LogCommand, Data: []byte{7, 7}},
		cmd(2, put("ok", "1"), Op{Kind: OpPut, Key: big}),
		cmd(3, put("fine", "1")),
	})
	require.ErrorIs(t, resp[0].(error), ErrBadCommand)
	require.ErrorIs(t, resp[1].(error), engine.ErrKeyTooLarge)
	require.IsType(t, &Result{}, resp[2])
	require.Equal(t, map[string]string{"fine": "1"}, contents(t, f))
	require.Equal(t, uint64(3), f.Applied())
}

// TestGroupAnswersEachCommand: the commands of a group entry are refused
// or applied each on its own, in order, as if they were entries.
func TestGroupAnswersEachCommand(t *testing.T) {
	f := openFSM(t, t.TempDir())
	big := make([]byte, engine.DefaultMaxKeySize)
	group := func(index uint64, cmds ...[]byte) *raft.Log {
		return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: encodeGroup(cmds)}
	}
	resp := f.ApplyBatch([]*raft.Log{
		group(1,
			encodeCommand([]Op{add("x")}), // absent
			[]byte{7, 7},                  // malformed
			encodeCommand([]Op{add("x")}), // present: the first added it
			encodeCommand([]Op{put("half", "1"), {Kind: OpPut, Key: big}}), // too long: none of it
			encodeCommand([]Op{del("x"), put("y", "2")})),
		cmd(2, add("y")),
		{Index: 3, Type: raft.LogCommand, Data: []byte{groupVersion, 1, 9}}, // a group that does not split
	})
	each := resp[0].(*GroupResponse).Each
	require.Len(t, each, 5)
	require.Equal(t, []bool{false}, each[0].(*Result).Existed)
	require.ErrorIs(t, each[1].(error), ErrBadCommand)
	require.Equal(t, []bool{true}, each[2].(*Result).Existed)
	require.ErrorIs(t, each[3].(error), engine.ErrKeyTooLarge)
	require.IsType(t, &Result{}, each[4])
	require.Equal(t, []bool{true}, resp[1].(*Result).Existed)
	require.ErrorIs(t, resp[2].(error), ErrBadCommand)
	require.Equal(t, map[string]string{"y": "2"}, contents(t, f))
	require.Equal(t, uint64(3), f.Applied())

	// A group past the size limit is refused whole, before any of it is
	// decoded, so that no write can exceed engine.MaxBatchSize.
	huge := encodeGroup([][]byte{encodeCommand([]Op{put("z", "1")}), make([]byte, maxCommandSize)})
	resp = f.ApplyBatch([]*raft.Log{{Index: 4, Type: raft.LogCommand, Data: huge}})
	require.ErrorIs(t, resp[0].(error), engine.ErrBatchTooLarge)
	require.Equal(t, map[string]string{"y": "2"}, contents(t, f))
	require.Equal(t, uint64(4), f.Applied())
}

func TestSnapshotRestore(t *testing.T) {
	src := openFSM(t, t.TempDir())
	src.ApplyBatch([]*raft.Log{cmd(1, put("a", "1"), put("b", "2")), cmd(2, del("b"))})
	snap, err := src.Snapshot()
	require.NoError(t, err)
	store := raft.NewInmemSnapshotStore()
	sink, err := store.Create(raft.SnapshotVersionMax, 2, 1, raft.Configuration{}, 1, nil)
	require.NoError(t, err)
	// Applies go on while the copy is made; it may hold them, and its
	// applied index says which it holds.
	src.ApplyBatch([]*raft.Log{cmd(3, put("c", "3"))})
	require.NoError(t, snap.(*fsmSnapshot).Persist(sink))
	snap.Release()

	dir := t.TempDir()
	dst := openFSM(t, dir)
	dst.ApplyBatch([]*raft.Log{cmd(1, put("old", "x"))})
	_, rc, err := store.Open(sink.ID())
	require.NoError(t, err)
	require.NoError(t, dst.Restore(rc))
	require.Equal(t, map[string]string{"a": "1", "c": "3"}, contents(t, dst))
	require.Equal(t, uint64(3), dst.Applied())
	require.NoDirExists(t, filepath.Join(dir, oldDir))
	require.NoDirExists(t, filepath.Join(dir, restoreDir))

	// A damaged snapshot is refused and the store stays as it was.
	require.Error(t, dst.Restore(badReader{}))
	require.Equal(t, map[string]string{"a": "1", "c": "3"}, contents(t, dst))
	require.NoError(t, dst.Close())
	dst = openFSM(t, dir)
	require.Equal(t, map[string]string{"a": "1", "c": "3"}, contents(t, dst))
}

type badReader struct{}

func (badReader) Read([]byte) (int, error) { return 0, errors.New("cut") }
func (badReader) Close() error             { return nil }

// An install interrupted by a crash: before the swap began the old store
// stays (raft installs the snapshot again); after the old store moved
// aside, the restored one takes its place.
func TestInterruptedRestoreRecovers(t *testing.T) {
	build := func(dir string, key string, applied uint64) {
		f := openFSM(t, dir)
		f.ApplyBatch([]*raft.Log{cmd(applied, put(key, "v"))})
		require.NoError(t, f.Close())
	}
	for name, tc := range map[string]struct {
		moveOld bool
		want    string
	}{
		"before the swap": {false, "old"},
		"mid swap":        {true, "new"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			build(dir, "old", 1)
			nd := t.TempDir()
			build(nd, "new", 9)
			require.NoError(t, os.Rename(filepath.Join(nd, fsmDir), filepath.Join(dir, restoreDir)))
			if tc.moveOld {
				require.NoError(t, os.Rename(filepath.Join(dir, fsmDir), filepath.Join(dir, oldDir)))
			}
			f := openFSM(t, dir)
			require.Equal(t, map[string]string{tc.want: "v"}, contents(t, f))
			require.NoDirExists(t, filepath.Join(dir, oldDir))
			require.NoDirExists(t, filepath.Join(dir, restoreDir))
		})
	}
}

func delPrefix(p string) Op { return Op{Kind: OpDeletePrefix, Key: []byte(p)} }

// prefixLogs are entries around a prefix delete: entry 2 stages a key the
// store does not hold yet, entry 3 deletes the prefix and then adds under
// it, entry 4 writes under it afterwards.
func prefixLogs() []*raft.Log {
	var fill []Op
	for i := range 60 {
		fill = append(fill, put(fmt.Sprintf("p/%02d", i), "x"))
	}
	fill = append(fill, put("pp", "x"), put("q/1", "x"))
	return []*raft.Log{
		cmd(1, fill...),
		cmd(2, put("p/new", "x"), add("p/01")),
		cmd(3, add("p/02"), delPrefix("p/"), add("p/03"), put("p/04", "z")),
		cmd(4, put("p/05", "after"), add("p/03")),
	}
}

var prefixWant = map[string]string{"pp": "x", "q/1": "x", "p/03": "1", "p/04": "z", "p/05": "after"}

func TestDeletePrefix(t *testing.T) {
	f := openFSM(t, t.TempDir())
	logs := prefixLogs()
	f.ApplyBatch(logs[:1])
	resp := f.ApplyBatch(logs[1:]) // entry 2's keys are staged, not stored, when entry 3 runs
	require.Equal(t, []bool{true, false, false, false}, resp[1].(*Result).Existed,
		"the add after the prefix delete finds its key gone")
	require.Equal(t, []bool{false, true}, resp[2].(*Result).Existed)
	require.Equal(t, prefixWant, contents(t, f))
	require.Equal(t, uint64(4), f.Applied())
}

// TestLargeDeletePrefixWritesInParts: a prefix delete that outgrows one
// store write is written in several; the applied index moves with the
// last only.
func TestLargeDeletePrefixWritesInParts(t *testing.T) {
	f := openFSM(t, t.TempDir())
	f.flushSize = 200 // about five deletes per write
	logs := prefixLogs()
	f.ApplyBatch(logs[:1])
	before := f.stats().Batches
	f.ApplyBatch(logs[1:])
	require.Greater(t, f.stats().Batches-before, int64(5), "written in parts")
	require.Equal(t, prefixWant, contents(t, f))
	require.Equal(t, uint64(4), f.Applied())

	// A small prefix delete stays in one write with its command, however
	// much the command staged before it.
	var ops []Op
	for i := range 20 {
		ops = append(ops, put(fmt.Sprintf("big/%02d", i), "xxxxxxxxxx"))
	}
	ops = append(ops, delPrefix("p/"), put("end", "1"))
	before = f.stats().Batches
	f.ApplyBatch([]*raft.Log{cmd(5, ops...)})
	require.Equal(t, int64(1), f.stats().Batches-before, "one write")
	got := contents(t, f)
	require.Len(t, got, 2+20+1) // pp, q/1, the big/ keys, end
	require.Equal(t, "1", got["end"])
}

// TestCrashInsidePrefixDeleteReplays fails the store at each write of a
// prefix delete written in parts, as a crash would stop it: after a
// restart, raft's replay of the entries ends in the same state as an
// uninterrupted apply.
func TestCrashInsidePrefixDeleteReplays(t *testing.T) {
	partial := false // some crash left part of the prefix deleted
	for k := 1; k <= 40; k++ {
		dir := t.TempDir()
		ffs := vfs.NewFaultFS(vfs.Default, nil)
		f, err := OpenFSM(dir, engine.Options{FS: ffs, SyncWrites: true})
		require.NoError(t, err)
		f.flushSize = 200
		logs := prefixLogs()
		f.ApplyBatch(logs[:1])
		var writes atomic.Int64
		ffs.SetInjector(vfs.InjectorFunc(func(ev vfs.FaultEvent) vfs.Fault {
			if ev.Op != vfs.FaultOpWrite {
				return vfs.FaultNone
			}
			if writes.Add(1) == int64(k) {
				return vfs.FaultEIO
			}
			return vfs.FaultNone
		}))
		resp := f.ApplyBatch(logs[1:])
		ffs.SetInjector(nil)
		_ = f.Close()
		if writes.Load() < int64(k) {
			break // every write of the apply was tried: no more crash points
		}
		err, _ = resp[len(resp)-1].(error)
		require.ErrorIs(t, err, ErrFailed, "crash at write %d", k)

		f = openFSM(t, dir)
		left := 0 // of entry 1's 60 keys under p/
		for key := range contents(t, f) {
			if strings.HasPrefix(key, "p/") && len(key) == 4 {
				left++
			}
		}
		if f.Applied() == 1 && left > 0 && left < 60 {
			partial = true
		}
		f.ApplyBatch(logs) // raft replays every entry; entry 1 is skipped
		require.Equal(t, prefixWant, contents(t, f), "crash at write %d", k)
		require.Equal(t, uint64(4), f.Applied())
		require.NoError(t, f.Close())
	}
	require.True(t, partial, "no crash point fell inside the prefix delete")
}
