package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run("config.yaml", t.TempDir(), &out))
	for _, line := range []string{
		"sync_writes=true",
		"authenticate ",
		"replayed token rejected",
		`filter.Exists("used_tokens"): alice's token true, carol's (unused) false`,
		`revoke bob: session `,
		`rejected (filter.Exists("revoked") is true)`,
		"logout alice: session ",
		"deleted, GetValue returns nil, nil",
		"carol's session expired",
		`Iterate("sessions"): 1 stored`,
	} {
		require.Contains(t, out.String(), line)
	}
}

// Rerunning on the same directory works: tokens and session ids are new.
func TestRunTwiceOnOneDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, run("config.yaml", dir, &bytes.Buffer{}))
	require.NoError(t, run("config.yaml", dir, &bytes.Buffer{}))
}

func TestRunWantsSyncWrites(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "async.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("simple_kv:\n  sync_writes: false\n"), 0o644))
	require.ErrorContains(t, run(cfg, t.TempDir(), &bytes.Buffer{}), "sync_writes: true")
}

func TestDefaultConfigPath(t *testing.T) {
	require.Equal(t, "config.yaml", defaultConfigPath())
	t.Chdir("../..") // the repository root
	require.FileExists(t, defaultConfigPath())
}
