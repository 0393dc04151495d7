package replica

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/raftlog"
)

// Config configures a Node. ID, Dir and RaftAddr are required.
type Config struct {
	// ID names the node in the cluster; it must stay the same across
	// restarts.
	ID string
	// Dir is the node's data directory.
	Dir string
	// RaftAddr is the host:port raft listens on and other nodes dial: an
	// IP address, as raft advertises it (port 0 picks a free port; see
	// RaftAddr the method).
	RaftAddr string
	// Bootstrap makes a node with no raft state form a new one-node
	// cluster of itself; others then Join it. It is ignored when the node
	// has state already, so it is safe to keep on every restart.
	Bootstrap bool
	// Peers, with Bootstrap, is the cluster's first configuration: every
	// voting member's ID and raft address, this node's included. Every
	// member may bootstrap with the same Peers (raft accepts identical
	// first configurations), so a static cluster needs no Join. Empty: a
	// cluster of this node alone.
	Peers map[string]string
	// Engine configures the replicated store. SyncWrites is not needed:
	// every entry is durable in the raft log before it is applied, and a
	// restart replays what the store lost.
	Engine engine.Options
	// ApplyTimeout bounds how long a write waits to be taken by the
	// proposer (default 10 s), and then how long its entry waits to be
	// queued in raft; between the two it waits for one of the proposer's
	// two entries in raft to finish. A write that was queued waits for
	// its commit.
	ApplyTimeout time.Duration
	// LogOutput receives raft's log (default os.Stderr); LogLevel is its
	// level (default "warn").
	LogOutput io.Writer
	LogLevel  string
	// Raft, if set, is called with the raft configuration before use, to
	// change timeouts or snapshot thresholds.
	Raft func(*raft.Config)
	// Stream, if set, carries raft's connections instead of TCP on
	// RaftAddr (its Addr is then the node's address): tests use it to cut
	// the network between nodes.
	Stream raft.StreamLayer
}

// ErrConfig is returned by Open for a Config that lacks what it needs.
var ErrConfig = errors.New("replica: invalid config")

// ErrNotLeader is matched (errors.Is) by a *NotLeaderError.
var ErrNotLeader = errors.New("replica: not the leader")

// NotLeaderError is the error of a write or a linearizable read sent to a
// node that is not the leader. It names the leader when the node knows
// one (empty fields otherwise); API is the address the leader recorded
// with SetMember, such as its HTTP address.
type NotLeaderError struct {
	LeaderID, LeaderAddr, API string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "replica: not the leader, and no leader is known"
	}
	return fmt.Sprintf("replica: not the leader; the leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) and errors.Is(err, raft.ErrNotLeader) hold.
func (e *NotLeaderError) Is(target error) bool {
	return target == ErrNotLeader || target == raft.ErrNotLeader
}

// logCacheSize is how many of the newest entries a node keeps in memory.
const logCacheSize = 1024

// Node is one member of a replicated simplekv cluster.
type Node struct {
	cfg   Config
	raft  *raft.Raft
	fsm   *FSM
	logs  *raftlog.Store
	trans *raft.NetworkTransport
	reads readGate
	prop  *proposer
}

// Open starts the node: it opens its store, raft log and snapshots, and
// joins raft's cluster under cfg.ID (bootstrapping one if cfg.Bootstrap).
func Open(cfg Config) (*Node, error) {
	if cfg.ID == "" || cfg.Dir == "" || cfg.RaftAddr == "" {
		return nil, fmt.Errorf("%w: ID, Dir and RaftAddr are required", ErrConfig)
	}
	if _, ok := cfg.Peers[cfg.ID]; len(cfg.Peers) > 0 && !ok {
		return nil, fmt.Errorf("%w: Peers does not list this node (%s)", ErrConfig, cfg.ID)
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = 10 * time.Second
	}
	if cfg.LogOutput == nil {
		cfg.LogOutput = os.Stderr
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "warn"
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	n := &Node{cfg: cfg}
	n.reads.node = n
	ok := false
	defer func() {
		if !ok {
			n.closeParts()
		}
	}()
	var err error
	if n.fsm, err = OpenFSM(cfg.Dir, cfg.Engine); err != nil {
		return nil, err
	}
	if n.logs, err = raftlog.Open(filepath.Join(cfg.Dir, "raft"), raftlog.Options{}); err != nil {
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStore(filepath.Join(cfg.Dir, "snapshots"), 2, cfg.LogOutput)
	if err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	if cfg.Stream != nil {
		n.trans = raft.NewNetworkTransport(cfg.Stream, 3, 10*time.Second, cfg.LogOutput)
	} else if n.trans, err = raft.NewTCPTransport(cfg.RaftAddr, nil, 3, 10*time.Second, cfg.LogOutput); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft " + cfg.ID, Output: cfg.LogOutput, Level: hclog.LevelFromString(cfg.LogLevel)})
	if cfg.Raft != nil {
		cfg.Raft(rc)
	}
	// The store survives restarts: raft need not rebuild it from the
	// newest snapshot, unless the store is older than that snapshot (it
	// lost unsynced entries the truncated log no longer has).
	rc.NoSnapshotRestoreOnStart = true
	if metas, err := snaps.List(); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	} else if len(metas) > 0 && metas[0].Index > n.fsm.Applied() {
		rc.NoSnapshotRestoreOnStart = false
	}
	if cfg.Bootstrap {
		has, err := raft.HasExistingState(n.logs, n.logs, snaps)
		if err != nil {
			return nil, fmt.Errorf("replica: %w", err)
		}
		if !has {
			conf := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: n.trans.LocalAddr()}}}
			if len(cfg.Peers) > 0 {
				conf.Servers = nil
				for _, id := range slices.Sorted(maps.Keys(cfg.Peers)) {
					conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(cfg.Peers[id])})
				}
			}
			if err := raft.BootstrapCluster(rc, n.logs, n.logs, snaps, n.trans, conf); err != nil {
				return nil, fmt.Errorf("replica: bootstrap: %w", err)
			}
		}
	}
	// The newest entries stay in memory: the leader sends each to every
	// follower, and would otherwise read it back from its segment.
	logs, err := raft.NewLogCache(logCacheSize, n.logs)
	if err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	if n.raft, err = raft.NewRaft(rc, n.fsm, logs, n.logs, snaps, n.trans); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	n.prop = newProposer(n)
	ok = true
	return n, nil
}

