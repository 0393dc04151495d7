package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/internal/vfs"
)

// parseN parses a subcommand's flags and returns its n positional
// arguments.
func parseN(fs *flag.FlagSet, args []string, n int, what string, stderr io.Writer) ([]string, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return nil, false
	}
	if fs.NArg() != n {
		fmt.Fprintf(stderr, "simplekv %s: want %s\n\n%s", fs.Name(), what, usage)
		return nil, false
	}
	return fs.Args(), true
}

// openExisting opens the database in dir, which must exist (Open would
// create a mistyped one).
func openExisting(dir string) (*engine.DB, error) {
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	return engine.Open(dir, engine.Options{DisableAutoCompaction: true})
}

func runCheckpoint(args []string, stdout, stderr io.Writer) int {
	a, ok := parseN(flag.NewFlagSet("checkpoint", flag.ContinueOnError), args, 2, "<dir> <target>", stderr)
	if !ok {
		return exitError
	}
	db, err := openExisting(a[0])
	if err != nil {
		return fail(stderr, "checkpoint", err)
	}
	err = db.Checkpoint(a[1])
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(stderr, "checkpoint", err)
	}
	fmt.Fprintf(stdout, "checkpoint of %s written to %s\n", a[0], a[1])
	return exitOK
}

func runBackup(args []string, stdout, stderr io.Writer) int {
	a, ok := parseN(flag.NewFlagSet("backup", flag.ContinueOnError), args, 2, "<dir> <file|->", stderr)
	if !ok {
		return exitError
	}
	db, err := openExisting(a[0])
	if err != nil {
		return fail(stderr, "backup", err)
	}
	defer db.Close()
	if a[1] == "-" {
		if _, err := db.Backup(stdout); err != nil {
			return fail(stderr, "backup", err)
		}
		return exitOK
	}
	// Into a temporary file renamed into place: a failed backup never
	// leaves a file that looks like one.
	tmp := a[1] + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fail(stderr, "backup", err)
	}
	n, err := db.Backup(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, a[1])
	}
	if err == nil {
		err = vfs.Default.SyncDir(filepath.Dir(a[1]))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fail(stderr, "backup", err)
	}
	fmt.Fprintf(stdout, "backup of %s written to %s (%d bytes)\n", a[0], a[1], n)
	return exitOK
}

func runRestore(args []string, stdout, stderr io.Writer) int {
	a, ok := parseN(flag.NewFlagSet("restore", flag.ContinueOnError), args, 2, "<file|-> <target>", stderr)
	if !ok {
		return exitError
	}
	var r io.Reader = os.Stdin
	if a[0] != "-" {
		f, err := os.Open(a[0])
		if err != nil {
			return fail(stderr, "restore", err)
		}
		defer f.Close()
		r = f
	}
	if err := engine.Restore(r, a[1]); err != nil {
		return fail(stderr, "restore", err)
	}
	fmt.Fprintf(stdout, "restored into %s\n", a[1])
	return exitOK
}
