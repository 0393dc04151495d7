package cache

import (
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

const numShards = 16

// entryOverhead approximates the bytes an entry costs beyond its key and
// value (map slot, node, headers), so the budget tracks real memory.
const entryOverhead = 96

// Cache is safe for concurrent use. A nil *Cache is a valid, always-empty
// cache.
type Cache struct {
	// entries lets Get skip the shard lock while the cache is empty (as it
	// stays when every read is cheap and nothing is worth caching). It is
	// written only by Add and evictions, so reads of it do not contend.
	entries atomic.Int64
	shards  [numShards]shard
}

type node struct {
	key        string
	seq        uint64
	value      []byte
	prev, next *node
}

type shard struct {
	mu           sync.Mutex
	budget       int64
	used         int64
	hits, misses int64 // per shard, so readers on other shards do not contend
	items        map[string]*node
	head         node // sentinel: head.next is most recent
	_            [64]byte
}

// New returns a cache holding at most about budget bytes, or nil if budget
// is not positive.
func New(budget int64) *Cache {
	if budget <= 0 {
		return nil
	}
	c := &Cache{}
	for i := range c.shards {
		s := &c.shards[i]
		s.budget = budget / numShards
		s.items = make(map[string]*node)
		s.head.next, s.head.prev = &s.head, &s.head
	}
	return c
}

func (c *Cache) shard(key []byte) *shard {
	return &c.shards[xxhash.Sum64(key)%numShards]
}

// Get returns the cached value of key if it was cached for sequence number
// seq. The returned slice is shared: callers must not modify it.
func (c *Cache) Get(key []byte, seq uint64) ([]byte, bool) {
	if c == nil || c.entries.Load() == 0 {
		return nil, false
	}
	s := c.shard(key)
	s.mu.Lock()
	n, ok := s.items[string(key)]
	if !ok || n.seq != seq {
		s.misses++
		s.mu.Unlock()
		return nil, false
	}
	s.unlink(n)
	s.pushFront(n)
	v := n.value
	s.hits++
	s.mu.Unlock()
	return v, true
}

// Add caches value (which the cache keeps; callers must not modify it
// afterwards) as key's value at sequence number seq. An entry for an older
// sequence is replaced; one for a newer sequence is kept.
func (c *Cache) Add(key []byte, seq uint64, value []byte) {
	if c == nil {
		return
	}
	s := c.shard(key)
	cost := int64(len(key) + len(value) + entryOverhead)
	if cost > s.budget {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.items[string(key)]; ok {
		if n.seq > seq {
			return
		}
		s.remove(n)
		c.entries.Add(-1)
	}
	n := &node{key: string(key), seq: seq, value: value}
	s.items[n.key] = n
	c.entries.Add(1)
	s.pushFront(n)
	s.used += cost
	for s.used > s.budget {
		s.remove(s.head.prev)
		c.entries.Add(-1)
	}
}

// Invalidate drops key's entry.
func (c *Cache) Invalidate(key []byte) {
	if c == nil || c.entries.Load() == 0 {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	if n, ok := s.items[string(key)]; ok {
		s.remove(n)
		c.entries.Add(-1)
	}
	s.mu.Unlock()
}

// Stats reports bytes held (by the budget's accounting), hits and misses.
// Lookups made while the cache was empty are not counted.
func (c *Cache) Stats() (bytes, hits, misses int64) {
	if c == nil {
		return 0, 0, 0
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		bytes += s.used
		hits += s.hits
		misses += s.misses
		s.mu.Unlock()
	}
	return bytes, hits, misses
}

func (s *shard) remove(n *node) {
	s.unlink(n)
	delete(s.items, n.key)
	s.used -= int64(len(n.key) + len(n.value) + entryOverhead)
}

func (s *shard) unlink(n *node) {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
}

func (s *shard) pushFront(n *node) {
	n.prev = &s.head
	n.next = s.head.next
	s.head.next.prev = n
	s.head.next = n
}
