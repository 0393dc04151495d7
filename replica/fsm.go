package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/simplekv/simplekv/engine"
)

// Engine keys: the users' keys get the prefix 'u', node addresses 'p', and
// the FSM's own records 'm', so that no user key can touch the others.
const (
	nsUser   = 'u'
	nsMember = 'p'
)

var appliedKey = []byte("mapplied") // the index of the last applied entry

func engineKey(ns byte, key []byte) []byte {
	return append(append(make([]byte, 0, 1+len(key)), ns), key...)
}

// Result is the response of an applied command (raft.ApplyFuture's
// Response): for each op, in order, whether its key was present before.
// It is filled for OpAddIfAbsent ops only (false for the others).
type Result struct {
	Existed []bool
}

// ErrFailed is returned by every apply after the FSM's store failed a
// write. The FSM stops applying (fail-stop): it records no entry it did
// not apply, so a restart replays from the last one that was.
var ErrFailed = errors.New("replica: state machine stopped after a failed write")

// FSM is the raft state machine (raft.BatchingFSM) over an engine.DB in
// dir/fsm. Apply and Restore are called by raft's FSM goroutine only;
// reads and Persist run beside them.
type FSM struct {
	dir  string
	opts engine.Options

	mu      sync.RWMutex // guards db: Restore swaps it
	db      *engine.DB
	applied atomic.Uint64
	failed  atomic.Pointer[error]

	batch     engine.Batch // ApplyBatch's, reused
	flushSize int          // flushSize, or less in tests
}

var _ raft.BatchingFSM = (*FSM)(nil)

const (
	fsmDir     = "fsm"
	restoreDir = "fsm.restore"
	oldDir     = "fsm.old"
)

// OpenFSM opens (creating if needed) the state machine's store in
// dir/fsm, first finishing or discarding a snapshot install that a crash
// interrupted.
func OpenFSM(dir string, opts engine.Options) (*FSM, error) {
	if err := recoverSwap(dir); err != nil {
		return nil, err
	}
	f := &FSM{dir: dir, opts: opts, flushSize: flushSize}
	if err := f.openDB(); err != nil {
		return nil, err
	}
	return f, nil
}

// recoverSwap finishes an interrupted Restore: a complete restored store
// whose swap had begun replaces the old one; one whose swap had not begun
// is dropped (raft installs the snapshot again, since the store records an
// older index).
func recoverSwap(dir string) error {
	cur, restored, old := filepath.Join(dir, fsmDir), filepath.Join(dir, restoreDir), filepath.Join(dir, oldDir)
	if _, err := os.Stat(cur); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(restored); err == nil {
			if err := os.Rename(restored, cur); err != nil {
				return fmt.Errorf("replica: %w", err)
			}
		}
	}
	for _, p := range []string{restored, restored + ".simplekv-tmp", old} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("replica: %w", err)
		}
	}
	return syncDir(dir)
}

func (f *FSM) openDB() error {
	db, err := engine.Open(filepath.Join(f.dir, fsmDir), f.opts)
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	idx, err := readApplied(db)
	if err != nil {
		_ = db.Close()
		return err
	}
	f.db = db
	f.applied.Store(idx)
	return nil
}

