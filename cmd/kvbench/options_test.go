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
)

func TestDefaultOptionsValid(t *testing.T) {
	o := DefaultOptions()
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if o.N != 1_000_000 || o.KeySize != 16 || o.ValueSize != 100 || o.Readers != 2 || o.Writers != 16 || o.SyncDuration != 3*time.Second {
		t.Fatalf("embedded default changed: %+v", o)
	}
	if len(allPhases) != 9 || allPhases[7] != phaseReopenHints || allPhases[8] != phaseCompact {
		t.Fatalf("default phase list %v: want reopen-hints and compact last", allPhases)
	}
}

func TestValidateRejectsBadFlags(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	nonEmpty := t.TempDir()
	if err := os.WriteFile(filepath.Join(nonEmpty, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string // substring of the error
	}{
		{"zero n", []string{"-n", "0"}, "-n 0: must be positive"},
		{"negative n", []string{"-n", "-5"}, "-n -5"},
		{"huge n", []string{"-n", "2000000000000"}, "at most"},
		{"key size 7", []string{"-key-size", "7"}, "-key-size 7: must be at least 8"},
		{"key size 0", []string{"-key-size", "0"}, "-key-size 0"},
		{"key size too big", []string{"-key-size", "100000"}, "-key-size 100000: at most"},
		{"value size 0", []string{"-value-size", "0"}, "-value-size 0: must be positive"},
		{"value size too big", []string{"-value-size", "100000000"}, "-value-size 100000000: at most"},
		{"readers 0", []string{"-readers", "0"}, "-readers 0"},
		{"writers 1", []string{"-writers", "1"}, "-writers 1"},
		{"writers 0", []string{"-writers", "0"}, "-writers 0"},
		{"sync duration 0", []string{"-sync-duration", "0s"}, "-sync-duration 0s: must be positive"},
		{"read duration negative", []string{"-read-duration", "-1s"}, "-read-duration -1s"},
		{"verify sample negative", []string{"-verify-sample", "-1"}, "-verify-sample -1"},
		{"compact keys 0", []string{"-compact-keys", "0"}, "-compact-keys 0: must be positive"},
		{"compact keys negative", []string{"-compact-keys", "-3"}, "-compact-keys -3: must be positive"},
		{"compact writers 0", []string{"-compact-writers", "0"}, "-compact-writers 0: must be between 1 and"},
		{"compact duration negative", []string{"-compact-duration", "-1s"}, "-compact-duration -1s: must be positive"},
		{"compact duration 0", []string{"-compact-duration", "0s"}, "-compact-duration 0s: must be positive"},
		{"compact interval negative", []string{"-compact-interval", "-250ms"}, "-compact-interval -250ms: must be positive"},
		{"compact interval 0", []string{"-compact-interval", "0s"}, "-compact-interval 0s: must be positive"},
		{"compact file size negative", []string{"-compact-file-size", "-8388608"}, "-compact-file-size -8388608: must be between 4096 and 4294967295 bytes"},
		{"compact file size 0", []string{"-compact-file-size", "0"}, "-compact-file-size 0: must be between 4096"},
		{"compact file size too small", []string{"-compact-file-size", "4095"}, "-compact-file-size 4095: must be between 4096"},
		{"compact file size too big", []string{"-compact-file-size", "4294967296"}, "-compact-file-size 4294967296: must be between"},
		{"unknown phase", []string{"-phases", "fill,bogus"}, `unknown phase "bogus"`},
		{"empty phase list", []string{"-phases", ","}, "names no phase"},
		{"dir is a file", []string{"-dir", notDir}, "not a directory"},
		{"dir not empty", []string{"-dir", nonEmpty}, "not empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := DefaultOptions()
			fs := flag.NewFlagSet("kvbench", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			o.AddFlags(fs)
			if err := fs.Parse(c.args); err != nil {
				t.Fatalf("parse %v: %v", c.args, err)
			}
			err := o.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %v", c.args)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate(%v) = %q, want it to mention %q", c.args, err, c.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	o := DefaultOptions()
	o.N, o.KeySize, o.Readers = 0, 4, 0
	err := o.Validate()
	if err == nil {
		t.Fatal("Validate accepted three bad fields")
	}
	for _, want := range []string{"-n", "-key-size", "-readers"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestPhaseSelection(t *testing.T) {
	cases := []struct {
		spec    string
		writers int
		want    []string
	}{
		{"", 16, allPhases},
		{"all", 16, allPhases},
		{"heap/key, FILL", 16, []string{phaseFill, phaseHeapPerKey}},
		{"sync-16", 16, []string{phaseSyncN}},
		{"sync-8", 8, []string{phaseSyncN}},
		{"sync-16", 8, []string{phaseSyncN}}, // the default's name always works
		{"sync-n,sync-1", 4, []string{phaseSync1, phaseSyncN}},
		{"compact, reopen-hints", 16, []string{phaseReopenHints, phaseCompact}},
	}
	for _, c := range cases {
		o := DefaultOptions()
		o.Phases, o.Writers = c.spec, c.writers
		set, err := o.phaseSet()
		if err != nil {
			t.Errorf("phaseSet(%q): %v", c.spec, err)
			continue
		}
		if len(set) != len(c.want) {
			t.Errorf("phaseSet(%q) = %v, want %v", c.spec, set, c.want)
		}
		for _, p := range c.want {
			if !set[p] {
				t.Errorf("phaseSet(%q) = %v, lacks %s", c.spec, set, p)
			}
		}
	}
}

func TestRunExitStatusForBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "0"},
		{"-key-size", "4"},
		{"-no-such-flag"},
		{"-n", "abc"},
		{"stray-argument"},
	} {
		var stdout, stderr bytes.Buffer
		if rc := run(args, &stdout, &stderr); rc != exitUsage {
			t.Errorf("run(%q) = %d, want %d; stderr:\n%s", args, rc, exitUsage, stderr.String())
		}
		if stderr.Len() == 0 {
			t.Errorf("run(%q) printed no message", args)
		}
		if stdout.Len() != 0 {
			t.Errorf("run(%q) printed to stdout: %q", args, stdout.String())
		}
	}
	var stderr bytes.Buffer
	run([]string{"-n", "0", "-key-size", "3"}, io.Discard, &stderr)
	if !strings.Contains(stderr.String(), "-n 0") || !strings.Contains(stderr.String(), "-key-size 3") {
		t.Errorf("message does not name both bad flags:\n%s", stderr.String())
	}
}

func TestRunHelp(t *testing.T) {
	var stderr bytes.Buffer
	if rc := run([]string{"-h"}, io.Discard, &stderr); rc != exitOK {
		t.Errorf("-h exit status %d", rc)
	}
	if !strings.Contains(stderr.String(), "-sync-duration") {
		t.Errorf("usage lacks flags:\n%s", stderr.String())
	}
}
