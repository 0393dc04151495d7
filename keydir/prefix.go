package keydir

import "bytes"

// RangePrefix is Range restricted to the keys that start with prefix (every
// key for an empty or nil prefix), with the same guarantees: it holds no
// lock while fn runs, so fn may call any method of k; each shard is copied
// under its read lock and then visited, so a key is seen at most once, with
// its entry at the time its shard was copied; keys come in no particular
// order; the key slice is valid only during the call to fn and must not be
// modified.
//
// Only matching keys are copied, but every key is still examined: the
// index is a hash table, so the cost is proportional to the number of keys
// in k, not to the number that match.
func (k *Keydir) RangePrefix(prefix []byte, fn func(key []byte, e Entry) bool) {
	var c ShardCopy
	for i := range k.shards {
		k.CopyShard(i, prefix, &c)
		for j := range c.Len() {
			if !fn(c.At(j)) {
				return
			}
		}
	}
}

// ShardCopy is one shard's keys that start with a prefix, with their
// entries, copied at one instant (CopyShard). Reusing one ShardCopy for
// several shards reuses its memory.
type ShardCopy struct {
	keys []byte
	ents []snapEntry
	// Stamp is the stamp of the last Apply that touched the shard before
	// the copy (0 if none had a stamp).
	Stamp uint64
}

// Len is the number of keys copied.
func (c *ShardCopy) Len() int { return len(c.ents) }

// At returns copied key j and its entry. The key slice is valid until the
// next CopyShard into c and must not be modified.
func (c *ShardCopy) At(j int) ([]byte, Entry) {
	se := c.ents[j]
	end := se.off + se.n
	return c.keys[se.off:end:end], se.e
}

// CopyShard copies into c the keys of shard i (0 <= i < Shards) that start
// with prefix, with their entries and the shard's stamp, under the shard's
// read lock: what an Apply did to the shard is in the copy whole or not at
// all, and its stamp tells which.
func (k *Keydir) CopyShard(i int, prefix []byte, c *ShardCopy) {
	s := &k.shards[i]
	s.mu.RLock()
	c.keys, c.ents = s.snapshotPrefix(prefix, c.keys[:0], c.ents[:0])
	c.Stamp = s.stamp
	s.mu.RUnlock()
}

// snapshotPrefix is snapshot limited to keys that start with prefix.
func (s *shard) snapshotPrefix(prefix []byte, keys []byte, ents []snapEntry) ([]byte, []snapEntry) {
	for j := 0; j < s.n; j++ {
		p := j * slotSize
		if le.Uint16(s.slots[p:]) == 0 {
			continue
		}
		ref := le.Uint32(s.slots[p+2:])
		rec := s.rec(ref)
		key := recKey(rec)
		if !bytes.HasPrefix(key, prefix) {
			continue
		}
		ents = append(ents, snapEntry{off: len(keys), n: len(key), e: s.decode(ref, rec)})
		keys = append(keys, key...)
	}
	return keys, ents
}
