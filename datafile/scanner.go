package datafile

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// scanChunk is how much a Scanner reads at a time.
const scanChunk = 1 << 20

// Scanner walks the records of one data file in order, verifying every
// checksum. Use it as
//
//	s := datafile.NewScanner(f, path, size)
//	for s.Next() { use s.Header(), s.Key(), s.Offset() ... }
//	if err := s.Err(); err != nil { corrupt or I/O error }
//	if s.Torn() { the file ends in an incomplete write at s.End() }
//
// After a clean end, End is the file size.
type Scanner struct {
	r    io.ReaderAt
	path string
	size int64

	buf    []byte
	bufOff int64

	fileID  uint32
	version uint16
	started bool
	off     int64 // offset of the next record
	hdr     Header
	recOff  int64
	rec     []byte // the current record's bytes (aliases buf)

	// batchLeft is how many members of the current batch, all read
	// intact already, are still to be yielded.
	batchLeft int

	err  error
	torn bool
	// padding: the torn tail is all zeros to an aligned end (Padding).
	padding bool
	done    bool
}

// NewScanner returns a scanner over the size bytes of r, which hold the data
// file at path (used in errors).
func NewScanner(r io.ReaderAt, path string, size int64) *Scanner {
	return &Scanner{r: r, path: path, size: size}
}

// FileID is the id the file header names; valid once Next has been called
// and the header was intact.
func (s *Scanner) FileID() uint32 { return s.fileID }

// Version is the format version the file header names (Version or
// VersionV1); valid once Next has returned true.
func (s *Scanner) Version() uint16 { return s.version }

// Next advances to the next intact record. It returns false at the end of
// the file, at a torn tail, or on an error.
func (s *Scanner) Next() bool {
	if s.done {
		return false
	}
	if !s.started {
		s.started = true
		if !s.readFileHeader() {
			s.done = true
			return false
		}
	}
	if s.off == s.size {
		s.done = true
		return false
	}
	avail := s.size - s.off
	b, err := s.fill(s.off, min(avail, MaxRecordHeaderSize))
	if err != nil {
		return s.fail(err)
	}
	h, st := parseHeader(s.version, b)
	switch st {
	case hdrShort:
		if avail < MaxRecordHeaderSize {
			return s.bad(s.off+avail, "incomplete record header")
		}
		// Cannot happen: MaxRecordHeaderSize bytes hold any header.
		return s.bad(s.off+avail, "record header checksum mismatch")
	case hdrBad:
		// Damaged or half-written header: torn only if nothing but
		// zeros follows it.
		return s.bad(s.off+int64(len(b)), "record header checksum mismatch")
	}
	if h.Size() > avail && checkHeader(s.version, h, math.MaxInt64) == "" {
		// An intact header whose body runs past the end of the file:
		// the classic torn append.
		return s.bad(s.size, fmt.Sprintf("record of %d bytes runs past the end of the file (%d bytes left)", h.Size(), avail))
	}
	if reason := checkHeader(s.version, h, avail); reason != "" {
		// The header checksum holds, so these fields were written
		// like this: never a torn write.
		s.done = true
		s.err = corruptf(s.path, s.off, "%s", reason)
		return false
	}
	rec, err := s.fill(s.off, h.Size())
	if err != nil {
		return s.fail(err)
	}
	if got := checksum(rec[4:]); got != h.Checksum {
		return s.bad(s.off+h.Size(), fmt.Sprintf("checksum %#x, want %#x", got, h.Checksum))
	}
	switch {
	case s.batchLeft > 0:
		s.batchLeft--
	case IsBatchHeader(h):
		return s.startBatch(h, rec[h.Len:])
	case h.Flags&FlagBatch != 0:
		s.done = true
		s.err = corruptf(s.path, s.off, "a batch record without its batch header")
		return false
	}
	s.hdr, s.rec, s.recOff = h, rec, s.off
	s.off += h.Size()
	return true
}

// startBatch reads the members of the batch whose header record h (with
// value val) is at s.off, all of them, before the scan yields the first:
// a batch that is not whole ends the scan at its header, torn or corrupt
// by the same rules as a single record, so that it is dropped whole.
func (s *Scanner) startBatch(h Header, val []byte) bool {
	c, err := checkBatch(s.version, h, val, s.off, s.size, s.fill)
	switch {
	case err != nil:
		return s.fail(err)
	case c.damaged:
		return s.bad(c.end, c.reason)
	case c.reason != "":
		// Every checksum holds, so the batch was written like this.
		s.done = true
		s.err = corruptf(s.path, s.off, "%s", c.reason)
		return false
	}
	s.batchLeft = c.count // not from val: reading the members reused its buffer
	s.off += h.Size()
	return s.Next()
}

func (s *Scanner) readFileHeader() bool {
	if s.size < FileHeaderSize {
		s.bad(s.size, "incomplete file header")
		return false
	}
	b, err := s.fill(0, FileHeaderSize)
	if err != nil {
		s.fail(err)
		return false
	}
	id, v, err := DecodeFileHeaderVersion(s.path, b)
	if err != nil {
		var ce *CorruptError
		if errors.As(err, &ce) {
			s.off = 0
			s.bad(FileHeaderSize, ce.Reason)
		} else {
			s.done = true
			s.err = err
		}
		return false
	}
	s.fileID, s.version = id, v
	s.off = FileHeaderSize
	return true
}

