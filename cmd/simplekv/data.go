package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/internal/vfs"
)

// codec is how keys and values are written on the command line and
// printed: raw bytes (with Go escapes where printed in a list), hex or
// base64.
type codec struct{ hex, b64 bool }

func (c *codec) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.hex, "hex", false, "keys and values are hex on the command line and in the output")
	fs.BoolVar(&c.b64, "base64", false, "keys and values are standard base64 on the command line and in the output")
}

func (c codec) check() error {
	if c.hex && c.b64 {
		return errors.New("-hex and -base64 exclude each other")
	}
	return nil
}

// decode turns a command-line argument into bytes.
func (c codec) decode(s string) ([]byte, error) {
	switch {
	case c.hex:
		return hex.DecodeString(s)
	case c.b64:
		return base64.StdEncoding.DecodeString(s)
	}
	return []byte(s), nil
}

// text formats b for a line of text output: encoded, or Go-quoted.
func (c codec) text(b []byte) string {
	switch {
	case c.hex:
		return hex.EncodeToString(b)
	case c.b64:
		return base64.StdEncoding.EncodeToString(b)
	}
	return strconv.QuoteToASCII(string(b))
}

// json formats b for a JSON field: encoded, or the bytes as a string
// (exact only for UTF-8).
func (c codec) json(b []byte) string {
	if c.hex || c.b64 {
		return c.text(b)
	}
	return string(b)
}

// openFor opens dir for a command: through an in-memory overlay for one
// that only reads (so that Open's own work, such as starting a log file or
// cutting a torn tail, never reaches the disk), for real otherwise.
func openFor(dir string, readOnly bool) (*engine.DB, error) {
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	opts := engine.Options{DisableAutoCompaction: true}
	if readOnly {
		opts.FS = vfs.Overlay(vfs.Default)
	}
	return engine.Open(dir, opts)
}

// failDB reports err with the exit status of its kind: locked, damaged, or
// any other failure.
func failDB(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "simplekv %s: %v\n", cmd, err)
	switch {
	case errors.Is(err, engine.ErrLocked):
		return exitLocked
	case errors.Is(err, engine.ErrCorrupt):
		return exitDamaged
	}
	return exitError
}

func runGet(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	var c codec
	c.flags(fs)
	format := fs.String("format", "text", "text (the value's bytes, encoded with -hex or -base64) or json")
	a, ok := parseN(fs, args, 2, "<dir> <key>", stderr)
	if !ok || !checkFlags(stderr, "get", c, *format) {
		return exitError
	}
	key, err := c.decode(a[1])
	if err != nil {
		return fail(stderr, "get", fmt.Errorf("key: %w", err))
	}
	db, err := openFor(a[0], true)
	if err != nil {
		return failDB(stderr, "get", err)
	}
	defer db.Close()
	v, err := db.Get(key)
	if errors.Is(err, engine.ErrNotFound) {
		fmt.Fprintf(stderr, "simplekv get: key %s not found\n", c.text(key))
		return exitNotFound
	}
	if err != nil {
		return failDB(stderr, "get", err)
	}
	switch {
	case *format == "json":
		return writeJSON(stdout, stderr, "get", map[string]string{"key": c.json(key), "value": c.json(v)})
	case c.hex || c.b64:
		fmt.Fprintln(stdout, c.text(v))
	default:
		_, _ = stdout.Write(v) // the bytes as they are
	}
	return exitOK
}

func runPut(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("put", flag.ContinueOnError)
	var c codec
	c.flags(fs)
	ttl := fs.Duration("ttl", 0, "expire the value after this long (0: never)")
	a, ok := parseN(fs, args, 3, "<dir> <key> <value|->", stderr)
	if !ok || !checkFlags(stderr, "put", c, "text") {
		return exitError
	}
	key, err := c.decode(a[1])
	if err != nil {
		return fail(stderr, "put", fmt.Errorf("key: %w", err))
	}
	var value []byte
	if a[2] == "-" {
		value, err = io.ReadAll(os.Stdin) // raw, whatever the encoding flag
	} else {
		value, err = c.decode(a[2])
	}
	if err != nil {
		return fail(stderr, "put", fmt.Errorf("value: %w", err))
	}
	if *ttl < 0 {
		return fail(stderr, "put", fmt.Errorf("%w: %v", engine.ErrInvalidTTL, *ttl))
	}
	db, err := openFor(a[0], false)
	if err != nil {
		return failDB(stderr, "put", err)
	}
	if *ttl > 0 {
		err = db.PutWithTTL(key, value, *ttl)
	} else {
		err = db.Put(key, value)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return failDB(stderr, "put", err)
	}
	return exitOK
}

