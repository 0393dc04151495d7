package simplekv

import (
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/plugin/filter"
	"github.com/simplekv/simplekv/plugin/kv"
	"github.com/simplekv/simplekv/replica"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// replicatedYAML is node id's simple_kv section of a static 3-node cluster.
func replicatedYAML(dir, id string, raft, api map[string]string) string {
	return fmt.Sprintf(`simple_kv:
  path: %s
  replication:
    node_id: %s
    raft_addr: %s
    api_addr: %s
    read_consistency: linearizable
    peers:
      n1: %s
      n2: %s
      n3: %s
`, filepath.Join(dir, id), id, raft[id], api[id], raft["n1"], raft["n2"], raft["n3"])
}

// TestReplicatedPlugin runs three simple_kv modules of one cluster (one
// behind the registries, the others used directly, as the registries
// hold one store per process) and checks that every node serves the same
// data, whichever node takes the write, and that CheckThenAdd is atomic
// across the cluster.
func TestReplicatedPlugin(t *testing.T) {
	dir := t.TempDir()
	raft, api := map[string]string{}, map[string]string{}
	for _, id := range []string{"n1", "n2", "n3"} {
		raft[id], api[id] = freeAddr(t), freeAddr(t)
	}
	stores := map[string]*Store{}
	var mods []*Module
	for _, id := range []string{"n1", "n2", "n3"} {
		cfg, err := ParseConfig([]byte(replicatedYAML(dir, id, raft, api)))
		require.NoError(t, err)
		m := New(cfg)
		if id == "n1" {
			require.NoError(t, m.Setup())
			t.Cleanup(func() { require.NoError(t, m.Stop()) })
			stores[id] = m.Store()
		} else {
			// The registries hold one store per process: the other
			// members run without them.
			require.NoError(t, m.openNode(cfg.Replication))
			t.Cleanup(func() { require.NoError(t, m.closeNode()) })
			stores[id] = newStore(&replicatedBackend{n: m.node, cons: replica.Linearizable}, cfg.userMaxKeySize()-1)
		}
		mods = append(mods, m)
	}
	_, err := mods[0].Node().WaitLeader(15 * time.Second)
	require.NoError(t, err)
	// Every node's API address is recorded, so followers can forward.
	for _, m := range mods {
		require.Eventually(t, func() bool {
			for _, id := range []string{"n1", "n2", "n3"} {
				if m.node.Member(id) != "http://"+api[id] {
					return false
				}
			}
			return true
		}, 20*time.Second, 20*time.Millisecond)
	}

	// Writes through the registries and through each node.
	require.NoError(t, kv.AddValue("users", []byte("42"), []byte("ada")))
	for id, s := range stores {
		require.NoError(t, s.AddValue("by", []byte(id), []byte("v-"+id)), id)
		require.NoError(t, s.WriteBatch("batch", []kv.BatchOp{{Key: []byte(id + "a"), Value: []byte("1")}, {Key: []byte(id + "b"), Value: []byte("2"), TTL: time.Hour}}))
	}
	for id, s := range stores {
		v, err := s.GetValue("users", []byte("42"))
		require.NoError(t, err, id)
		require.Equal(t, "ada", string(v), id)
		for other := range stores {
			v, err := s.GetValue("by", []byte(other))
			require.NoError(t, err)
			require.Equal(t, "v-"+other, string(v), "%s reads %s's write", id, other)
		}
	}

	// CheckThenAdd from every node at once: exactly one first.
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for _, s := range stores {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				seen, err := s.Filter().CheckThenAdd("tokens", []byte("t1"))
				require.NoError(t, err)
				if !seen {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	require.Equal(t, 1, firsts)
	require.True(t, filter.Exists("tokens", []byte("t1")))

	// DeleteBucket on a follower or the leader empties the bucket everywhere.
	// It is one replicated prefix delete (n2 forwards it if it is not the leader):
	// a write after it stays, and other buckets are not touched.
	require.NoError(t, stores["n2"].DeleteBucket("by"))
	require.NoError(t, stores["n3"].AddValue("by", []byte("later"), []byte("v")))
	for id, s := range stores {
		for other := range stores {
			ok, err := s.ExistsKey("by", []byte(other))
			require.NoError(t, err, id)
			require.False(t, ok, "%s still has %s's key", id, other)
		}
		v, err := s.GetValue("by", []byte("later"))
		require.NoError(t, err, id)
		require.Equal(t, "v", string(v), id)
		v, err = s.GetValue("batch", []byte("n1a"))
		require.NoError(t, err, id)
		require.Equal(t, "1", string(v), id)
	}
	require.ErrorIs(t, mods[0].Checkpoint(filepath.Join(dir, "cp")), kv.ErrNotSupported)
	_, err = stores["n3"].GetValue("missing", []byte("x"))
	require.NoError(t, err)
	require.ErrorIs(t, stores["n3"].AddValue("b", nil, []byte("v")), engine.ErrEmptyKey)
}

func TestParseReplication(t *testing.T) {
	cfg, err := ParseConfig([]byte(`simple_kv:
  replication:
    node_id: a
    raft_addr: 127.0.0.1:7001
    join: 127.0.0.1:8001
    read_consistency: stale
`))
	require.NoError(t, err)
	require.Equal(t, &ReplicationConfig{NodeID: "a", RaftAddr: "127.0.0.1:7001", Join: "127.0.0.1:8001",
		ReadConsistency: replica.Stale}, cfg.Replication)
	for name, in := range map[string]string{
		"no node id":       "raft_addr: x\n    bootstrap: true",
		"none of three":    "node_id: a\n    raft_addr: x",
		"two of three":     "node_id: a\n    raft_addr: x\n    bootstrap: true\n    join: y",
		"peers without me": "node_id: a\n    raft_addr: x\n    peers:\n      b: y",
		"bad consistency":  "node_id: a\n    raft_addr: x\n    bootstrap: true\n    read_consistency: eventual",
		"unknown key":      "node_id: a\n    raft_addr: x\n    bootstrap: true\n    leader: yes",
	} {
		_, err := ParseConfig([]byte("simple_kv:\n  replication:\n    " + in + "\n"))
		require.ErrorIs(t, err, ErrConfig, name)
	}
}
