package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/simplekv/simplekv/engine"
)

// Phase names, in the order they always run.
const (
	phaseFill        = "fill"
	phaseReadRandom  = "read-random"
	phaseOverwrite   = "overwrite"
	phaseSync1       = "sync-1"
	phaseSyncN       = "sync-n" // shown as sync-<writers>; selectable as either
	phaseReopen      = "reopen"
	phaseHeapPerKey  = "heap/key"
	phaseReopenHints = "reopen-hints"
	phaseCompact     = "compact"
)

// allPhases is the canonical order. -phases selects a subset; the order
// given on the command line does not matter.
var allPhases = []string{phaseFill, phaseReadRandom, phaseOverwrite, phaseSync1, phaseSyncN, phaseReopen, phaseHeapPerKey, phaseReopenHints, phaseCompact}

// Limits checked by Validate.
const (
	minKeySize = 8 // the key's first 8 bytes are a bijection of the index
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
	N            int           // keys in the main DB
	KeySize      int           // bytes per key (>= 8)
	ValueSize    int           // bytes per value
	Readers      int           // goroutines in read-random
	Writers      int           // goroutines in the multi-writer sync phase
	SyncDuration time.Duration // how long each sync phase runs
	ReadDuration time.Duration // if > 0, read-random runs this long instead of N reads
	Dir          string        // if set, benchmark here and keep the files
	Phases       string        // comma-separated subset of phases ("" or "all" = every phase)
	JSON         string        // if set, write the results as JSON to this file
	Cache        int64         // engine CacheSize (0 = engine default, < 0 = no cache)
	Seed         uint64        // seeds keys, values and every random choice
	Compressible bool          // values about 2x compressible instead of random
	NoCompress   bool          // engine DisableCompression
	Progress     bool          // force progress bars on stderr even when it is not a terminal
	VerifySample int           // keys read back and checked after reopen

	// The compact phase: an overwrite-heavy run on a DB of its own with
	// automatic compaction on.
	CompactKeys     int           // keys it fills and overwrites (at most N)
	CompactWriters  int           // goroutines overwriting random keys
	CompactDuration time.Duration // how long they overwrite
	CompactFileSize int64         // its engine MaxFileSize
	CompactInterval time.Duration // its engine CompactionInterval
}

// DefaultOptions is the embedded default run: 1M keys of 16 bytes with
// 100-byte values.
func DefaultOptions() Options {
	return Options{
		N:            1_000_000,
		KeySize:      16,
		ValueSize:    100,
		Readers:      2,
		Writers:      16,
		SyncDuration: 3 * time.Second,
		Seed:         1,
		VerifySample: 10_000,

		CompactKeys:     250_000,
		CompactWriters:  2,
		CompactDuration: 10 * time.Second,
		CompactFileSize: 8 << 20,
		CompactInterval: 250 * time.Millisecond,
	}
}

// AddFlags registers a flag for every field, with o's current values as the
// defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.IntVar(&o.N, "n", o.N, "number of keys")
	fs.IntVar(&o.KeySize, "key-size", o.KeySize, "key size in bytes (at least 8)")
	fs.IntVar(&o.ValueSize, "value-size", o.ValueSize, "value size in bytes")
	fs.IntVar(&o.Readers, "readers", o.Readers, "concurrent readers in read-random")
	fs.IntVar(&o.Writers, "writers", o.Writers, "concurrent writers in the multi-writer sync phase (sync-<writers>)")
	fs.DurationVar(&o.SyncDuration, "sync-duration", o.SyncDuration, "how long each SyncWrites phase runs")
	fs.DurationVar(&o.ReadDuration, "read-duration", o.ReadDuration, "run read-random for this long instead of n reads (0 = n reads)")
	fs.StringVar(&o.Dir, "dir", o.Dir, "benchmark in this directory (must be empty or absent) and keep it; default: a temp dir, removed afterwards")
	fs.StringVar(&o.Phases, "phases", o.Phases, "comma-separated phases to run (default all): "+strings.Join(phaseFlagNames(), ","))
	fs.StringVar(&o.JSON, "json", o.JSON, "also write the results as JSON to this file")
	fs.Int64Var(&o.Cache, "cache", o.Cache, "engine CacheSize in bytes (0 = engine default, negative = no cache)")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed for keys, values and random choices")
	fs.BoolVar(&o.Compressible, "compressible", o.Compressible, "make values about 2x compressible (half random, half a repeated pattern)")
	fs.BoolVar(&o.NoCompress, "disable-compression", o.NoCompress, "set the engine's DisableCompression")
	fs.BoolVar(&o.Progress, "progress", o.Progress, "show progress bars on stderr even when it is not a terminal")
	fs.IntVar(&o.VerifySample, "verify-sample", o.VerifySample, "keys read back and checked after reopen and reopen-hints (0 = none)")
	fs.IntVar(&o.CompactKeys, "compact-keys", o.CompactKeys, "keys the compact phase fills and then overwrites (at most n are used)")
	fs.IntVar(&o.CompactWriters, "compact-writers", o.CompactWriters, "concurrent writers overwriting random keys in the compact phase")
	fs.DurationVar(&o.CompactDuration, "compact-duration", o.CompactDuration, "how long the compact phase overwrites")
	fs.Int64Var(&o.CompactFileSize, "compact-file-size", o.CompactFileSize, "MaxFileSize in bytes of the compact phase's DB (small, so the run seals many files)")
	fs.DurationVar(&o.CompactInterval, "compact-interval", o.CompactInterval, "CompactionInterval of the compact phase's DB (how often it checks the merge triggers)")
}

