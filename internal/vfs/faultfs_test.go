package vfs_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/internal/vfs"
)

// faultState is what an operation could change in a MemFS: the current tree
// and the tree a power cut would leave (which a Sync or SyncDir changes).
type faultState struct {
	now, crash map[string]string
}

func snapshot(t *testing.T, m *vfs.MemFS) faultState {
	t.Helper()
	return faultState{now: tree(t, m), crash: tree(t, m.CrashClone(nil))}
}

// populateFaultMem builds the MemFS every fault case starts from:
//
//	/d        synced directory entry
//	/d/f      "synced" synced, then "+unsynced" not synced
//	/d/g      "gggg", synced, entry synced
//	/d/h      "h", synced, but its entry in /d is not
func populateFaultMem(t *testing.T) *vfs.MemFS {
	t.Helper()
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/d", 0o755))
	require.NoError(t, m.SyncDir("/"))
	f := createFile(t, m, "/d/f", "synced", true)
	require.NoError(t, createFile(t, m, "/d/g", "gggg", true).Close())
	require.NoError(t, m.SyncDir("/d"))
	require.NoError(t, createFile(t, m, "/d/h", "h", true).Close())
	_, err := f.Write([]byte("+unsynced"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return m
}

// faultCase is one operation of one class. run performs any setup through
// fsys, calls arm immediately before the operation under test, performs it
// and returns its result (nil, 0 or empty if it failed) and error.
type faultCase struct {
	name  string
	op    vfs.FaultOp
	path  string // the path the error and the FaultEvent must name
	errOp string // the *fs.PathError's Op
	// mutates is set if the operation, when it succeeds, changes the
	// faultState: the check that a failed one does not is then meaningful.
	mutates bool
	run     func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error)
	// after, if set, checks the inner FS once a faulted operation returned.
	after func(t *testing.T, m *vfs.MemFS)
}

func openFault(t *testing.T, fsys *vfs.FaultFS, name string, rw bool) vfs.File {
	t.Helper()
	var f vfs.File
	var err error
	if rw {
		f, err = fsys.OpenReadWrite(name)
	} else {
		f, err = fsys.Open(name)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

var faultCases = []faultCase{
	{
		name: "Create", op: vfs.FaultOpCreate, path: "/d/new", errOp: "open", mutates: true,
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			arm()
			f, err := fsys.Create("/d/new")
			return f, err
		},
	},
	{
		name: "Open", op: vfs.FaultOpOpen, path: "/d/f", errOp: "open",
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			arm()
			f, err := fsys.Open("/d/f")
			return f, err
		},
	},
	{
		name: "OpenReadWrite", op: vfs.FaultOpOpen, path: "/d/f", errOp: "open",
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			arm()
			f, err := fsys.OpenReadWrite("/d/f")
			return f, err
		},
	},
	{
		name: "Write", op: vfs.FaultOpWrite, path: "/d/w", errOp: "write", mutates: true,
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			f, err := fsys.Create("/d/w")
			require.NoError(t, err)
			t.Cleanup(func() { _ = f.Close() })
			arm()
			return f.Write([]byte("0123456789"))
		},
	},
	{
		name: "Sync", op: vfs.FaultOpSync, path: "/d/f", errOp: "sync", mutates: true,
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			f := openFault(t, fsys, "/d/f", true)
			arm()
			return nil, f.Sync()
		},
	},
	{
		name: "Read", op: vfs.FaultOpRead, path: "/d/g", errOp: "read",
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			f := openFault(t, fsys, "/d/g", false)
			arm()
			return f.Read(make([]byte, 2))
		},
	},
	{
		name: "ReadAt", op: vfs.FaultOpRead, path: "/d/g", errOp: "read",
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			f := openFault(t, fsys, "/d/g", false)
			arm()
			return f.ReadAt(make([]byte, 2), 1)
		},
	},
	{
		name: "Truncate", op: vfs.FaultOpTruncate, path: "/d/g", errOp: "truncate", mutates: true,
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			f := openFault(t, fsys, "/d/g", true)
			arm()
			return nil, f.Truncate(1)
		},
	},
	{
		name: "Rename", op: vfs.FaultOpRename, path: "/d/g", mutates: true,
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			arm()
			return nil, fsys.Rename("/d/g", "/d/g2")
		},
	},
	{
		name: "Remove", op: vfs.FaultOpRemove, path: "/d/g", errOp: "remove", mutates: true,
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			arm()
			return nil, fsys.Remove("/d/g")
		},
	},
	{
		name: "MkdirAll", op: vfs.FaultOpMkdir, path: "/d/x/y", errOp: "mkdir", mutates: true,
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			arm()
			return nil, fsys.MkdirAll("/d/x/y", 0o755)
		},
	},
	{
		name: "SyncDir", op: vfs.FaultOpSyncDir, path: "/d", errOp: "syncdir", mutates: true,
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			arm()
			return nil, fsys.SyncDir("/d")
		},
	},
	{
		name: "List", op: vfs.FaultOpList, path: "/d", errOp: "open",
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			arm()
			return fsys.List("/d")
		},
	},
	{
		name: "FS.Stat", op: vfs.FaultOpStat, path: "/d/g", errOp: "stat",
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			arm()
			return fsys.Stat("/d/g")
		},
	},
	{
		name: "File.Stat", op: vfs.FaultOpStat, path: "/d/g", errOp: "stat",
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			f := openFault(t, fsys, "/d/g", false)
			arm()
			return f.Stat()
		},
	},
	{
		name: "Link", op: vfs.FaultOpLink, path: "/d/g", mutates: true,
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			arm()
			return nil, fsys.Link("/d/g", "/d/g2")
		},
		after: func(t *testing.T, m *vfs.MemFS) {
			_, err := m.Stat("/d/g2")
			require.ErrorIs(t, err, fs.ErrNotExist, "a failed Link must not create the link")
		},
	},
	{
		name: "Lock", op: vfs.FaultOpLock, path: "/d/LOCK", errOp: "open", mutates: true,
		run: func(t *testing.T, fsys *vfs.FaultFS, arm func()) (any, error) {
			arm()
			return fsys.Lock("/d/LOCK")
		},
		after: func(t *testing.T, m *vfs.MemFS) {
			l, err := m.Lock("/d/LOCK")
			require.NoError(t, err, "a failed Lock must not hold the lock")
			require.NoError(t, l.Close())
		},
	},
}

