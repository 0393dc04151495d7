package vfs_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/simplekv/simplekv/internal/vfs"
)

// createFile creates name holding data, syncing the data if sync is set.
func createFile(t *testing.T, m vfs.FS, name, data string, sync bool) vfs.File {
	t.Helper()
	f, err := m.Create(name)
	require.NoError(t, err)
	_, err = f.Write([]byte(data))
	require.NoError(t, err)
	if sync {
		require.NoError(t, f.Sync())
	}
	return f
}

// contents reads the whole of name.
func contents(t *testing.T, m vfs.FS, name string) string {
	t.Helper()
	f, err := m.Open(name)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return string(b)
}

func exists(t *testing.T, m vfs.FS, name string) bool {
	t.Helper()
	_, err := m.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	require.NoError(t, err)
	return true
}

func requirePathError(t *testing.T, err error, target error) {
	t.Helper()
	require.Error(t, err)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, target)
}

func TestMemFSInterfaces(t *testing.T) {
	var m vfs.FS = vfs.NewMem()
	f, err := m.Create("/f")
	require.NoError(t, err)
	_, isMapper := f.(vfs.Mapper)
	require.False(t, isMapper, "MemFS files must not implement Mapper")
}

func TestMemFSPaths(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("d", 0o755))
	createFile(t, m, "d/f", "x", false)
	for _, name := range []string{"/d/f", "d/f", "/d/./f", "//d//f", "/d/e/../f", "d/f/"} {
		require.Equal(t, "x", contents(t, m, name), name)
	}
	fi, err := m.Stat("/")
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	require.Equal(t, "/", fi.Name())
	fi, err = m.Stat(".")
	require.NoError(t, err)
	require.True(t, fi.IsDir())
}

func TestMemFSCreate(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/d", 0o755))
	createFile(t, m, "/d/file", "", false)

	tests := []struct {
		name string
		path string
		want error // nil for success
	}{
		{"new file", "/d/new", nil},
		{"new file in root", "/top", nil},
		{"existing file", "/d/file", fs.ErrExist},
		{"existing dir", "/d", fs.ErrExist},
		{"root", "/", fs.ErrExist},
		{"missing parent", "/nope/file", fs.ErrNotExist},
		{"parent is a file", "/d/file/x", syscall.ENOTDIR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := m.Create(tt.path)
			if tt.want == nil {
				require.NoError(t, err)
				require.NoError(t, f.Close())
				require.True(t, exists(t, m, tt.path))
				return
			}
			require.Nil(t, f)
			requirePathError(t, err, tt.want)
		})
	}
}

func TestMemFSOpen(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/d", 0o755))
	createFile(t, m, "/d/file", "hello", false)

	t.Run("missing", func(t *testing.T) {
		for _, open := range []func(string) (vfs.File, error){m.Open, m.OpenReadWrite} {
			_, err := open("/d/missing")
			requirePathError(t, err, fs.ErrNotExist)
			_, err = open("/missing/file")
			requirePathError(t, err, fs.ErrNotExist)
			_, err = open("/d/file/x")
			requirePathError(t, err, syscall.ENOTDIR)
		}
	})
	t.Run("read only", func(t *testing.T) {
		f, err := m.Open("/d/file")
		require.NoError(t, err)
		defer f.Close()
		n, err := f.Write([]byte("x"))
		require.Zero(t, n)
		requirePathError(t, err, syscall.EBADF)
		requirePathError(t, f.Truncate(0), syscall.EINVAL)
		require.NoError(t, f.Sync())
		require.Equal(t, "hello", contents(t, m, "/d/file"))
	})
	t.Run("read write starts at offset 0", func(t *testing.T) {
		f, err := m.OpenReadWrite("/d/file")
		require.NoError(t, err)
		defer f.Close()
		_, err = f.Write([]byte("J"))
		require.NoError(t, err)
		require.Equal(t, "Jello", contents(t, m, "/d/file"))
		// Reading to the end and writing appends.
		rest, err := io.ReadAll(f)
		require.NoError(t, err)
		require.Equal(t, "ello", string(rest))
		_, err = f.Write([]byte("!"))
		require.NoError(t, err)
		require.Equal(t, "Jello!", contents(t, m, "/d/file"))
	})
	t.Run("directory", func(t *testing.T) {
		_, err := m.OpenReadWrite("/d")
		requirePathError(t, err, syscall.EISDIR)
		f, err := m.Open("/d")
		require.NoError(t, err)
		defer f.Close()
		_, err = f.Read(make([]byte, 1))
		requirePathError(t, err, syscall.EISDIR)
		_, err = f.ReadAt(make([]byte, 1), 0)
		requirePathError(t, err, syscall.EISDIR)
		fi, err := f.Stat()
		require.NoError(t, err)
		require.True(t, fi.IsDir())
		require.Equal(t, "d", fi.Name())
	})
}

func TestMemFSReadWrite(t *testing.T) {
	m := vfs.NewMem()
	f := createFile(t, m, "/f", "hello ", false)
	n, err := f.Write([]byte("world"))
	require.NoError(t, err)
	require.Equal(t, 5, n)
	n, err = f.Write(nil)
	require.NoError(t, err)
	require.Zero(t, n)

	fi, err := f.Stat()
	require.NoError(t, err)
	require.Equal(t, "f", fi.Name())
	require.EqualValues(t, 11, fi.Size())
	require.False(t, fi.IsDir())
	require.True(t, fi.Mode().IsRegular())

	r, err := m.Open("f")
	require.NoError(t, err)
	defer r.Close()

	// Read advances an offset and reports io.EOF at the end.
	buf := make([]byte, 4)
	for _, want := range []string{"hell", "o wo", "rld"} {
		n, err := r.Read(buf)
		require.NoError(t, err)
		require.Equal(t, want, string(buf[:n]))
	}
	n, err = r.Read(buf)
	require.Zero(t, n)
	require.ErrorIs(t, err, io.EOF)
	n, err = r.Read(nil)
	require.Zero(t, n)
	require.NoError(t, err)

	// Data written later through another handle is visible.
	_, err = f.Write([]byte("!"))
	require.NoError(t, err)
	n, err = r.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "!", string(buf[:n]))

	tests := []struct {
		name    string
		off     int64
		size    int
		want    string
		wantErr error
	}{
		{"start", 0, 5, "hello", nil},
		{"middle", 6, 5, "world", nil},
		{"exactly to end", 6, 6, "world!", nil},
		{"past end", 6, 10, "world!", io.EOF},
		{"at end", 12, 1, "", io.EOF},
		{"beyond end", 100, 1, "", io.EOF},
		{"empty buffer", 100, 0, "", nil},
	}
	for _, tt := range tests {
		t.Run("ReadAt "+tt.name, func(t *testing.T) {
			p := make([]byte, tt.size)
			n, err := r.ReadAt(p, tt.off)
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
			require.Equal(t, tt.want, string(p[:n]))
		})
	}
	_, err = r.ReadAt(buf, -1)
	require.Error(t, err)

	// ReadAt does not move the Read offset.
	n, err = r.Read(buf)
	require.Zero(t, n)
	require.ErrorIs(t, err, io.EOF)
}

