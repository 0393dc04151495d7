package raftlog

// The fault sweep: a script of appends (across segment rotations), a
// stable-store write, a head delete, a tail delete and appends over the
// cut runs once per filesystem operation and fault kind (ENOSPC, EIO, a
// short write), with that one operation failing. The store must return
// the error, never lose an acknowledged entry or show one nobody
// appended, and reopen cleanly, also after a power cut right after the
// failure.

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/simplekv/simplekv/internal/vfs"
)

// sweepEntry is entry i of version v (the entries stored again after a
// tail delete differ from those they replace).
func sweepEntry(i uint64, v int) *raft.Log {
	l := entry(i)
	l.Data = fmt.Appendf(l.Data, "-v%d", v)
	return l
}

// sweepStep is one call of the script.
type sweepStep struct {
	store    [2]uint64 // StoreLogs of these entries (inclusive)
	version  int
	del      [2]uint64 // DeleteRange
	setTerm  uint64    // SetUint64("CurrentTerm", setTerm)
	describe string
}

var sweepScript = func() []sweepStep {
	var s []sweepStep
	for i := uint64(1); i <= 30; i += 5 {
		s = append(s, sweepStep{store: [2]uint64{i, i + 4}, describe: fmt.Sprintf("store %d-%d", i, i+4)})
	}
	s = append(s,
		sweepStep{setTerm: 3, describe: "set term"},
		sweepStep{del: [2]uint64{1, 12}, describe: "head delete 1-12"},
		sweepStep{store: [2]uint64{31, 35}, describe: "store 31-35"},
		sweepStep{del: [2]uint64{33, 35}, describe: "tail delete 33-35"},
		sweepStep{store: [2]uint64{33, 40}, version: 1, describe: "store 33-40 again"},
	)
	return s
}()

// sweepModel is what the log may hold: for each index, the data it must
// or may have. An index in must is present with that data; one in may
// (only) may be absent or hold one of the alternatives.
type sweepModel struct {
	must map[uint64][]byte
	may  map[uint64][][]byte
	term []uint64 // the stable term's allowed values
}

func newSweepModel() *sweepModel {
	return &sweepModel{must: map[uint64][]byte{}, may: map[uint64][][]byte{}, term: []uint64{0}}
}

// apply records step's effect: acked says whether it returned nil.
func (m *sweepModel) apply(st sweepStep, acked bool) {
	switch {
	case st.store != [2]uint64{}:
		for i := st.store[0]; i <= st.store[1]; i++ {
			d := sweepEntry(i, st.version).Data
			if acked {
				m.must[i] = d
				delete(m.may, i)
			} else {
				m.may[i] = append(m.may[i], d)
			}
		}
	case st.del != [2]uint64{}:
		for i := st.del[0]; i <= st.del[1]; i++ {
			if d, ok := m.must[i]; ok && !acked {
				m.may[i] = append(m.may[i], d)
			}
			delete(m.must, i)
			if acked {
				delete(m.may, i)
			}
		}
	case st.setTerm != 0:
		if acked {
			m.term = []uint64{st.setTerm}
		} else {
			m.term = append(m.term, st.setTerm)
		}
	}
}

// check compares a reopened store with the model.
func (m *sweepModel) check(s *Store) error {
	first, err := s.FirstIndex()
	if err != nil {
		return err
	}
	last, err := s.LastIndex()
	if err != nil {
		return err
	}
	for i, want := range m.must {
		if i < first || i > last {
			return fmt.Errorf("acknowledged entry %d missing (log is %d-%d)", i, first, last)
		}
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if !bytes.Equal(got.Data, want) {
			return fmt.Errorf("entry %d holds %q, want %q", i, got.Data, want)
		}
	}
	for i := first; i <= last && last != 0; i++ {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil {
			return fmt.Errorf("entry %d inside %d-%d: %w", i, first, last, err)
		}
		if _, ok := m.must[i]; ok {
			continue
		}
		okAlt := false
		for _, d := range m.may[i] {
			okAlt = okAlt || bytes.Equal(d, got.Data)
		}
		if !okAlt {
			return fmt.Errorf("entry %d = %q, which no one appended there", i, got.Data)
		}
	}
	term, err := s.GetUint64([]byte("CurrentTerm"))
	if err != nil {
		return err
	}
	for _, t := range m.term {
		if t == term {
			return nil
		}
	}
	return fmt.Errorf("term %d, want one of %v", term, m.term)
}

