package vfs

import (
	"cmp"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
)

// Fault is an error to inject.
type Fault int

// The faults a FaultFS can inject.
const (
	// FaultNone injects nothing: the operation runs normally.
	FaultNone Fault = iota
	// FaultENOSPC fails the operation with syscall.ENOSPC. It has no effect
	// (for Write: nothing is written).
	FaultENOSPC
	// FaultEIO fails the operation with syscall.EIO. It has no effect (for
	// Write: nothing is written).
	FaultEIO
	// FaultShortWrite applies to File.Write only: the first len(p)/2 bytes
	// (possibly none) really are written, and Write returns that count with
	// syscall.ENOSPC, the partial write a full disk gives. A FaultFS ignores
	// it for any other operation.
	FaultShortWrite
)

// String implements fmt.Stringer.
func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultENOSPC:
		return "ENOSPC"
	case FaultEIO:
		return "EIO"
	case FaultShortWrite:
		return "short-write"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// valid reports whether f is one of the declared faults.
func (f Fault) valid() bool { return f >= FaultNone && f <= FaultShortWrite }

// appliesTo reports whether f, other than FaultNone, can be injected into an
// operation of class op.
func (f Fault) appliesTo(op FaultOp) bool {
	switch f {
	case FaultENOSPC, FaultEIO:
		return true
	case FaultShortWrite:
		return op == FaultOpWrite
	}
	return false
}

// errno is the error f makes the operation fail with.
func (f Fault) errno() syscall.Errno {
	if f == FaultEIO {
		return syscall.EIO
	}
	return syscall.ENOSPC
}

// FaultOp names an operation class that can fail.
type FaultOp int

// The operation classes of a FaultFS. File.Close is counted as an operation
// but belongs to no class: it is never failed.
const (
	FaultOpCreate   FaultOp = iota // FS.Create
	FaultOpOpen                    // FS.Open and FS.OpenReadWrite
	FaultOpWrite                   // File.Write
	FaultOpSync                    // File.Sync
	FaultOpRead                    // File.Read and File.ReadAt
	FaultOpTruncate                // File.Truncate
	FaultOpRename                  // FS.Rename
	FaultOpRemove                  // FS.Remove
	FaultOpMkdir                   // FS.MkdirAll
	FaultOpSyncDir                 // FS.SyncDir
	FaultOpList                    // FS.List
	FaultOpStat                    // FS.Stat and File.Stat
	FaultOpLock                    // FS.Lock
	FaultOpLink                    // FS.Link

	numFaultOps = iota
)

var faultOpNames = [numFaultOps]string{
	FaultOpCreate:   "create",
	FaultOpOpen:     "open",
	FaultOpWrite:    "write",
	FaultOpSync:     "sync",
	FaultOpRead:     "read",
	FaultOpTruncate: "truncate",
	FaultOpRename:   "rename",
	FaultOpRemove:   "remove",
	FaultOpMkdir:    "mkdir",
	FaultOpSyncDir:  "syncdir",
	FaultOpList:     "list",
	FaultOpStat:     "stat",
	FaultOpLock:     "lock",
	FaultOpLink:     "link",
}

// String implements fmt.Stringer.
func (o FaultOp) String() string {
	if o >= 0 && o < numFaultOps {
		return faultOpNames[o]
	}
	return fmt.Sprintf("FaultOp(%d)", int(o))
}

// FaultEvent describes one operation passing through a FaultFS.
type FaultEvent struct {
	// Seq is the operation's 1-based sequence number: OpCount() is at least
	// Seq once the operation has started.
	Seq int
	Op  FaultOp
	// Path is the name the operation was called with: the name the file was
	// opened with for File methods, the old name for Rename.
	Path string
}

// Injector decides, per operation, whether it fails and how. A FaultFS calls
// Inject once for every operation except File.Close, possibly from several
// goroutines at once. Inject must return FaultNone or one of the declared
// faults (a FaultFS panics on any other value); a fault that does not apply
// to the operation (FaultShortWrite on anything but a write) is ignored.
type Injector interface {
	Inject(ev FaultEvent) Fault
}

// InjectorFunc adapts a function to an Injector.
type InjectorFunc func(ev FaultEvent) Fault

