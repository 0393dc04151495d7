package keydir

import (
	"bytes"
	"encoding/binary"
	"sync"

	"github.com/cespare/xxhash/v2"
)

const (
	// slotSize is the size of one hash-table slot: a 16-bit tag (bits
	// 40..55 of the key's hash) then a uint32 ref. The tag makes a false
	// key comparison rare (1 in 65535 probes) and, in tables of up to
	// maxTagHomeSlots slots, gives an entry's home slot without reading its
	// record: resizes and deletions then never touch the arena.
	slotSize = 6

	minSlots = 8
	// The table grows when it would exceed maxLoadPct and is then sized to
	// growLoadPct, so it grows by 90/72 = 1.25x. Smaller steps keep the
	// table fuller (1.125x saved 0.2 to 0.8 heap bytes per 16-byte key
	// between 0.9M and 1.25M keys; 38.6 to 39.6 B/key now) but rehash each
	// key about twice as often: at 1.125x resizes were a third of a
	// random-fill Put, and kvbench fill-rand went from 2.6x to 2.9x pebble
	// with 1.25x. Probes compare 2-byte tags, so the longer clusters of a
	// full table cost little. It shrinks below 25% load.
	maxLoadPct  = 90
	growLoadPct = 72
	// compactMin is the least amount of dead record bytes worth compacting.
	compactMin = chunkSize
	// extEntryBytes approximates the heap cost of one ext map entry.
	extEntryBytes = 48
)

var le = binary.LittleEndian

// maxTagHomeSlots is the largest table whose home slots come from the tag
// alone. Larger tables (over ~55k keys in one shard, ~14M keys in all) use
// 32 bits of the hash, recomputed from the key when needed. A variable only
// so that tests can exercise large tables with few keys.
var maxTagHomeSlots = 1 << 16

// shard is one lock's worth of the index: a hash table of slots pointing
// into an arena of records.
type shard struct {
	mu sync.RWMutex

	slots    []byte // n slots of slotSize bytes: tag (0 = empty), ref
	n        int    // number of slots
	count    int    // live keys
	growAt   int    // grow when count would exceed this
	shrinkAt int    // shrink when count falls below this

	arena
	files fileDict
	ext   map[uint32]Entry // ref -> entry, for records with extFlag
	// stamp is the stamp of the last Apply that touched the shard with
	// one (see Apply and CopyShard).
	stamp uint64

	_ [64]byte // keep neighbouring shards' locks off this shard's cache lines
}

// tagOf returns the 16-bit slot tag of hash h (never 0, which means empty).
// It uses bits the shard index (the top 8) does not.
func tagOf(h uint64) uint16 {
	t := uint16(h >> 40)
	if t == 0 {
		t = 1
	}
	return t
}

// home returns the home slot of hash h in a table of n slots: from the tag
// in small tables, so that it can be recomputed from a slot alone, and from
// 32 bits of the hash in large ones, where 16 bits would not spread keys.
func home(h uint64, n int) int {
	if n <= maxTagHomeSlots {
		return int((uint64(tagOf(h)) * uint64(n)) >> 16)
	}
	return int((uint64(uint32(h)) * uint64(n)) >> 32)
}

// slotHome returns the home slot of the entry in slot j of s's table.
func (s *shard) slotHome(j int) int {
	p := j * slotSize
	if s.n <= maxTagHomeSlots {
		return int((uint64(le.Uint16(s.slots[p:])) * uint64(s.n)) >> 16)
	}
	return home(xxhash.Sum64(recKey(s.rec(le.Uint32(s.slots[p+2:])))), s.n)
}

// find looks key up. If found it returns its slot index, ref and record;
// otherwise it returns the empty slot where key would be inserted (-1 if
// the table has no slots).
func (s *shard) find(h uint64, key []byte) (i int, ref uint32, rec []byte, found bool) {
	if s.n == 0 {
		return -1, 0, nil, false
	}
	tag := tagOf(h)
	slots := s.slots
	i = home(h, s.n)
	for {
		p := i * slotSize
		sl := slots[p : p+slotSize : p+slotSize]
		t := le.Uint16(sl)
		if t == 0 {
			return i, 0, nil, false
		}
		if t == tag {
			ref = le.Uint32(sl[2:])
			rec = s.rec(ref)
			if bytes.Equal(recKey(rec), key) {
				return i, ref, rec, true
			}
		}
		i++
		if i == s.n {
			i = 0
		}
	}
}

