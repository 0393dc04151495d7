package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/simplekv/simplekv/bench"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the benchmark failed: an engine error or a wrong value
	exitUsage = 2 // bad flags
)

// cacheMiB is every engine's read-cache budget, for the header.
const cacheMiB = bench.CacheSize >> 20

// Files written into -out.
const (
	outJSON     = "results.json"
	outMarkdown = "results.md"
	outSVG      = "chart.svg"
	outPNG      = "chart.png"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole tool: it parses args, runs the benchmark, prints the
// tables to stdout and returns the exit status. Messages, progress bars and
// status lines go to stderr.
func run(args []string, stdout, stderr io.Writer) int {
	opts := DefaultOptions()
	fs := flag.NewFlagSet("kvbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts.AddFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: kvbench [flags]\n\n"+
			"Compares simplekv with %s, side by side, in one process.\n"+
			"With no flags every engine fills a fresh temp directory with 1M keys\n"+
			"(16-byte keys, 100-byte values) and runs the default workloads:\n  %s\n"+
			"(reopen-clean, and reopen-hints and merge-latency, simplekv only, run when -workloads names them).\n"+
			"See `go doc ./cmd/kvbench` for what each measures.\n\nflags:\n",
			strings.Join(slices.DeleteFunc(engineNames(), func(n string) bool { return n == simplekvName }), ", "),
			strings.Join(defaultWorkloadNames(), ", "))
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
		fmt.Fprintf(stderr, "kvbench: invalid flags:\n  %s\nRun kvbench -h for the flags.\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return exitUsage
	}
	progress := opts.Progress || isTerminal(stderr)
	if opts.CPUProfile != "" {
		stop, err := startCPUProfile(opts.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "kvbench: -cpuprofile: %v\n", err)
			return exitFail
		}
		defer func() {
			if err := stop(); err != nil {
				fmt.Fprintf(stderr, "kvbench: -cpuprofile: %v\n", err)
			}
		}()
	}
	if err := benchmark(&opts, args, stdout, stderr, progress); err != nil {
		fmt.Fprintf(stderr, "kvbench: FAILED: %v\n", err)
		return exitFail
	}
	return exitOK
}

// benchmark runs the validated configuration, prints the report and
// writes the -out files and the -readme section.
func benchmark(o *Options, args []string, stdout, stderr io.Writer, progress bool) (err error) {
	engines, err := o.engineList()
	if err != nil {
		return err
	}
	sel, err := o.workloadList()
	if err != nil {
		return err
	}
	var names []string
	for _, e := range engines {
		names = append(names, e.Name)
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
	rep := newReport(o, args, names, sel, root, o.Dir != "")
	printHeader(stdout, rep)
	r := newRunner(o, engines, sel, root, o.Dir != "", rep, stderr, progress)
	err = r.run()
	return errors.Join(err, finish(o, rep, err, stdout))
}

// finish completes the report after the run (runErr, if it failed),
// prints it and writes the output files.
func finish(o *Options, rep *Report, runErr error, stdout io.Writer) error {
	if runErr != nil {
		rep.Error = runErr.Error()
	}
	rep.sortWorkloads()
	rep.computeRatios()
	rep.summarize()
	printTables(stdout, rep)
	if o.Out == "" {
		return nil
	}
	if err := writeOut(o.Out, rep); err != nil {
		return fmt.Errorf("-out %s: %w", o.Out, err)
	}
	fmt.Fprintf(stdout, "\nwrote the results into %s\n", o.Out)
	if o.Readme == "" || runErr != nil {
		return nil
	}
	chart := ""
	if hasChart(rep) {
		chart = chartLink(filepath.Dir(o.Readme), filepath.Join(o.Out, outSVG))
	}
	md := markdown(rep, chart)
	if err := spliceFile(o.Readme, []byte(md)); err != nil {
		return fmt.Errorf("-readme: %w", err)
	}
	fmt.Fprintf(stdout, "updated the results section of %s\n", o.Readme)
	return nil
}

// writeOut writes results.json, results.md and the chart into dir.
func writeOut(dir string, rep *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := rep.writeJSON(filepath.Join(dir, outJSON)); err != nil {
		return err
	}
	chart := ""
	if hasChart(rep) {
		chart = outSVG
		if err := writeChart(rep, filepath.Join(dir, outSVG), filepath.Join(dir, outPNG)); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, outMarkdown), []byte(markdown(rep, chart)), 0o644)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startCPUProfile starts a CPU profile written to path; stop ends it and
// closes the file.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
