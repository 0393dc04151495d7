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
	// padEnd is where the zero padding written by Preallocate ends (0:
	// none). Bytes in [Flushed, padEnd) are zeros on disk.
	padEnd int64
}

// Create creates the data file path with id and writes its header (into the
// buffer; call Sync to make it durable).
func Create(fs vfs.FS, path string, id uint32) (*Writer, error) {
	return CreateVersion(fs, path, id, Version)
}

// CreateVersion is Create for a file of format version v: Repair rewrites
// a damaged version-1 file as version 1, copying its intact records byte
// for byte. Records appended must be of that version.
func CreateVersion(fs vfs.FS, path string, id uint32, v uint16) (*Writer, error) {
	f, err := fs.Create(path)
	if err != nil {
		return nil, fmt.Errorf("datafile: create %s: %w", path, err)
	}
	w := &Writer{f: f, path: path, id: id, buf: make([]byte, 0, 64<<10)}
	w.buf = append(w.buf, EncodeFileHeaderVersion(id, v)...)
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

// Preallocation: the file is extended with zeros ahead of its records,
// in steps of PadStep, so that the fdatasync of a synced write finds the
// file's size unchanged and only has data to write. On ext4 here that is
// the difference between about 245 and 155 µs per fdatasync: an append
// must also commit the new size through the journal. A scan reads the
// padding as zeros after the last record, which Scanner reports as
// Padding; Seal cuts it off, so only a log file that was never sealed or
// closed cleanly (the newest) can have it. See FORMAT.md.
const (
	// PadStep is how far Preallocate extends the file at a time: large
	// enough that the fdatasync that carries a step (about 4 ms of
	// writing here) is rare, about one in 400 at 16 synced writers.
	PadStep = 1 << 20
	// padLow is how little padding may be left before Preallocate adds a
	// step: about what one flush can write.
	padLow = 64 << 10
	// PadAlign: padding always ends at a multiple of it, so that a file
	// that ends in zeros at any other size is an append that never
	// reached the disk (torn), not padding (Scanner.Padding).
	PadAlign = 1024
)

// Preallocate writes zeros past the end of the records, a step at a time
// and not beyond limit (the file size at which the caller seals the
// file), when less than a low-water mark of padding is left. The step is
// PadStep and the mark padLow, both scaled down for a small limit (none
// under 4 KiB); the padding ends at a multiple of PadAlign. The
// zeros become durable with the next Sync. It is only an optimization: a
// failure leaves the writer usable (later records overwrite any zeros
// that were written, or extend the file as usual) and is returned for
// logging only.
func (w *Writer) Preallocate(limit int64) error {
	if w.err != nil {
		return w.err
	}
	step := min(PadStep, limit/4)
	low := min(padLow, step/2)
	end := w.Size()
	if step < PadAlign || w.padEnd-end >= low || end >= limit {
		return nil
	}
	from := max(w.padEnd, w.Flushed())
	to := min(max(from, end)+step, limit) / PadAlign * PadAlign
	if to <= from {
		return nil
	}
	// Counted before the write: a write that fails may still have
	// extended the file, and Seal must cut whatever it might have left.
	w.padEnd = to
	for off := from; off < to; off += PadStep {
		if _, err := w.f.WriteAt(zeros[:min(to-off, PadStep)], off); err != nil {
			return fmt.Errorf("datafile: preallocate %s: %w", w.path, err)
		}
	}
	return nil
}

// zeros is one PadStep of zero bytes, the source of every padding write.
var zeros = make([]byte, PadStep)

// Padded reports whether the file may hold zero padding past its records.
func (w *Writer) Padded() bool { return w.padEnd > w.Flushed() }

// Seal flushes, cuts off any zero padding and makes the file durable: the
// file then ends exactly at its last record, as a sealed data file must.
func (w *Writer) Seal() error {
	if err := w.Flush(); err != nil {
		return err
	}
	if w.padEnd > w.Flushed() {
		if err := w.f.Truncate(w.Flushed()); err != nil {
			w.err = fmt.Errorf("datafile: truncate %s: %w", w.path, err)
			return w.err
		}
	}
	w.padEnd = 0
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
