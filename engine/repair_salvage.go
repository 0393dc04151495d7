package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/hintfile"
)

// repairSeqs summarises the records of a data file, to check a hint file
// against.
type repairSeqs struct {
	records, tombs int64
	minSeq, maxSeq uint64
}

// scan reads data file path with Open's checks and says what is wrong with
// it (and, in last_state/, with its hint file).
func (r *repairer) scan(path string, id uint32, wal, newest bool) (repairData, error) {
	d := repairData{path: path, id: id, wal: wal}
	f, err := r.fs.Open(path)
	if err != nil {
		return d, fmt.Errorf("simplekv: repair: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return d, fmt.Errorf("simplekv: repair: stat %s: %w", path, err)
	}
	d.size = fi.Size()
	r.rep.FilesScanned++
	s := datafile.NewScanner(f, path, d.size)
	var sum repairSeqs
	var headerID uint32
	for s.Next() {
		if sum.records == 0 {
			headerID = s.FileID()
		}
		sum.records++
		h := s.Header()
		if h.Flags&datafile.FlagTombstone != 0 {
			sum.tombs++
		}
		if sum.minSeq == 0 || h.Seq < sum.minSeq {
			sum.minSeq = h.Seq
		}
		sum.maxSeq = max(sum.maxSeq, h.Seq)
	}
	var ce *datafile.CorruptError
	switch err := s.Err(); {
	case errors.As(err, &ce):
		d.problem = fmt.Sprintf("corrupt at offset %d: %s", ce.Offset, ce.Reason)
	case err != nil:
		// An unknown version or a read error: nothing Repair can fix.
		return d, fmt.Errorf("simplekv: repair: %w", err)
	case s.Torn() && wal && newest && s.Padding():
		r.rep.Notes = append(r.rep.Notes, fmt.Sprintf(
			"%s: zero padding after offset %d (%d bytes), written ahead of the records for synced writes: left for Open, which cuts it",
			path, s.End(), d.size-s.End()))
	case s.Torn() && wal && newest:
		r.rep.Notes = append(r.rep.Notes, fmt.Sprintf(
			"%s: torn tail of the newest log file at offset %d (%d bytes), the remains of an interrupted append: left for Open, which truncates it",
			path, s.End(), d.size-s.End()))
	case s.Torn():
		where := "a merged file"
		if wal {
			where = "a log file that is not the newest"
		}
		d.problem = fmt.Sprintf("incomplete record in %s at offset %d (%d bytes to the end of the file)", where, s.End(), d.size-s.End())
	case sum.records > 0 && headerID != id:
		d.problem = fmt.Sprintf("file header names id %d", headerID)
	}
	// A torn tail of the newest log file is left for Open, and so is its
	// hint if it has one: the hint's data size cannot match a file that
	// grew a tail after it was sealed, so Open drops the hint itself and
	// replays the file.
	if d.problem == "" && !(wal && s.Torn()) {
		d.hint = r.checkHint(d, sum)
	}
	return d, nil
}

// hintOf is the hint file of data file d: in last_state/ or in wal/.
func (r *repairer) hintOf(d repairData) string {
	if d.wal {
		return walHintPath(r.dir, d.id)
	}
	return hintPath(r.dir, d.id)
}

// checkHint returns why the hint file of clean data file d needs to be
// rewritten, or "": the checks of Open (intact, same id, same data size)
// plus the footer's counts and sequence range against the data file's. A
// log file without a hint is not a problem (Open replays it and writes
// its hint); a merged file without one is.
func (r *repairer) checkHint(d repairData, sum repairSeqs) string {
	id, size, path := d.id, d.size, r.hintOf(d)
	if _, err := r.fs.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if d.wal {
			return ""
		}
		if _, err := r.fs.Stat(path + compaction.TmpSuffix); err == nil && r.mergePending {
			return "" // the pending merge publishes it at the next Open
		}
		return "missing"
	}
	hf, err := hintfile.Open(r.fs, path)
	if err != nil {
		var ce *datafile.CorruptError
		if errors.As(err, &ce) {
			return fmt.Sprintf("corrupt at offset %d: %s", ce.Offset, ce.Reason)
		}
		return fmt.Sprintf("unusable: %v", err)
	}
	defer hf.Close()
	ft := hf.Footer()
	switch {
	case hf.ID() != id:
		return fmt.Sprintf("names data file %d", hf.ID())
	case ft.DataSize != size:
		return fmt.Sprintf("describes %d bytes, the data file has %d", ft.DataSize, size)
	case int64(ft.Entries) != sum.records || int64(ft.Tombstones) != sum.tombs ||
		ft.MinSeq != sum.minSeq || ft.MaxSeq != sum.maxSeq:
		return fmt.Sprintf("lists %d records (%d delete markers, sequences %d..%d), the data file holds %d (%d, %d..%d)",
			ft.Entries, ft.Tombstones, ft.MinSeq, ft.MaxSeq, sum.records, sum.tombs, sum.minSeq, sum.maxSeq)
	}
	return ""
}

