package bench

import (
	"io"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"

	"github.com/simplekv/simplekv/raftlog"
)

// RaftLogStore is what the raft log benchmarks need of a store.
type RaftLogStore interface {
	raft.LogStore
	io.Closer
}

// RaftStore is one raft log store compared.
type RaftStore struct {
	Name string
	Open func(dir string) (RaftLogStore, error)
}

// RaftStores returns simplekv's raftlog ("raftlog") and the two stores it
// is compared with, each with its defaults (all fsync every StoreLogs):
// hashicorp/raft-wal ("raft-wal") and hashicorp/raft-boltdb/v2
// ("raft-boltdb", one bbolt file).
func RaftStores() []RaftStore {
	return []RaftStore{
		{"raftlog", func(dir string) (RaftLogStore, error) { return raftlog.Open(dir, raftlog.Options{}) }},
		{"raft-wal", func(dir string) (RaftLogStore, error) { return wal.Open(dir) }},
		{"raft-boltdb", func(dir string) (RaftLogStore, error) {
			return raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
		}},
	}
}