func readApplied(db *engine.DB) (uint64, error) {
	v, err := db.Get(appliedKey)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("replica: applied index: %w", err)
	case len(v) != 8:
		return 0, fmt.Errorf("replica: %w: applied index of %d bytes", engine.ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Applied is the index of the last entry the store holds.
func (f *FSM) Applied() uint64 { return f.applied.Load() }

// Apply applies one entry (raft.FSM).
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies logs with one db.Write that also records the last
// one's index; entries at or below the recorded index (a replay after a
// restart) are skipped. Each response is a *Result or an error, or, for a
// group entry (the proposer's), a *GroupResponse holding one of those for
// each of its commands.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	resp := make([]any, len(logs))
	if errp := f.failed.Load(); errp != nil {
		for i := range resp {
			resp[i] = *errp
		}
		return resp
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	applied := f.applied.Load()
	// cmds[i][j] is command j of entry i; each answers on its own (out[i][j]).
	cmds := make([][][]Op, len(logs))
	out := make([][]any, len(logs))
	checks := false
	for i, l := range logs {
		if l.Index <= applied || l.Type != raft.LogCommand {
			resp[i] = &Result{}
			continue
		}
		cmds[i], out[i], resp[i] = f.decodeEntry(l)
		for _, ops := range cmds[i] {
			for _, op := range ops {
				// Both need st.pending: what the batch staged so far.
				checks = checks || op.Kind == OpAddIfAbsent || op.Kind == OpDeletePrefix
			}
		}
	}
	last := logs[len(logs)-1].Index
	if last <= applied {
		return resp
	}
	st := stager{db: f.db, b: &f.batch, now: time.Now(), flushSize: f.flushSize}
	if checks {
		st.pending = map[string]bool{}
	}
	st.b.Reset()
	done := applied // the last entry in the store
	flush := func(upTo uint64) error {
		st.b.Put(appliedKey, binary.BigEndian.AppendUint64(nil, upTo))
		if err := f.db.Write(st.b); err != nil {
			return err
		}
		f.applied.Store(upTo)
		done = upTo
		st.b.Reset()
		st.size = 0
		clear(st.pending) // the store holds what it recorded now
		return nil
	}
	// A large prefix delete writes in parts, without moving the applied
	// index (deletePrefix). A crash after such a write replays the
	// entries after done on a store that holds a prefix of their ops
	// already, and ends in the same state as one apply: per key, every op
	// but OpAddIfAbsent sets the key whatever it finds (a prefix delete
	// too), so from the first such op on the key the replay agrees again;
	// and a run of OpAddIfAbsent on a key ends the same whether or not
	// part of it ran before. (Their Existed answers may differ; no one
	// waits for a replayed entry.)
	st.flush = func() error { return flush(done) }
	for i, entry := range cmds {
		for j, ops := range entry {
			if ops == nil {
				continue
			}
			res, err := st.stage(ops)
			if err != nil {
				return f.fail(logs, resp, done, err)
			}
			out[i][j] = res
		}
		if resp[i] == nil && len(out[i]) == 1 {
			resp[i] = out[i][0]
		}
		if st.size >= f.flushSize && logs[i].Index != last {
			// Keep the write within engine.MaxBatchSize; the index
			// recorded with it is this entry's, so a crash after it
			// replays only the rest.
			if err := flush(logs[i].Index); err != nil {
				return f.fail(logs, resp, done, err)
			}
		}
	}
	if err := flush(last); err != nil {
		return f.fail(logs, resp, done, err)
	}
	return resp
}

// decodeEntry splits entry l into its commands and checks each: cmds[j]
// is nil for a refused command, whose error is out[j]. resp is the
// entry's response, completed as its commands are applied: for a group a
// GroupResponse over out, otherwise nil (the one command's answer is
// used). An entry refused whole has no commands and resp is its error.
// Every replica decodes the same bytes the same way, so a refusal is the
// same everywhere.
func (f *FSM) decodeEntry(l *raft.Log) (cmds [][]Op, out []any, resp any) {
	refuse := func(err error) ([][]Op, []any, any) {
		return nil, nil, fmt.Errorf("replica: entry %d: %w", l.Index, err)
	}
	raw, group, err := splitEntry(l.Data)
	if err != nil {
		return refuse(err)
	}
	if group && len(l.Data) > maxCommandSize {
		return refuse(fmt.Errorf("%w: a group of %d bytes, limit %d", engine.ErrBatchTooLarge, len(l.Data), maxCommandSize))
	}
	cmds, out = make([][]Op, len(raw)), make([]any, len(raw))
	size := 0
	for j, b := range raw {
		ops, err := decodeCommand(b)
		if err == nil {
			err = f.checkOps(ops)
		}
		if err != nil {
			out[j] = fmt.Errorf("replica: entry %d: %w", l.Index, err)
			continue
		}
		cmds[j] = ops
		for _, op := range ops {
			size += opSize(op)
		}
	}
	if size > maxCommandSize {
		// The proposer keeps groups far below this; refusing a larger
		// one keeps every write of ApplyBatch within engine.MaxBatchSize.
		return refuse(fmt.Errorf("%w: a group of %d bytes in the store's batch, limit %d", engine.ErrBatchTooLarge, size, maxCommandSize))
	}
	if group {
		resp = &GroupResponse{Each: out}
	}
	return cmds, out, resp
}

// GroupResponse is the response of a group entry: Each[j] is command j's
// *Result or error.
type GroupResponse struct {
	Each []any
}

// opSize bounds what op costs in the store's batch: its key with the
// namespace byte, its value, and the largest record header (engine.MaxBatchSize
// counts headers too; with tiny keys they are most of a batch).
func opSize(op Op) int { return 1 + len(op.Key) + len(op.Value) + 33 }

// flushSize is the opSize of staged ops past which ApplyBatch
// writes what it has before it goes on.
const flushSize = 64 << 20

// checkOps refuses ops the store would refuse (the engine key is one byte
// longer than the op's), so that such an entry fails alone and the same
// way on every replica instead of failing the whole batch's write.
func (f *FSM) checkOps(ops []Op) error {
	maxKey, maxVal := f.opts.MaxKeySize, f.opts.MaxValueSize
	if maxKey == 0 {
		maxKey = engine.DefaultMaxKeySize
	}
	if maxVal == 0 {
		maxVal = engine.DefaultMaxValueSize
	}
	return checkOps(ops, maxKey-1, maxVal)
}

func checkOps(ops []Op, maxKey, maxVal int) error {
	size := 0
	for _, op := range ops {
		switch {
		case len(op.Key) == 0:
			return engine.ErrEmptyKey
		case len(op.Key) > maxKey:
			return fmt.Errorf("%w: %d bytes, limit %d", engine.ErrKeyTooLarge, len(op.Key), maxKey)
		case len(op.Value) > maxVal:
			return fmt.Errorf("%w: %d bytes, limit %d", engine.ErrValueTooLarge, len(op.Value), maxVal)
		case !validKind(op.Kind):
			return fmt.Errorf("%w: op kind %d", ErrBadCommand, op.Kind)
		}
		size += opSize(op)
	}
	if size > maxCommandSize {
		return fmt.Errorf("%w: %d bytes in the store's batch, limit %d", engine.ErrBatchTooLarge, size, maxCommandSize)
	}
	return nil
}

// maxCommandSize bounds one command's keys and values: with flushSize, no
// write of ApplyBatch exceeds engine.MaxBatchSize.
const maxCommandSize = 64 << 20

// fail stops the FSM: the entries of logs after done (the last one in the
// store) and every later batch answer err. Those entries stay in the raft
// log and are applied when a restart replays them, so the error wraps
// ErrFailed, which Node reports as an unknown outcome.
func (f *FSM) fail(logs []*raft.Log, resp []any, done uint64, err error) []any {
	err = fmt.Errorf("%w: %w", ErrFailed, err)
	f.failed.CompareAndSwap(nil, &err)
	for i, l := range logs {
		if l.Index > done {
			resp[i] = err
		}
	}
	return resp
}

// stager turns ops into one engine batch. pending (when the batch holds an
// OpAddIfAbsent) records whether each key the batch has written so far
// is present, for the checks of later ops.
type stager struct {
	db        *engine.DB
	b         *engine.Batch
	now       time.Time
	pending   map[string]bool
	size      int          // opSize of the ops staged
	flushSize int          // FSM.flushSize
	flush     func() error // writes what is staged (see ApplyBatch)
}

func (st *stager) stage(ops []Op) (*Result, error) {
	res := &Result{Existed: make([]bool, len(ops))}
	for j, op := range ops {
		st.size += opSize(op)
		ns := byte(nsUser)
		if op.Kind == opMember {
			ns = nsMember
		}
		k := engineKey(ns, op.Key)
		present := true
		switch op.Kind {
		case OpPut, opMember:
			st.b.Put(k, op.Value)
		case OpPutExpiring:
			if ttl := op.Expires.Sub(st.now); ttl > 0 {
				st.b.PutWithTTL(k, op.Value, ttl)
			} else {
				st.b.Delete(k) // expired before it was applied
				present = false
			}
		case OpDelete:
			st.b.Delete(k)
			present = false
		case OpDeletePrefix:
			if err := st.deletePrefix(k); err != nil {
				return nil, err
			}
			continue // pending is updated key by key
		case OpAddIfAbsent:
			had, err := st.has(k)
			if err != nil {
				return nil, err
			}
			res.Existed[j] = had
			if had {
				continue
			}
			st.b.Put(k, op.Value)
		}
		if st.pending != nil {
			st.pending[string(k)] = present
		}
	}
	return res, nil
}

// deletePrefix stages a delete of every key that starts with prefix: the
// store's (from its index: no value is read, so a damaged record cannot
// stop the apply) and those staged but not written yet. Deletes of more
// than flushSize (a bucket of a million keys or so) do not go in one
// write with the rest: what is staged before them is written first, then
// they are written in parts of flushSize, the last part staying with the
// ops after it. A reader of this node may then see the delete part done;
// writes are ordered before or after it all the same.
func (st *stager) deletePrefix(prefix []byte) error {
	var keys [][]byte
	need := 0
	if err := st.db.Keys(prefix, func(k []byte) bool {
		if _, staged := st.pending[string(k)]; !staged { // staged: handled below
			keys = append(keys, k)
			need += len(k) + 33
		}
		return true
	}); err != nil {
		return err
	}
	for k, present := range st.pending {
		if present && bytes.HasPrefix([]byte(k), prefix) {
			keys = append(keys, []byte(k))
			need += len(k) + 33
		}
	}
	split := need > st.flushSize
	if split && st.size > 0 {
		if err := st.flush(); err != nil {
			return err
		}
	}
	for _, k := range keys {
		st.b.Delete(k)
		st.pending[string(k)] = false
		if st.size += len(k) + 33; split && st.size >= st.flushSize {
			if err := st.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (st *stager) has(k []byte) (bool, error) {
	if p, ok := st.pending[string(k)]; ok {
		return p, nil
	}
	return st.db.Has(k)
}

// get reads an engine key of the current store.
func (f *FSM) get(ns byte, key []byte) ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.db.Get(engineKey(ns, key))
}

// has reports whether user key is present.
func (f *FSM) has(key []byte) (bool, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.db.Has(engineKey(nsUser, key))
}

// scan calls fn for every user key with prefix, in no particular order.
func (f *FSM) scan(prefix []byte, fn func(key, value []byte) bool) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.db.Scan(engineKey(nsUser, prefix), func(k, v []byte) bool { return fn(k[1:], v) })
}

// Snapshot returns at once (raft.FSM): the copy is made by Persist, while
// applies go on. It holds everything applied before Snapshot was called
// and maybe more; with the applied index inside it, an entry the copy
// already holds is skipped when raft replays it after a Restore.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) { return &fsmSnapshot{f: f}, nil }

type fsmSnapshot struct{ f *FSM }

// Persist streams a live backup of the store into sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	s.f.mu.RLock()
	_, err := s.f.db.Backup(sink)
	s.f.mu.RUnlock()
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("replica: snapshot: %w", err)
	}
	return sink.Close()
}

// Release is a no-op: Persist holds nothing after it returns.
func (s *fsmSnapshot) Release() {}

// Restore replaces the store with the snapshot in rc (raft.FSM): the
// snapshot is restored beside the store and verified, then the two
// directories are swapped. A crash at any point leaves either store whole
// (recoverSwap); on an error the old store stays.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	restored := filepath.Join(f.dir, restoreDir)
	if err := os.RemoveAll(restored); err != nil {
		return fmt.Errorf("replica: restore: %w", err)
	}
	if err := engine.Restore(rc, restored); err != nil {
		return fmt.Errorf("replica: restore: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("replica: restore: close the old store: %w", err)
	}
	cur, old := filepath.Join(f.dir, fsmDir), filepath.Join(f.dir, oldDir)
	if err := os.Rename(cur, old); err != nil {
		return errors.Join(fmt.Errorf("replica: restore: %w", err), f.openDB())
	}
	if err := os.Rename(restored, cur); err != nil {
		return errors.Join(fmt.Errorf("replica: restore: %w", err), os.Rename(old, cur), f.openDB())
	}
	if err := syncDir(f.dir); err != nil {
		return errors.Join(fmt.Errorf("replica: restore: %w", err), f.openDB())
	}
	if err := f.openDB(); err != nil {
		return err
	}
	f.failed.Store(nil)
	return os.RemoveAll(old)
}

// Close closes the store.
func (f *FSM) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.db.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("replica: sync %s: %w", dir, err)
	}
	return nil
}

func (f *FSM) stats() engine.Stats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.db.Stats()
}
