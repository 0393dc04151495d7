package datafile

import (
	"fmt"
	"sync/atomic"

	"github.com/simplekv/simplekv/internal/vfs"
)

// Writer appends records to a new data file through an in-memory buffer.
// It is not safe for concurrent use, except Flushed, which may be read at any
// time: bytes below Flushed are in the file (in the OS page cache, not
// necessarily on stable storage) and can be read through a Reader.
//
// After any write or sync error the Writer is broken: every later call
// returns that error, because the file's contents past the last successful
// sync are unknown.
type Writer struct {
	f       vfs.File
	path    string
	id      uint32
	buf     []byte
	flushed atomic.Int64
	err     error
}

// Create creates the data file path with id and writes its header (into the
// buffer; call Sync to make it durable).
func Create(fs vfs.FS, path string, id uint32) (*Writer, error) {
	f, err := fs.Create(path)
	if err != nil {
		return nil, fmt.Errorf("datafile: create %s: %w", path, err)
	}
	w := &Writer{f: f, path: path, id: id, buf: make([]byte, 0, 64<<10)}
	w.buf = append(w.buf, EncodeFileHeader(id)...)
	return w, nil
}

// ID is the file id.
func (w *Writer) ID() uint32 { return w.id }

// Path is the file path.
func (w *Writer) Path() string { return w.path }

// Size is the file size once everything appended is flushed.
func (w *Writer) Size() int64 { return w.flushed.Load() + int64(len(w.buf)) }

// Flushed is the number of bytes handed to the OS.
func (w *Writer) Flushed() int64 { return w.flushed.Load() }

// Buffered is the number of bytes appended but not yet flushed.
func (w *Writer) Buffered() int { return len(w.buf) }

// Append adds encoded record bytes (from AppendEncoded) to the buffer and
// returns the offset they will have in the file.
func (w *Writer) Append(rec []byte) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	off := w.Size()
	w.buf = append(w.buf, rec...)
	return off, nil
}

// ReadBuffered copies the n bytes at file offset off, which must lie in the
// unflushed part of the file, into a new slice.
func (w *Writer) ReadBuffered(off int64, n int) ([]byte, bool) {
	start := off - w.flushed.Load()
	if start < 0 || start+int64(n) > int64(len(w.buf)) {
		return nil, false
	}
	out := make([]byte, n)
	copy(out, w.buf[start:])
	return out, true
}

// Flush hands the buffer to the OS.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.f.Write(w.buf)
	if err != nil {
		w.err = fmt.Errorf("datafile: write %s: %w", w.path, err)
		return w.err
	}
	w.flushed.Add(int64(n))
	w.buf = w.buf[:0]
	return nil
}

// File returns the underlying file, so a caller can Sync it without holding
// the lock that guards the Writer (group commit). Bytes flushed before the
// call are durable once File().Sync() returns nil.
func (w *Writer) File() vfs.File { return w.f }

// Fail marks the writer broken with err (for example after a failed sync
// done through File), so later calls fail too.
func (w *Writer) Fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// Sync flushes the buffer and makes the file durable.
func (w *Writer) Sync() error {
	if err := w.Flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("datafile: sync %s: %w", w.path, err)
		return w.err
	}
	return nil
}

// Close closes the file without flushing; call Sync first to keep the
// buffered records.
func (w *Writer) Close() error {
	return w.f.Close()
}
