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
		"simple_kv section parsed (other sections ignored)",
		`GetValue("config", "http.port") = "9090" after the update`,
		`GetValue("config", "smtp.host") = nil, nil`,
		`module stopped: GetValue returns "kv: no active store"`,
		"Iterate(\"config\") after restart:\n  app.name = billing\n  feature.dark_mode = true\n  http.port = 9090\n  limits.max_upload = 10MiB\n",
		`settings survived the restart: 4 keys in "config"`,
	} {
		require.Contains(t, out.String(), line)
	}
}

// A second run on the same directory finds the settings of the first.
func TestRunTwiceOnOneDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, run("config.yaml", dir, &bytes.Buffer{}))
	var out bytes.Buffer
	require.NoError(t, run("config.yaml", dir, &out))
	require.Contains(t, out.String(), "settings survived the restart")
}

func TestRunErrors(t *testing.T) {
	require.Error(t, run("no-such-file.yaml", t.TempDir(), &bytes.Buffer{}))
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("simple_kv:\n  cache_sise: 1MiB\n"), 0o644))
	require.ErrorContains(t, run(bad, t.TempDir(), &bytes.Buffer{}), "cache_sise")
}

func TestDefaultConfigPath(t *testing.T) {
	// Tests run in the package directory: config.yaml is next to them.
	require.Equal(t, "config.yaml", defaultConfigPath())
	t.Chdir("../..") // the repository root
	require.FileExists(t, defaultConfigPath())
}
