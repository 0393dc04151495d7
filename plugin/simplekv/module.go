package simplekv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/plugin/filter"
	"github.com/simplekv/simplekv/plugin/kv"
	"github.com/simplekv/simplekv/replica"
	"github.com/simplekv/simplekv/server"
)

// Name is the module's name and the name it registers under in both the
// kv and the filter registry.
const Name = "simple_kv"

// Module is the simple_kv plugin: it owns the database directory from
// Setup to Stop.
type Module struct {
	cfg Config

	mu    sync.Mutex
	db    *engine.DB    // local mode
	node  *replica.Node // replicated mode
	api   *http.Server  // replicated mode with api_addr
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
	if m.db != nil || m.node != nil {
		return fmt.Errorf("simple_kv: Setup called twice (path %s)", m.cfg.Path)
	}
	var be backend
	maxKey := m.cfg.userMaxKeySize()
	closeAll := func() {}
	if rc := m.cfg.Replication; rc != nil {
		if err := m.openNode(rc); err != nil {
			return err
		}
		be = &replicatedBackend{n: m.node, cons: rc.ReadConsistency}
		maxKey-- // the node prefixes every key with one byte
		closeAll = func() { m.closeNode() }
	} else {
		db, err := engine.Open(m.cfg.Path, m.cfg.EngineOptions())
		if err != nil {
			return fmt.Errorf("simple_kv: open %s: %w", m.cfg.Path, err)
		}
		m.db = db
		be = newLocal(db)
		closeAll = func() { _ = db.Close(); m.db = nil }
	}
	s := newStore(be, maxKey)
	registered := false
	defer func() {
		if r := recover(); r != nil {
			if registered {
				kv.Unregister(Name)
			}
			s.stop()
			closeAll()
			panic(r)
		}
	}()
	kv.Register(Name, s)
	registered = true
	filter.Register(Name, s.Filter())
	m.store = s
	if m.db != nil {
		publishStats(m.db)
	}
	return nil
}

func (m *Module) Start() error { return nil }

// Stop unregisters the store, makes every later call on it fail with
// ErrStopped, flushes and syncs what is buffered, closes the files and
// releases the directory lock. Setup may then be called again. Stop of a
// module that is not set up does nothing.
func (m *Module) Stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.db == nil && m.node == nil {
		return nil
	}
	kv.Unregister(Name)
	filter.Unregister(Name)
	m.store.stop()
	m.store = nil
	if m.node != nil {
		if err := m.closeNode(); err != nil {
			return fmt.Errorf("simple_kv: stop node %s: %w", m.cfg.Replication.NodeID, err)
		}
		return nil
	}
	unpublishStats(m.db)
	err := m.db.Close()
	m.db = nil
	if err != nil && !errors.Is(err, engine.ErrClosed) {
		return fmt.Errorf("simple_kv: close %s: %w", m.cfg.Path, err)
	}
	return nil
}

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
	if m.Node() != nil {
		return fmt.Errorf("simple_kv: Checkpoint: %w: the store is replicated (raft snapshots it)", kv.ErrNotSupported)
	}
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
	if m.Node() != nil {
		return 0, fmt.Errorf("simple_kv: Backup: %w: the store is replicated (raft snapshots it)", kv.ErrNotSupported)
	}
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

// openNode starts the replicated node of rc, its API server if rc has an
// api_addr, and joins the cluster if rc says so.
func (m *Module) openNode(rc *ReplicationConfig) error {
	var ln net.Listener
	api := ""
	if rc.APIAddr != "" {
		var err error
		if ln, err = net.Listen("tcp", rc.APIAddr); err != nil {
			return fmt.Errorf("simple_kv: api_addr: %w", err)
		}
		api = "http://" + ln.Addr().String()
	}
	n, err := replica.Open(replica.Config{ID: rc.NodeID, Dir: m.cfg.Path, RaftAddr: rc.RaftAddr,
		Bootstrap: rc.Bootstrap || rc.Peers != nil, Peers: rc.Peers, Engine: m.cfg.EngineOptions()})
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return fmt.Errorf("simple_kv: node %s: %w", rc.NodeID, err)
	}
	m.node = n
	if ln != nil {
		m.api = &http.Server{Handler: server.New(n, server.NodeCollector(n)).Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = m.api.Serve(ln) }()
	}
	if err := m.announce(rc, api); err != nil {
		_ = m.closeNode()
		return err
	}
	return nil
}

// announce joins the cluster (rc.Join; Setup waits for it) or, in the
// background, records this node's API address (server.Announce).
func (m *Module) announce(rc *ReplicationConfig, api string) error {
	if rc.Join != "" {
		return server.Announce(context.Background(), m.node, rc.Join, api, joinWait)
	}
	if api != "" {
		n := m.node
		go func() { _ = server.Announce(context.Background(), n, "", api, joinWait) }()
	}
	return nil
}

// joinWait bounds how long Setup waits to join or announce a node.
const joinWait = 30 * time.Second

func (m *Module) closeNode() error {
	var errs []error
	if m.api != nil {
		errs = append(errs, server.Stop(m.api, 2*time.Second))
		m.api = nil
	}
	errs = append(errs, m.node.Close())
	m.node = nil
	return errors.Join(errs...)
}

// Node is the replicated node (nil in local mode or while stopped).
func (m *Module) Node() *replica.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}
