package raftlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/internal/vfs"
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// SegmentSize is the size past which StoreLogs starts a new segment
	// (default 64 MiB). Head deletes free space a segment at a time.
	SegmentSize int64
	// FS is the filesystem (default the OS's); tests pass a fault FS.
	FS vfs.FS
}

// DefaultSegmentSize is Options.SegmentSize's default.
const DefaultSegmentSize = 64 << 20

// ErrNonMonotonic is returned by StoreLogs for entries that do not follow
// the last stored one (a gap, a repeat or a step back). Nothing is written.
var ErrNonMonotonic = errors.New("raftlog: entries are not consecutive after the last one")

// ErrMidDelete is returned by DeleteRange for a range that touches neither
// end of the log: raft only ever deletes a head or a tail.
var ErrMidDelete = errors.New("raftlog: DeleteRange must include the first or the last entry")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("raftlog: store closed")

// Store is a raft.LogStore, raft.MonotonicLogStore and raft.StableStore.
// It is safe for concurrent use.
type Store struct {
	dir    string
	fs     vfs.FS
	segMax int64
	stable *engine.DB

	mu     sync.RWMutex
	closed bool
	mark   uint64 // the first-index mark as stored (0: none)
	first  uint64 // first entry (0: empty)
	last   uint64 // last entry (0: empty)
	segs   []*segment
	w      *datafile.Writer // appends to segs[len-1]; nil: next StoreLogs starts a segment
	nextID uint32           // datafile header id of the next segment
	enc    []byte           // StoreLogs' scratch
}

var (
	_ raft.LogStore          = (*Store)(nil)
	_ raft.MonotonicLogStore = (*Store)(nil)
	_ raft.StableStore       = (*Store)(nil)
)

// Open opens (creating if needed) the store in dir. Only one Store may
// have dir open at a time (engine.ErrLocked otherwise).
func Open(dir string, opts Options) (*Store, error) {
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if err := opts.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	stable, err := engine.Open(filepath.Join(dir, stableDir), engine.Options{FS: opts.FS, SyncWrites: true})
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, fs: opts.FS, segMax: opts.SegmentSize, stable: stable, nextID: 1}
	if err := s.load(); err != nil {
		s.closeSegments()
		_ = stable.Close()
		return nil, err
	}
	return s, nil
}

const stableDir = "stable"

