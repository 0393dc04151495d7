package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
)

// simulateKill stops db as a SIGKILL would: buffered records reach the OS
// (page cache) but nothing is fsynced, and the lock is released.
func simulateKill(db *DB) {
	db.wmu.Lock()
	_ = db.w.Flush()
	db.closed.Store(true)
	db.wmu.Unlock()
	if db.bgStop != nil {
		close(db.bgStop)
		<-db.bgDone
	}
	close(db.compStop)
	<-db.compDone
	_ = db.lock.Close()
}

// TestReopenAfterKillThenPowerCut: records recovered from the page cache
// after a process kill must be made durable before new writes are
// acknowledged, or a later power cut leaves an older file torn.
func TestReopenAfterKillThenPowerCut(t *testing.T) {
	for seed := int64(0); seed < 5; seed++ {
		fsys := vfs.NewMem()
		db1, err := Open("/db", Options{FS: fsys, SyncInterval: -1})
		require.NoError(t, err)
		for i := range 20 {
			require.NoError(t, db1.Put(fmt.Appendf(nil, "k%02d", i), []byte("value-value-value")))
		}
		simulateKill(db1)

		db2, err := Open("/db", Options{FS: fsys, SyncWrites: true})
		require.NoError(t, err)
		_, err = db2.Get([]byte("k05"))
		require.NoError(t, err, "the kill lost nothing handed to the OS")
		require.NoError(t, db2.Put([]byte("acked"), []byte("durable")))

		var rng *rand.Rand
		if seed > 0 {
			rng = rand.New(rand.NewSource(seed))
		}
		db3, err := Open("/db", Options{FS: fsys.CrashClone(rng)})
		require.NoError(t, err, "seed %d: open after power cut", seed)
		v, err := db3.Get([]byte("acked"))
		require.NoError(t, err, "seed %d", seed)
		require.Equal(t, "durable", string(v))
		require.Equal(t, 21, db3.Stats().Keys, "seed %d: records served before the acked write survive", seed)
		require.NoError(t, db3.Close())
		require.NoError(t, db2.Close())
	}
}

// TestSyncedPutDeleteOrder: concurrent synced Puts and Deletes of one key
// must reach the keydir in sequence order, so what readers see is what
// recovery rebuilds.
func TestSyncedPutDeleteOrder(t *testing.T) {
	for round := range 100 {
		fsys := vfs.NewMem()
		db, err := Open("/db", Options{FS: fsys, SyncWrites: true})
		require.NoError(t, err)
		key := []byte("k")
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 30 {
					var err error
					if (g+i)%2 == 0 {
						err = db.Put(key, fmt.Appendf(nil, "g%d-%d", g, i))
					} else {
						err = db.Delete(key)
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		live, lerr := db.Get(key)
		require.NoError(t, db.Close())
		db2, err := Open("/db", Options{FS: fsys})
		require.NoError(t, err)
		rec, rerr := db2.Get(key)
		require.NoError(t, db2.Close())
		require.Equal(t, errors.Is(lerr, ErrNotFound), errors.Is(rerr, ErrNotFound), "round %d: live %q (%v), recovered %q (%v)", round, live, lerr, rec, rerr)
		require.Equal(t, string(live), string(rec), "round %d", round)
	}
}

// TestNestedDirDurable: every directory level Open creates is synced in its
// parent, so an acknowledged write survives a power cut.
func TestNestedDirDurable(t *testing.T) {
	fsys := vfs.NewMem()
	db, err := Open("/a/b/db", Options{FS: fsys, SyncWrites: true})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	db2, err := Open("/a/b/db", Options{FS: fsys.CrashClone(nil)})
	require.NoError(t, err)
	v, err := db2.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.NoError(t, db2.Close())
	require.NoError(t, db.Close())
}

// TestZeroPaddedValueFlipIsCorrupt: a flipped bit in a synced record whose
// value holds a long run of zeros (but no whole zero page) is corruption,
// never a torn tail that silently truncates later acknowledged records.
func TestZeroPaddedValueFlipIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SyncWrites: true, DisableCompression: true}
	db, err := Open(dir, opts)
	require.NoError(t, err)
	val := append(bytes.Repeat([]byte("x"), 100), make([]byte, 2048)...)
	require.NoError(t, db.Put([]byte("padded"), val))
	for i := range 50 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "after-%d", i), []byte("v")))
	}
	require.NoError(t, db.Close())
	// Replayed (as after a crash), not loaded from the hint Close wrote.
	require.NoError(t, os.Remove(walHintPath(dir, 1)))
	path := filepath.Join(dir, walDir, dataFileName(1))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[16+int(datafile.RecordSize(1, 0, len("padded"), len(val)))-len(val)+10] ^= 0x01 // inside the x run
	require.NoError(t, os.WriteFile(path, b, 0o644))
	_, err = Open(dir, opts)
	require.ErrorIs(t, err, ErrCorrupt)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, b, after, "a failed Open changes nothing")
}
