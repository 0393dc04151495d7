package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/bench"
)

// tinyArgs is a whole run small enough for a unit test (also under -race
// on 2 cores): 2,000 keys and 30 ms per timed workload.
func tinyArgs(extra ...string) []string {
	return append([]string{"-n", "2000", "-duration", "30ms", "-max-phase", "2s", "-verify-sample", "200",
		"-merge-duration", "1s", "-merge-file-size", "32768", "-merge-interval", "10ms"}, extra...)
}

// readReport parses dir/results.json.
func readReport(t *testing.T, dir string) *Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, outJSON))
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal(b, &rep), "JSON:\n%s", b)
	return &rep
}

// result returns engine's row of workload in rep.
func result(t *testing.T, rep *Report, workload, engine string) *Result {
	t.Helper()
	for _, wr := range rep.Workloads {
		if wr.Name != workload {
			continue
		}
		for _, r := range wr.Results {
			if r.Engine == engine {
				return r
			}
		}
	}
	require.Failf(t, "no result", "no %s row for %s", workload, engine)
	return nil
}

// TestWholeRun runs every default workload on every engine and checks
// the table, results.json, results.md and the chart.
func TestWholeRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	rc := run(tinyArgs("-out", out), &stdout, &stderr)
	text := stdout.String()
	require.Equal(t, exitOK, rc, "stdout:\n%s\nstderr:\n%s", text, stderr.String())
	t.Logf("output:\n%s", text)
	require.Empty(t, stderr.String(), "progress bars must stay off when stderr is no terminal")

	for _, want := range []string{"go1.", "GOMAXPROCS=", "cpu ", "disk ", "n=2000 keys", "key=16B", "value=100B (incompressible)",
		"duration=30ms", "max-phase=2s", "engines   simplekv,bbolt,badger,pebble,goleveldb",
		"== fill-rand:", "== sync-16:", "== summary", "x = how many times better than the best peer"} {
		require.Contains(t, text, want)
	}

	rep := readReport(t, out)
	require.Empty(t, rep.Error)
	require.Equal(t, 2000, rep.Header.Config.N)
	require.Positive(t, rep.Header.GOMAXPROCS)
	require.NotEmpty(t, rep.Header.GoVersion)
	require.Contains(t, rep.Header.Command, "-n 2000")
	engines := []string{"simplekv", "bbolt", "badger", "pebble", "goleveldb"}
	wantWorkloads := []string{"fill-rand", "heap", "read-uniform", "read-zipf", "ycsb-a", "ycsb-b", "ycsb-c", "overwrite", "compact", "reopen", "fill-seq", "sync-1", "sync-16", "batch-100", "batch-100-sync"}
	var got []string
	for _, wr := range rep.Workloads {
		got = append(got, wr.Name)
		require.Len(t, wr.Results, len(engines), wr.Name)
		for i, r := range wr.Results {
			require.Equal(t, engines[i], r.Engine, wr.Name)
		}
	}
	require.Equal(t, wantWorkloads, got)

	for _, e := range engines {
		for _, w := range []string{"fill-rand", "read-uniform", "read-zipf", "ycsb-a", "ycsb-b", "ycsb-c", "overwrite", "fill-seq", "sync-1", "sync-16", "batch-100", "batch-100-sync"} {
			r := result(t, rep, w, e)
			require.Positive(t, r.Ops, "%s %s", w, e)
			require.Positive(t, r.OpsPerSec, "%s %s", w, e)
			require.NotNil(t, r.Latency, "%s %s", w, e)
			require.Positive(t, r.Latency.P50, "%s %s", w, e)
			require.GreaterOrEqual(t, r.Latency.P999, r.Latency.P99, "%s %s", w, e)
			require.GreaterOrEqual(t, r.Latency.P99, r.Latency.P50, "%s %s", w, e)
			require.NotNil(t, r.MBPerSec, "%s %s", w, e)
			require.Contains(t, r.VsBestPeer, "ops/s", "%s %s", w, e)
		}
		// Fills and overwrites write every key (2,000 Puts in far less
		// than -max-phase).
		require.Equal(t, int64(2000), result(t, rep, "fill-rand", e).Ops, e)
		require.Equal(t, int64(2000), result(t, rep, "overwrite", e).Ops, e)
		require.Equal(t, int64(2000), result(t, rep, "fill-seq", e).Ops, e)
		require.NotNil(t, result(t, rep, "overwrite", e).DiskBytes, e)
		require.Positive(t, *result(t, rep, "overwrite", e).DiskBytes, e)
		// YCSB A updates about half the time.
		a := result(t, rep, "ycsb-a", e)
		require.Equal(t, float64(a.Ops), a.Extra["reads"]+a.Extra["updates"], e)
		if a.Ops >= 400 {
			require.InDelta(t, 0.5, a.Extra["updates"]/float64(a.Ops), 0.15, e)
		}
		require.Zero(t, result(t, rep, "ycsb-c", e).Extra["updates"], e)

		h := result(t, rep, "heap", e)
		require.NotNil(t, h.HeapPerKey, e)
		require.NotNil(t, h.HeapBytes, e)
		require.InDelta(t, float64(*h.HeapBytes)/2000, *h.HeapPerKey, 1e-9, e)

		ro := result(t, rep, "reopen", e)
		require.Positive(t, ro.Seconds, e)
		require.Equal(t, 200.0, ro.Extra["verified"], e)

		c := result(t, rep, "compact", e)
		if e == "bbolt" {
			require.NotEmpty(t, c.NA)
			require.Nil(t, c.DiskBytes)
		} else {
			require.Empty(t, c.NA, e)
			require.Positive(t, c.Seconds, e)
			require.NotNil(t, c.DiskBytes, e)
		}
	}
	// simplekv's heap is per key and small; the sync workloads ran with
	// their writers.
	require.Equal(t, 16.0, result(t, rep, "sync-16", "simplekv").Extra["writers"])
	require.Equal(t, 1.0, result(t, rep, "sync-1", "simplekv").Extra["writers"])

	// The summary has every goal of the issue, each with a verdict.
	var goalsSeen int
	for _, s := range rep.Summary {
		if s.Goal != "" {
			goalsSeen++
			require.Contains(t, []string{"yes", "NO", naText}, s.Met, "%+v", s)
			require.NotEqual(t, naText, s.Met, "every figure ran: %+v", s)
		}
		if s.Figure == "ops/s" {
			require.NotEqual(t, "simplekv", s.BestPeer)
		}
	}
	// Every goal but reopen-clean's and the raft workloads' (5): those
	// workloads are opt-in.
	require.Equal(t, len(goals)-6, goalsSeen)

	// The chart and the markdown section.
	svg, err := os.ReadFile(filepath.Join(out, outSVG))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(svg, []byte("<?xml")), "chart.svg starts %q", svg[:min(40, len(svg))])
	require.Contains(t, string(svg), "<svg")
	require.Contains(t, string(svg), "read-zipf", "group labels")
	require.Contains(t, string(svg), "goleveldb", "legend")
	png, err := os.ReadFile(filepath.Join(out, outPNG))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(png, []byte("\x89PNG")))
	md, err := os.ReadFile(filepath.Join(out, outMarkdown))
	require.NoError(t, err)
	for _, want := range []string{
		"| workload | figure | simplekv | best peer | ratio | goal | met? |",
		"| fill-rand | ops/s |", "| sync-16 | p99 |", "≤ 50 ms",
		"![kvbench: each engine's ops/s relative to the best peer](chart.svg)",
		"`go run ./cmd/kvbench -n 2000", "**Machine:**", "**ycsb-b**",
		"| engine | ops | ops/s | p50 | p99 | p99.9 | MB/s |",
	} {
		require.Contains(t, string(md), want)
	}

	// The temp directory is gone.
	_, err = os.Stat(rep.Header.Dir)
	require.True(t, os.IsNotExist(err), "temp dir %s left behind (stat: %v)", rep.Header.Dir, err)
}

