package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
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
		stores := bench.RaftStores()
		results, err := r.raftAppend(stores, filepath.Join(dir, spec.name), spec.burst)
		if err != nil {
			return fmt.Errorf("%s: %w", spec.name, err)
		}
		for i, st := range stores {
			res := results[i]
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
// returns, on every store in turn: the stores take turns entry by entry,
// in an order that rotates each round, so that all of them meet the same
// moments of this shared disk. (Run one after another for -duration each,
// the disk's drift over those seconds decided races of a few percent
// either way.) The run lasts -duration per store; a store's ops/s is its
// entries over the time spent in its own calls. With burst, each store
// first stores raftBurst entries (in batches of 64, untimed) and deletes
// all but the last raftBurstKeep from the head, as raft does after a
// snapshot.
func (r *runner) raftAppend(stores []bench.RaftStore, dir string, burst bool) (_ []*Result, err error) {
	type side struct {
		st   bench.RaftStore
		s    bench.RaftLogStore
		next uint64
		h    *hdrhistogram.Histogram
		busy time.Duration
		ops  int64
	}
	sides := make([]*side, 0, len(stores))
	defer func() {
		for _, sd := range sides {
			if cerr := sd.s.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("%s: %w", sd.st.Name, cerr)
			}
		}
	}()
	for _, st := range stores {
		d := filepath.Join(dir, st.Name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		s, err := st.Open(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.Name, err)
		}
		sides = append(sides, &side{st: st, s: s, next: 1, h: newHist()})
	}
	data := make([]byte, raftEntrySize)
	entry := func(sd *side) *raft.Log {
		l := &raft.Log{Index: sd.next, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
		sd.next++
		return l
	}
	name := wRaftAppend
	if burst {
		name = wRaftTruncated
		for _, sd := range sides {
			if err := r.raftBurst(sd.s, sd.st.Name, func() *raft.Log { return entry(sd) }); err != nil {
				return nil, fmt.Errorf("%s: %w", sd.st.Name, err)
			}
		}
	}
	settleDisk()
	total := r.o.Duration * time.Duration(len(sides))
	tr := newTimeTracker(r.errw, r.progress, name, total)
	one := make([]*raft.Log, 1)
	start := time.Now()
	for round := 0; round == 0 || time.Since(start) < total; round++ {
		for k := range sides {
			sd := sides[(round+k)%len(sides)]
			one[0] = entry(sd)
			t := time.Now()
			if err := sd.s.StoreLogs(one); err != nil {
				tr.finish()
				return nil, fmt.Errorf("%s: %w", sd.st.Name, err)
			}
			lat := time.Since(t)
			record(sd.h, lat)
			sd.busy += lat
			sd.ops++
		}
	}
	tr.finish()
	results := make([]*Result, len(sides))
	for i, sd := range sides {
		if last, err := sd.s.LastIndex(); err != nil || last != sd.next-1 {
			return nil, fmt.Errorf("%s: LastIndex = %d (%v) after entry %d", sd.st.Name, last, err, sd.next-1)
		}
		res := newResult(sd.st.Name, sd.ops, sd.busy, sd.h)
		res.setMBps(sd.ops * raftEntrySize)
		res.Extra = map[string]float64{}
		res.Notes = fmt.Sprintf("%s: StoreLogs of one %d-byte entry, durable on return, in turns with the other stores", sd.st.Name, raftEntrySize)
		if burst {
			res.Notes += fmt.Sprintf("; after %d entries and a head DeleteRange keeping %d", raftBurst, raftBurstKeep)
		}
		results[i] = res
	}
	return results, nil
}

// raftBurst stores raftBurst entries from next in batches of 64, then
// deletes all but the last raftBurstKeep from the head.
func (r *runner) raftBurst(s bench.RaftLogStore, name string, next func() *raft.Log) error {
	tr := newTracker(r.errw, r.progress, name+" burst", int64(raftBurst))
	defer tr.finish()
	batch := make([]*raft.Log, 64)
	for stored := uint64(0); stored < raftBurst; {
		n := 0
		for n < len(batch) && stored < raftBurst {
			batch[n] = next()
			n++
			stored++
		}
		if err := s.StoreLogs(batch[:n]); err != nil {
			return err
		}
		tr.add(int64(n))
	}
	if err := s.DeleteRange(1, raftBurst-raftBurstKeep); err != nil {
		return fmt.Errorf("head delete: %w", err)
	}
	return nil
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
