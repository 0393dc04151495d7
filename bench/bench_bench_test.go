package bench

import (
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"
)

// Go benchmarks of kvbench's workloads, one sub-benchmark per engine
// (BenchmarkReadUniform/simplekv), driving the same workers as kvbench
// (workload.go), so that
//
//	go test -run '^$' -bench . -count 5 ./bench/ > new.txt
//	benchstat old.txt new.txt
//
// compares commits. ns/op is wall time over operations: for the
// concurrent ones (reads, YCSB, sync-16) the inverse of the throughput.
//
// The read, overwrite and YCSB benchmarks run against a database
// preloaded, untimed, with benchKeys() keys (100k by default, or
// $SIMPLEKV_BENCH_KEYS) through Loader; it is made once per engine and
// shared by that engine's rounds (b.N = 1, 100, ...). The fill
// benchmarks write b.N keys into a fresh database each round. All run
// with Config{Sync: false} except Sync1 and Sync16. The whole set takes
// about a minute and a half at the default -benchtime on the 2-core
// development machine.

// benchReaders is the number of goroutines of the read and YCSB
// benchmarks, kvbench's default -readers.
const benchReaders = 2

// benchWriters is the number of goroutines of BenchmarkSync16.
const benchWriters = 16

// benchKeys is the number of keys preloaded for the read, overwrite and
// YCSB benchmarks: $SIMPLEKV_BENCH_KEYS, or 100,000.
func benchKeys(b *testing.B) uint64 {
	s := os.Getenv("SIMPLEKV_BENCH_KEYS")
	if s == "" {
		return 100_000
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		b.Fatalf("SIMPLEKV_BENCH_KEYS=%q: want a positive number", s)
	}
	return n
}

// benchGen is kvbench's default data: 16-byte keys, 100-byte
// incompressible values.
func benchGen() *Generator { return &Generator{Seed: 1, KeySize: 16, ValueSize: 100} }

// fixture is one engine's database shared by the rounds of a benchmark.
type fixture struct {
	dir  string
	db   DB
	ks   *Keyspace
	zipf *Zipf
	next uint64 // the next fresh index (sync benchmarks)
}

// openFixture opens a database of e in a new temporary directory,
// preloaded with keys keys unless keys is 0.
func openFixture(b *testing.B, e Engine, cfg Config, keys uint64) *fixture {
	b.Helper()
	dir, err := os.MkdirTemp("", "bench-"+e.Name+"-")
	if err != nil {
		b.Fatal(err)
	}
	db, err := e.Open(dir, cfg)
	if err != nil {
		_ = os.RemoveAll(dir)
		b.Fatalf("open %s: %v", e.Name, err)
	}
	fx := &fixture{dir: dir, db: db}
	if keys > 0 {
		fx.ks = NewKeyspace(benchGen(), keys, false)
		if err := fx.ks.Load(db, NewPerm(keys, 1), 0, keys, nil); err != nil {
			fx.close(b)
			b.Fatalf("preload %s: %v", e.Name, err)
		}
		if err := db.Sync(); err != nil {
			fx.close(b)
			b.Fatalf("sync %s: %v", e.Name, err)
		}
		if fx.zipf, err = NewZipf(keys, ZipfTheta, 1); err != nil {
			b.Fatal(err)
		}
	}
	return fx
}

func (fx *fixture) close(b *testing.B) {
	b.Helper()
	err := fx.db.Close()
	if rerr := os.RemoveAll(fx.dir); err == nil {
		err = rerr
	}
	if err != nil {
		b.Fatal(err)
	}
}

// perEngine runs body as a sub-benchmark per engine. The engine's fixture
// is made by setup on its first round (only for engines the -bench filter
// selects) and closed after its last.
func perEngine(b *testing.B, setup func(b *testing.B, e Engine) *fixture, body func(b *testing.B, fx *fixture)) {
	for _, e := range Engines() {
		var fx *fixture
		b.Run(e.Name, func(b *testing.B) {
			if fx == nil {
				fx = setup(b, e)
				b.ResetTimer()
			}
			body(b, fx)
		})
		if fx != nil {
			fx.close(b)
		}
	}
}

// step is what runParallel drives: one operation.
type step func() error

