package compaction

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/simplekv/simplekv/datafile"
)

// headerSize is the size of a data file's header, which holds no records.
const headerSize = datafile.FileHeaderSize

// FileInfo is the picker's view of one sealed (not active) data file: the
// per-file accounting the engine keeps up to date in its write path.
type FileInfo struct {
	// ID is the file id.
	ID uint32
	// WAL says the file is in wal/ (a sealed log file) rather than
	// last_state/ (merge output).
	WAL bool
	// Size is the file size in bytes, including its 16-byte header
	// (datafile.FileHeaderSize).
	Size int64
	// Dead is the number of bytes of records that are no longer live:
	// overwritten, deleted, or copies that lost a race.
	Dead int64
	// Tombstones is the number of bytes of delete markers. They may have
	// to be kept, so they are neither dead nor live.
	Tombstones int64
	// ExpiresAt is the time (unix nanoseconds) by which every live record
	// of the file has expired; 0 means some live record never expires, or
	// that it is unknown.
	ExpiresAt int64
}

// payload returns the bytes of the file after its header (never negative).
func (f FileInfo) payload() int64 { return max(f.Size-headerSize, 0) }

// Live returns the bytes of live records: Size minus the header, Dead and
// Tombstones, never negative.
func (f FileInfo) Live() int64 {
	return max(f.Size-headerSize-f.Dead-f.Tombstones, 0)
}

// DeadFraction returns Dead / (Size - header), clamped to [0, 1]; 0 for a
// header-only file. It ignores expiry: see Expired.
func (f FileInfo) DeadFraction() float64 {
	p := f.payload()
	if p == 0 {
		return 0
	}
	return min(max(float64(f.Dead)/float64(p), 0), 1)
}

// Expired reports whether every live record of the file has expired at
// now (unix nanoseconds): ExpiresAt != 0 && ExpiresAt <= now. The picker
// treats an expired file as entirely dead: dead fraction 1 and dead bytes
// Size - header.
func (f FileInfo) Expired(now int64) bool {
	return f.ExpiresAt != 0 && f.ExpiresAt <= now
}

// deadAt returns the dead fraction and dead bytes the picker uses at now:
// those of an all-dead file for an expired file with records, otherwise
// DeadFraction and Dead (clamped to the bytes after the header).
func (f FileInfo) deadAt(now int64) (fraction float64, bytes int64) {
	p := f.payload()
	if f.Expired(now) && p > 0 {
		return 1, p
	}
	return f.DeadFraction(), min(max(f.Dead, 0), p)
}

// allDead reports whether the file has records and none of them is live or
// a tombstone. Such a file always joins a merge that runs.
func (f FileInfo) allDead() bool {
	return f.Size > headerSize && f.Live() == 0 && f.Tombstones == 0
}

// Plan is the picker's decision.
type Plan struct {
	// Inputs holds the ids of the files to merge, ascending and without
	// duplicates; empty means there is nothing to do.
	Inputs []uint32
	// Reason says, for people, which trigger fired, e.g.
	// "file 12 dead fraction 0.71 >= 0.60"; "manual" for All; empty for
	// an empty plan.
	Reason string
}

// verdict records why one file fires a trigger or joins a merge.
type verdict uint8

const (
	trigFraction verdict = 1 << iota // dead fraction >= TriggerDeadFraction
	trigBytes                        // dead bytes >= TriggerDeadBytes
	thrFraction                      // dead fraction >= ThresholdDeadFraction
	thrBytes                         // dead bytes >= ThresholdDeadBytes
	thrSmall                         // Size < ThresholdSmallFile
	expired                          // every live record has expired
	allDead                          // records, but none live and no tombstones
)

// triggers is the set of verdicts that start a merge by themselves (the
// WAL trigger depends on the whole set of files, not on one).
const triggers = trigFraction | trigBytes

// judge evaluates f against o (defaults applied) at now.
func judge(f FileInfo, now int64, o Options) verdict {
	frac, dead := f.deadAt(now)
	var v verdict
	if o.TriggerDeadFraction > 0 && frac >= o.TriggerDeadFraction {
		v |= trigFraction
	}
	if o.TriggerDeadBytes > 0 && dead >= o.TriggerDeadBytes {
		v |= trigBytes
	}
	if o.ThresholdDeadFraction > 0 && frac >= o.ThresholdDeadFraction {
		v |= thrFraction
	}
	if o.ThresholdDeadBytes > 0 && dead >= o.ThresholdDeadBytes {
		v |= thrBytes
	}
	if o.ThresholdSmallFile > 0 && f.Size < o.ThresholdSmallFile {
		v |= thrSmall
	}
	if f.Expired(now) {
		v |= expired
	}
	if f.allDead() {
		v |= allDead
	}
	return v
}

