package datafile

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt is returned when a file holds bytes that fail their
	// checksum or sanity checks. It is always wrapped in a *CorruptError
	// naming the file and offset.
	ErrCorrupt = errors.New("datafile: corrupt")
	// ErrVersion is returned for a data file whose header carries a format
	// version this build does not know.
	ErrVersion = errors.New("datafile: unsupported format version")
	// ErrInvalid is returned by AppendEncoded for a record the format
	// cannot hold: an empty or oversized key, an oversized value, unknown
	// flags, a tombstone with a value, or a sequence number of 1<<63 or more.
	ErrInvalid = errors.New("datafile: invalid record")
)

// CorruptError says where damage was found. errors.Is(err, ErrCorrupt)
// holds for it.
type CorruptError struct {
	Path   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("datafile: corrupt record in %s at offset %d: %s", e.Path, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func corruptf(path string, off int64, format string, args ...any) error {
	return &CorruptError{Path: path, Offset: off, Reason: fmt.Sprintf(format, args...)}
}