// bad ends the scan at a damaged record (or file header) at s.off that
// claims to end at end. The damage is a torn tail, the remains of a write a
// crash interrupted, when
//
//   - nothing but zero bytes follows end (an append cut short, or a file
//     extended with zeros), or
//   - the damaged record holds a zeroed page: all zeros from its start, or
//     from a page boundary inside it, up to the next page boundary (or the end
//     of the file). That is the mark of a page the kernel never wrote back while a later
//     page of the same unsynced tail was (holes are possible only after the
//     last fsync, because fsync writes every dirty page of the file).
//
// Anything else (a flipped bit with intact data after it) is corruption.
func (s *Scanner) bad(end int64, reason string) bool {
	s.done = true
	torn, err := s.zeroFrom(end)
	if err == nil && !torn {
		torn, err = s.hasZeroSector(s.off, min(end, s.size))
	}
	if err != nil {
		s.err = err
		return false
	}
	if torn {
		s.torn = true
		pad, err := s.zeroFrom(s.off)
		if err != nil {
			s.err = fmt.Errorf("datafile: read %s at offset %d: %w", s.path, s.off, err)
			return false
		}
		s.padding = pad && s.size%PadAlign == 0
		return false
	}
	s.err = corruptf(s.path, s.off, "%s", reason)
	return false
}

// sectorSize is the granularity at which a crash can leave data unwritten:
// the kernel writes back whole 4 KiB pages, so a lost write-back leaves a
// page-aligned hole. Requiring a run to reach a page boundary keeps a flipped
// bit in a record that merely holds some zeros from passing for a hole.
const sectorSize = 4096

// hasZeroSector reports whether a zero run starts in [from, to), at from or
// at a sector boundary, and reaches the next sector boundary (or the end of
// the file). A page that was never written back is zero up to its end, so a
// run that stops short of the boundary, with intact bytes after it, is just
// zeros in the data.
func (s *Scanner) hasZeroSector(from, to int64) (bool, error) {
	for p := from; p < to; p = (p/sectorSize + 1) * sectorSize {
		runEnd := min(s.size, (p/sectorSize+1)*sectorSize)
		b, err := s.fill(p, runEnd-p)
		if err != nil {
			return false, err
		}
		if allZero(b) {
			return true, nil
		}
	}
	return false, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (s *Scanner) fail(err error) bool {
	s.done = true
	s.err = fmt.Errorf("datafile: read %s at offset %d: %w", s.path, s.off, err)
	return false
}

// zeroFrom reports whether every byte from off to the end of the file is
// zero (true when off is at or past the end).
func (s *Scanner) zeroFrom(off int64) (bool, error) {
	for off < s.size {
		n := min(s.size-off, scanChunk)
		b, err := s.fill(off, n)
		if err != nil {
			return false, err
		}
		if !allZero(b) {
			return false, nil
		}
		off += n
	}
	return true, nil
}

// fill returns the n bytes at off, reading them into the buffer if needed.
func (s *Scanner) fill(off, n int64) ([]byte, error) {
	if off >= s.bufOff && off+n <= s.bufOff+int64(len(s.buf)) {
		return s.buf[off-s.bufOff : off-s.bufOff+n], nil
	}
	want := min(max(n, scanChunk), s.size-off)
	if int64(cap(s.buf)) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:want]
	if _, err := s.r.ReadAt(s.buf, off); err != nil && err != io.EOF {
		s.buf = s.buf[:0]
		return nil, err
	}
	s.bufOff = off
	return s.buf[:n], nil
}

// Header is the current record's header.
func (s *Scanner) Header() Header { return s.hdr }

// Offset is the current record's offset in the file.
func (s *Scanner) Offset() int64 { return s.recOff }

// Key is the current record's key; valid until the next call to Next.
func (s *Scanner) Key() []byte { return s.rec[s.hdr.Len : s.hdr.Len+s.hdr.KeyLen] }

// Stored is the current record's value as stored (compressed if the
// header says so); valid until the next call to Next.
func (s *Scanner) Stored() []byte { return s.rec[s.hdr.Len+s.hdr.KeyLen:] }

// Raw is the current record's encoded bytes (header, key and stored value),
// valid until the next call to Next. A record is position-independent, so
// Raw can be appended to another data file of the same Version as it is.
func (s *Scanner) Raw() []byte { return s.rec }

// Record decodes the current record, decompressing its value if needed. Key
// and (uncompressed) Value alias the scanner's buffer until the next Next.
func (s *Scanner) Record() (Record, error) {
	return decodeBody(s.path, s.recOff, s.hdr, s.rec)
}

// Err is the error that stopped the scan: nil at a clean end or a torn tail;
// a *CorruptError (errors.Is ErrCorrupt), an ErrVersion error, or an I/O
// error otherwise.
func (s *Scanner) Err() error { return s.err }

// Padding reports whether the scan stopped at bytes that are all zero up
// to the end of the file, and the file's size is a multiple of PadAlign:
// the zero padding a Writer preallocates (or, once in PadAlign times, an
// append whose data never reached the disk). Torn is true too (End is
// where to truncate).
func (s *Scanner) Padding() bool { return s.padding }

// Torn reports whether the scan stopped at an incomplete write: everything
// from End() to the end of the file is the remains of it.
func (s *Scanner) Torn() bool { return s.torn }

// End is the offset just past the last intact record (or the file header).
// For a torn file it is the size to truncate to.
func (s *Scanner) End() int64 { return s.off }
