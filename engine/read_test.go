package engine

import (
	"runtime"
	"sync/atomic"
	"testing"

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
