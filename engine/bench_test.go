package engine_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simplekv/simplekv/engine"
)

// Benchmarks for benchstat: sub-benchmark names are key=value pairs
// (BenchmarkPut/sync=true/writers=16), so `benchstat -col /writers` and
// the like work. Keys are 16 bytes and values 100 incompressible bytes,
// kvbench's default shape.

const (
	benchKeySize   = 16
	benchValueSize = 100
	benchValues    = 1024 // distinct values, cycled
	benchGetKeys   = 100_000
)

// benchValuePool holds benchValues random 100-byte values; value i is
// pool[i%benchValues]. Random bytes, so snappy stores them as they are.
var benchValuePool = sync.OnceValue(func() [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	pool := make([][]byte, benchValues)
	for i := range pool {
		v := make([]byte, benchValueSize)
		for j := 0; j < len(v); j += 8 {
			var w [8]byte
			binary.LittleEndian.PutUint64(w[:], rng.Uint64())
			copy(v[j:], w[:])
		}
		pool[i] = v
	}
	return pool
})

// benchKey writes the 16-byte key of index i into dst: a bijective hash of
// i (unique, spread over the keydir) followed by i itself.
func benchKey(dst []byte, i uint64) []byte {
	x := i
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	binary.BigEndian.PutUint64(dst[0:8], x)
	binary.BigEndian.PutUint64(dst[8:16], i)
	return dst[:benchKeySize]
}

func openBench(b *testing.B, opts engine.Options) *engine.DB {
	b.Helper()
	db, err := engine.Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	})
	return db
}

// BenchmarkPut measures Put of new keys: b.N puts in all, shared among the
// writers. With sync=true every Put waits for its fdatasync, which
// concurrent writers share (group commit); puts/fsync reports how well.
func BenchmarkPut(b *testing.B) {
	cases := []struct {
		sync    bool
		writers int
	}{
		{false, 1},
		{true, 1},
		{true, 16},
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("sync=%v/writers=%d", c.sync, c.writers), func(b *testing.B) {
			benchPut(b, c.sync, c.writers)
		})
	}
}