func TestMemFSTruncate(t *testing.T) {
	m := vfs.NewMem()
	f := createFile(t, m, "/f", "abcdef", false)

	require.NoError(t, f.Truncate(2))
	require.Equal(t, "ab", contents(t, m, "/f"))
	// Growing zero-fills, even over bytes that were cut off before.
	require.NoError(t, f.Truncate(4))
	require.Equal(t, "ab\x00\x00", contents(t, m, "/f"))
	fi, err := m.Stat("/f")
	require.NoError(t, err)
	require.EqualValues(t, 4, fi.Size())

	// The write offset is unchanged by Truncate: writing past the end leaves
	// a zero-filled gap.
	require.NoError(t, f.Truncate(1))
	_, err = f.Write([]byte("Z"))
	require.NoError(t, err)
	require.Equal(t, "a\x00\x00\x00\x00\x00Z", contents(t, m, "/f"))

	requirePathError(t, f.Truncate(-1), syscall.EINVAL)
}

func TestMemFSClosedFile(t *testing.T) {
	m := vfs.NewMem()
	f := createFile(t, m, "/f", "data", false)
	require.NoError(t, f.Close())

	ops := map[string]func() error{
		"Read":     func() error { _, err := f.Read(make([]byte, 1)); return err },
		"ReadAt":   func() error { _, err := f.ReadAt(make([]byte, 1), 0); return err },
		"Write":    func() error { _, err := f.Write([]byte("x")); return err },
		"Sync":     f.Sync,
		"Truncate": func() error { return f.Truncate(0) },
		"Stat":     func() error { _, err := f.Stat(); return err },
		"Close":    f.Close,
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			requirePathError(t, op(), fs.ErrClosed)
		})
	}
	require.Equal(t, "data", contents(t, m, "/f"))
}

func TestMemFSRemove(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/full/sub", 0o755))
	require.NoError(t, m.MkdirAll("/empty", 0o755))
	createFile(t, m, "/file", "x", false)

	tests := []struct {
		name string
		path string
		want error
	}{
		{"file", "/file", nil},
		{"empty dir", "/empty", nil},
		{"non-empty dir", "/full", syscall.ENOTEMPTY},
		{"missing", "/missing", fs.ErrNotExist},
		{"missing parent", "/missing/x", fs.ErrNotExist},
		{"root", "/", syscall.EBUSY},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Remove(tt.path)
			if tt.want == nil {
				require.NoError(t, err)
				require.False(t, exists(t, m, tt.path))
				return
			}
			requirePathError(t, err, tt.want)
		})
	}

	t.Run("open file outlives its name", func(t *testing.T) {
		f := createFile(t, m, "/open", "abc", false)
		require.NoError(t, m.Remove("/open"))
		_, err := f.Write([]byte("d"))
		require.NoError(t, err)
		p := make([]byte, 4)
		n, err := f.ReadAt(p, 0)
		require.NoError(t, err)
		require.Equal(t, "abcd", string(p[:n]))
		require.False(t, exists(t, m, "/open"))
		// The name can be reused for a new file.
		createFile(t, m, "/open", "new", false)
		require.Equal(t, "new", contents(t, m, "/open"))
	})
}

func TestMemFSRename(t *testing.T) {
	setup := func(t *testing.T) *vfs.MemFS {
		m := vfs.NewMem()
		require.NoError(t, m.MkdirAll("/d/sub", 0o755))
		require.NoError(t, m.MkdirAll("/empty", 0o755))
		createFile(t, m, "/a", "A", false)
		createFile(t, m, "/b", "B", false)
		createFile(t, m, "/d/sub/f", "F", false)
		return m
	}
	tests := []struct {
		name     string
		old, new string
		want     error
	}{
		{"replace file", "/a", "/b", nil},
		{"to new name", "/a", "/c", nil},
		{"into dir", "/a", "/d/a", nil},
		{"same name", "/a", "/a", nil},
		{"dir to new name", "/d", "/e", nil},
		{"dir into other dir", "/empty", "/d/empty", nil},
		{"missing source", "/missing", "/c", fs.ErrNotExist},
		{"missing source and target dir", "/missing", "/d", fs.ErrNotExist},
		{"missing target dir", "/a", "/missing/a", fs.ErrNotExist},
		{"source parent is a file", "/a/x", "/c", syscall.ENOTDIR},
		{"target parent is a file", "/a", "/b/a", syscall.ENOTDIR},
		{"target parent is a file, missing source", "/missing", "/b/a", syscall.ENOTDIR},
		// os.Rename never replaces a directory.
		{"file over dir", "/a", "/empty", fs.ErrExist},
		{"dir over empty dir", "/d", "/empty", fs.ErrExist},
		{"dir over non-empty dir", "/empty", "/d", fs.ErrExist},
		{"dir onto itself", "/d", "/d", fs.ErrExist},
		{"dir over file", "/empty", "/a", syscall.ENOTDIR},
		{"dir into itself", "/d", "/d/sub/d", syscall.EINVAL},
		{"root", "/", "/x", syscall.EBUSY},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := setup(t)
			before := tree(t, m)
			err := m.Rename(tt.old, tt.new)
			if tt.want != nil {
				var le *os.LinkError
				require.ErrorAs(t, err, &le)
				require.ErrorIs(t, err, tt.want)
				require.Equal(t, before, tree(t, m), "failed rename changed the tree")
				return
			}
			require.NoError(t, err)
			if tt.old == tt.new {
				require.Equal(t, before, tree(t, m))
				return
			}
			require.False(t, exists(t, m, tt.old))
			want := map[string]string{}
			for p, c := range before {
				switch {
				case p == tt.new || strings.HasPrefix(p, tt.new+"/"):
					// replaced
				case p == tt.old || strings.HasPrefix(p, tt.old+"/"):
					want[tt.new+strings.TrimPrefix(p, tt.old)] = c
				default:
					want[p] = c
				}
			}
			require.Equal(t, want, tree(t, m))
		})
	}
}

