package main

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// tracker drives one progress bar on stderr. Operation bars count from an
// atomic counter, so the hot loops only do a batched atomic add; time bars
// fill as a fixed duration passes. A nil tracker does nothing.
type tracker struct {
	n     atomic.Int64
	start time.Time
	timed bool // the bar counts milliseconds since start
	bar   *progressbar.ProgressBar
	stop  chan struct{}
	done  chan struct{}

	finished bool
}

// progressBatch is how many operations a worker counts before it adds
// them to the tracker.
const progressBatch = 1024

// progressWidth is the width of a bar's description.
const progressWidth = 26

// newTracker starts a bar counting up to total operations (a spinner if
// total <= 0), or nil if progress is off.
func newTracker(w io.Writer, on bool, desc string, total int64) *tracker {
	if !on {
		return nil
	}
	if total <= 0 {
		total = -1
	}
	return startTracker(w, desc, total, false)
}

// newTimeTracker starts a bar that fills over d, or nil if progress is
// off.
func newTimeTracker(w io.Writer, on bool, desc string, d time.Duration) *tracker {
	if !on {
		return nil
	}
	return startTracker(w, desc, max(d.Milliseconds(), 1), true)
}

func startTracker(w io.Writer, desc string, total int64, timed bool) *tracker {
	t := &tracker{stop: make(chan struct{}), done: make(chan struct{}), start: time.Now(), timed: timed}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(fmt.Sprintf("%-*s", progressWidth, desc)),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
	}
	if !timed {
		opts = append(opts, progressbar.OptionShowCount())
	}
	t.bar = progressbar.NewOptions64(total, opts...)
	go func() {
		defer close(t.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
				_ = t.bar.Set64(t.value())
			}
		}
	}()
	return t
}

func (t *tracker) value() int64 {
	if t.timed {
		return time.Since(t.start).Milliseconds()
	}
	return t.n.Load()
}

func (t *tracker) add(n int64) {
	if t != nil {
		t.n.Add(n)
	}
}

// describe changes the bar's description.
func (t *tracker) describe(desc string) {
	if t != nil {
		t.bar.Describe(fmt.Sprintf("%-*s", progressWidth, desc))
	}
}

// finish stops the bar and clears it; later calls do nothing.
func (t *tracker) finish() {
	if t == nil || t.finished {
		return
	}
	t.finished = true
	close(t.stop)
	<-t.done
	_ = t.bar.Finish()
	_ = t.bar.Close()
}
