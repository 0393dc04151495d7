// Command config-storage keeps application settings in simple_kv: it stores
// them in the bucket "config" through the framework's package-level kv API,
// reads them back, lists them with Iterate, shows that a missing setting is
// (nil, nil) rather than an error, then restarts the module (Stop, Setup)
// and checks that every setting survived.
//
//	go run ./examples/config-storage [-config file.yaml] [-data dir]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/simplekv/simplekv/plugin/kv"
	"github.com/simplekv/simplekv/plugin/simplekv"
)

const bucket = "config"

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "config-storage:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	configPath := flag.String("config", defaultConfigPath(), "YAML file with a simple_kv: section")
	dataDir := flag.String("data", "", "data directory, overriding the YAML path (default: a fresh temporary directory, removed at exit)")
	flag.Parse()
	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "simplekv-config-storage-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	return run(*configPath, dir, os.Stdout)
}

// defaultConfigPath finds the config.yaml next to this program whether it
// runs from the repository root (go run ./examples/config-storage) or from
// its own directory (go run .).
func defaultConfigPath() string {
	fromRoot := filepath.Join("examples", "config-storage", "config.yaml")
	if _, err := os.Stat(fromRoot); err == nil {
		return fromRoot
	}
	return "config.yaml"
}

// run is the whole example; it returns an error on any unexpected result.
func run(configPath, dataDir string, out io.Writer) (err error) {
	data, err := os.ReadFile(configPath)
	if err != nil {
		return err
	}
	cfg, err := simplekv.ParseConfig(data)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "config %s: simple_kv section parsed (other sections ignored), path %s overridden by %s\n", configPath, cfg.Path, dataDir)
	cfg.Path = dataDir

	m := simplekv.New(cfg)
	if err := m.Setup(); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, m.Stop()) }()
	if err := m.Start(); err != nil {
		return err
	}

	settings := map[string]string{
		"app.name":          "billing",
		"http.port":         "8080",
		"feature.dark_mode": "true",
		"limits.max_upload": "10MiB",
	}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		if err := kv.AddValue(bucket, []byte(k), []byte(settings[k])); err != nil {
			return err
		}
		fmt.Fprintf(out, "AddValue(%q, %q) = %q\n", bucket, k, settings[k])
	}

	// Change a setting: AddValue overwrites.
	settings["http.port"] = "9090"
	if err := kv.AddValue(bucket, []byte("http.port"), []byte("9090")); err != nil {
		return err
	}
	v, err := kv.GetValue(bucket, []byte("http.port"))
	if err != nil {
		return err
	}
	if string(v) != "9090" {
		return fmt.Errorf("http.port is %q after the update, want 9090", v)
	}
	fmt.Fprintf(out, "GetValue(%q, %q) = %q after the update\n", bucket, "http.port", v)

	// A missing setting is (nil, nil): the caller falls back to a default.
	v, err = kv.GetValue(bucket, []byte("smtp.host"))
	if err != nil || v != nil {
		return fmt.Errorf("missing key: got (%q, %v), want (nil, nil)", v, err)
	}
	fmt.Fprintf(out, "GetValue(%q, %q) = nil, nil: missing setting, using default %q\n", bucket, "smtp.host", "localhost")

	// The bucket is a namespace: the same key elsewhere is another value.
	if err := kv.AddValue("config-staging", []byte("http.port"), []byte("8081")); err != nil {
		return err
	}

	before, err := list(out, "before restart")
	if err != nil {
		return err
	}
	if !maps.Equal(before, settings) {
		return fmt.Errorf("kv.Iterate returned %v, want %v", before, settings)
	}

	// Restart: Stop releases the directory and unregisters the store;
	// Setup opens it again and registers it.
	if err := m.Stop(); err != nil {
		return err
	}
	_, err = kv.GetValue(bucket, []byte("http.port"))
	if !errors.Is(err, kv.ErrNoStore) {
		return fmt.Errorf("GetValue while stopped: %v, want kv.ErrNoStore", err)
	}
	fmt.Fprintf(out, "module stopped: GetValue returns %q\n", err)
	if err := m.Setup(); err != nil {
		return err
	}
	fmt.Fprintln(out, "module set up again on the same directory")

	after, err := list(out, "after restart")
	if err != nil {
		return err
	}
	if !maps.Equal(after, before) {
		return fmt.Errorf("settings after restart %v, want %v", after, before)
	}
	staging, err := kv.GetValue("config-staging", []byte("http.port"))
	if err != nil {
		return err
	}
	if !bytes.Equal(staging, []byte("8081")) {
		return fmt.Errorf("config-staging http.port is %q, want 8081", staging)
	}
	fmt.Fprintf(out, "settings survived the restart: %d keys in %q, %q still separate\n", len(after), bucket, "config-staging")
	return nil
}

// list prints and returns every setting in the bucket, in key order.
func list(out io.Writer, when string) (map[string]string, error) {
	got := map[string]string{}
	err := kv.Iterate(bucket, func(k, v []byte) bool {
		got[string(k)] = string(v)
		return true
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "Iterate(%q) %s:\n", bucket, when)
	for _, k := range slices.Sorted(maps.Keys(got)) {
		fmt.Fprintf(out, "  %s = %s\n", k, got[k])
	}
	return got, nil
}
