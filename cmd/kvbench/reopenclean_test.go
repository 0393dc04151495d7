package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/bench"
)

// TestReopenClean runs reopen-clean alone on every engine with -dir, so
// that each engine's reopen-clean DB is kept, then opens each DB again and
// reads back every one of the n keys: the row's figures alone would not
// show a reopen that lost keys outside the verified sample.
func TestReopenClean(t *testing.T) {
	const n = 2000
	dir := filepath.Join(t.TempDir(), "bench")
	out := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	rc := run(tinyArgs("-workloads", wReopenClean, "-dir", dir, "-out", out), &stdout, &stderr)
	require.Equal(t, exitOK, rc, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	require.Contains(t, stdout.String(), "== reopen-clean:")

	rep := readReport(t, out)
	require.Empty(t, rep.Error)
	require.Len(t, rep.Workloads, 1)
	o := DefaultOptions()
	gen := o.generator()
	kb := make([]byte, gen.KeySize)
	scratch := make([]byte, gen.ValueSize)
	for _, e := range bench.Engines() {
		r := result(t, rep, wReopenClean, e.Name)
		require.Empty(t, r.NA, e.Name)
		require.Positive(t, r.Seconds, e.Name)
		require.Equal(t, 200.0, r.Extra["verified"], e.Name)
		require.Positive(t, r.Extra["disk_bytes"], e.Name)
		require.Contains(t, r.VsBestPeer, "time", e.Name)
		if e.Name == simplekvName {
			require.Contains(t, r.Notes, "log replay", "simplekv reopened without a merge")
		}

		db, err := e.Open(filepath.Join(dir, e.Name, wReopenClean), bench.Config{})
		require.NoError(t, err, e.Name)
		for i := range uint64(n) {
			v, err := db.Get(gen.Key(kb, i))
			require.NoError(t, err, "%s: index %d", e.Name, i)
			require.NoError(t, gen.Verify(scratch, v, i, 1), "%s: index %d", e.Name, i)
		}
		// Index n was never written: the DB holds the n keys and no more
		// of the key space.
		_, err = db.Get(gen.Key(kb, n))
		require.ErrorIs(t, err, bench.ErrNotFound, e.Name)
		require.NoError(t, db.Close(), e.Name)
	}
}
