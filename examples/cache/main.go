// Command cache puts simple_kv in front of a slow function as a
// read-through cache: a lookup reads kv.GetStore("simple_kv").Get; a miss
// calls the slow function and stores the result with a TTL (or with Set,
// without one); entries expire, are invalidated with Delete, and
// kv.DeleteBucket flushes them all.
//
//	go run ./examples/cache [-config file.yaml] [-data dir]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/simplekv/simplekv/plugin/kv"
	"github.com/simplekv/simplekv/plugin/simplekv"
)

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "cache:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	configPath := flag.String("config", defaultConfigPath(), "YAML file with a simple_kv: section")
	dataDir := flag.String("data", "", "data directory, overriding the YAML path (default: a fresh temporary directory, removed at exit)")
	flag.Parse()
	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "simplekv-cache-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	return run(*configPath, dir, os.Stdout)
}

// defaultConfigPath finds the config.yaml next to this program whether it
// runs from the repository root (go run ./examples/cache) or from its own
// directory (go run .).
func defaultConfigPath() string {
	fromRoot := filepath.Join("examples", "cache", "config.yaml")
	if _, err := os.Stat(fromRoot); err == nil {
		return fromRoot
	}
	return "config.yaml"
}

// cache is a read-through cache on the store's simple view (bucket
// kv.DefaultBucket, "").
type cache struct {
	store        kv.Store
	load         func(key string) ([]byte, error) // the slow function
	hits, misses int
	out          io.Writer
}

// get returns the cached value of key, calling load and caching its result
// for ttl on a miss. A ttl of 0 caches without expiry.
func (c *cache) get(key string, ttl time.Duration) ([]byte, error) {
	v, err := c.store.Get(key)
	if err != nil {
		return nil, err
	}
	if v != nil {
		c.hits++
		fmt.Fprintf(c.out, "get %-13s hit   %s\n", key, v)
		return v, nil
	}
	c.misses++
	start := time.Now()
	v, err = c.load(key)
	if err != nil {
		return nil, err
	}
	if ttl > 0 {
		// TTLs are an extension of the framework's store interface,
		// reached through the package-level function on the active store.
		err = kv.AddValueWithTTL(kv.DefaultBucket, []byte(key), v, ttl)
	} else {
		err = c.store.Set(key, v)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.out, "get %-13s miss  %s, took %v\n", key, v, time.Since(start).Round(time.Millisecond))
	return v, nil
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
	fmt.Fprintf(out, "config %s: cache_size=%d, compaction every %v at %.0f%% dead, path %s overridden by %s\n",
		configPath, cfg.CacheSize, cfg.Compaction.Interval, 100*cfg.Compaction.TriggerDeadFraction, cfg.Path, dataDir)
	cfg.Path = dataDir

	m := simplekv.New(cfg)
	if err := m.Setup(); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, m.Stop()) }()
	if err := m.Start(); err != nil {
		return err
	}

	store := kv.GetStore(simplekv.Name)
	if store == nil {
		return errors.New(`kv.GetStore("simple_kv") is nil after Setup`)
	}
	// Start empty even on a reused -data directory.
	if err := kv.DeleteBucket(kv.DefaultBucket); err != nil {
		return err
	}

	loads := 0
	c := &cache{
		store: store,
		out:   out,
		load: func(key string) ([]byte, error) { // a slow backend: a database, an HTTP API
			loads++
			time.Sleep(50 * time.Millisecond)
			return fmt.Appendf(nil, "data for %s (load #%d)", key, loads), nil
		},
	}
	// step looks key up and checks whether it was a hit.
	step := func(key string, ttl time.Duration, wantHit bool) error {
		hits := c.hits
		if _, err := c.get(key, ttl); err != nil {
			return err
		}
		if hit := c.hits > hits; hit != wantHit {
			return fmt.Errorf("get %s: hit=%v, want %v", key, hit, wantHit)
		}
		return nil
	}

	const long = 10 * time.Minute
	fmt.Fprintln(out, "-- read-through, TTL", long)
	for _, s := range []struct {
		key     string
		wantHit bool
	}{{"user:1", false}, {"user:2", false}, {"user:1", true}, {"user:2", true}, {"user:1", true}} {
		if err := step(s.key, long, s.wantHit); err != nil {
			return err
		}
	}

	const short = 200 * time.Millisecond
	fmt.Fprintln(out, "-- short TTL", short)
	if err := step("rate:eur-usd", short, false); err != nil {
		return err
	}
	if err := step("rate:eur-usd", short, true); err != nil {
		return err
	}
	time.Sleep(short + 100*time.Millisecond)
	fmt.Fprintf(out, "(after %v the entry has expired)\n", short+100*time.Millisecond)
	if err := step("rate:eur-usd", short, false); err != nil {
		return err
	}

	fmt.Fprintln(out, "-- no TTL (Set), then invalidate one key with Delete")
	if err := step("countries", 0, false); err != nil {
		return err
	}
	if err := step("countries", 0, true); err != nil {
		return err
	}
	if err := store.Delete("user:1"); err != nil {
		return err
	}
	fmt.Fprintln(out, `Delete("user:1")`)
	if err := step("user:1", long, false); err != nil {
		return err
	}

	fmt.Fprintln(out, "-- flush: kv.DeleteBucket(kv.DefaultBucket)")
	n := 0
	if err := kv.Iterate(kv.DefaultBucket, func(_, _ []byte) bool { n++; return true }); err != nil {
		return err
	}
	if err := kv.DeleteBucket(kv.DefaultBucket); err != nil {
		return err
	}
	fmt.Fprintf(out, "flushed %d entries\n", n)
	for _, key := range []string{"user:1", "user:2", "countries"} {
		if err := step(key, long, false); err != nil {
			return err
		}
	}

	const wantHits, wantMisses = 5, 9
	fmt.Fprintf(out, "hits=%d misses=%d slow calls=%d\n", c.hits, c.misses, loads)
	if c.hits != wantHits || c.misses != wantMisses || loads != c.misses {
		return fmt.Errorf("hits=%d misses=%d loads=%d, want %d, %d, %d", c.hits, c.misses, loads, wantHits, wantMisses, wantMisses)
	}
	return nil
}
