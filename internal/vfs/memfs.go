package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// OpKind names a mutating MemFS operation (see MemFS.SetOpHook).
type OpKind string

// The mutating operations counted by MemFS.OpCount.
const (
	OpCreate   OpKind = "create"   // FS.Create
	OpWrite    OpKind = "write"    // File.Write
	OpSync     OpKind = "sync"     // File.Sync
	OpTruncate OpKind = "truncate" // File.Truncate
	OpRename   OpKind = "rename"   // FS.Rename
	OpLink     OpKind = "link"     // FS.Link
	OpRemove   OpKind = "remove"   // FS.Remove
	OpMkdir    OpKind = "mkdir"    // FS.MkdirAll
	OpSyncDir  OpKind = "syncdir"  // FS.SyncDir
	OpLock     OpKind = "lock"     // FS.Lock (which may create the file)
)

// MemOp describes one mutating operation, as passed to a MemFS op hook.
type MemOp struct {
	// Seq is the operation's 1-based sequence number: OpCount() is Seq once
	// the operation has started.
	Seq  int
	Kind OpKind
	// Path is the name the operation was called with (the file's name as
	// opened for file operations, the old name for Rename).
	Path string
	// NewPath is the new name for Rename, empty otherwise.
	NewPath string
}

// MemFS is an in-memory FS that records what has been made durable, so that
// CrashClone can produce the state a power cut would leave behind.
//
// Paths are cleaned; relative paths are taken relative to "/", which always
// exists. Errors mirror the OS implementation: *fs.PathError (*os.LinkError
// for Rename) wrapping syscall errnos, so errors.Is(err, fs.ErrNotExist),
// errors.Is(err, fs.ErrExist) and errors.Is(err, syscall.ENOTEMPTY) work.
//
// Durability model:
//   - a file's durable contents are those at its last successful File.Sync;
//   - a directory's durable entries are those at its last successful SyncDir
//     (or Sync of an open handle on the directory). An entry refers to a file
//     or directory itself, not to its name, so a file that was removed or
//     renamed after the directory was last synced reappears under its old
//     name, with its own durable contents.
//
// Its files do not implement Mapper. MemFS is safe for concurrent use.
type MemFS struct {
	mu    sync.Mutex
	root  *memNode
	locks map[*memNode]bool // held locks, by inode as flock(2) does
	ops   int
	hook  func(MemOp) error
}

var _ FS = (*MemFS)(nil)

// memNode is an inode: a regular file or a directory.
type memNode struct {
	isDir   bool
	mode    os.FileMode
	modTime time.Time

	// Regular files.
	data   []byte // current contents
	synced []byte // contents at the last Sync; never shares memory with data
	// rewritten is set when, since the last Sync, bytes below len(synced)
	// were overwritten or truncated away; otherwise data has synced as a
	// prefix and the file only grew.
	rewritten bool

	// Directories.
	children       map[string]*memNode
	syncedChildren map[string]*memNode // entries at the last SyncDir
}

func newDirNode(perm os.FileMode) *memNode {
	return &memNode{
		isDir:          true,
		mode:           os.ModeDir | perm.Perm(),
		modTime:        time.Now(),
		children:       map[string]*memNode{},
		syncedChildren: map[string]*memNode{},
	}
}

func newFileNode(perm os.FileMode) *memNode {
	return &memNode{mode: perm.Perm(), modTime: time.Now()}
}

// NewMem returns an empty MemFS holding only the root directory "/".
func NewMem() *MemFS {
	return &MemFS{root: newDirNode(0o755), locks: map[*memNode]bool{}}
}

// OpCount returns the number of mutating operations started so far: calls to
// Create, File.Write, File.Sync, File.Truncate, Rename, Remove, MkdirAll,
// SyncDir and Lock, whether or not they succeeded.
func (m *MemFS) OpCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// SetOpHook installs fn (nil removes it) to be called at the start of every
// mutating operation, before it takes effect. fn runs without the MemFS lock
// held, so it may call CrashClone to capture the state just before operation
// op.Seq. If fn returns an error, the operation fails with that error (wrapped
// in a *fs.PathError or *os.LinkError) and has no effect, which lets tests
// inject failures such as a failed fsync.
func (m *MemFS) SetOpHook(fn func(op MemOp) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hook = fn
}

