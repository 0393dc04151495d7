package datafile

import (
	"encoding/binary"
	"fmt"
)

// A batch is several records written as one unit: a batch header record
// followed by its members, all in one append (FORMAT.md, "Batch").
//
//   - The header is a version-2 record with FlagBatch set, no other flag,
//     a key length of 0 (no other record has one), the sequence number of
//     its first member, and a value of two uvarints: the member count
//     (at least 1) and the members' total size in bytes.
//   - Each member is an ordinary record with FlagBatch set; member i has
//     the header's sequence number + i.
//
// A scan yields the members only once it has read every one of them intact,
// so a batch cut short by a crash is dropped whole, like a torn record. A
// merge copies the live members without the flag: the framing matters only
// in the log, where a crash can cut a batch short.

// maxBatchValueLen is the longest batch header value: two uvarints.
const maxBatchValueLen = 2 * binary.MaxVarintLen64

// IsBatchHeader reports whether h is the header record of a batch.
func IsBatchHeader(h Header) bool { return h.Flags&FlagBatch != 0 && h.KeyLen == 0 }

// BatchHeaderSize is the size of the header record AppendBatchHeader writes.
func BatchHeaderSize(firstSeq uint64, count int, bodyLen int64) int64 {
	return RecordSize(firstSeq, 0, 0, uvarintLen(uint64(count))+uvarintLen(uint64(bodyLen)))
}

// AppendBatchHeader appends the header record of a batch of count members
// that take bodyLen bytes, the first with sequence number firstSeq.
func AppendBatchHeader(dst []byte, firstSeq uint64, count int, bodyLen int64) ([]byte, error) {
	if count < 1 || bodyLen < int64(count)*MinRecordHeaderSize || firstSeq >= 1<<63 || firstSeq+uint64(count) > 1<<63 {
		return dst, fmt.Errorf("%w: batch of %d records, %d bytes, first seq %d", ErrInvalid, count, bodyLen, firstSeq)
	}
	var v [maxBatchValueLen]byte
	n := binary.PutUvarint(v[:], uint64(count))
	n += binary.PutUvarint(v[n:], uint64(bodyLen))
	return appendRecord(dst, firstSeq, 0, FlagBatch, nil, v[:n]), nil
}

// parseBatchValue decodes a batch header's value: the member count and the
// members' total size. Both uvarints must be minimal and fill the value.
func parseBatchValue(b []byte) (count int, bodyLen int64, ok bool) {
	c, p, st := uvarintAt(b, 0, binary.MaxVarintLen64)
	if st != hdrOK {
		return 0, 0, false
	}
	l, p, st := uvarintAt(b, p, binary.MaxVarintLen64)
	if st != hdrOK || p != len(b) || c < 1 || c > 1<<40 || l > 1<<62 || l < c*MinRecordHeaderSize {
		return 0, 0, false
	}
	return int(c), int64(l), true
}

// batchCheck is the outcome of reading a batch's members.
type batchCheck struct {
	count  int    // the members, if the batch is whole
	end    int64  // just past the last member; or where the damage ends
	reason string // "" if the batch is whole
	// damaged says a member could not be read intact (a failed checksum,
	// or the file ends inside it): torn or corrupt by the zero-byte rules.
	// Otherwise a reason means the checksums hold and the framing is
	// wrong, which is corruption.
	damaged bool
}

// checkBatch reads the members of the batch whose intact header record h
// (of a file in format version v, with value val) is at off in a file of
// size bytes, through fill, and says whether they are all there, intact and
// as the header describes. fill may reuse the memory val is in.
func checkBatch(v uint16, h Header, val []byte, off, size int64, fill func(off, n int64) ([]byte, error)) (batchCheck, error) {
	count, bodyLen, ok := parseBatchValue(val)
	if !ok {
		return batchCheck{end: off + h.Size(), reason: fmt.Sprintf("malformed batch header value %x", val)}, nil
	}
	p, end := off+h.Size(), off+h.Size()+bodyLen
	if end > size {
		return batchCheck{end: size, damaged: true,
			reason: fmt.Sprintf("batch of %d bytes runs past the end of the file (%d bytes left)", end-off, size-off)}, nil
	}
	for i := 0; i < count; i++ {
		if p >= end {
			return batchCheck{end: p, reason: fmt.Sprintf("batch header says %d records in %d bytes; they end after record %d", count, bodyLen, i)}, nil
		}
		b, err := fill(p, min(size-p, MaxRecordHeaderSize))
		if err != nil {
			return batchCheck{}, err
		}
		m, st := parseHeader(v, b)
		switch {
		case st == hdrShort:
			return batchCheck{end: end, damaged: true, reason: fmt.Sprintf("batch record %d: incomplete record header", i)}, nil
		case st == hdrBad:
			return batchCheck{end: p + int64(len(b)), damaged: true, reason: fmt.Sprintf("batch record %d: record header checksum mismatch", i)}, nil
		}
		if r := checkHeader(v, m, end-p); r != "" {
			return batchCheck{end: p, reason: fmt.Sprintf("batch record %d: %s", i, r)}, nil
		}
		if m.Flags&FlagBatch == 0 || IsBatchHeader(m) || m.Seq != h.Seq+uint64(i) {
			return batchCheck{end: p, reason: fmt.Sprintf("batch record %d (flags %#x, seq %d) is not member %d of the batch of seq %d", i, m.Flags, m.Seq, i, h.Seq)}, nil
		}
		rec, err := fill(p, m.Size())
		if err != nil {
			return batchCheck{}, err
		}
		if got := checksum(rec[4:]); got != m.Checksum {
			return batchCheck{end: p + m.Size(), damaged: true, reason: fmt.Sprintf("batch record %d: checksum %#x, want %#x", i, got, m.Checksum)}, nil
		}
		p += m.Size()
	}
	if p != end {
		return batchCheck{end: p, reason: fmt.Sprintf("batch header says %d bytes of records, they take %d", bodyLen, p-off-h.Size())}, nil
	}
	return batchCheck{count: count, end: end}, nil
}

// CheckBatchAt checks the record at off in b, the whole content of a data
// file in format version v (repair reads files whole). If it is a batch
// header (its header sum holds) it reports isBatch, and the offsets where
// the header and each member end if the batch is whole, or else why not,
// with end the offset where the damage ends.
func CheckBatchAt(v uint16, b []byte, off int64) (isBatch bool, ends []int64, end int64, reason string) {
	size := int64(len(b))
	h, st := parseHeader(v, b[off:min(size, off+MaxRecordHeaderSize)])
	if st != hdrOK || !IsBatchHeader(h) {
		return false, nil, off, ""
	}
	if r := checkHeader(v, h, size-off); r != "" {
		return true, nil, min(size, off+h.Size()), "batch header: " + r
	}
	if got := checksum(b[off+4 : off+h.Size()]); got != h.Checksum {
		return true, nil, off + h.Size(), fmt.Sprintf("batch header: checksum %#x, want %#x", got, h.Checksum)
	}
	fill := func(o, n int64) ([]byte, error) { return b[o : o+n], nil }
	c, _ := checkBatch(v, h, b[off+int64(h.Len):off+h.Size()], off, size, fill)
	if c.reason != "" {
		return true, nil, c.end, c.reason
	}
	for p := off + h.Size(); p <= c.end; {
		ends = append(ends, p)
		if p == c.end {
			break
		}
		m, _ := parseHeader(v, b[p:min(size, p+MaxRecordHeaderSize)])
		p += m.Size()
	}
	return true, ends, c.end, ""
}