// closeResult closes what a successful operation returned.
func closeResult(t *testing.T, res any) {
	t.Helper()
	if c, ok := res.(io.Closer); ok && c != nil {
		require.NoError(t, c.Close())
	}
}

// requireFaultError checks that err is fault's errno in the shape the OS
// gives for c.
func requireFaultError(t *testing.T, c faultCase, err error, errno syscall.Errno) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, errno)
	if c.op == vfs.FaultOpRename || c.op == vfs.FaultOpLink {
		var le *os.LinkError
		require.ErrorAs(t, err, &le)
		require.Equal(t, c.op.String(), le.Op)
		require.Equal(t, "/d/g", le.Old)
		require.Equal(t, "/d/g2", le.New)
		return
	}
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, c.path, pe.Path)
	require.Equal(t, c.errOp, pe.Op)
	require.Contains(t, err.Error(), c.path)
}

func TestFaultFSEveryFaultEveryOp(t *testing.T) {
	for _, fault := range []vfs.Fault{vfs.FaultENOSPC, vfs.FaultEIO} {
		errno := map[vfs.Fault]syscall.Errno{vfs.FaultENOSPC: syscall.ENOSPC, vfs.FaultEIO: syscall.EIO}[fault]
		for _, c := range faultCases {
			t.Run(fault.String()+"/"+c.name, func(t *testing.T) {
				m := populateFaultMem(t)
				fsys := vfs.NewFaultFS(m, nil)
				var before faultState
				seq := 0
				arm := func() {
					before = snapshot(t, m)
					seq = fsys.OpCount() + 1
					fsys.SetInjector(vfs.AtOp(seq, fault))
				}
				res, err := c.run(t, fsys, arm)
				require.NotZero(t, seq, "the case did not arm the fault")
				requireFaultError(t, c, err, errno)
				require.Empty(t, res, "a failed operation returns no result")
				require.Equal(t, before, snapshot(t, m), "a failed %s changed the FS", c.name)
				require.Equal(t, []vfs.FaultEvent{{Seq: seq, Op: c.op, Path: c.path}}, fsys.Injected())
				if c.after != nil {
					c.after(t, m)
				}
			})
		}
	}
}