// corruptEngine is simplekv with a Get that flips a bit of some values.
func corruptEngine() bench.Engine {
	return bench.Engine{Name: "corrupt", Open: func(dir string, cfg bench.Config) (bench.DB, error) {
		db, err := bench.OpenSimplekv(dir, cfg)
		return corruptDB{db}, err
	}}
}

type corruptDB struct{ bench.DB }

func (d corruptDB) Get(key []byte) ([]byte, error) {
	v, err := d.DB.Get(key)
	if err == nil && len(v) > 0 && key[0]%4 == 1 {
		v[len(v)-1] ^= 0x80
	}
	return v, err
}

func (d corruptDB) Load(keys, values [][]byte) error { return d.DB.(bench.Loader).Load(keys, values) }

func TestWrongValueFails(t *testing.T) {
	orig := engineList
	t.Cleanup(func() { engineList = orig })
	engineList = func() []bench.Engine { return append(orig(), corruptEngine()) }

	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	rc := run(tinyArgs("-engines", "simplekv,corrupt", "-workloads", "read-uniform", "-n", "500", "-out", out), &stdout, &stderr)
	require.Equal(t, exitFail, rc, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	require.Contains(t, stderr.String(), "kvbench: FAILED: corrupt: read-uniform: wrong value")
	require.Contains(t, stderr.String(), "byte 99")

	// What ran before the failure is still reported, with the error.
	rep := readReport(t, out)
	require.Contains(t, rep.Error, "wrong value")
	require.Equal(t, "simplekv", result(t, rep, "read-uniform", "simplekv").Engine)
	require.Len(t, rep.Workloads[0].Results, 1, "no row for the engine that failed")
}

func TestSplice(t *testing.T) {
	content := []byte("new line 1\nnew line 2\n")
	cases := []struct {
		name, doc, want, err string
	}{
		{"replaces between the markers",
			"# T\n\n<!-- kvbench:begin -->\nold\nold\n<!-- kvbench:end -->\ntail\n",
			"# T\n\n<!-- kvbench:begin -->\nnew line 1\nnew line 2\n<!-- kvbench:end -->\ntail\n", ""},
		{"empty section, indented markers, no final newline",
			"a\n  <!-- kvbench:begin -->\n<!-- kvbench:end -->  ",
			"a\n  <!-- kvbench:begin -->\nnew line 1\nnew line 2\n<!-- kvbench:end -->  ", ""},
		{"no markers", "# T\n", "", "no <!-- kvbench:begin --> and <!-- kvbench:end --> marker lines"},
		{"no end", "<!-- kvbench:begin -->\nx\n", "", "no <!-- kvbench:end --> marker line after"},
		{"no begin", "x\n<!-- kvbench:end -->\n", "", "no <!-- kvbench:begin --> marker line (<!-- kvbench:end --> is on line 2)"},
		{"reversed", "<!-- kvbench:end -->\n<!-- kvbench:begin -->\n", "", "comes before"},
		{"twice", "<!-- kvbench:begin -->\n<!-- kvbench:end -->\n<!-- kvbench:begin -->\n", "", "appears twice (lines 1 and 3)"},
		{"marker inside a line does not count", "see `<!-- kvbench:begin -->` here\n<!-- kvbench:end -->\n", "", "no <!-- kvbench:begin --> marker line"},
	}
	for _, c := range cases {
		got, err := splice([]byte(c.doc), content)
		if c.err != "" {
			require.ErrorContains(t, err, c.err, c.name)
			continue
		}
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, string(got), c.name)
		// Splicing again gives the same document.
		again, err := splice(got, content)
		require.NoError(t, err, c.name)
		require.Equal(t, string(got), string(again), c.name)
	}
}

