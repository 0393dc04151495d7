// Command simplekv is the operator's tool for a simplekv database
// directory. Each subcommand takes the directory lock, so it fails while a
// process has the database open.
//
//	simplekv check <dir>
//	    Scans every data file, hint file and the merge journal exactly as
//	    repair would, changes nothing, and prints what is damaged and what
//	    repair would do about it. Exit status 1 if damage was found.
//
//	simplekv repair <dir>
//	    Runs engine.Repair: salvages every record whose checksums hold from
//	    damaged files, rewrites or removes what Open cannot use, and prints
//	    the report (files rewritten, byte ranges dropped and why, hint
//	    files and journal handled). Records in a dropped range are lost: a
//	    lost put loses that write, a lost delete marker may bring back an
//	    older value of its key. See go doc ./engine Repair.
//
//	simplekv stats [-files] <dir>
//	    Opens the database with background compaction disabled, prints its
//	    Stats (with -files, one line per data file) and closes it. Like
//	    any Open, this finishes an interrupted merge and truncates a torn
//	    tail of the newest log file.
//
//	simplekv checkpoint <dir> <target>
//	    Opens the database and writes a consistent copy of it to target,
//	    which must not exist or be empty (DB.Checkpoint: sealed files are
//	    hard-linked, the active log file's part copied, the copy renamed
//	    into place once complete).
//
//	simplekv backup <dir> <file|->
//	    Writes the same as one self-checking stream (DB.Backup) to file
//	    (through file.tmp, renamed when complete) or to standard output.
//
//	simplekv restore <file|-> <target>
//	    Reads a backup stream from file or standard input into a new
//	    database directory (engine.Restore); a truncated or damaged stream
//	    fails and leaves no target.
//
// Exit status: 0 on success (check: no damage), 1 when check finds damage,
// 2 for a usage error or a failure (locked directory, I/O error, a
// directory Open refuses).
package main