// tree maps every path under "/" to the file's contents, or "<dir>".
func tree(t *testing.T, m vfs.FS) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(dir string)
	walk = func(dir string) {
		names, err := m.List(dir)
		require.NoError(t, err)
		for _, name := range names {
			p := filepath.Join(dir, name)
			fi, err := m.Stat(p)
			require.NoError(t, err)
			if fi.IsDir() {
				out[p] = "<dir>"
				walk(p)
			} else {
				out[p] = contents(t, m, p)
			}
		}
	}
	walk("/")
	return out
}

func TestMemFSMkdirAllListStat(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/a/b/c", 0o750))
	require.NoError(t, m.MkdirAll("/a/b/c", 0o750), "MkdirAll of an existing dir")
	require.NoError(t, m.MkdirAll("/", 0o750))
	createFile(t, m, "/a/zz", "12345", false)
	createFile(t, m, "/a/aa", "", false)
	createFile(t, m, "/a/mm", "", false)

	names, err := m.List("/a")
	require.NoError(t, err)
	require.Equal(t, []string{"aa", "b", "mm", "zz"}, names)
	names, err = m.List("/a/b/c")
	require.NoError(t, err)
	require.Empty(t, names)
	names, err = m.List("/")
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, names)

	_, err = m.List("/missing")
	requirePathError(t, err, fs.ErrNotExist)
	_, err = m.List("/a/zz")
	requirePathError(t, err, syscall.ENOTDIR)

	requirePathError(t, m.MkdirAll("/a/zz", 0o755), syscall.ENOTDIR)
	requirePathError(t, m.MkdirAll("/a/zz/sub", 0o755), syscall.ENOTDIR)

	fi, err := m.Stat("/a/b")
	require.NoError(t, err)
	require.Equal(t, "b", fi.Name())
	require.True(t, fi.IsDir())
	require.Equal(t, os.ModeDir|0o750, fi.Mode())

	fi, err = m.Stat("/a/zz")
	require.NoError(t, err)
	require.Equal(t, "zz", fi.Name())
	require.False(t, fi.IsDir())
	require.EqualValues(t, 5, fi.Size())
	require.False(t, fi.ModTime().IsZero())

	_, err = m.Stat("/a/missing")
	requirePathError(t, err, fs.ErrNotExist)
	_, err = m.Stat("/a/zz/x")
	requirePathError(t, err, syscall.ENOTDIR)
}

func TestMemFSSyncDirErrors(t *testing.T) {
	m := vfs.NewMem()
	createFile(t, m, "/f", "", false)
	require.NoError(t, m.SyncDir("/"))
	requirePathError(t, m.SyncDir("/missing"), fs.ErrNotExist)
	requirePathError(t, m.SyncDir("/f"), syscall.ENOTDIR)
}

func TestMemFSLock(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/db", 0o755))

	l, err := m.Lock("/db/LOCK")
	require.NoError(t, err)
	require.True(t, exists(t, m, "/db/LOCK"), "Lock creates the file")

	for _, name := range []string{"/db/LOCK", "db/LOCK", "/db/../db/LOCK"} {
		_, err = m.Lock(name)
		require.ErrorIs(t, err, vfs.ErrLocked, name)
		require.Contains(t, err.Error(), filepath.Clean(name))
	}

	// Other files are independent.
	l2, err := m.Lock("/db/OTHER")
	require.NoError(t, err)
	require.NoError(t, l2.Close())

	// The lock belongs to the file, not the name.
	require.NoError(t, m.Rename("/db/LOCK", "/db/MOVED"))
	_, err = m.Lock("/db/MOVED")
	require.ErrorIs(t, err, vfs.ErrLocked)
	require.NoError(t, m.Rename("/db/MOVED", "/db/LOCK"))

	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "second Close is a no-op")
	l, err = m.Lock("/db/LOCK")
	require.NoError(t, err)
	require.NoError(t, l.Close())

	_, err = m.Lock("/missing/LOCK")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NotErrorIs(t, err, vfs.ErrLocked)
	_, err = m.Lock("/db")
	require.ErrorIs(t, err, syscall.EISDIR)
}

func TestMemFSOpCountAndHook(t *testing.T) {
	m := vfs.NewMem()
	var ops []vfs.MemOp
	m.SetOpHook(func(op vfs.MemOp) error {
		ops = append(ops, op)
		return nil
	})

	require.Zero(t, m.OpCount())
	require.NoError(t, m.MkdirAll("/d", 0o755))
	f, err := m.Create("/d/f")
	require.NoError(t, err)
	_, err = f.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Truncate(0))
	require.NoError(t, m.SyncDir("/d"))
	require.NoError(t, m.Rename("/d/f", "/d/g"))
	require.NoError(t, m.Remove("/d/g"))
	l, err := m.Lock("/d/LOCK")
	require.NoError(t, err)
	require.NoError(t, l.Close())
	// Failed operations count too; reads do not.
	_, err = m.Create("/d/LOCK")
	require.Error(t, err)
	_, err = m.List("/d")
	require.NoError(t, err)
	_, err = m.Stat("/d")
	require.NoError(t, err)
	r, err := m.Open("/d/LOCK")
	require.NoError(t, err)
	_, err = r.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, r.Close())

	want := []vfs.MemOp{
		{Seq: 1, Kind: vfs.OpMkdir, Path: "/d"},
		{Seq: 2, Kind: vfs.OpCreate, Path: "/d/f"},
		{Seq: 3, Kind: vfs.OpWrite, Path: "/d/f"},
		{Seq: 4, Kind: vfs.OpSync, Path: "/d/f"},
		{Seq: 5, Kind: vfs.OpTruncate, Path: "/d/f"},
		{Seq: 6, Kind: vfs.OpSyncDir, Path: "/d"},
		{Seq: 7, Kind: vfs.OpRename, Path: "/d/f", NewPath: "/d/g"},
		{Seq: 8, Kind: vfs.OpRemove, Path: "/d/g"},
		{Seq: 9, Kind: vfs.OpLock, Path: "/d/LOCK"},
		{Seq: 10, Kind: vfs.OpCreate, Path: "/d/LOCK"},
	}
	require.Equal(t, want, ops)
	require.Equal(t, 10, m.OpCount())

	m.SetOpHook(nil)
	require.NoError(t, m.SyncDir("/"))
	require.Equal(t, 11, m.OpCount())
	require.Len(t, ops, 10)
}

