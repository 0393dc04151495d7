package replica

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
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
