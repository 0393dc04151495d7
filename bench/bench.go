package bench

import "errors"

// ErrNotFound is returned by DB.Get when the key has no value. Adapters
// translate each engine's own not-found error to it.
var ErrNotFound = errors.New("bench: not found")

// DB is the interface every engine is driven through.
type DB interface {
	// Put sets key to value. With Config.Sync the write is durable when
	// Put returns.
	Put(key, value []byte) error
	// Get returns the value of key, or ErrNotFound when it has none. The
	// returned slice belongs to the caller; an empty stored value is a
	// non-nil empty slice.
	Get(key []byte) ([]byte, error)
	// Delete removes key; deleting a missing key is not an error. With
	// Config.Sync the deletion is durable when Delete returns.
	Delete(key []byte) error
	// Sync makes everything written so far durable. It is cheap (or a
	// no-op) where every write already is.
	Sync() error
	// Close makes everything written durable and releases the engine.
	Close() error
}

// Config is what a run chooses for every engine alike.
type Config struct {
	// Sync makes every Put and Delete durable when it returns (an fsync
	// per write, or group commit). False: writes are buffered and become
	// durable on Sync or Close.
	Sync bool
}

// Engine names an engine and opens it.
type Engine struct {
	// Name is the short lower-case name used on the command line.
	Name string
	// Open opens (creating if needed) a database in directory dir, which
	// belongs to this engine alone.
	Open func(dir string, cfg Config) (DB, error)
}

// Engines returns every engine: simplekv, bbolt, badger, pebble and
// goleveldb, in that order.
func Engines() []Engine {
	return []Engine{
		{Name: "simplekv", Open: OpenSimplekv},
		{Name: "bbolt", Open: OpenBbolt},
		{Name: "badger", Open: OpenBadger},
		{Name: "pebble", Open: OpenPebble},
		{Name: "goleveldb", Open: OpenGoleveldb},
	}
}

// Lookup returns the engine called name.
func Lookup(name string) (Engine, bool) {
	for _, e := range Engines() {
		if e.Name == name {
			return e, true
		}
	}
	return Engine{}, false
}

// nonNil returns v, or a non-nil empty slice if v is nil, so that an empty
// stored value never looks like a missing one.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}