// TestFaultFSCasesSucceedUnfaulted is the control for the test above: each
// operation works through a FaultFS without faults (and through one whose
// injector returns FaultShortWrite, which only applies to writes), and the
// ones marked mutates do change the state the test above finds unchanged.
func TestFaultFSCasesSucceedUnfaulted(t *testing.T) {
	for _, inj := range []string{"none", "short-write"} {
		for _, c := range faultCases {
			if inj == "short-write" && c.op == vfs.FaultOpWrite {
				continue
			}
			t.Run(inj+"/"+c.name, func(t *testing.T) {
				m := populateFaultMem(t)
				fsys := vfs.NewFaultFS(m, nil)
				var before faultState
				armed := false
				arm := func() {
					before = snapshot(t, m)
					armed = true
					if inj == "short-write" {
						fsys.SetInjector(vfs.AtOp(fsys.OpCount()+1, vfs.FaultShortWrite))
					}
				}
				res, err := c.run(t, fsys, arm)
				require.True(t, armed)
				require.NoError(t, err)
				closeResult(t, res)
				if c.mutates {
					require.NotEqual(t, before, snapshot(t, m), "%s should change the FS", c.name)
				} else {
					require.Equal(t, before, snapshot(t, m))
				}
				require.Empty(t, fsys.Injected())
			})
		}
	}
}

func TestFaultFSShortWrite(t *testing.T) {
	for _, size := range []int{0, 1, 2, 7, 10, 4097} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			m := vfs.NewMem()
			fsys := vfs.NewFaultFS(m, nil)
			f, err := fsys.Create("/w")
			require.NoError(t, err)
			defer f.Close()
			_, err = f.Write([]byte("ab"))
			require.NoError(t, err)

			p := []byte(strings.Repeat("0123456789", size/10+1)[:size])
			seq := fsys.OpCount() + 1
			fsys.SetInjector(vfs.AtOp(seq, vfs.FaultShortWrite))
			n, err := f.Write(p)
			require.Equal(t, size/2, n)
			require.ErrorIs(t, err, syscall.ENOSPC)
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "write", pe.Op)
			require.Equal(t, "/w", pe.Path)
			require.Equal(t, "ab"+string(p[:size/2]), contents(t, m, "/w"))
			require.Equal(t, []vfs.FaultEvent{{Seq: seq, Op: vfs.FaultOpWrite, Path: "/w"}}, fsys.Injected())

			// The next write appends after the partial one.
			_, err = f.Write([]byte("!"))
			require.NoError(t, err)
			require.Equal(t, "ab"+string(p[:size/2])+"!", contents(t, m, "/w"))
		})
	}
}

func TestFaultFSFailedReadKeepsOffset(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, createFile(t, m, "/f", "abcdef", false).Close())
	fsys := vfs.NewFaultFS(m, nil)
	f, err := fsys.Open("/f")
	require.NoError(t, err)
	defer f.Close()
	p := make([]byte, 2)
	_, err = io.ReadFull(f, p)
	require.NoError(t, err)
	require.Equal(t, "ab", string(p))

	fsys.SetInjector(vfs.AtOp(fsys.OpCount()+1, vfs.FaultEIO))
	n, err := f.Read(p)
	require.Zero(t, n)
	require.ErrorIs(t, err, syscall.EIO)
	_, err = io.ReadFull(f, p)
	require.NoError(t, err)
	require.Equal(t, "cd", string(p), "a failed Read must not move the offset")
}

// sweepWorkload runs a fixed mix of operations on a MemFS built by
// populateFaultMem, tolerating failures, and returns the error of every call
// it made through fsys, in order. Steps do not depend on each other's
// success, except that the calls on a file are skipped if opening it failed.
func sweepWorkload(fsys vfs.FS) []error {
	var errs []error
	rec := func(err error) { errs = append(errs, err) }
	f, err := fsys.OpenReadWrite("/d/f")
	rec(err)
	if err == nil {
		buf := make([]byte, 3)
		_, err = f.Read(buf)
		rec(err)
		_, err = f.ReadAt(buf, 1)
		rec(err)
		_, err = f.Stat()
		rec(err)
		rec(f.Truncate(4))
		_, err = f.Write([]byte("xyz"))
		rec(err)
		rec(f.Sync())
		rec(f.Close())
	}
	g, err := fsys.Create("/d/new")
	rec(err)
	if err == nil {
		_, err = g.Write([]byte("new"))
		rec(err)
		rec(g.Sync())
		rec(g.Close())
	}
	rec(fsys.Rename("/d/g", "/d/g2"))
	rec(fsys.Remove("/d/h"))
	rec(fsys.MkdirAll("/x/y", 0o755))
	rec(fsys.SyncDir("/d"))
	_, err = fsys.List("/d")
	rec(err)
	_, err = fsys.Stat("/d/f")
	rec(err)
	l, err := fsys.Lock("/LOCK")
	rec(err)
	if err == nil {
		_ = l.Close() // passes through: not an operation of the FaultFS
	}
	return errs
}

