package engine

import (
	"errors"

	"github.com/simplekv/simplekv/datafile"
)

// Errors returned by DB methods. Each may be wrapped with context; compare
// with errors.Is.
var (
	// ErrNotFound is returned by Get when the key has no live value.
	ErrNotFound = errors.New("simplekv: key not found")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("simplekv: database closed")
	// ErrEmptyKey is returned for a nil or empty key.
	ErrEmptyKey = errors.New("simplekv: empty key")
	// ErrKeyTooLarge is returned for a key longer than Options.MaxKeySize.
	ErrKeyTooLarge = errors.New("simplekv: key too large")
	// ErrValueTooLarge is returned for a value longer than
	// Options.MaxValueSize.
	ErrValueTooLarge = errors.New("simplekv: value too large")
	// ErrInvalidTTL is returned by PutWithTTL for a TTL that is not
	// positive.
	ErrInvalidTTL = errors.New("simplekv: TTL must be positive")
	// ErrBatchTooLarge is returned by Write for a batch that would take
	// more than MaxBatchSize bytes in the log.
	ErrBatchTooLarge = errors.New("simplekv: batch too large")
	// ErrTargetExists is returned by Checkpoint and Restore for a target
	// that exists and is not an empty directory.
	ErrTargetExists = errors.New("simplekv: target exists and is not empty")
	// ErrBadBackup is returned by Restore for a stream that is not a whole
	// backup: truncated, damaged, or not one at all.
	ErrBadBackup = errors.New("simplekv: not a whole simplekv backup")
	// ErrBadDump is returned by Load for a stream that is not a whole dump:
	// truncated, damaged, or not one at all.
	ErrBadDump = errors.New("simplekv: not a whole simplekv dump")
	// ErrLocked is returned by Open when another DB (in this process or
	// another) has the directory open.
	ErrLocked = errors.New("simplekv: directory locked by another process or DB")
	// ErrCorrupt is returned when a data file fails its checksums outside
	// the torn tail of the newest file. The error names file and offset.
	ErrCorrupt = datafile.ErrCorrupt
	// ErrVersion is returned by Open for a file of an unknown format
	// version.
	ErrVersion = datafile.ErrVersion
	// ErrInvalidOptions is returned by Open (and Options.Validate) for
	// options out of range; the message lists every problem.
	ErrInvalidOptions = errors.New("simplekv: invalid options")
	// ErrWriteFailed is returned by every write after a write or fsync of
	// a data file failed. After a failed fsync the kernel may have dropped
	// the unsynced pages, so the DB stops accepting writes rather than
	// trust them; reopen the directory to recover. The error also wraps
	// the original I/O error.
	ErrWriteFailed = errors.New("simplekv: an earlier write or sync failed; writes are refused until reopen")
)
