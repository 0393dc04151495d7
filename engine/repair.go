package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/simplekv/simplekv/internal/vfs"
)

// Repair opens the database directory dir offline and salvages what it can
// of damage that makes Open fail (or that Open does not look at), then
// reports what it dropped. After it returns nil, Open succeeds on dir.
//
// Repair takes the directory lock, so it fails with ErrLocked while a DB
// has the directory open; it never runs under a live DB. Of opts only FS
// and Logger are used.
//
// It first reads everything: every data file of wal/ and last_state/ is
// scanned with the same checks as Open (datafile.Scanner), every hint file
// is checked against its data file, and the merge journal is read. A file
// of an unknown format version, or a read error, stops Repair before it
// changes anything. Then, for each problem found:
//
//   - A data file that scans clean is not touched. A damaged one (a record
//     failing its checksums, an intact header with impossible fields, a
//     damaged file header or one naming another id, or a torn tail in any
//     file but the newest log file) is salvaged: every record that decodes
//     with its header sum and its checksum holding is copied byte for byte,
//     in order, into a new file of the same id. From a damaged record the
//     salvage moves forward one byte at a time to the next offset where a
//     complete record decodes, and copies on from there; the bytes skipped
//     are reported as a DroppedRange. A file in which nothing decodes is
//     removed.
//   - A torn tail in the newest log file is the ordinary remains of a
//     crash: it is left for Open, which truncates it (see Open). Repair
//     does not salvage records after it, so that what survives of the
//     newest writes stays a prefix of the write order.
//   - The hint file of a rewritten data file is replaced by one written
//     from the new data file, and so is a hint file that is damaged or
//     does not match its data file, or a missing one in last_state/ (Open
//     would only scan the data file instead). A log file without a hint is
//     left so: Open replays it and then writes its hint. No key depends on
//     a hint.
//   - A merge journal (last_state/COMPACTION) that fails its checksum, or
//     that names outputs that no longer exist (so Open cannot finish the
//     merge), is removed. A committed merge publishes all its outputs
//     before it removes any input, so if any merge temporary is still in
//     last_state/, every input is intact: Repair removes the temporaries
//     too, which rolls the merge back (the outputs already published only
//     duplicate records of the inputs, with the same sequence numbers).
//     Otherwise the merge was removing its inputs, and only the journal
//     knew which files those were. Repair never deletes a data file on the
//     word of a damaged journal (a flipped bit could name a live file), so
//     any input still there stays; if some inputs were already gone, a key
//     whose delete marker the merge dropped may show an older value again.
//     The report (JournalRepair.Risk) says when that can be the case and
//     which files the journal appears to name.
//
// What the dropped bytes cost: every record in a dropped range is lost. A
// lost put loses that write: its key reads the previous value it had in
// the surviving files (or is absent). A lost delete marker can bring back
// an older value of its key. Repair cannot tell which keys those were: it
// reports byte ranges, not keys (a damaged record's key cannot be
// trusted). A salvaged record can be a false positive only if both of its
// checksums hold by chance, or if a stored value itself contains a
// well-formed record and the record holding that value was damaged.
//
// Crash safety: each file is replaced by writing the new file under a
// temporary name, syncing it, renaming it over the old one and syncing the
// directory. A crash leaves either the damaged file (perhaps with a
// temporary, which the next Repair removes, and in last_state/ without its
// hint file, which only costs Open a scan) or the repaired one, never a
// mix, so Repair can simply be run again. The replacement keeps the file's
// id on purpose: log files are replayed in id order, which is sequence
// order, and the keydir keeps no delete markers, so the salvaged records
// of an old log file moved under a new, higher id would be replayed after
// a newer delete of their key and bring the key back. Keeping the id also
// keeps a committed merge's journal true (it names its inputs by id). A
// stale hint file is removed, and the directory synced, before its data
// file is replaced, so a hint never describes the wrong bytes.
//
// Repair reads each damaged file into memory whole (up to MaxFileSize, or
// a single larger record).
func Repair(dir string, opts Options) (RepairReport, error) {
	return repairDir(dir, opts, false)
}

// Check runs the scan of Repair without changing anything (it takes the
// directory lock, and fails with ErrLocked while a DB has it open) and
// returns the report of what Repair would do; Damaged reports whether there
// is anything to repair.
func Check(dir string, opts Options) (RepairReport, error) {
	return repairDir(dir, opts, true)
}

