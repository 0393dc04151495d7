package replica

import (
	"fmt"

	"github.com/hashicorp/raft"
)

// Status is a node's view of the cluster (simplekvd's GET /status).
type Status struct {
	ID          string `json:"id"`
	State       string `json:"state"` // Leader, Follower, Candidate or Shutdown
	LeaderID    string `json:"leader_id"`
	LeaderAddr  string `json:"leader_addr"`
	LeaderAPI   string `json:"leader_api,omitempty"`
	Term        uint64 `json:"term"`
	LastIndex   uint64 `json:"last_index"`
	CommitIndex uint64 `json:"commit_index"`
	// AppliedIndex is the last entry this node's store holds; raft's
	// no-op and barrier entries are not stored, so it may trail
	// CommitIndex by those.
	AppliedIndex uint64 `json:"applied_index"`
	Peers        []Peer `json:"peers"`
}

// Peer is one member of the raft configuration.
type Peer struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Voter    bool   `json:"voter"`
	API      string `json:"api,omitempty"`
	IsLeader bool   `json:"leader"`
}

// Status reports the node's view of the cluster.
func (n *Node) Status() (Status, error) {
	addr, id := n.raft.LeaderWithID()
	st := Status{
		ID: n.cfg.ID, State: n.raft.State().String(),
		LeaderID: string(id), LeaderAddr: string(addr),
		Term: n.raft.CurrentTerm(), LastIndex: n.raft.LastIndex(),
		CommitIndex: n.raft.CommitIndex(), AppliedIndex: n.fsm.Applied(),
	}
	if id != "" {
		st.LeaderAPI = n.Member(string(id))
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return st, fmt.Errorf("replica: configuration: %w", err)
	}
	for _, s := range f.Configuration().Servers {
		st.Peers = append(st.Peers, Peer{ID: string(s.ID), Addr: string(s.Address),
			Voter: s.Suffrage == raft.Voter, API: n.Member(string(s.ID)), IsLeader: s.ID == id})
	}
	return st, nil
}