// phaseFlagNames lists the names -phases accepts.
func phaseFlagNames() []string {
	return []string{phaseFill, phaseReadRandom, phaseOverwrite, phaseSync1, "sync-<writers>", phaseReopen, phaseHeapPerKey, phaseReopenHints, phaseCompact}
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
	if o.KeySize < minKeySize {
		bad("-key-size %d: must be at least %d (the key holds the 8-byte permuted index)", o.KeySize, minKeySize)
	} else if o.KeySize > maxKeySize {
		bad("-key-size %d: at most %d (the engine's default MaxKeySize)", o.KeySize, maxKeySize)
	}
	if o.ValueSize <= 0 {
		bad("-value-size %d: must be positive", o.ValueSize)
	} else if o.ValueSize > maxValue {
		bad("-value-size %d: at most %d (the engine's default MaxValueSize)", o.ValueSize, maxValue)
	}
	if o.Readers < 1 || o.Readers > maxWorkers {
		bad("-readers %d: must be between 1 and %d", o.Readers, maxWorkers)
	}
	if o.Writers < 2 || o.Writers > maxWorkers {
		bad("-writers %d: must be between 2 and %d (sync-1 is the single-writer phase)", o.Writers, maxWorkers)
	}
	if o.SyncDuration <= 0 {
		bad("-sync-duration %v: must be positive", o.SyncDuration)
	}
	if o.ReadDuration < 0 {
		bad("-read-duration %v: must not be negative", o.ReadDuration)
	}
	if o.VerifySample < 0 {
		bad("-verify-sample %d: must not be negative", o.VerifySample)
	}
	if o.CompactKeys <= 0 {
		bad("-compact-keys %d: must be positive", o.CompactKeys)
	} else if o.CompactKeys > maxKeys {
		bad("-compact-keys %d: at most %d", o.CompactKeys, maxKeys)
	}
	if o.CompactWriters < 1 || o.CompactWriters > maxWorkers {
		bad("-compact-writers %d: must be between 1 and %d", o.CompactWriters, maxWorkers)
	}
	if o.CompactDuration <= 0 {
		bad("-compact-duration %v: must be positive", o.CompactDuration)
	}
	if o.CompactFileSize < minFileSize || o.CompactFileSize > maxFileSize {
		bad("-compact-file-size %d: must be between %d and %d bytes (the engine's MaxFileSize range)", o.CompactFileSize, minFileSize, int64(maxFileSize))
	}
	if o.CompactInterval <= 0 {
		bad("-compact-interval %v: must be positive", o.CompactInterval)
	}
	if _, err := o.phaseSet(); err != nil {
		errs = append(errs, err)
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
	if o.N > 0 && o.KeySize >= minKeySize && o.ValueSize > 0 {
		// The index is 64-bit, so 8 bytes always hold it uniquely; still
		// refuse a data set whose size overflows the accounting.
		if per := int64(o.KeySize) + int64(o.ValueSize); int64(o.N) > math.MaxInt64/4/per {
			bad("-n %d with %d-byte records: data set too large", o.N, per)
		}
	}
	return errors.Join(errs...)
}

// syncNName is the row name of the multi-writer sync phase.
func (o *Options) syncNName() string { return "sync-" + strconv.Itoa(o.Writers) }

// phaseSet returns the selected phases (canonical names).
func (o *Options) phaseSet() (map[string]bool, error) {
	set := map[string]bool{}
	spec := strings.TrimSpace(o.Phases)
	if spec == "" || spec == "all" {
		for _, p := range allPhases {
			set[p] = true
		}
		return set, nil
	}
	var unknown []string
	for _, name := range strings.Split(spec, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case name == "":
			continue
		case name == phaseSyncN || name == o.syncNName() || name == "sync-16":
			// sync-16 is the default's name; accept it whatever -writers is.
			set[phaseSyncN] = true
		case name == "heap-key" || name == "heap":
			set[phaseHeapPerKey] = true
		default:
			known := false
			for _, p := range allPhases {
				if p == name {
					known, set[p] = true, true
				}
			}
			if !known {
				unknown = append(unknown, strconv.Quote(name))
			}
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("-phases: unknown phase %s (known: %s)", strings.Join(unknown, ", "), strings.Join(phaseFlagNames(), ", "))
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("-phases %q: names no phase", o.Phases)
	}
	return set, nil
}

// engineOptions are the options of the main DB (sync false) and of the
// sync-* DBs. Automatic compaction is off: a background merge would land
// at a time that depends on the machine's speed, disturb whichever phase
// it overlaps and turn the reopen phase's log replay into a partly hinted
// one. reopen-hints merges the main DB explicitly; the compact phase has
// its own DB with compaction on (compactEngineOptions).
func (o *Options) engineOptions(sync bool) engine.Options {
	return engine.Options{
		SyncWrites:            sync,
		CacheSize:             o.Cache,
		DisableCompression:    o.NoCompress,
		DisableAutoCompaction: true,
	}
}

// compactEngineOptions are the options of the compact phase's DB: small
// files, frequent trigger checks and the default triggers and thresholds.
// auto false turns automatic compaction off (for its fill).
func (o *Options) compactEngineOptions(auto bool) engine.Options {
	eo := o.engineOptions(false)
	eo.MaxFileSize = o.CompactFileSize
	eo.CompactionInterval = o.CompactInterval
	eo.DisableAutoCompaction = !auto
	return eo
}

// compactKeys is the number of keys the compact phase uses.
func (o *Options) compactKeys() int { return min(o.N, o.CompactKeys) }
