package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simplekv/simplekv/replica"
)

// NodeCollector returns a collector of a node's raft position and its
// store's size (simplekvd_*), for New.
func NodeCollector(n *replica.Node) prometheus.Collector { return newNodeCollector(n) }

// nodeCollector exports a node's raft position and its store's size.
type nodeCollector struct {
	n                                              *replica.Node
	leader, term, last, commit, applied, keys, dsk *prometheus.Desc
}

func newNodeCollector(n *replica.Node) *nodeCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc("simplekvd_"+name, help, nil, nil) }
	return &nodeCollector{n: n,
		leader:  d("is_leader", "1 while this node is the leader."),
		term:    d("raft_term", "The current raft term."),
		last:    d("raft_last_index", "The last index in this node's raft log."),
		commit:  d("raft_commit_index", "The commit index this node knows."),
		applied: d("applied_index", "The last entry this node's store holds."),
		keys:    d("keys", "Keys in this node's store."),
		dsk:     d("disk_bytes", "Bytes of this node's store's data and hint files."),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leader, c.term, c.last, c.commit, c.applied, c.keys, c.dsk} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.n.Raft()
	leader := 0.0
	if c.n.IsLeader() {
		leader = 1
	}
	st := c.n.EngineStats()
	for d, v := range map[*prometheus.Desc]float64{
		c.leader: leader, c.term: float64(r.CurrentTerm()), c.last: float64(r.LastIndex()),
		c.commit: float64(r.CommitIndex()), c.applied: float64(c.n.Applied()),
		c.keys: float64(st.Keys), c.dsk: float64(st.DiskBytes),
	} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
}