// Close stops raft and closes the store. Writes that returned are in the
// raft log of a majority.
func (n *Node) Close() error {
	var err error
	if n.raft != nil {
		err = n.raft.Shutdown().Error()
	}
	if n.prop != nil {
		n.prop.close() // after raft: every entry in raft has its outcome
	}
	return errors.Join(err, n.closeParts())
}

func (n *Node) closeParts() error {
	var errs []error
	if n.trans != nil {
		errs = append(errs, n.trans.Close())
	}
	if n.logs != nil {
		errs = append(errs, n.logs.Close())
	}
	if n.fsm != nil {
		errs = append(errs, n.fsm.Close())
	}
	return errors.Join(errs...)
}

// Raft is the node's raft instance, for what Node does not wrap.
func (n *Node) Raft() *raft.Raft { return n.raft }

// ID is the node's ID.
func (n *Node) ID() string { return n.cfg.ID }

// RaftAddr is the address raft listens on.
func (n *Node) RaftAddr() string { return string(n.trans.LocalAddr()) }

// IsLeader reports whether the node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// WaitLeader waits up to timeout until the cluster has a leader and
// returns its ID.
func (n *Node) WaitLeader(timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if _, id := n.raft.LeaderWithID(); id != "" {
			return string(id), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("replica: no leader after %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// notLeader is the error for a request only the leader can serve.
func (n *Node) notLeader() error {
	addr, id := n.raft.LeaderWithID()
	e := &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
	if id != "" {
		e.API = n.Member(string(id))
	}
	return e
}

// Join adds a voting member (on the leader; *NotLeaderError elsewhere)
// and records its API address (SetMember) if api is not empty.
func (n *Node) Join(id, raftAddr, api string) error {
	if id == "" || raftAddr == "" {
		return fmt.Errorf("%w: a member needs an id and a raft address", ErrConfig)
	}
	if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, n.cfg.ApplyTimeout).Error(); err != nil {
		return n.mapErr(err)
	}
	if api == "" {
		return nil
	}
	return n.SetMember(id, api)
}

// Remove removes a member (on the leader).
func (n *Node) Remove(id string) error {
	return n.mapErr(n.raft.RemoveServer(raft.ServerID(id), 0, n.cfg.ApplyTimeout).Error())
}

// SetMember records, through the log, the API address of node id, which
// NotLeaderError reports to clients of other nodes.
func (n *Node) SetMember(id, api string) error {
	_, err := n.apply([]Op{{Kind: opMember, Key: []byte(id), Value: []byte(api)}})
	return err
}

// Member returns the API address recorded for node id ("" if none).
func (n *Node) Member(id string) string {
	v, err := n.fsm.get(nsMember, []byte(id))
	if err != nil {
		return ""
	}
	return string(v)
}

// mapErr turns raft's "not the leader" into a *NotLeaderError.
func (n *Node) mapErr(err error) error {
	if errors.Is(err, raft.ErrNotLeader) {
		return n.notLeader()
	}
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	return nil
}
