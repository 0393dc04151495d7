package simplekv

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/replica"
)

// ErrConfig is wrapped by every error ParseConfig returns; the message
// names the key and its line.
var ErrConfig = errors.New("simple_kv: bad configuration")

// DefaultPath is where the data lives unless `path` says otherwise.
const DefaultPath = "./data/simple_kv"

// Config is the `simple_kv:` section of the application's YAML. Every
// field left out keeps its default; sizes are bytes, written as an integer
// or with a unit (`64MiB`, `512KiB`, `1GiB`, `4096B`); durations are Go
// durations (`15s`, `250ms`).
type Config struct {
	// Enabled: false opens and registers nothing. Default true.
	Enabled bool
	// Path is the data directory; it and its wal/ and last_state/ are
	// created as needed. Default ./data/simple_kv.
	Path string
	// SyncWrites makes every write durable before it returns (fsync, with
	// group commit); false buffers writes and syncs every SyncInterval.
	// Default false.
	SyncWrites bool

	MaxFileSize  int64         // max_file_size: size at which a log file is sealed (engine default 256 MiB)
	MaxKeySize   int64         // max_key_size (64 KiB)
	MaxValueSize int64         // max_value_size (64 MiB)
	CacheSize    int64         // cache_size: read cache budget; negative disables (64 MiB)
	BufferSize   int64         // buffer_size: write buffer without sync_writes (256 KiB)
	SyncInterval time.Duration // sync_interval: background fsync without sync_writes (1 s)

	// Compaction is the `compaction:` subsection.
	Compaction CompactionConfig

	// Replication, if set (the replication: section), makes the store a
	// member of a replicated cluster (package replica) instead of a
	// directory of this process alone. Path is then the node's data
	// directory.
	Replication *ReplicationConfig
}

// ReplicationConfig is the replication: section.
//
//	replication:
//	  node_id: n1                 # required; keep it across restarts
//	  raft_addr: 127.0.0.1:7001   # required: raft's IP:port, dialed by the others
//	  api_addr: 127.0.0.1:8001    # optional: serve the HTTP API (package server) here
//	  peers:                      # a static cluster: every member, this one too
//	    n1: 127.0.0.1:7001
//	    n2: 127.0.0.1:7002
//	    n3: 127.0.0.1:7003
//	  bootstrap: true             # or: a new cluster of this node alone
//	  join: 127.0.0.1:8001        # or: ask the member with this API address to add this node
//	  read_consistency: linearizable   # or stale
//
// With peers, every member starts with the same configuration and no one
// joins. Otherwise one node bootstraps and the others join through the
// API address of a member (which needs api_addr, or a simplekvd node).
// Writes on a follower are forwarded to the leader's API address when it
// has one, and fail with an error matching replica.ErrNotLeader when not.
type ReplicationConfig struct {
	NodeID, RaftAddr, APIAddr string
	Peers                     map[string]string
	Bootstrap                 bool
	Join                      string
	ReadConsistency           replica.Consistency
}

type rawReplication struct {
	NodeID          any `yaml:"node_id"`
	RaftAddr        any `yaml:"raft_addr"`
	APIAddr         any `yaml:"api_addr"`
	Peers           any `yaml:"peers"`
	Bootstrap       any `yaml:"bootstrap"`
	Join            any `yaml:"join"`
	ReadConsistency any `yaml:"read_consistency"`
}

// CompactionConfig is the `compaction:` subsection: the background merge
// worker and its triggers and thresholds (see package compaction).
type CompactionConfig struct {
	Enabled               bool          // enabled: run the background worker (default true)
	Interval              time.Duration // interval between checks (15 s)
	TriggerDeadFraction   float64       // trigger_dead_fraction (0.6)
	TriggerDeadBytes      int64         // trigger_dead_bytes (128 MiB)
	TriggerWALFiles       int           // trigger_wal_files (2)
	ThresholdDeadFraction float64       // threshold_dead_fraction (0.4)
	ThresholdDeadBytes    int64         // threshold_dead_bytes (32 MiB)
	ThresholdSmallFile    int64         // threshold_small_file (16 MiB)
}

