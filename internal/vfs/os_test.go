package vfs_test

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/internal/vfs"
)

func TestOSCreateExclusive(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	f := createFile(t, vfs.Default, name, "first", true)
	require.NoError(t, f.Close())

	_, err := vfs.Default.Create(name)
	requirePathError(t, err, fs.ErrExist)
	require.Equal(t, "first", contents(t, vfs.Default, name), "failed Create must not truncate")

	_, err = vfs.Default.Create(filepath.Join(dir, "missing", "f"))
	requirePathError(t, err, fs.ErrNotExist)
}

func TestOSOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	_, err := vfs.Default.Open(missing)
	requirePathError(t, err, fs.ErrNotExist)
	_, err = vfs.Default.OpenReadWrite(missing)
	requirePathError(t, err, fs.ErrNotExist)
	_, err = vfs.Default.Stat(missing)
	requirePathError(t, err, fs.ErrNotExist)
	requirePathError(t, vfs.Default.Remove(missing), fs.ErrNotExist)

	name := filepath.Join(dir, "f")
	require.NoError(t, createFile(t, vfs.Default, name, "x", false).Close())
	f, err := vfs.Default.Open(name)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write([]byte("y"))
	requirePathError(t, err, syscall.EBADF)
}

func TestOSReadWriteTruncateStat(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	f := createFile(t, vfs.Default, name, "hello world", false)
	defer f.Close()

	p := make([]byte, 5)
	n, err := f.ReadAt(p, 6)
	require.NoError(t, err)
	require.Equal(t, "world", string(p[:n]))
	n, err = f.ReadAt(p, 8)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, "rld", string(p[:n]))

	require.NoError(t, f.Truncate(5))
	fi, err := f.Stat()
	require.NoError(t, err)
	require.Equal(t, "f", fi.Name())
	require.EqualValues(t, 5, fi.Size())
	require.NoError(t, f.Sync())
	require.Equal(t, "hello", contents(t, vfs.Default, name))

	require.NoError(t, f.Close())
	_, err = f.Write([]byte("x"))
	require.ErrorIs(t, err, fs.ErrClosed)
	require.Error(t, f.Sync())
}

func TestOSListMkdirAllStat(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"c", "a", "b"} {
		require.NoError(t, createFile(t, vfs.Default, filepath.Join(dir, name), "", false).Close())
	}
	require.NoError(t, vfs.Default.MkdirAll(filepath.Join(dir, "d", "e"), 0o755))
	require.NoError(t, vfs.Default.MkdirAll(filepath.Join(dir, "d", "e"), 0o755))

	names, err := vfs.Default.List(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c", "d"}, names)

	names, err = vfs.Default.List(filepath.Join(dir, "d", "e"))
	require.NoError(t, err)
	require.Empty(t, names)

	_, err = vfs.Default.List(filepath.Join(dir, "missing"))
	requirePathError(t, err, fs.ErrNotExist)

	fi, err := vfs.Default.Stat(filepath.Join(dir, "d"))
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	require.Equal(t, "d", fi.Name())

	requirePathError(t, vfs.Default.Remove(filepath.Join(dir, "d")), syscall.ENOTEMPTY)
}

func TestOSRename(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	require.NoError(t, createFile(t, vfs.Default, a, "A", true).Close())
	require.NoError(t, createFile(t, vfs.Default, b, "B", true).Close())

	require.NoError(t, vfs.Default.Rename(a, b))
	require.Equal(t, "A", contents(t, vfs.Default, b))
	_, err := vfs.Default.Stat(a)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, vfs.Default.SyncDir(dir))

	err = vfs.Default.Rename(a, b)
	require.ErrorIs(t, err, fs.ErrNotExist)
	var le *os.LinkError
	require.ErrorAs(t, err, &le)
}

func TestOSSyncDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, createFile(t, vfs.Default, filepath.Join(dir, "f"), "x", true).Close())
	require.NoError(t, vfs.Default.SyncDir(dir))
	requirePathError(t, vfs.Default.SyncDir(filepath.Join(dir, "missing")), fs.ErrNotExist)
}

func TestOSLock(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "LOCK")

	l, err := vfs.Default.Lock(name)
	require.NoError(t, err)
	_, err = vfs.Default.Stat(name)
	require.NoError(t, err, "Lock creates the file")

	// A second lock from the same process conflicts: flock(2) locks belong
	// to the open file description.
	_, err = vfs.Default.Lock(name)
	require.ErrorIs(t, err, vfs.ErrLocked)
	require.Contains(t, err.Error(), name)

	// Other files are independent.
	other, err := vfs.Default.Lock(filepath.Join(dir, "OTHER"))
	require.NoError(t, err)
	require.NoError(t, other.Close())

	require.NoError(t, l.Close())
	l, err = vfs.Default.Lock(name)
	require.NoError(t, err, "lock released by Close can be taken again")
	require.NoError(t, l.Close())

	_, err = vfs.Default.Lock(filepath.Join(dir, "missing", "LOCK"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NotErrorIs(t, err, vfs.ErrLocked)
}

func TestOSMap(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	f := createFile(t, vfs.Default, name, "", false)
	defer f.Close()
	first := bytes.Repeat([]byte("0123456789"), 10)
	_, err := f.Write(first)
	require.NoError(t, err)

	mapper, ok := f.(vfs.Mapper)
	require.True(t, ok, "OS files implement Mapper")

	_, err = mapper.Map(0)
	require.Error(t, err)

	const mapLen = 1 << 16 // much larger than the file
	m, err := mapper.Map(mapLen)
	require.NoError(t, err)
	b := m.Bytes()
	require.Len(t, b, mapLen)
	require.Equal(t, first, b[:len(first)])

	// Bytes appended after mapping are visible through the same mapping,
	// even beyond the first page.
	second := bytes.Repeat([]byte("abcdefghij"), 500)
	_, err = f.Write(second)
	require.NoError(t, err)
	require.Equal(t, second, b[len(first):len(first)+len(second)])

	// A read-only handle can be mapped too, and the mapping outlives Close.
	r, err := vfs.Default.Open(name)
	require.NoError(t, err)
	rm, err := r.(vfs.Mapper).Map(mapLen)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Equal(t, first, rm.Bytes()[:len(first)])
	require.NoError(t, rm.Unmap())

	require.NoError(t, f.Sync())
	require.NoError(t, m.Unmap())
	require.NoError(t, m.Unmap(), "second Unmap is a no-op")
}
