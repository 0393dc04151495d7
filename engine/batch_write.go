package engine

import (
	"fmt"
	"sync"
	"time"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/keydir"
)

// batchWriter is the scratch space of one Write: the members in stored
// form and their encoding, reused through a pool.
type batchWriter struct {
	b       *Batch
	members []batchMember
	stored  []byte // compressed values, back to back
	comp    []byte // snappy's scratch space
	enc     []byte // the encoded batch
	ops     []keydir.Op
	// bodyMin is the least the members' encoding can take: their
	// sequence numbers, known only under wmu, take 1 to 9 bytes each.
	bodyMin int64
}

type batchMember struct {
	op         *batchOp
	expiry     int64
	flags      byte
	sOff, sLen int  // the stored value, in stored (if compressed) or the batch
	inStored   bool // the value is compressed, in stored
}

// size is the member's encoded size with sequence number seq.
func (m *batchMember) size(seq uint64) int64 {
	return datafile.RecordSize(seq, m.expiry, m.op.kLen, m.sLen)
}

// maxPooledBuf is the largest scratch buffer a batchWriter keeps for the
// next Write: a huge batch should not pin its memory in the pool.
const maxPooledBuf = 1 << 20

func (w *batchWriter) release() {
	for _, buf := range []*[]byte{&w.stored, &w.comp, &w.enc} {
		if cap(*buf) > maxPooledBuf {
			*buf = nil
		}
	}
	w.b = nil
	clear(w.members)
	w.members = w.members[:0]
	clear(w.ops)
	w.ops = w.ops[:0]
	batchWriterPool.Put(w)
}

// prepare turns b's surviving operations into members in stored form,
// compressing values, outside any lock.
func (w *batchWriter) prepare(db *DB, b *Batch) {
	w.b = b
	w.stored = w.stored[:0]
	w.bodyMin = 0
	now := time.Now().UnixNano()
	for i := range b.ops {
		op := &b.ops[i]
		if op.dupOfLater {
			continue
		}
		m := batchMember{op: op, flags: datafile.FlagBatch, sOff: op.vOff, sLen: op.vLen}
		switch op.kind {
		case opDelete:
			m.flags |= datafile.FlagTombstone
			m.sLen = 0
		case opPutTTL:
			m.expiry = expiryAfter(now, op.ttl)
		}
		if op.kind != opDelete {
			value := b.value(op)
			try := !db.opts.DisableCompression && len(value) >= datafile.MinCompressLen && db.compress.try()
			stored, flags := datafile.PrepareValue(value, try, &w.comp)
			if try {
				db.compress.result(flags&datafile.FlagCompressed != 0)
			}
			if flags&datafile.FlagCompressed != 0 {
				m.flags |= datafile.FlagCompressed
				m.inStored, m.sOff, m.sLen = true, len(w.stored), len(stored)
				w.stored = append(w.stored, stored...)
			}
		}
		w.bodyMin += m.size(0) // a one-byte sequence number, the least
		w.members = append(w.members, m)
	}
}

func (w *batchWriter) valueOf(m *batchMember) []byte {
	if m.inStored {
		return w.stored[m.sOff : m.sOff+m.sLen]
	}
	return w.b.data[m.sOff : m.sOff+m.sLen]
}

var batchWriterPool = sync.Pool{New: func() any { return new(batchWriter) }}

// writeBatch appends the prepared batch as one record run and applies it
// to the keydir as one step once it is as durable as the options promise.
func (db *DB) writeBatch(w *batchWriter) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	var body, size int64
	for {
		if db.closed.Load() {
			return ErrClosed
		}
		if db.writeErr != nil {
			return db.writeErr
		}
		body = w.bodySize(db.seq + 1)
		size = datafile.BatchHeaderSize(db.seq+1, len(w.members), body) + body
		if size > maxBatchSize {
			return fmt.Errorf("%w: %d operations, %d bytes, limit %d", ErrBatchTooLarge, len(w.members), size, maxBatchSize)
		}
		if db.w.Size()+size <= db.opts.MaxFileSize || db.w.Size() == datafile.FileHeaderSize {
			break
		}
		if db.syncing {
			db.syncCond.Wait() // never rotate under a group commit's fsync
			continue
		}
		if err := db.rotateLocked(); err != nil {
			return err
		}
	}
	first := db.seq + 1
	if err := w.encode(first, body); err != nil {
		return err
	}
	off, err := db.w.Append(w.enc)
	if err != nil {
		return db.failLocked(err)
	}
	db.seq = first + uint64(len(w.members)) - 1
	db.appended += uint64(size)
	target := db.appended
	db.st.bytesWritten.Add(size)
	db.st.diskBytes.Add(size)
	db.st.batches.Add(1)
	w.entries(db, off, size-body)

	if db.opts.SyncWrites {
		db.pending = append(db.pending, pendingOp{batch: w.ops, pos: target})
		return db.waitDurableLocked(target)
	}
	if db.w.Buffered() >= db.opts.BufferSize {
		if err := db.w.Flush(); err != nil {
			return db.failLocked(err)
		}
	}
	db.applyBatchLocked(w.ops)
	return nil
}

// bodySize is the members' encoded size when the first has sequence
// number first.
func (w *batchWriter) bodySize(first uint64) int64 {
	var n int64
	for i := range w.members {
		n += w.members[i].size(first + uint64(i))
	}
	return n
}

// encode writes the batch header and members into w.enc.
func (w *batchWriter) encode(first uint64, body int64) error {
	var err error
	w.enc, err = datafile.AppendBatchHeader(w.enc[:0], first, len(w.members), body)
	if err != nil {
		return fmt.Errorf("simplekv: %w", err)
	}
	for i := range w.members {
		m := &w.members[i]
		w.enc, err = datafile.AppendEncoded(w.enc, first+uint64(i), m.expiry, m.flags, w.b.key(m.op), w.valueOf(m))
		if err != nil {
			return fmt.Errorf("simplekv: %w", err)
		}
	}
	return nil
}

// entries accounts for the batch appended at off in the active file (its
// header taking hdr bytes) and builds the keydir ops that apply it.
func (w *batchWriter) entries(db *DB, off, hdr int64) {
	f := db.activeFile
	f.size.Add(hdr)
	f.dead.Add(hdr) // the header is never live
	pos := off + hdr
	seq := db.seq + 1 - uint64(len(w.members))
	for i := range w.members {
		m := &w.members[i]
		size := m.size(seq)
		tomb := m.op.kind == opDelete
		f.noteAppend(seq, m.expiry, tomb, size)
		w.ops = append(w.ops, keydir.Op{
			Key:    w.b.key(m.op),
			Entry:  keydir.Entry{FileID: db.w.ID(), Offset: uint32(pos), Size: uint32(size), Seq: seq, Expiry: m.expiry},
			Delete: tomb,
		})
		pos += size
		seq++
	}
}

// applyBatchLocked makes a batch visible, all of it at once (to Scans
// too: see scanUndo), and counts the records it replaces as dead.
func (db *DB) applyBatchLocked(ops []keydir.Op) {
	db.kd.Apply(ops, db.saveLocked(ops))
	for i := range ops {
		op := &ops[i]
		if op.Delete {
			if op.Done {
				db.noteDead(op.Prev)
			}
			db.st.deletes.Add(1)
		} else {
			if op.HadPrev && op.Done {
				db.noteDead(op.Prev)
			}
			db.st.puts.Add(1)
		}
		db.cache.Invalidate(op.Key)
	}
}
