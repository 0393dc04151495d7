package replica

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
)

// cutNet is the network of a partition test: TCP on 127.0.0.1, where
// any pair of nodes can be cut apart. Every raft RPC travels on a
// connection its sender dialed, so refusing dials between two nodes, and
// closing the connections already dialed, cuts them apart both ways.
type cutNet struct {
	mu    sync.Mutex
	cut   map[[2]string]bool // unordered pairs of addresses
	conns map[[2]string][]net.Conn
}

func (c *cutNet) isCut(a, b string) bool { return c.cut[[2]string{a, b}] || c.cut[[2]string{b, a}] }

// partition cuts every node of side from every other node of all.
func (c *cutNet) partition(side []string, all []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = map[[2]string]bool{}
	for _, a := range side {
		for _, b := range all {
			if !contains(side, b) {
				c.cut[[2]string{a, b}] = true
			}
		}
	}
	for pair, conns := range c.conns {
		if c.isCut(pair[0], pair[1]) {
			for _, conn := range conns {
				conn.Close()
			}
			delete(c.conns, pair)
		}
	}
}

func (c *cutNet) heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = map[[2]string]bool{}
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// cutStream is one node's raft.StreamLayer on a cutNet.
type cutStream struct {
	net.Listener
	n    *cutNet
	self string
}

func (s *cutStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	s.n.mu.Lock()
	cut := s.n.isCut(s.self, string(addr))
	s.n.mu.Unlock()
	if cut {
		return nil, fmt.Errorf("dial %s: cut off", addr)
	}
	conn, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	if s.n.conns == nil {
		s.n.conns = map[[2]string][]net.Conn{}
	}
	pair := [2]string{s.self, string(addr)}
	s.n.conns[pair] = append(s.n.conns[pair], conn)
	return conn, nil
}

// TestPartitionedMinorityCannotAcknowledge cuts the leader off from the
// two others while all three run: the majority elects a new leader and
// goes on; the old leader acknowledges nothing; once the network heals,
// it follows the new leader, and the write it took while cut off is gone
// from every node (raft deletes it from its log's tail).
func TestPartitionedMinorityCannotAcknowledge(t *testing.T) {
	cn := &cutNet{}
	var nodes []*Node
	var addrs []string
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		addrs = append(addrs, addr)
		id := fmt.Sprint("p", i)
		n, err := Open(Config{ID: id, Dir: filepath.Join(t.TempDir(), id), RaftAddr: addr, Bootstrap: i == 0,
			Stream: &cutStream{Listener: ln, n: cn, self: addr}, LogOutput: io.Discard, Raft: fastRaft, ApplyTimeout: time.Second})
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		nodes = append(nodes, n)
		if i == 0 {
			_, err := n.WaitLeader(10 * time.Second)
			require.NoError(t, err)
			require.Eventually(t, n.IsLeader, 10*time.Second, 10*time.Millisecond)
		} else {
			require.NoError(t, nodes[0].Join(id, addr, ""))
		}
	}
	require.NoError(t, nodes[0].Put([]byte("before"), []byte("1")))
	old := nodes[0]
	cn.partition([]string{addrs[0]}, addrs)

	// The old leader cannot acknowledge a write...
	err := old.Put([]byte("lost"), []byte("x"))
	require.Error(t, err)
	// ...while the majority elects a leader and goes on.
	var leader *Node
	require.Eventually(t, func() bool {
		for _, n := range nodes[1:] {
			if n.IsLeader() {
				leader = n
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, leader.Put([]byte("after"), []byte("2")))
	_, err = old.Get([]byte("before"), Linearizable)
	require.Error(t, err, "a cut-off node must not serve linearizable reads")

	cn.heal()
	require.Eventually(t, func() bool {
		v, err := old.Get([]byte("after"), Stale)
		return err == nil && string(v) == "2"
	}, 10*time.Second, 10*time.Millisecond, "the old leader catches up")
	require.False(t, old.IsLeader())
	for i, n := range nodes {
		_, err := n.Get([]byte("lost"), Stale)
		require.ErrorIs(t, err, engine.ErrNotFound, "node %d holds the write nobody acknowledged", i)
	}
}