func benchPut(b *testing.B, syncWrites bool, writers int) {
	db := openBench(b, engine.Options{SyncWrites: syncWrites})
	pool := benchValuePool()
	b.SetBytes(benchKeySize + benchValueSize)
	b.ReportAllocs()
	var next atomic.Uint64
	var failed atomic.Bool
	var wg sync.WaitGroup
	n := uint64(b.N)
	b.ResetTimer()
	for range writers {
		wg.Go(func() {
			key := make([]byte, benchKeySize)
			for {
				i := next.Add(1) - 1
				if i >= n || failed.Load() {
					return
				}
				if err := db.Put(benchKey(key, i), pool[i%benchValues]); err != nil {
					failed.Store(true)
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	st := db.Stats()
	if syncWrites && st.Syncs > 0 {
		b.ReportMetric(float64(st.Puts)/float64(st.Syncs), "puts/fsync")
	}
	if int(st.Puts) != b.N && !failed.Load() {
		b.Fatalf("Stats.Puts = %d after %d puts", st.Puts, b.N)
	}
}

// BenchmarkWriteBatch writes b.N keys in batches of 100 (one Write each)
// from one goroutine; compare with BenchmarkPut/writers=1, the same keys
// one Put each. ns/op is per key; fsyncs/batch is reported with SyncWrites.
func BenchmarkWriteBatch(b *testing.B) {
	for _, syncWrites := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v/size=100", syncWrites), func(b *testing.B) {
			const size = 100
			db := openBench(b, engine.Options{SyncWrites: syncWrites})
			pool := benchValuePool()
			b.SetBytes(benchKeySize + benchValueSize)
			b.ReportAllocs()
			batch := db.NewBatch()
			key := make([]byte, benchKeySize)
			b.ResetTimer()
			for i := 0; i < b.N; {
				batch.Reset()
				for j := 0; j < size && i < b.N; j, i = j+1, i+1 {
					batch.Put(benchKey(key, uint64(i)), pool[i%benchValues])
				}
				if err := db.Write(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			st := db.Stats()
			if int(st.Puts) != b.N {
				b.Fatalf("Stats.Puts = %d after %d puts", st.Puts, b.N)
			}
			if syncWrites && st.Batches > 0 {
				b.ReportMetric(float64(st.Syncs)/float64(st.Batches), "fsyncs/batch")
			}
		})
	}
}

// BenchmarkWriteBatchDuringScan is BenchmarkWriteBatch (async) with a
// Scan parked in its callback throughout (scanning=true), so that every
// batch saves the previous values of its 100 keys for it, against the
// same run with no Scan: what a live Scan costs batch writers. Keys are
// overwrites of 10k prefilled ones.
func BenchmarkWriteBatchDuringScan(b *testing.B) {
	const size, keys = 100, 10_000
	for _, scanning := range []bool{false, true} {
		b.Run(fmt.Sprintf("scanning=%v", scanning), func(b *testing.B) {
			db := openBench(b, engine.Options{})
			pool := benchValuePool()
			key := make([]byte, benchKeySize)
			for i := range uint64(keys) {
				if err := db.Put(benchKey(key, i), pool[i%benchValues]); err != nil {
					b.Fatal(err)
				}
			}
			release, scanDone := make(chan struct{}), make(chan error, 1)
			if scanning {
				parked := make(chan struct{})
				go func() {
					first := true
					scanDone <- db.Scan(nil, func(_, _ []byte) bool {
						if first {
							first = false
							close(parked)
							<-release
						}
						return false
					})
				}()
				<-parked
			}
			b.SetBytes(benchKeySize + benchValueSize)
			batch := db.NewBatch()
			b.ResetTimer()
			for i := 0; i < b.N; {
				batch.Reset()
				for j := 0; j < size && i < b.N; j, i = j+1, i+1 {
					batch.Put(benchKey(key, uint64(i%keys)), pool[i%benchValues])
				}
				if err := db.Write(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if scanning {
				if db.Stats().ScanSavedBytes == 0 {
					b.Fatal("a Scan ran but no batch saved a value for it")
				}
				close(release)
				if err := <-scanDone; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGet measures Get of random existing keys from 1 and 2 readers
// (b.N gets in all) against a DB prefilled with 100k keys. The fill is
// done once, outside every timed region, and shared by the sub-benchmarks.
// Every value read is checked.
func BenchmarkGet(b *testing.B) {
	db := openBench(b, engine.Options{})
	pool := benchValuePool()
	key := make([]byte, benchKeySize)
	for i := range uint64(benchGetKeys) {
		if err := db.Put(benchKey(key, i), pool[i%benchValues]); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Sync(); err != nil {
		b.Fatal(err)
	}
	for _, readers := range []int{1, 2} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			benchGet(b, db, readers)
		})
	}
}

func benchGet(b *testing.B, db *engine.DB, readers int) {
	pool := benchValuePool()
	b.SetBytes(benchKeySize + benchValueSize)
	b.ReportAllocs()
	var wg sync.WaitGroup
	var failed atomic.Bool
	b.ResetTimer()
	for r := range readers {
		quota := b.N / readers
		if r < b.N%readers {
			quota++
		}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 42))
			key := make([]byte, benchKeySize)
			for range quota {
				i := rng.Uint64N(benchGetKeys)
				v, err := db.Get(benchKey(key, i))
				if err != nil || !bytes.Equal(v, pool[i%benchValues]) {
					if failed.CompareAndSwap(false, true) {
						b.Errorf("Get of index %d: value %x, error %v; want %x", i, v, err, pool[i%benchValues])
					}
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkOpen measures Open plus one Get of a directory holding
// SIMPLEKV_BENCH_OPEN_KEYS keys (default 1M, kvbench's reopen): from=hints
// after a full compaction (last_state/ with hint files), from=clean after
// a clean Close with everything still in wal/ (every sealed log file has
// its hint), from=crash as a SIGKILL leaves it (the newest log file has no
// hint yet and is replayed, the others load from their hints), from=log
// with no log hint at all (replayed record by record).
func BenchmarkOpen(b *testing.B) {
	n := uint64(1_000_000)
	if testing.Short() {
		n = 50_000
	}
	for _, from := range []string{"hints", "clean", "crash", "log"} {
		b.Run("from="+from, func(b *testing.B) {
			dir := b.TempDir()
			db, err := engine.Open(dir, engine.Options{})
			if err != nil {
				b.Fatal(err)
			}
			pool := benchValuePool()
			kb := make([]byte, benchKeySize)
			for i := range n {
				if err := db.Put(benchKey(kb, i), pool[i%benchValues]); err != nil {
					b.Fatal(err)
				}
			}
			if from == "hints" {
				if err := db.Compact(); err != nil {
					b.Fatal(err)
				}
			}
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			removeWALHints(b, dir, from)
			var rec, hints, log time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				db, err := engine.Open(dir, engine.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := db.Get(benchKey(kb, uint64(i)%n)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				st := db.Stats()
				if st.Keys != int(n) {
					b.Fatalf("reopened with %d keys, want %d", st.Keys, n)
				}
				rec += st.RecoveryDuration
				hints += st.RecoveryHintsDuration
				log += st.RecoveryLogDuration
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
				// Open hinted the files it replayed: undo that.
				removeWALHints(b, dir, from)
				b.StartTimer()
			}
			// Where Open's time goes: rebuilding the keydir (from hint
			// files, then from the log), the rest being file opening and
			// checks.
			b.ReportMetric(float64(rec.Milliseconds())/float64(b.N), "recovery-ms/op")
			b.ReportMetric(float64(hints.Milliseconds())/float64(b.N), "hints-ms/op")
			b.ReportMetric(float64(log.Milliseconds())/float64(b.N), "log-ms/op")
		})
	}
}

// removeWALHints removes the log hint files a run of BenchmarkOpen must
// not see: all of them for from=log, the newest one for from=crash (a
// process killed before Close never wrote it).
func removeWALHints(b *testing.B, dir, from string) {
	if from != "log" && from != "crash" {
		return
	}
	hints, err := filepath.Glob(filepath.Join(dir, "wal", "*.hint"))
	if err != nil {
		b.Fatal(err)
	}
	sort.Strings(hints)
	if from == "crash" && len(hints) > 0 {
		hints = hints[len(hints)-1:]
	}
	for _, h := range hints {
		if err := os.Remove(h); err != nil {
			b.Fatal(err)
		}
	}
}
