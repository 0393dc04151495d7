package simplekv

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseConfigDefaults(t *testing.T) {
	for _, in := range []string{"", "other_plugin:\n  x: 1\n", "simple_kv:\n", "simple_kv: {}\n"} {
		cfg, err := ParseConfig([]byte(in))
		require.NoError(t, err, "%q", in)
		require.Equal(t, DefaultConfig(), cfg, "%q", in)
	}
	d := DefaultConfig()
	require.True(t, d.Enabled)
	require.Equal(t, "./data/simple_kv", d.Path)
	require.False(t, d.SyncWrites)
	require.True(t, d.Compaction.Enabled)
}

func TestParseConfigValues(t *testing.T) {
	in := `
server:
  port: 8080
simple_kv:
  enabled: true
  path: /var/lib/app/kv
  sync_writes: true
  max_file_size: 64MiB
  max_key_size: 1024
  max_value_size: 1MiB
  cache_size: -1
  buffer_size: 512KiB
  sync_interval: 250ms
  compaction:
    enabled: false
    interval: 30s
    trigger_dead_fraction: 0.5
    trigger_dead_bytes: 32MiB
    trigger_wal_files: 4
    threshold_dead_fraction: 0.3
    threshold_dead_bytes: 8MiB
    threshold_small_file: 4MiB
`
	cfg, err := ParseConfig([]byte(in))
	require.NoError(t, err)
	require.Equal(t, Config{
		Enabled: true, Path: "/var/lib/app/kv", SyncWrites: true,
		MaxFileSize: 64 << 20, MaxKeySize: 1024, MaxValueSize: 1 << 20, CacheSize: -1,
		BufferSize: 512 << 10, SyncInterval: 250 * time.Millisecond,
		Compaction: CompactionConfig{
			Enabled: false, Interval: 30 * time.Second, TriggerDeadFraction: 0.5, TriggerDeadBytes: 32 << 20,
			TriggerWALFiles: 4, ThresholdDeadFraction: 0.3, ThresholdDeadBytes: 8 << 20, ThresholdSmallFile: 4 << 20,
		},
	}, cfg)
	o := cfg.EngineOptions()
	require.True(t, o.SyncWrites)
	require.True(t, o.DisableAutoCompaction)
	require.EqualValues(t, 64<<20, o.MaxFileSize)
	require.EqualValues(t, 4, o.Compaction.TriggerWALFiles)
	require.NoError(t, o.Validate())

	cfg, err = ParseConfig([]byte("simple_kv:\n  enabled: false\n"))
	require.NoError(t, err)
	require.False(t, cfg.Enabled)
}

// TestParseConfigErrors: unknown keys and bad values are errors that name
// the key and its line.
func TestParseConfigErrors(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string // substrings of the message
	}{
		{"simple_kv:\n  path: x\n  syncwrites: true\n", []string{"3", "syncwrites"}},
		{"simple_kv:\n  compaction:\n    bogus: 1\n", []string{"3", "bogus"}},
		{"simple_kv:\n  cache_size: lots\n", []string{"line 2", "cache_size", "lots"}},
		{"simple_kv:\n  max_file_size: -5\n", []string{"line 2", "max_file_size", "negative"}},
		{"simple_kv:\n  sync_writes: maybe\n", []string{"2", "sync_writes"}},
		{"simple_kv:\n  enabled: 3\n", []string{"2", "enabled"}},
		{"simple_kv:\n  sync_interval: soon\n", []string{"line 2", "sync_interval"}},
		{"simple_kv:\n\n  compaction:\n    interval: -1s\n", []string{"line 4", "compaction.interval"}},
		{"simple_kv:\n  path: \"\"\n", []string{"line 2", "path", "empty"}},
		{"simple_kv:\n  max_file_size: 100\n", []string{"simple_kv", "MaxFileSize"}},
		{"simple_kv:\n  compaction:\n    trigger_dead_fraction: 0.3\n    threshold_dead_fraction: 0.5\n", []string{"ThresholdDeadFraction", "TriggerDeadFraction"}},
		{"simple_kv:\n  compaction:\n    trigger_dead_fraction: 1.5\n", []string{"TriggerDeadFraction"}},
		{"simple_kv: [1, 2]\n", []string{"simple_kv"}},
		{"simple_kv:\n  path: [unclosed\n", []string{"2"}},
	} {
		_, err := ParseConfig([]byte(c.in))
		require.ErrorIs(t, err, ErrConfig, "%q", c.in)
		for _, w := range c.want {
			require.Contains(t, err.Error(), w, "%q", c.in)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4096": 4096, "4096B": 4096, "512KiB": 512 << 10, "64MiB": 64 << 20, "1GiB": 1 << 30, "2mb": 2 << 20, " 3 KiB ": 3 << 10, "-1": -1} {
		got, err := parseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "12XB", "99999999999GiB"} {
		_, err := parseSize(in)
		require.Error(t, err, in)
	}
}
