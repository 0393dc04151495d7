package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
)

// runCmd runs the command line and returns its exit status and output.
func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestRepairCLI damages a log file in the middle of a directory: check
// names it and exits 1, repair fixes it, check then exits 0, and the
// database opens with every other key.
func TestRepairCLI(t *testing.T) {
	dir := t.TempDir()
	opts := engine.Options{MaxFileSize: 4096, DisableAutoCompaction: true}
	db, err := engine.Open(dir, opts)
	require.NoError(t, err)
	for i := range 500 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "key%04d", i), bytes.Repeat(fmt.Appendf(nil, "v%d.", i), 10)))
	}
	require.NoError(t, db.Close())
	wal, err := filepath.Glob(filepath.Join(dir, "wal", "*.data"))
	require.NoError(t, err)
	require.Greater(t, len(wal), 3)
	victim := wal[len(wal)/2]
	b, err := os.ReadFile(victim)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x20
	require.NoError(t, os.WriteFile(victim, b, 0o644))

	code, out, _ := runCmd("check", dir)
	require.Equal(t, exitDamaged, code, out)
	require.Contains(t, out, filepath.Base(victim))
	require.Contains(t, out, "nothing changed")
	after, err := os.ReadFile(victim)
	require.NoError(t, err)
	require.Equal(t, b, after, "check changed the file")

	code, out, errOut := runCmd("repair", dir)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, filepath.Base(victim))
	require.Contains(t, out, "dropped")

	code, out, _ = runCmd("check", dir)
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "no damage found")

	code, out, errOut = runCmd("stats", "-files", dir)
	require.Equal(t, exitOK, code, errOut)
	require.Regexp(t, `(?m)^keys +49[0-9]$`, out) // one or a few records lost
	require.Contains(t, out, "wal (active)")
}

func TestRepairCLIUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"check"}, {"repair", "a", "b"}, {"stats", "-nope", "x"}} {
		code, _, errOut := runCmd(args...)
		require.Equal(t, exitError, code, "%q", args)
		require.NotEmpty(t, errOut, "%q", args)
	}
	code, out, _ := runCmd("help")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "usage")
	missing := filepath.Join(t.TempDir(), "missing")
	for _, cmd := range []string{"check", "repair", "stats"} {
		code, _, errOut := runCmd(cmd, missing)
		require.Equal(t, exitError, code, cmd)
		require.Contains(t, errOut, "missing", cmd)
	}
	_, err := os.Stat(missing)
	require.ErrorIs(t, err, os.ErrNotExist, "no command may create the directory")
}

func TestRepairCLILocked(t *testing.T) {
	dir := t.TempDir()
	db, err := engine.Open(dir, engine.Options{})
	require.NoError(t, err)
	defer db.Close()
	for _, cmd := range []string{"check", "repair", "stats"} {
		code, _, errOut := runCmd(cmd, dir)
		require.Equal(t, exitError, code, cmd)
		require.Contains(t, errOut, "open", cmd)
	}
}

// TestCheckpointBackupRestoreCLI: checkpoint, backup (to a file and to
// standard output) and restore round-trip a database; a damaged stream
// and a non-empty target fail with exit status 2.
func TestCheckpointBackupRestoreCLI(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "db")
	db, err := engine.Open(dir, engine.Options{})
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "v%d", i)))
	}
	require.NoError(t, db.Close())
	read := func(d string) map[string]string {
		db, err := engine.Open(d, engine.Options{})
		require.NoError(t, err)
		defer db.Close()
		out := map[string]string{}
		require.NoError(t, db.Scan(nil, func(k, v []byte) bool { out[string(k)] = string(v); return true }))
		return out
	}
	want := read(dir)
	require.Len(t, want, 100)

	code, _, errOut := runCmd("checkpoint", dir, filepath.Join(root, "cp"))
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, want, read(filepath.Join(root, "cp")))
	code, _, errOut = runCmd("checkpoint", dir, filepath.Join(root, "cp"))
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "not empty")

	stream := filepath.Join(root, "db.skvb")
	code, _, errOut = runCmd("backup", dir, stream)
	require.Equal(t, exitOK, code, errOut)
	code, _, errOut = runCmd("restore", stream, filepath.Join(root, "restored"))
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, want, read(filepath.Join(root, "restored")))

	code, out, errOut := runCmd("backup", dir, "-")
	require.Equal(t, exitOK, code, errOut)
	b, err := os.ReadFile(stream)
	require.NoError(t, err)
	require.Equal(t, len(b), len(out), "the same stream on standard output")

	b[len(b)/2] ^= 1
	require.NoError(t, os.WriteFile(stream, b, 0o644))
	code, _, errOut = runCmd("restore", stream, filepath.Join(root, "bad"))
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "not a whole simplekv backup")
	_, err = os.Stat(filepath.Join(root, "bad"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