// load finds the segments, drops those wholly below the first-index mark
// and indexes the rest.
func (s *Store) load() error {
	mark, err := s.getUint64(markKey)
	if err != nil {
		return err
	}
	s.mark = mark
	names, err := s.fs.List(s.dir)
	if err != nil {
		return fmt.Errorf("raftlog: list %s: %w", s.dir, err)
	}
	var bases []uint64
	for _, name := range names {
		if base, ok := parseSegName(name); ok {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	for i, base := range bases {
		path := filepath.Join(s.dir, segName(base))
		newest := i == len(bases)-1
		if fi, err := s.fs.Stat(path); err == nil && newest && fi.Size() < datafile.FileHeaderSize {
			// Created, but its header never made it: an append that
			// did not happen.
			if err := s.fs.Remove(path); err != nil {
				return fmt.Errorf("raftlog: remove %s: %w", path, err)
			}
			continue
		}
		seg, err := loadSegment(s.fs, s.dir, segName(base), base, newest)
		if err != nil {
			return err
		}
		s.nextID++
		if seg.count() > 0 && seg.last() < mark || seg.count() == 0 && !newest {
			// Below the first index (a head delete that crashed before
			// removing it), or empty: nothing of it is in the log.
			seg.f.Close()
			if err := s.fs.Remove(seg.path); err != nil {
				return fmt.Errorf("raftlog: remove %s: %w", seg.path, err)
			}
			continue
		}
		if n := len(s.segs); n > 0 && s.segs[n-1].last()+1 != base {
			seg.f.Close()
			return fmt.Errorf("raftlog: %w", &datafile.CorruptError{Path: seg.path,
				Reason: fmt.Sprintf("starts at entry %d, but the segment before ends at %d", base, s.segs[n-1].last())})
		}
		s.segs = append(s.segs, seg)
	}
	if n := len(s.segs); n > 0 && s.segs[n-1].count() == 0 {
		// An empty newest segment: appends go to a fresh one.
		seg := s.segs[n-1]
		seg.f.Close()
		if err := s.fs.Remove(seg.path); err != nil {
			return fmt.Errorf("raftlog: remove %s: %w", seg.path, err)
		}
		s.segs = s.segs[:n-1]
	}
	if len(s.segs) > 0 {
		s.first = max(s.segs[0].base, mark)
		s.last = s.segs[len(s.segs)-1].last()
	}
	return s.fs.SyncDir(s.dir)
}

// FirstIndex returns the first entry's index, 0 if the log is empty.
func (s *Store) FirstIndex() (uint64, error) { return s.bound(&s.first) }

// LastIndex returns the last entry's index, 0 if the log is empty.
func (s *Store) LastIndex() (uint64, error) { return s.bound(&s.last) }

// bound reads s.first or s.last under the read lock.
func (s *Store) bound(p *uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	return *p, nil
}

// IsMonotonic reports that the store refuses gaps (raft.MonotonicLogStore):
// raft then deletes the whole log before it installs a snapshot.
func (s *Store) IsMonotonic() bool { return true }

// GetLog fills log with entry index, or returns exactly raft.ErrLogNotFound.
// log's slices are its own.
func (s *Store) GetLog(index uint64, log *raft.Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.last == 0 || index < s.first || index > s.last {
		return raft.ErrLogNotFound
	}
	i, _ := slices.BinarySearchFunc(s.segs, index, func(g *segment, idx uint64) int {
		switch {
		case g.last() < idx:
			return -1
		case g.base > idx:
			return 1
		}
		return 0
	})
	seg := s.segs[i]
	j := index - seg.base
	off, end := seg.offs[j], seg.offs[j+1]
	buf := make([]byte, end-off)
	if _, err := seg.f.ReadAt(buf, off); err != nil {
		return fmt.Errorf("raftlog: read entry %d from %s: %w", index, seg.path, err)
	}
	rec, err := datafile.DecodeRecord(seg.path, off, buf)
	if err != nil {
		return fmt.Errorf("raftlog: %w", err)
	}
	if rec.Seq != index {
		return fmt.Errorf("raftlog: %w", &datafile.CorruptError{Path: seg.path, Offset: off,
			Reason: fmt.Sprintf("entry %d where entry %d belongs", rec.Seq, index)})
	}
	return decodeLog(rec.Value, index, log)
}

// StoreLog stores one entry (StoreLogs).
func (s *Store) StoreLog(log *raft.Log) error { return s.StoreLogs([]*raft.Log{log}) }

// StoreLogs appends logs, which must be consecutive and follow the last
// entry (any index if the log is empty), as one write, and returns once
// they are durable (one fsync). On an error nothing of logs is in the log.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for i, l := range logs {
		want := s.last + 1
		if i > 0 {
			want = logs[i-1].Index + 1
		} else if s.last == 0 {
			want = l.Index
		}
		if l.Index != want || l.Index == 0 {
			return fmt.Errorf("%w: entry %d where %d belongs", ErrNonMonotonic, l.Index, want)
		}
	}
	if s.last == 0 && logs[0].Index < s.mark {
		// The log restarts below an earlier head delete's mark (raft
		// emptied it): lower the mark first, or Open would hide these.
		if err := s.setMark(logs[0].Index); err != nil {
			return err
		}
	}
	if s.w != nil && s.w.Size() >= s.segMax {
		if err := s.sealActive(); err != nil {
			return err
		}
	}
	if s.w == nil {
		if err := s.startSegment(logs[0].Index); err != nil {
			return err
		}
	}
	seg := s.segs[len(s.segs)-1]
	start := s.w.Size()
	ends := make([]int64, 0, len(logs))
	enc := s.enc[:0]
	for _, l := range logs {
		val, err := appendLog(nil, l)
		if err != nil {
			return err
		}
		if enc, err = datafile.AppendRecord(enc, l.Index, 0, false, recKey, val, false, nil); err != nil {
			return fmt.Errorf("raftlog: entry %d: %w", l.Index, err)
		}
		ends = append(ends, start+int64(len(enc)))
	}
	s.enc = enc
	if _, err := s.w.Append(enc); err != nil {
		return s.failAppend(seg, start, err)
	}
	// Zeros ahead of the entries, so that the fdatasync below finds the
	// file's size unchanged and does not commit it through the journal
	// (datafile.Writer.Preallocate: about a third less per sync here).
	// Best effort; Open cuts the zeros off an unsealed segment.
	_ = s.w.Preallocate(s.segMax)
	if err := s.w.Sync(); err != nil {
		return s.failAppend(seg, start, err)
	}
	seg.offs = append(seg.offs[:len(seg.offs)-1], start)
	seg.offs = append(seg.offs, ends...)
	if s.last == 0 {
		s.first = logs[0].Index
	}
	s.last = logs[len(logs)-1].Index
	return nil
}

