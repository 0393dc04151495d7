package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultOptionsValid(t *testing.T) {
	o := DefaultOptions()
	require.NoError(t, o.Validate())
	require.Equal(t, 1_000_000, o.N)
	require.Equal(t, 16, o.KeySize)
	require.Equal(t, 100, o.ValueSize)
	require.Equal(t, valuesIncompressible, o.Values)
	require.Equal(t, 2, o.Readers)
	require.Equal(t, 16, o.Writers)
	require.Equal(t, defaultDuration, o.Duration)
	require.Equal(t, defaultMaxPhase, o.MaxPhase)

	// Every engine, and every workload but the simplekv-only ones, in
	// the order of the issue.
	engines, err := o.engineList()
	require.NoError(t, err)
	require.Len(t, engines, 5)
	sel, err := o.workloadList()
	require.NoError(t, err)
	require.Equal(t, "fill-rand,heap,read-uniform,read-zipf,ycsb-a,ycsb-b,ycsb-c,overwrite,compact,reopen,fill-seq,sync-1,sync-16,batch-100,batch-100-sync", joinNames(sel, o.Writers))
}

// parseArgs parses args over the defaults.
func parseArgs(t *testing.T, args ...string) Options {
	t.Helper()
	o := DefaultOptions()
	fs := flag.NewFlagSet("kvbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	require.NoError(t, fs.Parse(args), "parse %v", args)
	return o
}

func TestValidateRejectsBadFlags(t *testing.T) {
	tmp := t.TempDir()
	notDir := filepath.Join(tmp, "file")
	require.NoError(t, os.WriteFile(notDir, []byte("x"), 0o644))
	nonEmpty := filepath.Join(tmp, "nonempty")
	require.NoError(t, os.MkdirAll(nonEmpty, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(nonEmpty, "x"), []byte("x"), 0o644))
	noMarkers := filepath.Join(tmp, "README.md")
	require.NoError(t, os.WriteFile(noMarkers, []byte("# hello\n"), 0o644))

	cases := []struct {
		name string
		args []string
		want string // substring of the error
	}{
		{"zero n", []string{"-n", "0"}, "-n 0: must be positive"},
		{"negative n", []string{"-n", "-5"}, "-n -5"},
		{"huge n", []string{"-n", "2000000000000"}, "at most"},
		{"key size 7", []string{"-key-size", "7"}, "-key-size 7: must be at least 8"},
		{"key size too big", []string{"-key-size", "100000"}, "-key-size 100000: at most"},
		{"value size 0", []string{"-value-size", "0"}, "-value-size 0: must be positive"},
		{"value size too big", []string{"-value-size", "100000000"}, "-value-size 100000000: at most"},
		{"values", []string{"-values", "random"}, `-values "random": must be incompressible or compressible`},
		{"readers 0", []string{"-readers", "0"}, "-readers 0"},
		{"writers 1", []string{"-writers", "1"}, "-writers 1: must be between 2"},
		{"duration 0", []string{"-duration", "0s"}, "-duration 0s: must be positive"},
		{"duration negative", []string{"-duration", "-1s"}, "-duration -1s"},
		{"max-phase 0", []string{"-max-phase", "0s"}, "-max-phase 0s: must be positive"},
		{"verify sample negative", []string{"-verify-sample", "-1"}, "-verify-sample -1"},
		{"unknown engine", []string{"-engines", "simplekv,rocksdb"}, `-engines: unknown engine "rocksdb" (known: simplekv, bbolt, badger, pebble, goleveldb)`},
		{"empty engine list", []string{"-engines", ","}, "names no engine"},
		{"unknown workload", []string{"-workloads", "fill-rand,bogus"}, `unknown workload "bogus"`},
		{"old phase name", []string{"-workloads", "read-random"}, `unknown workload "read-random"`},
		{"empty workload list", []string{"-workloads", " , "}, "names no workload"},
		{"simplekv-only without simplekv", []string{"-engines", "pebble", "-workloads", "reopen-hints"}, "-workloads reopen-hints: runs on simplekv only"},
		{"merge keys 0", []string{"-merge-keys", "0"}, "-merge-keys 0: must be positive"},
		{"merge writers 0", []string{"-merge-writers", "0"}, "-merge-writers 0: must be between 1 and"},
		{"merge duration 0", []string{"-merge-duration", "0s"}, "-merge-duration 0s: must be positive"},
		{"merge interval negative", []string{"-merge-interval", "-250ms"}, "-merge-interval -250ms: must be positive"},
		{"merge file size too small", []string{"-merge-file-size", "4095"}, "-merge-file-size 4095: must be between 4096"},
		{"merge file size too big", []string{"-merge-file-size", "4294967296"}, "-merge-file-size 4294967296: must be between"},
		{"dir is a file", []string{"-dir", notDir}, "not a directory"},
		{"dir not empty", []string{"-dir", nonEmpty}, "not empty"},
		{"out is a file", []string{"-out", notDir}, "-out " + notDir + ": exists and is not a directory"},
		{"readme without out", []string{"-readme", noMarkers}, "needs -out"},
		{"readme missing", []string{"-out", tmp, "-readme", filepath.Join(tmp, "nope.md")}, "no such file"},
		{"readme without markers", []string{"-out", tmp, "-readme", noMarkers}, "no <!-- kvbench:begin --> and <!-- kvbench:end --> marker lines"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := parseArgs(t, c.args...)
			err := o.Validate()
			require.Error(t, err, "Validate accepted %v", c.args)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	o := DefaultOptions()
	o.N, o.KeySize, o.Readers, o.Duration = 0, 4, 0, 0
	err := o.Validate()
	require.Error(t, err)
	for _, want := range []string{"-n 0", "-key-size 4", "-readers 0", "-duration 0s"} {
		require.ErrorContains(t, err, want)
	}
}

func TestSelection(t *testing.T) {
	cases := []struct {
		engines, workloads string
		writers            int
		wantEngines        string
		wantWorkloads      string
	}{
		{"", "", 16, "simplekv,bbolt,badger,pebble,goleveldb", "fill-rand,heap,read-uniform,read-zipf,ycsb-a,ycsb-b,ycsb-c,overwrite,compact,reopen,fill-seq,sync-1,sync-16,batch-100,batch-100-sync"},
		{"all", "default", 16, "simplekv,bbolt,badger,pebble,goleveldb", "fill-rand,heap,read-uniform,read-zipf,ycsb-a,ycsb-b,ycsb-c,overwrite,compact,reopen,fill-seq,sync-1,sync-16,batch-100,batch-100-sync"},
		{"", "all", 8, "simplekv,bbolt,badger,pebble,goleveldb", "fill-rand,heap,read-uniform,read-zipf,ycsb-a,ycsb-b,ycsb-c,overwrite,compact,reopen,reopen-clean,fill-seq,sync-1,sync-8,batch-100,batch-100-sync,raft-append,raft-append-truncated,raft-cluster,reopen-hints,merge-latency"},
		{"bbolt", "reopen-clean,fill-rand", 16, "bbolt", "fill-rand,reopen-clean"},
		// Canonical order whatever the order given; case and spaces ignored.
		{"Pebble, simplekv", "REOPEN, fill-rand", 16, "simplekv,pebble", "fill-rand,reopen"},
		{"bbolt", "sync-16", 8, "bbolt", "sync-8"}, // the default's name works with any -writers
		{"bbolt", "sync-4", 4, "bbolt", "sync-4"},
		{"bbolt", "sync-<writers>,sync-1", 4, "bbolt", "sync-1,sync-4"},
		{"simplekv", "merge-latency,reopen-hints", 16, "simplekv", "reopen-hints,merge-latency"},
	}
	for _, c := range cases {
		o := DefaultOptions()
		o.Engines, o.Workloads, o.Writers = c.engines, c.workloads, c.writers
		require.NoError(t, o.Validate(), "%+v", c)
		engines, err := o.engineList()
		require.NoError(t, err)
		var names []string
		for _, e := range engines {
			names = append(names, e.Name)
		}
		require.Equal(t, c.wantEngines, strings.Join(names, ","), "-engines %q", c.engines)
		sel, err := o.workloadList()
		require.NoError(t, err)
		require.Equal(t, c.wantWorkloads, joinNames(sel, o.Writers), "-workloads %q", c.workloads)
	}
	// sync-8 is not a name when -writers is 16.
	o := DefaultOptions()
	o.Workloads = "sync-8"
	require.ErrorContains(t, o.Validate(), `unknown workload "sync-8"`)
}

func TestRunExitStatusForBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "0"},
		{"-key-size", "4"},
		{"-no-such-flag"},
		{"-n", "abc"},
		{"-engines", "mysql"},
		{"-workloads", "everything"},
		{"-values", "zeros"},
		{"-duration", "soon"},
		{"stray-argument"},
	} {
		var stdout, stderr bytes.Buffer
		rc := run(args, &stdout, &stderr)
		require.Equal(t, exitUsage, rc, "run(%q); stderr:\n%s", args, stderr.String())
		require.NotEmpty(t, stderr.String(), "run(%q) printed no message", args)
		require.Empty(t, stdout.String(), "run(%q) printed to stdout", args)
	}
	var stderr bytes.Buffer
	run([]string{"-n", "0", "-engines", "nosuch"}, io.Discard, &stderr)
	require.Contains(t, stderr.String(), "-n 0")
	require.Contains(t, stderr.String(), `unknown engine "nosuch"`)
	require.Contains(t, stderr.String(), "kvbench: invalid flags")
}

func TestRunHelp(t *testing.T) {
	var stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"-h"}, io.Discard, &stderr))
	for _, want := range []string{"-engines", "-workloads", "-duration", "-max-phase", "-out", "-readme", "-values", "-merge-duration", "bbolt, badger, pebble, goleveldb", "sync-16", "reopen-hints"} {
		require.Contains(t, stderr.String(), want)
	}
}

func TestMergeFlags(t *testing.T) {
	o := parseArgs(t, "-n", "1000", "-merge-keys", "5000", "-merge-writers", "3",
		"-merge-duration", "2s", "-merge-file-size", "4096", "-merge-interval", "5ms")
	require.NoError(t, o.Validate())
	require.Equal(t, 1000, o.mergeKeys(), "merge-latency uses at most n keys")
	eo := o.mergeEngineOptions(true)
	require.Equal(t, int64(4096), eo.MaxFileSize)
	require.Equal(t, 5*time.Millisecond, eo.CompactionInterval)
	require.False(t, eo.DisableAutoCompaction)
	require.True(t, o.mergeEngineOptions(false).DisableAutoCompaction)
	require.Equal(t, 3, o.MergeWriters)
	require.Equal(t, 2*time.Second, o.MergeDuration)
}