// repairSpan is a salvaged record of a damaged file.
type repairSpan struct {
	off, size int64
	// batchHeader marks the header record of a whole batch, kept with
	// its members: it has no hint entry and is not a record of a key.
	batchHeader bool
}

// salvage rewrites (or removes) damaged data file d.
func (r *repairer) salvage(d repairData) error {
	b, err := r.readAll(d.path, d.size)
	if err != nil {
		return err
	}
	keep, dropped, version := repairSalvage(d.path, d.id, b)
	records := int64(0)
	for _, k := range keep {
		if !k.batchHeader {
			records++
		}
	}
	fr := FileRepair{Path: d.path, Problem: d.problem, Size: d.size, Records: records,
		Removed: len(keep) == 0, Dropped: dropped}
	if !fr.Removed {
		fr.NewSize = datafile.FileHeaderSize
		for _, k := range keep {
			fr.NewSize += k.size
		}
	}
	r.rep.Files = append(r.rep.Files, fr)
	r.rep.RecordsSalvaged += fr.Records
	for _, x := range dropped {
		r.rep.BytesDropped += x.Length
	}
	hint := r.hintOf(d)
	_, herr := r.fs.Stat(hint)
	hintExists := herr == nil
	switch {
	case fr.Removed && hintExists:
		r.rep.Hints = append(r.rep.Hints, HintRepair{Path: hint, Reason: "its data file is removed"})
	case !fr.Removed && (hintExists || !d.wal):
		// A log file gets a new hint only if it had one: the newest
		// log file may still be the one the next Open replays.
		r.rep.Hints = append(r.rep.Hints, HintRepair{Path: hint, Reason: "its data file is rewritten", Rewritten: true})
	}
	if r.dry {
		return nil
	}
	r.log.Warn("simplekv: repair: salvaging a damaged data file", "path", d.path, "problem", d.problem,
		"records", fr.Records, "dropped_ranges", len(dropped))
	dir := filepath.Dir(d.path)
	if hintExists {
		// Never leave a hint next to data it does not describe, even
		// for an instant.
		if err := r.fs.Remove(hint); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("simplekv: repair: remove %s: %w", hint, err)
		}
		if err := r.syncDir(dir); err != nil {
			return err
		}
	}
	if fr.Removed {
		if err := r.fs.Remove(d.path); err != nil {
			return fmt.Errorf("simplekv: repair: remove %s: %w", d.path, err)
		}
		return r.syncDir(dir)
	}
	tmp := d.path + repairTmpSuffix
	// The same format version: the records are copied byte for byte.
	w, err := datafile.CreateVersion(r.fs, tmp, d.id, version)
	if err != nil {
		return fmt.Errorf("simplekv: repair: %w", err)
	}
	offs := make([]int64, len(keep))
	for i, k := range keep {
		if offs[i], err = w.Append(b[k.off : k.off+k.size]); err == nil && w.Buffered() >= 1<<20 {
			err = w.Flush()
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("simplekv: repair: write %s: %w", tmp, err)
	}
	if err := r.fs.Rename(tmp, d.path); err != nil {
		return fmt.Errorf("simplekv: repair: rename %s: %w", tmp, err)
	}
	if err := r.syncDir(dir); err != nil {
		return err
	}
	if d.wal && !hintExists {
		return nil
	}
	return r.writeHint(hint, d.id, fr.NewSize, func(add func(hintfile.Entry) error) error {
		for i, k := range keep {
			if k.batchHeader {
				continue
			}
			if err := add(repairHintEntry(version, b[k.off:k.off+k.size], offs[i])); err != nil {
				return err
			}
		}
		return nil
	})
}

