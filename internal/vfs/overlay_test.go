package vfs_test

import (
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/internal/vfs"
)

// TestOverlay: every change through an overlay is seen through it and
// never reaches the base; locks are the base's.
func TestOverlay(t *testing.T) {
	base := vfs.NewMem()
	require.NoError(t, base.MkdirAll("/d", 0o755))
	writeFile := func(fsys vfs.FS, name, data string) {
		f, err := fsys.Create(name)
		require.NoError(t, err)
		_, err = f.Write([]byte(data))
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	writeFile(base, "/d/a", "base a")
	writeFile(base, "/d/b", "base b")
	writeFile(base, "/d/LOCK", "")
	before := base.OpCount()

	o := vfs.Overlay(base)
	_, err := o.Create("/d/a")
	require.ErrorIs(t, err, fs.ErrExist, "base's files exist in the overlay")
	writeFile(o, "/d/new", "new")
	f, err := o.OpenReadWrite("/d/a")
	require.NoError(t, err)
	_, err = f.Write([]byte("OVER"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(6))
	require.NoError(t, f.Close())
	require.NoError(t, o.Remove("/d/b"))
	require.NoError(t, o.Rename("/d/new", "/d/renamed"))
	require.NoError(t, o.Link("/d/a", "/d/a2"))
	require.NoError(t, o.MkdirAll("/d/sub", 0o755))

	require.Equal(t, "OVER a", contents(t, o, "/d/a"))
	require.Equal(t, "OVER a", contents(t, o, "/d/a2"))
	require.Equal(t, "new", contents(t, o, "/d/renamed"))
	_, err = o.Stat("/d/b")
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = o.Open("/d/new")
	require.ErrorIs(t, err, fs.ErrNotExist)
	names, err := o.List("/d")
	require.NoError(t, err)
	require.Equal(t, []string{"LOCK", "a", "a2", "renamed", "sub"}, names)

	// The base saw none of it: no operation, same files.
	require.Equal(t, before, base.OpCount())
	require.Equal(t, "base a", contents(t, base, "/d/a"))
	require.Equal(t, "base b", contents(t, base, "/d/b"))
	names, err = base.List("/d")
	require.NoError(t, err)
	require.Equal(t, []string{"LOCK", "a", "b"}, names)

	// The lock is base's: a holder of it excludes the overlay.
	l, err := base.Lock("/d/LOCK")
	require.NoError(t, err)
	_, err = o.Lock("/d/LOCK")
	require.ErrorIs(t, err, vfs.ErrLocked)
	require.NoError(t, l.Close())
	l, err = o.Lock("/d/LOCK")
	require.NoError(t, err)
	require.NoError(t, l.Close())
}
