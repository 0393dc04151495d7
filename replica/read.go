package replica

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/simplekv/simplekv/engine"
)

// Consistency chooses what a read may return.
type Consistency int

const (
	// Linearizable reads see every write that completed before the read
	// began, on any node. Only the leader serves them: it commits a
	// barrier entry (shared by every read that arrives while the one
	// before is in flight) and reads once its store has applied it, which
	// also proves that it still leads.
	Linearizable Consistency = iota
	// Stale reads return what this node's store holds now: no network,
	// any node, but possibly behind the leader, and, on a node cut off
	// from the others, behind for as long as the cut lasts.
	Stale
)

// ParseConsistency parses "linearizable" or "stale".
func ParseConsistency(s string) (Consistency, error) {
	switch s {
	case "linearizable", "":
		return Linearizable, nil
	case "stale":
		return Stale, nil
	}
	return 0, fmt.Errorf("%w: consistency %q (want linearizable or stale)", ErrConfig, s)
}

func (c Consistency) String() string {
	if c == Stale {
		return "stale"
	}
	return "linearizable"
}

// Get returns key's value, or an error matching engine.ErrNotFound.
func (n *Node) Get(key []byte, c Consistency) ([]byte, error) {
	if err := n.ready(c); err != nil {
		return nil, err
	}
	return n.fsm.get(nsUser, key)
}

// Has reports whether key is present.
func (n *Node) Has(key []byte, c Consistency) (bool, error) {
	if err := n.ready(c); err != nil {
		return false, err
	}
	return n.fsm.has(key)
}

// Scan calls fn for each key with prefix and its value, in no particular
// order, on one consistent view of this node's store, until fn returns
// false.
func (n *Node) Scan(prefix []byte, c Consistency, fn func(key, value []byte) bool) error {
	if err := n.ready(c); err != nil {
		return err
	}
	return n.fsm.scan(prefix, fn)
}

// Applied is the index of the last entry this node's store holds.
func (n *Node) Applied() uint64 { return n.fsm.Applied() }

// ready returns once a read of consistency c may run.
func (n *Node) ready(c Consistency) error {
	if c == Stale {
		return nil
	}
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	return n.reads.wait()
}

// readGate shares barriers among linearizable reads: a read joins the
// next barrier to be issued, never one already in flight (that one may
// have been committed before the read began).
type readGate struct {
	node    *Node
	mu      sync.Mutex
	next    *barrier // the group the next barrier serves
	running bool
}

type barrier struct {
	done chan struct{}
	err  error
}

func (g *readGate) wait() error {
	g.mu.Lock()
	if g.next == nil {
		g.next = &barrier{done: make(chan struct{})}
	}
	b := g.next
	if !g.running {
		g.running = true
		go g.run()
	}
	g.mu.Unlock()
	<-b.done
	return b.err
}

// run issues barriers while reads wait for one.
func (g *readGate) run() {
	for {
		g.mu.Lock()
		b := g.next
		g.next = nil
		if b == nil {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		b.err = g.node.barrier()
		close(b.done)
	}
}

func (n *Node) barrier() error {
	err := n.raft.Barrier(n.cfg.ApplyTimeout).Error()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return n.notLeader()
	}
	return fmt.Errorf("replica: read barrier: %w", err)
}

// EngineStats are the statistics of this node's store.
func (n *Node) EngineStats() engine.Stats { return n.fsm.stats() }