// rewriteHint replaces the hint file of clean data file d.
func (r *repairer) rewriteHint(d repairData) error {
	r.rep.Hints = append(r.rep.Hints, HintRepair{Path: r.hintOf(d), Reason: d.hint, Rewritten: true})
	if r.dry {
		return nil
	}
	r.log.Warn("simplekv: repair: rewriting a hint file", "path", r.hintOf(d), "reason", d.hint)
	f, err := r.fs.Open(d.path)
	if err != nil {
		return fmt.Errorf("simplekv: repair: open %s: %w", d.path, err)
	}
	defer f.Close()
	return r.writeHint(r.hintOf(d), d.id, d.size, func(add func(hintfile.Entry) error) error {
		s := datafile.NewScanner(f, d.path, d.size)
		for s.Next() {
			if err := add(repairHintEntry(s.Version(), s.Raw(), s.Offset())); err != nil {
				return err
			}
		}
		if err := s.Err(); err != nil || s.Torn() {
			return fmt.Errorf("%s changed during the repair: %v", d.path, err)
		}
		return nil
	})
}

// repairHintEntry is the hint entry of the encoded record raw (intact, of
// format version v) at off.
func repairHintEntry(v uint16, raw []byte, off int64) hintfile.Entry {
	h, _ := datafile.ParseHeader(v, raw)
	e := hintfile.Entry{
		Key:    raw[h.Len : h.Len+h.KeyLen],
		Offset: uint32(off), Size: uint32(len(raw)), Seq: h.Seq, Expiry: h.Expiry,
		Tombstone: h.Flags&datafile.FlagTombstone != 0,
	}
	if e.Tombstone {
		e.Expiry = 0
	}
	return e
}

// writeHint writes final, the hint file of data file id (dataSize bytes),
// from the entries fill adds: under a temporary name, synced, renamed into
// place, directory synced.
func (r *repairer) writeHint(final string, id uint32, dataSize int64, fill func(add func(hintfile.Entry) error) error) error {
	tmp := final + repairTmpSuffix
	hw, err := hintfile.Create(r.fs, tmp, id)
	if err != nil {
		return fmt.Errorf("simplekv: repair: %w", err)
	}
	err = fill(hw.Add)
	if err == nil {
		err = hw.Finish(dataSize)
	}
	if cerr := hw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = r.fs.Remove(tmp)
		return fmt.Errorf("simplekv: repair: write %s: %w", tmp, err)
	}
	if err := r.fs.Rename(tmp, final); err != nil {
		return fmt.Errorf("simplekv: repair: rename %s: %w", tmp, err)
	}
	return r.syncDir(filepath.Dir(final))
}

func (r *repairer) readAll(path string, size int64) ([]byte, error) {
	f, err := r.fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("simplekv: repair: open %s: %w", path, err)
	}
	defer f.Close()
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); n != len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("simplekv: repair: read %s: %w", path, err)
	}
	return b, nil
}

func (r *repairer) syncDir(dir string) error {
	if err := r.fs.SyncDir(dir); err != nil {
		return fmt.Errorf("simplekv: repair: sync %s: %w", dir, err)
	}
	return nil
}

// repairSalvage splits the data file b (id, at path) into the records
// that decode with both checksums holding and the byte ranges that do not.
// From a range that does not decode it moves forward one byte at a time to
// the next offset where a complete record decodes. It returns the format
// version of the records: the file header's, or, if the header is
// damaged, the version field it still holds if that is one this build
// reads (else the current one).
func repairSalvage(path string, id uint32, b []byte) (keep []repairSpan, dropped []DroppedRange, v uint16) {
	size := int64(len(b))
	v = datafile.Version
	if size < datafile.FileHeaderSize {
		if size > 0 {
			dropped = append(dropped, DroppedRange{0, size, "incomplete file header"})
		}
		return nil, dropped, v
	}
	if raw := binary.LittleEndian.Uint16(b[4:]); raw == datafile.VersionV1 {
		v = raw
	}
	if hid, hv, err := datafile.DecodeFileHeaderVersion(path, b[:datafile.FileHeaderSize]); err != nil {
		dropped = append(dropped, DroppedRange{0, datafile.FileHeaderSize, repairReason(err)})
	} else if v = hv; hid != id {
		dropped = append(dropped, DroppedRange{0, datafile.FileHeaderSize, fmt.Sprintf("file header names id %d", hid)})
	}
	off := int64(datafile.FileHeaderSize)
	for off < size {
		if isBatch, ends, end, reason := datafile.CheckBatchAt(v, b, off); isBatch {
			if reason == "" {
				keep = append(keep, repairSpan{off: off, size: ends[0] - off, batchHeader: true})
				for i := 1; i < len(ends); i++ {
					keep = append(keep, repairSpan{off: ends[i-1], size: ends[i] - ends[i-1]})
				}
				off = end
				continue
			}
			// A batch is kept whole or not at all: drop all of it, and
			// resynchronize after it (repairFindNext skips its members).
			next, ok := repairFindNext(v, path, b, max(end, off+1))
			if !ok {
				next = size
			}
			dropped = append(dropped, DroppedRange{off, next - off, "a batch, dropped whole: " + reason})
			off = next
			continue
		}
		n, reason := repairRecordAt(v, path, b, off)
		if reason == "" {
			keep = append(keep, repairSpan{off: off, size: n})
			off += n
			continue
		}
		next, ok := repairFindNext(v, path, b, off+1)
		if !ok {
			next = size
		}
		if repairAllZero(b[off:next]) {
			reason += " (the range is all zero bytes)"
		}
		dropped = append(dropped, DroppedRange{off, next - off, reason})
		off = next
	}
	return keep, dropped, v
}

