package engine

import (
	"fmt"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/simplekv/simplekv/internal/vfs"
)

// TestScanSnapshotOfBatches applies random batches (puts, deletes, new
// keys) from inside a Scan's callback, at random points, with a nested
// Scan, a Compact and single reads among them: since only batches run
// during the Scan, it must return exactly the state at its start, and the
// nested Scan the state at its own start.
func TestScanSnapshotOfBatches(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		opts := Options{
			FS:                    vfs.NewMem(),
			SyncWrites:            rapid.Bool().Draw(t, "sync"),
			MaxFileSize:           int64(rapid.IntRange(4096, 64<<10).Draw(t, "maxFileSize")),
			DisableMmap:           rapid.Bool().Draw(t, "noMmap"),
			FlushInterval:         1 << 40,
			SyncInterval:          -1,
			DisableAutoCompaction: true,
		}
		db, err := Open("/db", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }()

		keyGen := rapid.Custom(func(t *rapid.T) string {
			return fmt.Sprintf("k%02d", rapid.IntRange(0, 47).Draw(t, "key"))
		})
		model := map[string]string{}
		for i, n := 0, rapid.IntRange(0, 60).Draw(t, "initial"); i < n; i++ {
			k := keyGen.Draw(t, "k")
			if rapid.IntRange(0, 4).Draw(t, "op") == 0 {
				if err := db.Delete([]byte(k)); err != nil {
					t.Fatal(err)
				}
				delete(model, k)
				continue
			}
			v := fmt.Sprintf("init-%d", i)
			if err := db.Put([]byte(k), []byte(v)); err != nil {
				t.Fatal(err)
			}
			model[k] = v
		}
		// randomBatch writes a batch of up to 12 ops and applies it to model.
		batchNo := 0
		randomBatch := func(t *rapid.T) {
			batchNo++
			b := db.NewBatch()
			for i, n := 0, rapid.IntRange(1, 12).Draw(t, "ops"); i < n; i++ {
				k := keyGen.Draw(t, "bk")
				if rapid.IntRange(0, 2).Draw(t, "bop") == 0 {
					b.Delete([]byte(k))
					delete(model, k)
					continue
				}
				v := fmt.Sprintf("b%d-%d", batchNo, i)
				b.Put([]byte(k), []byte(v))
				model[k] = v
			}
			if err := db.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		prefix := rapid.SampledFrom([]string{"", "k1", "k0"}).Draw(t, "prefix")
		want := filterPrefix(model, []byte(prefix))
		nestedAt := rapid.IntRange(-1, 20).Draw(t, "nestedAt")
		got := map[string]string{}
		visits := 0
		err = db.Scan([]byte(prefix), func(k, v []byte) bool {
			if _, dup := got[string(k)]; dup {
				t.Fatalf("key %q visited twice", k)
			}
			got[string(k)] = string(v)
			for i, n := 0, rapid.IntRange(0, 2).Draw(t, "batches"); i < n; i++ {
				randomBatch(t)
			}
			if visits == nestedAt {
				nestedWant := maps.Clone(model)
				nested := map[string]string{}
				if err := db.Scan(nil, func(k, v []byte) bool {
					nested[string(k)] = string(v)
					if rapid.IntRange(0, 3).Draw(t, "nestedBatch") == 0 {
						randomBatch(t)
					}
					return true
				}); err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(nestedWant, nested) {
					t.Fatalf("nested Scan:\n got %v\nwant %v", nested, nestedWant)
				}
			}
			if rapid.IntRange(0, 15).Draw(t, "compact") == 0 {
				if err := db.Compact(); err != nil {
					t.Fatal(err)
				}
			}
			visits++
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(want, got) {
			t.Fatalf("Scan with batches applied during it:\n got %v\nwant %v", got, want)
		}
		if n := db.Stats().ScanSavedBytes; n != 0 {
			t.Fatalf("%d bytes still saved after every Scan returned", n)
		}
		after := map[string]string{}
		if err := db.Scan(nil, func(k, v []byte) bool { after[string(k)] = string(v); return true }); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(model, after) {
			t.Fatalf("Scan after the batches:\n got %v\nwant %v", after, model)
		}
	})
}

// TestScanNeverSeesPartOfBatch runs Scans while a writer replaces all of a
// set of keys with each batch (alternately rewriting them all and
// deleting them all) and merges run: each Scan must see one batch whole,
// every key with the same value, or none of the keys.
func TestScanNeverSeesPartOfBatch(t *testing.T) {
	for _, syncWrites := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", syncWrites), func(t *testing.T) {
			db := mustOpen(t, t.TempDir(), Options{SyncWrites: syncWrites, MaxFileSize: 64 << 10})
			const keys = 100
			var stop atomic.Bool
			var wg sync.WaitGroup
			wg.Add(2)
			var written atomic.Int64
			go func() {
				defer wg.Done()
				for gen := 0; !stop.Load() && gen < 20000; gen++ {
					b := db.NewBatch()
					for i := range keys {
						k := fmt.Appendf(nil, "c%03d", i)
						if gen%5 == 4 {
							b.Delete(k)
						} else {
							b.Put(k, fmt.Appendf(nil, "gen-%06d", gen))
						}
					}
					if err := db.Write(b); err != nil {
						t.Error(err)
						return
					}
					written.Add(1)
				}
			}()
			go func() {
				defer wg.Done()
				for !stop.Load() {
					if err := db.Compact(); err != nil {
						t.Error(err)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			deadline := time.Now().Add(time.Second)
			scans, empty := 0, 0
			for time.Now().Before(deadline) && scans < 2000 {
				got := map[string]string{}
				require.NoError(t, db.Scan([]byte("c"), func(k, v []byte) bool {
					got[string(k)] = string(v)
					runtime.Gosched() // let batches land mid-Scan
					return true
				}))
				scans++
				if len(got) == 0 {
					empty++
					continue
				}
				require.Len(t, got, keys, "scan %d saw part of a batch", scans)
				var one string
				for _, v := range got {
					one = v
					break
				}
				for k, v := range got {
					require.Equal(t, one, v, "scan %d: key %s from another batch", scans, k)
				}
			}
			stop.Store(true)
			wg.Wait()
			require.Positive(t, written.Load())
			t.Logf("%d scans (%d empty) during %d batches", scans, empty, written.Load())
			require.Less(t, empty, scans, "no Scan saw the keys")
			db.undo.mu.RLock()
			stamped := db.undo.gen
			db.undo.mu.RUnlock()
			require.Positive(t, stamped, "no batch was applied during a Scan")
			require.Zero(t, db.Stats().ScanSavedBytes)
		})
	}
}
