package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the benchmark failed: an engine error or a wrong value
	exitUsage = 2 // bad flags
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole tool: it parses args, runs the benchmark, prints the
// table to stdout and returns the exit status. Messages and progress bars
// go to stderr.
func run(args []string, stdout, stderr io.Writer) int {
	opts := DefaultOptions()
	fs := flag.NewFlagSet("kvbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts.AddFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: kvbench [flags]\n\n"+
			"Measures simplekv throughput and latency. With no flags it fills a fresh\n"+
			"temp directory with 1M keys (16-byte keys, 100-byte values) and runs every\n"+
			"phase: %s.\n\nflags:\n", strings.Join(phaseFlagNames(), ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage // flag has printed the error and the usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kvbench: unexpected arguments %q (kvbench takes only flags)\n", fs.Args())
		return exitUsage
	}
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(stderr, "kvbench: invalid flags:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return exitUsage
	}
	progress := opts.Progress || isTerminal(stderr)
	if err := bench(&opts, stdout, stderr, progress); err != nil {
		fmt.Fprintf(stderr, "kvbench: FAILED: %v\n", err)
		return exitFail
	}
	return exitOK
}

// bench runs the validated configuration.
func bench(o *Options, stdout, stderr io.Writer, progress bool) (err error) {
	sel, err := o.phaseSet()
	if err != nil {
		return err
	}
	root, cleanup, err := prepareDir(o)
	if err != nil {
		return fmt.Errorf("benchmark directory: %w", err)
	}
	defer func() {
		if cerr := cleanup(); cerr != nil && err == nil {
			err = fmt.Errorf("removing %s: %w", root, cerr)
		}
	}()
	rep := newReport(stdout, o, root, o.Dir != "", sel)
	r := newRunner(o, root, rep, stderr, progress)
	err = r.run(sel)
	if err != nil {
		if cerr := r.closeMain(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close: %w", cerr))
		}
		rep.Error = err.Error()
	}
	rep.finish()
	if o.JSON != "" {
		if jerr := rep.writeJSON(o.JSON); jerr != nil {
			err = errors.Join(err, fmt.Errorf("writing -json %s: %w", o.JSON, jerr))
		}
	}
	return err
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
