// Package compaction reclaims the space of dead records in simplekv's data
// files. It has two halves: the picker, which decides when a merge runs and
// which sealed files it takes, and the merger, which rewrites them.
//
// # Picker
//
// The engine keeps per-file accounting (FileInfo: size, dead bytes,
// tombstone bytes, expiry) up to date in its write path and hands Pick a
// snapshot of every sealed file in wal/ and last_state/; the active file is
// never a candidate. Pick returns a Plan: the ids of the files to merge and
// the reason. All plans a manual full compaction of every file given.
//
// The rules are modelled on Riak Bitcask's merge policy, which separates
// triggers from thresholds:
//
//   - Triggers decide WHEN a merge runs. A merge runs as soon as one fires:
//     a file's dead fraction is at least TriggerDeadFraction (Bitcask's
//     frag_merge_trigger), a file holds at least TriggerDeadBytes dead
//     bytes (dead_bytes_merge_trigger), or at least TriggerWALFiles sealed
//     files wait in wal/ (ours; Bitcask has no equivalent).
//   - Thresholds decide WHICH files join once a merge runs: every file
//     whose dead fraction is at least ThresholdDeadFraction (frag_threshold),
//     that holds at least ThresholdDeadBytes dead bytes
//     (dead_bytes_threshold), that is smaller than ThresholdSmallFile
//     (small_file_threshold), or that has fully expired; and every wal/
//     file when the WAL trigger fired.
//
// Thresholds are lower than triggers (Validate rejects the opposite), so
// a merge that one badly fragmented file started also picks up the files
// that are merely worth merging: the cost of starting a merge (scanning,
// fsyncs, a new output file) is paid once for all of them, and no file is
// rewritten while it still holds little garbage.
//
// The defaults and why:
//
//   - TriggerDeadFraction 0.6 and ThresholdDeadFraction 0.4 are Bitcask's
//     60% and 40%. Fractions do not depend on the file size, so they carry
//     over unchanged: rewriting a file that is 60% dead copies 0.4 bytes
//     of live data per byte reclaimed.
//   - TriggerDeadBytes 128 MiB and ThresholdDeadBytes 32 MiB. Bitcask's
//     512 MiB and 128 MiB are sized for its 2 GiB files; ours default to
//     256 MiB (engine.DefaultMaxFileSize), so the byte values are a
//     quarter of Bitcask's: half and an eighth of a full file. The bytes
//     trigger catches a large file whose garbage is worth reclaiming
//     before its fraction reaches 0.6; the bytes threshold keeps files
//     with a few MiB of garbage out of a merge.
//   - ThresholdSmallFile 16 MiB (Bitcask: 10 MiB), a sixteenth of a full
//     file. Small files come from merges of mostly dead inputs and from
//     files sealed early (at close or on restart); merging them together
//     bounds the number of files, and so the descriptors, mappings and
//     opens at recovery. A single clean small last_state/ file is never
//     merged alone, since that would reclaim nothing.
//   - TriggerWALFiles 2. Sealed wal/ files have no hint files, so recovery
//     must scan them record by record; moving them into last_state/ with
//     hints keeps recovery time bounded by about two files of log. Waiting
//     for a second file rather than merging on every rotation gives the
//     writes of a just-sealed file time to be overwritten first.
//
// An expired file (every live record past its expiry) counts as entirely
// dead: dead fraction 1 and dead bytes all of the file after its header.
// Any trigger or threshold can be disabled with a negative value.
//
// # Merger
//
// Merger.Run carries out a plan. It scans the chosen files and copies, as
// they are, the records the keydir still points at, into new data files in
// last_state/ under new ids, each with a hint file; both are written under
// temporary names and synced. A delete marker is copied only while an
// older version of its key may survive elsewhere: when no newer record of
// its key is in the keydir and its sequence number is above the smallest
// sequence number of every file that is not an input (MinSurvivingSeq). An
// expired record the keydir still points at is treated like a delete
// marker: rewritten as one if it must stay, dropped otherwise, and removed
// from the keydir after the commit.
//
// The engine then syncs its log (so every newer record the merge relied on
// to drop an older one is durable), commits with WriteJournal, renames the
// outputs with Publish, moves keydir entries to the copies with Install
// (compare-and-swap, so a write that raced the merge always wins) and only
// then removes the inputs, once no reader holds them. After a crash,
// recovery reads the journal: if it exists, the merge is finished (outputs
// published, inputs removed); if not, its temporary files are deleted.
// Either way nothing acknowledged is lost and nothing deleted returns.
package compaction
