package engine

import "sync/atomic"

// compressGate decides which values are worth an attempt at compression.
// Every value is tried while compression pays. After an attempt that saves
// nothing, the next values are stored without an attempt, 1, 3, 7, 15 and
// then maxCompressSkip (31) of them after each further failed attempt; the
// backoff resets at the first attempt that saves. A stream of incompressible values (already compressed
// or encrypted data) then costs about one snappy pass in 32 instead of one
// per value, while a switch back to compressible data stores at most
// maxCompressSkip values uncompressed. Races between writers only blur the
// counts, which are a heuristic.
type compressGate struct {
	skip    atomic.Int32 // values still to store without an attempt
	backoff atomic.Int32 // current skip length after a failure; 0 = none
}

// maxCompressSkip bounds the backoff.
const maxCompressSkip = 31

// try reports whether to attempt compressing the next value.
func (g *compressGate) try() bool {
	if g.skip.Load() <= 0 {
		return true
	}
	return g.skip.Add(-1) < 0
}

// result records whether an attempt made the value smaller.
func (g *compressGate) result(saved bool) {
	if saved {
		if g.backoff.Load() != 0 {
			g.backoff.Store(0)
		}
		return
	}
	b := min(2*g.backoff.Load()+1, maxCompressSkip)
	g.backoff.Store(b)
	g.skip.Store(b)
}
