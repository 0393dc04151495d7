package engine

import (
	"fmt"
	"strings"

	"github.com/simplekv/simplekv/compaction"
)

// RepairReport says what Repair found and did (or, from Check, what it
// would do). Paths are full paths (dir joined with wal/ or last_state/).
type RepairReport struct {
	Dir string
	// DryRun is set in a report of Check: nothing was changed.
	DryRun bool
	// FilesScanned counts the data files read, damaged or not.
	FilesScanned int
	// Files lists every damaged data file, in the order repaired (wal/ in
	// id order, then last_state/).
	Files []FileRepair
	// Hints lists every hint file rewritten or removed.
	Hints []HintRepair
	// Journal is set when the merge journal (last_state/COMPACTION) was
	// damaged or could not be finished, and says what Repair did with it.
	Journal *JournalRepair
	// Leftovers lists temporary files of an earlier Repair that a crash
	// interrupted; they are removed (they are never needed: until its
	// rename, the file they were to replace is intact).
	Leftovers []string
	// Notes lists findings that are not damage, such as a torn tail of
	// the newest log file, which Open truncates as after any crash.
	Notes []string

	// Totals over Files.
	RecordsSalvaged int64 // records copied into the rewritten files
	BytesDropped    int64 // bytes of the damaged files left behind
}

// FileRepair describes one damaged data file.
type FileRepair struct {
	Path string
	// Problem is the damage the scan stopped at (the error Open reports).
	Problem string
	// Size is the file's size before the repair.
	Size int64
	// Records is the number of records salvaged: every record whose
	// header sum and checksum hold, copied byte for byte (same sequence
	// number, expiry and checksum) into the rewritten file.
	Records int64
	// NewSize is the size of the rewritten file (0 if it was removed).
	NewSize int64
	// Removed is set when no record could be salvaged: the file (and its
	// hint file) was removed instead of rewritten.
	Removed bool
	// Dropped lists the byte ranges of the original file that were not
	// copied, in offset order. Their union with the salvaged records is
	// the whole file.
	Dropped []DroppedRange
}

// DroppedRange is a byte range of a damaged file that Repair left behind.
type DroppedRange struct {
	Offset, Length int64
	// Reason is why the first bytes of the range did not decode as a
	// record (or as the file header).
	Reason string
}

// HintRepair describes a hint file that Repair rewrote or removed. A hint
// file is only an accelerator (Open scans the data file without it), so
// no key is ever lost with one.
type HintRepair struct {
	Path   string
	Reason string
	// Rewritten is set when a new hint file was written from the data
	// file; otherwise the hint was only removed (its data file was
	// removed too).
	Rewritten bool
}

// JournalRepair describes what Repair did with a merge journal that Open
// could not use.
type JournalRepair struct {
	Path    string
	Problem string
	// Readable is set when the journal's lists could be parsed; for a
	// damaged journal they are as read, unverified, and are only used
	// for this report, never to delete a file.
	Readable bool
	Inputs   []compaction.FileRef
	Outputs  []uint32
	// Action is what Repair did (the journal is always removed, or Open
	// could never succeed), Removed the merge temporaries it deleted.
	Action  string
	Removed []string
	// Risk is non-empty when keys may have come back: see Repair.
	Risk string
}

// Damaged reports whether the directory had damage that Repair fixes (or,
// from Check, would fix).
func (r RepairReport) Damaged() bool {
	return len(r.Files) > 0 || len(r.Hints) > 0 || r.Journal != nil
}

// String is a readable multi-line summary.
func (r RepairReport) String() string {
	var b strings.Builder
	verb := "repair"
	if r.DryRun {
		verb = "check (nothing changed)"
	}
	if !r.Damaged() {
		fmt.Fprintf(&b, "simplekv %s of %s: no damage found (%d data files scanned)\n", verb, r.Dir, r.FilesScanned)
	} else {
		journal := "ok"
		if r.Journal != nil {
			journal = "unusable"
		}
		fmt.Fprintf(&b, "simplekv %s of %s: damaged data files: %d of %d; hint files: %d; merge journal: %s; records salvaged: %d; bytes dropped: %d\n",
			verb, r.Dir, len(r.Files), r.FilesScanned, len(r.Hints), journal, r.RecordsSalvaged, r.BytesDropped)
	}
	would := func(done, planned string) string {
		if r.DryRun {
			return planned
		}
		return done
	}
	for _, p := range r.Leftovers {
		fmt.Fprintf(&b, "  %s: leftover of an interrupted repair, %s\n", p, would("removed", "to remove"))
	}
	if j := r.Journal; j != nil {
		fmt.Fprintf(&b, "  %s: %s\n", j.Path, j.Problem)
		if j.Readable {
			fmt.Fprintf(&b, "    lists inputs %s; outputs %v\n", repairRefs(j.Inputs), j.Outputs)
		}
		fmt.Fprintf(&b, "    %s%s\n", would("", "would have: "), j.Action)
		for _, p := range j.Removed {
			fmt.Fprintf(&b, "    %s %s\n", would("removed", "to remove"), p)
		}
		if j.Risk != "" {
			fmt.Fprintf(&b, "    WARNING: %s\n", j.Risk)
		}
	}
	for _, f := range r.Files {
		fmt.Fprintf(&b, "  %s: %s\n", f.Path, f.Problem)
		if f.Removed {
			fmt.Fprintf(&b, "    %d bytes, no record salvageable: file %s\n", f.Size, would("removed", "to remove"))
		} else {
			fmt.Fprintf(&b, "    %d bytes, %d records salvaged, %s (%d bytes)\n", f.Size, f.Records, would("rewritten", "to rewrite"), f.NewSize)
		}
		for _, d := range f.Dropped {
			fmt.Fprintf(&b, "    dropped %d bytes at offset %d: %s\n", d.Length, d.Offset, d.Reason)
		}
	}
	for _, h := range r.Hints {
		act := would("removed", "to remove")
		if h.Rewritten {
			act = would("rewritten from its data file", "to rewrite from its data file")
		}
		fmt.Fprintf(&b, "  %s: %s\n    hint file %s\n", h.Path, h.Reason, act)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}

// repairTmpSuffix names the files Repair writes before renaming them over
// the ones they replace. It ends in compaction.TmpSuffix, so Open deletes a
// leftover in last_state/ like any merge temporary (in wal/ Open ignores
// it; the next Repair removes it). It never matches the <id>.data.tmp and
// <id>.hint.tmp names a merge publishes.
const repairTmpSuffix = ".repair" + compaction.TmpSuffix