// recordEvents returns an Injector that records every event and injects
// nothing.
func recordEvents() (vfs.Injector, func() []vfs.FaultEvent) {
	var mu sync.Mutex
	var evs []vfs.FaultEvent
	inj := vfs.InjectorFunc(func(ev vfs.FaultEvent) vfs.Fault {
		mu.Lock()
		defer mu.Unlock()
		evs = append(evs, ev)
		return vfs.FaultNone
	})
	return inj, func() []vfs.FaultEvent {
		mu.Lock()
		defer mu.Unlock()
		return append([]vfs.FaultEvent(nil), evs...)
	}
}

func failedCalls(errs []error) []int {
	var idx []int
	for i, err := range errs {
		if err != nil {
			idx = append(idx, i)
		}
	}
	return idx
}

func TestFaultFSOpCountAndEvents(t *testing.T) {
	inj, events := recordEvents()
	fsys := vfs.NewFaultFS(populateFaultMem(t), inj)
	errs := sweepWorkload(fsys)
	require.Empty(t, failedCalls(errs))
	require.Len(t, errs, 19)
	require.Equal(t, len(errs), fsys.OpCount(), "every call is one operation")

	evs := events()
	require.Len(t, evs, len(errs)-2, "the injector sees every call but the two Closes")
	for i, ev := range evs {
		require.Greater(t, ev.Seq, 0)
		require.LessOrEqual(t, ev.Seq, fsys.OpCount())
		if i > 0 {
			require.Greater(t, ev.Seq, evs[i-1].Seq)
		}
	}
	require.Equal(t, vfs.FaultEvent{Seq: 1, Op: vfs.FaultOpOpen, Path: "/d/f"}, evs[0])
	require.Equal(t, vfs.FaultEvent{Seq: 7, Op: vfs.FaultOpSync, Path: "/d/f"}, evs[6])
	require.Equal(t, vfs.FaultEvent{Seq: 9, Op: vfs.FaultOpCreate, Path: "/d/new"}, evs[7], "seq 8 is a Close")
	require.Equal(t, vfs.FaultEvent{Seq: 13, Op: vfs.FaultOpRename, Path: "/d/g"}, evs[10])
	require.Equal(t, vfs.FaultEvent{Seq: 19, Op: vfs.FaultOpLock, Path: "/LOCK"}, evs[len(evs)-1])
	require.Empty(t, fsys.Injected())

	// A FaultFS without an injector counts too.
	fsys = vfs.NewFaultFS(populateFaultMem(t), nil)
	require.Len(t, sweepWorkload(fsys), fsys.OpCount())
}

func TestFaultFSAtOpSweep(t *testing.T) {
	inj, events := recordEvents()
	baseline := vfs.NewFaultFS(populateFaultMem(t), inj)
	n := len(sweepWorkload(baseline))
	bySeq := map[int]vfs.FaultEvent{}
	for _, ev := range events() {
		bySeq[ev.Seq] = ev
	}

	for seq := 1; seq <= n+1; seq++ {
		for _, filter := range [][]vfs.FaultOp{nil, {vfs.FaultOpSync, vfs.FaultOpRename}} {
			fsys := vfs.NewFaultFS(populateFaultMem(t), vfs.AtOp(seq, vfs.FaultEIO, filter...))
			errs := sweepWorkload(fsys)
			require.Equal(t, len(errs), fsys.OpCount())
			ev, ok := bySeq[seq]
			if ok && filter != nil {
				ok = ev.Op == vfs.FaultOpSync || ev.Op == vfs.FaultOpRename
			}
			if !ok {
				// A Close, past the end, or filtered out.
				require.Empty(t, failedCalls(errs), "seq %d filter %v", seq, filter)
				require.Empty(t, fsys.Injected(), "seq %d filter %v", seq, filter)
				continue
			}
			require.Equal(t, []int{seq - 1}, failedCalls(errs), "seq %d (%v): exactly that call fails", seq, ev)
			require.ErrorIs(t, errs[seq-1], syscall.EIO)
			require.Equal(t, []vfs.FaultEvent{ev}, fsys.Injected())
		}
	}
}