func TestMemFSHookInjectsFailures(t *testing.T) {
	m := vfs.NewMem()
	f := createFile(t, m, "/f", "synced", true)
	require.NoError(t, m.SyncDir("/"))
	_, err := f.Write([]byte(" tail"))
	require.NoError(t, err)

	injected := errors.New("injected")
	m.SetOpHook(func(vfs.MemOp) error { return injected })

	requirePathError(t, f.Sync(), injected)
	_, err = f.Write([]byte("x"))
	requirePathError(t, err, injected)
	requirePathError(t, f.Truncate(0), injected)
	_, err = m.Create("/g")
	requirePathError(t, err, injected)
	requirePathError(t, m.Remove("/f"), injected)
	requirePathError(t, m.MkdirAll("/d", 0o755), injected)
	requirePathError(t, m.SyncDir("/"), injected)
	require.ErrorIs(t, m.Rename("/f", "/g"), injected)
	_, err = m.Lock("/LOCK")
	require.ErrorIs(t, err, injected)

	m.SetOpHook(nil)
	// Nothing took effect; in particular the failed Sync made nothing durable.
	require.Equal(t, map[string]string{"/f": "synced tail"}, tree(t, m))
	require.Equal(t, "synced", contents(t, m.CrashClone(nil), "/f"))
}

// TestMemFSCrashAtEveryOp shows the intended use of the op hook: capture the
// crash state before every operation of a workload.
func TestMemFSCrashAtEveryOp(t *testing.T) {
	m := vfs.NewMem()
	var states []map[string]string
	m.SetOpHook(func(vfs.MemOp) error {
		states = append(states, tree(t, m.CrashClone(nil)))
		return nil
	})
	require.NoError(t, m.MkdirAll("/db", 0o755)) // before op 1
	require.NoError(t, m.SyncDir("/"))           // 2
	f, err := m.Create("/db/f")                  // 3
	require.NoError(t, err)
	_, err = f.Write([]byte("v1")) // 4
	require.NoError(t, err)
	require.NoError(t, f.Sync())         // 5
	require.NoError(t, m.SyncDir("/db")) // 6
	_, err = f.Write([]byte("v2"))       // 7
	require.NoError(t, err)
	require.NoError(t, f.Sync()) // 8
	m.SetOpHook(nil)
	states = append(states, tree(t, m.CrashClone(nil)))

	want := []map[string]string{
		{},
		{},
		{"/db": "<dir>"},
		{"/db": "<dir>"},
		{"/db": "<dir>"},
		{"/db": "<dir>"},
		{"/db": "<dir>", "/db/f": "v1"},
		{"/db": "<dir>", "/db/f": "v1"},
		{"/db": "<dir>", "/db/f": "v1v2"},
	}
	require.Equal(t, want, states)
	require.Equal(t, 8, m.OpCount())
}

