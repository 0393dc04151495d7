package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/simplekv/simplekv/bench"
	"github.com/simplekv/simplekv/engine"
)

// Value kinds accepted by -values.
const (
	valuesIncompressible = "incompressible"
	valuesCompressible   = "compressible"
)

// Limits checked by Validate.
const (
	maxKeySize = engine.DefaultMaxKeySize
	maxValue   = engine.DefaultMaxValueSize
	maxKeys    = 1 << 40
	maxWorkers = 4096

	minFileSize = 4096           // the engine's minimum MaxFileSize
	maxFileSize = math.MaxUint32 // offsets are 32-bit
)

// Options is kvbench's configuration: one field per flag. The zero value is
// not meaningful; start from DefaultOptions.
type Options struct {
	Engines      string        // comma-separated engine names ("" or "all" = every engine)
	Workloads    string        // comma-separated workloads ("" or "default" = the default set, "all" = every one)
	N            int           // keys in the main DB
	KeySize      int           // bytes per key (>= 8)
	ValueSize    int           // bytes per value
	Values       string        // valuesIncompressible or valuesCompressible
	Readers      int           // goroutines of the read and YCSB workloads
	Writers      int           // goroutines of sync-<writers>
	Duration     time.Duration // how long each timed workload runs
	MaxPhase     time.Duration // cap on the timed part of fill-rand, overwrite and fill-seq
	Dir          string        // if set, benchmark here and keep the files
	Out          string        // if set, write results.json, results.md and the chart here
	Readme       string        // if set, splice results.md into this file between the markers
	Seed         uint64        // seeds keys, values and every random choice
	Progress     bool          // force progress bars on stderr even when it is not a terminal
	CPUProfile   string        // write a CPU profile of the whole run to this file
	VerifySample int           // keys read back and checked after reopen

	// merge-latency (simplekv only): an overwrite-heavy run on a DB of
	// its own with automatic compaction on.
	MergeKeys     int           // keys it fills and overwrites (at most N)
	MergeWriters  int           // goroutines overwriting random keys
	MergeDuration time.Duration // how long they overwrite
	MergeFileSize int64         // its engine MaxFileSize
	MergeInterval time.Duration // its engine CompactionInterval
}

// DefaultOptions is the embedded default run: every engine, the default
// workloads, 1M keys of 16 bytes with 100-byte incompressible values.
func DefaultOptions() Options {
	return Options{
		N:            1_000_000,
		KeySize:      16,
		ValueSize:    100,
		Values:       valuesIncompressible,
		Readers:      2,
		Writers:      16,
		Duration:     defaultDuration,
		MaxPhase:     defaultMaxPhase,
		Seed:         1,
		VerifySample: 10_000,

		MergeKeys:     250_000,
		MergeWriters:  2,
		MergeDuration: 10 * time.Second,
		MergeFileSize: 8 << 20,
		MergeInterval: 250 * time.Millisecond,
	}
}

// The default -duration and -max-phase: with them `go run ./cmd/kvbench`
// takes about two minutes on the 2-core development machine (doc.go).
const (
	defaultDuration = 1 * time.Second
	defaultMaxPhase = 3 * time.Second
)

