package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run("config.yaml", t.TempDir(), &out))
	for _, line := range []string{
		"cache_size=16777216, compaction every 5s at 50% dead",
		"get user:1        miss  data for user:1 (load #1)",
		"get user:1        hit   data for user:1 (load #1)",
		"get rate:eur-usd  hit   data for rate:eur-usd (load #3)",
		"get rate:eur-usd  miss  data for rate:eur-usd (load #4)",
		"get countries     hit   data for countries (load #5)",
		"get user:1        miss  data for user:1 (load #6)",
		"flushed 4 entries",
		"get countries     miss  data for countries (load #9)",
		"hits=5 misses=9 slow calls=9",
	} {
		require.Contains(t, out.String(), line)
	}
}

// A rerun on the same directory starts from an empty cache.
func TestRunTwiceOnOneDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, run("config.yaml", dir, &bytes.Buffer{}))
	var out bytes.Buffer
	require.NoError(t, run("config.yaml", dir, &out))
	require.Contains(t, out.String(), "hits=5 misses=9 slow calls=9")
}

func TestDefaultConfigPath(t *testing.T) {
	require.Equal(t, "config.yaml", defaultConfigPath())
	t.Chdir("../..") // the repository root
	require.FileExists(t, defaultConfigPath())
}
