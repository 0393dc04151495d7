package raftlog_test

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/bench"
)

// conformance steps run on raftlog and on the two incumbents, raft-wal
// and raft-boltdb, with a reopen after every step: a disagreement with
// them shows as a failure on raftlog's row only.
type confStep struct {
	name          string
	store         [2]uint64 // StoreLogs of these entries
	del           [2]uint64 // DeleteRange
	first, last   uint64    // then FirstIndex and LastIndex
	present, gone []uint64  // GetLog finds these, and not these (exactly ErrLogNotFound)
}

var confSteps = []confStep{
	{name: "empty", gone: []uint64{0, 1}},
	{name: "append", store: [2]uint64{1, 100}, first: 1, last: 100, present: []uint64{1, 50, 100}, gone: []uint64{0, 101}},
	{name: "head delete", del: [2]uint64{1, 40}, first: 41, last: 100, present: []uint64{41, 100}, gone: []uint64{1, 40}},
	{name: "tail delete", del: [2]uint64{91, 100}, first: 41, last: 90, present: []uint64{41, 90}, gone: []uint64{91, 100}},
	{name: "append after tail delete", store: [2]uint64{91, 120}, first: 41, last: 120, present: []uint64{91, 120}},
	{name: "delete all", del: [2]uint64{41, 120}, gone: []uint64{41, 120}},
	{name: "restart after a snapshot", store: [2]uint64{500, 510}, first: 500, last: 510, present: []uint64{500, 510}, gone: []uint64{41, 499}},
}

func TestConformance(t *testing.T) {
	for _, st := range bench.RaftStores() {
		t.Run(st.Name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := st.Open(dir)
			require.NoError(t, err)
			defer func() { _ = s.Close() }()
			for _, step := range confSteps {
				switch {
				case step.store != [2]uint64{}:
					var logs []*raft.Log
					for i := step.store[0]; i <= step.store[1]; i++ {
						logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte{byte(i)}})
					}
					require.NoError(t, s.StoreLogs(logs), step.name)
				case step.del != [2]uint64{}:
					require.NoError(t, s.DeleteRange(step.del[0], step.del[1]), step.name)
				}
				for pass := range 2 { // before and after a reopen
					first, err := s.FirstIndex()
					require.NoError(t, err)
					last, err := s.LastIndex()
					require.NoError(t, err)
					require.Equal(t, [2]uint64{step.first, step.last}, [2]uint64{first, last}, "%s, pass %d", step.name, pass)
					var l raft.Log
					for _, i := range step.present {
						require.NoError(t, s.GetLog(i, &l), "%s: entry %d", step.name, i)
						require.Equal(t, []byte{byte(i)}, l.Data)
					}
					for _, i := range step.gone {
						if st.Name == "raft-wal" && i < first {
							// raft-wal still answers reads below its
							// first index from a segment it keeps.
							continue
						}
						err := s.GetLog(i, &l)
						require.True(t, errors.Is(err, raft.ErrLogNotFound), "%s: entry %d: %v", step.name, i, err)
					}
					require.NoError(t, s.Close())
					s, err = st.Open(dir)
					require.NoError(t, err)
				}
			}
		})
	}
}
