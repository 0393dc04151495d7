package engine

import (
	"cmp"
	"container/list"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/datafile"
)

const dataExt = ".data"

// dataFileName is the name of data file id: 12 zero-padded digits, so names
// sort in id order.
func dataFileName(id uint32) string { return fmt.Sprintf("%012d%s", id, dataExt) }

// parseDataFileName returns the id of a data file name.
func parseDataFileName(name string) (uint32, bool) {
	base, ok := strings.CutSuffix(name, dataExt)
	if !ok || len(base) != 12 {
		return 0, false
	}
	id, err := strconv.ParseUint(base, 10, 32)
	return uint32(id), err == nil
}

// dataFile is one readable data file and the accounting the compaction
// picker works from.
type dataFile struct {
	id   uint32
	wal  bool // in wal/ (a log file) rather than last_state/ (merge output)
	path string
	r    *datafile.Reader
	lru  *list.Element // in fdCache; guarded by fdCache.mu

	size  atomic.Int64 // bytes in the file, header included
	dead  atomic.Int64 // bytes of records no longer live
	tombs atomic.Int64 // bytes of delete markers
	// minSeq and maxSeq bound the sequence numbers of the file's records
	// (0, 0 before the first). A delete marker may be dropped only if no
	// surviving file has minSeq below it.
	minSeq, maxSeq atomic.Uint64
	// expiresAt is the latest expiry of the file's put records:
	// neverExpires once any of them has none, 0 while there are none.
	expiresAt atomic.Int64
}

const neverExpires = math.MaxInt64

// noteRecord accounts for one record of the file: appended by the write
// path, copied by a merge, or found by recovery.
func (f *dataFile) noteRecord(seq uint64, expiry int64, tombstone bool, size int64) {
	f.noteSeqs(seq, seq)
	if tombstone {
		f.tombs.Add(size)
		return
	}
	if expiry == 0 {
		expiry = neverExpires
	}
	for {
		cur := f.expiresAt.Load()
		if expiry <= cur || f.expiresAt.CompareAndSwap(cur, expiry) {
			return
		}
	}
}

// noteAppend is noteRecord for the active file, whose records only the
// write path (under wmu) adds, in sequence order: plain loads and stores
// do, with no compare-and-swap loops on the hot path.
func (f *dataFile) noteAppend(seq uint64, expiry int64, tombstone bool, size int64) {
	f.size.Add(size)
	if f.minSeq.Load() == 0 {
		f.minSeq.Store(seq)
	}
	f.maxSeq.Store(seq)
	if tombstone {
		f.tombs.Add(size)
		return
	}
	if expiry == 0 {
		expiry = neverExpires
	}
	if expiry > f.expiresAt.Load() {
		f.expiresAt.Store(expiry)
	}
}

// noteSeqs widens the file's sequence range to include [lo, hi]. Recovery
// may call it from several goroutines at once.
func (f *dataFile) noteSeqs(lo, hi uint64) {
	for {
		cur := f.minSeq.Load()
		if (cur != 0 && cur <= lo) || f.minSeq.CompareAndSwap(cur, lo) {
			break
		}
	}
	for {
		cur := f.maxSeq.Load()
		if cur >= hi || f.maxSeq.CompareAndSwap(cur, hi) {
			break
		}
	}
}

// info is the picker's view of f; expired is the bytes of its records
// that the keydir still holds but that have expired (see expiredBytes).
func (f *dataFile) info(expired int64) compaction.FileInfo {
	exp := f.expiresAt.Load()
	if exp == neverExpires {
		exp = 0
	}
	return compaction.FileInfo{
		ID: f.id, WAL: f.wal, Size: f.size.Load(), Dead: f.dead.Load() + expired,
		Tombstones: f.tombs.Load(), ExpiresAt: exp,
	}
}

// fileTable maps file ids to readable files. Lookups are lock-free: the map
// is replaced, never modified. A read looks its file up and uses the
// file's memory while it holds the keydir pin of the key it reads
// (keydir.GetPinned); closing or removing a file first replaces the map
// and then waits out every pin (keydir.Barrier), so a mapping is never
// released under a reader. Readers thus share no written cache line: a
// read lock of the table's own, taken by every Get from both cores, was
// about a sixth of a Get.
type fileTable struct {
	mu    sync.Mutex // serializes writers of files
	files atomic.Pointer[map[uint32]*dataFile]
	// barrier returns once every reader that might have looked up the
	// previous map is done with its file.
	barrier func()
}