// AddFlags registers a flag for every field, with o's current values as the
// defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Engines, "engines", o.Engines, "comma-separated engines to compare (default all): "+strings.Join(engineNames(), ","))
	fs.StringVar(&o.Workloads, "workloads", o.Workloads, "comma-separated workloads (default: all but reopen-clean and the simplekv-only ones; \"all\": every one): "+strings.Join(workloadFlagNames(), ","))
	fs.IntVar(&o.N, "n", o.N, "number of keys in each engine's main database")
	fs.IntVar(&o.KeySize, "key-size", o.KeySize, "key size in bytes (at least 8)")
	fs.IntVar(&o.ValueSize, "value-size", o.ValueSize, "value size in bytes")
	fs.StringVar(&o.Values, "values", o.Values, "value contents: incompressible (random bytes) or compressible (about 2x with snappy)")
	fs.IntVar(&o.Readers, "readers", o.Readers, "goroutines of read-uniform, read-zipf and the YCSB mixes")
	fs.IntVar(&o.Writers, "writers", o.Writers, "goroutines of the multi-writer synced workload (sync-<writers>)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long each timed read, YCSB and sync workload runs, per engine")
	fs.DurationVar(&o.MaxPhase, "max-phase", o.MaxPhase, "cap on the timed part of fill-rand, overwrite and fill-seq; the rest of fill-rand and overwrite is written untimed")
	fs.StringVar(&o.Dir, "dir", o.Dir, "benchmark in this directory (must be empty or absent) and keep the main databases; default: a temp dir, removed afterwards")
	fs.StringVar(&o.Out, "out", o.Out, "write results.json, results.md, chart.svg and chart.png into this directory (created if needed)")
	fs.StringVar(&o.Readme, "readme", o.Readme, "replace the lines between <!-- kvbench:begin --> and <!-- kvbench:end --> in this file with results.md (needs -out)")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed for keys, values and random choices")
	fs.BoolVar(&o.Progress, "progress", o.Progress, "show progress bars on stderr even when it is not a terminal")
	fs.StringVar(&o.CPUProfile, "cpuprofile", o.CPUProfile, "write a CPU profile of the whole run (every engine, every workload) to this file; narrow it with -engines and -workloads, or go tool pprof -focus")
	fs.IntVar(&o.VerifySample, "verify-sample", o.VerifySample, "keys read back and checked after reopen, reopen-clean and reopen-hints (0 = none)")
	fs.IntVar(&o.MergeKeys, "merge-keys", o.MergeKeys, "merge-latency: keys it fills and then overwrites (at most n are used)")
	fs.IntVar(&o.MergeWriters, "merge-writers", o.MergeWriters, "merge-latency: concurrent writers overwriting random keys")
	fs.DurationVar(&o.MergeDuration, "merge-duration", o.MergeDuration, "merge-latency: how long the writers overwrite")
	fs.Int64Var(&o.MergeFileSize, "merge-file-size", o.MergeFileSize, "merge-latency: MaxFileSize in bytes of its DB (small, so the run seals many files)")
	fs.DurationVar(&o.MergeInterval, "merge-interval", o.MergeInterval, "merge-latency: CompactionInterval of its DB (how often it checks the merge triggers)")
}

// Validate reports every bad field at once.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.N <= 0 {
		bad("-n %d: must be positive", o.N)
	} else if o.N > maxKeys {
		bad("-n %d: at most %d", o.N, maxKeys)
	}
	if o.KeySize < bench.MinKeySize {
		bad("-key-size %d: must be at least %d (the key holds the 8-byte permuted index)", o.KeySize, bench.MinKeySize)
	} else if o.KeySize > maxKeySize {
		bad("-key-size %d: at most %d (simplekv's default MaxKeySize)", o.KeySize, maxKeySize)
	}
	if o.ValueSize <= 0 {
		bad("-value-size %d: must be positive", o.ValueSize)
	} else if o.ValueSize > maxValue {
		bad("-value-size %d: at most %d (simplekv's default MaxValueSize)", o.ValueSize, maxValue)
	}
	if o.Values != valuesIncompressible && o.Values != valuesCompressible {
		bad("-values %q: must be %s or %s", o.Values, valuesIncompressible, valuesCompressible)
	}
	if o.Readers < 1 || o.Readers > maxWorkers {
		bad("-readers %d: must be between 1 and %d", o.Readers, maxWorkers)
	}
	if o.Writers < 2 || o.Writers > maxWorkers {
		bad("-writers %d: must be between 2 and %d (sync-1 is the single-writer workload)", o.Writers, maxWorkers)
	}
	if o.Duration <= 0 {
		bad("-duration %v: must be positive", o.Duration)
	}
	if o.MaxPhase <= 0 {
		bad("-max-phase %v: must be positive", o.MaxPhase)
	}
	if o.VerifySample < 0 {
		bad("-verify-sample %d: must not be negative", o.VerifySample)
	}
	if o.MergeKeys <= 0 {
		bad("-merge-keys %d: must be positive", o.MergeKeys)
	} else if o.MergeKeys > maxKeys {
		bad("-merge-keys %d: at most %d", o.MergeKeys, maxKeys)
	}
	if o.MergeWriters < 1 || o.MergeWriters > maxWorkers {
		bad("-merge-writers %d: must be between 1 and %d", o.MergeWriters, maxWorkers)
	}
	if o.MergeDuration <= 0 {
		bad("-merge-duration %v: must be positive", o.MergeDuration)
	}
	if o.MergeFileSize < minFileSize || o.MergeFileSize > maxFileSize {
		bad("-merge-file-size %d: must be between %d and %d bytes (the engine's MaxFileSize range)", o.MergeFileSize, minFileSize, int64(maxFileSize))
	}
	if o.MergeInterval <= 0 {
		bad("-merge-interval %v: must be positive", o.MergeInterval)
	}
	engines, err := o.engineList()
	if err != nil {
		errs = append(errs, err)
	}
	sel, err := o.workloadList()
	if err != nil {
		errs = append(errs, err)
	}
	if engines != nil && sel != nil && !slices.ContainsFunc(engines, func(e bench.Engine) bool { return e.Name == simplekvName }) {
		for _, w := range sel {
			if w.simplekvOnly {
				bad("-workloads %s: runs on simplekv only, and -engines leaves simplekv out", w.name)
			}
		}
	}
	if o.Dir != "" {
		if fi, err := os.Stat(o.Dir); err == nil {
			if !fi.IsDir() {
				bad("-dir %s: exists and is not a directory", o.Dir)
			} else if ents, err := os.ReadDir(o.Dir); err != nil {
				bad("-dir %s: %v", o.Dir, err)
			} else if len(ents) > 0 {
				bad("-dir %s: not empty (kvbench needs an empty or absent directory)", o.Dir)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			bad("-dir %s: %v", o.Dir, err)
		}
	}
	if o.Out != "" {
		if fi, err := os.Stat(o.Out); err == nil && !fi.IsDir() {
			bad("-out %s: exists and is not a directory", o.Out)
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			bad("-out %s: %v", o.Out, err)
		}
	}
	if o.Readme != "" {
		if o.Out == "" {
			bad("-readme %s: needs -out (the README links to the chart written there)", o.Readme)
		}
		// Check the markers now rather than after a long run.
		if b, err := os.ReadFile(o.Readme); err != nil {
			bad("-readme: %v", err)
		} else if _, err := splice(b, nil); err != nil {
			bad("-readme %s: %v", o.Readme, err)
		}
	}
	if o.N > 0 && o.KeySize >= bench.MinKeySize && o.ValueSize > 0 {
		if per := int64(o.KeySize) + int64(o.ValueSize); int64(o.N) > math.MaxInt64/4/per {
			bad("-n %d with %d-byte records: data set too large", o.N, per)
		}
	}
	return errors.Join(errs...)
}

