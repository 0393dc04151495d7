package main

import (
	"bytes"
	"encoding/json"
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
	for _, args := range [][]string{
		{"check", dir}, {"repair", dir}, {"stats", dir}, {"get", dir, "k"}, {"put", dir, "k", "v"},
		{"delete", dir, "k"}, {"scan", dir}, {"compact", dir}, {"checkpoint", dir, filepath.Join(t.TempDir(), "cp")},
		{"backup", dir, "-"}, {"dump", dir, "-"},
	} {
		code, _, errOut := runCmd(args...)
		require.Equal(t, exitLocked, code, args[0])
		require.Contains(t, errOut, "open", args[0])
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

// dirFiles returns every file under dir with its contents.
func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		require.NoError(t, err)
		if !fi.IsDir() {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			out[p] = string(b)
		}
		return nil
	}))
	return out
}

// TestDataCommands: put, get, delete and scan with text, hex and base64
// keys and values (binary ones included), JSON output, exit status 3 for
// an absent key, and compact.
func TestDataCommands(t *testing.T) {
	dir := t.TempDir()
	ok := func(args ...string) string {
		t.Helper()
		code, out, errOut := runCmd(args...)
		require.Equal(t, exitOK, code, "%v: %s", args, errOut)
		return out
	}
	ok("put", dir, "greeting", "hello")
	ok("put", "-hex", dir, "00ff0a", "deadbeef")          // binary key and value
	ok("put", "-base64", dir, "a2V5Mg==", "dmFsdWUy")     // key2 = value2
	ok("put", "-ttl", "1h", dir, "session", "tok")        // expires later
	require.Equal(t, "hello", ok("get", dir, "greeting")) // the bytes, as they are
	require.Equal(t, "deadbeef\n", ok("get", "-hex", dir, "00ff0a"))
	require.Equal(t, "value2", ok("get", dir, "key2"))
	require.Equal(t, `{"key":"greeting","value":"hello"}`+"\n", ok("get", "-format", "json", dir, "greeting"))

	code, _, errOut := runCmd("get", dir, "absent")
	require.Equal(t, exitNotFound, code)
	require.Contains(t, errOut, "not found")

	out := ok("scan", dir)
	require.Contains(t, out, `"greeting"`+"\t"+`"hello"`+"\n")
	require.Contains(t, out, `"\x00\xff\n"`+"\t"+`"\u07ad\xbe\xef"`+"\n", "binary keys are escaped (Go syntax, ASCII)")
	require.Equal(t, "\"greeting\"\n", ok("scan", "-prefix", "gree", "-keys-only", dir))
	require.Len(t, bytes.Split(bytes.TrimSpace([]byte(ok("scan", "-limit", "2", dir))), []byte("\n")), 2)
	require.Contains(t, ok("scan", "-hex", dir), "00ff0a\tdeadbeef\n")
	require.Contains(t, ok("scan", "-format", "json", "-base64", dir), `{"key":"a2V5Mg==","value":"dmFsdWUy"}`)

	ok("delete", dir, "greeting")
	ok("delete", dir, "never-there")
	code, _, _ = runCmd("get", dir, "greeting")
	require.Equal(t, exitNotFound, code)
	require.Contains(t, ok("compact", dir), "compacted")
	require.Equal(t, "value2", ok("get", dir, "key2"))

	for _, bad := range [][]string{
		{"get", "-hex", dir, "not hex"}, {"get", "-hex", "-base64", dir, "00"}, {"scan", "-format", "xml", dir},
		{"put", "-ttl", "-1s", dir, "k", "v"}, {"get", dir}, {"nosuch"},
	} {
		code, _, _ := runCmd(bad...)
		require.Equal(t, exitError, code, "%v", bad)
	}
	out = ok("help", "scan")
	require.Contains(t, out, "-keys-only")
}

// TestReadCommandsChangeNothing: every command that only reads leaves the
// directory byte for byte as it was, even with a torn tail Open would cut.
func TestReadCommandsChangeNothing(t *testing.T) {
	dir := t.TempDir()
	db, err := engine.Open(dir, engine.Options{MaxFileSize: 4096})
	require.NoError(t, err)
	for i := range 200 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%03d", i), bytes.Repeat([]byte("v"), 40)))
	}
	require.NoError(t, db.Close())
	wal, err := filepath.Glob(filepath.Join(dir, "wal", "*.data"))
	require.NoError(t, err)
	f, err := os.OpenFile(wal[len(wal)-1], os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{9, 9, 9}) // a torn tail
	require.NoError(t, err)
	require.NoError(t, f.Close())
	before := dirFiles(t, dir)
	out := t.TempDir()
	for _, args := range [][]string{
		{"get", dir, "k001"}, {"scan", dir}, {"stats", dir}, {"check", dir},
		{"checkpoint", dir, filepath.Join(out, "cp")}, {"backup", dir, filepath.Join(out, "b")},
		{"dump", dir, filepath.Join(out, "d")},
	} {
		code, _, errOut := runCmd(args...)
		require.Contains(t, []int{exitOK, exitDamaged}, code, "%v: %s", args, errOut)
		require.Equal(t, before, dirFiles(t, dir), "%v changed the directory", args)
	}
	// The copies hold every key.
	cp, err := engine.Open(filepath.Join(out, "cp"), engine.Options{})
	require.NoError(t, err)
	require.Equal(t, 200, cp.Len())
	require.NoError(t, cp.Close())
}

// TestDumpLoadCLI: dump (to a file and to standard output) and load move
// every key to a new directory; a damaged dump fails and leaves nothing.
func TestDumpLoadCLI(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "db")
	db, err := engine.Open(dir, engine.Options{})
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k\xff%02d", i), fmt.Appendf(nil, "v%d", i)))
	}
	require.NoError(t, db.Close())
	before := dirFiles(t, dir)
	dump := filepath.Join(root, "d.skvx")
	code, _, errOut := runCmd("dump", dir, dump)
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, before, dirFiles(t, dir), "dump changed the directory")
	code, out, errOut := runCmd("load", dump, filepath.Join(root, "loaded"))
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "loaded 50 keys")
	code, out, _ = runCmd("dump", dir, "-")
	require.Equal(t, exitOK, code)
	b, err := os.ReadFile(dump)
	require.NoError(t, err)
	require.Equal(t, len(b), len(out), "the same dump on standard output")

	b[len(b)/2] ^= 1
	require.NoError(t, os.WriteFile(dump, b, 0o644))
	code, _, errOut = runCmd("load", dump, filepath.Join(root, "bad"))
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "not a whole simplekv dump")
	_, err = os.Stat(filepath.Join(root, "bad"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestJSONReports: stats and check print JSON that decodes to the
// engine's own structs.
func TestJSONReports(t *testing.T) {
	dir := t.TempDir()
	db, err := engine.Open(dir, engine.Options{})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Close())
	code, out, errOut := runCmd("stats", "-format", "json", dir)
	require.Equal(t, exitOK, code, errOut)
	var st engine.Stats
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, 1, st.Keys)
	code, out, errOut = runCmd("check", "-format", "json", dir)
	require.Equal(t, exitOK, code, errOut)
	var rep engine.RepairReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Positive(t, rep.FilesScanned)
}
