package replica

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/simplekv/simplekv/engine"
)

// ErrUnknownOutcome is matched by the error of a write whose leader lost
// its leadership (or was shut down) after taking it: the write may or may
// not have been committed. Read the key to find out. It is also matched
// when the store failed (ErrFailed) after the write was committed: a
// restart applies it.
var ErrUnknownOutcome = errors.New("replica: write outcome unknown")

// ErrClosed is returned by a write to a node that was closed before the
// write was proposed: nothing of it was applied.
var ErrClosed = errors.New("replica: node closed")

// Put stores value under key in the cluster. It returns once a majority
// has the write in its log and the leader has applied it.
func (n *Node) Put(key, value []byte) error {
	_, err := n.apply([]Op{{Kind: OpPut, Key: key, Value: value}})
	return err
}

// PutWithTTL stores value under key for ttl. The deadline is fixed now,
// on this node's clock, so every replica expires the key at the same
// instant (as far as the nodes' clocks agree).
func (n *Node) PutWithTTL(key, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("replica: %w", engine.ErrInvalidTTL)
	}
	_, err := n.apply([]Op{{Kind: OpPutExpiring, Key: key, Value: value, Expires: time.Now().Add(ttl)}})
	return err
}

// Delete removes key from the cluster (no error if it is absent).
func (n *Node) Delete(key []byte) error {
	_, err := n.apply([]Op{{Kind: OpDelete, Key: key}})
	return err
}

// DeletePrefix removes every key that starts with prefix (not empty) from
// the cluster, as one write in the cluster's order: a write ordered before
// it is deleted, one ordered after it stays, on every replica. Each replica
// finds the keys in its own store's index when it applies the write
// (reading no value), which costs a walk of the whole index. A reader of
// one node sees the keys go at once, unless their deletes take more than
// 64 MiB (each key counting its length and 33 bytes: a million keys or
// so); those are written in parts, and a reader may see part of them gone.
//
// Every node of the cluster must run a version that knows the op (kind 6,
// FORMAT.md): an older node refuses it, applies nothing and goes on, and
// would keep the keys.
func (n *Node) DeletePrefix(prefix []byte) error {
	_, err := n.apply([]Op{{Kind: OpDeletePrefix, Key: prefix}})
	return err
}

// AddIfAbsent stores value under key unless key is present, atomically
// in the cluster's order of writes, and reports whether it was present.
func (n *Node) AddIfAbsent(key, value []byte) (existed bool, err error) {
	res, err := n.apply([]Op{{Kind: OpAddIfAbsent, Key: key, Value: value}})
	if err != nil {
		return false, err
	}
	return res.Existed[0], nil
}

// Write applies ops as one: every replica applies all of them or none,
// and no reader sees part of them (unless they hold an OpDeletePrefix too
// large for one store write: see DeletePrefix). It returns each op's
// Result.
func (n *Node) Write(ops []Op) (*Result, error) {
	for _, op := range ops {
		if op.Kind == OpPutExpiring && op.Expires.IsZero() {
			return nil, fmt.Errorf("replica: %w: OpPutExpiring without a deadline", engine.ErrInvalidTTL)
		}
	}
	return n.apply(ops)
}

// apply checks ops, proposes them and waits for the result.
func (n *Node) apply(ops []Op) (*Result, error) {
	if len(ops) == 0 {
		return &Result{}, nil
	}
	if err := n.fsm.checkOps(ops); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	o := n.prop.propose(encodeCommand(ops))
	if err := o.raftErr; err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader):
			return nil, n.notLeader()
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown):
			return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
		}
		return nil, fmt.Errorf("replica: %w", err)
	}
	if errors.Is(o.err, ErrFailed) {
		// Committed, but the store failed before it held it: a restart
		// replays the entry and applies it.
		return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, o.err)
	}
	return o.res, o.err
}