// rawConfig mirrors the YAML keys; pointers and strings so that absent
// keys keep defaults and values are checked here, with their line.
type rawConfig struct {
	Enabled      any             `yaml:"enabled"`
	Path         any             `yaml:"path"`
	SyncWrites   any             `yaml:"sync_writes"`
	MaxFileSize  any             `yaml:"max_file_size"`
	MaxKeySize   any             `yaml:"max_key_size"`
	MaxValueSize any             `yaml:"max_value_size"`
	CacheSize    any             `yaml:"cache_size"`
	BufferSize   any             `yaml:"buffer_size"`
	SyncInterval any             `yaml:"sync_interval"`
	Compaction   *rawCompaction  `yaml:"compaction"`
	Replication  *rawReplication `yaml:"replication"`
}

type rawCompaction struct {
	Enabled               any `yaml:"enabled"`
	Interval              any `yaml:"interval"`
	TriggerDeadFraction   any `yaml:"trigger_dead_fraction"`
	TriggerDeadBytes      any `yaml:"trigger_dead_bytes"`
	TriggerWALFiles       any `yaml:"trigger_wal_files"`
	ThresholdDeadFraction any `yaml:"threshold_dead_fraction"`
	ThresholdDeadBytes    any `yaml:"threshold_dead_bytes"`
	ThresholdSmallFile    any `yaml:"threshold_small_file"`
}

// DefaultConfig is the configuration of an absent or empty section.
func DefaultConfig() Config {
	return Config{Enabled: true, Path: DefaultPath, Compaction: CompactionConfig{Enabled: true}}
}

