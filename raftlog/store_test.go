package raftlog

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/internal/vfs"
)

func openT(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// entry returns a log entry whose every field depends on i.
func entry(i uint64) *raft.Log {
	l := &raft.Log{Index: i, Term: i/7 + 1, Type: raft.LogType(i % 6),
		Data:       fmt.Appendf(nil, "data-%d-%s", i, bytes.Repeat([]byte{byte(i)}, int(i%50))),
		AppendedAt: time.Unix(1700000000+int64(i), int64(i)*1001).In(time.FixedZone("x", int(i%5)*3600))}
	if i%3 == 0 {
		l.Extensions = fmt.Appendf(nil, "ext-%d", i)
	}
	return l
}

func entries(from, to uint64) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, entry(i))
	}
	return out
}

// requireEntry checks that GetLog(i) returns entry(i), every field.
func requireEntry(t require.TestingT, s *Store, i uint64) {
	var got raft.Log
	require.NoError(t, s.GetLog(i, &got), "entry %d", i)
	want := entry(i)
	require.Equal(t, want.Index, got.Index)
	require.Equal(t, want.Term, got.Term)
	require.Equal(t, want.Type, got.Type)
	require.Equal(t, want.Data, got.Data)
	require.Equal(t, want.Extensions, got.Extensions)
	require.True(t, want.AppendedAt.Equal(got.AppendedAt), "AppendedAt %v, want %v", got.AppendedAt, want.AppendedAt)
	_, wantOff := want.AppendedAt.Zone()
	_, gotOff := got.AppendedAt.Zone()
	require.Equal(t, wantOff, gotOff)
}

func requireRange(t require.TestingT, s *Store, first, last uint64) {
	f, err := s.FirstIndex()
	require.NoError(t, err)
	l, err := s.LastIndex()
	require.NoError(t, err)
	require.Equal(t, [2]uint64{first, last}, [2]uint64{f, l}, "first, last")
	for i := first; i <= last && last != 0; i++ {
		requireEntry(t, s, i)
	}
	var got raft.Log
	for _, i := range []uint64{0, first - 1, last + 1, last + 100} {
		if last == 0 || i < first || i > last {
			require.Equal(t, raft.ErrLogNotFound, s.GetLog(i, &got), "entry %d", i) // exactly, not wrapped
		}
	}
}

func TestRoundTripAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{SegmentSize: 4096})
	requireRange(t, s, 0, 0)
	require.NoError(t, s.StoreLogs(entries(1, 100)))
	require.NoError(t, s.StoreLog(entry(101)))
	requireRange(t, s, 1, 101)
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.GetLog(1, &raft.Log{}), ErrClosed)
	s = openT(t, dir, Options{SegmentSize: 4096})
	requireRange(t, s, 1, 101)
	require.NoError(t, s.StoreLogs(entries(102, 150)))
	requireRange(t, s, 1, 150)
	segs, err := filepath.Glob(filepath.Join(dir, "*"+segExt))
	require.NoError(t, err)
	require.Greater(t, len(segs), 2, "4 KiB segments: the entries span several")
}

func TestReturnedLogsAreCopies(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	require.NoError(t, s.StoreLogs(entries(1, 3)))
	var a raft.Log
	require.NoError(t, s.GetLog(3, &a))
	for i := range a.Data {
		a.Data[i] = 'X'
	}
	a.Extensions[0] = 'X'
	requireEntry(t, s, 3)
	// And the stored entry does not alias the caller's either.
	in := entry(4)
	require.NoError(t, s.StoreLog(in))
	in.Data[0] = 'X'
	requireEntry(t, s, 4)
}

func TestNonMonotonicRefused(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	require.NoError(t, s.StoreLogs(entries(5, 10)))
	before := dirState(t, dir)
	for _, bad := range [][]*raft.Log{
		entries(12, 13),                    // gap
		entries(10, 11),                    // repeat
		entries(3, 4),                      // back
		{entry(11), entry(13)},             // gap inside
		{entry(11), entry(12), entry(12)},  // repeat inside
		{{Index: 0, Term: 1}},              // zero
		append(entries(11, 11), entry(11)), // repeat of the first
	} {
		require.ErrorIs(t, s.StoreLogs(bad), ErrNonMonotonic)
	}
	require.Equal(t, before, dirState(t, dir), "refused StoreLogs changed the files")
	requireRange(t, s, 5, 10)
	require.True(t, s.IsMonotonic())
	// An empty log takes any start.
	require.NoError(t, s.DeleteRange(5, 10))
	require.NoError(t, s.StoreLogs(entries(3, 4)))
	requireRange(t, s, 3, 4)
}