// Inject implements Injector.
func (fn InjectorFunc) Inject(ev FaultEvent) Fault { return fn(ev) }

// opSet is a set of operation classes; the zero value means every class.
type opSet uint32

func newOpSet(ops []FaultOp) opSet {
	var s opSet
	for _, o := range ops {
		if o < 0 || o >= numFaultOps {
			panic(fmt.Sprintf("vfs: invalid %v", o))
		}
		s |= 1 << o
	}
	return s
}

func (s opSet) has(o FaultOp) bool { return s == 0 || s&(1<<o) != 0 }

func checkFault(f Fault) {
	if !f.valid() {
		panic(fmt.Sprintf("vfs: invalid %v", f))
	}
}

// AtOp returns an Injector that fails the operation with sequence number seq,
// once, with f. If ops is not empty, it lists the classes the fault may hit:
// when the operation at seq is of another class nothing is injected, which
// lets a test sweep seq over "every write" or "every sync". f is only
// injected where it makes sense: FaultShortWrite hits writes only, and on an
// operation of any other class AtOp injects nothing.
func AtOp(seq int, f Fault, ops ...FaultOp) Injector {
	checkFault(f)
	return &atOp{seq: seq, f: f, ops: newOpSet(ops)}
}

type atOp struct {
	seq   int
	f     Fault
	ops   opSet
	fired atomic.Bool
}

func (a *atOp) Inject(ev FaultEvent) Fault {
	if ev.Seq != a.seq || !a.ops.has(ev.Op) || !a.f.appliesTo(ev.Op) {
		return FaultNone
	}
	if !a.fired.CompareAndSwap(false, true) {
		return FaultNone
	}
	return a.f
}

// Random returns an Injector that fails each operation of the given classes
// (every class if ops is empty) with probability p, with fault f. The choice
// for an operation is a function of seed and the operation's sequence number
// only, so the same seed and the same sequence of operations give the same
// failures, whatever the timing. As with AtOp, FaultShortWrite only hits
// writes. It panics unless 0 <= p <= 1.
func Random(seed uint64, p float64, f Fault, ops ...FaultOp) Injector {
	checkFault(f)
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("vfs: Random probability %v outside [0, 1]", p))
	}
	return &randomInjector{seed: splitmix64(seed), p: p, f: f, ops: newOpSet(ops)}
}

type randomInjector struct {
	seed uint64
	p    float64
	f    Fault
	ops  opSet
}

func (r *randomInjector) Inject(ev FaultEvent) Fault {
	if !r.ops.has(ev.Op) || !r.f.appliesTo(ev.Op) {
		return FaultNone
	}
	// A uniform float64 in [0, 1) from the top 53 bits of the hash.
	u := float64(splitmix64(r.seed^uint64(ev.Seq))>>11) / (1 << 53)
	if u < r.p {
		return r.f
	}
	return FaultNone
}

// splitmix64 is the SplitMix64 output function: a bijective mix of x, good
// enough to turn a counter into independent-looking uniform bits.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// FaultFS wraps an FS and fails chosen operations, in the spirit of pebble's
// vfs/errorfs.
//
// Every call of an FS or File method is one operation: it takes the next
// sequence number (1-based) and, except for File.Close, asks the injector
// whether it fails. A failed operation has no effect on the wrapped FS (but
// for FaultShortWrite, which really writes half) and returns an error of the
// shape the OS gives: a *fs.PathError naming the path (an *os.LinkError for
// Rename; for Lock, a *fs.PathError wrapped with "lock <name>: ") wrapping
// the syscall.Errno, so errors.Is(err, syscall.ENOSPC) works. File.Close is
// counted but never failed, and the io.Closer returned by Lock is the wrapped
// FS's own, so releasing a lock is neither counted nor failed.
//
// Its files do not implement Mapper, even if the wrapped FS's do, so that
// every read goes through ReadAt where faults can hit it. FaultFS is safe for
// concurrent use if the wrapped FS is.
type FaultFS struct {
	inner FS
	seq   atomic.Int64
	inj   atomic.Pointer[injectorBox]

	mu       sync.Mutex
	injected []FaultEvent
}

