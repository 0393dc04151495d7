package engine

// The fault sweep: the power-loss sweep's workload runs again and again,
// each time with one fault (ENOSPC, EIO or a short write) injected at one
// filesystem operation, for every operation index and fault kind. The
// engine must return the error to the caller, never panic, never serve or
// keep a value nobody wrote, refuse writes after a failed write or fsync,
// and reopen cleanly once the fault is gone — also after a power cut.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/simplekv/simplekv/internal/vfs"
)

// allowedVals is, per key, every state the key may be in: the state
// after its last acknowledged op, plus that of every op that failed after
// it (a failed write may or may not have reached the disk). nil = absent.
type allowedVals map[string][][]byte

func (a allowedVals) acked(k string, v []byte) { a[k] = [][]byte{v} }

// maybe adds the state of a failed op on k (a key never written before
// may also still be absent).
func (a allowedVals) maybe(k string, v []byte) {
	if _, ok := a[k]; !ok {
		a[k] = [][]byte{nil}
	}
	a[k] = append(a[k], v)
}

// check reports whether got (nil when absent) is allowed for k.
func (a allowedVals) check(k string, got []byte) bool {
	states, ok := a[k]
	if !ok {
		return got == nil
	}
	for _, s := range states {
		if (s == nil) == (got == nil) && bytes.Equal(s, got) {
			return true
		}
	}
	return false
}

// faultRun runs the workload with fault f at operation seq and returns a
// description of every broken promise.
func faultRun(ops []sweepOp, seq int, f vfs.Fault) (problems []string) {
	return faultRunWith(ops, vfs.AtOp(seq, f))
}

// faultRunWith runs the workload with faults from inj. A failed Open is
// retried until it succeeds (inj must let it, eventually).
func faultRunWith(ops []sweepOp, inj vfs.Injector) (problems []string) {
	defer func() {
		if r := recover(); r != nil {
			problems = append(problems, fmt.Sprintf("panic: %v", r))
		}
	}()
	mem := vfs.NewMem()
	ffs := vfs.NewFaultFS(mem, inj)
	opts := sweepOpts(ffs, true)
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	open := func() *DB {
		var err error
		for try := 0; try < 20; try++ {
			var db *DB
			if db, err = Open("/db", opts); err == nil {
				return db
			}
		}
		bad("open failed 20 times: %v", err)
		return nil
	}
	db := open()
	if db == nil {
		return problems
	}
	vals := allowedVals{}
	writeFailed := false // a write or sync failed: the DB must refuse writes
	for i, op := range ops {
		var err error
		var result []byte // the key's state if the op takes effect
		switch op.kind {
		case "put", "ttl-long":
			result = op.val
			if op.kind == "put" {
				err = db.Put([]byte(op.key), op.val)
			} else {
				err = db.PutWithTTL([]byte(op.key), op.val, time.Hour)
			}
		case "del", "ttl-expired":
			if op.kind == "del" {
				err = db.Delete([]byte(op.key))
			} else {
				err = db.PutWithTTL([]byte(op.key), op.val, time.Nanosecond)
			}
		case "batch":
			// Every key the batch writes ends in its last op's state, all
			// of them or (after a failure, maybe) none.
			err = db.Write(sweepBatch(db, op.batch))
			final := sweepModel{}
			for _, sub := range op.batch {
				final.apply(sub)
			}
			for _, sub := range op.batch {
				if err == nil {
					vals.acked(sub.key, final[sub.key])
				} else {
					vals.maybe(sub.key, final[sub.key])
				}
			}
			if err != nil {
				writeFailed = true
			} else if writeFailed {
				bad("step %d (batch): a write succeeded after a failed write or fsync", i)
			}
			for _, sub := range op.batch {
				if got, gerr := db.Get([]byte(sub.key)); gerr == nil || errors.Is(gerr, ErrNotFound) {
					if gerr != nil {
						got = nil
					}
					if !vals.check(sub.key, got) {
						bad("step %d: Get(%q) = %.20q after a batch, not a value written", i, sub.key, got)
					}
				}
			}
			continue
		case "compact", "merge":
			// No content change either way; its own fsyncs (sealing the
			// active file, syncing the log) fail like a write's.
			if err = db.Compact(); errors.Is(err, ErrWriteFailed) {
				writeFailed = true
			}
			continue
		case "reopen":
			_ = db.Close() // may report the fault; the DB is released anyway
			if db = open(); db == nil {
				return problems
			}
			writeFailed = false
			continue
		case "sync":
			if err = db.Sync(); err != nil {
				writeFailed = true
			}
			continue
		}
		if err == nil {
			if writeFailed {
				bad("step %d (%s %s): a write succeeded after a failed write or fsync", i, op.kind, op.key)
			}
			vals.acked(op.key, result)
		} else {
			writeFailed = true
			vals.maybe(op.key, result)
		}
		// Reads never return a value nobody wrote.
		if got, gerr := db.Get([]byte(op.key)); gerr == nil || errors.Is(gerr, ErrNotFound) {
			if gerr != nil {
				got = nil
			}
			if !vals.check(op.key, got) {
				bad("step %d: Get(%q) = %.20q, not a value written", i, op.key, got)
			}
		}
	}
	_ = db.Close()
	ffs.SetInjector(nil)
	// The fault is gone: the directory reopens, as it is and after a power
	// cut, with every acknowledged write (they were synced) and nothing else.
	for _, img := range []vfs.FS{mem, mem.CrashClone(nil)} {
		db, err := Open("/db", sweepOpts(img, true))
		if err != nil {
			bad("reopen after the fault: %v", err)
			continue
		}
		for k := range vals {
			got, err := db.Get([]byte(k))
			if err != nil && !errors.Is(err, ErrNotFound) {
				bad("reopened: Get(%q): %v", k, err)
				continue
			}
			if err != nil {
				got = nil
			}
			if !vals.check(k, got) {
				bad("reopened: key %q = %.20q, allowed %d states", k, got, len(vals[k]))
			}
		}
		if err := db.Close(); err != nil {
			bad("close after reopen: %v", err)
		}
	}
	return problems
}

