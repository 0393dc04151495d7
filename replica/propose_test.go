package replica

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/internal/vfs"
)

// TestProposerMergesConcurrentWrites: concurrent writers share raft
// entries, and each still gets its own answer: every Put is stored, and
// of the writers racing to AddIfAbsent one key exactly one adds it.
func TestProposerMergesConcurrentWrites(t *testing.T) {
	c := newClusterWith(t, 3, nil)
	leader := c.nodes[c.waitLeader()]
	before := leader.Raft().LastIndex()
	const writers, each = 16, 40
	added := make([]int, each) // per contested key: how many writers added it
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := leader.Put([]byte(fmt.Sprintf("w%d-%d", w, i)), []byte("v")); err != nil {
					t.Error(err)
					return
				}
				existed, err := leader.AddIfAbsent([]byte(fmt.Sprint("contested-", i)), []byte(fmt.Sprint(w)))
				if err != nil {
					t.Error(err)
					return
				}
				if !existed {
					mu.Lock()
					added[i]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for i, n := range added {
		require.Equal(t, 1, n, "writers that added contested-%d", i)
	}
	for w := range writers {
		for i := range each {
			v, err := leader.Get([]byte(fmt.Sprintf("w%d-%d", w, i)), Stale)
			require.NoError(t, err)
			require.Equal(t, "v", string(v))
		}
	}
	entries := leader.Raft().LastIndex() - before
	t.Logf("%d writes in %d raft entries", 2*writers*each, entries)
	require.Less(t, entries, uint64(2*writers*each), "no two writes shared an entry")
}

// TestEveryWriteAnsweredAtShutdown: writers racing a node's Close all get
// an answer, and every write that was acknowledged is there after a
// restart.
func TestEveryWriteAnsweredAtShutdown(t *testing.T) {
	c := newClusterWith(t, 1, nil)
	n := c.nodes[0]
	const writers = 16
	acked := make([][]string, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				k := fmt.Sprintf("w%d-%d", w, i)
				err := n.Put([]byte(k), []byte("v"))
				if err != nil {
					if !errors.Is(err, ErrUnknownOutcome) && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrClosed) {
						t.Errorf("write %s: %v", k, err)
					}
					return
				}
				acked[w] = append(acked[w], k)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	c.stop(0)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writers still waiting 10 s after Close")
	}
	c.start(0, true)
	c.waitLeader(0)
	total := 0
	for _, keys := range acked {
		for _, k := range keys {
			_, err := c.nodes[0].Get([]byte(k), Linearizable)
			require.NoError(t, err, k)
		}
		total += len(keys)
	}
	require.Positive(t, total)
}

// TestFailedStoreReportsUnknownOutcome: a write committed to the log but
// refused by the failing store is not reported as failed (a restart
// applies it) but as of unknown outcome, and it is there after a restart.
func TestFailedStoreReportsUnknownOutcome(t *testing.T) {
	ffs := vfs.NewFaultFS(vfs.Default, nil)
	c := newClusterWith(t, 1, nil)
	c.stop(0)
	c.engine = engine.Options{FS: ffs, SyncWrites: true} // so that each apply writes at once
	c.start(0, true)
	c.waitLeader(0)
	require.NoError(t, c.nodes[0].Put([]byte("a"), []byte("1")))

	ffs.SetInjector(vfs.Random(1, 1, vfs.FaultEIO, vfs.FaultOpWrite))
	err := c.nodes[0].Put([]byte("b"), []byte("2"))
	require.ErrorIs(t, err, ErrUnknownOutcome)
	require.ErrorIs(t, err, ErrFailed)

	ffs.SetInjector(nil)
	c.stop(0)
	c.start(0, true)
	c.waitLeader(0)
	v, err := c.nodes[0].Get([]byte("b"), Linearizable)
	require.NoError(t, err)
	require.Equal(t, "2", string(v))
}