func TestMemFSCrashClone(t *testing.T) {
	tests := []struct {
		name string
		// run acts on a MemFS whose root holds the durable, synced file
		// /old ("old") and the durable, empty directory /d.
		run  func(t *testing.T, m *vfs.MemFS)
		want map[string]string
	}{
		{
			name: "nothing changed",
			run:  func(t *testing.T, m *vfs.MemFS) {},
			want: map[string]string{"/old": "old", "/d": "<dir>"},
		},
		{
			name: "unsynced append dropped",
			run: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.OpenReadWrite("/old")
				require.NoError(t, err)
				_, err = io.ReadAll(f)
				require.NoError(t, err)
				_, err = f.Write([]byte(" new"))
				require.NoError(t, err)
			},
			want: map[string]string{"/old": "old", "/d": "<dir>"},
		},
		{
			name: "synced append kept",
			run: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.OpenReadWrite("/old")
				require.NoError(t, err)
				_, err = io.ReadAll(f)
				require.NoError(t, err)
				_, err = f.Write([]byte(" new"))
				require.NoError(t, err)
				require.NoError(t, f.Sync())
				_, err = f.Write([]byte(" unsynced"))
				require.NoError(t, err)
			},
			want: map[string]string{"/old": "old new", "/d": "<dir>"},
		},
		{
			name: "created, synced, no SyncDir: absent",
			run: func(t *testing.T, m *vfs.MemFS) {
				createFile(t, m, "/d/f", "data", true)
			},
			want: map[string]string{"/old": "old", "/d": "<dir>"},
		},
		{
			name: "created, SyncDir of another dir: absent",
			run: func(t *testing.T, m *vfs.MemFS) {
				createFile(t, m, "/d/f", "data", true)
				require.NoError(t, m.SyncDir("/"))
			},
			want: map[string]string{"/old": "old", "/d": "<dir>"},
		},
		{
			name: "created, synced and SyncDir: present",
			run: func(t *testing.T, m *vfs.MemFS) {
				createFile(t, m, "/d/f", "data", true)
				require.NoError(t, m.SyncDir("/d"))
			},
			want: map[string]string{"/old": "old", "/d": "<dir>", "/d/f": "data"},
		},
		{
			name: "created, SyncDir, data synced afterwards: present",
			run: func(t *testing.T, m *vfs.MemFS) {
				f := createFile(t, m, "/d/f", "data", false)
				require.NoError(t, m.SyncDir("/d"))
				require.NoError(t, f.Sync())
			},
			want: map[string]string{"/old": "old", "/d": "<dir>", "/d/f": "data"},
		},
		{
			name: "created, SyncDir, never synced: empty",
			run: func(t *testing.T, m *vfs.MemFS) {
				createFile(t, m, "/d/f", "data", false)
				require.NoError(t, m.SyncDir("/d"))
			},
			want: map[string]string{"/old": "old", "/d": "<dir>", "/d/f": ""},
		},
		{
			name: "sync through a closed-and-reopened handle",
			run: func(t *testing.T, m *vfs.MemFS) {
				f := createFile(t, m, "/d/f", "data", false)
				require.NoError(t, f.Close())
				require.NoError(t, m.SyncDir("/d"))
				f, err := m.Open("/d/f")
				require.NoError(t, err)
				require.NoError(t, f.Sync())
			},
			want: map[string]string{"/old": "old", "/d": "<dir>", "/d/f": "data"},
		},
		{
			name: "rename without SyncDir reverts",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.Rename("/old", "/new"))
			},
			want: map[string]string{"/old": "old", "/d": "<dir>"},
		},
		{
			name: "rename with SyncDir",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.Rename("/old", "/new"))
				require.NoError(t, m.SyncDir("/"))
			},
			want: map[string]string{"/new": "old", "/d": "<dir>"},
		},
		{
			name: "rename replacing a file, without SyncDir",
			run: func(t *testing.T, m *vfs.MemFS) {
				createFile(t, m, "/tmp", "replacement", true)
				require.NoError(t, m.SyncDir("/"))
				require.NoError(t, m.Rename("/tmp", "/old"))
			},
			want: map[string]string{"/old": "old", "/tmp": "replacement", "/d": "<dir>"},
		},
		{
			name: "rename replacing a file, with SyncDir",
			run: func(t *testing.T, m *vfs.MemFS) {
				createFile(t, m, "/tmp", "replacement", true)
				require.NoError(t, m.SyncDir("/"))
				require.NoError(t, m.Rename("/tmp", "/old"))
				require.NoError(t, m.SyncDir("/"))
			},
			want: map[string]string{"/old": "replacement", "/d": "<dir>"},
		},
		{
			name: "rename across dirs, both synced",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.Rename("/old", "/d/old"))
				require.NoError(t, m.SyncDir("/d"))
				require.NoError(t, m.SyncDir("/"))
			},
			want: map[string]string{"/d": "<dir>", "/d/old": "old"},
		},
		{
			name: "rename across dirs, only the target synced",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.Rename("/old", "/d/old"))
				require.NoError(t, m.SyncDir("/d"))
			},
			want: map[string]string{"/old": "old", "/d": "<dir>", "/d/old": "old"},
		},
		{
			name: "remove without SyncDir reverts",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.Remove("/old"))
			},
			want: map[string]string{"/old": "old", "/d": "<dir>"},
		},
		{
			name: "removed file keeps what was synced through an open handle",
			run: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.OpenReadWrite("/old")
				require.NoError(t, err)
				require.NoError(t, m.Remove("/old"))
				_, err = f.Write([]byte("OLD"))
				require.NoError(t, err)
				require.NoError(t, f.Sync())
			},
			want: map[string]string{"/old": "OLD", "/d": "<dir>"},
		},
		{
			name: "remove with SyncDir",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.Remove("/old"))
				require.NoError(t, m.SyncDir("/"))
			},
			want: map[string]string{"/d": "<dir>"},
		},
		{
			name: "remove and recreate, SyncDir",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.Remove("/old"))
				createFile(t, m, "/old", "recreated", false)
				require.NoError(t, m.SyncDir("/"))
			},
			want: map[string]string{"/old": "", "/d": "<dir>"},
		},
		{
			name: "remove dir without SyncDir reverts",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.Remove("/d"))
			},
			want: map[string]string{"/old": "old", "/d": "<dir>"},
		},
		{
			name: "truncate without Sync reverts",
			run: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.OpenReadWrite("/old")
				require.NoError(t, err)
				require.NoError(t, f.Truncate(1))
			},
			want: map[string]string{"/old": "old", "/d": "<dir>"},
		},
		{
			name: "truncate with Sync",
			run: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.OpenReadWrite("/old")
				require.NoError(t, err)
				require.NoError(t, f.Truncate(1))
				require.NoError(t, f.Sync())
			},
			want: map[string]string{"/old": "o", "/d": "<dir>"},
		},
		{
			name: "truncate, rewrite and Sync",
			run: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.OpenReadWrite("/old")
				require.NoError(t, err)
				require.NoError(t, f.Truncate(0))
				_, err = f.Write([]byte("NEW!"))
				require.NoError(t, err)
				require.NoError(t, f.Sync())
				_, err = f.Write([]byte("unsynced"))
				require.NoError(t, err)
			},
			want: map[string]string{"/old": "NEW!", "/d": "<dir>"},
		},
		{
			name: "grow with Truncate and Sync",
			run: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.OpenReadWrite("/old")
				require.NoError(t, err)
				require.NoError(t, f.Truncate(5))
				require.NoError(t, f.Sync())
			},
			want: map[string]string{"/old": "old\x00\x00", "/d": "<dir>"},
		},
		{
			name: "MkdirAll without SyncDir: absent",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.MkdirAll("/x/y", 0o755))
				require.NoError(t, m.SyncDir("/x"))
			},
			want: map[string]string{"/old": "old", "/d": "<dir>"},
		},
		{
			name: "MkdirAll with SyncDir of the top parent only",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.MkdirAll("/x/y", 0o755))
				require.NoError(t, m.SyncDir("/"))
			},
			want: map[string]string{"/old": "old", "/d": "<dir>", "/x": "<dir>"},
		},
		{
			name: "MkdirAll with SyncDir of every parent",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.MkdirAll("/x/y", 0o755))
				require.NoError(t, m.SyncDir("/x"))
				require.NoError(t, m.SyncDir("/"))
			},
			want: map[string]string{"/old": "old", "/d": "<dir>", "/x": "<dir>", "/x/y": "<dir>"},
		},
		{
			name: "Sync of a directory handle is SyncDir",
			run: func(t *testing.T, m *vfs.MemFS) {
				createFile(t, m, "/d/f", "data", true)
				d, err := m.Open("/d")
				require.NoError(t, err)
				require.NoError(t, d.Sync())
			},
			want: map[string]string{"/old": "old", "/d": "<dir>", "/d/f": "data"},
		},
		{
			name: "renamed dir moves its durable subtree",
			run: func(t *testing.T, m *vfs.MemFS) {
				createFile(t, m, "/d/f", "data", true)
				require.NoError(t, m.SyncDir("/d"))
				require.NoError(t, m.Rename("/d", "/e"))
				require.NoError(t, m.SyncDir("/"))
			},
			want: map[string]string{"/old": "old", "/e": "<dir>", "/e/f": "data"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := vfs.NewMem()
			createFile(t, m, "/old", "old", true)
			require.NoError(t, m.MkdirAll("/d", 0o755))
			require.NoError(t, m.SyncDir("/"))
			tt.run(t, m)
			before := tree(t, m)
			c := m.CrashClone(nil)
			require.Equal(t, tt.want, tree(t, c))
			require.Equal(t, before, tree(t, m), "CrashClone changed the original")
			// Everything in the clone is durable.
			require.Equal(t, tt.want, tree(t, c.CrashClone(nil)))
		})
	}
}

