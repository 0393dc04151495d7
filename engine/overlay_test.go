package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/internal/vfs"
)

// TestOverlayOpenChangesNothing: a DB opened through vfs.Overlay reads
// everything, even with a torn tail to cut and unhinted log files to
// replay, and leaves the directory byte for byte as it was, whatever it
// writes; while a writer holds the directory, the overlay is refused.
func TestOverlayOpenChangesNothing(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxFileSize: 4096, DisableAutoCompaction: true}
	db, err := Open(dir, opts)
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "v%d", i)))
	}
	require.NoError(t, db.Compact())
	for i := range 30 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%03d", i), []byte("new")))
	}
	want := dbContents(t, db)
	require.NoError(t, db.Close())
	removeWALHints(t, dir)
	wal, err := filepath.Glob(filepath.Join(dir, walDir, "*"+dataExt))
	require.NoError(t, err)
	newest := wal[len(wal)-1]
	f, err := os.OpenFile(newest, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{1, 2, 3}) // a torn tail Open would cut
	require.NoError(t, err)
	require.NoError(t, f.Close())
	before := dirSnapshot(t, dir)

	o := opts
	o.FS = vfs.Overlay(vfs.Default)
	ro, err := Open(dir, o)
	require.NoError(t, err)
	require.Equal(t, want, dbContents(t, ro))
	require.Positive(t, ro.Stats().TornBytes)
	require.NoError(t, ro.Put([]byte("only in memory"), []byte("x")))
	require.NoError(t, ro.Compact())
	require.NoError(t, ro.Close())
	require.Equal(t, before, dirSnapshot(t, dir), "the overlay wrote to the directory")

	db, err = Open(dir, opts)
	require.NoError(t, err)
	defer db.Close()
	_, err = Open(dir, o)
	require.ErrorIs(t, err, ErrLocked)
}
