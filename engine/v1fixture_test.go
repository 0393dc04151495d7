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
// is 1.15; format version 1 gives about 1.25 (a 33-byte record header plus
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
	if ratio > 1.30 {
		t.Errorf("disk overhead %.3fx, more than format version 1's ~1.25x", ratio)
	}
}
