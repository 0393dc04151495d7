package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// ZipfTheta is the skew of the Zipfian key choice, YCSB's
// ZIPFIAN_CONSTANT: the key of rank r (0 = hottest) is drawn with
// probability proportional to 1/(r+1)^0.99. Over 1M keys the hottest key
// gets 6.5% of the draws and the hottest 1% of keys 66%.
const ZipfTheta = 0.99

// Zipf draws indexes in [0, n) with a Zipfian distribution, YCSB's
// "scrambled Zipfian": a rank is drawn with the algorithm of Gray et al.,
// "Quickly Generating Billion-Record Synthetic Databases" (SIGMOD 1994),
// as YCSB's ZipfianGenerator does, and mapped to an index by a seeded
// permutation, so that the hot keys are scattered over the key space
// instead of being the first indexes (which the Generator's hashed keys
// would scatter anyway, but not SeqKey's).
//
// Unlike YCSB, which draws from 10^10 items and folds them onto n with a
// hash modulo n (so that some hot ranks collide), the permutation is a
// bijection: index Perm.At(r) has exactly the probability of rank r.
//
// Go's rand.Zipf needs an exponent s > 1; YCSB's 0.99 is below, hence
// this type. A Zipf is immutable and safe for concurrent use, each
// goroutine drawing with its own *rand.Rand.
type Zipf struct {
	n     uint64
	theta float64
	alpha float64 // 1 / (1 - theta)
	zetan float64 // zeta(n, theta)
	eta   float64
	half  float64 // 1 + 0.5^theta: the draws below it are ranks 0 and 1
	perm  Perm
}

// NewZipf returns a Zipfian distribution over [0, n) with skew theta
// (0 < theta < 1; use ZipfTheta), whose hot keys are scattered by the
// permutation chosen by seed.
func NewZipf(n uint64, theta float64, seed uint64) (*Zipf, error) {
	if n == 0 {
		return nil, fmt.Errorf("bench: Zipf over an empty range")
	}
	if !(theta > 0 && theta < 1) {
		return nil, fmt.Errorf("bench: Zipf theta %v: must be in (0, 1)", theta)
	}
	z := &Zipf{
		n:     n,
		theta: theta,
		alpha: 1 / (1 - theta),
		zetan: zeta(n, theta),
		half:  1 + math.Pow(0.5, theta),
		perm:  NewPerm(n, seed^0x7a697066),
	}
	zeta2 := zeta(2, theta)
	z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/z.zetan)
	return z, nil
}

// N is the size of the range.
func (z *Zipf) N() uint64 { return z.n }

// Rank maps u, uniform in [0, 1), to a rank in [0, n): 0 is the hottest.
func (z *Zipf) Rank(u float64) uint64 {
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < z.half {
		return min(1, z.n-1)
	}
	r := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(r, z.n-1)
}

// Next draws an index: the rank drawn from r, scattered.
func (z *Zipf) Next(r *rand.Rand) uint64 {
	return z.perm.At(z.Rank(r.Float64()))
}

// Index returns the index of rank r (the permutation Next applies).
func (z *Zipf) Index(rank uint64) uint64 { return z.perm.At(rank) }

// Prob returns the probability of rank r in the exact Zipfian distribution
// (which Rank approximates closely for the hottest ranks).
func (z *Zipf) Prob(rank uint64) float64 {
	return 1 / (math.Pow(float64(rank+1), z.theta) * z.zetan)
}

// zetaExact is how many terms zeta sums one by one; beyond it the tail is
// the Euler–Maclaurin approximation, accurate to far better than 1e-12
// there and cheap for any n (10M keys would take 0.3 s term by term).
const zetaExact = 1 << 20

// zeta returns the generalized harmonic number sum_{i=1}^{n} 1/i^theta.
func zeta(n uint64, theta float64) float64 {
	m := min(n, zetaExact)
	var sum float64
	// Sum the small terms first for accuracy.
	for i := m; i >= 1; i-- {
		sum += math.Pow(float64(i), -theta)
	}
	if n == m {
		return sum
	}
	// sum_{i=m+1}^{n} f(i) = ∫_m^n f + (f(n) - f(m))/2 + (f'(n) - f'(m))/12 - ...
	// with f(x) = x^-theta, f'(x) = -theta x^(-theta-1).
	a, b := float64(m), float64(n)
	f := func(x float64) float64 { return math.Pow(x, -theta) }
	df := func(x float64) float64 { return -theta * math.Pow(x, -theta-1) }
	integral := (math.Pow(b, 1-theta) - math.Pow(a, 1-theta)) / (1 - theta)
	return sum + integral + (f(b)-f(a))/2 + (df(b)-df(a))/12
}