// TestFaultSweep injects every fault kind at every operation index of the
// workload. SIMPLEKV_FAULT_STEPS sets the workload length (make sweep).
func TestFaultSweep(t *testing.T) {
	steps := 120
	if s := os.Getenv("SIMPLEKV_FAULT_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("SIMPLEKV_FAULT_STEPS=%q", s)
		}
		steps = n
	} else if testing.Short() {
		steps = 40
	}
	ops := sweepWorkload(1, steps)
	// Count the operations of a clean run.
	probe := vfs.NewFaultFS(vfs.NewMem(), nil)
	db, err := Open("/db", sweepOpts(probe, true))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		switch op.kind {
		case "put", "ttl-long":
			err = db.Put([]byte(op.key), op.val)
		case "del", "ttl-expired":
			err = db.Delete([]byte(op.key))
		case "compact", "merge":
			err = db.Compact()
		case "reopen":
			if err = db.Close(); err == nil {
				db, err = Open("/db", sweepOpts(probe, true))
			}
		case "sync":
			err = db.Sync()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()
	n := probe.OpCount() + 20 // TTL puts and failure paths may add a few
	runs, failed := 0, 0
	for _, f := range []vfs.Fault{vfs.FaultENOSPC, vfs.FaultEIO, vfs.FaultShortWrite} {
		for seq := 1; seq <= n; seq++ {
			runs++
			if problems := faultRun(ops, seq, f); len(problems) > 0 {
				failed++
				if failed <= 10 {
					t.Errorf("%v at operation %d: %v", f, seq, problems)
				}
			}
		}
	}
	t.Logf("%d runs (%d operations × 3 fault kinds, %d workload steps), %d with broken promises", runs, n, steps, failed)
}

// TestRandomFaults runs the workload with faults of every kind injected at
// random (seeded) into about 2% of all filesystem operations, many times:
// the same promises as the sweep, with many faults per run.
func TestRandomFaults(t *testing.T) {
	ops := sweepWorkload(2, 150)
	runs := 60
	if testing.Short() {
		runs = 10
	}
	failed := 0
	for seed := range runs {
		for _, f := range []vfs.Fault{vfs.FaultENOSPC, vfs.FaultEIO, vfs.FaultShortWrite} {
			if problems := faultRunWith(ops, vfs.Random(uint64(seed), 0.02, f)); len(problems) > 0 {
				failed++
				if failed <= 5 {
					t.Errorf("seed %d, %v: %v", seed, f, problems)
				}
			}
		}
	}
	t.Logf("%d runs with random faults, %d with broken promises", runs*3, failed)
}