// recKey is every segment record's key: the index is its sequence number.
var recKey = []byte{'r'}

// failAppend handles a failed append or sync: the records may or may not
// be on disk, so the segment is cut back to start and sealed; the next
// StoreLogs starts a new one. If even that fails, the store refuses
// further appends.
func (s *Store) failAppend(seg *segment, start int64, err error) error {
	_ = s.w.Close()
	s.w = nil
	if terr := truncate(s.fs, seg.path, start); terr != nil {
		s.closed = true // we no longer know what the segment holds
		return fmt.Errorf("raftlog: append: %w (and cutting it back failed: %w; store closed)", err, terr)
	}
	if seg.count() == 0 {
		// Nothing of the segment is in the log: drop it, so that the
		// next StoreLogs can start one of the same name.
		_ = seg.f.Close()
		s.segs = s.segs[:len(s.segs)-1]
		if rerr := s.fs.Remove(seg.path); rerr != nil {
			s.closed = true
			return fmt.Errorf("raftlog: append: %w (and removing the empty segment failed: %w; store closed)", err, rerr)
		}
	}
	return fmt.Errorf("raftlog: append: %w", err)
}

// startSegment creates the segment whose first entry will be base.
func (s *Store) startSegment(base uint64) error {
	path := filepath.Join(s.dir, segName(base))
	w, err := datafile.Create(s.fs, path, s.nextID)
	if err != nil {
		return fmt.Errorf("raftlog: %w", err)
	}
	if err := w.Sync(); err != nil {
		_ = w.Close()
		_ = s.fs.Remove(path)
		return fmt.Errorf("raftlog: %w", err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		_ = w.Close()
		_ = s.fs.Remove(path)
		return fmt.Errorf("raftlog: sync %s: %w", s.dir, err)
	}
	f, err := s.fs.Open(path)
	if err != nil {
		_ = w.Close()
		return fmt.Errorf("raftlog: open %s: %w", path, err)
	}
	s.nextID++
	s.w = w
	s.segs = append(s.segs, &segment{base: base, path: path, f: f, offs: []int64{w.Size()}})
	return nil
}

// sealActive closes the active segment's writer; it stays readable.
func (s *Store) sealActive() error {
	if s.w == nil {
		return nil
	}
	err := s.w.Seal()
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	s.w = nil
	if err != nil {
		return fmt.Errorf("raftlog: seal: %w", err)
	}
	return nil
}

// Close closes the store. Every StoreLogs that returned is durable already.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.stable == nil {
		return nil
	}
	s.closed = true
	var errs []error
	if s.w != nil {
		errs = append(errs, s.w.Close())
		s.w = nil
	}
	errs = append(errs, s.closeSegments())
	if s.stable != nil {
		errs = append(errs, s.stable.Close())
		s.stable = nil
	}
	return errors.Join(errs...)
}

func (s *Store) closeSegments() error {
	var errs []error
	for _, seg := range s.segs {
		errs = append(errs, seg.f.Close())
	}
	s.segs = nil
	return errors.Join(errs...)
}