// ParseConfig reads the top-level `simple_kv:` section of an application's
// YAML (other sections are left alone). A missing section gives
// DefaultConfig. Unknown keys, values of the wrong type, bad sizes and
// durations, and settings the engine rejects are errors that wrap
// ErrConfig and name the key and its line.
func ParseConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return cfg, fmt.Errorf("%w: %s", ErrConfig, yaml.FormatError(err, false, false))
	}
	path, err := yaml.PathString("$.simple_kv")
	if err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	node, err := path.FilterFile(file)
	if err != nil || node == nil || node.Type() == ast.NullType {
		return cfg, nil // no section: defaults
	}
	var raw rawConfig
	if err := yaml.NodeToValue(node, &raw, yaml.DisallowUnknownField()); err != nil {
		return cfg, fmt.Errorf("%w: %s", ErrConfig, yaml.FormatError(err, false, false))
	}
	line := func(key string) int {
		p, err := yaml.PathString("$.simple_kv." + key)
		if err != nil {
			return 0
		}
		n, err := p.FilterFile(file)
		if err != nil || n == nil {
			return 0
		}
		return n.GetToken().Position.Line
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: line %d: simple_kv.%s: %s", ErrConfig, line(key), key, fmt.Sprintf(format, args...)))
	}
	size := func(key string, raw any, dst *int64, allowNegative bool) {
		if raw == nil {
			return
		}
		v, err := sizeOf(raw)
		switch {
		case err != nil:
			bad(key, "%v", err)
		case v < 0 && !allowNegative:
			bad(key, "%v is negative", raw)
		default:
			*dst = v
		}
	}
	duration := func(key string, raw any, dst *time.Duration) {
		if raw == nil {
			return
		}
		s, _ := raw.(string)
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			bad(key, "%v is not a duration (like 15s or 250ms)", raw)
		case d < 0:
			bad(key, "%s is negative", s)
		default:
			*dst = d
		}
	}
	boolean := func(key string, raw any, dst *bool) {
		if raw == nil {
			return
		}
		if b, ok := raw.(bool); ok {
			*dst = b
			return
		}
		bad(key, "%v is not true or false", raw)
	}
	fraction := func(key string, raw any, dst *float64) {
		switch x := raw.(type) {
		case nil:
		case float64:
			*dst = x
		case uint64:
			*dst = float64(x)
		case int64:
			*dst = float64(x)
		default:
			bad(key, "%v is not a number", raw)
		}
	}
	boolean("enabled", raw.Enabled, &cfg.Enabled)
	boolean("sync_writes", raw.SyncWrites, &cfg.SyncWrites)
	if raw.Path != nil {
		p, ok := raw.Path.(string)
		switch {
		case !ok:
			bad("path", "%v is not a path", raw.Path)
		case strings.TrimSpace(p) == "":
			bad("path", "is empty")
		default:
			cfg.Path = p
		}
	}
	size("max_file_size", raw.MaxFileSize, &cfg.MaxFileSize, false)
	size("max_key_size", raw.MaxKeySize, &cfg.MaxKeySize, false)
	size("max_value_size", raw.MaxValueSize, &cfg.MaxValueSize, false)
	size("cache_size", raw.CacheSize, &cfg.CacheSize, true)
	size("buffer_size", raw.BufferSize, &cfg.BufferSize, false)
	duration("sync_interval", raw.SyncInterval, &cfg.SyncInterval)
	if c := raw.Compaction; c != nil {
		boolean("compaction.enabled", c.Enabled, &cfg.Compaction.Enabled)
		duration("compaction.interval", c.Interval, &cfg.Compaction.Interval)
		fraction("compaction.trigger_dead_fraction", c.TriggerDeadFraction, &cfg.Compaction.TriggerDeadFraction)
		fraction("compaction.threshold_dead_fraction", c.ThresholdDeadFraction, &cfg.Compaction.ThresholdDeadFraction)
		if c.TriggerWALFiles != nil {
			var n int64
			size("compaction.trigger_wal_files", c.TriggerWALFiles, &n, true)
			cfg.Compaction.TriggerWALFiles = int(max(min(n, math.MaxInt32), math.MinInt32))
		}
		size("compaction.trigger_dead_bytes", c.TriggerDeadBytes, &cfg.Compaction.TriggerDeadBytes, true)
		size("compaction.threshold_dead_bytes", c.ThresholdDeadBytes, &cfg.Compaction.ThresholdDeadBytes, true)
		size("compaction.threshold_small_file", c.ThresholdSmallFile, &cfg.Compaction.ThresholdSmallFile, true)
	}
	// What the engine would reject, checked key by key so that the error
	// names the key and its line.
	if r := raw.Replication; r != nil {
		cfg.Replication = parseReplication(r, bad, boolean)
	}
	intKey := func(key string, v int64, limit int64) {
		if v > limit {
			bad(key, "%d is above the limit %d", v, limit)
		}
	}
	intKey("max_key_size", cfg.MaxKeySize, MaxKeySize)
	intKey("max_value_size", cfg.MaxValueSize, math.MaxInt32)
	intKey("buffer_size", cfg.BufferSize, math.MaxInt32)
	intKey("compaction.trigger_wal_files", int64(cfg.Compaction.TriggerWALFiles), math.MaxInt32)
	single := []struct {
		key string
		o   engine.Options
	}{
		{"max_file_size", engine.Options{MaxFileSize: cfg.MaxFileSize}},
		{"max_value_size", engine.Options{MaxValueSize: int(min(cfg.MaxValueSize, math.MaxInt32))}},
		{"compaction.trigger_dead_fraction", engine.Options{Compaction: compaction.Options{TriggerDeadFraction: cfg.Compaction.TriggerDeadFraction, ThresholdDeadFraction: -1}}},
		{"compaction.threshold_dead_fraction", engine.Options{Compaction: compaction.Options{ThresholdDeadFraction: cfg.Compaction.ThresholdDeadFraction, TriggerDeadFraction: -1}}},
	}
	for _, c := range single {
		if err := c.o.Validate(); err != nil {
			bad(c.key, "%s", optionsProblem(err))
		}
	}
	if len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}
	// What is left is how settings combine (a threshold above its
	// trigger): name the threshold.
	if err := cfg.EngineOptions().Validate(); err != nil {
		key := "compaction"
		switch {
		case strings.Contains(err.Error(), "ThresholdDeadFraction"):
			key = "compaction.threshold_dead_fraction"
		case strings.Contains(err.Error(), "ThresholdDeadBytes"):
			key = "compaction.threshold_dead_bytes"
		}
		bad(key, "%s", optionsProblem(err))
		return cfg, errors.Join(errs...)
	}
	return cfg, nil
}

