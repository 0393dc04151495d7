package engine

import (
	"container/list"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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

// dataFile is one readable data file.
type dataFile struct {
	id   uint32
	path string
	r    *datafile.Reader
	lru  *list.Element // in fdCache; guarded by fdCache.mu
}

// readStripes is the number of read-lock stripes of a fileTable.
const readStripes = 16

// paddedRWMutex keeps each stripe on its own cache line, so readers on
// different cores do not contend.
type paddedRWMutex struct {
	sync.RWMutex
	_ [64 - 24]byte
}

// fileTable maps file ids to readable files. Lookups are lock-free: the map
// is replaced, never modified. A read holds one of readStripes read locks
// (picked by the caller from anything well spread, such as the record
// offset) from lookup until it is done with the file's memory; closing or
// removing a file takes all stripes, so a mapping is never released under a
// reader, and readers on different stripes never touch a shared cache line.
type fileTable struct {
	mu      sync.Mutex // serializes writers of files
	files   atomic.Pointer[map[uint32]*dataFile]
	stripes [readStripes]paddedRWMutex
}

func (t *fileTable) init() {
	m := map[uint32]*dataFile{}
	t.files.Store(&m)
}

// readLock read-locks stripe i (any number) and returns it for RUnlock.
func (t *fileTable) readLock(i uint32) *paddedRWMutex {
	s := &t.stripes[i%readStripes]
	s.RLock()
	return s
}

// get returns file id; call it with a read stripe held.
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
	for i := range t.stripes {
		t.stripes[i].Lock()
	}
	old := *t.files.Load()
	m := map[uint32]*dataFile{}
	t.files.Store(&m)
	for i := range t.stripes {
		t.stripes[i].Unlock()
	}
	var errs []error
	for _, f := range old {
		errs = append(errs, f.r.Close())
	}
	return errors.Join(errs...)
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

func walPath(dir string, id uint32) string {
	return filepath.Join(dir, walDir, dataFileName(id))
}