// TestReadmeFlag runs kvbench with -readme: the README's section between
// the markers becomes results.md, with the chart linked relative to the
// README, and everything else stays.
func TestReadmeFlag(t *testing.T) {
	root := t.TempDir()
	readme := filepath.Join(root, "README.md")
	before := "# Project\n\nIntro.\n\n## Performance\n\n<!-- kvbench:begin -->\nstale results\n<!-- kvbench:end -->\n\n## License\n"
	require.NoError(t, os.WriteFile(readme, []byte(before), 0o640))
	out := filepath.Join(root, "docs", "bench")

	var stdout, stderr bytes.Buffer
	rc := run(tinyArgs("-engines", "simplekv,goleveldb", "-workloads", "fill-rand,reopen", "-n", "300", "-out", out, "-readme", readme), &stdout, &stderr)
	require.Equal(t, exitOK, rc, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	b, err := os.ReadFile(readme)
	require.NoError(t, err)
	doc := string(b)
	t.Logf("README:\n%s", doc)
	require.True(t, strings.HasPrefix(doc, "# Project\n\nIntro.\n\n## Performance\n\n<!-- kvbench:begin -->\n"))
	require.True(t, strings.HasSuffix(doc, "<!-- kvbench:end -->\n\n## License\n"))
	require.NotContains(t, doc, "stale results")
	require.Contains(t, doc, "(docs/bench/chart.svg)", "chart linked relative to the README")
	require.Contains(t, doc, "| fill-rand | ops/s |")
	require.Contains(t, doc, "| reopen | time |")
	fi, err := os.Stat(readme)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "permissions kept")
	// results.md links the chart next to it.
	md, err := os.ReadFile(filepath.Join(out, outMarkdown))
	require.NoError(t, err)
	require.Contains(t, string(md), "(chart.svg)")

	// Without markers the run is refused before it starts.
	require.NoError(t, os.WriteFile(readme, []byte("# no markers\n"), 0o644))
	stderr.Reset()
	rc = run(tinyArgs("-workloads", "fill-rand", "-out", out, "-readme", readme), &stdout, &stderr)
	require.Equal(t, exitUsage, rc)
	require.Contains(t, stderr.String(), "marker lines")
	b, err = os.ReadFile(readme)
	require.NoError(t, err)
	require.Equal(t, "# no markers\n", string(b), "left alone")
}

