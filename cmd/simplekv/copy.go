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

func runCheckpoint(args []string, stdout, stderr io.Writer) int {
	a, ok := parseN(flag.NewFlagSet("checkpoint", flag.ContinueOnError), args, 2, "<dir> <target>", stderr)
	if !ok {
		return exitError
	}
	// The source is opened read-only (through an overlay), so the copy
	// is made as a backup stream restored into the target: the same files,
	// copied rather than linked. (DB.Checkpoint in a running application
	// links them.)
	db, err := openFor(a[0], true)
	if err != nil {
		return failDB(stderr, "checkpoint", err)
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := db.Backup(pw)
		pw.CloseWithError(err)
	}()
	err = engine.Restore(pr, a[1])
	_ = pr.CloseWithError(err) // stop the backup if the restore failed
	<-done
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return failDB(stderr, "checkpoint", err)
	}
	fmt.Fprintf(stdout, "checkpoint of %s written to %s\n", a[0], a[1])
	return exitOK
}

func runBackup(args []string, stdout, stderr io.Writer) int {
	return writeStream("backup", args, stdout, stderr, "backup of %s written to %s (%d bytes)\n",
		func(db *engine.DB, w io.Writer) (int64, error) { return db.Backup(w) })
}

func runDump(args []string, stdout, stderr io.Writer) int {
	return writeStream("dump", args, stdout, stderr, "dumped %[3]d keys of %[1]s to %[2]s\n",
		func(db *engine.DB, w io.Writer) (int64, error) { return db.Dump(w) })
}

// writeStream is backup and dump: open <dir> read-only and write its
// stream to <file> (through a temporary file) or to standard output ("-"),
// then report with done (dir, file, n).
func writeStream(cmd string, args []string, stdout, stderr io.Writer, done string, write func(*engine.DB, io.Writer) (int64, error)) int {
	a, ok := parseN(flag.NewFlagSet(cmd, flag.ContinueOnError), args, 2, "<dir> <file|->", stderr)
	if !ok {
		return exitError
	}
	db, err := openFor(a[0], true)
	if err != nil {
		return failDB(stderr, cmd, err)
	}
	defer db.Close()
	if a[1] == "-" {
		if _, err := write(db, stdout); err != nil {
			return failDB(stderr, cmd, err)
		}
		return exitOK
	}
	n, err := writeAtomically(a[1], func(w io.Writer) (int64, error) { return write(db, w) })
	if err != nil {
		return failDB(stderr, cmd, err)
	}
	fmt.Fprintf(stdout, done, a[0], a[1], n)
	return exitOK
}

func runRestore(args []string, stdout, stderr io.Writer) int {
	return readStream("restore", args, stdout, stderr, func(r io.Reader, target string) (string, error) {
		return "restored into " + target, engine.Restore(r, target)
	})
}

func runLoad(args []string, stdout, stderr io.Writer) int {
	return readStream("load", args, stdout, stderr, func(r io.Reader, target string) (string, error) {
		n, err := engine.Load(r, target, engine.Options{})
		return fmt.Sprintf("loaded %d keys into %s", n, target), err
	})
}

// readStream is restore and load: read <file> (or standard input, "-")
// into the new directory <target> with build, and print what it says.
func readStream(cmd string, args []string, stdout, stderr io.Writer, build func(r io.Reader, target string) (string, error)) int {
	a, ok := parseN(flag.NewFlagSet(cmd, flag.ContinueOnError), args, 2, "<file|-> <target>", stderr)
	if !ok {
		return exitError
	}
	var r io.Reader = os.Stdin
	if a[0] != "-" {
		f, err := os.Open(a[0])
		if err != nil {
			return fail(stderr, cmd, err)
		}
		defer f.Close()
		r = f
	}
	msg, err := build(r, a[1])
	if err != nil {
		return failDB(stderr, cmd, err)
	}
	fmt.Fprintln(stdout, msg)
	return exitOK
}

// writeAtomically writes a file through a temporary one renamed into place
// once write succeeded and the data is synced: a failure never leaves a
// file that looks complete.
func writeAtomically(path string, write func(w io.Writer) (int64, error)) (int64, error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = vfs.Default.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, err
	}
	return n, nil
}