// beginOp counts a mutating operation and runs the hook.
func (m *MemFS) beginOp(kind OpKind, name, newName string) error {
	m.mu.Lock()
	m.ops++
	op := MemOp{Seq: m.ops, Kind: kind, Path: name, NewPath: newName}
	hook := m.hook
	m.mu.Unlock()
	if hook == nil {
		return nil
	}
	return hook(op)
}

// CrashClone returns a new, independent MemFS holding what a power cut at this
// instant would leave on disk: only durable directory entries (see MemFS) and,
// for each file, its durable contents.
//
// If rng is not nil, unsynced data may also partly survive, as with a torn
// write: a file that only grew since its last Sync keeps its synced contents
// plus a random-length prefix of the unsynced tail, and a file that was
// truncated or overwritten in place keeps either its synced or its current
// contents, at random. Given the same state and the same rng state, the
// result is deterministic.
//
// Everything in the clone is durable. Locks and the op hook are not carried
// over, and its OpCount starts at zero.
func (m *MemFS) CrashClone(rng *rand.Rand) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMem()
	c.root = crashCopy(m.root, rng, map[*memNode]bool{})
	return c
}

// crashCopy deep-copies the durable state of n. onPath holds the directories
// being copied above n: durable entries can form a cycle when directories are
// renamed back and forth without syncing every parent, and such entries are
// dropped.
func crashCopy(n *memNode, rng *rand.Rand, onPath map[*memNode]bool) *memNode {
	if !n.isDir {
		c := &memNode{mode: n.mode, modTime: n.modTime, data: crashData(n, rng)}
		c.synced = bytes.Clone(c.data)
		return c
	}
	onPath[n] = true
	defer delete(onPath, n)
	c := &memNode{isDir: true, mode: n.mode, modTime: n.modTime, children: map[string]*memNode{}}
	// Sorted, so the rng draws are deterministic.
	for _, name := range slices.Sorted(maps.Keys(n.syncedChildren)) {
		child := n.syncedChildren[name]
		if onPath[child] {
			continue
		}
		c.children[name] = crashCopy(child, rng, onPath)
	}
	c.syncedChildren = maps.Clone(c.children)
	return c
}

// crashData returns the contents file n would have after a power cut.
func crashData(n *memNode, rng *rand.Rand) []byte {
	if rng == nil {
		return bytes.Clone(n.synced)
	}
	if n.rewritten && len(n.data) < len(n.synced) {
		// Cut below its durable size: the truncation either made it or not.
		if rng.Intn(2) == 0 {
			return bytes.Clone(n.synced)
		}
		return bytes.Clone(n.data)
	}
	tail := n.data[len(n.synced):]
	k := rng.Intn(len(tail) + 1)
	out := make([]byte, len(n.synced)+k)
	copy(out, n.synced)
	if !n.rewritten {
		// An append since the last sync: a prefix of it made it.
		copy(out[len(n.synced):], tail[:k])
		return out
	}
	// Rewritten in place since the last sync (preallocated space being
	// filled, say): the kernel writes dirty pages back whole and in any
	// order, so each page comes back as it was (zeros past the old end)
	// or as it is now, on its own, whatever the size that made it.
	for off := 0; off < len(out); off += crashPage {
		end := min(off+crashPage, len(out))
		if rng.Intn(2) == 0 {
			clear(out[off:end])
			copy(out[off:end], n.data[off:min(end, len(n.data))])
		}
	}
	return out
}

// crashPage is the unit in which CrashClone keeps or loses a rewrite in
// place: a page of the page cache.
const crashPage = 4096