// decode returns the entry stored in record rec (named ref).
func (s *shard) decode(ref uint32, rec []byte) Entry {
	w := uint48(rec)
	if w&extFlag != 0 {
		return s.ext[ref]
	}
	return Entry{
		FileID: s.files.id(rec[6]),
		Offset: le.Uint32(rec[7:11]),
		Size:   uint32(le.Uint16(rec[11:13])),
		Seq:    w,
	}
}

// write stores e in record rec (named ref); fresh says that rec is new and
// holds no entry yet.
func (s *shard) write(ref uint32, rec []byte, fresh bool, e Entry) {
	if !fresh {
		s.release(ref, rec)
	}
	if e.Expiry == 0 && e.Seq <= maxInlineSeq && e.Size <= maxInlineSize {
		if i, ok := s.files.acquire(e.FileID); ok {
			putUint48(rec, e.Seq)
			rec[6] = i
			le.PutUint32(rec[7:11], e.Offset)
			le.PutUint16(rec[11:13], uint16(e.Size))
			return
		}
	}
	if s.ext == nil {
		s.ext = make(map[uint32]Entry)
	}
	s.ext[ref] = e
	putUint48(rec, extFlag)
}

// release drops what the entry in record rec (named ref) holds besides
// the record's bytes: its file's index, or its ext map entry.
func (s *shard) release(ref uint32, rec []byte) {
	if uint48(rec)&extFlag == 0 {
		s.files.release(rec[6])
		return
	}
	delete(s.ext, ref)
	if len(s.ext) == 0 {
		s.ext = nil // maps never shrink; let an emptied one go
	}
}

func uint48(b []byte) uint64 {
	_ = b[5]
	return uint64(le.Uint32(b)) | uint64(le.Uint16(b[4:]))<<32
}

func putUint48(b []byte, v uint64) {
	_ = b[5]
	le.PutUint32(b, uint32(v))
	le.PutUint16(b[4:], uint16(v>>32))
}

func (s *shard) get(h uint64, key []byte) (Entry, bool) {
	_, ref, rec, ok := s.find(h, key)
	if !ok {
		return Entry{}, false
	}
	return s.decode(ref, rec), true
}

func (s *shard) put(h uint64, key []byte, e Entry) (prev Entry, hadPrev, installed bool) {
	i, ref, rec, ok := s.find(h, key)
	if ok {
		prev = s.decode(ref, rec)
		if !newer(e, prev) {
			return prev, true, false
		}
		s.write(ref, rec, false, e)
		return prev, true, true
	}
	if s.count+1 > s.growAt {
		s.resize(slotsFor(s.count + 1))
		i = s.emptySlot(h)
	}
	ref, rec = s.alloc(key)
	s.write(ref, rec, true, e)
	s.setSlot(i, tagOf(h), ref)
	s.count++
	return Entry{}, false, true
}

func (s *shard) del(h uint64, key []byte, seq uint64) (prev Entry, removed bool) {
	i, ref, rec, ok := s.find(h, key)
	if !ok {
		return Entry{}, false
	}
	prev = s.decode(ref, rec)
	if prev.Seq >= seq {
		return prev, false
	}
	s.release(ref, rec)
	s.free(ref, rec)
	s.removeSlot(i)
	s.count--
	switch {
	case s.count == 0:
		s.reset()
	case s.count < s.shrinkAt:
		s.resize(slotsFor(s.count))
	}
	if s.deadBytes > s.liveBytes && s.deadBytes >= compactMin {
		s.compact()
	}
	return prev, true
}

func (s *shard) cas(h uint64, key []byte, old, e Entry) bool {
	_, ref, rec, ok := s.find(h, key)
	if !ok {
		return false
	}
	cur := s.decode(ref, rec)
	if cur != old {
		return false
	}
	s.write(ref, rec, false, e)
	return true
}

// reset drops all storage of an empty shard.
func (s *shard) reset() {
	s.slots, s.n, s.count, s.growAt, s.shrinkAt = nil, 0, 0, 0, 0
	s.arena = arena{}
	s.files = fileDict{}
	s.ext = nil
}

// slotsFor returns the table size for count keys.
func slotsFor(count int) int {
	var n int
	if count < 1024 {
		n = 2 * count // small shards: double, rehashing is cheap anyway
	} else {
		n = count*100/growLoadPct + 1
	}
	if n < minSlots {
		n = minSlots
	}
	return n
}

