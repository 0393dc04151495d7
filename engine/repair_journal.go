package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/datafile"
)

// planJournal reads the merge journal and decides what to do if Open could
// not use it (nil: absent, or fine for Open to finish).
func (r *repairer) planJournal(ls string, lsNames []string) (*JournalRepair, error) {
	path := filepath.Join(ls, compaction.JournalName)
	j, found, err := compaction.ReadJournal(r.fs, ls)
	var ce *datafile.CorruptError
	switch {
	case err == nil && !found:
		return nil, nil
	case err != nil && !errors.As(err, &ce):
		// An unknown version or a read error: not damage Repair can
		// judge.
		return nil, fmt.Errorf("simplekv: repair: %w", err)
	}
	exists := func(p string) bool { _, err := r.fs.Stat(p); return err == nil }
	outputExists := func(id uint32) bool {
		return exists(lastStatePath(r.dir, id)) || exists(lastStatePath(r.dir, id)+compaction.TmpSuffix)
	}
	jr := &JournalRepair{Path: path}
	if err == nil {
		// Intact: Open finishes the merge, unless an output is gone
		// (Publish then fails, at every Open).
		var missing []uint32
		for _, id := range j.Outputs {
			p := lastStatePath(r.dir, id)
			h := hintPath(r.dir, id)
			if !(exists(p) || exists(p+compaction.TmpSuffix)) || !(exists(h) || exists(h+compaction.TmpSuffix)) {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			r.mergePending = true
			r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("%s: a committed merge is unfinished; Open finishes it", path))
			return nil, nil
		}
		jr.Problem = fmt.Sprintf("journal names outputs %v that exist neither published nor as temporaries, so Open cannot finish the merge", missing)
		jr.Readable, jr.Inputs, jr.Outputs = true, j.Inputs, j.Outputs
	} else {
		jr.Problem = fmt.Sprintf("corrupt at offset %d: %s", ce.Offset, ce.Reason)
		if lj, ok := r.readJournalLeniently(path); ok {
			jr.Readable, jr.Inputs, jr.Outputs = true, lj.Inputs, lj.Outputs
			if len(lj.Outputs) > 0 && !slices.ContainsFunc(lj.Outputs, outputExists) {
				// A committed merge's outputs exist until its journal
				// is gone: a list naming none of them is itself damaged.
				jr.Readable = false
				jr.Problem += "; the outputs it lists do not exist, so its lists are damaged too"
			}
		}
	}
	for _, name := range lsNames {
		if (strings.HasSuffix(name, dataExt+compaction.TmpSuffix) || strings.HasSuffix(name, hintExt+compaction.TmpSuffix)) &&
			!strings.HasSuffix(name, repairTmpSuffix) {
			jr.Removed = append(jr.Removed, filepath.Join(ls, name))
		}
	}
	var present, gone []compaction.FileRef
	for _, in := range jr.Inputs {
		p := lastStatePath(r.dir, in.ID)
		if in.WAL {
			p = walPath(r.dir, in.ID)
		}
		if exists(p) {
			present = append(present, in)
		} else {
			gone = append(gone, in)
		}
	}
	switch {
	case len(jr.Removed) > 0:
		jr.Action = "removed the journal and the merge's unpublished outputs, rolling the merge back: " +
			"a merge removes no input before all its outputs are published, so every input is intact, " +
			"and the outputs already published only duplicate their records (same sequence numbers)"
	case !jr.Readable:
		jr.Action = "removed the journal; the merge had published its outputs, and which files were its inputs is unknown"
		jr.Risk = "if the merge had removed some but not all of its inputs, a key whose delete marker it dropped may show an older value again"
	case len(present) == 0:
		jr.Action = "removed the journal; every input it names is already removed: the merge was done but for removing its journal"
	case len(gone) == 0:
		jr.Action = "removed the journal; no input it names had been removed yet, and its outputs only duplicate their records " +
			"(the next merge reclaims the space)"
	default:
		jr.Action = fmt.Sprintf("removed the journal and left inputs %s in place (inputs %s were already removed); "+
			"Repair deletes no data file on the word of a journal it cannot verify", repairRefs(present), repairRefs(gone))
		jr.Risk = fmt.Sprintf("if %s are inputs of the merge, a key whose delete marker it dropped may show an older value "+
			"again; with the DB closed, removing those files by hand (and their hint files) finishes the merge", repairRefs(present))
	}
	return jr, nil
}

// readJournalLeniently parses a journal whose checksum fails, as if it
// held: the lists it yields are unverified and serve only the report.
func (r *repairer) readJournalLeniently(path string) (compaction.Journal, bool) {
	fi, err := r.fs.Stat(path)
	if err != nil || fi.Size() < 16 || fi.Size() > 64<<20 {
		return compaction.Journal{}, false
	}
	b, err := r.readAll(path, fi.Size())
	if err != nil {
		return compaction.Journal{}, false
	}
	binary.LittleEndian.PutUint32(b[len(b)-4:], uint32(xxhash.Sum64(b[:len(b)-4])))
	j, err := compaction.DecodeJournal(path, b)
	return j, err == nil
}

// fixJournal carries out the plan of planJournal.
func (r *repairer) fixJournal(ls string) error {
	jr := r.rep.Journal
	if jr == nil || r.dry {
		return nil
	}
	r.log.Warn("simplekv: repair: removing a merge journal Open cannot use", "path", jr.Path,
		"problem", jr.Problem, "action", jr.Action, "risk", jr.Risk)
	// The journal goes first: while it exists, its temporaries are what
	// shows that no input was removed.
	if err := compaction.RemoveJournal(r.fs, ls); err != nil {
		return fmt.Errorf("simplekv: repair: %w", err)
	}
	for _, p := range jr.Removed {
		if err := r.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("simplekv: repair: remove %s: %w", p, err)
		}
	}
	if len(jr.Removed) > 0 {
		return r.syncDir(ls)
	}
	return nil
}
