package replica

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
)

// fastRaft shortens raft's timeouts for loopback clusters and takes
// snapshots often, keeping few entries behind them, so that a node that
// was down a while has to catch up by installing one.
func fastRaft(c *raft.Config) {
	c.HeartbeatTimeout = 150 * time.Millisecond
	c.ElectionTimeout = 150 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotThreshold = 64
	c.SnapshotInterval = 50 * time.Millisecond
	c.TrailingLogs = 16
}

// testCluster is up to three nodes in this process on 127.0.0.1.
type testCluster struct {
	t     testing.TB
	tune  func(*raft.Config)
	dirs  []string
	addrs []string // raft addresses, fixed at first start
	nodes []*Node  // nil: stopped
	// engine configures the nodes' stores at their next start.
	engine engine.Options
}

func newCluster(t *testing.T, size int) *testCluster { return newClusterWith(t, size, fastRaft) }

// newClusterWith is newCluster with raft tuned by tune (nil: defaults).
func newClusterWith(t testing.TB, size int, tune func(*raft.Config)) *testCluster {
	c := &testCluster{t: t, tune: tune, dirs: make([]string, size), addrs: make([]string, size), nodes: make([]*Node, size)}
	for i := range size {
		c.dirs[i] = filepath.Join(t.TempDir(), fmt.Sprint("n", i))
		c.addrs[i] = "127.0.0.1:0"
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	c.start(0, true)
	c.waitLeader(0)
	for i := 1; i < size; i++ {
		c.start(i, false)
		require.NoError(t, c.nodes[0].Join(c.id(i), c.addrs[i], ""))
	}
	return c
}

func (c *testCluster) id(i int) string { return fmt.Sprint("n", i) }

func (c *testCluster) start(i int, bootstrap bool) {
	n, err := Open(Config{ID: c.id(i), Dir: c.dirs[i], RaftAddr: c.addrs[i], Bootstrap: bootstrap,
		LogOutput: io.Discard, Raft: c.tune, ApplyTimeout: 2 * time.Second, Engine: c.engine})
	require.NoError(c.t, err)
	c.addrs[i] = n.RaftAddr()
	c.nodes[i] = n
}

func (c *testCluster) stop(i int) {
	if c.nodes[i] != nil {
		require.NoError(c.t, c.nodes[i].Close())
		c.nodes[i] = nil
	}
}

// waitLeader waits until a running node leads, and returns its index.
func (c *testCluster) waitLeader(among ...int) int {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range c.nodes {
			if n != nil && n.IsLeader() && (len(among) == 0 || contains(among, i)) {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no leader among %v within 10s", among)
	return -1
}

// waitValue waits until node i's store (read Stale) holds want under key.
func (c *testCluster) waitValue(i int, key, want string) {
	deadline := time.Now().Add(10 * time.Second)
	var got []byte
	var err error
	for time.Now().Before(deadline) {
		if got, err = c.nodes[i].Get([]byte(key), Stale); err == nil && string(got) == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("node %d: %q = %q (%v) after 10s, want %q", i, key, got, err, want)
}

func TestClusterReplicatesAndSurvivesLeaderLoss(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.waitLeader()
	for i := range 50 {
		require.NoError(t, c.nodes[leader].Put([]byte(fmt.Sprint("k", i)), []byte(fmt.Sprint("v", i))))
	}
	for i := range c.nodes {
		c.waitValue(i, "k49", "v49")
	}

	// A follower refuses writes and linearizable reads, naming the leader.
	f := (leader + 1) % 3
	err := c.nodes[f].Put([]byte("x"), []byte("y"))
	require.ErrorIs(t, err, ErrNotLeader)
	var nl *NotLeaderError
	require.ErrorAs(t, err, &nl)
	require.Equal(t, c.id(leader), nl.LeaderID)
	_, err = c.nodes[f].Get([]byte("k1"), Linearizable)
	require.ErrorIs(t, err, ErrNotLeader)
	v, err := c.nodes[leader].Get([]byte("k1"), Linearizable)
	require.NoError(t, err)
	require.Equal(t, "v1", string(v))

	// The leader dies: another is elected and has every acknowledged write.
	old := leader
	oldApplied := c.nodes[old].Applied()
	c.stop(old)
	leader = c.waitLeader()
	for i := range 50 {
		v, err := c.nodes[leader].Get([]byte(fmt.Sprint("k", i)), Linearizable)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint("v", i), string(v))
	}
	// Writes go on with two of three; the old leader, back, catches up.
	for i := 50; i < 300; i++ {
		require.NoError(t, c.nodes[leader].Put([]byte(fmt.Sprint("k", i)), []byte(fmt.Sprint("v", i))))
	}
	require.NoError(t, c.nodes[leader].Delete([]byte("k0")))
	require.NoError(t, c.nodes[leader].Raft().Snapshot().Error())
	first, err := c.nodes[leader].logs.FirstIndex()
	require.NoError(t, err)
	// The log no longer holds what the stopped node lacks: it can only
	// catch up by installing a snapshot.
	require.Less(t, oldApplied, first)
	c.start(old, false)
	c.waitValue(old, "k299", "v299")
	_, err = c.nodes[old].Get([]byte("k0"), Stale)
	require.ErrorIs(t, err, engine.ErrNotFound)
}

func TestMinorityCannotAcknowledgeWrites(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.waitLeader()
	require.NoError(t, c.nodes[leader].Put([]byte("a"), []byte("1")))
	for i := range c.nodes {
		if i != leader {
			c.stop(i)
		}
	}
	err := c.nodes[leader].Put([]byte("b"), []byte("2"))
	require.Error(t, err)
	_, err = c.nodes[leader].Get([]byte("a"), Linearizable)
	require.Error(t, err, "a lone node must not serve linearizable reads")
	v, err := c.nodes[leader].Get([]byte("a"), Stale)
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
}

func TestRestartKeepsStoreAndApplied(t *testing.T) {
	c := newCluster(t, 1)
	for i := range 200 {
		require.NoError(t, c.nodes[0].Put([]byte(fmt.Sprint("k", i)), []byte("v")))
	}
	applied := c.nodes[0].Applied()
	c.stop(0)
	c.start(0, true)
	c.waitLeader()
	require.GreaterOrEqual(t, c.nodes[0].Applied(), applied)
	ok, err := c.nodes[0].AddIfAbsent([]byte("k7"), []byte("w"))
	require.NoError(t, err)
	require.True(t, ok)
	v, err := c.nodes[0].Get([]byte("k7"), Linearizable)
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
}

// A static cluster: every node bootstraps with the same Peers.
func TestStaticPeers(t *testing.T) {
	addrs := map[string]string{}
	var ports []net.Listener
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ports = append(ports, ln)
		addrs[fmt.Sprint("s", i)] = ln.Addr().String()
	}
	for _, ln := range ports {
		ln.Close()
	}
	var nodes []*Node
	for i := range 3 {
		id := fmt.Sprint("s", i)
		n, err := Open(Config{ID: id, Dir: filepath.Join(t.TempDir(), id), RaftAddr: addrs[id], Bootstrap: true,
			Peers: addrs, LogOutput: io.Discard, Raft: fastRaft})
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		nodes = append(nodes, n)
	}
	leader, err := nodes[0].WaitLeader(10 * time.Second)
	require.NoError(t, err)
	var ln *Node
	for _, n := range nodes {
		if n.ID() == leader {
			ln = n
		}
	}
	require.NotNil(t, ln)
	require.Eventually(t, func() bool { return ln.IsLeader() }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, ln.Put([]byte("k"), []byte("v")))
	for _, n := range nodes {
		require.Eventually(t, func() bool {
			v, err := n.Get([]byte("k"), Stale)
			return err == nil && string(v) == "v"
		}, 10*time.Second, 10*time.Millisecond, n.ID())
	}
	_, err = Open(Config{ID: "x", Dir: t.TempDir(), RaftAddr: "127.0.0.1:0", Bootstrap: true, Peers: addrs})
	require.ErrorIs(t, err, ErrConfig)
}
