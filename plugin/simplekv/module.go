package simplekv

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/plugin/filter"
	"github.com/simplekv/simplekv/plugin/kv"
)

// Name is the module's name and the name it registers under in both the
// kv and the filter registry.
const Name = "simple_kv"

// Module is the simple_kv plugin: it owns the database directory from
// Setup to Stop.
type Module struct {
	cfg Config

	mu    sync.Mutex
	db    *engine.DB
	store *Store
}

// New returns a module for cfg (see ParseConfig).
func New(cfg Config) *Module { return &Module{cfg: cfg} }

// Name returns "simple_kv".
func (m *Module) Name() string { return Name }

// Setup opens the store at the configured path (creating it, with its
// wal/ and last_state/, as needed) and registers it as "simple_kv" in the
// kv and filter registries, where it becomes the active store. With
// enabled: false it does nothing. A path that cannot be used (permissions,
// a file in the way, another process holding it) fails with an error
// naming the path and the cause; nothing is registered then.
func (m *Module) Setup() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.cfg.Enabled {
		return nil
	}
	if m.db != nil {
		return fmt.Errorf("simple_kv: Setup called twice (path %s)", m.cfg.Path)
	}
	db, err := engine.Open(m.cfg.Path, m.cfg.EngineOptions())
	if err != nil {
		return fmt.Errorf("simple_kv: open %s: %w", m.cfg.Path, err)
	}
	s := newStore(db, m.cfg.userMaxKeySize())
	registered := false
	defer func() {
		if r := recover(); r != nil {
			// A registry refused the name (still held by another running
			// store): undo what was done, release the directory, and let
			// the framework's panic go on.
			if registered {
				kv.Unregister(Name)
			}
			s.stop()
			_ = db.Close()
			panic(r)
		}
	}()
	kv.Register(Name, s)
	registered = true
	filter.Register(Name, s.Filter())
	m.db, m.store = db, s
	publishStats(db)
	return nil
}

// Start is a no-op: the store serves from Setup on.
func (m *Module) Start() error { return nil }

// Stop unregisters the store, makes every later call on it fail with
// ErrStopped, flushes and syncs what is buffered, closes the files and
// releases the directory lock. Setup may then be called again. Stop of a
// module that is not set up does nothing.
func (m *Module) Stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.db == nil {
		return nil
	}
	kv.Unregister(Name)
	filter.Unregister(Name)
	m.store.stop()
	unpublishStats(m.db)
	err := m.db.Close()
	m.db, m.store = nil, nil
	if err != nil && !errors.Is(err, engine.ErrClosed) {
		return fmt.Errorf("simple_kv: close %s: %w", m.cfg.Path, err)
	}
	return nil
}

// Store returns the open store, or nil before Setup and after Stop.
func (m *Module) Store() *Store {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.store
}

// Checkpoint writes a consistent copy of the running store to dir
// (engine.DB.Checkpoint: a new or empty directory, published atomically)
// while the application goes on. It returns ErrStopped before Setup and
// after Stop.
func (m *Module) Checkpoint(dir string) error {
	db := m.DB()
	if db == nil {
		return ErrStopped
	}
	return db.Checkpoint(dir)
}

// Backup writes the running store to w as one self-checking stream
// (engine.DB.Backup; engine.Restore reads it back) and returns the bytes
// written. It returns ErrStopped before Setup and after Stop.
func (m *Module) Backup(w io.Writer) (int64, error) {
	db := m.DB()
	if db == nil {
		return 0, ErrStopped
	}
	return db.Backup(w)
}

// DB returns the open database (for Stats), or nil.
func (m *Module) DB() *engine.DB {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.db
}
