package engine

// The power-loss sweep: one seeded workload of puts, overwrites, deletes,
// TTL puts, compactions, partial merges and reopens runs on the in-memory
// filesystem, and before every one of its filesystem operations the test
// takes the image a power cut at that instant would leave (strict: unsynced
// data and directory entries gone; and torn: a random prefix of unsynced
// data kept), opens it, and checks it against the model.

import (
	"bytes"
	"errors"
	"fmt"
	mrand "math/rand"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/simplekv/simplekv/internal/vfs"
)

// sweepOp is one step of the workload.
type sweepOp struct {
	kind  string // put, del, ttl-expired, ttl-long, batch, compact, merge, reopen, sync
	key   string
	val   []byte
	batch []sweepOp // a batch's operations (put, del, ttl-expired, ttl-long)
}

// sweepWorkload returns a deterministic workload of n steps over a small
// key space (so keys are overwritten and deleted across many files).
func sweepWorkload(seed uint64, n int) []sweepOp {
	r := rand.New(rand.NewPCG(seed, 99))
	ops := make([]sweepOp, 0, n)
	keyVal := func(i, sub int) (string, []byte) {
		key := fmt.Sprintf("k%02d", r.IntN(48))
		val := make([]byte, 20+r.IntN(180))
		for j := range val {
			val[j] = byte(r.Uint32())
		}
		if r.IntN(4) == 0 { // compressible
			val = bytes.Repeat([]byte{byte(i)}, len(val))
		}
		copy(val, fmt.Sprintf("%s/%d.%d/", key, i, sub))
		return key, val
	}
	writeKind := func(p int) string {
		switch {
		case p < 58:
			return "put"
		case p < 72:
			return "del"
		case p < 80:
			return "ttl-expired"
		}
		return "ttl-long"
	}
	for i := 0; i < n; i++ {
		key, val := keyVal(i, 0)
		var kind string
		var batch []sweepOp
		switch p := r.IntN(100); {
		case p < 80:
			kind = writeKind(p * 86 / 80)
		case p < 86:
			// A batch: mostly a few operations, sometimes one that
			// outgrows the write buffer and a data file (written alone).
			kind = "batch"
			size := 1 + r.IntN(6)
			if r.IntN(4) == 0 {
				size = 20 + r.IntN(20)
			}
			for j := range size {
				k, v := keyVal(i, j)
				batch = append(batch, sweepOp{kind: writeKind(r.IntN(86)), key: k, val: v})
			}
		case p < 89:
			kind = "compact"
		case p < 92:
			kind = "merge"
		case p < 94:
			kind = "reopen"
		default:
			kind = "sync"
		}
		ops = append(ops, sweepOp{kind: kind, key: key, val: val, batch: batch})
	}
	return ops
}

// sweepModel is the expected content: key -> value (absent = deleted or
// expired).
type sweepModel map[string][]byte

func (m sweepModel) apply(op sweepOp) {
	switch op.kind {
	case "put", "ttl-long":
		m[op.key] = op.val
	case "del", "ttl-expired":
		delete(m, op.key)
	case "batch":
		for _, sub := range op.batch {
			m.apply(sub)
		}
	}
}

