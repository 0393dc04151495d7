package engine

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/simplekv/simplekv/keydir"
)

// scanUndo lets a Scan see every batch applied after it started as not
// applied at all, so that it never sees part of one (see Scan).
//
// While at least one Scan runs, each batch is given a stamp (gen, counting
// up) and, before it is applied, the values its keys had are saved here,
// tagged with the stamp. keydir.Apply records the stamp in every shard the
// batch touches, under the same locks, so a Scan's copy of a shard tells
// which stamped batches it already holds. A Scan that started at stamp G
// visits a key through the first saved value of it with a stamp above G,
// if there is one, rather than through the index. Saved values are dropped
// once no Scan started before them is left.
//
// Values are saved (copied) rather than located on disk so that merges may
// go on removing the files they came from: a Scan's callback may call
// Compact, so a Scan cannot hold merges back.
type scanUndo struct {
	// mu guards everything below. begin also holds wmu, so a batch (whose
	// save and apply run under wmu) is applied either before a Scan
	// begins or with a stamp it sees.
	mu   sync.RWMutex
	gen  uint64         // stamp of the last batch applied while a Scan ran
	live map[uint64]int // start stamp -> Scans running from it
	// saved holds, per keydir shard, each key's saved values in stamp
	// order.
	saved [keydir.Shards]map[string][]savedValue
	bytes int64 // of saved keys and values, for Stats
}

// savedValue is what a key held just before batch gen was applied.
type savedValue struct {
	gen    uint64
	had    bool // there was a live value (else the key was absent)
	value  []byte
	expiry int64
	err    error // reading the value failed; a Scan that needs it fails
}

// result is the saved value as a read would return it: a fresh copy and
// its expiry, or an error matching ErrNotFound if the key was absent or
// has expired since.
func (v savedValue) result() ([]byte, int64, error) {
	switch {
	case v.err != nil:
		return nil, 0, v.err
	case !v.had || (v.expiry != 0 && v.expiry <= time.Now().UnixNano()):
		return nil, 0, ErrNotFound
	}
	return bytes.Clone(v.value), v.expiry, nil
}

// begin registers a Scan and returns its start stamp. The caller holds wmu.
func (u *scanUndo) begin() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.live == nil {
		u.live = map[uint64]int{}
	}
	u.live[u.gen]++
	return u.gen
}

// end unregisters a Scan that began at start and drops the saved values
// no remaining Scan needs.
func (u *scanUndo) end(start uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.live[start]--; u.live[start] == 0 {
		delete(u.live, start)
	}
	oldest, any := uint64(0), false
	for g := range u.live {
		if !any || g < oldest {
			oldest, any = g, true
		}
	}
	for i, m := range u.saved {
		for k, vs := range m {
			n := 0
			for n < len(vs) && (!any || vs[n].gen <= oldest) {
				u.bytes -= int64(len(k) + len(vs[n].value))
				n++
			}
			if n == len(vs) {
				delete(m, k)
			} else {
				u.saved[i][k] = vs[n:]
			}
		}
		if len(m) == 0 {
			u.saved[i] = nil
		}
	}
}

func (u *scanUndo) savedBytes() int64 {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return u.bytes
}

// first returns key's first saved value with a stamp above start.
func (u *scanUndo) first(shard int, key []byte, start uint64) (savedValue, bool) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return firstAfter(u.saved[shard][string(key)], start)
}

func firstAfter(vs []savedValue, start uint64) (savedValue, bool) {
	for _, v := range vs {
		if v.gen > start {
			return v, true
		}
	}
	return savedValue{}, false
}

// saveLocked stamps the batch ops are about to apply and saves the values
// their keys have now. It returns the stamp to pass to keydir.Apply, 0 if
// no Scan runs. The caller holds wmu, so no other write changes the keys
// between the reads here and the Apply.
func (db *DB) saveLocked(ops []keydir.Op) uint64 {
	u := &db.undo
	need := u.needed(db.kd, ops)
	if need == nil {
		return 0
	}
	saved := make([]savedValue, len(ops))
	now := time.Now().UnixNano()
	for i := range ops {
		if !need[i] {
			continue
		}
		var exp int64
		v, err := db.read(ops[i].Key, &exp, true)
		switch {
		case err == nil && (exp == 0 || exp > now):
			saved[i] = savedValue{had: true, value: v, expiry: exp}
		case err != nil && !errors.Is(err, ErrNotFound):
			saved[i] = savedValue{err: err}
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.live) == 0 {
		return 0 // the Scans ended meanwhile: nobody would drop these
	}
	u.gen++
	for i := range ops {
		if !need[i] {
			continue
		}
		key := ops[i].Key
		m := &u.saved[db.kd.ShardOf(key)]
		if *m == nil {
			*m = map[string][]savedValue{}
		}
		saved[i].gen = u.gen
		(*m)[string(key)] = append((*m)[string(key)], saved[i])
		u.bytes += int64(len(key) + len(saved[i].value))
	}
	return u.gen
}

// needed says which of ops' keys a running Scan could need a saved value
// of: those with none saved since the newest Scan began. (Every running
// Scan began before such a later save, so each would read an earlier
// one.) It returns nil if no Scan runs. The caller holds wmu, so no Scan
// begins meanwhile.
func (u *scanUndo) needed(kd *keydir.Keydir, ops []keydir.Op) []bool {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if len(u.live) == 0 {
		return nil
	}
	var newest uint64
	for g := range u.live {
		newest = max(newest, g)
	}
	need := make([]bool, len(ops))
	for i := range ops {
		vs := u.saved[kd.ShardOf(ops[i].Key)][string(ops[i].Key)]
		need[i] = len(vs) == 0 || vs[len(vs)-1].gen <= newest
	}
	return need
}

// unseen returns, for a Scan that began at start, the keys of shard with
// prefix whose first batch after start was applied before the Scan's
// copy of the shard (its stamp is copied or less) and that the Scan has not
// visited (seen): keys such a batch deleted, which the copy lacks but the
// Scan must show as they were. It returns their saved values.
func (u *scanUndo) unseen(shard int, prefix []byte, start, copied uint64, seen map[string]bool) ([][]byte, []savedValue) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	var keys [][]byte
	var vals []savedValue
	for k, vs := range u.saved[shard] {
		v, ok := firstAfter(vs, start)
		if !ok || v.gen > copied || seen[k] || !strings.HasPrefix(k, string(prefix)) {
			continue
		}
		keys = append(keys, []byte(k))
		vals = append(vals, v)
	}
	return keys, vals
}