func TestFaultFSAtOpFiresOnce(t *testing.T) {
	// Even when shared by two FaultFSs, an AtOp injects once.
	inj := vfs.AtOp(1, vfs.FaultENOSPC)
	a := vfs.NewFaultFS(vfs.NewMem(), inj)
	b := vfs.NewFaultFS(vfs.NewMem(), inj)
	require.ErrorIs(t, a.MkdirAll("/x", 0o755), syscall.ENOSPC)
	require.NoError(t, b.MkdirAll("/x", 0o755))
	require.NoError(t, a.MkdirAll("/x", 0o755))
	require.Len(t, a.Injected(), 1)
	require.Empty(t, b.Injected())
}

// writeMany makes n one-byte writes to a new file through fsys and returns
// the errors.
func writeMany(t *testing.T, fsys vfs.FS, name string, n int) []error {
	t.Helper()
	f, err := fsys.Create(name)
	require.NoError(t, err)
	defer f.Close()
	errs := make([]error, n)
	for i := range errs {
		_, errs[i] = f.Write([]byte{'x'})
	}
	return errs
}

func TestFaultFSRandomDeterministic(t *testing.T) {
	run := func(seed uint64) ([]vfs.FaultEvent, []int) {
		fsys := vfs.NewFaultFS(vfs.NewMem(), vfs.Random(seed, 0.3, vfs.FaultEIO))
		errs := writeMany(t, fsys, "/f", 2000)
		return fsys.Injected(), failedCalls(errs)
	}
	inj1, failed1 := run(42)
	inj2, failed2 := run(42)
	require.NotEmpty(t, inj1)
	require.Equal(t, inj1, inj2)
	require.Equal(t, failed1, failed2)
	inj3, _ := run(43)
	require.NotEqual(t, inj1, inj3, "another seed gives other failures")

	// The mixed workload too.
	var prev []vfs.FaultEvent
	for range 2 {
		fsys := vfs.NewFaultFS(populateFaultMem(t), vfs.Random(7, 0.3, vfs.FaultENOSPC))
		sweepWorkload(fsys)
		if prev != nil {
			require.Equal(t, prev, fsys.Injected())
		}
		prev = fsys.Injected()
	}
}

func TestFaultFSRandomRate(t *testing.T) {
	for _, seed := range []uint64{0, 1, 2, 12345, math.MaxUint64} {
		m := vfs.NewMem()
		fsys := vfs.NewFaultFS(m, vfs.Random(seed, 0.1, vfs.FaultEIO, vfs.FaultOpWrite))
		const n = 10000
		errs := writeMany(t, fsys, "/f", n)
		failed := failedCalls(errs)
		require.GreaterOrEqual(t, len(failed), 700, "seed %d", seed)
		require.LessOrEqual(t, len(failed), 1300, "seed %d", seed)
		for _, i := range failed {
			require.ErrorIs(t, errs[i], syscall.EIO)
		}
		require.Len(t, fsys.Injected(), len(failed))
		fi, err := m.Stat("/f")
		require.NoError(t, err)
		require.EqualValues(t, n-len(failed), fi.Size(), "failed writes write nothing")
	}

	// The extremes.
	fsys := vfs.NewFaultFS(vfs.NewMem(), vfs.Random(3, 0, vfs.FaultEIO))
	require.Empty(t, failedCalls(writeMany(t, fsys, "/f", 1000)))
	fsys = vfs.NewFaultFS(vfs.NewMem(), vfs.Random(3, 1, vfs.FaultEIO, vfs.FaultOpWrite))
	require.Len(t, failedCalls(writeMany(t, fsys, "/f", 1000)), 1000)
}