// splitPath returns the components of name, cleaned and taken relative to
// the root; nil for the root itself.
func splitPath(name string) []string {
	p := path.Clean("/" + filepath.ToSlash(name))
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// walk returns the directory that holds the last component of name and that
// component, or (nil, "", nil) if name is the root. The error is a
// syscall.Errno.
func (m *MemFS) walk(name string) (*memNode, string, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", nil
	}
	dir := m.root
	for _, p := range parts[:len(parts)-1] {
		c, ok := dir.children[p]
		if !ok {
			return nil, "", syscall.ENOENT
		}
		if !c.isDir {
			return nil, "", syscall.ENOTDIR
		}
		dir = c
	}
	return dir, parts[len(parts)-1], nil
}

// lookup returns the node named name. The error is a syscall.Errno.
func (m *MemFS) lookup(name string) (*memNode, error) {
	dir, base, err := m.walk(name)
	if err != nil {
		return nil, err
	}
	if dir == nil {
		return m.root, nil
	}
	n, ok := dir.children[base]
	if !ok {
		return nil, syscall.ENOENT
	}
	return n, nil
}

// baseName is the FileInfo name of name.
func baseName(name string) string {
	parts := splitPath(name)
	if len(parts) == 0 {
		return "/"
	}
	return parts[len(parts)-1]
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	if err := m.beginOp(OpCreate, name, ""); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.walk(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if dir == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EEXIST}
	}
	if _, ok := dir.children[base]; ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EEXIST}
	}
	n := newFileNode(0o644)
	dir.children[base] = n
	dir.modTime = n.modTime
	return &memFile{m: m, n: n, name: name, writable: true}, nil
}

// OpenReadWrite implements FS.
func (m *MemFS) OpenReadWrite(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if n.isDir {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	return &memFile{m: m, n: n, name: name, writable: true}, nil
}

// Open implements FS. As with the OS, a directory can be opened; reading it
// fails and syncing it is SyncDir.
func (m *MemFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &memFile{m: m, n: n, name: name}, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	if err := m.beginOp(OpRemove, name, ""); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.walk(name)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	if dir == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.EBUSY}
	}
	n, ok := dir.children[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOENT}
	}
	if n.isDir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(dir.children, base)
	dir.modTime = time.Now()
	return nil
}