// Pick decides whether a merge should run now (unix nanoseconds) and which
// of files, the sealed data files of wal/ and last_state/, join it. Zero
// fields of o take their defaults; o should have passed Validate.
//
// No merge runs (the plan is empty) unless a trigger fires: some file's
// dead fraction reaches TriggerDeadFraction, some file's dead bytes reach
// TriggerDeadBytes, or at least TriggerWALFiles files are in wal/. Once one
// fires, the inputs are every file that meets a trigger or a threshold
// (dead fraction >= ThresholdDeadFraction, dead bytes >=
// ThresholdDeadBytes, Size < ThresholdSmallFile, fully expired, or all
// dead), and every wal/ file if the WAL trigger fired. An expired file
// counts as entirely dead (see FileInfo.Expired).
//
// A plan that would merge a single last_state/ file that joined only for
// being small (no dead bytes, not expired) reclaims nothing, so Pick
// returns an empty plan instead.
//
// Pick does not modify files. Its result depends only on its arguments;
// files should have distinct ids (a repeated id is listed once).
func Pick(files []FileInfo, now int64, o Options) Plan {
	o = o.WithDefaults()
	sorted := slices.Clone(files)
	slices.SortStableFunc(sorted, func(a, b FileInfo) int { return cmp.Compare(a.ID, b.ID) })

	verdicts := make([]verdict, len(sorted))
	var fired verdict
	wal := 0
	for i, f := range sorted {
		verdicts[i] = judge(f, now, o)
		fired |= verdicts[i] & triggers
		if f.WAL {
			wal++
		}
	}
	walFired := o.TriggerWALFiles > 0 && wal >= o.TriggerWALFiles
	if fired == 0 && !walFired {
		return Plan{}
	}

	var inputs []uint32
	var chosen []int // indexes into sorted of the inputs
	for i, f := range sorted {
		if verdicts[i] == 0 && !(walFired && f.WAL) {
			continue
		}
		if len(inputs) > 0 && inputs[len(inputs)-1] == f.ID {
			continue
		}
		inputs = append(inputs, f.ID)
		chosen = append(chosen, i)
	}
	if len(chosen) == 1 && reclaimsNothing(sorted[chosen[0]], now) {
		return Plan{}
	}
	return Plan{Inputs: inputs, Reason: reason(sorted, verdicts, now, o, wal, walFired)}
}

// reclaimsNothing reports whether merging f alone would be useless work:
// f is a last_state/ file (so it already has a hint file) with no dead
// bytes that has not expired, so rewriting it would copy it unchanged.
//
// Under Pick's rules a lone input is the file that fired a trigger, which
// has dead bytes, is expired or is in wal/; this check keeps the promise
// not to merge one clean file even if a future trigger breaks that.
func reclaimsNothing(f FileInfo, now int64) bool {
	_, dead := f.deadAt(now)
	return !f.WAL && !f.Expired(now) && dead == 0
}

// reason describes every trigger that fired: for the dead-fraction and
// dead-bytes triggers, the worst file (the lowest id among equals) and how
// many others fired too.
func reason(sorted []FileInfo, verdicts []verdict, now int64, o Options, wal int, walFired bool) string {
	var parts []string
	worst := func(bit verdict, key func(FileInfo) float64) (FileInfo, int) {
		var best FileInfo
		n := 0
		for i, f := range sorted {
			if verdicts[i]&bit == 0 {
				continue
			}
			if n == 0 || key(f) > key(best) {
				best = f
			}
			n++
		}
		return best, n
	}
	more := func(n int) string {
		if n > 1 {
			return fmt.Sprintf(" (and %d more)", n-1)
		}
		return ""
	}
	fraction := func(f FileInfo) float64 { fr, _ := f.deadAt(now); return fr }
	bytes := func(f FileInfo) float64 { _, b := f.deadAt(now); return float64(b) }

	if f, n := worst(trigFraction, fraction); n > 0 {
		what := "dead fraction"
		if f.Expired(now) {
			what = "fully expired, dead fraction"
		}
		parts = append(parts, fmt.Sprintf("file %d %s %.2f >= %.2f%s",
			f.ID, what, fraction(f), o.TriggerDeadFraction, more(n)))
	}
	if f, n := worst(trigBytes, bytes); n > 0 {
		what := "dead bytes"
		if f.Expired(now) {
			what = "fully expired, dead bytes"
		}
		_, b := f.deadAt(now)
		parts = append(parts, fmt.Sprintf("file %d %s %s >= %s%s",
			f.ID, what, humanBytes(b), humanBytes(o.TriggerDeadBytes), more(n)))
	}
	if walFired {
		parts = append(parts, fmt.Sprintf("%d sealed wal files >= %d", wal, o.TriggerWALFiles))
	}
	return strings.Join(parts, "; ")
}

// humanBytes formats n bytes with a binary unit, e.g. "128.0 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[i])
}

// All returns a plan that merges every file given, as a manual full
// compaction does: the ids ascending without duplicates, Reason "manual".
func All(files []FileInfo) Plan {
	ids := make([]uint32, 0, len(files))
	for _, f := range files {
		ids = append(ids, f.ID)
	}
	slices.Sort(ids)
	return Plan{Inputs: slices.Compact(ids), Reason: "manual"}
}
