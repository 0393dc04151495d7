package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDirBytes(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a"), make([]byte, 10_000), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "b"), make([]byte, 5_000), 0o644))
	got, err := dirBytes(dir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, got, int64(15_000), "both files, the one in a subdirectory too")
	require.Less(t, got, int64(64<<10))

	// A sparse file counts what it allocates, not its size (as du).
	if runtime.GOOS == "linux" {
		f, err := os.Create(filepath.Join(dir, "sparse"))
		require.NoError(t, err)
		require.NoError(t, f.Truncate(1<<30))
		require.NoError(t, f.Close())
		withSparse, err := dirBytes(dir)
		require.NoError(t, err)
		require.Less(t, withSparse-got, int64(1<<20), "a 1 GiB hole counted as data")
	}

	_, err = dirBytes(filepath.Join(dir, "missing"))
	require.Error(t, err, "a missing directory is an error, not 0 bytes")
}

func TestHeaderInfo(t *testing.T) {
	d := diskInfo(t.TempDir())
	if runtime.GOOS == "linux" {
		require.NotEmpty(t, d.FSType)
		require.Positive(t, d.Size)
		require.Contains(t, d.String(), d.FSType)
		require.Positive(t, memTotal())
		require.NotEmpty(t, kernelRelease())
	}
	require.Equal(t, "unknown", DiskInfo{}.String())
	require.Equal(t, "ext4 on /dev/vda (non-rotational per the kernel), 1.00 GiB, 512 MiB free",
		DiskInfo{FSType: "ext4", Device: "/dev/vda", Rotational: "non-rotational", Size: 1 << 30, Free: 512 << 20}.String())
	require.True(t, strings.HasPrefix(commandLine([]string{"-n", "5", "-dir", "a b"}), `go run ./cmd/kvbench -n 5 -dir "a b"`))
	require.Equal(t, "1M", fmtKeys(1_000_000))
	require.Equal(t, "250k", fmtKeys(250_000))
	require.Equal(t, "1500", fmtKeys(1500))
	require.Equal(t, "1.02M", fmtCount(1_020_000))
	require.Equal(t, "950", fmtCount(950))
	require.Equal(t, "12.3k", fmtCount(12_345))
}