// optionsProblem is an Options.Validate error without its sentinel's text.
func optionsProblem(err error) string {
	msg := err.Error()
	for _, p := range []string{engine.ErrInvalidOptions.Error() + ": ", compaction.ErrInvalidOptions.Error() + ": "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return strings.ReplaceAll(msg, "\n", "; ")
}

// MaxKeySize is the largest max_key_size: the engine's key limit less the
// room the bucket encoding takes (see keyOverhead).
const MaxKeySize = 16<<20 - keyOverhead

// keyOverhead is what the store adds to a key in the engine: a role byte,
// the bucket's length and generation (uvarints) and the bucket name, which
// is at most MaxBucketLen bytes.
const keyOverhead = 1 + 2*10 + MaxBucketLen

// MaxBucketLen is the longest bucket name.
const MaxBucketLen = 1024

// userMaxKeySize is the key limit the store enforces on callers' keys.
func (c Config) userMaxKeySize() int {
	if c.MaxKeySize == 0 {
		return engine.DefaultMaxKeySize
	}
	return int(c.MaxKeySize)
}

// EngineOptions maps the configuration to engine options. max_key_size
// limits the caller's key; the engine's limit adds room for the bucket.
func (c Config) EngineOptions() engine.Options {
	clamp := func(v int64) int {
		if v > math.MaxInt32 {
			return math.MaxInt32
		}
		return int(v)
	}
	return engine.Options{
		SyncWrites:            c.SyncWrites,
		MaxFileSize:           c.MaxFileSize,
		MaxKeySize:            min(c.userMaxKeySize()+keyOverhead, 16<<20),
		MaxValueSize:          clamp(c.MaxValueSize),
		CacheSize:             c.CacheSize,
		BufferSize:            clamp(c.BufferSize),
		SyncInterval:          c.SyncInterval,
		DisableAutoCompaction: !c.Compaction.Enabled,
		CompactionInterval:    c.Compaction.Interval,
		Compaction: compaction.Options{
			TriggerDeadFraction:   c.Compaction.TriggerDeadFraction,
			TriggerDeadBytes:      c.Compaction.TriggerDeadBytes,
			TriggerWALFiles:       c.Compaction.TriggerWALFiles,
			ThresholdDeadFraction: c.Compaction.ThresholdDeadFraction,
			ThresholdDeadBytes:    c.Compaction.ThresholdDeadBytes,
			ThresholdSmallFile:    c.Compaction.ThresholdSmallFile,
		},
	}
}

// sizeOf reads a size given as a YAML number or string.
func sizeOf(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d is too large", x)
		}
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<62 {
			return 0, fmt.Errorf("%v is not a whole number of bytes", x)
		}
		return int64(x), nil
	case string:
		return parseSize(x)
	default:
		return 0, fmt.Errorf("%v is not a size (like 4096, 512KiB or 64MiB)", v)
	}
}

// parseSize reads "4096", "4096B", "512KiB", "64MiB", "1GiB" (also KB, MB,
// GB as the same powers of two, and lower case).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	mult := int64(1)
	up := strings.ToUpper(t)
	for _, u := range units {
		if strings.HasSuffix(up, u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (like 4096, 512KiB or 64MiB)", s)
	}
	if v > math.MaxInt64/mult || v < math.MinInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return v * mult, nil
}

// parseReplication checks the replication: section; bad records each
// problem.
func parseReplication(r *rawReplication, bad func(key, format string, args ...any), boolean func(string, any, *bool)) *ReplicationConfig {
	rc := &ReplicationConfig{}
	str := func(key string, raw any, dst *string, required bool) {
		switch v := raw.(type) {
		case nil:
			if required {
				bad(key, "is required")
			}
		case string:
			if strings.TrimSpace(v) == "" {
				bad(key, "is empty")
			}
			*dst = v
		default:
			bad(key, "%v is not a string", raw)
		}
	}
	str("replication.node_id", r.NodeID, &rc.NodeID, true)
	str("replication.raft_addr", r.RaftAddr, &rc.RaftAddr, true)
	str("replication.api_addr", r.APIAddr, &rc.APIAddr, false)
	str("replication.join", r.Join, &rc.Join, false)
	boolean("replication.bootstrap", r.Bootstrap, &rc.Bootstrap)
	switch p := r.Peers.(type) {
	case nil:
	case map[string]any:
		rc.Peers = map[string]string{}
		for id, addr := range p {
			a, ok := addr.(string)
			if !ok || a == "" {
				bad("replication.peers", "%s: %v is not an address", id, addr)
			}
			rc.Peers[id] = a
		}
		if _, ok := rc.Peers[rc.NodeID]; !ok && rc.NodeID != "" {
			bad("replication.peers", "does not list this node, %s", rc.NodeID)
		}
	default:
		bad("replication.peers", "want a map of node id to raft address")
	}
	if r.ReadConsistency != nil {
		s, _ := r.ReadConsistency.(string)
		c, err := replica.ParseConsistency(s)
		if err != nil || s == "" {
			bad("replication.read_consistency", "%v: want linearizable or stale", r.ReadConsistency)
		}
		rc.ReadConsistency = c
	}
	ways := 0
	for _, set := range []bool{rc.Peers != nil, rc.Bootstrap, rc.Join != ""} {
		if set {
			ways++
		}
	}
	if ways != 1 {
		bad("replication", "set exactly one of peers, bootstrap and join")
	}
	return rc
}