func (t *fileTable) init(barrier func()) {
	m := map[uint32]*dataFile{}
	t.files.Store(&m)
	t.barrier = barrier
}

// get returns file id. A reader must hold its keydir pin from before get
// until it is done with the file's memory.
func (t *fileTable) get(id uint32) (*dataFile, bool) {
	f, ok := (*t.files.Load())[id]
	return f, ok
}

func (t *fileTable) add(f *dataFile) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.files.Load()
	m := make(map[uint32]*dataFile, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[f.id] = f
	t.files.Store(&m)
}

// closeAll removes and closes every file once no reader uses them.
func (t *fileTable) closeAll() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.files.Load()
	m := map[uint32]*dataFile{}
	t.files.Store(&m)
	t.barrier()
	var errs []error
	for _, f := range old {
		errs = append(errs, f.r.Close())
	}
	return errors.Join(errs...)
}

// remove takes files ids out of the table, waits until no reader uses
// them and returns them; the caller closes them. Readers that find a file
// missing look their key up again (the merge that removes a file has moved
// its live records first).
func (t *fileTable) remove(ids []uint32) []*dataFile {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.files.Load()
	m := make(map[uint32]*dataFile, len(old))
	for k, v := range old {
		m[k] = v
	}
	var gone []*dataFile
	for _, id := range ids {
		if f, ok := m[id]; ok {
			gone = append(gone, f)
			delete(m, id)
		}
	}
	t.files.Store(&m)
	t.barrier()
	return gone
}

// snapshot returns the files in id order.
func (t *fileTable) snapshot() []*dataFile {
	m := *t.files.Load()
	out := make([]*dataFile, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *dataFile) int { return cmp.Compare(a.id, b.id) })
	return out
}

func (t *fileTable) len() int { return len(*t.files.Load()) }

// fdCache bounds the descriptors held by unmapped readers: it remembers the
// order files were read in and releases the least recently used descriptor
// when more than max are open. A released reader reopens on its next read.
type fdCache struct {
	mu  sync.Mutex
	max int
	lru list.List // of *dataFile, most recent first
}

func (c *fdCache) touch(f *dataFile) {
	if f.r.Mapped() {
		return
	}
	c.mu.Lock()
	if f.lru != nil {
		c.lru.MoveToFront(f.lru)
		c.mu.Unlock()
		return
	}
	f.lru = c.lru.PushFront(f)
	var victims []*dataFile
	for c.lru.Len() > c.max {
		v := c.lru.Remove(c.lru.Back()).(*dataFile)
		v.lru = nil
		victims = append(victims, v)
	}
	c.mu.Unlock()
	for _, v := range victims {
		_ = v.r.Release() // reopened on demand; a close error here loses nothing
	}
}

// forget drops f from the cache before f is closed for good.
func (c *fdCache) forget(f *dataFile) {
	c.mu.Lock()
	if f.lru != nil {
		c.lru.Remove(f.lru)
		f.lru = nil
	}
	c.mu.Unlock()
}

const hintExt = ".hint"

// parseHintFileName returns the id of a hint file name.
func parseHintFileName(name string) (uint32, bool) {
	base, ok := strings.CutSuffix(name, hintExt)
	if !ok {
		return 0, false
	}
	return parseDataFileName(base + dataExt)
}

func hintFileName(id uint32) string { return fmt.Sprintf("%012d%s", id, hintExt) }

func walPath(dir string, id uint32) string {
	return filepath.Join(dir, walDir, dataFileName(id))
}

func lastStatePath(dir string, id uint32) string {
	return filepath.Join(dir, lastStateDir, dataFileName(id))
}

func hintPath(dir string, id uint32) string {
	return filepath.Join(dir, lastStateDir, hintFileName(id))
}

// walHintPath is the hint file of log file id, written when the file is
// sealed.
func walHintPath(dir string, id uint32) string {
	return filepath.Join(dir, walDir, hintFileName(id))
}