// appendNext appends one more entry to r, reopens it and checks the
// model (with the entry) again. It closes r.
func appendNext(r *Store, fsys vfs.FS, m *sweepModel) error {
	last, err := r.LastIndex()
	if err != nil {
		return err
	}
	next := sweepEntry(last+1, 9)
	if err := r.StoreLogs([]*raft.Log{next}); err != nil {
		return fmt.Errorf("append %d after reopen: %w", last+1, err)
	}
	if err := r.Close(); err != nil {
		return err
	}
	r2, err := Open("/log", sweepOpts(fsys))
	if err != nil {
		return fmt.Errorf("reopen after append: %w", err)
	}
	defer r2.Close()
	m2 := &sweepModel{must: map[uint64][]byte{last + 1: next.Data}, may: m.may, term: m.term}
	for i, d := range m.must {
		m2.must[i] = d
	}
	return m2.check(r2)
}

func runStep(s *Store, st sweepStep) error {
	switch {
	case st.store != [2]uint64{}:
		var logs []*raft.Log
		for i := st.store[0]; i <= st.store[1]; i++ {
			logs = append(logs, sweepEntry(i, st.version))
		}
		return s.StoreLogs(logs)
	case st.del != [2]uint64{}:
		return s.DeleteRange(st.del[0], st.del[1])
	}
	return s.SetUint64([]byte("CurrentTerm"), st.setTerm)
}

// sweepOpts makes segments small, so that the script rotates them.
func sweepOpts(fs vfs.FS) Options { return Options{FS: fs, SegmentSize: 512} }

// faultRun runs the script with inj and returns what went wrong.
func faultRun(inj vfs.Injector, seed int64) error {
	mem := vfs.NewMem()
	ffs := vfs.NewFaultFS(mem, inj)
	m := newSweepModel()
	s, err := Open("/log", sweepOpts(ffs))
	failedAt := -1
	if err == nil {
		// The script goes on after a failure, as raft would retry, until
		// the store refuses everything.
		for i, st := range sweepScript {
			before, _ := s.LastIndex()
			serr := runStep(s, st)
			m.apply(st, serr == nil)
			if serr != nil && !errors.Is(serr, ErrClosed) {
				// Retried once, as raft would send the entries again.
				serr = runStep(s, st)
				m.apply(st, serr == nil)
			}
			if serr == nil {
				continue
			}
			if failedAt < 0 {
				failedAt = i
			}
			if errors.Is(serr, ErrClosed) {
				break
			}
			if st.store != [2]uint64{} {
				// Nothing of a failed StoreLogs is in the log.
				if after, lerr := s.LastIndex(); lerr == nil && after != before {
					return fmt.Errorf("%s failed (%v), but the last index moved from %d to %d", st.describe, serr, before, after)
				}
			}
		}
	}
	// A power cut now: only what was synced survives.
	cut := mem.CrashClone(rand.New(rand.NewSource(seed)))
	if s != nil {
		_ = s.Close()
	}
	for name, fsys := range map[string]*vfs.MemFS{"after close": mem, "after a power cut": cut} {
		r, err := Open("/log", sweepOpts(fsys))
		if err != nil {
			return fmt.Errorf("%s: reopen: %w", name, err)
		}
		cerr := m.check(r)
		if cerr == nil {
			// The reopened log takes the next entry and keeps it.
			cerr = appendNext(r, fsys, m)
		}
		_ = r.Close()
		if cerr != nil {
			step := "none"
			if failedAt >= 0 {
				step = sweepScript[failedAt].describe
			}
			return fmt.Errorf("%s (failed step: %s): %w", name, step, cerr)
		}
	}
	return nil
}

func TestFaultSweep(t *testing.T) {
	// The clean run's operation count bounds the sweep.
	count := vfs.NewFaultFS(vfs.NewMem(), vfs.AtOp(-1, vfs.FaultNone))
	s, err := Open("/log", sweepOpts(count))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sweepScript {
		if err := runStep(s, st); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ops := count.OpCount()
	if err := faultRun(vfs.AtOp(-1, vfs.FaultNone), 1); err != nil {
		t.Fatalf("no fault: %v", err)
	}
	injected := 0
	for seq := 1; seq <= ops; seq++ {
		for _, f := range []vfs.Fault{vfs.FaultENOSPC, vfs.FaultEIO, vfs.FaultShortWrite} {
			inj := vfs.AtOp(seq, f)
			if err := faultRun(inj, int64(seq)); err != nil {
				t.Errorf("fault %v at op %d: %v", f, seq, err)
			}
			injected++
		}
	}
	t.Logf("%d operations, %d runs", ops, injected)
	if ops < 50 {
		t.Fatalf("only %d operations: the script does not exercise the store", ops)
	}
}
