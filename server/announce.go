package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/simplekv/simplekv/replica"
)

// Announce makes node known to its cluster under its API address api,
// retrying until it succeeds, ctx ends, the node shuts down or wait
// passes. With join (a
// member's API address) it asks that member to add the node, which also
// records api. Otherwise it records api through the log: itself once it
// leads, or by a join through the leader's API (harmless for a member),
// so that followers can redirect or forward to it when it leads.
func Announce(ctx context.Context, node *replica.Node, join, api string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := announceOnce(node, join, api)
		if err == nil {
			return nil
		}
		if errors.Is(err, raft.ErrRaftShutdown) || errors.Is(err, replica.ErrClosed) {
			return err // the node closed: nothing to announce
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server: announcing node %s at %s: %w", node.ID(), api, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func announceOnce(node *replica.Node, join, api string) error {
	switch {
	case join != "":
		return NewClient(join).Join(node.ID(), node.RaftAddr(), api)
	case node.Member(node.ID()) == api:
		return nil // recorded already (before a restart, say)
	case node.IsLeader():
		return node.SetMember(node.ID(), api)
	}
	var nl *replica.NotLeaderError
	if err := node.SetMember(node.ID(), api); !errors.As(err, &nl) || nl.API == "" {
		return fmt.Errorf("no leader with an API address yet: %w", err)
	}
	return NewClient(nl.API).Join(node.ID(), node.RaftAddr(), api)
}