// dirState returns every segment's name and contents.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	segs, err := filepath.Glob(filepath.Join(dir, "*"+segExt))
	require.NoError(t, err)
	for _, p := range segs {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out[filepath.Base(p)] = string(b)
	}
	return out
}

func TestDeleteRange(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 2048}
	s := openT(t, dir, opts)
	for i := uint64(1); i <= 300; i += 10 {
		require.NoError(t, s.StoreLogs(entries(i, i+9)))
	}
	many := len(dirState(t, dir))
	reopen := func() {
		require.NoError(t, s.Close())
		s = openT(t, dir, opts)
	}
	require.NoError(t, s.DeleteRange(1, 150)) // head
	requireRange(t, s, 151, 300)
	require.Less(t, len(dirState(t, dir)), many, "a head delete frees whole segments")
	reopen()
	requireRange(t, s, 151, 300)
	require.NoError(t, s.DeleteRange(251, 400)) // tail, past the end
	requireRange(t, s, 151, 250)
	reopen()
	requireRange(t, s, 151, 250)
	require.ErrorIs(t, s.DeleteRange(160, 170), ErrMidDelete)
	requireRange(t, s, 151, 250)
	require.NoError(t, s.StoreLogs(entries(251, 260))) // a tail rewritten
	requireRange(t, s, 151, 260)
	require.NoError(t, s.DeleteRange(1, 1000)) // all
	requireRange(t, s, 0, 0)
	require.Empty(t, dirState(t, dir))
	reopen()
	requireRange(t, s, 0, 0)
	// After emptying, the log may restart below the old first index (the
	// mark follows it down) or above it.
	require.NoError(t, s.StoreLogs(entries(40, 60)))
	reopen()
	requireRange(t, s, 40, 60)
}

// closedSegment stores entries 1..20 in a fresh store, closes it and
// returns the directory and the one segment's name and bytes.
func closedSegment(t *testing.T) (dir, name string, raw []byte) {
	dir = t.TempDir()
	s := openT(t, dir, Options{})
	require.NoError(t, s.StoreLogs(entries(1, 20)))
	require.NoError(t, s.Close())
	segs := dirState(t, dir)
	require.Len(t, segs, 1)
	for name, b := range segs {
		return dir, name, []byte(b)
	}
	panic("unreachable")
}

func TestTornTailDropped(t *testing.T) {
	dir, name, raw := closedSegment(t)
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	// The first bytes of one more record: an append cut short.
	_, err = f.Write(raw[len(raw)-30 : len(raw)-10])
	require.NoError(t, err)
	require.NoError(t, f.Close())
	s := openT(t, dir, Options{})
	requireRange(t, s, 1, 20)
	require.NoError(t, s.StoreLogs(entries(21, 22)))
	requireRange(t, s, 1, 22)
}

func TestDamagedEntryIsCorrupt(t *testing.T) {
	dir, name, raw := closedSegment(t)
	raw[200] ^= 0x40 // inside the entries, before any zero padding
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), raw, 0o644))
	_, err := Open(dir, Options{})
	require.ErrorIs(t, err, engine.ErrCorrupt)
}

