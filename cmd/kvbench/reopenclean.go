package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/simplekv/simplekv/bench"
	"github.com/simplekv/simplekv/engine"
)

// reopenCleanOptions are simplekv's engine options in reopen-clean: the
// adapter's (bench.OpenSimplekv: every option at its default) but with the
// background merge worker off. At large n the fill seals data files, and
// the default trigger TriggerWALFiles (2 sealed wal/ files, checked every
// CompactionInterval) could merge them into last_state/ with hint files
// before Close; the reopen would then read hints instead of replaying the
// log, which is what reopen-hints measures, not this.
func reopenCleanOptions() engine.Options { return engine.Options{DisableAutoCompaction: true} }

// openClean opens e's reopen-clean DB: simplekv with reopenCleanOptions,
// every other engine through its adapter with Config{Sync: false}, as the
// main DB. sk is the simplekv DB, nil for the others.
func openClean(e bench.Engine, dir string) (db bench.DB, sk *engine.DB, err error) {
	if e.Name != simplekvName {
		db, err = e.Open(dir, bench.Config{})
		return db, nil, err
	}
	sk, err = engine.Open(dir, reopenCleanOptions())
	if err != nil {
		return nil, nil, err
	}
	return engineDB{sk}, sk, nil
}

// reopenClean is the reopen-clean workload on a DB of its own: n keys
// written once (untimed, through Loader as the other untimed fills), Sync
// and Close (untimed), then Open plus one Get of a present key, timed,
// then -verify-sample keys checked. Unlike reopen, nothing was overwritten
// or compacted first, so every engine reopens what a plain bulk fill left.
// For simplekv it fails unless the reopened DB has n keys and no merged
// file, that is, unless Open replayed the log.
func (r *runner) reopenClean(e bench.Engine, dir string) (err error) {
	w := workloadByName(wReopenClean)
	ks, err := r.mainKeyspace()
	if err != nil {
		return err
	}
	n := ks.N
	tr := newTracker(r.errw, r.progress, e.Name+" "+w.name+": fill (untimed)", int64(n))
	defer tr.finish()
	// The fill's handle is not needed: the checks are on the reopened DB.
	db, _, err := openClean(e, dir)
	if err != nil {
		return fmt.Errorf("%s: open %s: %w", w.name, dir, err)
	}
	defer func() {
		if db != nil {
			if cerr := db.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("%s: close: %w", w.name, cerr)
			}
		}
		if !r.keep {
			if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
				err = rerr
			}
		}
	}()
	if err := ks.Load(db, bench.NewPerm(n, r.o.Seed^seedFill), 0, n, func(k int) { tr.add(int64(k)) }); err != nil {
		return fmt.Errorf("%s: fill: %w", w.name, err)
	}
	if err := db.Sync(); err != nil {
		return fmt.Errorf("%s: fill: sync: %w", w.name, err)
	}
	tr.finish()
	disk, err := dirBytes(dir)
	if err != nil {
		return fmt.Errorf("%s: disk usage: %w", w.name, err)
	}

	t0 := time.Now()
	err = db.Close()
	closeDur := time.Since(t0)
	db = nil
	if err != nil {
		return fmt.Errorf("%s: close: %w", w.name, err)
	}
	if r.beforeReopen != nil {
		r.beforeReopen(wReopenClean, dir)
	}
	rng := rand.New(rand.NewPCG(r.o.Seed, seedReopen))
	i := rng.Uint64N(n)
	k := ks.Key(make([]byte, r.o.KeySize), i)

	t1 := time.Now()
	db, sk, err := openClean(e, dir)
	if err != nil {
		return fmt.Errorf("%s: open: %w", w.name, err)
	}
	v, gerr := db.Get(k)
	dur := time.Since(t1)
	ver := ks.Version(i)
	if err := ks.Check(make([]byte, r.o.ValueSize), i, v, gerr, ver, ver); err != nil {
		return fmt.Errorf("%s: %w", w.name, err)
	}
	notes, recovery := "", time.Duration(0)
	if sk != nil {
		st := sk.Stats()
		if st.Keys != int(n) {
			return fmt.Errorf("%s: reopened DB has %d keys, want %d", w.name, st.Keys, n)
		}
		if m := mergedFiles(st); m > 0 {
			return fmt.Errorf("%s: %d merged files in last_state/: a merge ran before Close", w.name, m)
		}
		// Recovery's own figure tells the log replay apart from what Open
		// does around it.
		notes = fmt.Sprintf("log replay %s (%d files); ", fmtDur(st.RecoveryLogDuration), len(st.Files))
		recovery = st.RecoveryLogDuration
	}
	if err := ks.VerifySample(db, r.o.VerifySample, r.o.Seed^seedReopen); err != nil {
		return fmt.Errorf("%s: after reopen: %w", w.name, err)
	}
	res := &Result{Ops: 1, Seconds: dur.Seconds()}
	res.Extra = map[string]float64{"close_ms": ms(closeDur), "verified": float64(r.o.VerifySample), "disk_bytes": float64(disk)}
	if sk != nil {
		res.Extra["recovery_log_ms"] = ms(recovery)
	}
	res.Notes = fmt.Sprintf("%sOpen + Get after a fill of %d keys; close took %s; disk %s; %d keys verified after",
		notes, n, fmtDur(closeDur), fmtBytes(disk), r.o.VerifySample)
	r.add(e, w, res)
	return nil
}
