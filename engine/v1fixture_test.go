package engine

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/simplekv/simplekv/datafile"
	"github.com/stretchr/testify/require"
)

// v1Expected is the content of testdata/v1dir, a directory written by the
// format-version-1 code (commit 4ae17cd): 60 keys with every fifth value
// compressible, every seventh key deleted, a merge (last_state/ with a hint
// file), then overwrites of every third key, a delete, an empty value and
// values with a TTL, in the log. It is kept so that later format versions
// can be checked to still read version-1 files.
func v1Expected() map[string][]byte {
	want := map[string][]byte{}
	for i := 0; i < 60; i++ {
		v := []byte(fmt.Sprintf("value-%03d-%x", i, i*7919))
		if i%5 == 0 {
			v = bytes.Repeat([]byte("abc"), 40)
		}
		want[fmt.Sprintf("key%03d", i)] = v
	}
	for i := 0; i < 60; i += 7 {
		delete(want, fmt.Sprintf("key%03d", i))
	}
	want["ttl-long"] = []byte("lives")
	for i := 0; i < 60; i += 3 {
		want[fmt.Sprintf("key%03d", i)] = []byte(fmt.Sprintf("second-%03d", i))
	}
	delete(want, "key001")
	want["empty"] = []byte{}
	want["ttl-wal"] = bytes.Repeat([]byte("z"), 50)
	return want
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkV1Content(t *testing.T, db *DB, want map[string][]byte) {
	t.Helper()
	for k, v := range want {
		got, err := db.Get([]byte(k))
		if err != nil {
			t.Fatalf("Get(%q): %v", k, err)
		}
		if !bytes.Equal(got, v) {
			t.Fatalf("Get(%q) = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"key000", "key001", "key007", "key049", "absent"} {
		if _, ok := want[k]; ok {
			continue
		}
		if _, err := db.Get([]byte(k)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%q) = %v, want ErrNotFound", k, err)
		}
	}
	if n := db.Len(); n != len(want) {
		t.Fatalf("Len = %d, want %d", n, len(want))
	}
}

// TestV1Fixture opens the committed version-1 directory, reads it, compacts
// it and reads it again after a reopen.
func TestV1Fixture(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, "testdata/v1dir", dir)
	want := v1Expected()
	opts := Options{DisableAutoCompaction: true}
	db := mustOpen(t, dir, opts)
	checkV1Content(t, db, want)
	require.Zero(t, db.Stats().HintFallbacks, "the version-1 hint file is read")
	if err := db.Compact(); err != nil {
		t.Fatal(err)
	}
	checkV1Content(t, db, want)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, dir, opts)
	defer db.Close()
	checkV1Content(t, db, want)
}

// TestDiskOverheadAfterCompact measures the bytes on disk (data and hint
// files) after a full Compact of 50,000 records of 10-byte keys and 200-byte
// incompressible values, against the key and value bytes. Issue 11's goal
// is 1.15; format version 1 gave about 1.25 (a 33-byte record header plus
// a hint entry that repeats the key).
func TestDiskOverheadAfterCompact(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10 MB")
	}
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{DisableAutoCompaction: true})
	const n, kl, vl = 50000, 10, 200
	v := make([]byte, vl)
	for i := 0; i < n; i++ {
		k := make([]byte, kl)
		binary.BigEndian.PutUint64(k[2:], uint64(i))
		_, _ = rand.Read(v)
		if err := db.Put(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Compact(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var disk int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				disk += fi.Size()
			}
		}
		return nil
	})
	ratio := float64(disk) / float64(n*(kl+vl))
	t.Logf("%d bytes on disk for %d key+value bytes: %.3fx", disk, n*(kl+vl), ratio)
	// Format version 2 gives 1.148 here (a 13-byte record header: 200-byte
	// values and 50,000 sequence numbers take two- and three-byte varints;
	// a 19-byte hint entry): issue 11's goal, 1.15, holds.
	if ratio > 1.15 {
		t.Errorf("disk overhead %.3fx, more than 1.15x", ratio)
	}
}