// injectorBox lets an Injector interface value sit in an atomic.Pointer.
type injectorBox struct{ inj Injector }

var _ FS = (*FaultFS)(nil)

// NewFaultFS returns a FaultFS over inner that consults inj; inj may be nil,
// in which case nothing fails until SetInjector installs one.
func NewFaultFS(inner FS, inj Injector) *FaultFS {
	f := &FaultFS{inner: inner}
	f.SetInjector(inj)
	return f
}

// SetInjector replaces the injector; nil stops injecting. It is safe to call
// while operations are running: each operation consults whichever injector
// is installed when it starts.
func (f *FaultFS) SetInjector(inj Injector) {
	if inj == nil {
		f.inj.Store(nil)
		return
	}
	f.inj.Store(&injectorBox{inj})
}

// OpCount returns the number of operations started so far: every call of
// every FS and File method, failed or not, File.Close included.
func (f *FaultFS) OpCount() int { return int(f.seq.Load()) }

// Injected returns the operations that were failed so far, in sequence
// order.
func (f *FaultFS) Injected() []FaultEvent {
	f.mu.Lock()
	out := slices.Clone(f.injected)
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b FaultEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// begin counts an operation of class op on path and returns the fault to
// inject into it, FaultNone if it should run normally.
func (f *FaultFS) begin(op FaultOp, path string) Fault {
	seq := int(f.seq.Add(1))
	box := f.inj.Load()
	if box == nil {
		return FaultNone
	}
	ev := FaultEvent{Seq: seq, Op: op, Path: path}
	fault := box.inj.Inject(ev)
	if fault == FaultNone {
		return FaultNone
	}
	checkFault(fault)
	if !fault.appliesTo(op) {
		return FaultNone
	}
	f.mu.Lock()
	f.injected = append(f.injected, ev)
	f.mu.Unlock()
	return fault
}

func pathErr(op, path string, fault Fault) error {
	return &fs.PathError{Op: op, Path: path, Err: fault.errno()}
}

// Create implements FS.
func (f *FaultFS) Create(name string) (File, error) {
	if fault := f.begin(FaultOpCreate, name); fault != FaultNone {
		return nil, pathErr("open", name, fault)
	}
	file, err := f.inner.Create(name)
	return f.wrapFile(name, file, err)
}

// OpenReadWrite implements FS.
func (f *FaultFS) OpenReadWrite(name string) (File, error) {
	if fault := f.begin(FaultOpOpen, name); fault != FaultNone {
		return nil, pathErr("open", name, fault)
	}
	file, err := f.inner.OpenReadWrite(name)
	return f.wrapFile(name, file, err)
}

// Open implements FS.
func (f *FaultFS) Open(name string) (File, error) {
	if fault := f.begin(FaultOpOpen, name); fault != FaultNone {
		return nil, pathErr("open", name, fault)
	}
	file, err := f.inner.Open(name)
	return f.wrapFile(name, file, err)
}

// wrapFile wraps the result of opening name in the inner FS.
func (f *FaultFS) wrapFile(name string, inner File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, inner: inner, name: name}, nil
}

// Remove implements FS.
func (f *FaultFS) Remove(name string) error {
	if fault := f.begin(FaultOpRemove, name); fault != FaultNone {
		return pathErr("remove", name, fault)
	}
	return f.inner.Remove(name)
}

// Rename implements FS. The FaultEvent's Path is oldname.
func (f *FaultFS) Rename(oldname, newname string) error {
	if fault := f.begin(FaultOpRename, oldname); fault != FaultNone {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fault.errno()}
	}
	return f.inner.Rename(oldname, newname)
}

// Link implements FS. The FaultEvent's Path is oldname.
func (f *FaultFS) Link(oldname, newname string) error {
	if fault := f.begin(FaultOpLink, oldname); fault != FaultNone {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fault.errno()}
	}
	return f.inner.Link(oldname, newname)
}

// MkdirAll implements FS.
func (f *FaultFS) MkdirAll(dir string, perm os.FileMode) error {
	if fault := f.begin(FaultOpMkdir, dir); fault != FaultNone {
		return pathErr("mkdir", dir, fault)
	}
	return f.inner.MkdirAll(dir, perm)
}

