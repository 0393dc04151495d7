package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/internal/vfs"
)

// dumpFixture returns the contents of a DB with binary keys, an empty
// value, a TTL key and deletes, and a dump of it.
func dumpFixture(t testing.TB) (map[string]string, []byte) {
	t.Helper()
	db, err := Open(t.TempDir(), Options{MaxFileSize: 4096, DisableAutoCompaction: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	for i := range 200 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k\x00%03d", i), bytes.Repeat([]byte{byte(i)}, i%50)))
	}
	require.NoError(t, db.Delete([]byte("k\x00007")))
	require.NoError(t, db.PutWithTTL([]byte("ttl"), []byte("t"), time.Hour))
	require.NoError(t, db.PutWithTTL([]byte("gone"), []byte("g"), time.Nanosecond))
	var buf bytes.Buffer
	n, err := db.Dump(&buf)
	require.NoError(t, err)
	require.Equal(t, int64(db.Len()), n)
	return dbContents(t, db), buf.Bytes()
}

func TestDumpLoad(t *testing.T) {
	want, stream := dumpFixture(t)
	dir := filepath.Join(t.TempDir(), "loaded")
	n, err := Load(bytes.NewReader(stream), dir, Options{})
	require.NoError(t, err)
	require.Equal(t, int64(len(want)), n)
	db, err := Open(dir, Options{})
	require.NoError(t, err)
	defer db.Close()
	require.Equal(t, want, dbContents(t, db))
	e, ok := db.lookup([]byte("ttl"))
	require.True(t, ok)
	require.NotZero(t, e.Expiry, "the expiry came along")
	_, err = Load(bytes.NewReader(stream), dir, Options{})
	require.ErrorIs(t, err, ErrTargetExists)
}

// A dump cut short or damaged anywhere fails with ErrBadDump and leaves
// nothing at the target.
func TestLoadRejectsDamagedStreams(t *testing.T) {
	_, stream := dumpFixture(t)
	root := t.TempDir()
	check := func(what string, s []byte) {
		t.Helper()
		dir := filepath.Join(root, "t")
		_, err := Load(bytes.NewReader(s), dir, Options{})
		require.ErrorIs(t, err, ErrBadDump, what)
		_, serr := os.Stat(dir)
		require.ErrorIs(t, serr, os.ErrNotExist, "%s: a target was left", what)
	}
	step := max(1, len(stream)/200)
	for cut := 0; cut < len(stream); cut += step {
		check(fmt.Sprintf("cut at %d of %d", cut, len(stream)), stream[:cut])
	}
	for off := 0; off < len(stream); off += step {
		d := bytes.Clone(stream)
		d[off] ^= 0x08
		check(fmt.Sprintf("byte %d flipped", off), d)
	}
	check("a byte after the end", append(bytes.Clone(stream), 0))
}

func FuzzLoad(f *testing.F) {
	_, stream := dumpFixture(f)
	f.Add(stream)
	f.Add(stream[:40])
	f.Add([]byte(dumpMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := vfs.NewMem()
		_, err := Load(bytes.NewReader(data), "/l", Options{FS: m, DisableMmap: true, DisableAutoCompaction: true})
		if err != nil {
			if !errors.Is(err, ErrBadDump) && !errors.Is(err, ErrVersion) {
				t.Fatalf("unexpected error class: %v", err)
			}
			if _, serr := m.Stat("/l"); serr == nil {
				t.Fatal("a failed load left its target")
			}
		}
	})
}
