package engine

import (
	"bytes"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"
)

// MaxBatchSize is the most bytes a batch may take in the log: its records
// as stored (after compression) plus a header of at most 33 bytes. A
// record costs its key and stored value plus a 10 to 33-byte header. Write
// refuses a larger batch with ErrBatchTooLarge.
const MaxBatchSize = 256 << 20

// maxBatchSize is MaxBatchSize, lowered by tests.
var maxBatchSize int64 = MaxBatchSize

// Batch is a set of writes that DB.Write applies as one: all of them or
// none, visible to readers at once. Make one with DB.NewBatch (or use the
// zero value), add operations, Write it, and Reset it to reuse its memory.
// The batch copies the keys and values it is given. A Batch is not safe
// for concurrent use, and must not be changed while a Write of it runs.
type Batch struct {
	ops  []batchOp
	data []byte  // the keys and values, back to back
	seen []int32 // markOverridden's table, kept for reuse
}

type batchOp struct {
	kind       batchKind
	ttl        time.Duration
	kOff, kLen int
	vOff, vLen int
	dupOfLater bool // a later op of the batch has the same key (set by Write)
}

type batchKind uint8

const (
	opPut batchKind = iota
	opPutTTL
	opDelete
)

// NewBatch returns an empty batch. It is the same as new(Batch): a batch
// is not tied to a DB.
func (db *DB) NewBatch() *Batch { return new(Batch) }

// Put adds a Put of value under key.
func (b *Batch) Put(key, value []byte) { b.add(opPut, key, value, 0) }

// PutWithTTL adds a PutWithTTL: the value expires ttl after the Write.
func (b *Batch) PutWithTTL(key, value []byte, ttl time.Duration) {
	b.add(opPutTTL, key, value, ttl)
}

// Delete adds a Delete of key.
func (b *Batch) Delete(key []byte) { b.add(opDelete, key, nil, 0) }

// Len is the number of operations added since the last Reset.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties the batch, keeping its memory for reuse.
func (b *Batch) Reset() {
	b.ops = b.ops[:0]
	b.data = b.data[:0]
}

func (b *Batch) add(kind batchKind, key, value []byte, ttl time.Duration) {
	op := batchOp{kind: kind, ttl: ttl, kOff: len(b.data), kLen: len(key)}
	b.data = append(b.data, key...)
	op.vOff, op.vLen = len(b.data), len(value)
	b.data = append(b.data, value...)
	b.ops = append(b.ops, op)
}

func (b *Batch) key(op *batchOp) []byte   { return b.data[op.kOff : op.kOff+op.kLen : op.kOff+op.kLen] }
func (b *Batch) value(op *batchOp) []byte { return b.data[op.vOff : op.vOff+op.vLen : op.vOff+op.vLen] }

// Write applies every operation of b as one atomic write. On a nil error
// all of them are in the log (with SyncWrites, on stable storage) and
// visible, and a reader never sees some of them without the others: a
// Get, a Has or a Scan sees the keys as they were before the batch or as
// the batch left them. After a crash at any moment the batch is there
// whole or not at all. Within a batch the last operation on a key wins
// (the earlier ones are not written). A batch costs one append and, with
// SyncWrites, one place in a group commit: about one fsync however many
// operations it holds.
//
// Each operation is checked first, as Put, PutWithTTL and Delete check
// theirs; if one fails, Write returns the error of the first bad one
// (matching ErrEmptyKey, ErrKeyTooLarge, ErrValueTooLarge or
// ErrInvalidTTL, with its index) and writes nothing. A batch that would
// take more than MaxBatchSize bytes fails with ErrBatchTooLarge, also
// writing nothing. An empty batch writes nothing. Unlike Delete, a batch's
// Delete of an absent key writes its delete marker anyway. After an I/O
// error Write behaves like Put.
func (db *DB) Write(b *Batch) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if b == nil || len(b.ops) == 0 {
		return nil
	}
	if err := db.checkBatch(b); err != nil {
		return err
	}
	w := batchWriterPool.Get().(*batchWriter)
	defer w.release()
	w.prepare(db, b)
	if w.bodyMin > maxBatchSize { // too large whatever its sequence numbers
		return fmt.Errorf("%w: %d operations, at least %d bytes, limit %d", ErrBatchTooLarge, len(w.members), w.bodyMin, maxBatchSize)
	}
	return db.writeBatch(w)
}

// checkBatch validates every operation of b in order, marks the ones a
// later operation of the same key overrides, and returns the error of the
// first bad one.
func (db *DB) checkBatch(b *Batch) error {
	for i := range b.ops {
		op := &b.ops[i]
		var err error
		switch key := b.key(op); {
		case db.checkKey(key) != nil:
			err = db.checkKey(key)
		case op.vLen > db.opts.MaxValueSize:
			err = fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, op.vLen, db.opts.MaxValueSize)
		case op.kind == opPutTTL && op.ttl <= 0:
			err = fmt.Errorf("%w: %v", ErrInvalidTTL, op.ttl)
		}
		if err != nil {
			return fmt.Errorf("simplekv: batch operation %d of %d: %w", i, len(b.ops), err)
		}
		op.dupOfLater = false
	}
	b.markOverridden()
	return nil
}

// markOverridden sets dupOfLater on every operation that a later one of
// the same key overrides. It finds them with an open-addressing table of
// op indexes kept with the batch, so that a Write allocates nothing here.
func (b *Batch) markOverridden() {
	if len(b.ops) < 2 {
		return
	}
	size := 4
	for size < 2*len(b.ops) {
		size *= 2
	}
	if cap(b.seen) < size {
		b.seen = make([]int32, size)
	}
	seen := b.seen[:size]
	for i := range seen {
		seen[i] = -1
	}
	mask := uint64(size - 1)
	for i := range b.ops {
		key := b.key(&b.ops[i])
		for p := xxhash.Sum64(key) & mask; ; p = (p + 1) & mask {
			j := seen[p]
			if j < 0 {
				seen[p] = int32(i)
				break
			}
			if bytes.Equal(b.key(&b.ops[j]), key) {
				b.ops[j].dupOfLater = true
				seen[p] = int32(i)
				break
			}
		}
	}
}
