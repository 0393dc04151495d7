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
  get [-hex|-base64] [-format json] <dir> <key>          print a key's value (exit 3 if absent)
  put [-hex|-base64] [-ttl D] <dir> <key> <value|->      store a value (- reads it from standard input)
  delete [-hex|-base64] <dir> <key>                      remove a key (an absent key is not an error)
  scan [-prefix P] [-limit N] [-keys-only] [-hex|-base64] [-format json] <dir>
                                                         list live keys and values
  compact <dir>                                          merge every sealed data file now
  checkpoint <dir> <target>                              write a consistent copy to a new directory
  backup <dir> <file|->                                  write the database as one self-checking stream
  restore <file|-> <target>                              turn a backup stream into a new database directory
  dump <dir> <file|->                                    write every live key, value and expiry as a portable stream
  load <file|-> <target>                                 turn a dump into a new database directory
  check [-format json] <dir>                             report damage; change nothing (exit 1 if damaged)
  repair <dir>                                           salvage damaged files and print what was dropped
  stats [-files] [-format json] <dir>                    print the database's statistics
  help <command>                                         the flags of one command

Commands that only read (get, scan, stats, checkpoint, backup, dump, check) never
change the directory. Exit status: 0 ok, 1 damaged, 2 usage or other
failure, 3 key not found, 4 directory locked by another process.
`

// Exit statuses.
const (
	exitOK       = 0
	exitDamaged  = 1
	exitError    = 2
	exitNotFound = 3
	exitLocked   = 4
)

// commands maps each command to its function.
var commands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"get": runGet, "put": runPut, "delete": runDelete, "scan": runScan, "compact": runCompact,
	"checkpoint": runCheckpoint, "backup": runBackup, "restore": runRestore, "dump": runDump, "load": runLoad,
	"check": runCheck, "repair": runRepair, "stats": runStats,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: args without the program name.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	cmd, rest := args[0], args[1:]
	if f, ok := commands[cmd]; ok {
		return f(rest, stdout, stderr)
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		if len(rest) == 1 {
			if f, ok := commands[rest[0]]; ok {
				f([]string{"-h"}, stdout, stdout) // prints the command's flags
				return exitOK
			}
			fmt.Fprintf(stderr, "simplekv help: unknown command %q\n\n%s", rest[0], usage)
			return exitError
		}
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
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	format := fs.String("format", "text", "text or json (the engine.RepairReport)")
	dir, ok := parse(fs, args, stderr)
	if !ok || !checkFlags(stderr, "check", codec{}, *format) {
		return exitError
	}
	rep, err := engine.Check(dir, engine.Options{})
	if err != nil {
		return failDB(stderr, "check", err)
	}
	if *format == "json" {
		if code := writeJSON(stdout, stderr, "check", rep); code != exitOK {
			return code
		}
	} else {
		fmt.Fprint(stdout, rep.String())
	}
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
		return failDB(stderr, "repair", err)
	}
	return exitOK
}

func runStats(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	files := fs.Bool("files", false, "also print one line per data file")
	format := fs.String("format", "text", "text or json (engine.Stats, every field, files included)")
	dir, ok := parse(fs, args, stderr)
	if !ok || !checkFlags(stderr, "stats", codec{}, *format) {
		return exitError
	}
	db, err := openFor(dir, true)
	if err != nil {
		if errors.Is(err, engine.ErrCorrupt) {
			err = fmt.Errorf("%w (run simplekv check)", err)
		}
		return failDB(stderr, "stats", err)
	}
	st := db.Stats()
	if err := db.Close(); err != nil {
		return fail(stderr, "stats", err)
	}
	if *format == "json" {
		return writeJSON(stdout, stderr, "stats", st)
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