func TestFaultFSRandomOnlyListedClasses(t *testing.T) {
	m := vfs.NewMem()
	fsys := vfs.NewFaultFS(m, vfs.Random(99, 0.5, vfs.FaultEIO, vfs.FaultOpSync, vfs.FaultOpStat))
	f, err := m.Create("/f")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	h, err := fsys.OpenReadWrite("/f")
	require.NoError(t, err, "Open is not a listed class")
	defer h.Close()
	hits := map[vfs.FaultOp]int{}
	for range 1000 {
		_, err := h.Write([]byte("x"))
		require.NoError(t, err)
		_, err = h.ReadAt(make([]byte, 1), 0)
		require.NoError(t, err)
		_, err = fsys.List("/")
		require.NoError(t, err)
		if err := h.Sync(); err != nil {
			require.ErrorIs(t, err, syscall.EIO)
			hits[vfs.FaultOpSync]++
		}
		if _, err := h.Stat(); err != nil {
			require.ErrorIs(t, err, syscall.EIO)
			hits[vfs.FaultOpStat]++
		}
		if _, err := fsys.Stat("/f"); err != nil {
			require.ErrorIs(t, err, syscall.EIO)
			hits[vfs.FaultOpStat]++
		}
	}
	require.Greater(t, hits[vfs.FaultOpSync], 300)
	require.Greater(t, hits[vfs.FaultOpStat], 600)
	require.Len(t, fsys.Injected(), hits[vfs.FaultOpSync]+hits[vfs.FaultOpStat])
	for _, ev := range fsys.Injected() {
		require.Contains(t, []vfs.FaultOp{vfs.FaultOpSync, vfs.FaultOpStat}, ev.Op)
	}

	// FaultShortWrite over every class only hits writes.
	fsys = vfs.NewFaultFS(populateFaultMem(t), vfs.Random(5, 1, vfs.FaultShortWrite))
	errs := sweepWorkload(fsys)
	require.NotEmpty(t, fsys.Injected())
	for _, ev := range fsys.Injected() {
		require.Equal(t, vfs.FaultOpWrite, ev.Op)
		require.ErrorIs(t, errs[ev.Seq-1], syscall.ENOSPC)
	}
	require.Len(t, failedCalls(errs), len(fsys.Injected()))
}

func TestFaultFSInvalidArguments(t *testing.T) {
	require.Panics(t, func() { vfs.Random(1, -0.1, vfs.FaultEIO) })
	require.Panics(t, func() { vfs.Random(1, 1.1, vfs.FaultEIO) })
	require.Panics(t, func() { vfs.Random(1, math.NaN(), vfs.FaultEIO) })
	require.Panics(t, func() { vfs.Random(1, 0.5, vfs.Fault(42)) })
	require.Panics(t, func() { vfs.AtOp(1, vfs.Fault(-1)) })
	require.Panics(t, func() { vfs.AtOp(1, vfs.FaultEIO, vfs.FaultOp(14)) })
	fsys := vfs.NewFaultFS(vfs.NewMem(), vfs.InjectorFunc(func(vfs.FaultEvent) vfs.Fault { return vfs.Fault(9) }))
	require.Panics(t, func() { _, _ = fsys.Stat("/") })
}

func TestFaultFSStrings(t *testing.T) {
	require.Equal(t, "none", vfs.FaultNone.String())
	require.Equal(t, "ENOSPC", vfs.FaultENOSPC.String())
	require.Equal(t, "EIO", vfs.FaultEIO.String())
	require.Equal(t, "short-write", vfs.FaultShortWrite.String())
	require.Equal(t, "Fault(7)", vfs.Fault(7).String())
	names := map[string]bool{}
	for op := vfs.FaultOpCreate; op <= vfs.FaultOpLink; op++ {
		s := op.String()
		require.NotContains(t, s, "FaultOp(")
		require.False(t, names[s], "duplicate name %q", s)
		names[s] = true
	}
	require.Equal(t, "syncdir", vfs.FaultOpSyncDir.String())
	require.Equal(t, "link", vfs.FaultOpLink.String())
	require.Equal(t, "FaultOp(14)", vfs.FaultOp(14).String())
	require.Equal(t, "FaultOp(-1)", vfs.FaultOp(-1).String())
}

func TestFaultFSFilesAreNotMappers(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	inner, err := vfs.Default.Create(name)
	require.NoError(t, err)
	_, ok := inner.(vfs.Mapper)
	require.True(t, ok, "control: OS files are Mappers")
	require.NoError(t, inner.Close())
	require.NoError(t, vfs.Default.Remove(name))

	var fsys vfs.FS = vfs.NewFaultFS(vfs.Default, nil)
	f, err := fsys.Create(name)
	require.NoError(t, err)
	defer f.Close()
	_, ok = f.(vfs.Mapper)
	require.False(t, ok, "FaultFS files must not implement Mapper")
	_, err = f.Write([]byte("hello world"))
	require.NoError(t, err)
	p := make([]byte, 5)
	n, err := f.ReadAt(p, 6)
	require.NoError(t, err)
	require.Equal(t, "world", string(p[:n]))

	g, err := fsys.Open(name)
	require.NoError(t, err)
	defer g.Close()
	_, ok = g.(vfs.Mapper)
	require.False(t, ok)
	b, err := io.ReadAll(g)
	require.NoError(t, err)
	require.Equal(t, "hello world", string(b))

	fsys.(*vfs.FaultFS).SetInjector(vfs.Random(1, 1, vfs.FaultEIO, vfs.FaultOpRead))
	_, err = f.ReadAt(p, 0)
	require.ErrorIs(t, err, syscall.EIO)
}

