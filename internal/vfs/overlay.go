package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
)

// Overlay returns an FS that reads base and keeps every change in memory:
// files created, written, truncated, renamed, linked or removed through it
// are held in an upper MemFS layer (a file of base is copied up, whole,
// the first time it is opened for writing or renamed), and base is never
// written. Locks are taken on base's file where it exists, so an overlay
// still excludes a writer of the directory. The operator CLI opens a
// database through one for commands that only read: Open may start a log
// file, truncate a torn tail or finish a merge, and none of it reaches the
// disk.
func Overlay(base FS) FS {
	return &overlayFS{base: base, upper: NewMem(), gone: map[string]bool{}}
}

type overlayFS struct {
	base  FS
	upper *MemFS

	mu   sync.Mutex
	gone map[string]bool // removed (or renamed away) in the overlay: hides base's entry
}

// key is the overlay's name for path: absolute and clean, as MemFS wants.
func (o *overlayFS) key(name string) string {
	abs, err := filepath.Abs(name)
	if err != nil {
		return filepath.Clean(name)
	}
	return abs
}

func (o *overlayFS) inUpper(k string) bool {
	_, err := o.upper.Stat(k)
	return err == nil
}

// inBase reports whether base has k and the overlay has not removed it.
func (o *overlayFS) inBase(k string) bool {
	o.mu.Lock()
	gone := o.gone[k]
	o.mu.Unlock()
	if gone {
		return false
	}
	_, err := o.base.Stat(k)
	return err == nil
}

func (o *overlayFS) setGone(k string, gone bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if gone {
		o.gone[k] = true
	} else {
		delete(o.gone, k)
	}
}

// copyUp makes sure k is in the upper layer, copying base's file if needed.
func (o *overlayFS) copyUp(k string) error {
	if o.inUpper(k) {
		return nil
	}
	if !o.inBase(k) {
		return &fs.PathError{Op: "open", Path: k, Err: syscall.ENOENT}
	}
	src, err := o.base.Open(k)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := o.upper.MkdirAll(filepath.Dir(k), 0o755); err != nil {
		return err
	}
	dst, err := o.upper.Create(k)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return err
}

func (o *overlayFS) Create(name string) (File, error) {
	k := o.key(name)
	if o.inUpper(k) || o.inBase(k) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EEXIST}
	}
	if err := o.upper.MkdirAll(filepath.Dir(k), 0o755); err != nil {
		return nil, err
	}
	o.setGone(k, false)
	return o.upper.Create(k)
}

func (o *overlayFS) OpenReadWrite(name string) (File, error) {
	k := o.key(name)
	if err := o.copyUp(k); err != nil {
		return nil, err
	}
	return o.upper.OpenReadWrite(k)
}

func (o *overlayFS) Open(name string) (File, error) {
	k := o.key(name)
	if o.inUpper(k) {
		return o.upper.Open(k)
	}
	if !o.inBase(k) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ENOENT}
	}
	return o.base.Open(k)
}

func (o *overlayFS) Remove(name string) error {
	k := o.key(name)
	up, base := o.inUpper(k), o.inBase(k)
	if !up && !base {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOENT}
	}
	if up {
		if err := o.upper.Remove(k); err != nil {
			return err
		}
	}
	if base {
		o.setGone(k, true)
	}
	return nil
}

func (o *overlayFS) Rename(oldname, newname string) error {
	ok, nk := o.key(oldname), o.key(newname)
	if err := o.copyUp(ok); err != nil {
		return err
	}
	if err := o.upper.MkdirAll(filepath.Dir(nk), 0o755); err != nil {
		return err
	}
	if err := o.upper.Rename(ok, nk); err != nil {
		return err
	}
	o.setGone(ok, true)
	o.setGone(nk, false)
	return nil
}

func (o *overlayFS) Link(oldname, newname string) error {
	ok, nk := o.key(oldname), o.key(newname)
	if o.inUpper(nk) || o.inBase(nk) {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EEXIST}
	}
	if err := o.copyUp(ok); err != nil {
		return err
	}
	if err := o.upper.MkdirAll(filepath.Dir(nk), 0o755); err != nil {
		return err
	}
	o.setGone(nk, false)
	return o.upper.Link(ok, nk)
}

func (o *overlayFS) MkdirAll(dir string, perm os.FileMode) error {
	k := o.key(dir)
	o.setGone(k, false)
	return o.upper.MkdirAll(k, perm)
}

func (o *overlayFS) List(dir string) ([]string, error) {
	k := o.key(dir)
	names, berr := o.base.List(k)
	if o.isGone(k) {
		names, berr = nil, &fs.PathError{Op: "open", Path: dir, Err: syscall.ENOENT}
	}
	upper, uerr := o.upper.List(k)
	if berr != nil && uerr != nil {
		return nil, berr
	}
	var out []string
	for _, n := range names {
		if !o.isGone(filepath.Join(k, n)) {
			out = append(out, n)
		}
	}
	out = append(out, upper...)
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (o *overlayFS) isGone(k string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gone[k]
}

func (o *overlayFS) Stat(name string) (os.FileInfo, error) {
	k := o.key(name)
	if st, err := o.upper.Stat(k); err == nil {
		return st, nil
	}
	if o.isGone(k) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: syscall.ENOENT}
	}
	return o.base.Stat(k)
}

// SyncDir does nothing: nothing of the overlay is meant to last.
func (o *overlayFS) SyncDir(string) error { return nil }

// Lock locks base's file if it has one (taking the same lock a writer of
// the directory holds, without changing the file), else one in memory.
func (o *overlayFS) Lock(name string) (io.Closer, error) {
	k := o.key(name)
	if o.inBase(k) {
		return o.base.Lock(k)
	}
	if err := o.upper.MkdirAll(filepath.Dir(k), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return o.upper.Lock(k)
}
