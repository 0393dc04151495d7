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
	var keys []byte
	var ents []snapEntry
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.RLock()
		keys, ents = s.snapshotPrefix(prefix, keys[:0], ents[:0])
		s.mu.RUnlock()
		for _, se := range ents {
			end := se.off + se.n
			if !fn(keys[se.off:end:end], se.e) {
				return
			}
		}
	}
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