func TestMemFSCrashCloneDirectoryCycle(t *testing.T) {
	// Renaming directories back and forth while syncing only some parents
	// can make the durable entries form a cycle; CrashClone must still end.
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/a", 0o755))
	require.NoError(t, m.MkdirAll("/b", 0o755))
	require.NoError(t, m.SyncDir("/"))
	require.NoError(t, m.Rename("/b", "/a/b"))
	require.NoError(t, m.SyncDir("/a"))
	require.NoError(t, m.Rename("/a/b", "/b"))
	require.NoError(t, m.Rename("/a", "/b/a"))
	require.NoError(t, m.SyncDir("/b"))

	got := tree(t, m.CrashClone(nil))
	require.Equal(t, map[string]string{
		"/a": "<dir>", "/a/b": "<dir>",
		"/b": "<dir>", "/b/a": "<dir>",
	}, got)
}

func TestMemFSCrashCloneTornAppend(t *testing.T) {
	m := vfs.NewMem()
	const synced, tail = "synced|", "0123456789abcdef"
	f := createFile(t, m, "/f", synced, true)
	_, err := f.Write([]byte(tail))
	require.NoError(t, err)
	g := createFile(t, m, "/never-synced", "xyz", false)
	defer g.Close()
	require.NoError(t, m.SyncDir("/"))

	lengths := map[int]int{}
	neverLengths := map[int]int{}
	for seed := range int64(500) {
		c := m.CrashClone(rand.New(rand.NewSource(seed)))
		got := contents(t, c, "/f")
		require.True(t, strings.HasPrefix(synced+tail, got), "seed %d: %q is not a prefix", seed, got)
		require.GreaterOrEqual(t, len(got), len(synced), "seed %d: synced data lost", seed)
		lengths[len(got)]++

		got = contents(t, c, "/never-synced")
		require.True(t, strings.HasPrefix("xyz", got), "seed %d: %q", seed, got)
		neverLengths[len(got)]++

		// The torn state is itself durable.
		require.Equal(t, tree(t, c), tree(t, c.CrashClone(nil)))
	}
	require.Len(t, lengths, len(tail)+1, "every prefix length should occur: %v", lengths)
	require.Len(t, neverLengths, 4, "%v", neverLengths)

	// The original is untouched, and the same seed gives the same result.
	require.Equal(t, synced+tail, contents(t, m, "/f"))
	require.Equal(t,
		tree(t, m.CrashClone(rand.New(rand.NewSource(42)))),
		tree(t, m.CrashClone(rand.New(rand.NewSource(42)))))

	// Directory entries are not randomised.
	h := createFile(t, m, "/unsynced-entry", "abc", true)
	defer h.Close()
	for seed := range int64(50) {
		require.False(t, exists(t, m.CrashClone(rand.New(rand.NewSource(seed))), "/unsynced-entry"))
	}
}

func TestMemFSCrashCloneTornRewrite(t *testing.T) {
	for _, tt := range []struct {
		name    string
		rewrite func(t *testing.T, f vfs.File)
		current string
	}{
		{
			name:    "truncate",
			rewrite: func(t *testing.T, f vfs.File) { require.NoError(t, f.Truncate(2)) },
			current: "he",
		},
		{
			name: "overwrite in place",
			rewrite: func(t *testing.T, f vfs.File) {
				_, err := f.Write([]byte("J"))
				require.NoError(t, err)
			},
			current: "Jello",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := vfs.NewMem()
			createFile(t, m, "/f", "hello", true)
			require.NoError(t, m.SyncDir("/"))
			f, err := m.OpenReadWrite("/f")
			require.NoError(t, err)
			tt.rewrite(t, f)

			seen := map[string]int{}
			for seed := range int64(100) {
				seen[contents(t, m.CrashClone(rand.New(rand.NewSource(seed))), "/f")]++
			}
			require.Len(t, seen, 2, "%v", seen)
			require.Contains(t, seen, "hello")
			require.Contains(t, seen, tt.current)
			require.Equal(t, "hello", contents(t, m.CrashClone(nil), "/f"))
		})
	}
}