func (m sweepModel) clone() sweepModel {
	c := make(sweepModel, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// sweepRun runs the workload on fsys, calling hook (through the op hook)
// before every filesystem operation with the state of the workload.
type sweepState struct {
	acked    sweepModel // after every acknowledged op
	inflight *sweepOp   // the op running now, if it changes content
	// durable is, without SyncWrites, the model as of the last point
	// everything was synced (Sync, Compact, merge, reopen).
	durable sweepModel
	// since lists every model state between durable and acked, for the
	// prefix check without SyncWrites.
	since []sweepModel
}

func sweepOpts(fsys vfs.FS, syncWrites bool) Options {
	o := Options{FS: fsys, SyncWrites: syncWrites, MaxFileSize: 4096, DisableAutoCompaction: true,
		DisableMmap: true, CacheSize: 4096}
	if !syncWrites {
		o.FlushInterval, o.SyncInterval, o.BufferSize = time.Hour, -1, 1024
	}
	return o
}

// sweepCheck opens a crash image and compares it with st. It returns a
// description of the first mismatch, or "".
func sweepCheck(img *vfs.MemFS, st *sweepState, syncWrites bool) string {
	db, err := Open("/db", sweepOpts(img, syncWrites))
	if err != nil {
		return fmt.Sprintf("open failed: %v", err)
	}
	defer func() { _ = db.Close() }()
	keys := map[string]bool{}
	for _, m := range append([]sweepModel{st.acked, st.durable}, st.since...) {
		for k := range m {
			keys[k] = true
		}
	}
	var after sweepModel // the state once the op in flight is done
	if st.inflight != nil {
		after = st.acked.clone()
		after.apply(*st.inflight)
		keys[st.inflight.key] = true
		for _, sub := range st.inflight.batch {
			keys[sub.key] = true
		}
	}
	got := sweepModel{}
	for k := range keys {
		v, err := db.Get([]byte(k))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Sprintf("Get(%q): %v", k, err)
		}
		if err == nil {
			got[k] = v
		}
	}
	// The whole state must be one the workload went through: with
	// SyncWrites the acknowledged one, or the one after the op in flight;
	// without, one from the last sync point on. Matching whole states (not
	// key by key) is what catches a batch that is only partly there.
	candidates := []sweepModel{st.acked}
	if !syncWrites {
		candidates = append([]sweepModel{st.durable}, st.since...)
	}
	if after != nil {
		candidates = append(candidates, after)
	}
	for _, m := range candidates {
		if sweepSame(m, got, keys) {
			return ""
		}
	}
	for k := range keys {
		if want, ok := st.acked[k]; ok != (got[k] != nil) || !bytes.Equal(want, got[k]) {
			return fmt.Sprintf("state matches no state of the workload since the last sync point (%d candidates); e.g. key %q: present %v value %.20q, acknowledged state has it %v",
				len(candidates), k, got[k] != nil, got[k], ok)
		}
	}
	return fmt.Sprintf("state matches no state of the workload since the last sync point (%d candidates)", len(candidates))
}

// sweepSame reports whether want and got agree on every key of keys.
func sweepSame(want, got sweepModel, keys map[string]bool) bool {
	for k := range keys {
		w, ok := want[k]
		g, present := got[k]
		if ok != present || !bytes.Equal(w, g) {
			return false
		}
	}
	return true
}

// sweepPowerLoss runs the sweep and returns the number of crash points
// checked.
func sweepPowerLoss(t *testing.T, syncWrites bool, steps int) int {
	mem := vfs.NewMem()
	st := &sweepState{acked: sweepModel{}, durable: sweepModel{}}
	points := 0
	var failures []string
	rng := mrand.New(mrand.NewSource(7))
	mem.SetOpHook(func(op vfs.MemOp) error {
		for _, torn := range []bool{false, true} {
			var r *mrand.Rand
			if torn {
				r = rng
			}
			img := mem.CrashClone(r)
			points++
			if msg := sweepCheck(img, st, syncWrites); msg != "" && len(failures) < 5 {
				failures = append(failures, fmt.Sprintf("power cut before op %d (%s %s, torn %v): %s",
					op.Seq, op.Kind, op.Path, torn, msg))
			}
		}
		return nil
	})
	db, err := Open("/db", sweepOpts(mem, syncWrites))
	if err != nil {
		t.Fatal(err)
	}
	synced := func() {
		st.durable = st.acked.clone()
		st.since = nil
	}
	for i, op := range sweepWorkload(1, steps) {
		changes := op.kind == "put" || op.kind == "del" || op.kind == "ttl-expired" || op.kind == "ttl-long" || op.kind == "batch"
		if changes {
			opc := op
			st.inflight = &opc
		}
		var err error
		switch op.kind {
		case "put":
			err = db.Put([]byte(op.key), op.val)
		case "del":
			err = db.Delete([]byte(op.key))
		case "ttl-expired":
			err = db.PutWithTTL([]byte(op.key), op.val, time.Nanosecond)
		case "ttl-long":
			err = db.PutWithTTL([]byte(op.key), op.val, time.Hour)
		case "batch":
			err = db.Write(sweepBatch(db, op.batch))
		case "compact":
			err = db.Compact()
		case "merge":
			sealed := db.sealedFiles()
			if len(sealed) == 0 {
				op.kind = "noop" // nothing synced either
			} else {
				in := sealed[i%len(sealed):]
				in = in[:min(len(in), 1+i%3)]
				db.mergeMu.Lock()
				err = db.merge(in, "sweep")
				db.mergeMu.Unlock()
			}
		case "reopen":
			if err = db.Close(); err == nil {
				db, err = Open("/db", sweepOpts(mem, syncWrites))
			}
		case "sync":
			err = db.Sync()
		}
		if err != nil {
			t.Fatalf("step %d (%s %s): %v", i, op.kind, op.key, err)
		}
		st.inflight = nil
		if changes {
			st.acked.apply(op)
			if !syncWrites {
				st.since = append(st.since, st.acked.clone())
			}
		}
		switch op.kind {
		case "compact", "merge", "reopen", "sync":
			synced()
		}
		if syncWrites {
			synced()
		}
	}
	mem.SetOpHook(nil)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range failures {
		t.Error(f)
	}
	return points
}

// TestPowerLossSweep: at least 2,000 simulated power cuts over the mixed
// workload, each checked; zero losses, zero resurrections, zero failed
// opens.
func TestPowerLossSweep(t *testing.T) {
	for _, syncWrites := range []bool{true, false} {
		t.Run(fmt.Sprintf("SyncWrites=%v", syncWrites), func(t *testing.T) {
			steps := 700
			if s := os.Getenv("SIMPLEKV_SWEEP_STEPS"); s != "" {
				n, err := strconv.Atoi(s)
				if err != nil || n <= 0 {
					t.Fatalf("SIMPLEKV_SWEEP_STEPS=%q", s)
				}
				steps = n
			} else if testing.Short() {
				steps = 150
			}
			points := sweepPowerLoss(t, syncWrites, steps)
			t.Logf("%d power cuts checked over %d steps", points, steps)
			if steps >= 700 && syncWrites && points < 2000 {
				t.Fatalf("only %d crash points; the sweep promises at least 2,000", points)
			}
		})
	}
}

// sweepBatch builds the batch of a workload step.
func sweepBatch(db *DB, ops []sweepOp) *Batch {
	b := db.NewBatch()
	for _, op := range ops {
		switch op.kind {
		case "put":
			b.Put([]byte(op.key), op.val)
		case "del":
			b.Delete([]byte(op.key))
		case "ttl-expired":
			b.PutWithTTL([]byte(op.key), op.val, time.Nanosecond)
		case "ttl-long":
			b.PutWithTTL([]byte(op.key), op.val, time.Hour)
		}
	}
	return b
}
