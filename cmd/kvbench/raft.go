package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/simplekv/simplekv/bench"
	"github.com/simplekv/simplekv/replica"
)

// The raft workloads compare raft log stores (bench.RaftStores) and run a
// replicated cluster; simplekv's raftlog is the "simplekv" row.
const (
	wRaftAppend    = "raft-append"
	wRaftTruncated = "raft-append-truncated"
	wRaftCluster   = "raft-cluster"
)

// Sizes of the raft workloads: entries like a small replicated Put,
// raft-append-truncated's burst, and what its head delete keeps.
// (raftBurst is a variable for the tests.)
const (
	raftEntrySize = 128
	raftBurstKeep = 1024
)

var raftBurst uint64 = 300_000

// raftRowName is the row of a raft log store: raftlog is simplekv's.
func raftRowName(store string) string {
	if store == "raftlog" {
		return simplekvName
	}
	return store
}

// runRaft runs the selected raft workloads, each store in a fresh
// directory under root/raft.
func (r *runner) runRaft() error {
	dir := filepath.Join(r.root, "raft")
	defer func() {
		if !r.keep {
			_ = os.RemoveAll(dir)
		}
	}()
	untruncated := map[string]float64{}
	for _, spec := range []struct {
		name  string
		burst bool
	}{{wRaftAppend, false}, {wRaftTruncated, true}} {
		if !selected(r.sel, spec.name) {
			continue
		}
		for _, st := range bench.RaftStores() {
			res, err := r.raftAppend(st, filepath.Join(dir, spec.name, st.Name), spec.burst)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", spec.name, st.Name, err)
			}
			if spec.burst {
				if before, ok := untruncated[st.Name]; ok && before > 0 {
					res.Extra["vs_before_truncation"] = res.OpsPerSec / before
					res.Notes += fmt.Sprintf("; %.2fx its raft-append ops/s", res.OpsPerSec/before)
				}
			} else {
				untruncated[st.Name] = res.OpsPerSec
			}
			r.addRow(raftRowName(st.Name), workloadByName(spec.name), res)
		}
	}
	if selected(r.sel, wRaftCluster) {
		res, err := r.raftCluster(filepath.Join(dir, wRaftCluster))
		if err != nil {
			return fmt.Errorf("%s: %w", wRaftCluster, err)
		}
		r.addRow(simplekvName, workloadByName(wRaftCluster), res)
	}
	return nil
}

// raftAppend times StoreLogs of one entry at a time, each durable when it
// returns, for -duration; with burst, after raftBurst entries were stored
// (in batches of 64, untimed) and all but the last raftBurstKeep deleted
// from the head, as raft does after a snapshot.
func (r *runner) raftAppend(st bench.RaftStore, dir string, burst bool) (res *Result, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s, err := st.Open(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := s.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	data := make([]byte, raftEntrySize)
	next := uint64(1)
	entry := func() *raft.Log {
		l := &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
		next++
		return l
	}
	name := st.Name + " " + wRaftAppend
	if burst {
		name = st.Name + " " + wRaftTruncated
		tr := newTracker(r.errw, r.progress, st.Name+" burst", int64(raftBurst))
		batch := make([]*raft.Log, 64)
		for next <= raftBurst {
			n := 0
			for n < len(batch) && next <= raftBurst {
				batch[n] = entry()
				n++
			}
			if err := s.StoreLogs(batch[:n]); err != nil {
				tr.finish()
				return nil, err
			}
			tr.add(int64(n))
		}
		tr.finish()
		if err := s.DeleteRange(1, raftBurst-raftBurstKeep); err != nil {
			return nil, fmt.Errorf("head delete: %w", err)
		}
	}
	settleDisk()
	one := make([]*raft.Log, 1)
	tr := newTimeTracker(r.errw, r.progress, name, r.o.Duration)
	ops, h, elapsed, err := runFor(1, r.o.Duration, func(int) (time.Duration, error) {
		one[0] = entry()
		t := time.Now()
		err := s.StoreLogs(one)
		return time.Since(t), err
	}, tr)
	tr.finish()
	if err != nil {
		return nil, err
	}
	if last, err := s.LastIndex(); err != nil || last != next-1 {
		return nil, fmt.Errorf("LastIndex = %d (%v) after entry %d", last, err, next-1)
	}
	res = newResult(st.Name, ops, elapsed, h)
	res.setMBps(ops * raftEntrySize)
	res.Extra = map[string]float64{}
	res.Notes = fmt.Sprintf("%s: StoreLogs of one %d-byte entry, durable on return", st.Name, raftEntrySize)
	if burst {
		res.Notes += fmt.Sprintf("; after %d entries and a head DeleteRange keeping %d", raftBurst, raftBurstKeep)
	}
	return res, nil
}

// raftCluster runs three replica.Nodes in this process on 127.0.0.1 with
// raft's default timeouts, and -writers clients Putting new keys through
// the leader for -duration; a Put returns once a majority has it durably
// in its log and the leader applied it.
func (r *runner) raftCluster(dir string) (res *Result, err error) {
	nodes := make([]*replica.Node, 3)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				err = errors.Join(err, n.Close())
			}
		}
	}()
	for i := range nodes {
		id := fmt.Sprint("n", i+1)
		n, err := replica.Open(replica.Config{ID: id, Dir: filepath.Join(dir, id), RaftAddr: "127.0.0.1:0",
			Bootstrap: i == 0, LogOutput: io.Discard})
		if err != nil {
			return nil, err
		}
		nodes[i] = n
		if i == 0 {
			if _, err := n.WaitLeader(30 * time.Second); err != nil {
				return nil, err
			}
			continue
		}
		if err := nodes[0].Join(id, n.RaftAddr(), ""); err != nil {
			return nil, err
		}
	}
	leader := nodes[0]
	writers := r.o.Writers
	var seq atomic.Uint64
	keys, vals := make([][]byte, writers), make([][]byte, writers)
	for g := range writers {
		keys[g], vals[g] = make([]byte, r.o.KeySize), make([]byte, r.o.ValueSize)
	}
	tr := newTimeTracker(r.errw, r.progress, "simplekv "+wRaftCluster, r.o.Duration)
	ops, h, elapsed, err := runFor(writers, r.o.Duration, func(g int) (time.Duration, error) {
		i := seq.Add(1)
		keys[g] = r.gen.Key(keys[g], i)
		vals[g] = r.gen.Value(vals[g], i, 0)
		t := time.Now()
		err := leader.Put(keys[g], vals[g])
		return time.Since(t), err
	}, tr)
	tr.finish()
	if err != nil {
		return nil, err
	}
	res = newResult(simplekvName, ops, elapsed, h)
	res.setMBps(ops * r.recordBytes())
	res.Extra = map[string]float64{"nodes": 3, "clients": float64(writers)}
	res.Notes = fmt.Sprintf("3 nodes on 127.0.0.1 (TCP transport, raftlog, raft defaults), %d clients Putting new keys through the leader", writers)
	return res, nil
}

// metricOpsBolt is ops/s compared with raft-boltdb's row, not the best
// peer's: the second raft-append goal.
var metricOpsBolt = &metric{key: "ops/s vs raft-boltdb", higher: true, get: metricOps.get, format: metricOps.format}
