package engine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// attempts feeds the gate n values whose attempts all give saved, and
// returns how many of them were tried.
func attempts(g *compressGate, n int, saved bool) int {
	tried := 0
	for range n {
		if g.try() {
			tried++
			g.result(saved)
		}
	}
	return tried
}

func TestCompressGateBacksOff(t *testing.T) {
	var g compressGate
	// Compressible values: every one is tried.
	require.Equal(t, 100, attempts(&g, 100, true))
	// Incompressible: tried at values 1, 3, 7, 15, 31, then every 32nd.
	require.Equal(t, 5, attempts(&g, 31, false))
	require.Equal(t, 1, attempts(&g, 32, false))
	require.Equal(t, 10, attempts(&g, 320, false))
	// Back to compressible: at most maxCompressSkip values go untried, then
	// every value is tried again.
	tried := attempts(&g, maxCompressSkip+1, true)
	require.GreaterOrEqual(t, tried, 1)
	require.Equal(t, 50, attempts(&g, 50, true))
}

func TestCompressGateStoresCompressibleAfterIncompressible(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{})
	noise := make([]byte, 1000)
	x := uint64(88172645463325252)
	for i := range noise {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		noise[i] = byte(x)
	}
	key := func(i int) []byte { return []byte{byte(i >> 8), byte(i), 'k'} }
	for i := range 200 {
		require.NoError(t, db.Put(key(i), noise))
	}
	before := db.Stats().BytesWritten
	zeros := make([]byte, 1000)
	const n = 200
	for i := range n {
		require.NoError(t, db.Put(key(1000+i), zeros))
	}
	written := db.Stats().BytesWritten - before
	// Raw, each record takes about 1036 bytes (n of them: 207 KB). At most
	// maxCompressSkip+1 may be stored raw; the rest compress to under 1/8.
	raw := int64(1000 + 36)
	require.Less(t, written, (maxCompressSkip+1)*raw+n*raw/8, "compressible values stored raw")
	v, err := db.Get(key(1000))
	require.NoError(t, err)
	require.Equal(t, zeros, v)
}