// engineList returns the selected engines in the canonical order.
func (o *Options) engineList() ([]bench.Engine, error) {
	all := engineList()
	spec := strings.TrimSpace(o.Engines)
	if spec == "" || spec == "all" {
		return all, nil
	}
	want := map[string]bool{}
	var unknown []string
	for _, name := range strings.Split(spec, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		if !slices.ContainsFunc(all, func(e bench.Engine) bool { return e.Name == name }) {
			unknown = append(unknown, strconv.Quote(name))
			continue
		}
		want[name] = true
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("-engines: unknown engine %s (known: %s)", strings.Join(unknown, ", "), strings.Join(engineNames(), ", "))
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("-engines %q: names no engine", o.Engines)
	}
	var out []bench.Engine
	for _, e := range all {
		if want[e.Name] {
			out = append(out, e)
		}
	}
	return out, nil
}

// workloadList returns the selected workloads in the canonical order.
func (o *Options) workloadList() ([]*workload, error) {
	spec := strings.TrimSpace(o.Workloads)
	switch spec {
	case "", "default":
		var out []*workload
		for _, w := range workloads {
			if w.inDefault() {
				out = append(out, w)
			}
		}
		return out, nil
	case "all":
		return slices.Clone(workloads), nil
	}
	want := map[*workload]bool{}
	var unknown []string
	for _, name := range strings.Split(spec, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		w := lookupWorkload(name, o.Writers)
		if w == nil {
			unknown = append(unknown, strconv.Quote(name))
			continue
		}
		want[w] = true
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("-workloads: unknown workload %s (known: %s)", strings.Join(unknown, ", "), strings.Join(workloadFlagNames(), ", "))
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("-workloads %q: names no workload", o.Workloads)
	}
	var out []*workload
	for _, w := range workloads {
		if want[w] {
			out = append(out, w)
		}
	}
	return out, nil
}

// generator is the run's key and value generator.
func (o *Options) generator() *bench.Generator {
	return &bench.Generator{
		Seed:         o.Seed,
		KeySize:      o.KeySize,
		ValueSize:    o.ValueSize,
		Compressible: o.Values == valuesCompressible,
	}
}

// mergeEngineOptions are the options of merge-latency's DB: small files,
// frequent trigger checks and the default triggers and thresholds. auto
// false turns automatic compaction off (for its fill).
func (o *Options) mergeEngineOptions(auto bool) engine.Options {
	return engine.Options{
		MaxFileSize:           o.MergeFileSize,
		CompactionInterval:    o.MergeInterval,
		DisableAutoCompaction: !auto,
	}
}

// mergeKeys is the number of keys merge-latency uses.
func (o *Options) mergeKeys() int { return min(o.N, o.MergeKeys) }