// runParallel runs b.N operations split over goroutines, each with the
// stepper newStep makes for it, and fails the benchmark on the first
// error.
func runParallel(b *testing.B, goroutines int, newStep func(g int) step) {
	b.Helper()
	steps := make([]step, goroutines)
	for g := range goroutines {
		steps[g] = newStep(g)
	}
	errs := make([]error, goroutines)
	b.ResetTimer()
	var wg sync.WaitGroup
	for g := range goroutines {
		quota := b.N / goroutines
		if g < b.N%goroutines {
			quota++
		}
		wg.Go(func() {
			for range quota {
				if err := steps[g](); err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
}

// benchFill writes b.N keys, one Put each, into a fresh database per
// round, in the order order(b.N) gives, then Syncs (timed), as kvbench's
// fill-rand and fill-seq do.
func benchFill(b *testing.B, seq bool) {
	for _, e := range Engines() {
		b.Run(e.Name, func(b *testing.B) {
			dir := b.TempDir()
			db, err := e.Open(dir, Config{})
			if err != nil {
				b.Fatal(err)
			}
			n := uint64(b.N)
			ks := NewKeyspace(benchGen(), n, seq)
			var order Order = NewPerm(n, 1)
			if seq {
				order = Ascending{}
			}
			w := ks.NewOrderWriter(db, order)
			b.ResetTimer()
			for range b.N {
				if _, err := w.Step(); err != nil {
					b.Fatal(err)
				}
			}
			if err := db.Sync(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func BenchmarkFillRand(b *testing.B) { benchFill(b, false) }
func BenchmarkFillSeq(b *testing.B)  { benchFill(b, true) }

// preloaded is the setup of the benchmarks on a filled database.
func preloaded(b *testing.B, e Engine) *fixture {
	return openFixture(b, e, Config{}, benchKeys(b))
}

// benchMix runs a Mix from benchReaders goroutines on the preloaded
// database; every read is verified.
func benchMix(b *testing.B, readPercent int, zipf bool) {
	round := uint64(0)
	perEngine(b, preloaded, func(b *testing.B, fx *fixture) {
		mix := Mix{ReadPercent: readPercent}
		if zipf {
			mix.Zipf = fx.zipf
		}
		round++
		runParallel(b, benchReaders, func(g int) step {
			w := fx.ks.NewMixWorker(fx.db, mix, round<<8|uint64(g))
			return func() error { _, err := w.Step(); return err }
		})
	})
}

func BenchmarkReadUniform(b *testing.B) { benchMix(b, 100, false) }
func BenchmarkReadZipf(b *testing.B)    { benchMix(b, 100, true) }
func BenchmarkYCSBA(b *testing.B)       { benchMix(b, YCSBAReadPercent, true) }
func BenchmarkYCSBB(b *testing.B)       { benchMix(b, YCSBBReadPercent, true) }
func BenchmarkYCSBC(b *testing.B)       { benchMix(b, YCSBCReadPercent, true) }

// BenchmarkOverwrite writes b.N keys of the preloaded database again, one
// Put each, in a random order (a new one each round, wrapping around the
// key space), then Syncs (timed).
func BenchmarkOverwrite(b *testing.B) {
	round := uint64(0)
	perEngine(b, preloaded, func(b *testing.B, fx *fixture) {
		round++
		w := fx.ks.NewOrderWriter(fx.db, NewPerm(fx.ks.N, 100+round))
		b.ResetTimer()
		for range b.N {
			if _, err := w.Step(); err != nil {
				b.Fatal(err)
			}
		}
		if err := fx.db.Sync(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
	})
}

// benchSync runs writers goroutines Putting new keys into a database
// opened with Config{Sync: true}, as kvbench's sync-1 and sync-16 do.
func benchSync(b *testing.B, writers int) {
	synced := func(b *testing.B, e Engine) *fixture { return openFixture(b, e, Config{Sync: true}, 0) }
	gen := benchGen()
	perEngine(b, synced, func(b *testing.B, fx *fixture) {
		base := fx.next
		fx.next += uint64(b.N + writers)
		runParallel(b, writers, func(g int) step {
			w := NewFreshWriter(fx.db, gen, base, g, writers)
			return func() error { _, err := w.Step(); return err }
		})
	})
}

func BenchmarkSync1(b *testing.B)  { benchSync(b, 1) }
func BenchmarkSync16(b *testing.B) { benchSync(b, benchWriters) }