// resize rebuilds the table with n slots. While the new table is small
// enough for tag homes, it is built from the old slots alone, a sequential
// pass that reads no record.
func (s *shard) resize(n int) {
	old, oldN := s.slots, s.n
	s.slots = make([]byte, n*slotSize)
	s.n = n
	s.growAt = n * maxLoadPct / 100 // < n since n >= minSlots
	s.shrinkAt = 0
	if n > minSlots {
		s.shrinkAt = n / 4
	}
	for j := 0; j < oldN; j++ {
		p := j * slotSize
		tag := le.Uint16(old[p:])
		if tag == 0 {
			continue
		}
		ref := le.Uint32(old[p+2:])
		var i int
		if n <= maxTagHomeSlots {
			i = int((uint64(tag) * uint64(n)) >> 16)
		} else {
			i = home(xxhash.Sum64(recKey(s.rec(ref))), n)
		}
		s.setSlot(s.probeEmpty(i), tag, ref)
	}
}

// emptySlot returns the first empty slot on h's probe path.
func (s *shard) emptySlot(h uint64) int { return s.probeEmpty(home(h, s.n)) }

// probeEmpty returns the first empty slot at or after slot i.
func (s *shard) probeEmpty(i int) int {
	for le.Uint16(s.slots[i*slotSize:]) != 0 {
		i++
		if i == s.n {
			i = 0
		}
	}
	return i
}

func (s *shard) setSlot(i int, tag uint16, ref uint32) {
	p := i * slotSize
	le.PutUint16(s.slots[p:], tag)
	le.PutUint32(s.slots[p+2:], ref)
}

// removeSlot empties slot i by backward-shift deletion: every following
// slot of the cluster whose probe path passes through the hole moves into
// it, so lookups never need tombstones.
func (s *shard) removeSlot(i int) {
	n := s.n
	j := i
	for {
		j++
		if j == n {
			j = 0
		}
		p := j * slotSize
		if le.Uint16(s.slots[p:]) == 0 {
			break
		}
		dHome := j - s.slotHome(j) // distance from the entry's home to j
		if dHome < 0 {
			dHome += n
		}
		dHole := j - i
		if dHole < 0 {
			dHole += n
		}
		if dHome >= dHole { // the hole lies on its probe path: move it
			copy(s.slots[i*slotSize:i*slotSize+slotSize], s.slots[p:p+slotSize])
			i = j
		}
	}
	p := i * slotSize
	clear(s.slots[p : p+slotSize])
}

// compact copies the live records into fresh chunks (and renumbers the
// large records densely), rewriting their refs in the table.
func (s *shard) compact() {
	var na arena
	var ext map[uint32]Entry
	if len(s.ext) > 0 {
		ext = make(map[uint32]Entry, len(s.ext))
	}
	na.largeBytes = s.largeBytes
	for j := 0; j < s.n; j++ {
		p := j * slotSize
		if le.Uint16(s.slots[p:]) == 0 {
			continue
		}
		ref := le.Uint32(s.slots[p+2:])
		rec := s.rec(ref)
		var nref uint32
		if ref&largeBit != 0 {
			na.large = append(na.large, rec)
			nref = largeBit | uint32(len(na.large)-1)
		} else {
			rl := recLen(rec)
			var nrec []byte
			nref, nrec = na.allocSmall(rl)
			copy(nrec, rec[:rl])
		}
		if uint48(rec)&extFlag != 0 {
			ext[nref] = s.ext[ref]
		}
		le.PutUint32(s.slots[p+2:], nref)
	}
	na.chunks = shrinkCap(na.chunks)
	na.large = shrinkCap(na.large)
	s.arena = na
	s.ext = ext
}

// shrinkCap drops the spare capacity of a slice of slices.
func shrinkCap(x [][]byte) [][]byte {
	if cap(x)-len(x) < 16 {
		return x
	}
	return append([][]byte(nil), x...)
}

// snapshot appends copies of all keys to keys and their entries to ents.
func (s *shard) snapshot(keys []byte, ents []snapEntry) ([]byte, []snapEntry) {
	for j := 0; j < s.n; j++ {
		p := j * slotSize
		if le.Uint16(s.slots[p:]) == 0 {
			continue
		}
		ref := le.Uint32(s.slots[p+2:])
		rec := s.rec(ref)
		k := recKey(rec)
		ents = append(ents, snapEntry{off: len(keys), n: len(k), e: s.decode(ref, rec)})
		keys = append(keys, k...)
	}
	return keys, ents
}

type snapEntry struct {
	off, n int
	e      Entry
}

// memoryBytes approximates the heap bytes held by the shard's storage.
func (s *shard) memoryBytes() int64 {
	m := int64(cap(s.slots)) + s.arena.memoryBytes() + s.files.memoryBytes()
	if s.ext != nil {
		m += int64(len(s.ext))*extEntryBytes + 48
	}
	return m
}
