package engine

import (
	"runtime"
	"sync"

	"github.com/simplekv/simplekv/keydir"
)

// walApplier applies the records of one log file to the keydir from
// several goroutines while the caller goes on scanning the file. Records
// are routed by keydir shard (worker = shard mod workers), and each worker
// applies its records in the order it got them, so every key's records
// are applied in file order, as a sequential replay would: a delete still
// removes only the puts before it, and a put still replaces only older
// ones. Different keys commute (the keydir moves only forward per key), so
// nothing else needs ordering. With two cores, scanning and applying
// overlap and the keydir inserts, most of a replay's work, run in
// parallel.
//
// The recovery's maps (byID, tombs) must not change between newWALApplier
// and finish: workers read them.
type walApplier struct {
	r       *recovery
	workers int
	cur     []*walBatch      // the batch being filled, per worker
	ch      []chan *walBatch // full batches, per worker
	free    chan *walBatch
	wg      sync.WaitGroup
	done    bool
}

// walBatch is a run of records for one worker. Keys are copied into one
// buffer: the scanner reuses its own.
type walBatch struct {
	keys []byte
	recs []walRec
}

type walRec struct {
	keyStart, keyEnd int // the key is keys[keyStart:keyEnd]
	shard            int
	e                keydir.Entry
	f                *dataFile
	tomb             bool
}

// walBatchRecords is the records per batch. A worker applies a batch shard
// by shard (see work), so a batch should hold many records per shard: with
// 16384 records and 128 shards per worker, about 128, enough to keep a
// shard's table in cache while they go in.
const walBatchRecords = 16384

func newWALApplier(r *recovery) *walApplier {
	w := max(1, runtime.GOMAXPROCS(0))
	a := &walApplier{r: r, workers: w, cur: make([]*walBatch, w), ch: make([]chan *walBatch, w),
		free: make(chan *walBatch, 4*w)}
	for i := range w {
		a.ch[i] = make(chan *walBatch, 2)
		a.cur[i] = a.newBatch()
		a.wg.Add(1)
		go a.work(a.ch[i])
	}
	return a
}

func (a *walApplier) newBatch() *walBatch {
	select {
	case b := <-a.free:
		return b
	default:
		return &walBatch{} // grows to walBatchRecords as records come: small logs stay small
	}
}

// add queues one record of file f.
func (a *walApplier) add(f *dataFile, key []byte, e keydir.Entry, tomb bool) {
	sh := a.r.db.kd.ShardOf(key)
	w := sh % a.workers
	b := a.cur[w]
	start := len(b.keys)
	b.keys = append(b.keys, key...)
	b.recs = append(b.recs, walRec{keyStart: start, keyEnd: len(b.keys), shard: sh, e: e, f: f, tomb: tomb})
	if len(b.recs) == walBatchRecords {
		a.ch[w] <- b
		a.cur[w] = a.newBatch()
	}
}

// finish applies everything queued and stops the workers. Later calls do
// nothing.
func (a *walApplier) finish() {
	if a.done {
		return
	}
	a.done = true
	for w, b := range a.cur {
		if len(b.recs) > 0 {
			a.ch[w] <- b
		}
		close(a.ch[w])
	}
	a.wg.Wait()
}

func (a *walApplier) work(ch chan *walBatch) {
	defer a.wg.Done()
	r := a.r
	var count [keydir.Shards + 1]int
	var order []int32
	for b := range ch {
		// A stable counting sort by shard: each shard's records are applied
		// together (its table and arena stay in cache), and in the order
		// they were read.
		clear(count[:])
		for i := range b.recs {
			count[b.recs[i].shard+1]++
		}
		for sh := 1; sh <= keydir.Shards; sh++ {
			count[sh] += count[sh-1]
		}
		if cap(order) < len(b.recs) {
			order = make([]int32, len(b.recs))
		}
		order = order[:len(b.recs)]
		for i := range b.recs {
			sh := b.recs[i].shard
			order[count[sh]] = int32(i)
			count[sh]++
		}
		for _, i := range order {
			rec := &b.recs[i]
			key := b.keys[rec.keyStart:rec.keyEnd]
			if rec.tomb {
				if prev, removed := r.db.kd.Delete(key, rec.e.Seq); removed {
					if pf := r.byID[prev.FileID]; pf != nil {
						pf.dead.Add(int64(prev.Size))
					}
				}
				continue
			}
			// An expired put goes in like any other (readers do not see
			// it): like a delete it must hide older versions of its key
			// until a merge turns it into a delete marker.
			r.put(rec.f, key, rec.e)
		}
		b.keys, b.recs = b.keys[:0], b.recs[:0]
		select {
		case a.free <- b:
		default:
		}
	}
}