// List implements FS.
func (f *FaultFS) List(dir string) ([]string, error) {
	if fault := f.begin(FaultOpList, dir); fault != FaultNone {
		return nil, pathErr("open", dir, fault)
	}
	return f.inner.List(dir)
}

// Stat implements FS.
func (f *FaultFS) Stat(name string) (os.FileInfo, error) {
	if fault := f.begin(FaultOpStat, name); fault != FaultNone {
		return nil, pathErr("stat", name, fault)
	}
	return f.inner.Stat(name)
}

// SyncDir implements FS.
func (f *FaultFS) SyncDir(dir string) error {
	if fault := f.begin(FaultOpSyncDir, dir); fault != FaultNone {
		return pathErr("syncdir", dir, fault)
	}
	return f.inner.SyncDir(dir)
}

// Lock implements FS. A failed Lock neither creates the file nor takes the
// lock. The returned io.Closer is the wrapped FS's.
func (f *FaultFS) Lock(name string) (io.Closer, error) {
	if fault := f.begin(FaultOpLock, name); fault != FaultNone {
		return nil, fmt.Errorf("lock %s: %w", name, pathErr("open", name, fault))
	}
	return f.inner.Lock(name)
}

// faultFile is a File opened through a FaultFS. It deliberately has no Map
// method.
type faultFile struct {
	fs    *FaultFS
	inner File
	name  string
}

var _ File = (*faultFile)(nil)

// Read implements io.Reader. A failed Read does not move the offset.
func (f *faultFile) Read(p []byte) (int, error) {
	if fault := f.fs.begin(FaultOpRead, f.name); fault != FaultNone {
		return 0, pathErr("read", f.name, fault)
	}
	return f.inner.Read(p)
}

// ReadAt implements io.ReaderAt.
func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if fault := f.fs.begin(FaultOpRead, f.name); fault != FaultNone {
		return 0, pathErr("read", f.name, fault)
	}
	return f.inner.ReadAt(p, off)
}

// Write implements io.Writer. Under FaultENOSPC or FaultEIO nothing is
// written; under FaultShortWrite the first len(p)/2 bytes are.
func (f *faultFile) Write(p []byte) (int, error) {
	switch fault := f.fs.begin(FaultOpWrite, f.name); fault {
	case FaultNone:
		return f.inner.Write(p)
	case FaultShortWrite:
		n := 0
		if half := len(p) / 2; half > 0 {
			var err error
			if n, err = f.inner.Write(p[:half]); err != nil {
				return n, err
			}
		}
		return n, pathErr("write", f.name, fault)
	default:
		return 0, pathErr("write", f.name, fault)
	}
}

// WriteAt implements io.WriterAt, with the faults of Write.
func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	switch fault := f.fs.begin(FaultOpWrite, f.name); fault {
	case FaultNone:
		return f.inner.WriteAt(p, off)
	case FaultShortWrite:
		n := 0
		if half := len(p) / 2; half > 0 {
			var err error
			if n, err = f.inner.WriteAt(p[:half], off); err != nil {
				return n, err
			}
		}
		return n, pathErr("write", f.name, fault)
	default:
		return 0, pathErr("write", f.name, fault)
	}
}

// Sync implements File. A failed Sync makes nothing durable.
func (f *faultFile) Sync() error {
	if fault := f.fs.begin(FaultOpSync, f.name); fault != FaultNone {
		return pathErr("sync", f.name, fault)
	}
	return f.inner.Sync()
}

// Truncate implements File.
func (f *faultFile) Truncate(size int64) error {
	if fault := f.fs.begin(FaultOpTruncate, f.name); fault != FaultNone {
		return pathErr("truncate", f.name, fault)
	}
	return f.inner.Truncate(size)
}

// Stat implements File.
func (f *faultFile) Stat() (os.FileInfo, error) {
	if fault := f.fs.begin(FaultOpStat, f.name); fault != FaultNone {
		return nil, pathErr("stat", f.name, fault)
	}
	return f.inner.Stat()
}

// Close implements io.Closer. It is counted as an operation but never
// failed.
func (f *faultFile) Close() error {
	f.fs.seq.Add(1)
	return f.inner.Close()
}
