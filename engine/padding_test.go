package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/engine"
)

// walScan scans every file of dir/wal and returns, per file name, its size
// and how the scan ended.
func walScan(t *testing.T, dir string) map[string]datafileEnd {
	t.Helper()
	names, err := os.ReadDir(filepath.Join(dir, "wal"))
	require.NoError(t, err)
	out := map[string]datafileEnd{}
	for _, n := range names {
		if filepath.Ext(n.Name()) != ".data" {
			continue // a sealed file's hint
		}
		p := filepath.Join(dir, "wal", n.Name())
		f, err := os.Open(p)
		require.NoError(t, err)
		fi, err := f.Stat()
		require.NoError(t, err)
		s := datafile.NewScanner(f, p, fi.Size())
		for s.Next() {
		}
		require.NoError(t, s.Err(), p)
		out[n.Name()] = datafileEnd{size: fi.Size(), end: s.End(), torn: s.Torn(), padding: s.Padding()}
		require.NoError(t, f.Close())
	}
	return out
}

type datafileEnd struct {
	size, end     int64
	torn, padding bool
}

// TestSyncWritesPadding: with SyncWrites the active log file carries zero
// padding past its records while the DB is open; a rotation and a clean
// Close cut it off, so every file at rest ends at its last record; and a
// DB copied while open (as a power cut would leave it, every write having
// been synced) reopens with every key, without calling the padding torn.
func TestSyncWritesPadding(t *testing.T) {
	dir := t.TempDir()
	opts := engine.Options{SyncWrites: true, MaxFileSize: 64 << 10, DisableAutoCompaction: true, DisableCompression: true}
	db, err := engine.Open(dir, opts)
	require.NoError(t, err)
	val := make([]byte, 200)
	const n = 600 // about 140 KiB: three files
	for i := range n {
		require.NoError(t, db.Put(fmt.Appendf(nil, "key-%04d", i), val))
	}
	files := walScan(t, dir)
	require.GreaterOrEqual(t, len(files), 3)
	padded := 0
	for name, f := range files {
		if f.size != f.end {
			padded++
			require.True(t, f.torn && f.padding, "%s: %+v: only zeros may follow the records", name, f)
		}
	}
	require.Equal(t, 1, padded, "only the active file is padded: %+v", files)

	// A power cut now: the copy holds what is on disk, padding included.
	crashed := t.TempDir()
	tornCopyDir(t, dir, crashed)
	rep, err := engine.Check(crashed, opts)
	require.NoError(t, err)
	require.Len(t, rep.Notes, 1, "%+v", rep)
	require.Contains(t, rep.Notes[0], "zero padding")
	db2, err := engine.Open(crashed, opts)
	require.NoError(t, err)
	require.Equal(t, n, db2.Stats().Keys)
	require.Zero(t, db2.Stats().TornBytes, "zero padding is not a torn write")
	for i := range n {
		_, err := db2.Get(fmt.Appendf(nil, "key-%04d", i))
		require.NoError(t, err)
	}
	require.NoError(t, db2.Close())
	for name, f := range walScan(t, crashed) {
		require.Equal(t, f.size, f.end, "%s after recovery and Close: %+v", name, f)
	}

	require.NoError(t, db.Close())
	for name, f := range walScan(t, dir) {
		require.Equal(t, f.size, f.end, "%s after Close: %+v", name, f)
		require.False(t, f.torn, name)
	}
	db, err = engine.Open(dir, opts)
	require.NoError(t, err)
	require.Equal(t, n, db.Stats().Keys)
	require.Zero(t, db.Stats().TornBytes)
	require.NoError(t, db.Close())
}
