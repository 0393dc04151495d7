package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// tinyArgs is a whole run small enough for a unit test (also under -race):
// the compact phase writes ~300 KB of live data into 32 KiB files and
// checks its merge triggers every 10 ms, so it merges many times a second.
func tinyArgs(extra ...string) []string {
	return append([]string{"-n", "2000", "-sync-duration", "200ms", "-verify-sample", "500",
		"-compact-duration", "1s", "-compact-file-size", "32768", "-compact-interval", "10ms"}, extra...)
}

// tableRows parses the table printed by kvbench: phase name -> cells.
func tableRows(t *testing.T, out string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	inTable := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 7 && f[0] == "phase" && f[1] == "ops" {
			inTable = true
			continue
		}
		if inTable && (len(f) == 0 || strings.HasPrefix(line, "* ")) {
			break // the table ends at a blank line or the footnote
		}
		if inTable && len(f) >= 7 {
			rows[f[0]] = f
		}
	}
	return rows
}

func TestWholeRun(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	rc := run(tinyArgs("-json", jsonPath), &stdout, &stderr)
	out := stdout.String()
	if rc != exitOK {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", rc, out, stderr.String())
	}
	t.Logf("output:\n%s", out)
	if stderr.Len() != 0 {
		t.Errorf("stderr not empty (progress bars must stay off when stderr is no terminal):\n%s", stderr.String())
	}

	for _, want := range []string{"go1.", "GOMAXPROCS=", "dir ", "n=2000", "key=16B", "value=100B", "engine "} {
		if !strings.Contains(out, want) {
			t.Errorf("header lacks %q", want)
		}
	}

	wantPhases := []string{"fill", "read-random", "overwrite", "sync-1", "sync-16", "reopen", "heap/key", "reopen-hints", "compact"}
	// The compact phase's row has two part rows under it.
	wantRows := append(slices.Clone(wantPhases), partNoMerge, partMerging)
	rows := tableRows(t, out)
	for _, p := range wantRows {
		row, ok := rows[p]
		if !ok {
			t.Errorf("no row for phase %s", p)
			continue
		}
		ops, err := strconv.ParseInt(row[1], 10, 64)
		if err != nil || ops < 0 || (ops == 0 && p != partMerging) {
			t.Errorf("phase %s: ops %q, want > 0", p, row[1])
		}
	}
	if len(rows) != len(wantRows) {
		t.Errorf("table has %d rows, want %d: %v", len(rows), len(wantRows), rows)
	}
	// Timed phases have latency percentiles.
	lat := regexp.MustCompile(`^[0-9.]+(ns|µs|ms|s)$`)
	for _, p := range []string{"fill", "read-random", "overwrite", "sync-1", "sync-16", "compact", partNoMerge} {
		if row := rows[p]; row != nil && !lat.MatchString(row[3]) {
			t.Errorf("phase %s: p50 %q is not a duration", p, row[3])
		}
	}
	if row := rows["read-random"]; row != nil && row[1] != "2000" {
		t.Errorf("read-random did %s reads, want n=2000", row[1])
	}
	if !strings.Contains(out, "all 2000 values verified") {
		t.Error("read-random does not report verified values")
	}

	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, b)
	}
	var got []string
	for _, p := range rep.Phases {
		got = append(got, p.Name)
		if p.Ops <= 0 {
			t.Errorf("JSON phase %s: ops %d", p.Name, p.Ops)
		}
	}
	if strings.Join(got, ",") != strings.Join(wantPhases, ",") {
		t.Errorf("JSON phases %v, want %v", got, wantPhases)
	}
	if rep.Error != "" {
		t.Errorf("JSON error %q", rep.Error)
	}
	if rep.Header.Config.N != 2000 || rep.Header.GOMAXPROCS <= 0 || rep.Header.GoVersion == "" {
		t.Errorf("JSON header incomplete: %+v", rep.Header)
	}
	for _, p := range rep.Phases {
		switch p.Name {
		case "fill", "read-random", "overwrite", "sync-1", "sync-16":
			if p.Latency == nil || p.Latency.P50 <= 0 || p.Latency.P999 < p.Latency.P50 {
				t.Errorf("JSON phase %s: latency %+v", p.Name, p.Latency)
			}
			if p.MBPerSec == nil || *p.MBPerSec <= 0 {
				t.Errorf("JSON phase %s: no MB/s", p.Name)
			}
		case "heap/key":
			if p.Extra["keydir_bytes_per_key"] <= 0 {
				t.Errorf("heap/key: keydir bytes per key %v", p.Extra["keydir_bytes_per_key"])
			}
		case "reopen":
			if p.Extra["recovered_records"] != 4000 {
				t.Errorf("reopen recovered %v records, want 4000 (fill + overwrite)", p.Extra["recovered_records"])
			}
		case "reopen-hints":
			// The log replay is the reopen row's; after Compact only
			// the live records remain.
			reopen := rep.Phases[slices.IndexFunc(rep.Phases, func(p *PhaseResult) bool { return p.Name == "reopen" })]
			if p.Extra["open_no_hints_ms"] != reopen.Extra["open_ms"] || !strings.Contains(p.Notes, "(reopen row)") {
				t.Errorf("reopen-hints does not reuse the reopen row's figure: %v, notes %q", p.Extra["open_no_hints_ms"], p.Notes)
			}
			if p.Extra["recovered_records"] != 2000 || p.Extra["recovered_records_no_hints"] != 4000 {
				t.Errorf("reopen-hints recovered %v records from hints (want 2000), %v from the log (want 4000)",
					p.Extra["recovered_records"], p.Extra["recovered_records_no_hints"])
			}
		case "compact":
			if p.Latency == nil || p.Latency.P50 <= 0 || p.MBPerSec == nil || *p.MBPerSec <= 0 {
				t.Errorf("JSON phase compact: latency %+v, MB/s %v", p.Latency, p.MBPerSec)
			}
			if p.Extra["merges"] <= 0 || len(p.Parts) != 2 {
				t.Errorf("compact: %v merges, %d parts", p.Extra["merges"], len(p.Parts))
			}
		}
	}

	// The temp directory is gone.
	if _, err := os.Stat(rep.Header.Dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s left behind (stat: %v)", rep.Header.Dir, err)
	}
}

func TestSubsetFillsFirstAndKeepsDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bench")
	var stdout bytes.Buffer
	rc := run(tinyArgs("-phases", "read-random,sync-8", "-writers", "8", "-dir", dir, "-compressible"), &stdout, io.Discard)
	out := stdout.String()
	if rc != exitOK {
		t.Fatalf("exit status %d\n%s", rc, out)
	}
	rows := tableRows(t, out)
	for _, p := range []string{"fill*", "read-random", "sync-8"} {
		if rows[p] == nil {
			t.Errorf("no row %s in\n%s", p, out)
		}
	}
	if len(rows) != 3 {
		t.Errorf("want 3 rows, got %v", rows)
	}
	if !strings.Contains(out, "prerequisite") {
		t.Error("the automatic fill is not marked")
	}
	for _, sub := range []string{"db", "sync-8"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			t.Errorf("-dir: %s not kept (%v)", sub, err)
		}
	}
	// A second run into the same, now non-empty, directory is refused.
	var stderr bytes.Buffer
	if rc := run(tinyArgs("-dir", dir), io.Discard, &stderr); rc != exitUsage {
		t.Errorf("reusing a non-empty -dir: exit %d, want %d", rc, exitUsage)
	}
}

func TestReadDuration(t *testing.T) {
	var stdout bytes.Buffer
	rc := run(tinyArgs("-phases", "read-random", "-read-duration", "100ms", "-readers", "3"), &stdout, io.Discard)
	if rc != exitOK {
		t.Fatalf("exit status %d\n%s", rc, stdout.String())
	}
	row := tableRows(t, stdout.String())["read-random"]
	if row == nil {
		t.Fatalf("no read-random row:\n%s", stdout.String())
	}
	if ops, _ := strconv.Atoi(row[1]); ops <= 0 {
		t.Errorf("read-random ops %s", row[1])
	}
}

// TestReadRandomCatchesWrongValue corrupts one value on its way from Get
// to the check and expects the phase, and the tool, to fail.
func TestReadRandomCatchesWrongValue(t *testing.T) {
	o := DefaultOptions()
	o.N, o.SyncDuration, o.VerifySample = 500, 1, 0
	o.Phases = "read-random"
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	sel, err := o.phaseSet()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	rep := newReport(&stdout, &o, t.TempDir(), true, sel)
	r := newRunner(&o, rep.Header.Dir, rep, io.Discard, false)
	r.afterGet = func(i uint64, v []byte) {
		if i%7 == 3 {
			v[len(v)-1] ^= 0x80
		}
	}
	err = r.run(sel)
	_ = r.closeMain()
	if err == nil || !strings.Contains(err.Error(), "wrong value") {
		t.Fatalf("run = %v, want a wrong-value error", err)
	}
	if !strings.Contains(err.Error(), "byte 99") {
		t.Errorf("error does not locate the bad byte: %v", err)
	}
}
