package raftlog_test

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"

	"github.com/simplekv/simplekv/raftlog"
)

// logStore is what the benchmark needs of each store.
type logStore interface {
	raft.LogStore
	io.Closer
}

// peers opens each store compared, in a fresh directory.
var peers = []struct {
	name string
	open func(dir string) (logStore, error)
}{
	{"raftlog", func(dir string) (logStore, error) { return raftlog.Open(dir, raftlog.Options{}) }},
	{"raft-wal", func(dir string) (logStore, error) { return wal.Open(dir) }},
	{"raft-boltdb", func(dir string) (logStore, error) {
		return raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	}},
}

// BenchmarkStoreLogs appends b.N entries of 128 bytes, batch at a time,
// each call durable when it returns, to simplekv's raftlog and its two
// peers in the same run: compare the ratios, not the absolute times.
func BenchmarkStoreLogs(b *testing.B) {
	data := make([]byte, 128)
	for _, batch := range []int{1, 64} {
		for _, p := range peers {
			b.Run(fmt.Sprintf("batch=%d/store=%s", batch, p.name), func(b *testing.B) {
				s, err := p.open(b.TempDir())
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
