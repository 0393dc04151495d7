package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/simplekv/simplekv/internal/vfs"
)

// A dump stream (FORMAT.md, "Dump stream") is every live key with its value
// and expiry, independent of the data file format, so that data can move
// between machines and versions:
//
//	header  "SKVX" | version u16 = 1 | reserved u16 = 0 | sum32 (of bytes 0..7)
//	record  kind u8 = 1 | uvarint key len | key | uvarint value len | value
//	        | expiry i64 (unix ns, 0 = none) | sum32 (of the record's bytes before it)
//	...
//	trailer kind u8 = 0 | records u64 | xxhash64 of every byte before the
//	        trailer | sum32 (of the trailer's bytes before it)
const (
	dumpMagic      = "SKVX"
	dumpVersion    = 1
	dumpHeaderSize = 12
	dumpKindEnd    = 0
	dumpKindRecord = 1
)

// Dump writes every live key of the DB, with its value and expiry, to w as
// one portable stream, and returns the number of keys written. It reads
// the keys through Scan, with Scan's guarantees: it never holds part of a
// batch, but a single write made while it runs may or may not be in it
// (use a Checkpoint, then Dump the copy, for one point in time). Load
// reads the stream back into a new directory.
func (db *DB) Dump(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	sum := xxhash.New()
	out := io.MultiWriter(bw, sum)
	h := make([]byte, dumpHeaderSize)
	copy(h, dumpMagic)
	binary.LittleEndian.PutUint16(h[4:], dumpVersion)
	binary.LittleEndian.PutUint32(h[8:], uint32(xxhash.Sum64(h[:8])))
	if _, err := out.Write(h); err != nil {
		return 0, err
	}
	var n int64
	var rec []byte
	var werr error
	err := db.scan(nil, func(key, value []byte, expiry int64) bool {
		rec = append(rec[:0], dumpKindRecord)
		rec = binary.AppendUvarint(rec, uint64(len(key)))
		rec = append(rec, key...)
		rec = binary.AppendUvarint(rec, uint64(len(value)))
		rec = append(rec, value...)
		rec = binary.LittleEndian.AppendUint64(rec, uint64(expiry))
		rec = binary.LittleEndian.AppendUint32(rec, uint32(xxhash.Sum64(rec)))
		_, werr = out.Write(rec)
		n++
		return werr == nil
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return n, err
	}
	t := []byte{dumpKindEnd}
	t = binary.LittleEndian.AppendUint64(t, uint64(n))
	t = binary.LittleEndian.AppendUint64(t, sum.Sum64())
	t = binary.LittleEndian.AppendUint32(t, uint32(xxhash.Sum64(t)))
	if _, err := bw.Write(t); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// Load reads a dump stream (DB.Dump) from r into a new DB directory dir,
// which must not exist or be empty (ErrTargetExists otherwise), opened
// with opts, and returns the number of keys loaded. Keys whose expiry has
// passed are skipped. The whole stream is checked as it is read; one that
// is truncated, damaged or not a dump fails with an error matching
// ErrBadDump, and leaves no dir behind: the DB is built under a temporary
// name and renamed into place once the stream has been read to its end.
func Load(r io.Reader, dir string, opts Options) (int64, error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = vfs.Default
	}
	if err := checkTarget(fsys, dir); err != nil {
		return 0, err
	}
	var n int64
	err := publishDir(fsys, dir, func(tmp string) error {
		db, err := Open(tmp, opts)
		if err != nil {
			return err
		}
		n, err = loadInto(db, bufio.NewReaderSize(r, 1<<20))
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err == nil {
		return n, nil
	}
	return 0, err
}

// loadInto writes the records of a dump stream into db in batches.
func loadInto(db *DB, r *bufio.Reader) (int64, error) {
	d := &dumpReader{r: r, sum: xxhash.New()}
	h := make([]byte, dumpHeaderSize)
	if err := d.read(h, "the header"); err != nil {
		return 0, err
	}
	switch {
	case string(h[:4]) != dumpMagic:
		return 0, d.bad("magic %q, not a simplekv dump", h[:4])
	case binary.LittleEndian.Uint32(h[8:]) != uint32(xxhash.Sum64(h[:8])):
		return 0, d.bad("header checksum mismatch")
	case binary.LittleEndian.Uint16(h[4:]) != dumpVersion:
		return 0, fmt.Errorf("%w: dump version %d, this build reads %d", ErrVersion, binary.LittleEndian.Uint16(h[4:]), dumpVersion)
	case binary.LittleEndian.Uint16(h[6:]) != 0:
		return 0, d.bad("reserved header field is %#x", h[6:8])
	}
	b := db.NewBatch()
	var n, loaded int64
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		err := db.Write(b)
		b.Reset()
		return err
	}
	now := time.Now().UnixNano()
	for {
		before := d.sum.Sum64()
		var kind [1]byte
		if err := d.read(kind[:], "a record"); err != nil {
			return 0, err
		}
		if kind[0] == dumpKindEnd {
			if err := d.trailer(n, before); err != nil {
				return 0, err
			}
			return loaded, flush()
		}
		if kind[0] != dumpKindRecord {
			return 0, d.bad("record kind %d", kind[0])
		}
		key, value, expiry, err := d.record(db.opts)
		if err != nil {
			return 0, err
		}
		n++
		switch {
		case expiry != 0 && expiry <= now:
			continue // expired since the dump
		case expiry != 0:
			b.PutWithTTL(key, value, time.Duration(expiry-now))
		default:
			b.Put(key, value)
		}
		loaded++
		if len(b.data) >= 4<<20 || b.Len() >= 10000 {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
}

// dumpReader reads a dump stream, keeping the bytes of the current record
// for its checksum and hashing everything for the trailer.
type dumpReader struct {
	r   *bufio.Reader
	sum *xxhash.Digest
	rec []byte
	off int64
}

func (d *dumpReader) bad(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrBadDump, d.off, fmt.Sprintf(format, args...))
}

func (d *dumpReader) read(p []byte, what string) error {
	n, err := io.ReadFull(d.r, p)
	d.off += int64(n)
	_, _ = d.sum.Write(p[:n])
	d.rec = append(d.rec, p[:n]...)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return d.bad("the stream ends inside %s", what)
	}
	if err != nil {
		return fmt.Errorf("simplekv: load: read %s: %w", what, err)
	}
	return nil
}

func (d *dumpReader) uvarint(limit int, what string) (int, error) {
	var x uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		var c [1]byte
		if err := d.read(c[:], what); err != nil {
			return 0, err
		}
		x |= uint64(c[0]&0x7f) << (7 * i)
		if c[0] < 0x80 {
			if x > uint64(limit) {
				return 0, d.bad("%s of %d bytes, limit %d", what, x, limit)
			}
			return int(x), nil
		}
	}
	return 0, d.bad("malformed %s", what)
}

// record reads the rest of a record (after its kind byte) and checks it.
func (d *dumpReader) record(opts Options) (key, value []byte, expiry int64, err error) {
	d.rec = append(d.rec[:0], dumpKindRecord)
	kl, err := d.uvarint(opts.MaxKeySize, "a key length")
	if err != nil {
		return nil, nil, 0, err
	}
	key = make([]byte, kl)
	if err := d.read(key, "a key"); err != nil {
		return nil, nil, 0, err
	}
	vl, err := d.uvarint(opts.MaxValueSize, "a value length")
	if err != nil {
		return nil, nil, 0, err
	}
	value = make([]byte, vl)
	if err := d.read(value, "a value"); err != nil {
		return nil, nil, 0, err
	}
	var tail [12]byte
	if err := d.read(tail[:], "a record's expiry"); err != nil {
		return nil, nil, 0, err
	}
	body := d.rec[:len(d.rec)-4]
	if binary.LittleEndian.Uint32(tail[8:]) != uint32(xxhash.Sum64(body)) {
		return nil, nil, 0, d.bad("record checksum mismatch")
	}
	if kl == 0 {
		return nil, nil, 0, d.bad("a record with an empty key")
	}
	return key, value, int64(binary.LittleEndian.Uint64(tail[:8])), nil
}

// trailer checks the trailer (after its kind byte) against the n records
// read and the hash sum of the bytes before it, and that nothing follows.
func (d *dumpReader) trailer(n int64, sum uint64) error {
	d.rec = append(d.rec[:0], dumpKindEnd)
	var t [20]byte
	if err := d.read(t[:], "the trailer"); err != nil {
		return err
	}
	switch {
	case binary.LittleEndian.Uint32(t[16:]) != uint32(xxhash.Sum64(d.rec[:17])):
		return d.bad("trailer checksum mismatch")
	case int64(binary.LittleEndian.Uint64(t[:8])) != n:
		return d.bad("the trailer counts %d records, the stream held %d", binary.LittleEndian.Uint64(t[:8]), n)
	case binary.LittleEndian.Uint64(t[8:16]) != sum:
		return d.bad("stream checksum mismatch")
	}
	if _, err := d.r.ReadByte(); err != io.EOF {
		return d.bad("bytes after the trailer")
	}
	return nil
}
