package compaction

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/hintfile"
	"github.com/simplekv/simplekv/internal/vfs"
	"github.com/simplekv/simplekv/keydir"
)

// ErrStopped is returned by Merger.Run when its Stop channel closed before
// the merge finished. Nothing was published.
var ErrStopped = errors.New("compaction: merge stopped")

// Input is a data file chosen for a merge.
type Input struct {
	FileRef
	Path string
}

// Output is one data file and its hint file written by a merge.
type Output struct {
	ID             uint32
	Data, Hint     string // final paths
	TmpData        string // where Run wrote them; Publish renames
	TmpHint        string
	Size           int64 // data file bytes, header included
	Puts           int64 // live records copied
	Tombstones     int64 // delete markers kept
	TombBytes      int64
	MinSeq, MaxSeq uint64
	// ExpiresAt is the latest expiry of the copied records: math.MaxInt64
	// if one never expires, 0 if there are none.
	ExpiresAt int64

	// For the i-th put copied (in offset order), to[i] is its offset in
	// the output and from[i] where it was copied from: file id << 32 |
	// offset, and fromSize[i] its size there (a record converted from an
	// older format version changes size).
	to       []uint32
	from     []uint64
	fromSize []uint32
}

// Expired is a record the keydir still pointed at that had expired: the
// merge did not copy it, and the engine removes it from the keydir once the
// merge is committed.
type Expired struct {
	Key   []byte
	Entry keydir.Entry
}

// Result describes a merge that Run completed (but that is not yet
// committed).
type Result struct {
	Outputs    []*Output
	Expired    []Expired
	InputBytes int64 // sizes of the inputs
	// PointedBytes is, per input file id, the bytes of the records the
	// keydir pointed at when the scan reached them (copied, or expired).
	// If the keydir points at more of a file than that, some entries name
	// no record there (say, from a hint file that lied), and removing the
	// file would lose the records they should have named.
	PointedBytes      map[uint32]int64
	OutputBytes       int64 // sizes of the outputs (data and hint files)
	Copied            int64 // live records copied
	Dropped           int64 // dead records and delete markers not copied
	KeptTombstones    int64 // delete markers copied because an older version may survive
	ExpiredTombstones int64 // of those, expired records turned into delete markers
}

// Merger rewrites the live records of some data files into new data files
// with hint files. Its fields configure one run.
type Merger struct {
	FS          vfs.FS
	Keydir      *keydir.Keydir
	Dir         string // last_state/
	MaxFileSize int64
	// NewID hands out ids for output files; they must be new for the
	// directory (never used by any file before).
	NewID func() (uint32, error)
	// Now is the time (unix ns) against which expiry is judged.
	Now int64
	// MinSurvivingSeq is the smallest sequence number of any record in a
	// file that is not an input (math.MaxUint64 if there is none). A delete
	// marker with a higher sequence number may hide an older version of its
	// key in such a file, so it is kept; one at or below it is dropped.
	MinSurvivingSeq uint64
	// Stop, when closed, makes Run give up early with ErrStopped.
	Stop <-chan struct{}
}

// flushEvery bounds the data buffered in memory per output.
const flushEvery = 1 << 20

// syncEvery makes an output's data durable as it goes, a few MiB at a time,
// rather than in one fsync of up to a whole file at the end: a burst of
// hundreds of MiB of writeback would stall the log's own fsyncs (and so
// synced writers) for as long as it takes.
const syncEvery = 8 << 20

// Run copies the records of inputs that must survive into new files under
// temporary names in m.Dir, each synced. The caller must make sure every
// record the keydir points at is durable before committing the result
// (dropping a record relies on the newer one surviving). On error nothing
// is left behind.
//
// A record survives if it is a live put the keydir points at (copied as
// it is), or a delete marker (or an expired put, rewritten as a delete
// marker) whose key has no newer record in the keydir and whose sequence
// number is above MinSurvivingSeq.
func (m *Merger) Run(inputs []Input) (res *Result, err error) {
	res = &Result{PointedBytes: map[uint32]int64{}}
	st := &mergeState{m: m, res: res}
	defer func() {
		if err != nil {
			st.abort()
			res = nil
		}
	}()
	for _, in := range inputs {
		if err := st.mergeFile(in); err != nil {
			return nil, err
		}
	}
	if err := st.finishOutput(); err != nil {
		return nil, err
	}
	return res, nil
}