func TestFaultFSConcurrent(t *testing.T) {
	m := vfs.NewMem()
	fsys := vfs.NewFaultFS(m, vfs.Random(1, 0.2, vfs.FaultEIO))
	var calls, faults atomic.Int64
	count := func(err error) {
		calls.Add(1)
		if errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENOSPC) {
			faults.Add(1)
		}
	}

	stop := make(chan struct{})
	toggled := make(chan int)
	go func() {
		i := 0
		for {
			select {
			case <-stop:
				toggled <- i
				return
			default:
			}
			switch i % 4 {
			case 0:
				fsys.SetInjector(vfs.Random(uint64(i), 0.2, vfs.FaultEIO))
			case 1:
				fsys.SetInjector(nil)
			case 2:
				fsys.SetInjector(vfs.AtOp(fsys.OpCount()+3, vfs.FaultENOSPC))
			case 3:
				fsys.SetInjector(vfs.Random(uint64(i), 0.5, vfs.FaultShortWrite))
			}
			_ = fsys.OpCount()
			_ = fsys.Injected()
			i++
		}
	}()

	const workers, iters = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range iters {
				name := fmt.Sprintf("/w%d-%d", w, i)
				f, err := fsys.Create(name)
				count(err)
				if err == nil {
					_, err = f.Write([]byte("payload"))
					count(err)
					count(f.Sync())
					_, err = f.ReadAt(make([]byte, 2), 0)
					count(err)
					_, err = f.Stat()
					count(err)
					count(f.Close())
				}
				_, err = fsys.Stat(name)
				count(err)
				_, err = fsys.List("/")
				count(err)
			}
		})
	}
	wg.Wait()
	close(stop)
	require.Positive(t, <-toggled)

	require.EqualValues(t, calls.Load(), fsys.OpCount())
	injected := fsys.Injected()
	require.NotEmpty(t, injected)
	require.EqualValues(t, faults.Load(), len(injected), "every injected fault surfaced as an error")
	for i, ev := range injected {
		require.LessOrEqual(t, ev.Seq, fsys.OpCount())
		if i > 0 {
			require.Greater(t, ev.Seq, injected[i-1].Seq)
		}
	}
}

func TestFaultFSOverOS(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	fsys := vfs.NewFaultFS(vfs.Default, nil)
	next := func(f vfs.Fault) int {
		seq := fsys.OpCount() + 1
		fsys.SetInjector(vfs.AtOp(seq, f))
		return seq
	}
	readOS := func(name string) string {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		return string(b)
	}
	requireAbsent := func(name string) {
		_, err := os.Lstat(name)
		require.ErrorIs(t, err, fs.ErrNotExist)
	}

	// Create.
	next(vfs.FaultEIO)
	_, err := fsys.Create(p("a"))
	requirePathError(t, err, syscall.EIO)
	requireAbsent(p("a"))
	f, err := fsys.Create(p("a"))
	require.NoError(t, err)
	defer f.Close()

	// Write: nothing written, then a short write.
	_, err = f.Write([]byte("hello"))
	require.NoError(t, err)
	next(vfs.FaultENOSPC)
	n, err := f.Write([]byte("world"))
	require.Zero(t, n)
	requirePathError(t, err, syscall.ENOSPC)
	require.Equal(t, "hello", readOS(p("a")))
	next(vfs.FaultShortWrite)
	n, err = f.Write([]byte("123456"))
	require.Equal(t, 3, n)
	requirePathError(t, err, syscall.ENOSPC)
	require.Equal(t, "hello123", readOS(p("a")))

	// Sync.
	seq := next(vfs.FaultEIO)
	err = f.Sync()
	requirePathError(t, err, syscall.EIO)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, p("a"), pe.Path)
	require.NoError(t, f.Sync())
	require.Contains(t, fsys.Injected(), vfs.FaultEvent{Seq: seq, Op: vfs.FaultOpSync, Path: p("a")})

	// Rename.
	next(vfs.FaultEIO)
	err = fsys.Rename(p("a"), p("b"))
	require.ErrorIs(t, err, syscall.EIO)
	var le *os.LinkError
	require.ErrorAs(t, err, &le)
	require.Equal(t, p("a"), le.Old)
	require.Equal(t, p("b"), le.New)
	require.Equal(t, "hello123", readOS(p("a")))
	requireAbsent(p("b"))
	require.NoError(t, fsys.Rename(p("a"), p("b")))
	require.Equal(t, "hello123", readOS(p("b")))

	// SyncDir, MkdirAll, Remove, Truncate, Lock.
	next(vfs.FaultEIO)
	requirePathError(t, fsys.SyncDir(dir), syscall.EIO)
	require.NoError(t, fsys.SyncDir(dir))
	next(vfs.FaultENOSPC)
	requirePathError(t, fsys.MkdirAll(p("x/y"), 0o755), syscall.ENOSPC)
	requireAbsent(p("x"))
	next(vfs.FaultEIO)
	requirePathError(t, fsys.Remove(p("b")), syscall.EIO)
	require.Equal(t, "hello123", readOS(p("b")))
	next(vfs.FaultEIO)
	requirePathError(t, f.Truncate(0), syscall.EIO)
	require.Equal(t, "hello123", readOS(p("b")))
	next(vfs.FaultEIO)
	_, err = fsys.Lock(p("LOCK"))
	requirePathError(t, err, syscall.EIO)
	requireAbsent(p("LOCK"))
	l, err := fsys.Lock(p("LOCK"))
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

