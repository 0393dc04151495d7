package raftlog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/simplekv/simplekv/bench"
)

// BenchmarkStoreLogs appends b.N entries of 128 bytes, batch at a time,
// each call durable when it returns, to simplekv's raftlog and its two
// peers in the same run: compare the ratios, not the absolute times.
func BenchmarkStoreLogs(b *testing.B) {
	data := make([]byte, 128)
	for _, batch := range []int{1, 64} {
		for _, p := range bench.RaftStores() {
			b.Run(fmt.Sprintf("batch=%d/store=%s", batch, p.Name), func(b *testing.B) {
				s, err := p.Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				logs := make([]*raft.Log, batch)
				for i := range logs {
					logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: data}
				}
				b.SetBytes(int64(len(data)))
				b.ResetTimer()
				next := uint64(1)
				for done := 0; done < b.N; done += batch {
					n := min(batch, b.N-done)
					for _, l := range logs[:n] {
						l.Index, l.AppendedAt = next, time.Now()
						next++
					}
					if err := s.StoreLogs(logs[:n]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if last, err := s.LastIndex(); err != nil || last != next-1 {
					b.Fatalf("LastIndex = %d, %v after %d entries", last, err, next-1)
				}
			})
		}
	}
}
