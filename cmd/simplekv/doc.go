// Command simplekv is the operator's tool for a simplekv database
// directory. Each subcommand takes the directory lock, so it fails (exit
// status 4) while a process has the database open. Commands that only
// read (get, scan, stats, checkpoint, backup, dump, check) never change the
// directory: they open it through an in-memory overlay (vfs.Overlay), so
// that what Open itself writes (a new log file, a cut torn tail, a
// finished merge, hints) stays in memory.
//
// Keys and values are arguments as they are (bytes), or hex with -hex, or
// standard base64 with -base64; output uses the same encoding, and lists
// (scan) print raw keys and values as Go-quoted ASCII strings ("\x00\xff").
// -format json prints JSON (one object per key for scan; engine.Stats for
// stats, engine.RepairReport for check), with keys and
// values as strings (exact for UTF-8; use -hex or -base64 for binary).
//
//	simplekv get [-hex|-base64] [-format json] <dir> <key>
//	    Prints the value (its bytes as they are, unless encoded). Exit
//	    status 3 if the key has no live value.
//
//	simplekv put [-hex|-base64] [-ttl D] <dir> <key> <value|->
//	    Stores the value ("-" reads it, raw, from standard input), to
//	    expire after D if given.
//
//	simplekv delete [-hex|-base64] <dir> <key>
//	    Removes the key; an absent key is not an error.
//
//	simplekv scan [-prefix P] [-limit N] [-keys-only] [-hex|-base64] [-format json] <dir>
//	    Lists live keys (with -prefix, those that start with P) and their
//	    values, one per line: key TAB value. Not sorted.
//
//	simplekv compact <dir>
//	    Merges every sealed data file (DB.Compact) and prints the disk
//	    bytes before and after.
//
//	simplekv help <command>
//	    Prints the command's flags.
//
//	simplekv check [-format json] <dir>
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
//	simplekv stats [-files] [-format json] <dir>
//	    Opens the database read-only, prints its Stats (with -files, one
//	    line per data file; with -format json, the whole engine.Stats) and
//	    closes it. The recovery figures are those
//	    of this Open (a torn tail it would cut shows in torn bytes).
//
//	simplekv checkpoint <dir> <target>
//	    Writes a consistent copy of the database to target, which must not
//	    exist or be empty. The source is opened read-only, so the copy is
//	    a backup stream restored into target (the files copied, published
//	    only once complete); a running application's DB.Checkpoint links
//	    them instead.
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
//	simplekv dump <dir> <file|->
//	    Writes every live key with its value and expiry as a portable,
//	    checksummed stream (DB.Dump; FORMAT.md, "Dump stream"), to file
//	    (through file.tmp) or standard output.
//
//	simplekv load <file|-> <target>
//	    Reads a dump into a new database directory (engine.Load), skipping
//	    keys that have expired since; a truncated or damaged dump fails and
//	    leaves no target.
//
// Exit status: 0 on success (check: no damage); 1 when check finds damage,
// or a command meets a damaged file (ErrCorrupt); 2 for a usage error or
// another failure (an I/O error, a directory Open refuses, a bad backup
// stream); 3 when get finds no value; 4 when another process has the
// directory open.
package main