func TestFaultFSShortWriteOnlyHitsWrites(t *testing.T) {
	// The FaultFS ignores FaultShortWrite from any injector on other classes.
	always := vfs.InjectorFunc(func(vfs.FaultEvent) vfs.Fault { return vfs.FaultShortWrite })
	fsys := vfs.NewFaultFS(populateFaultMem(t), always)
	errs := sweepWorkload(fsys)
	injected := fsys.Injected()
	require.Len(t, injected, 2, "the workload makes two writes")
	for _, ev := range injected {
		require.Equal(t, vfs.FaultOpWrite, ev.Op)
		require.ErrorIs(t, errs[ev.Seq-1], syscall.ENOSPC)
	}
	require.Len(t, failedCalls(errs), 2)

	// And the built-in injectors do not return it for other classes.
	for op := vfs.FaultOpCreate; op <= vfs.FaultOpLink; op++ {
		ev := vfs.FaultEvent{Seq: 5, Op: op, Path: "/f"}
		want := vfs.FaultNone
		if op == vfs.FaultOpWrite {
			want = vfs.FaultShortWrite
		}
		require.Equal(t, want, vfs.AtOp(5, vfs.FaultShortWrite).Inject(ev), "AtOp on %v", op)
		require.Equal(t, want, vfs.Random(1, 1, vfs.FaultShortWrite).Inject(ev), "Random on %v", op)
		require.Equal(t, vfs.FaultEIO, vfs.AtOp(5, vfs.FaultEIO).Inject(ev), "AtOp EIO on %v", op)
	}
}

// TestFaultFSWriteAt: WriteAt is a write for the faults: ENOSPC writes
// nothing, a short write half, and neither moves Write's offset.
func TestFaultFSWriteAt(t *testing.T) {
	m := vfs.NewMem()
	fsys := vfs.NewFaultFS(m, nil)
	f, err := fsys.Create("/w")
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write([]byte("ab"))
	require.NoError(t, err)

	fsys.SetInjector(vfs.AtOp(fsys.OpCount()+1, vfs.FaultENOSPC))
	n, err := f.WriteAt([]byte("0123"), 4)
	require.Equal(t, 0, n)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.Equal(t, "ab", contents(t, m, "/w"))

	seq := fsys.OpCount() + 1
	fsys.SetInjector(vfs.AtOp(seq, vfs.FaultShortWrite))
	n, err = f.WriteAt([]byte("0123"), 4)
	require.Equal(t, 2, n)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.Equal(t, "ab\x00\x0001", contents(t, m, "/w"))
	require.Equal(t, []vfs.FaultEvent{{Seq: seq, Op: vfs.FaultOpWrite, Path: "/w"}}, fsys.Injected()[1:])

	fsys.SetInjector(nil)
	_, err = f.Write([]byte("c"))
	require.NoError(t, err)
	require.Equal(t, "abc\x0001", contents(t, m, "/w"))
}
