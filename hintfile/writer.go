package hintfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/cespare/xxhash/v2"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
)

// flushSize is the amount of buffered output at which the writer hands the
// buffer to the file.
const flushSize = 256 << 10

// Writer writes a new hint file. Entries go into blocks in memory and whole
// blocks into an output buffer, which reaches the file in large writes, so
// adding an entry costs no system call. It is not safe for concurrent use.
//
// Puts are grouped by GroupOf(key): the Writer keeps one open put block per
// group (created on the group's first entry, so at most Groups of them) and
// a single tombstone block. A block's buffer grows as entries arrive, so a
// small file costs little memory; a large one holds up to about Groups
// times BlockSize (some 8 to 10 MiB) in open blocks.
//
// After any write or sync error the Writer is broken: every later call
// (except Close) returns that error.
type Writer struct {
	f    vfs.File
	path string
	id   uint32

	buf    []byte           // output not yet written to f
	puts   [Groups]*builder // the open put block of each group; nil until used
	tomb   builder
	putEnd uint64 // end of the last put added, over all groups
	d      *xxhash.Digest

	entries, tombstones uint64
	minSeq, maxSeq      uint64
	maxEnd              uint64 // largest Offset+Size added

	finished bool
	closed   bool
	err      error // sticky
}

// builder accumulates the current block of one entry kind and group.
type builder struct {
	kind    byte
	group   byte
	body    []byte // the encoded entries
	count   uint64
	base    uint64 // offset of the block's first entry
	prevEnd uint64 // end of the last entry added to this builder
}

// builderInitialCap is the initial capacity of a put builder's body: small,
// so that a writer with few entries in many groups stays small. Buffers grow
// by append and are kept from one block of the group to the next.
const builderInitialCap = 1 << 10

// Create creates the hint file path (which must not exist) for data file
// id. Nothing reaches the file before the output buffer fills or Finish is
// called.
func Create(fs vfs.FS, path string, id uint32) (*Writer, error) {
	f, err := fs.Create(path)
	if err != nil {
		return nil, fmt.Errorf("hintfile: create %s: %w", path, err)
	}
	w := &Writer{
		f:      f,
		path:   path,
		id:     id,
		buf:    make([]byte, 0, 4<<10), // grows to about flushSize+BlockSize
		tomb:   builder{kind: kindTombstone},
		d:      xxhash.New(),
		minSeq: math.MaxUint64,
	}
	w.buf = append(w.buf, encodeHeader(id)...)
	return w, nil
}

// Add adds the entry e. Entries of one kind (puts, tombstones) must come
// in increasing, non-overlapping offset order: e.Offset must be at least
// the Offset+Size of the previous entry of the same kind (whatever its
// group). Add copies e.Key. A put goes to the open block of its group,
// GroupOf(e.Key); a tombstone to the single tombstone block.
//
// An entry the format cannot hold (an empty or oversized key, a sequence
// of 1<<63 or more, a tombstone with an expiry, a Size too small for the
// key, an offset inside the data file header or a record ending past
// 4 GiB) or one out of order is rejected with an error wrapping
// ErrInvalid; nothing is written for it and the Writer stays usable.
func (w *Writer) Add(e Entry) error {
	if err := w.usable(); err != nil {
		return err
	}
	kindEnd := &w.putEnd
	if e.Tombstone {
		kindEnd = &w.tomb.prevEnd
	}
	off, end := uint64(e.Offset), uint64(e.Offset)+uint64(e.Size)
	var reason string
	switch {
	case len(e.Key) == 0 || len(e.Key) > datafile.MaxKeyLen:
		reason = fmt.Sprintf("key of %d bytes", len(e.Key))
	case e.Seq >= seqLimit:
		reason = fmt.Sprintf("sequence %d out of range", e.Seq)
	case e.Tombstone && e.Expiry != 0:
		reason = fmt.Sprintf("tombstone with expiry %d", e.Expiry)
	case uint64(e.Size) < datafile.MinRecordHeaderSize+uint64(len(e.Key)):
		reason = fmt.Sprintf("record size %d too small for a %d-byte key", e.Size, len(e.Key))
	case off < datafile.FileHeaderSize:
		reason = fmt.Sprintf("offset %d inside the data file header", off)
	case end > math.MaxUint32:
		reason = fmt.Sprintf("record at %d of %d bytes ends past 4 GiB", off, e.Size)
	case off < *kindEnd:
		reason = fmt.Sprintf("offset %d before the end (%d) of the previous entry of its kind", off, *kindEnd)
	}
	if reason != "" {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, w.path, reason)
	}

	b := &w.tomb
	if !e.Tombstone {
		g := GroupOf(e.Key)
		if b = w.puts[g]; b == nil {
			b = &builder{kind: kindPut, group: byte(g), body: make([]byte, 0, builderInitialCap)}
			w.puts[g] = b
		}
		w.putEnd = end
	}

	start := b.prevEnd // the offset the gap counts from
	if b.count == 0 {
		b.base, start = off, off
	}
	b.body = appendEntry(b.body, &e, off-start)
	b.count++
	b.prevEnd = end
	w.entries++
	if e.Tombstone {
		w.tombstones++
	}
	w.minSeq = min(w.minSeq, e.Seq)
	w.maxSeq = max(w.maxSeq, e.Seq)
	w.maxEnd = max(w.maxEnd, end)
	if b.payloadLen() >= BlockSize {
		return w.emit(b)
	}
	return nil
}

