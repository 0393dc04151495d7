package simplekv

import (
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/replica"
	"github.com/simplekv/simplekv/server"
)

// backend is the storage under a Store: a local engine.DB, or a
// replicated node (the replication: section).
type backend interface {
	get(k []byte) ([]byte, error) // engine.ErrNotFound if absent
	has(k []byte) (bool, error)
	put(k, v []byte) error
	putTTL(k, v []byte, ttl time.Duration) error
	del(k []byte) error
	write(ops []op) error // all or none
	// addIfAbsent stores an empty value under k unless k is present, and
	// reports whether it was, atomically.
	addIfAbsent(k []byte) (existed bool, err error)
	scan(prefix []byte, fn func(k, v []byte) bool) error
	// lock serializes the updates of one filter member, so that
	// addIfAbsent is atomic against put and del of it.
	lock(k []byte) (unlock func())
}

// op is one write of a batch (ttl > 0: it expires).
type op struct {
	key, value []byte
	ttl        time.Duration
	del        bool
}

// localBackend is an engine.DB of this process.
type localBackend struct {
	db      *engine.DB
	seed    maphash.Seed
	stripes [64]sync.Mutex
}

func newLocal(db *engine.DB) *localBackend { return &localBackend{db: db, seed: maphash.MakeSeed()} }

func (b *localBackend) get(k []byte) ([]byte, error) { return b.db.Get(k) }
func (b *localBackend) has(k []byte) (bool, error)   { return b.db.Has(k) }
func (b *localBackend) put(k, v []byte) error        { return b.db.Put(k, v) }
func (b *localBackend) putTTL(k, v []byte, ttl time.Duration) error {
	return b.db.PutWithTTL(k, v, ttl)
}
func (b *localBackend) del(k []byte) error                             { return b.db.Delete(k) }
func (b *localBackend) scan(p []byte, fn func(k, v []byte) bool) error { return b.db.Scan(p, fn) }

func (b *localBackend) write(ops []op) error {
	batch := b.db.NewBatch()
	for _, o := range ops {
		switch {
		case o.del:
			batch.Delete(o.key)
		case o.ttl > 0:
			batch.PutWithTTL(o.key, o.value, o.ttl)
		default:
			batch.Put(o.key, o.value)
		}
	}
	return b.db.Write(batch)
}

func (b *localBackend) lock(k []byte) func() {
	mu := &b.stripes[maphash.Bytes(b.seed, k)%uint64(len(b.stripes))]
	mu.Lock()
	return mu.Unlock
}

func (b *localBackend) addIfAbsent(k []byte) (bool, error) {
	defer b.lock(k)()
	had, err := b.db.Has(k)
	if err != nil || had {
		return had, err
	}
	return false, b.db.Put(k, nil)
}

// replicatedBackend is a replica.Node. Writes go through the leader: a
// follower forwards them to the leader's API when it has one (the
// replication section's api_addr), and otherwise fails with an error
// matching replica.ErrNotLeader. Reads are of the configured consistency;
// a linearizable read on a follower is forwarded too.
type replicatedBackend struct {
	n    *replica.Node
	cons replica.Consistency
}

// forward runs fn on the node, or, where the node is not the leader and
// the leader has an API address, runs remote against the leader's API.
func forward[T any](b *replicatedBackend, local func() (T, error), remote func(c *server.Client) (T, error)) (T, error) {
	v, err := local()
	var nl *replica.NotLeaderError
	if errors.As(err, &nl) && nl.API != "" {
		return remote(server.NewClient(nl.API))
	}
	return v, err
}

func (b *replicatedBackend) get(k []byte) ([]byte, error) {
	return forward(b, func() ([]byte, error) { return b.n.Get(k, b.cons) },
		func(c *server.Client) ([]byte, error) { return c.Get(k, replica.Linearizable) })
}

func (b *replicatedBackend) has(k []byte) (bool, error) {
	_, err := b.get(k)
	if errors.Is(err, engine.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (b *replicatedBackend) put(k, v []byte) error {
	return b.apply([]replica.Op{{Kind: replica.OpPut, Key: k, Value: v}})
}

func (b *replicatedBackend) putTTL(k, v []byte, ttl time.Duration) error {
	return b.apply([]replica.Op{{Kind: replica.OpPutExpiring, Key: k, Value: v, Expires: time.Now().Add(ttl)}})
}

func (b *replicatedBackend) del(k []byte) error {
	return b.apply([]replica.Op{{Kind: replica.OpDelete, Key: k}})
}

// deletePrefix deletes every key that starts with p, in one write.
func (b *replicatedBackend) deletePrefix(p []byte) error {
	return b.apply([]replica.Op{{Kind: replica.OpDeletePrefix, Key: p}})
}

func (b *replicatedBackend) write(ops []op) error {
	rops := make([]replica.Op, len(ops))
	now := time.Now()
	for i, o := range ops {
		switch {
		case o.del:
			rops[i] = replica.Op{Kind: replica.OpDelete, Key: o.key}
		case o.ttl > 0:
			rops[i] = replica.Op{Kind: replica.OpPutExpiring, Key: o.key, Value: o.value, Expires: now.Add(o.ttl)}
		default:
			rops[i] = replica.Op{Kind: replica.OpPut, Key: o.key, Value: o.value}
		}
	}
	return b.apply(rops)
}

func (b *replicatedBackend) apply(ops []replica.Op) error {
	_, err := b.writeOps(ops)
	return err
}

func (b *replicatedBackend) writeOps(ops []replica.Op) (*replica.Result, error) {
	return forward(b, func() (*replica.Result, error) { return b.n.Write(ops) },
		func(c *server.Client) (*replica.Result, error) { return c.Write(ops) })
}

// addIfAbsent is one OpAddIfAbsent: atomic in the cluster's order of
// writes, whichever node it was sent to.
func (b *replicatedBackend) addIfAbsent(k []byte) (bool, error) {
	res, err := b.writeOps([]replica.Op{{Kind: replica.OpAddIfAbsent, Key: k, Value: []byte{}}})
	if err != nil {
		return false, err
	}
	return res.Existed[0], nil
}

// scan reads this node's store: linearizable on the leader when so
// configured, and as of this node's last applied entry on a follower.
func (b *replicatedBackend) scan(p []byte, fn func(k, v []byte) bool) error {
	c := b.cons
	if !b.n.IsLeader() {
		c = replica.Stale
	}
	return b.n.Scan(p, c, fn)
}

// lock is a no-op: the cluster orders every write, addIfAbsent included.
func (b *replicatedBackend) lock([]byte) func() { return func() {} }