// Rename implements FS with the rules of os.Rename on Unix: a file may
// replace a file; an existing directory is never replaced (os.Rename refuses
// it with EEXIST before calling rename(2)); a directory cannot replace a file
// or be moved inside itself.
func (m *MemFS) Rename(oldname, newname string) error {
	lerr := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	if err := m.beginOp(OpRename, oldname, newname); err != nil {
		return lerr(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Like rename(2), resolve both parents before looking at either entry.
	odir, obase, err := m.walk(oldname)
	if err != nil {
		return lerr(err)
	}
	ndir, nbase, err := m.walk(newname)
	if err != nil {
		return lerr(err)
	}
	if odir == nil || ndir == nil {
		return lerr(syscall.EBUSY) // the root
	}
	n, ok := odir.children[obase]
	if !ok {
		return lerr(syscall.ENOENT)
	}
	target, exists := ndir.children[nbase]
	if exists && target.isDir {
		return lerr(syscall.EEXIST)
	}
	if n.isDir {
		// newname must not lie inside oldname.
		parts := splitPath(newname)
		d := m.root
		for _, p := range parts[:len(parts)-1] {
			d = d.children[p]
			if d == n {
				return lerr(syscall.EINVAL)
			}
		}
		if exists {
			return lerr(syscall.ENOTDIR)
		}
	}
	if target == n {
		return nil
	}
	delete(odir.children, obase)
	ndir.children[nbase] = n
	now := time.Now()
	odir.modTime, ndir.modTime = now, now
	return nil
}

// Link implements FS: newname becomes another entry of oldname's inode,
// durable (like any entry) once its directory is synced.
func (m *MemFS) Link(oldname, newname string) error {
	lerr := func(err error) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	if err := m.beginOp(OpLink, oldname, newname); err != nil {
		return lerr(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	odir, obase, err := m.walk(oldname)
	if err != nil {
		return lerr(err)
	}
	ndir, nbase, err := m.walk(newname)
	if err != nil {
		return lerr(err)
	}
	if odir == nil || ndir == nil {
		return lerr(syscall.EBUSY)
	}
	n, ok := odir.children[obase]
	switch {
	case !ok:
		return lerr(syscall.ENOENT)
	case n.isDir:
		return lerr(syscall.EPERM)
	}
	if _, exists := ndir.children[nbase]; exists {
		return lerr(syscall.EEXIST)
	}
	ndir.children[nbase] = n
	ndir.modTime = time.Now()
	return nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := m.beginOp(OpMkdir, dir, ""); err != nil {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.root
	for _, p := range splitPath(dir) {
		c, ok := cur.children[p]
		if !ok {
			c = newDirNode(perm)
			cur.children[p] = c
			cur.modTime = c.modTime
		} else if !c.isDir {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		cur = c
	}
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(dir)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	if !n.isDir {
		return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: syscall.ENOTDIR}
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return n.info(baseName(name)), nil
}

// SyncDir implements FS. Unlike the OS, it refuses a regular file.
func (m *MemFS) SyncDir(dir string) error {
	if err := m.beginOp(OpSyncDir, dir, ""); err != nil {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(dir)
	if err != nil {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: err}
	}
	if !n.isDir {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: syscall.ENOTDIR}
	}
	n.syncDir()
	return nil
}

func (n *memNode) syncDir() {
	n.syncedChildren = maps.Clone(n.children)
}

// Lock implements FS. Locks belong to the file, not the name (as with
// flock(2)), and are exclusive within this MemFS.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	if err := m.beginOp(OpLock, name, ""); err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, &fs.PathError{Op: "open", Path: name, Err: err})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.walk(name)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, &fs.PathError{Op: "open", Path: name, Err: err})
	}
	var n *memNode
	if dir == nil {
		n = m.root
	} else {
		n = dir.children[base]
	}
	switch {
	case n == nil:
		n = newFileNode(0o600)
		dir.children[base] = n
		dir.modTime = n.modTime
	case n.isDir:
		return nil, fmt.Errorf("lock %s: %w", name, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR})
	}
	if m.locks[n] {
		return nil, fmt.Errorf("%w: %s", ErrLocked, filepath.Clean(name))
	}
	m.locks[n] = true
	return &memLock{m: m, n: n}, nil
}

type memLock struct {
	m        *MemFS
	n        *memNode
	released bool
}

// Close releases the lock; closing it again does nothing.
func (l *memLock) Close() error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if !l.released {
		l.released = true
		delete(l.m.locks, l.n)
	}
	return nil
}

// memFile is an open MemFS file. All its state is guarded by m.mu.
type memFile struct {
	m        *MemFS
	n        *memNode
	name     string
	writable bool
	pos      int64
	closed   bool
}

var _ File = (*memFile)(nil)

func (f *memFile) pathErr(op string, err error) error {
	return &fs.PathError{Op: op, Path: f.name, Err: err}
}

// Read implements io.Reader.
func (f *memFile) Read(p []byte) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return 0, f.pathErr("read", fs.ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.n.isDir {
		return 0, f.pathErr("read", syscall.EISDIR)
	}
	if f.pos >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	k := copy(p, f.n.data[f.pos:])
	f.pos += int64(k)
	return k, nil
}

// ReadAt implements io.ReaderAt.
func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	// The order of the checks is that of os.File.ReadAt.
	if off < 0 {
		return 0, f.pathErr("readat", errors.New("negative offset"))
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.closed {
		return 0, f.pathErr("read", fs.ErrClosed)
	}
	if f.n.isDir {
		return 0, f.pathErr("read", syscall.EISDIR)
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	k := copy(p, f.n.data[off:])
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

// Write writes p at the current offset, extending the file as needed.
func (f *memFile) Write(p []byte) (int, error) { return f.write(p, 0, true) }

// WriteAt implements io.WriterAt: it writes at off without moving the
// offset Write uses, zero-filling any gap past the end.
func (f *memFile) WriteAt(p []byte, off int64) (int, error) { return f.write(p, off, false) }

// write writes p at the current offset (atPos, which it then advances) or
// at off.
func (f *memFile) write(p []byte, off int64, atPos bool) (int, error) {
	if err := f.m.beginOp(OpWrite, f.name, ""); err != nil {
		return 0, f.pathErr("write", err)
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return 0, f.pathErr("write", fs.ErrClosed)
	}
	if !f.writable {
		return 0, f.pathErr("write", syscall.EBADF)
	}
	if atPos {
		off = f.pos
	} else if off < 0 {
		return 0, f.pathErr("write", syscall.EINVAL)
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := f.n
	if off < int64(len(n.synced)) {
		n.rewritten = true
	}
	end := off + int64(len(p))
	n.resize(end, false)
	copy(n.data[off:], p)
	if atPos {
		f.pos = end
	}
	n.modTime = time.Now()
	return len(p), nil
}

// resize sets the length of the file's data, zero-filling any growth. If
// shrink is false it only grows.
func (n *memNode) resize(size int64, shrink bool) {
	old := int64(len(n.data))
	switch {
	case size < old && shrink:
		n.data = n.data[:size]
	case size > old:
		if size > int64(cap(n.data)) {
			grown := make([]byte, old, max(size, 2*int64(cap(n.data))))
			copy(grown, n.data)
			n.data = grown
		}
		n.data = n.data[:size]
		// The capacity may hold stale bytes from before a truncation.
		clear(n.data[old:])
	}
}

// Sync makes the file's current contents durable. On a directory handle it
// is SyncDir.
func (f *memFile) Sync() error {
	if err := f.m.beginOp(OpSync, f.name, ""); err != nil {
		return f.pathErr("sync", err)
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return f.pathErr("sync", fs.ErrClosed)
	}
	n := f.n
	if n.isDir {
		n.syncDir()
		return nil
	}
	if n.rewritten {
		n.synced = bytes.Clone(n.data)
		n.rewritten = false
	} else {
		// synced is a prefix of data and owns its memory.
		n.synced = append(n.synced, n.data[len(n.synced):]...)
	}
	return nil
}

// Truncate implements File.
func (f *memFile) Truncate(size int64) error {
	if err := f.m.beginOp(OpTruncate, f.name, ""); err != nil {
		return f.pathErr("truncate", err)
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return f.pathErr("truncate", fs.ErrClosed)
	}
	if !f.writable || size < 0 {
		return f.pathErr("truncate", syscall.EINVAL)
	}
	n := f.n
	if size < int64(len(n.synced)) {
		n.rewritten = true
	}
	n.resize(size, true)
	n.modTime = time.Now()
	return nil
}

// Stat implements File.
func (f *memFile) Stat() (os.FileInfo, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return nil, f.pathErr("stat", fs.ErrClosed)
	}
	return f.n.info(baseName(f.name)), nil
}

// Close implements io.Closer.
func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return f.pathErr("close", fs.ErrClosed)
	}
	f.closed = true
	return nil
}

func (n *memNode) info(name string) os.FileInfo {
	fi := &memFileInfo{name: name, mode: n.mode, modTime: n.modTime}
	if !n.isDir {
		fi.size = int64(len(n.data))
	}
	return fi
}

type memFileInfo struct {
	name    string
	size    int64
	mode    os.FileMode
	modTime time.Time
}

func (fi *memFileInfo) Name() string       { return fi.name }
func (fi *memFileInfo) Size() int64        { return fi.size }
func (fi *memFileInfo) Mode() os.FileMode  { return fi.mode }
func (fi *memFileInfo) ModTime() time.Time { return fi.modTime }
func (fi *memFileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *memFileInfo) Sys() any           { return nil }