// payloadLen is the size the current block's payload would have.
func (b *builder) payloadLen() int {
	return entryHeaderMin + uvarintLen(b.count) + uvarintLen(b.base) + len(b.body)
}

// uvarintLen is the length of the uvarint encoding of v.
func uvarintLen(v uint64) int {
	return (bits.Len64(v|1) + 6) / 7
}

// emit moves the current block of b, if it holds any entry, to the output
// buffer, and writes the buffer out once it is large.
func (w *Writer) emit(b *builder) error {
	if b.count > 0 {
		var hdr [entryHeaderMin + 2*binary.MaxVarintLen64]byte
		hdr[0], hdr[1] = b.kind, b.group
		n := entryHeaderMin + binary.PutUvarint(hdr[entryHeaderMin:], b.count)
		n += binary.PutUvarint(hdr[n:], b.base)
		w.appendBlock(hdr[:n], b.body)
		b.body = b.body[:0]
		b.count = 0
		// A block that grew far past BlockSize (huge keys) is not kept.
		if cap(b.body) > 4*BlockSize {
			b.body = nil
		}
	}
	if len(w.buf) >= flushSize {
		return w.flush()
	}
	return nil
}

// appendBlock appends a block whose payload is the concatenation of parts.
func (w *Writer) appendBlock(parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var lenBytes [4]byte
	binary.LittleEndian.PutUint32(lenBytes[:], uint32(n))
	w.buf = append(w.buf, lenBytes[:]...)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, blockChecksum(w.d, lenBytes[:], parts...))
	for _, p := range parts {
		w.buf = append(w.buf, p...)
	}
}

// flush writes the output buffer to the file.
func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.Write(w.buf); err != nil {
		w.err = fmt.Errorf("hintfile: write %s: %w", w.path, err)
		return w.err
	}
	w.buf = w.buf[:0]
	if cap(w.buf) > 2*(flushSize+BlockSize) {
		w.buf = make([]byte, 0, flushSize+BlockSize)
	}
	return nil
}

// usable returns the error that stops the Writer from taking more input.
func (w *Writer) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.finished {
		return fmt.Errorf("hintfile: %s: writer already finished", w.path)
	}
	return nil
}

// errClosed marks a closed Writer.
var errClosed = errors.New("hintfile: writer closed")

// Finish writes the remaining blocks and the footer, which records
// dataSize, the size of the data file the hint describes, then fsyncs the
// file (the caller syncs the directory to make its name durable). It
// fails with an error wrapping ErrInvalid, writing nothing, if
// dataSize is negative or an added entry ends past it. After Finish only
// Close may be called.
func (w *Writer) Finish(dataSize int64) error {
	if err := w.usable(); err != nil {
		return err
	}
	if dataSize < 0 || uint64(dataSize) < w.maxEnd {
		return fmt.Errorf("%w: %s: data size %d, but an entry ends at %d", ErrInvalid, w.path, dataSize, w.maxEnd)
	}
	// The open put blocks in group order, then the tombstone block.
	for _, b := range w.puts {
		if b == nil {
			continue
		}
		if err := w.emit(b); err != nil {
			return err
		}
	}
	if err := w.emit(&w.tomb); err != nil {
		return err
	}
	ft := Footer{Entries: w.entries, Tombstones: w.tombstones, DataSize: dataSize}
	if w.entries > 0 {
		ft.MinSeq, ft.MaxSeq = w.minSeq, w.maxSeq
	}
	var p [footerSize]byte
	w.appendBlock(appendFooter(p[:0], ft))
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("hintfile: sync %s: %w", w.path, err)
		return w.err
	}
	w.finished = true
	w.release()
	return nil
}

// release drops the Writer's buffers.
func (w *Writer) release() {
	w.buf = nil
	w.puts = [Groups]*builder{}
	w.tomb.body = nil
}

// Close closes the file. Call it after Finish, or without Finish to abandon
// the file: an abandoned file has no footer, so Open rejects it (the caller
// should remove it). Later calls to the Writer fail.
func (w *Writer) Close() error {
	if w.closed {
		return fmt.Errorf("%w: %s", errClosed, w.path)
	}
	w.closed = true
	err := w.f.Close()
	if w.err == nil {
		w.err = fmt.Errorf("%w: %s", errClosed, w.path)
	}
	w.release()
	if err != nil {
		return fmt.Errorf("hintfile: close %s: %w", w.path, err)
	}
	return nil
}
