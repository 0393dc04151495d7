package engine

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/simplekv/simplekv/internal/vfs"
)

// TestModel runs random Put/PutWithTTL/Get/Has/Delete/Write(batch)/Checkpoint/Backup+Restore/Sync/Compact/partial
// merge/Reopen/Crash sequences against a Go map. Crash takes a power-cut clone of the in-memory
// filesystem; with SyncWrites every acknowledged write must survive it, and
// without it everything up to the last Sync must.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		syncWrites := rapid.Bool().Draw(t, "syncWrites")
		opts := Options{
			SyncWrites:    syncWrites,
			MaxFileSize:   int64(rapid.IntRange(4096, 64<<10).Draw(t, "maxFileSize")),
			DisableMmap:   true,
			CacheSize:     int64(rapid.SampledFrom([]int{-1, 0, 4096}).Draw(t, "cache")),
			FlushInterval: 1 << 40, // deterministic: no background flushes
			SyncInterval:  -1,

			DisableAutoCompaction: true, // merges are steps of the test
		}
		mem := vfs.NewMem()
		opts.FS = mem
		db, err := Open("/db", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }()

		model := map[string][]byte{}  // what Get must return
		synced := map[string][]byte{} // what survives a power cut
		expiredEver := 0              // keys the keydir may hold expired
		copies := 0                   // checkpoints and restores made
		keyGen := rapid.SampledFrom([]string{"a", "b", "c", "\x00", "key\nwith\tbytes", "\xff\xfe", "long-key-0123456789"})
		valGen := rapid.OneOf(
			rapid.SliceOfN(rapid.Byte(), 0, 64),
			rapid.Custom(func(t *rapid.T) []byte { // compressible
				return bytes.Repeat([]byte{rapid.Byte().Draw(t, "b")}, rapid.IntRange(16, 3000).Draw(t, "n"))
			}),
		)
		copyModel := func(m map[string][]byte) map[string][]byte {
			out := make(map[string][]byte, len(m))
			for k, v := range m {
				out[k] = v
			}
			return out
		}
		markSynced := func() {
			if syncWrites {
				synced = copyModel(model)
			}
		}

		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				k, v := keyGen.Draw(t, "k"), valGen.Draw(t, "v")
				if err := db.Put([]byte(k), v); err != nil {
					t.Fatal(err)
				}
				model[k] = bytes.Clone(v)
				markSynced()
			},
			"putTTL": func(t *rapid.T) {
				k, v := keyGen.Draw(t, "k"), valGen.Draw(t, "v")
				if rapid.Bool().Draw(t, "expired") {
					if err := db.PutWithTTL([]byte(k), v, time.Nanosecond); err != nil {
						t.Fatal(err)
					}
					delete(model, k)
					expiredEver++
				} else {
					if err := db.PutWithTTL([]byte(k), v, time.Hour); err != nil {
						t.Fatal(err)
					}
					model[k] = bytes.Clone(v)
				}
				markSynced()
			},
			"batch": func(t *rapid.T) {
				b := db.NewBatch()
				after := copyModel(model)
				for i, n := 0, rapid.IntRange(1, 6).Draw(t, "ops"); i < n; i++ {
					k := keyGen.Draw(t, "k")
					switch rapid.IntRange(0, 2).Draw(t, "op") {
					case 0:
						v := valGen.Draw(t, "v")
						b.Put([]byte(k), v)
						after[k] = bytes.Clone(v)
					case 1:
						v := valGen.Draw(t, "v")
						b.PutWithTTL([]byte(k), v, time.Hour)
						after[k] = bytes.Clone(v)
					default:
						b.Delete([]byte(k))
						delete(after, k)
					}
				}
				if err := db.Write(b); err != nil {
					t.Fatal(err)
				}
				model = after
				markSynced()
			},
			"checkpoint": func(t *rapid.T) {
				copies++
				dir := fmt.Sprintf("/copy%d", copies)
				if rapid.Bool().Draw(t, "backup") {
					var buf bytes.Buffer
					if _, err := db.Backup(&buf); err != nil {
						t.Fatal(err)
					}
					if err := restore(mem, &buf, dir); err != nil {
						t.Fatal(err)
					}
				} else if err := db.Checkpoint(dir); err != nil {
					t.Fatal(err)
				}
				o := opts
				o.FS = mem
				cp, err := Open(dir, o)
				if err != nil {
					t.Fatalf("open the copy: %v", err)
				}
				defer cp.Close()
				got := map[string][]byte{}
				if err := cp.Scan(nil, func(k, v []byte) bool { got[string(k)] = v; return true }); err != nil {
					t.Fatal(err)
				}
				if len(got) != len(model) {
					t.Fatalf("the copy has %d keys, the model %d", len(got), len(model))
				}
				for k, v := range model {
					if g, ok := got[k]; !ok || !bytes.Equal(g, v) {
						t.Fatalf("the copy has %q = %q (present %v), want %q", k, g, ok, v)
					}
				}
			},
			"compact": func(t *rapid.T) {
				if err := db.Compact(); err != nil {
					t.Fatal(err)
				}
				synced = copyModel(model) // sealing the active file synced it
			},
			"mergeSome": func(t *rapid.T) {
				sealed := db.sealedFiles()
				if len(sealed) == 0 {
					t.Skip("no sealed files")
				}
				var in []*dataFile
				for i, f := range sealed {
					if rapid.Bool().Draw(t, fmt.Sprintf("join%d", i)) {
						in = append(in, f)
					}
				}
				if len(in) == 0 {
					in = sealed[:1]
				}
				db.mergeMu.Lock()
				err := db.merge(in, "model")
				db.mergeMu.Unlock()
				if err != nil {
					t.Fatal(err)
				}
				synced = copyModel(model) // a merge syncs the log before its commit
			},
			"seal": func(t *rapid.T) {
				if err := db.sealActive(); err != nil {
					t.Fatal(err)
				}
				synced = copyModel(model)
			},
			"delete": func(t *rapid.T) {
				k := keyGen.Draw(t, "k")
				if err := db.Delete([]byte(k)); err != nil {
					t.Fatal(err)
				}
				delete(model, k)
				markSynced()
			},
			"get": func(t *rapid.T) {
				k := keyGen.Draw(t, "k")
				v, err := db.Get([]byte(k))
				want, ok := model[k]
				switch {
				case !ok && !errors.Is(err, ErrNotFound):
					t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", k, v, err)
				case ok && (err != nil || !bytes.Equal(v, want) || v == nil):
					t.Fatalf("Get(%q) = %q, %v; want %q", k, v, err, want)
				}
				has, err := db.Has([]byte(k))
				if err != nil || has != ok {
					t.Fatalf("Has(%q) = %v, %v; want %v", k, has, err, ok)
				}
			},
			"sync": func(t *rapid.T) {
				if err := db.Sync(); err != nil {
					t.Fatal(err)
				}
				synced = copyModel(model)
			},
			"reopen": func(t *rapid.T) {
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				synced = copyModel(model) // Close syncs
				if db, err = Open("/db", opts); err != nil {
					t.Fatal(err)
				}
			},
			"crash": func(t *rapid.T) {
				clone := mem.CrashClone(nil)
				_ = db.Close() // the old process is gone; its files are closed
				mem = clone
				opts.FS = mem
				if db, err = Open("/db", opts); err != nil {
					t.Fatalf("open after crash: %v", err)
				}
				model = copyModel(synced)
			},
			"": func(t *rapid.T) {
				// Expired keys stay in the keydir until a merge drops them.
				if got := db.Stats().Keys; got < len(model) || got > len(model)+expiredEver {
					t.Fatalf("Stats().Keys = %d, model has %d (+ up to %d expired)", got, len(model), expiredEver)
				}
			},
		})
	})
}
