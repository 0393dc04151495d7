package replica

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkClusterPut Puts from 16 goroutines through the leader of a
// loopback cluster with raft's default timeouts (kvbench's raft-cluster
// is the full comparison).
func BenchmarkClusterPut(b *testing.B) {
	for _, size := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", size), func(b *testing.B) {
			c := newClusterWith(b, size, nil)
			leader := c.nodes[c.waitLeader()]
			var seq atomic.Uint64
			val := make([]byte, 100)
			b.SetParallelism(8) // 16 clients on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := leader.Put([]byte(fmt.Sprint("k", seq.Add(1))), val); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
