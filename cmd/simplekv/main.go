package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/simplekv/simplekv/engine"
)

const usage = `usage: simplekv <command> [flags] <dir> [args]

commands:
  check <dir>                   report damage as repair would see it; change nothing (exit 1 if damaged)
  repair <dir>                  salvage damaged files and print what was dropped
  stats [-files] <dir>          open the database, print its statistics, close it
  checkpoint <dir> <target>     write a consistent copy of the database to a new directory
  backup <dir> <file|->         write the database as one self-checking stream
  restore <file|-> <target>     turn a backup stream into a new database directory
`

// Exit statuses.
const (
	exitOK      = 0
	exitDamaged = 1
	exitError   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: args without the program name.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "check":
		return runCheck(rest, stdout, stderr)
	case "repair":
		return runRepair(rest, stdout, stderr)
	case "stats":
		return runStats(rest, stdout, stderr)
	case "checkpoint":
		return runCheckpoint(rest, stdout, stderr)
	case "backup":
		return runBackup(rest, stdout, stderr)
	case "restore":
		return runRestore(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "simplekv: unknown command %q\n\n%s", cmd, usage)
		return exitError
	}
}

// parse parses a subcommand's flags and returns its one directory argument.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) (string, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "simplekv %s: want exactly one directory argument\n\n%s", fs.Name(), usage)
		return "", false
	}
	return fs.Arg(0), true
}

func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "simplekv %s: %v\n", cmd, err)
	return exitError
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	dir, ok := parse(flag.NewFlagSet("check", flag.ContinueOnError), args, stderr)
	if !ok {
		return exitError
	}
	rep, err := engine.Check(dir, engine.Options{})
	if err != nil {
		return fail(stderr, "check", err)
	}
	fmt.Fprint(stdout, rep.String())
	if rep.Damaged() {
		return exitDamaged
	}
	return exitOK
}

func runRepair(args []string, stdout, stderr io.Writer) int {
	dir, ok := parse(flag.NewFlagSet("repair", flag.ContinueOnError), args, stderr)
	if !ok {
		return exitError
	}
	rep, err := engine.Repair(dir, engine.Options{})
	fmt.Fprint(stdout, rep.String()) // what was done before a failure, too
	if err != nil {
		return fail(stderr, "repair", err)
	}
	return exitOK
}

func runStats(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	files := fs.Bool("files", false, "also print one line per data file")
	dir, ok := parse(fs, args, stderr)
	if !ok {
		return exitError
	}
	// Open creates a missing directory: refuse a mistyped path instead.
	if fi, err := os.Stat(dir); err != nil {
		return fail(stderr, "stats", err)
	} else if !fi.IsDir() {
		return fail(stderr, "stats", fmt.Errorf("%s is not a directory", dir))
	}
	db, err := engine.Open(dir, engine.Options{DisableAutoCompaction: true})
	if err != nil {
		if errors.Is(err, engine.ErrCorrupt) {
			err = fmt.Errorf("%w (run simplekv check)", err)
		}
		return fail(stderr, "stats", err)
	}
	st := db.Stats()
	if err := db.Close(); err != nil {
		return fail(stderr, "stats", err)
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	p := func(name string, v any) { fmt.Fprintf(w, "%s\t%v\n", name, v) }
	p("keys", st.Keys)
	p("data files", st.DataFiles)
	p("disk bytes", st.DiskBytes)
	p("reclaimable bytes", st.ReclaimableBytes)
	p("keydir bytes", st.KeydirBytes)
	p("recovered records", st.RecoveredRecords)
	p("recovery", fmt.Sprintf("%v (hints %v, log %v)", st.RecoveryDuration, st.RecoveryHintsDuration, st.RecoveryLogDuration))
	p("hint fallbacks", st.HintFallbacks)
	p("torn bytes", st.TornBytes)
	if *files {
		fmt.Fprintf(w, "\nid\tdir\tsize\tlive\tdead\ttombstones\t\n")
		for _, f := range st.Files {
			d := "last_state"
			if f.WAL {
				d = "wal"
			}
			if f.Active {
				d += " (active)"
			}
			fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%d\t%d\t\n", f.ID, d, f.Size, f.Live, f.Dead, f.Tombstones)
		}
	}
	if err := w.Flush(); err != nil {
		return fail(stderr, "stats", err)
	}
	return exitOK
}