// repairer is one run of Repair or Check.
type repairer struct {
	dir string
	fs  vfs.FS
	log *slog.Logger
	dry bool
	rep *RepairReport
	// mergePending: an intact journal of a committed merge is in
	// last_state/, and Open will publish its outputs.
	mergePending bool
}

// repairData is a data file whose scan found a problem (problem != "") or
// whose hint needs rewriting (hint != "").
type repairData struct {
	path    string
	id      uint32
	wal     bool
	size    int64
	problem string
	hint    string
}

func repairDir(dir string, opts Options, dry bool) (rep RepairReport, err error) {
	rep = RepairReport{Dir: dir, DryRun: dry}
	if err := opts.Validate(); err != nil {
		return rep, err
	}
	opts = opts.withDefaults()
	fi, err := opts.FS.Stat(dir)
	if err != nil {
		return rep, fmt.Errorf("simplekv: repair: %w", err)
	}
	if !fi.IsDir() {
		return rep, fmt.Errorf("simplekv: repair: %s is not a directory", dir)
	}
	lock, err := opts.FS.Lock(filepath.Join(dir, lockFile))
	if err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			return rep, fmt.Errorf("%w: %s is open (LOCK held); close it before a repair", ErrLocked, dir)
		}
		return rep, fmt.Errorf("simplekv: lock %s: %w", dir, err)
	}
	defer func() {
		if cerr := lock.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("simplekv: unlock %s: %w", dir, cerr)
		}
	}()
	r := &repairer{dir: dir, fs: opts.FS, log: opts.Logger.With("db", dir), dry: dry, rep: &rep}
	// Not "return rep, r.run()": the order in which rep and the call are
	// evaluated is unspecified.
	err = r.run()
	return rep, err
}

func (r *repairer) run() error {
	walD, lsD := filepath.Join(r.dir, walDir), filepath.Join(r.dir, lastStateDir)
	walNames, err := r.list(walD)
	if err != nil {
		return err
	}
	lsNames, err := r.list(lsD)
	if err != nil {
		return err
	}

	// Read everything first: nothing changes unless every file could be
	// read and understood.
	for _, d := range []struct {
		dir   string
		names []string
	}{{walD, walNames}, {lsD, lsNames}} {
		for _, name := range d.names {
			if strings.HasSuffix(name, repairTmpSuffix) {
				r.rep.Leftovers = append(r.rep.Leftovers, filepath.Join(d.dir, name))
			}
		}
	}
	jr, err := r.planJournal(lsD, lsNames)
	if err != nil {
		return err
	}
	r.rep.Journal = jr
	var todo []repairData
	var walIDs, lsIDs []uint32
	for _, name := range walNames {
		if id, ok := parseDataFileName(name); ok {
			walIDs = append(walIDs, id)
		}
	}
	for _, name := range lsNames {
		if id, ok := parseDataFileName(name); ok {
			lsIDs = append(lsIDs, id)
		}
	}
	for i, id := range walIDs {
		d, err := r.scan(walPath(r.dir, id), id, true, i == len(walIDs)-1)
		if err != nil {
			return err
		}
		if d.problem != "" || d.hint != "" {
			todo = append(todo, d)
		}
	}
	for _, id := range lsIDs {
		d, err := r.scan(lastStatePath(r.dir, id), id, false, false)
		if err != nil {
			return err
		}
		if d.problem != "" || d.hint != "" {
			todo = append(todo, d)
		}
	}

	// Then act, one file at a time, each step crash-safe on its own.
	if err := r.removeLeftovers(); err != nil {
		return err
	}
	if err := r.fixJournal(lsD); err != nil {
		return err
	}
	for _, d := range todo {
		if d.problem == "" {
			if err := r.rewriteHint(d); err != nil {
				return err
			}
			continue
		}
		if err := r.salvage(d); err != nil {
			return err
		}
	}
	return nil
}

// list returns the names in dir; a missing directory is empty (Open
// creates it).
func (r *repairer) list(dir string) ([]string, error) {
	names, err := r.fs.List(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("simplekv: repair: list %s: %w", dir, err)
	}
	return names, nil
}

func (r *repairer) removeLeftovers() error {
	if r.dry || len(r.rep.Leftovers) == 0 {
		return nil
	}
	dirs := map[string]bool{}
	for _, p := range r.rep.Leftovers {
		r.log.Warn("simplekv: repair: removing the leftover of an interrupted repair", "path", p)
		if err := r.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("simplekv: repair: remove %s: %w", p, err)
		}
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		if err := r.syncDir(d); err != nil {
			return err
		}
	}
	return nil
}
