package datafile

import (
	"fmt"
	"io"
	"sync"

	"github.com/simplekv/simplekv/internal/vfs"
)

// Reader reads records at known offsets of one data file, either through a
// read-only memory mapping (no system call per read) or with ReadAt. A
// Reader without a mapping opens its file lazily and can give its descriptor
// back (Release) so that many files never hold many descriptors; the engine
// keeps an LRU of open Readers for that.
//
// Reader is safe for concurrent use.
type Reader struct {
	fs   vfs.FS
	path string

	mu sync.RWMutex // guards f against Release while a ReadAt runs
	f  vfs.File
	m  vfs.Mapping
	mb []byte
	// version is the format version of the file's records, from its
	// header (Version when the header cannot be read: a read then fails
	// its checks anyway).
	version uint16
}

// OpenReader opens the data file at path for reading. If mapLen > 0 and the
// file system supports it, the file is mapped read-only with that length (it
// may exceed the current size so an active file stays readable as it grows)
// and the descriptor is closed at once.
func OpenReader(fs vfs.FS, path string, mapLen int) (*Reader, error) {
	r := &Reader{fs: fs, path: path}
	f, err := fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datafile: open %s: %w", path, err)
	}
	r.version = Version
	hdr := make([]byte, FileHeaderSize)
	if n, _ := f.ReadAt(hdr, 0); n == FileHeaderSize {
		if _, v, err := DecodeFileHeaderVersion(path, hdr); err == nil {
			r.version = v
		}
	}
	if mp, ok := f.(vfs.Mapper); ok && mapLen > 0 {
		m, err := mp.Map(mapLen)
		if err == nil {
			r.m, r.mb = m, m.Bytes()
			_ = f.Close() // the mapping outlives the descriptor
			return r, nil
		}
		// Fall back to ReadAt when the mapping is refused.
	}
	r.f = f
	return r, nil
}

// Version is the format version of the file's records.
func (r *Reader) Version() uint16 { return r.version }

// Mapped reports whether reads come from a memory mapping.
func (r *Reader) Mapped() bool { return r.mb != nil }

// HasFD reports whether the reader holds an open descriptor.
func (r *Reader) HasFD() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.f != nil
}

// ReadRaw returns the size bytes at off. With a mapping the result aliases
// the mapping (valid until Close); otherwise it is read into buf (grown as
// needed). The caller must know that the bytes exist in the file.
func (r *Reader) ReadRaw(off int64, size int, buf []byte) ([]byte, error) {
	if off < 0 {
		return nil, fmt.Errorf("datafile: read %s at negative offset %d", r.path, off)
	}
	if r.mb != nil && off+int64(size) <= int64(len(r.mb)) {
		return r.mb[off : off+int64(size)], nil
	}
	// Unmapped, or a record past the end of the mapping (a record larger
	// than the file size limit, written alone into its file): pread.
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	r.mu.RLock()
	f := r.f
	if f == nil {
		r.mu.RUnlock()
		if err := r.reopen(); err != nil {
			return nil, err
		}
		return r.ReadRaw(off, size, buf)
	}
	n, err := f.ReadAt(buf, off)
	r.mu.RUnlock()
	if n == size {
		return buf, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("datafile: read %s at %d+%d: %w", r.path, off, size, err)
}

// Read reads, verifies and decodes the record of size bytes at off. The
// result's Value is a fresh slice, safe to keep; its Key is nil.
func (r *Reader) Read(off int64, size int, buf []byte) (Record, error) {
	raw, err := r.ReadRaw(off, size, buf)
	if err != nil {
		return Record{}, err
	}
	rec, err := DecodeRecordVersion(r.version, r.path, off, raw)
	if err != nil {
		return Record{}, err
	}
	if !rec.Compressed {
		// A decompressed value is already a fresh slice; a stored one
		// aliases the mapping or buf.
		rec.Value = append(make([]byte, 0, len(rec.Value)), rec.Value...)
	}
	rec.Key = nil // aliases raw; callers know the key
	return rec, nil
}

func (r *Reader) reopen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		return nil
	}
	f, err := r.fs.Open(r.path)
	if err != nil {
		return fmt.Errorf("datafile: reopen %s: %w", r.path, err)
	}
	r.f = f
	return nil
}

// Release closes the descriptor of an unmapped reader; the next read opens
// it again. It waits for reads in progress.
func (r *Reader) Release() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// Close releases the mapping or descriptor.
func (r *Reader) Close() error {
	err := r.Release()
	if r.m != nil {
		if uerr := r.m.Unmap(); err == nil {
			err = uerr
		}
		r.m, r.mb = nil, nil
	}
	return err
}