// repairRecordAt returns the size of the record (format version v) at off
// in b if it decodes completely with both checksums holding, else why not.
func repairRecordAt(v uint16, path string, b []byte, off int64) (int64, string) {
	avail := int64(len(b)) - off
	hb := b[off : off+min(avail, datafile.MaxRecordHeaderSize)]
	h, ok := datafile.ParseHeader(v, hb)
	if !ok {
		minLen := int64(datafile.MinRecordHeaderSize)
		if v == datafile.VersionV1 {
			minLen = datafile.RecordHeaderSize
		}
		if avail < minLen {
			return 0, fmt.Sprintf("incomplete record header (%d bytes to the end of the file)", avail)
		}
		_, err := datafile.DecodeRecordVersion(v, path, off, hb)
		return 0, repairReason(err)
	}
	n := h.Size()
	if _, err := datafile.DecodeRecordVersion(v, path, off, b[off:off+min(n, avail)]); err != nil {
		return 0, repairReason(err)
	}
	if h.Flags&datafile.FlagBatch != 0 {
		return 0, "a batch record outside a whole batch (its batch header is missing or damaged)"
	}
	return n, ""
}

// repairFindNext returns the first offset at or after from where a whole
// record decodes. Cheap tests on the header fields skip most offsets
// before any checksum is computed (a zeroed page fails at once: key length
// 0).
func repairFindNext(v uint16, path string, b []byte, from int64) (int64, bool) {
	size := int64(len(b))
	flagsAt, known := 6, byte(datafile.FlagTombstone|datafile.FlagCompressed|datafile.FlagExpiry|datafile.FlagBatch)
	if v == datafile.VersionV1 {
		flagsAt, known = 8, datafile.FlagTombstone|datafile.FlagCompressed
	}
	for p := from; p+datafile.MinRecordHeaderSize <= size; p++ {
		if p+int64(flagsAt) >= size || b[p+int64(flagsAt)]&^known != 0 {
			continue
		}
		h, ok := datafile.ParseHeader(v, b[p:min(size, p+datafile.MaxRecordHeaderSize)])
		if ok && datafile.IsBatchHeader(h) {
			if isBatch, _, _, _ := datafile.CheckBatchAt(v, b, p); isBatch {
				return p, true // whole or not, the caller decides
			}
			continue
		}
		// A batch member is kept only with its batch: skip it here.
		if !ok || h.KeyLen == 0 || h.KeyLen > datafile.MaxKeyLen || h.Flags&datafile.FlagBatch != 0 {
			continue
		}
		n := h.Size()
		if n > size-p {
			continue
		}
		if _, err := datafile.DecodeRecordVersion(v, path, p, b[p:p+n]); err == nil {
			return p, true
		}
	}
	return 0, false
}

// repairRefs formats journal file references as wal/<id> and
// last_state/<id>.
func repairRefs(refs []compaction.FileRef) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		d := lastStateDir
		if r.WAL {
			d = walDir
		}
		s[i] = fmt.Sprintf("%s/%d", d, r.ID)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func repairReason(err error) string {
	var ce *datafile.CorruptError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return err.Error()
}

func repairAllZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
