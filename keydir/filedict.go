package keydir

// fileDict numbers the data files a shard's records point into, so that a
// record holds a one-byte index instead of a four-byte FileID. A shard's
// records point into few files (the live data files of the whole DB, at
// most), and those change slowly, so maxDictFiles indexes suffice but for
// rare moments; a record whose file gets no index goes to the ext map.
// Each index counts the records that use it and is reused once none does.
// It is not safe for concurrent use; the shard's lock guards it.
type fileDict struct {
	ids  []uint32 // index -> file id
	refs []uint32 // index -> records using it; 0 = free
	last uint8    // index of the last file acquired: the next is usually the same
}

// maxDictFiles is the number of indexes a one-byte field can hold.
const maxDictFiles = 256

// acquire returns the index of file id, counting one more record that uses
// it. It reports false if id has no index and none is free.
func (d *fileDict) acquire(id uint32) (uint8, bool) {
	if i := d.last; int(i) < len(d.ids) && d.ids[i] == id && d.refs[i] > 0 {
		d.refs[i]++
		return i, true
	}
	free := -1
	for i, x := range d.ids {
		if d.refs[i] == 0 {
			if free < 0 {
				free = i
			}
		} else if x == id {
			d.refs[i]++
			d.last = uint8(i)
			return uint8(i), true
		}
	}
	if free < 0 {
		if len(d.ids) == maxDictFiles {
			return 0, false
		}
		d.ids = append(d.ids, 0)
		d.refs = append(d.refs, 0)
		free = len(d.ids) - 1
	}
	d.ids[free], d.refs[free] = id, 1
	d.last = uint8(free)
	return uint8(free), true
}

// release counts one record fewer that uses index i.
func (d *fileDict) release(i uint8) { d.refs[i]-- }

// id returns the file id of index i.
func (d *fileDict) id(i uint8) uint32 { return d.ids[i] }

func (d *fileDict) memoryBytes() int64 { return int64(cap(d.ids)+cap(d.refs)) * 4 }