func runDelete(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("delete", flag.ContinueOnError)
	var c codec
	c.flags(fs)
	a, ok := parseN(fs, args, 2, "<dir> <key>", stderr)
	if !ok || !checkFlags(stderr, "delete", c, "text") {
		return exitError
	}
	key, err := c.decode(a[1])
	if err != nil {
		return fail(stderr, "delete", fmt.Errorf("key: %w", err))
	}
	db, err := openFor(a[0], false)
	if err != nil {
		return failDB(stderr, "delete", err)
	}
	err = db.Delete(key)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return failDB(stderr, "delete", err)
	}
	return exitOK
}

func runScan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	var c codec
	c.flags(fs)
	prefix := fs.String("prefix", "", "only keys that start with this (encoded like keys)")
	limit := fs.Int("limit", 0, "stop after this many keys (0: all)")
	keysOnly := fs.Bool("keys-only", false, "print keys only")
	format := fs.String("format", "text", "text (key TAB value per line) or json (one object per line)")
	a, ok := parseN(fs, args, 1, "<dir>", stderr)
	if !ok || !checkFlags(stderr, "scan", c, *format) {
		return exitError
	}
	p, err := c.decode(*prefix)
	if err != nil {
		return fail(stderr, "scan", fmt.Errorf("prefix: %w", err))
	}
	db, err := openFor(a[0], true)
	if err != nil {
		return failDB(stderr, "scan", err)
	}
	defer db.Close()
	n := 0
	var werr error
	err = db.Scan(p, func(k, v []byte) bool {
		switch {
		case *format == "json" && *keysOnly:
			werr = json.NewEncoder(stdout).Encode(map[string]string{"key": c.json(k)})
		case *format == "json":
			werr = json.NewEncoder(stdout).Encode(map[string]string{"key": c.json(k), "value": c.json(v)})
		case *keysOnly:
			_, werr = fmt.Fprintln(stdout, c.text(k))
		default:
			_, werr = fmt.Fprintf(stdout, "%s\t%s\n", c.text(k), c.text(v))
		}
		n++
		return werr == nil && (*limit <= 0 || n < *limit)
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return failDB(stderr, "scan", err)
	}
	return exitOK
}

func runCompact(args []string, stdout, stderr io.Writer) int {
	a, ok := parseN(flag.NewFlagSet("compact", flag.ContinueOnError), args, 1, "<dir>", stderr)
	if !ok {
		return exitError
	}
	db, err := openFor(a[0], false)
	if err != nil {
		return failDB(stderr, "compact", err)
	}
	before := db.Stats().DiskBytes
	start := time.Now()
	err = db.Compact()
	after := db.Stats().DiskBytes
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return failDB(stderr, "compact", err)
	}
	fmt.Fprintf(stdout, "compacted %s in %v: %d bytes on disk, was %d\n", a[0], time.Since(start).Round(time.Millisecond), after, before)
	return exitOK
}

// checkFlags reports a bad flag combination or format.
func checkFlags(stderr io.Writer, cmd string, c codec, format string) bool {
	err := c.check()
	if err == nil && format != "text" && format != "json" {
		err = fmt.Errorf("-format %q: want text or json", format)
	}
	if err != nil {
		fmt.Fprintf(stderr, "simplekv %s: %v\n", cmd, err)
		return false
	}
	return true
}

func writeJSON(stdout, stderr io.Writer, cmd string, v any) int {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return fail(stderr, cmd, err)
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return fail(stderr, cmd, err)
	}
	return exitOK
}
