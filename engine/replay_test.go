package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReplayKeepsPerKeyOrder replays logs where every key is put and
// deleted many times, across files and across many applier batches, and
// checks the rebuilt keydir against a model, and that per-file dead-byte
// accounting matches a fresh count.
func TestReplayKeepsPerKeyOrder(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxFileSize: 512 << 10, DisableAutoCompaction: true, DisableCompression: true}
	db := mustOpen(t, dir, opts)
	rng := rand.New(rand.NewPCG(7, 7))
	model := map[string]string{}
	const keys, ops = 3000, 3 * walBatchRecords
	for i := range ops {
		k := fmt.Sprintf("key-%05d", rng.IntN(keys))
		if rng.IntN(3) == 0 {
			require.NoError(t, db.Delete([]byte(k)))
			delete(model, k)
			continue
		}
		v := fmt.Sprintf("v%d", i)
		require.NoError(t, db.Put([]byte(k), []byte(v)))
		model[k] = v
	}
	before := db.Stats()
	require.Greater(t, len(before.Files), 2, "want several log files: %+v", before.Files)
	require.NoError(t, db.Close())

	for round := range 2 { // twice: the second open replays the same log again
		db = mustOpen(t, dir, opts)
		require.Equal(t, len(model), db.Len(), "round %d", round)
		for i := range keys {
			k := fmt.Sprintf("key-%05d", i)
			v, err := db.Get([]byte(k))
			if want, ok := model[k]; ok {
				require.NoError(t, err, k)
				require.Equal(t, want, string(v), k)
			} else {
				require.ErrorIs(t, err, ErrNotFound, k)
			}
		}
		after := db.Stats()
		for i, f := range after.Files {
			if i < len(before.Files) && before.Files[i].ID == f.ID {
				require.Equal(t, before.Files[i].Live, f.Live, "file %d live bytes", f.ID)
			}
		}
		require.NoError(t, db.Close())
	}
}