func TestStableStore(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	v, err := s.Get([]byte("CurrentTerm"))
	require.NoError(t, err)
	require.Nil(t, v)
	n, err := s.GetUint64([]byte("CurrentTerm"))
	require.NoError(t, err)
	require.Zero(t, n)
	require.NoError(t, s.SetUint64([]byte("CurrentTerm"), 42))
	require.NoError(t, s.Set([]byte("LastVoteCand"), []byte("node-2")))
	require.NoError(t, s.Set([]byte("first"), []byte("raft's key, not the mark")))
	require.NoError(t, s.StoreLogs(entries(1, 5)))
	require.NoError(t, s.Close())
	s = openT(t, dir, Options{})
	n, err = s.GetUint64([]byte("CurrentTerm"))
	require.NoError(t, err)
	require.Equal(t, uint64(42), n)
	v, err = s.Get([]byte("LastVoteCand"))
	require.NoError(t, err)
	require.Equal(t, "node-2", string(v))
	requireRange(t, s, 1, 5)
	_, err = s.GetUint64([]byte("LastVoteCand"))
	require.ErrorIs(t, err, engine.ErrCorrupt)
	// A second Open of the directory is refused.
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, engine.ErrLocked)
}

// TestModel runs random StoreLogs, head, tail and whole deletes against a
// model, reopening after every step, and now and then cuts the power
// (a crash clone of the in-memory filesystem): every call that returned
// must survive it.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mem := vfs.NewMem()
		opts := Options{FS: mem, SegmentSize: int64(rapid.IntRange(256, 8192).Draw(t, "segSize"))}
		s, err := Open("/log", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		first, last := uint64(0), uint64(0)
		reopen := func(t *rapid.T) {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err = Open("/log", opts); err != nil {
				t.Fatal(err)
			}
		}
		t.Repeat(map[string]func(*rapid.T){
			"store": func(t *rapid.T) {
				from := last + 1
				if last == 0 {
					from = uint64(rapid.IntRange(1, 50).Draw(t, "start"))
				}
				n := uint64(rapid.IntRange(1, 40).Draw(t, "n"))
				if err := s.StoreLogs(entries(from, from+n-1)); err != nil {
					t.Fatal(err)
				}
				if last == 0 {
					first = from
				}
				last = from + n - 1
			},
			"deleteHead": func(t *rapid.T) {
				if last == 0 || last == first {
					t.Skip("nothing to cut from the head")
				}
				upTo := uint64(rapid.IntRange(int(first), int(last)-1).Draw(t, "upTo"))
				if err := s.DeleteRange(first, upTo); err != nil {
					t.Fatal(err)
				}
				first = upTo + 1
			},
			"deleteTail": func(t *rapid.T) {
				if last == 0 || last == first {
					t.Skip("nothing to cut from the tail")
				}
				from := uint64(rapid.IntRange(int(first)+1, int(last)).Draw(t, "from"))
				if err := s.DeleteRange(from, last); err != nil {
					t.Fatal(err)
				}
				last = from - 1
			},
			"deleteAll": func(t *rapid.T) {
				if err := s.DeleteRange(0, last+5); err != nil {
					t.Fatal(err)
				}
				first, last = 0, 0
			},
			"crash": func(t *rapid.T) {
				clone := mem.CrashClone(rand.New(rand.NewSource(rapid.Int64().Draw(t, "seed"))))
				_ = s.Close()
				mem = clone
				opts.FS = mem
				if s, err = Open("/log", opts); err != nil {
					t.Fatal(err)
				}
			},
			"": func(t *rapid.T) {
				reopen(t)
				requireRange(t, s, first, last)
			},
		})
	})
}

// A failed sync fails StoreLogs, which then leaves nothing of the call in
// the log, and the store keeps working.
func TestFailedSyncLeavesNothing(t *testing.T) {
	mem := vfs.NewMem()
	var fail bool // fail the next sync of a segment
	errInjected := errors.New("injected")
	mem.SetOpHook(func(op vfs.MemOp) error {
		if fail && op.Kind == vfs.OpSync && strings.HasSuffix(op.Path, segExt) {
			fail = false
			return errInjected
		}
		return nil
	})
	s := openT(t, "/log", Options{FS: mem})
	require.NoError(t, s.StoreLogs(entries(1, 10)))
	fail = true
	require.ErrorIs(t, s.StoreLogs(entries(11, 20)), errInjected)
	requireRange(t, s, 1, 10)
	require.NoError(t, s.StoreLogs(entries(11, 12)))
	requireRange(t, s, 1, 12)
	require.NoError(t, s.Close())
	s = openT(t, "/log", Options{FS: mem})
	requireRange(t, s, 1, 12)
}