func TestMemFSCrashCloneIndependent(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/d", 0o755))
	f := createFile(t, m, "/d/f", "base", true)
	require.NoError(t, m.SyncDir("/d"))
	require.NoError(t, m.SyncDir("/"))
	lock, err := m.Lock("/d/LOCK")
	require.NoError(t, err)
	require.NoError(t, m.SyncDir("/d"))

	c := m.CrashClone(nil)
	require.Zero(t, c.OpCount())

	// Locks are not carried over.
	cl, err := c.Lock("/d/LOCK")
	require.NoError(t, err)
	require.NoError(t, cl.Close())

	// Changes to the original do not reach the clone...
	_, err = f.Write([]byte("+orig"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	createFile(t, m, "/d/only-orig", "", true)
	require.NoError(t, m.SyncDir("/d"))
	require.Equal(t, "base", contents(t, c, "/d/f"))
	require.False(t, exists(t, c, "/d/only-orig"))

	// ... and changes to the clone do not reach the original.
	cf, err := c.OpenReadWrite("/d/f")
	require.NoError(t, err)
	_, err = io.ReadAll(cf)
	require.NoError(t, err)
	_, err = cf.Write([]byte("+clone"))
	require.NoError(t, err)
	require.NoError(t, cf.Sync())
	require.NoError(t, c.Remove("/d/LOCK"))
	require.NoError(t, c.SyncDir("/d"))
	require.Equal(t, "base+clone", contents(t, c, "/d/f"))
	require.Equal(t, "base+orig", contents(t, m, "/d/f"))
	require.True(t, exists(t, m, "/d/LOCK"))

	// A second clone of the original sees the original's durable state.
	require.Equal(t, "base+orig", contents(t, m.CrashClone(nil), "/d/f"))
	require.NoError(t, lock.Close())
}

func TestMemFSConcurrentReadAtWriteSync(t *testing.T) {
	m := vfs.NewMem()
	f := createFile(t, m, "/f", "", false)
	const chunks, chunkSize = 500, 7
	chunk := func(i int) []byte {
		return []byte(fmt.Sprintf("%0*d", chunkSize, i))
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range chunks {
			if _, err := f.Write(chunk(i)); err != nil {
				t.Error(err)
				return
			}
			if i%10 == 0 {
				if err := f.Sync(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	r, err := m.Open("/f")
	require.NoError(t, err)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, chunkSize)
			for i := 0; i < chunks; {
				n, err := r.ReadAt(p, int64(i*chunkSize))
				if err == io.EOF && n < chunkSize {
					continue // not written yet
				}
				if err != nil {
					t.Error(err)
					return
				}
				if string(p) != string(chunk(i)) {
					t.Errorf("chunk %d: got %q", i, p)
					return
				}
				i++
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			m.CrashClone(nil)
			if _, err := f.Stat(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	require.Equal(t, chunks*chunkSize, len(contents(t, m, "/f")))
}

// TestMemFSMatchesOS runs random operation sequences on MemFS and on the OS
// filesystem side by side and checks that results, errors and the resulting
// trees agree.
func TestMemFSMatchesOS(t *testing.T) {
	names := []string{"a", "b", "d", "d/a", "d/b", "d/e", "d/e/f", "a/x"}
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		mem := vfs.NewMem()
		osPath := func(name string) string { return filepath.Join(dir, name) }
		memPath := func(name string) string { return "/" + name }

		var handles []*pairHandle
		defer func() {
			for _, h := range handles {
				h.mem.Close()
				h.os.Close()
			}
		}()

		drawName := func(rt *rapid.T) string { return rapid.SampledFrom(names).Draw(rt, "name") }
		drawHandle := func(rt *rapid.T) *pairHandle {
			if len(handles) == 0 {
				rt.Skip("no open files")
			}
			return handles[rapid.IntRange(0, len(handles)-1).Draw(rt, "handle")]
		}
		sameErr := func(rt *rapid.T, what string, memErr, osErr error) {
			if errKind(memErr) != errKind(osErr) {
				rt.Fatalf("%s: MemFS error %v, OS error %v", what, memErr, osErr)
			}
		}
		open := func(rt *rapid.T, kind string, memOpen, osOpen func(string) (vfs.File, error)) {
			name := drawName(rt)
			mf, merr := memOpen(memPath(name))
			of, oerr := osOpen(osPath(name))
			sameErr(rt, kind+" "+name, merr, oerr)
			if merr == nil {
				handles = append(handles, &pairHandle{name: name, mem: mf, os: of})
			}
		}

		rt.Repeat(map[string]func(*rapid.T){
			"Create": func(rt *rapid.T) {
				open(rt, "Create", mem.Create, vfs.Default.Create)
			},
			"OpenReadWrite": func(rt *rapid.T) {
				open(rt, "OpenReadWrite", mem.OpenReadWrite, vfs.Default.OpenReadWrite)
			},
			"Open": func(rt *rapid.T) {
				open(rt, "Open", mem.Open, vfs.Default.Open)
			},
			"MkdirAll": func(rt *rapid.T) {
				name := drawName(rt)
				sameErr(rt, "MkdirAll "+name, mem.MkdirAll(memPath(name), 0o755), vfs.Default.MkdirAll(osPath(name), 0o755))
			},
			"Remove": func(rt *rapid.T) {
				name := drawName(rt)
				sameErr(rt, "Remove "+name, mem.Remove(memPath(name)), vfs.Default.Remove(osPath(name)))
			},
			"Rename": func(rt *rapid.T) {
				from, to := drawName(rt), drawName(rt)
				sameErr(rt, "Rename "+from+" "+to,
					mem.Rename(memPath(from), memPath(to)), vfs.Default.Rename(osPath(from), osPath(to)))
			},
			"SyncDir": func(rt *rapid.T) {
				name := rapid.SampledFrom(append([]string{""}, names...)).Draw(rt, "name")
				merr := mem.SyncDir(memPath(name))
				oerr := vfs.Default.SyncDir(osPath(name))
				if errors.Is(merr, syscall.ENOTDIR) && oerr == nil {
					return // the OS happily fsyncs a regular file
				}
				sameErr(rt, "SyncDir "+name, merr, oerr)
			},
			"List": func(rt *rapid.T) {
				name := drawName(rt)
				ml, merr := mem.List(memPath(name))
				ol, oerr := vfs.Default.List(osPath(name))
				sameErr(rt, "List "+name, merr, oerr)
				if !equalStrings(ml, ol) {
					rt.Fatalf("List %s: MemFS %v, OS %v", name, ml, ol)
				}
			},
			"Stat": func(rt *rapid.T) {
				name := drawName(rt)
				mfi, merr := mem.Stat(memPath(name))
				ofi, oerr := vfs.Default.Stat(osPath(name))
				sameErr(rt, "Stat "+name, merr, oerr)
				if merr == nil {
					compareInfo(rt, "Stat "+name, mfi, ofi)
				}
			},
			"Write": func(rt *rapid.T) {
				h := drawHandle(rt)
				p := rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(rt, "data")
				mn, merr := h.mem.Write(p)
				on, oerr := h.os.Write(p)
				sameErr(rt, "Write "+h.name, merr, oerr)
				if mn != on {
					rt.Fatalf("Write %s: MemFS wrote %d, OS %d", h.name, mn, on)
				}
			},
			"Read": func(rt *rapid.T) {
				h := drawHandle(rt)
				size := rapid.IntRange(0, 16).Draw(rt, "size")
				mp, op := make([]byte, size), make([]byte, size)
				mn, merr := h.mem.Read(mp)
				on, oerr := h.os.Read(op)
				sameErr(rt, "Read "+h.name, merr, oerr)
				if string(mp[:mn]) != string(op[:on]) {
					rt.Fatalf("Read %s: MemFS %q, OS %q", h.name, mp[:mn], op[:on])
				}
			},
			"ReadAt": func(rt *rapid.T) {
				h := drawHandle(rt)
				size := rapid.IntRange(0, 16).Draw(rt, "size")
				off := rapid.Int64Range(-1, 40).Draw(rt, "off")
				mp, op := make([]byte, size), make([]byte, size)
				mn, merr := h.mem.ReadAt(mp, off)
				on, oerr := h.os.ReadAt(op, off)
				sameErr(rt, "ReadAt "+h.name, merr, oerr)
				if string(mp[:mn]) != string(op[:on]) {
					rt.Fatalf("ReadAt %s: MemFS %q, OS %q", h.name, mp[:mn], op[:on])
				}
			},
			"Truncate": func(rt *rapid.T) {
				h := drawHandle(rt)
				size := rapid.Int64Range(-1, 40).Draw(rt, "size")
				sameErr(rt, "Truncate "+h.name, h.mem.Truncate(size), h.os.Truncate(size))
			},
			"Sync": func(rt *rapid.T) {
				h := drawHandle(rt)
				sameErr(rt, "Sync "+h.name, h.mem.Sync(), h.os.Sync())
			},
			"FileStat": func(rt *rapid.T) {
				h := drawHandle(rt)
				mfi, merr := h.mem.Stat()
				ofi, oerr := h.os.Stat()
				sameErr(rt, "File.Stat "+h.name, merr, oerr)
				if merr == nil {
					compareInfo(rt, "File.Stat "+h.name, mfi, ofi)
				}
			},
			"Close": func(rt *rapid.T) {
				h := drawHandle(rt)
				sameErr(rt, "Close "+h.name, h.mem.Close(), h.os.Close())
				handles = slices.DeleteFunc(handles, func(x *pairHandle) bool { return x == h })
			},
			"": func(rt *rapid.T) {
				mt, ot := dump(rt, mem, "/"), dump(rt, vfs.Default, dir)
				if fmt.Sprint(mt) != fmt.Sprint(ot) {
					rt.Fatalf("trees differ:\nMemFS %v\nOS    %v", mt, ot)
				}
			},
		})
	})
}

// pairHandle is the same file opened on MemFS and on the OS.
type pairHandle struct {
	name    string
	mem, os vfs.File
}

// errKind reduces an error to what the implementations must agree on.
func errKind(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return "nil"
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, fs.ErrClosed):
		return "closed"
	case errors.Is(err, io.EOF):
		return "EOF"
	default:
		return "other"
	}
}

func compareInfo(rt *rapid.T, what string, m, o os.FileInfo) {
	if m.Name() != o.Name() || m.IsDir() != o.IsDir() || m.Mode().IsRegular() != o.Mode().IsRegular() ||
		(!m.IsDir() && m.Size() != o.Size()) {
		rt.Fatalf("%s: MemFS %s %v %d, OS %s %v %d", what,
			m.Name(), m.Mode(), m.Size(), o.Name(), o.Mode(), o.Size())
	}
}

func equalStrings(a, b []string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// dump lists every path under root (relative to it) with the file contents.
func dump(rt *rapid.T, m vfs.FS, root string) map[string]string {
	out := map[string]string{}
	var walk func(rel string)
	walk = func(rel string) {
		names, err := m.List(filepath.Join(root, rel))
		if err != nil {
			rt.Fatalf("List %s: %v", rel, err)
		}
		for _, name := range names {
			p := filepath.Join(rel, name)
			full := filepath.Join(root, p)
			fi, err := m.Stat(full)
			if err != nil {
				rt.Fatalf("Stat %s: %v", p, err)
			}
			if fi.IsDir() {
				out[p] = "<dir>"
				walk(p)
				continue
			}
			f, err := m.Open(full)
			if err != nil {
				rt.Fatalf("Open %s: %v", p, err)
			}
			b, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				rt.Fatalf("Read %s: %v", p, err)
			}
			out[p] = string(b)
		}
	}
	walk("")
	return out
}

// TestMemFSWriteAt: WriteAt writes at its offset without moving the one
// Write uses, zero-fills a gap, and rejects a negative offset.
func TestMemFSWriteAt(t *testing.T) {
	m := vfs.NewMem()
	f := createFile(t, m, "/f", "abc", false)
	defer f.Close()
	n, err := f.WriteAt([]byte("XY"), 6)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, "abc\x00\x00\x00XY", contents(t, m, "/f"))
	_, err = f.Write([]byte("d"))
	require.NoError(t, err)
	require.Equal(t, "abcd\x00\x00XY", contents(t, m, "/f"), "Write continues at its own offset")
	_, err = f.WriteAt([]byte("q"), -1)
	require.ErrorIs(t, err, syscall.EINVAL)

	ro, err := m.Open("/f")
	require.NoError(t, err)
	defer ro.Close()
	_, err = ro.WriteAt([]byte("q"), 0)
	require.ErrorIs(t, err, syscall.EBADF)
}

// TestMemFSCrashClonePagesOfARewrite: a file synced with two pages of
// zeros (preallocated) and then written over in place comes back from a
// power cut with each page either zeros or its new contents, on its own:
// all four combinations occur, and nothing else.
func TestMemFSCrashClonePagesOfARewrite(t *testing.T) {
	m := vfs.NewMem()
	f := createFile(t, m, "/f", strings.Repeat("\x00", 8192), true)
	defer f.Close()
	require.NoError(t, m.SyncDir("/"))
	_, err := f.WriteAt([]byte(strings.Repeat("a", 8192)), 0)
	require.NoError(t, err)

	zero, full := strings.Repeat("\x00", 4096), strings.Repeat("a", 4096)
	seen := map[string]int{}
	for seed := range int64(200) {
		got := contents(t, m.CrashClone(rand.New(rand.NewSource(seed))), "/f")
		require.Len(t, got, 8192)
		p0, p1 := got[:4096], got[4096:]
		require.Contains(t, []string{zero, full}, p0, "seed %d: page 0 mixed within", seed)
		require.Contains(t, []string{zero, full}, p1, "seed %d: page 1 mixed within", seed)
		seen[fmt.Sprintf("%v%v", p0 == full, p1 == full)]++
	}
	require.Len(t, seen, 4, "%v", seen)
	require.Equal(t, strings.Repeat("\x00", 8192), contents(t, m.CrashClone(nil), "/f"))
}

// TestMemFSLink: a link is another entry of the same file, refused onto an
// existing name or for a directory, and durable once its directory is
// synced; removing one name leaves the other.
func TestMemFSLink(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/a", 0o755))
	require.NoError(t, m.MkdirAll("/b", 0o755))
	require.NoError(t, m.SyncDir("/"))
	f, err := m.Create("/a/f")
	require.NoError(t, err)
	_, err = f.Write([]byte("data"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	require.NoError(t, m.SyncDir("/a"))

	require.NoError(t, m.Link("/a/f", "/b/g"))
	require.ErrorIs(t, m.Link("/a/f", "/b/g"), fs.ErrExist)
	require.ErrorIs(t, m.Link("/a/missing", "/b/h"), fs.ErrNotExist)
	require.Error(t, m.Link("/a", "/b/dir"))
	read := func(m *vfs.MemFS, name string) string { return contents(t, m, name) }
	require.Equal(t, "data", read(m, "/b/g"))

	_, err = m.CrashClone(nil).Stat("/b/g")
	require.ErrorIs(t, err, fs.ErrNotExist, "not durable before /b is synced")
	require.NoError(t, m.SyncDir("/b"))
	require.Equal(t, "data", read(m.CrashClone(nil), "/b/g"))

	require.NoError(t, m.Remove("/a/f"))
	require.Equal(t, "data", read(m, "/b/g"), "the other name keeps the file")
}
