package engine

import (
	"container/list"
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

// dataFile is one readable data file. refs counts the table's own reference
// plus every read in progress, so a file is closed (and its mapping
// released) only when nobody reads it.
type dataFile struct {
	id   uint32
	path string
	r    *datafile.Reader
	refs atomic.Int32
	lru  *list.Element // in fdCache; guarded by fdCache.mu
}

// acquire takes a reference; it fails once the file is being closed.
func (f *dataFile) acquire() bool {
	for {
		n := f.refs.Load()
		if n <= 0 {
			return false
		}
		if f.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference and closes the file when it was the last.
func (f *dataFile) release() error {
	if f.refs.Add(-1) == 0 {
		return f.r.Close()
	}
	return nil
}

// fileTable maps file ids to readable files. Lookups are lock-free: the map
// is replaced, never modified, under mu.
type fileTable struct {
	mu    sync.Mutex
	files atomic.Pointer[map[uint32]*dataFile]
}

func (t *fileTable) init() {
	m := map[uint32]*dataFile{}
	t.files.Store(&m)
}

// get returns file id with a reference taken; release it when done.
func (t *fileTable) get(id uint32) (*dataFile, bool) {
	f, ok := (*t.files.Load())[id]
	if !ok || !f.acquire() {
		return nil, false
	}
	return f, true
}

func (t *fileTable) add(f *dataFile) {
	f.refs.Store(1)
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

// closeAll removes every file and drops the table's references.
func (t *fileTable) closeAll() error {
	t.mu.Lock()
	old := *t.files.Load()
	m := map[uint32]*dataFile{}
	t.files.Store(&m)
	t.mu.Unlock()
	var first error
	for _, f := range old {
		if err := f.release(); err != nil && first == nil {
			first = err
		}
	}
	return first
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
