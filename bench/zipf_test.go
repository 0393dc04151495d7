package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestZetaTail(t *testing.T) {
	// Beyond zetaExact terms zeta switches to Euler–Maclaurin; compare it
	// with the plain sum.
	for _, n := range []uint64{zetaExact + 1, zetaExact + 1000, 3 << 20} {
		var exact float64
		for i := n; i >= 1; i-- {
			exact += math.Pow(float64(i), -ZipfTheta)
		}
		got := zeta(n, ZipfTheta)
		require.InEpsilon(t, exact, got, 1e-12, "n=%d", n)
	}
	// Small n are exact sums: zeta(2) = 1 + 2^-theta.
	require.InDelta(t, 1+math.Pow(2, -ZipfTheta), zeta(2, ZipfTheta), 1e-15)
	require.Equal(t, 1.0, zeta(1, ZipfTheta))
}

func TestNewZipfRejects(t *testing.T) {
	for _, theta := range []float64{0, 1, 1.5, -0.2, math.NaN()} {
		_, err := NewZipf(100, theta, 1)
		require.Error(t, err, "theta %v", theta)
	}
	_, err := NewZipf(0, ZipfTheta, 1)
	require.Error(t, err)
}

// TestZipfSkew draws ranks and compares their frequencies with the exact
// Zipfian probabilities: Gray's method is exact for ranks 0 and 1 and a
// close approximation beyond.
func TestZipfSkew(t *testing.T) {
	const n, draws = 10_000, 1_000_000
	seed := uint64(7)
	t.Logf("seed %d", seed)
	z, err := NewZipf(n, ZipfTheta, seed)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, 1))
	counts := make([]int, n)
	for range draws {
		r := z.Rank(rng.Float64())
		require.Less(t, r, uint64(n))
		counts[r]++
	}
	freq := func(r int) float64 { return float64(counts[r]) / draws }

	// Ranks 0 and 1 within a few percent of the exact probability (rank 0
	// is about 9.8% of the draws for 10k keys); Gray's approximation
	// overweights ranks 2 to 5 (by 18% to 6%), as YCSB's does, and is
	// close again beyond.
	for r, tol := range map[int]float64{0: 0.02, 1: 0.03, 2: 0.25, 3: 0.2, 9: 0.1, 20: 0.15} {
		require.InEpsilon(t, z.Prob(uint64(r)), freq(r), tol, "rank %d: %d draws", r, counts[r])
	}
	require.InDelta(t, 0.098, freq(0), 0.005)

	// Frequencies fall with rank.
	require.Greater(t, counts[0], counts[1])
	require.Greater(t, counts[1], counts[3])
	require.Greater(t, counts[3], counts[30])
	require.Greater(t, counts[30], counts[3000])

	// The hottest 1% of keys get the share the exact distribution gives
	// them (about 52%), and the coldest half a small share (about 7%).
	top, cold, wantTop, wantCold := 0.0, 0.0, 0.0, 0.0
	for r := range n {
		if r < n/100 {
			top += freq(r)
			wantTop += z.Prob(uint64(r))
		}
		if r >= n/2 {
			cold += freq(r)
			wantCold += z.Prob(uint64(r))
		}
	}
	t.Logf("hottest 1%%: %.3f (exact %.3f); coldest half: %.3f (exact %.3f)", top, wantTop, cold, wantCold)
	require.InEpsilon(t, wantTop, top, 0.05)
	require.InEpsilon(t, wantCold, cold, 0.1)
	require.Greater(t, top, 0.4)
	require.Less(t, cold, 0.1)

	// A uniform choice, by contrast, gives the hottest 1% of keys 1%.
	require.Greater(t, top, 30*0.01)
}

// TestZipfScattered checks that Next applies the permutation: the hot
// indexes are the permuted ranks, spread over the range, and the
// distribution over indexes is the distribution over ranks.
func TestZipfScattered(t *testing.T) {
	const n, draws = 1000, 300_000
	z, err := NewZipf(n, ZipfTheta, 3)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 3))
	counts := make([]int, n)
	for range draws {
		i := z.Next(rng)
		require.Less(t, i, uint64(n))
		counts[i]++
	}
	// The most drawn index is the hottest rank's, and it is not index 0.
	hottest := slices.Index(counts, slices.Max(counts))
	require.Equal(t, z.Index(0), uint64(hottest))
	require.NotZero(t, hottest)
	require.InEpsilon(t, z.Prob(0), float64(counts[hottest])/draws, 0.03)

	// The 10 hottest indexes are spread over the range, not adjacent.
	var hot []uint64
	for r := range uint64(10) {
		hot = append(hot, z.Index(r))
	}
	slices.Sort(hot)
	require.Greater(t, hot[9]-hot[0], uint64(n/4), "hot indexes %v", hot)
	adjacent := 0
	for j := 1; j < len(hot); j++ {
		if hot[j]-hot[j-1] == 1 {
			adjacent++
		}
	}
	require.LessOrEqual(t, adjacent, 2, "hot indexes %v", hot)

	// Another seed scatters them elsewhere.
	z2, err := NewZipf(n, ZipfTheta, 4)
	require.NoError(t, err)
	require.NotEqual(t, z.Index(0), z2.Index(0))
}

func TestZipfTinyRanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	z1, err := NewZipf(1, ZipfTheta, 1)
	require.NoError(t, err)
	z2, err := NewZipf(2, ZipfTheta, 1)
	require.NoError(t, err)
	ones := 0
	for range 10_000 {
		require.Zero(t, z1.Next(rng))
		i := z2.Rank(rng.Float64())
		require.Less(t, i, uint64(2))
		ones += int(i)
	}
	// P(rank 1) = 2^-0.99 / (1 + 2^-0.99), about 1/3.
	require.InDelta(t, z2.Prob(1), float64(ones)/10_000, 0.02)
	require.InDelta(t, 0.335, z2.Prob(1), 0.001)
	// u close to 1 still gives an index in range.
	z, err := NewZipf(1_000_000, ZipfTheta, 1)
	require.NoError(t, err)
	require.Less(t, z.Rank(math.Nextafter(1, 0)), uint64(1_000_000))
	require.Equal(t, uint64(0), z.Rank(0))
}
