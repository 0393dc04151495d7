package raftlog

import (
	"encoding/binary"
	"fmt"
)

// DeleteRange deletes entries min through max, which must include the
// first entry (a head delete, after a snapshot) or the last (a tail
// delete, after a conflict), or ErrMidDelete. Entries outside the log are
// ignored. It returns once the deletion is durable.
func (s *Store) DeleteRange(min, max uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.last == 0 || max < s.first || min > s.last || min > max {
		return nil
	}
	switch {
	case min <= s.first && max >= s.last:
		return s.deleteAll(max + 1)
	case min <= s.first:
		return s.deleteHead(max + 1)
	case max >= s.last:
		return s.deleteTail(min)
	}
	return fmt.Errorf("%w: [%d, %d] inside [%d, %d]", ErrMidDelete, min, max, s.first, s.last)
}

// setMark records durably that the log starts at first.
func (s *Store) setMark(first uint64) error {
	if err := s.stable.Put(markKey, binary.BigEndian.AppendUint64(nil, first)); err != nil {
		return err
	}
	s.mark = first
	return nil
}

// deleteHead makes first the first entry: the mark first, so a crash
// after it hides the entries below even where their segment survives,
// then the segments wholly below it go.
func (s *Store) deleteHead(first uint64) error {
	if err := s.setMark(first); err != nil {
		return err
	}
	s.first = first
	n := 0
	for n < len(s.segs)-1 && s.segs[n].last() < first {
		n++
	}
	return s.removeSegments(0, n)
}

// deleteAll empties the log. The mark is set past max, so that a crash
// before every segment is gone leaves an empty log too.
func (s *Store) deleteAll(next uint64) error {
	if err := s.setMark(next); err != nil {
		return err
	}
	if err := s.sealActive(); err != nil {
		return err
	}
	s.first, s.last = 0, 0
	return s.removeSegments(0, len(s.segs))
}

// deleteTail makes min-1 the last entry: segments starting at min or
// later go, newest first, then the one holding min is cut before it. A
// crash in between leaves a shorter tail, never a gap.
func (s *Store) deleteTail(min uint64) error {
	if err := s.sealActive(); err != nil {
		return err
	}
	n := len(s.segs)
	for n > 0 && s.segs[n-1].base >= min {
		n--
	}
	if err := s.removeSegments(n, len(s.segs)); err != nil {
		return err
	}
	if n > 0 {
		seg := s.segs[n-1]
		keep := min - seg.base
		if err := truncate(s.fs, seg.path, seg.offs[keep]); err != nil {
			return err
		}
		seg.offs = seg.offs[:keep+1]
	}
	s.last = min - 1
	return nil
}

// removeSegments removes segs[i:j], newest first, and syncs the directory.
func (s *Store) removeSegments(i, j int) error {
	for k := j - 1; k >= i; k-- {
		seg := s.segs[k]
		_ = seg.f.Close()
		if err := s.fs.Remove(seg.path); err != nil {
			s.segs = append(s.segs[:i], s.segs[k+1:]...)
			return fmt.Errorf("raftlog: remove %s: %w", seg.path, err)
		}
	}
	s.segs = append(s.segs[:i], s.segs[j:]...)
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("raftlog: sync %s: %w", s.dir, err)
	}
	return nil
}
