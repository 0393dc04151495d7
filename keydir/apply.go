package keydir

import (
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// Op is one write of an Apply: a Put of Entry under Key, or, with Delete,
// a Delete of Key at Entry.Seq. Apply fills in the results.
type Op struct {
	Key    []byte
	Entry  Entry
	Delete bool

	// Prev and HadPrev are what Put or Delete returns as the previous
	// entry; Done says the entry was installed (Put) or the key removed
	// (Delete).
	Prev    Entry
	HadPrev bool
	Done    bool
}

// Apply does ops in order as one step that readers see whole: it
// write-locks every shard the ops touch, in shard order, before the first
// op and unlocks them after the last, so a Get (and a Range's copy of a
// shard) sees either none of the ops or all of them. Each op has the
// semantics of Put or Delete. It panics if an Entry.Seq is >= 1<<63.
//
// A nonzero stamp is recorded in every shard the ops touch, under the same
// locks, so that a CopyShard can tell whether its copy has this Apply in
// it (engine.Scan uses it to hide batches applied after it started).
// Stamps must grow from one Apply to the next.
//
// Shards are locked in ascending order, and nothing else holds two shard
// locks at once, so Applies cannot deadlock with each other or with
// single writes.
func (k *Keydir) Apply(ops []Op, stamp uint64) {
	var touched [numShards / 64]uint64
	for i := range ops {
		checkSeq(ops[i].Entry)
		si := xxhash.Sum64(ops[i].Key) >> (64 - shardBits)
		touched[si/64] |= 1 << (si % 64)
	}
	k.forTouched(&touched, func(s *shard) { s.mu.Lock() })
	for i := range ops {
		op := &ops[i]
		h, s := k.shardOf(op.Key)
		if op.Delete {
			op.Prev, op.Done = s.del(h, op.Key, op.Entry.Seq)
			op.HadPrev = op.Done || op.Prev != (Entry{})
			continue
		}
		op.Prev, op.HadPrev, op.Done = s.put(h, op.Key, op.Entry)
	}
	if stamp != 0 {
		k.forTouched(&touched, func(s *shard) { s.stamp = stamp })
	}
	k.forTouched(&touched, func(s *shard) { s.mu.Unlock() })
}

// forTouched calls fn for every shard whose bit is set, in shard order.
func (k *Keydir) forTouched(touched *[numShards / 64]uint64, fn func(*shard)) {
	for w, word := range touched {
		for word != 0 {
			fn(&k.shards[w*64+bits.TrailingZeros64(word)])
			word &= word - 1
		}
	}
}