// dataVersions returns the format version of every data file under dir.
func dataVersions(t *testing.T, dir string) map[string]uint16 {
	t.Helper()
	out := map[string]uint16{}
	for _, sub := range []string{walDir, lastStateDir} {
		names, err := filepath.Glob(filepath.Join(dir, sub, "*.data"))
		require.NoError(t, err)
		for _, p := range names {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			if len(b) < datafile.FileHeaderSize {
				continue
			}
			_, v, err := datafile.DecodeFileHeaderVersion(p, b[:datafile.FileHeaderSize])
			require.NoError(t, err)
			out[filepath.Join(sub, filepath.Base(p))] = v
		}
	}
	return out
}

// TestV1MixedDir: writes on top of the version-1 fixture make a directory
// of version-1 and version-2 files that reads, reopens (from hints and by
// replay), checks clean and merges: a partial merge of the version-1 log
// file converts its records, a full Compact leaves only version 2. A
// damaged version-1 file is repaired as version 1.
func TestV1MixedDir(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, "testdata/v1dir", dir)
	want := v1Expected()
	opts := Options{DisableAutoCompaction: true, MaxFileSize: 4096}
	db, err := Open(dir, opts)
	require.NoError(t, err)
	for i := 0; i < 60; i += 4 {
		k := fmt.Sprintf("key%03d", i)
		v := bytes.Repeat(fmt.Appendf(nil, "v2-%d.", i), 20)
		require.NoError(t, db.Put([]byte(k), v))
		want[k] = v
	}
	require.NoError(t, db.Delete([]byte("key002")))
	delete(want, "key002")
	require.NoError(t, db.PutWithTTL([]byte("ttl-v2"), []byte("long"), time.Hour))
	want["ttl-v2"] = []byte("long")
	checkV1Content(t, db, want)
	require.NoError(t, db.Close())
	vs := dataVersions(t, dir)
	require.Equal(t, uint16(datafile.VersionV1), vs["wal/000000000002.data"], "%v", vs)
	require.Equal(t, uint16(datafile.VersionV1), vs["last_state/000000000003.data"], "%v", vs)
	v2 := 0
	for _, v := range vs {
		if v == datafile.Version {
			v2++
		}
	}
	require.Positive(t, v2, "new log files are version 2: %v", vs)

	check, err := Check(dir, opts)
	require.NoError(t, err)
	require.False(t, check.Damaged(), check.String())

	db, err = Open(dir, opts)
	require.NoError(t, err)
	require.Positive(t, db.Stats().WALHintFiles, "the mixed directory reopens from hints")
	checkV1Content(t, db, want)
	// A partial merge of the version-1 log file alone.
	db.mergeMu.Lock()
	f, ok := db.files.get(2)
	require.True(t, ok)
	require.NoError(t, db.merge([]*dataFile{f}, "test"))
	db.mergeMu.Unlock()
	checkV1Content(t, db, want)
	require.NoError(t, db.Close())
	vs = dataVersions(t, dir)
	_, still := vs["wal/000000000002.data"]
	require.False(t, still, "the merged version-1 log file is gone: %v", vs)

	// Replayed (no log hints) it reads the same.
	hints, err := filepath.Glob(filepath.Join(dir, walDir, "*.hint"))
	require.NoError(t, err)
	for _, h := range hints {
		require.NoError(t, os.Remove(h))
	}
	db, err = Open(dir, opts)
	require.NoError(t, err)
	checkV1Content(t, db, want)
	require.NoError(t, db.Compact())
	checkV1Content(t, db, want)
	require.NoError(t, db.Close())
	for p, v := range dataVersions(t, dir) {
		require.Equal(t, uint16(datafile.Version), v, "%s after a full Compact", p)
	}

	// Repair of a damaged version-1 file keeps it version 1.
	rdir := t.TempDir()
	copyTree(t, "testdata/v1dir", rdir)
	victim := filepath.Join(rdir, lastStateDir, "000000000003.data")
	b, err := os.ReadFile(victim)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x20
	require.NoError(t, os.WriteFile(victim, b, 0o644))
	rep, err := Repair(rdir, Options{})
	require.NoError(t, err)
	require.Len(t, rep.Files, 1, rep.String())
	require.Positive(t, rep.Files[0].Records)
	require.Equal(t, uint16(datafile.VersionV1), dataVersions(t, rdir)["last_state/000000000003.data"])
	again, err := Repair(rdir, Options{})
	require.NoError(t, err)
	require.False(t, again.Damaged(), again.String())
	db, err = Open(rdir, Options{})
	require.NoError(t, err)
	require.Zero(t, db.Stats().HintFallbacks)
	require.NoError(t, db.Close())
}