// stopCheckBytes is how many input bytes Run copies between checks of
// Merger.Stop at most.
const stopCheckBytes = 1 << 20

func (st *mergeState) stopped() bool {
	select {
	case <-st.m.Stop:
		return true
	default:
		return false
	}
}

type mergeState struct {
	m   *Merger
	res *Result
	w   *datafile.Writer
	hw  *hintfile.Writer
	out *Output
	buf []byte
	// conv holds a record converted from an older format version.
	conv []byte
	n    int
	// scanned counts input bytes since the last look at Stop.
	scanned int64
	// synced is the size of the current output at its last sync.
	synced int64
}

func (st *mergeState) mergeFile(in Input) error {
	m := st.m
	f, err := m.FS.Open(in.Path)
	if err != nil {
		return fmt.Errorf("compaction: open %s: %w", in.Path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("compaction: stat %s: %w", in.Path, err)
	}
	st.res.InputBytes += fi.Size()
	s := datafile.NewScanner(f, in.Path, fi.Size())
	for s.Next() {
		if s.FileID() != in.ID {
			return fmt.Errorf("compaction: %w", &datafile.CorruptError{Path: in.Path,
				Reason: fmt.Sprintf("header names file id %d, want %d", s.FileID(), in.ID)})
		}
		// Check for Close every few thousand records or MiB, whichever
		// comes first, so that a merge of large values stops promptly too.
		st.n++
		st.scanned += int64(len(s.Raw()))
		if st.n%4096 == 0 || st.scanned >= stopCheckBytes {
			st.scanned = 0
			if st.stopped() {
				return ErrStopped
			}
		}
		if err := st.record(in, s); err != nil {
			return err
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("compaction: %w", err)
	}
	if s.Torn() {
		return fmt.Errorf("compaction: %w", &datafile.CorruptError{Path: in.Path, Offset: s.End(),
			Reason: "incomplete record in a sealed file"})
	}
	return nil
}

// record decides the fate of the scanner's current record.
func (st *mergeState) record(in Input, s *datafile.Scanner) error {
	m := st.m
	h, key, off := s.Header(), s.Key(), s.Offset()
	tomb := h.Flags&datafile.FlagTombstone != 0
	expired := !tomb && h.Expiry != 0 && h.Expiry <= m.Now
	e, ok := m.Keydir.Get(key)
	pointed := ok && e.FileID == in.ID && int64(e.Offset) == off
	if pointed && (e.Seq != h.Seq || int64(e.Size) != h.Size() || e.Expiry != h.Expiry) {
		// The keydir (loaded from a hint file) disagrees with the record
		// it points at. The data file is the truth, but moving on would
		// change what readers see, so stop: Repair rewrites the hint.
		return fmt.Errorf("compaction: %w", &datafile.CorruptError{Path: in.Path, Offset: off,
			Reason: fmt.Sprintf("the keydir expects seq %d, size %d, expiry %d here (from a hint file?); the record has seq %d, size %d, expiry %d",
				e.Seq, e.Size, e.Expiry, h.Seq, h.Size(), h.Expiry)})
	}
	if pointed {
		st.res.PointedBytes[in.ID] += h.Size()
	}
	switch {
	case pointed && !tomb && !expired:
		st.res.Copied++
		raw, err := st.current(in, s)
		if err != nil {
			return err
		}
		return st.add(raw, key, h, false, uint64(in.ID)<<32|uint64(off))
	case tomb || expired:
		if expired && pointed {
			st.res.Expired = append(st.res.Expired, Expired{Key: append([]byte(nil), key...), Entry: e})
		}
		// A newer record of the key is in the keydir (and durable once
		// the caller syncs): it wins over anything older anyway.
		newer := ok && e.Seq > h.Seq
		if newer || h.Seq <= m.MinSurvivingSeq {
			st.res.Dropped++
			return nil
		}
		st.res.KeptTombstones++
		raw, err := st.current(in, s)
		if err != nil {
			return err
		}
		if expired {
			st.res.ExpiredTombstones++
			st.buf, err = datafile.AppendEncoded(st.buf[:0], h.Seq, 0, datafile.FlagTombstone, key, nil)
			if err != nil {
				return fmt.Errorf("compaction: %w", err)
			}
			raw = st.buf
			h.Flags, h.Expiry, h.ValLen = datafile.FlagTombstone, 0, 0
		}
		return st.add(raw, key, h, true, 0)
	default:
		st.res.Dropped++
		return nil
	}
}

// current returns the scanner's record in the current format version and
// outside any batch: as it is, or re-encoded (same sequence number, expiry,
// flags, key and stored value) when its file is of an older version, so
// that a merge converts version-1 files, or when it is a batch's member:
// a merged file holds no batch header, so its records lose the batch flag
// (the batch's all-or-nothing matters only where a crash can cut it short,
// at the end of the log).
func (st *mergeState) current(in Input, s *datafile.Scanner) ([]byte, error) {
	h := s.Header()
	if s.Version() == datafile.Version && h.Flags&datafile.FlagBatch == 0 {
		return s.Raw(), nil
	}
	var err error
	st.conv, err = datafile.AppendEncoded(st.conv[:0], h.Seq, h.Expiry, h.Flags&^datafile.FlagBatch, s.Key(), s.Stored())
	if err != nil {
		return nil, fmt.Errorf("compaction: convert a record of %s: %w", in.Path, err)
	}
	return st.conv, nil
}

// add appends one record to the current output, starting a new one when
// it is full.
func (st *mergeState) add(raw, key []byte, h datafile.Header, tomb bool, from uint64) error {
	if st.w != nil && st.w.Size()+int64(len(raw)) > st.m.MaxFileSize && st.w.Size() > datafile.FileHeaderSize {
		if err := st.finishOutput(); err != nil {
			return err
		}
	}
	if st.w == nil {
		if err := st.startOutput(); err != nil {
			return err
		}
	}
	out := st.out
	off, err := st.w.Append(raw)
	if err != nil {
		return err
	}
	if st.w.Buffered() >= flushEvery {
		if st.w.Size()-st.synced >= syncEvery {
			err = st.w.Sync()
			st.synced = st.w.Size()
		} else {
			err = st.w.Flush()
		}
		if err != nil {
			return err
		}
	}
	if off+int64(len(raw)) > math.MaxUint32 {
		return fmt.Errorf("compaction: output %s would pass 4 GiB", out.TmpData)
	}
	err = st.hw.Add(hintfile.Entry{Key: key, Offset: uint32(off), Size: uint32(len(raw)),
		Seq: h.Seq, Expiry: h.Expiry, Tombstone: tomb})
	if err != nil {
		return err
	}
	if out.MinSeq == 0 || h.Seq < out.MinSeq {
		out.MinSeq = h.Seq
	}
	out.MaxSeq = max(out.MaxSeq, h.Seq)
	if tomb {
		out.Tombstones++
		out.TombBytes += int64(len(raw))
		return nil
	}
	out.Puts++
	out.to = append(out.to, uint32(off))
	out.from = append(out.from, from)
	out.fromSize = append(out.fromSize, uint32(h.Size()))
	exp := h.Expiry
	if exp == 0 {
		exp = math.MaxInt64
	}
	out.ExpiresAt = max(out.ExpiresAt, exp)
	return nil
}

func (st *mergeState) startOutput() error {
	id, err := st.m.NewID()
	if err != nil {
		return err
	}
	out := &Output{
		ID:   id,
		Data: filepath.Join(st.m.Dir, fmt.Sprintf("%012d.data", id)),
		Hint: filepath.Join(st.m.Dir, fmt.Sprintf("%012d.hint", id)),
	}
	out.TmpData, out.TmpHint = out.Data+TmpSuffix, out.Hint+TmpSuffix
	st.res.Outputs = append(st.res.Outputs, out)
	st.out = out
	st.synced = 0
	if st.w, err = datafile.Create(st.m.FS, out.TmpData, id); err != nil {
		return err
	}
	if st.hw, err = hintfile.Create(st.m.FS, out.TmpHint, id); err != nil {
		return err
	}
	return nil
}

// finishOutput makes the current output and its hint durable.
func (st *mergeState) finishOutput() error {
	if st.w == nil {
		return nil
	}
	if st.stopped() {
		return ErrStopped // abort closes and removes the writers' files
	}
	w, hw, out := st.w, st.hw, st.out
	st.w, st.hw = nil, nil
	err := w.Sync()
	out.Size = w.Size()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = hw.Finish(out.Size)
	}
	if cerr := hw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	st.res.OutputBytes += out.Size
	if fi, err := st.m.FS.Stat(out.TmpHint); err == nil {
		st.res.OutputBytes += fi.Size()
	}
	return nil
}

// abort closes and removes everything Run wrote.
func (st *mergeState) abort() {
	if st.w != nil {
		_ = st.w.Close()
	}
	if st.hw != nil {
		_ = st.hw.Close()
	}
	for _, out := range st.res.Outputs {
		_ = st.m.FS.Remove(out.TmpData)
		_ = st.m.FS.Remove(out.TmpHint)
	}
}

// Discard removes the temporary files of a result that will not be
// committed.
func (r *Result) Discard(fsys vfs.FS) {
	for _, out := range r.Outputs {
		_ = fsys.Remove(out.TmpData)
		_ = fsys.Remove(out.TmpHint)
	}
}

// Publish gives a committed result's outputs their final names and syncs
// dir. It is idempotent, so recovery can finish a publish a crash cut short.
func Publish(fsys vfs.FS, dir string, ids []uint32) error {
	for _, id := range ids {
		for _, ext := range []string{".data", ".hint"} {
			final := filepath.Join(dir, fmt.Sprintf("%012d%s", id, ext))
			err := fsys.Rename(final+TmpSuffix, final)
			if err == nil || !errors.Is(err, fs.ErrNotExist) {
				if err != nil {
					return fmt.Errorf("compaction: publish %s: %w", final, err)
				}
				continue
			}
			// Already renamed by an earlier attempt?
			if _, serr := fsys.Stat(final); serr != nil {
				return fmt.Errorf("compaction: publish %s: neither it nor its temporary file exists: %w", final, err)
			}
		}
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("compaction: sync %s: %w", dir, err)
	}
	return nil
}

// OutputIDs lists the ids of r's outputs.
func (r *Result) OutputIDs() []uint32 {
	ids := make([]uint32, len(r.Outputs))
	for i, out := range r.Outputs {
		ids[i] = out.ID
	}
	return ids
}

// Install points the keydir at the copies in out, whose hint file hf has
// been published: each key moves only if the keydir still points at the
// record that was copied (compare-and-swap), so a write that raced the
// merge always wins. It returns how many records moved and the bytes of
// those that did not (dead on arrival), and calls movedFrom (if not nil)
// for each record moved, with the file it moved out of. It fails if hf does not list
// exactly the puts the merge wrote: the inputs must then stay.
func Install(kd *keydir.Keydir, out *Output, hf *hintfile.File, movedFrom func(fileID uint32, size int64)) (moved int64, lostBytes int64, err error) {
	matched := 0
	for b := 0; b < hf.PutBlocks(); b++ {
		hf.EachPut(b, func(e hintfile.Entry) {
			i, ok := slices.BinarySearch(out.to, e.Offset)
			if !ok {
				return
			}
			matched++
			from := out.from[i]
			old := keydir.Entry{FileID: uint32(from >> 32), Offset: uint32(from), Size: out.fromSize[i], Seq: e.Seq, Expiry: e.Expiry}
			nu := keydir.Entry{FileID: out.ID, Offset: e.Offset, Size: e.Size, Seq: e.Seq, Expiry: e.Expiry}
			if kd.CompareAndSwap(e.Key, old, nu) {
				moved++
				if movedFrom != nil {
					movedFrom(old.FileID, int64(old.Size))
				}
			} else {
				lostBytes += int64(e.Size)
			}
		})
	}
	if n := int(hf.Footer().Entries - hf.Footer().Tombstones); matched != len(out.to) || n != len(out.to) {
		return moved, lostBytes, fmt.Errorf("compaction: hint %s lists %d puts (%d of them copied by this merge), the merge wrote %d",
			out.Hint, n, matched, len(out.to))
	}
	return moved, lostBytes, nil
}