// TestSubsetKeepsDir: a subset that needs a filled DB fills it untimed
// (no fill-rand row), -dir keeps the main databases and removes the
// fresh ones, and a second run into the now non-empty directory is
// refused.
func TestSubsetKeepsDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bench")
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	rc := run(tinyArgs("-engines", "pebble,simplekv", "-workloads", "read-zipf,sync-8,fill-seq", "-writers", "8",
		"-dir", dir, "-values", "compressible", "-out", out), &stdout, &stderr)
	require.Equal(t, exitOK, rc, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	rep := readReport(t, out)
	var names []string
	for _, wr := range rep.Workloads {
		names = append(names, wr.Name)
	}
	require.Equal(t, []string{"read-zipf", "fill-seq", "sync-8"}, names)
	require.Equal(t, "compressible", rep.Header.Config.Values)
	require.Equal(t, []string{"simplekv", "pebble"}, rep.Header.Config.Engines, "canonical order")
	require.True(t, rep.Header.DirKept)
	for _, e := range []string{"simplekv", "pebble"} {
		fi, err := os.Stat(filepath.Join(dir, e, "db"))
		require.NoError(t, err, "main DB of %s kept", e)
		require.True(t, fi.IsDir())
		for _, gone := range []string{"fill-seq", "sync-8"} {
			_, err := os.Stat(filepath.Join(dir, e, gone))
			require.True(t, os.IsNotExist(err), "%s/%s should be deleted", e, gone)
		}
	}
	// No goals for sync-8; read-zipf has one.
	for _, s := range rep.Summary {
		if s.Workload == "sync-8" {
			require.Empty(t, s.Goal)
		}
		if s.Workload == "read-zipf" {
			require.Equal(t, "≥ 6x", s.Goal)
		}
	}
	stderr.Reset()
	require.Equal(t, exitUsage, run(tinyArgs("-dir", dir), &stdout, &stderr))
	require.Contains(t, stderr.String(), "not empty")
}

// TestProgress: with -progress the bars and a status line per result go to
// stderr, and the tables still go to stdout alone.
func TestProgress(t *testing.T) {
	var stdout, stderr bytes.Buffer
	rc := run(tinyArgs("-engines", "simplekv,bbolt", "-workloads", "fill-rand,read-uniform,compact,sync-1", "-n", "500", "-progress"), &stdout, &stderr)
	require.Equal(t, exitOK, rc, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	errText := stderr.String()
	for _, want := range []string{"simplekv   fill-rand", "simplekv   read-uniform", "bbolt      compact        n/a", "bbolt      sync-1", "ops/s", "s] "} {
		require.Contains(t, errText, want)
	}
	require.NotContains(t, stdout.String(), "%|", "no progress bar on stdout")
	require.Contains(t, stdout.String(), "== sync-1:")
}

// TestCPUProfile: -cpuprofile leaves a gzip-compressed pprof profile of
// the run; a path that cannot be created fails the run before it starts,
// naming the flag.
func TestCPUProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	var stdout, stderr bytes.Buffer
	rc := run(tinyArgs("-engines", "simplekv", "-workloads", "fill-rand,read-uniform", "-n", "500", "-cpuprofile", prof), &stdout, &stderr)
	require.Equal(t, exitOK, rc, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	b, err := os.ReadFile(prof)
	require.NoError(t, err)
	require.Greater(t, len(b), 2)
	require.Equal(t, []byte{0x1f, 0x8b}, b[:2], "a pprof profile is gzip-compressed")

	stdout.Reset()
	stderr.Reset()
	bad := filepath.Join(t.TempDir(), "missing", "cpu.prof")
	rc = run(tinyArgs("-engines", "simplekv", "-workloads", "fill-rand", "-n", "100", "-cpuprofile", bad), &stdout, &stderr)
	require.Equal(t, exitFail, rc)
	require.Contains(t, stderr.String(), "-cpuprofile")
	require.NotContains(t, stdout.String(), "== fill-rand", "nothing ran")
}
