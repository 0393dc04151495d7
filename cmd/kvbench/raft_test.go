package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRaftWorkloads(t *testing.T) {
	defer func(b uint64) { raftBurst = b }(raftBurst)
	raftBurst = 3000
	rc, out, stderr, rep := runOut(t, tinyArgs("-workloads", "raft-append,raft-append-truncated,raft-cluster", "-duration", "300ms")...)
	require.Equal(t, exitOK, rc, "stdout:\n%s\nstderr:\n%s", out, stderr)
	t.Logf("output:\n%s", out)
	for _, w := range []string{wRaftAppend, wRaftTruncated} {
		for _, store := range []string{simplekvName, "raft-wal", "raft-boltdb"} {
			r := result(t, rep, w, store)
			require.Positive(t, r.Ops, "%s %s", w, store)
			// The stores take turns: each stores as many entries.
			require.Equal(t, result(t, rep, w, simplekvName).Ops, r.Ops, "%s %s", w, store)
			require.NotNil(t, r.Latency)
			require.GreaterOrEqual(t, r.Latency.P99, r.Latency.P50)
			require.Contains(t, r.VsBestPeer, metricOpsBolt.key)
		}
		// The truncated run compares each store with its fresh one.
		if w == wRaftTruncated {
			require.Positive(t, result(t, rep, w, simplekvName).Extra["vs_before_truncation"])
		}
	}
	cl := result(t, rep, wRaftCluster, simplekvName)
	require.Positive(t, cl.Ops)
	require.Equal(t, 3.0, cl.Extra["nodes"])
	var goals int
	for _, row := range rep.Summary {
		if row.Workload == wRaftCluster || row.Workload == wRaftAppend || row.Workload == wRaftTruncated {
			if row.Goal != "" {
				goals++
				require.NotEqual(t, naText, row.Met, "%s %s", row.Workload, row.Figure)
			}
		}
	}
	require.Equal(t, 5, goals)
}
