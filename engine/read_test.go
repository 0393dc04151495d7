package engine

import (
	"bytes"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/datafile"
)

// A reader holds its keydir pin while it uses a file's mapping, and
// removing the file from the table waits for it: the mapping a pinned
// reader uses is never unmapped under it.
func TestFileRemovalWaitsForPinnedReader(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Put([]byte("k"), []byte("value")))
	require.NoError(t, db.Sync())

	e, ok, pin := db.kd.GetPinned([]byte("k"))
	require.True(t, ok)
	f, ok := db.files.get(e.FileID)
	require.True(t, ok)
	require.True(t, f.r.Mapped(), "the test is about mappings")

	var released atomic.Bool
	done := make(chan bool)
	go func() {
		gone := db.files.remove([]uint32{f.id})
		ok := released.Load()
		for _, g := range gone {
			_ = g.r.Close()
		}
		done <- ok
	}()
	for range 100 {
		runtime.Gosched() // let remove run ahead if it would
	}
	raw, err := f.r.ReadRaw(int64(e.Offset), int(e.Size), nil)
	require.NoError(t, err)
	rec, err := datafile.DecodeStored(f.path, int64(e.Offset), raw)
	require.NoError(t, err)
	require.Equal(t, "value", string(rec.Value))
	released.Store(true)
	pin.Release()
	require.True(t, <-done, "the file was removed while a pinned reader used it")
}

// Get checks that the record it reads is the key's: an entry pointing at
// another key's record (whose sequence number and expiry agree) is
// corruption, not that key's value.
func TestGetRejectsRecordOfAnotherKey(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Put([]byte("a"), []byte("value of a")))
	require.NoError(t, db.Put([]byte("b"), []byte("value of b")))
	for _, flush := range []bool{false, true} {
		if flush {
			require.NoError(t, db.Sync())
		}
		eb, ok := db.kd.Get([]byte("b"))
		require.True(t, ok)
		ea, ok := db.kd.Get([]byte("a"))
		require.True(t, ok)
		require.True(t, db.kd.CompareAndSwap([]byte("a"), ea, eb))
		_, err = db.Get([]byte("a"))
		require.ErrorIs(t, err, ErrCorrupt, "flushed %v", flush)
		require.True(t, db.kd.CompareAndSwap([]byte("a"), eb, ea))
		v, err := db.Get([]byte("a"))
		require.NoError(t, err)
		require.Equal(t, "value of a", string(v))
	}
}

// The keydir keeps entries that its compact record header cannot hold (a
// value of 64 KiB or more, an expiry, a 257th file in one shard) on the
// side. Get, recovery from the log and from hints, and a merge that moves
// them all back into few files must see every such key as written.
func TestEntriesOutsideTheCompactHeader(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxFileSize: 4096, DisableAutoCompaction: true, DisableCompression: true}
	db, err := Open(dir, opts)
	require.NoError(t, err)

	want := map[string][]byte{}
	// 300 keys of one keydir shard, each record filling a file of its
	// own: more files than a shard numbers.
	shard := -1
	for i := 0; len(want) < 300; i++ {
		k := []byte(fmt.Sprintf("key-%06d", i))
		if shard < 0 {
			shard = db.kd.ShardOf(k)
		}
		if db.kd.ShardOf(k) != shard {
			continue
		}
		v := bytes.Repeat([]byte{byte(i)}, 3000)
		require.NoError(t, db.Put(k, v))
		want[string(k)] = v
	}
	big := bytes.Repeat([]byte("big"), 40_000) // a 120 KB record
	require.NoError(t, db.Put([]byte("big"), big))
	want["big"] = big
	require.NoError(t, db.PutWithTTL([]byte("ttl"), []byte("lives"), time.Hour))
	want["ttl"] = []byte("lives")
	require.Greater(t, db.files.len(), 300)

	check := func(stage string) {
		t.Helper()
		for k, v := range want {
			got, err := db.Get([]byte(k))
			require.NoError(t, err, "%s: Get(%q)", stage, k)
			require.Equal(t, v, got, "%s: Get(%q)", stage, k)
		}
		require.Equal(t, len(want), db.Len(), stage)
	}
	check("written")
	require.NoError(t, db.Close())
	db, err = Open(dir, opts)
	require.NoError(t, err)
	check("reopened from the log")
	require.NoError(t, db.Compact())
	check("compacted")
	require.NoError(t, db.Close())
	db, err = Open(dir, opts)
	require.NoError(t, err)
	defer db.Close()
	check("reopened from hints")
}
