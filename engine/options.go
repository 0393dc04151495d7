package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/simplekv/simplekv/compaction"
	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
)

// Options configures a DB. The zero value of every field means its
// documented default, so Options{} is a working configuration.
type Options struct {
	// SyncWrites makes Put and Delete return only after their record is on
	// stable storage (fdatasync; concurrent writers share one). Default
	// false: writes are buffered and synced every SyncInterval.
	SyncWrites bool

	// MaxFileSize is the size at which the active data file is sealed and
	// a new one started: a record that would take the file past it goes to
	// the next file. Default 256 MiB; between 4 KiB and 4 GiB - 1 (offsets
	// are 32-bit).
	MaxFileSize int64
	// MaxKeySize is the longest key accepted. Default 64 KiB; at most 16
	// MiB.
	MaxKeySize int
	// MaxValueSize is the longest value accepted. Default 64 MiB; at most
	// 2 GiB - 16 MiB - 1 KiB (a record's header, key and value must fit
	// in 32 bits). A record larger than MaxFileSize is written alone
	// into a file of its own.
	MaxValueSize int

	// DisableCompression turns off snappy compression of values. By default
	// a value of 16 bytes or more is stored compressed when that makes it
	// smaller. Attempts back off while they fail: after each attempt that
	// saves nothing, the next 1, 3, 7, 15, then 31 values are stored
	// without one, until an attempt saves again. Incompressible data then
	// costs about one snappy pass in 32 values.
	DisableCompression bool

	// CacheSize is the byte budget of the read cache for hot values. It
	// keeps values that were costly to read: by a system call (no
	// mapping), or compressed and at least 1 KiB once decompressed
	// (smaller ones decompress faster than the cache inserts them).
	// Default 64 MiB; negative disables the cache.
	CacheSize int64

	// BufferSize is how many bytes of records a non-synced DB buffers in
	// memory before writing them to the OS. Default 256 KiB. It bounds
	// what a process crash can lose with SyncWrites off.
	BufferSize int
	// FlushInterval is how often a non-synced DB writes its buffer to the
	// OS even when it is not full. Default 10 ms.
	FlushInterval time.Duration
	// SyncInterval is how often a non-synced DB fsyncs the active file.
	// Default 1 s; negative never syncs in the background (only on Sync,
	// file rotation and Close). It bounds what a power loss can lose.
	SyncInterval time.Duration

	// DisableMmap makes reads use pread instead of read-only memory
	// mappings of the data files.
	DisableMmap bool

	// MaxOpenFiles caps the descriptors held for reading unmapped data
	// files (least recently used are closed first). Default 256.
	MaxOpenFiles int

	// DisableAutoCompaction turns off the background merge worker. Compact
	// still merges on demand.
	DisableAutoCompaction bool
	// CompactionInterval is how often the background worker checks the
	// compaction triggers; each wait is jittered by ±20% so that many DBs
	// started together do not merge in step. Default 15 s.
	CompactionInterval time.Duration
	// Compaction holds the triggers (when to merge) and thresholds (which
	// files join) of the background worker; see compaction.Options for the
	// defaults. The byte-sized ones left zero scale with MaxFileSize when
	// it is below its default: TriggerDeadBytes is half a file,
	// ThresholdDeadBytes an eighth and ThresholdSmallFile a sixteenth (the
	// proportions of the compaction defaults to the 256 MiB default file).
	Compaction compaction.Options

	// Logger receives recovery reports and errors. Default: discard.
	Logger *slog.Logger

	// FS is the filesystem to use. Default: the operating system's. Tests
	// use vfs.NewMem to simulate crashes.
	FS vfs.FS
}

// Defaults.
const (
	DefaultMaxFileSize   = 256 << 20
	DefaultMaxKeySize    = 64 << 10
	DefaultMaxValueSize  = 64 << 20
	DefaultCacheSize     = 64 << 20
	DefaultBufferSize    = 256 << 10
	DefaultFlushInterval = 10 * time.Millisecond
	DefaultSyncInterval  = time.Second
	DefaultMaxOpenFiles  = 256

	DefaultCompactionInterval = 15 * time.Second
)

// maxValueSize keeps header + key + value of one record within 32 bits.
const maxValueSize = datafile.MaxValueLen - datafile.MaxKeyLen - 1024

// Validate reports every out-of-range field at once, wrapped in
// ErrInvalidOptions. Zero fields are valid (they mean the default).
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.MaxFileSize < 0 || o.MaxFileSize > math.MaxUint32 {
		bad("MaxFileSize %d out of range [0, %d]", o.MaxFileSize, int64(math.MaxUint32))
	}
	if o.MaxFileSize > 0 && o.MaxFileSize < 4096 {
		bad("MaxFileSize %d below the minimum of 4096", o.MaxFileSize)
	}
	if o.MaxKeySize < 0 || o.MaxKeySize > datafile.MaxKeyLen {
		bad("MaxKeySize %d out of range [0, %d]", o.MaxKeySize, datafile.MaxKeyLen)
	}
	if o.MaxValueSize < 0 {
		bad("MaxValueSize %d is negative", o.MaxValueSize)
	}
	if o.BufferSize < 0 {
		bad("BufferSize %d is negative", o.BufferSize)
	}
	if o.FlushInterval < 0 {
		bad("FlushInterval %v is negative", o.FlushInterval)
	}
	if o.MaxOpenFiles < 0 {
		bad("MaxOpenFiles %d is negative", o.MaxOpenFiles)
	}
	if o.CompactionInterval < 0 {
		bad("CompactionInterval %v is negative", o.CompactionInterval)
	}
	if err := o.compactionOptions().Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.MaxValueSize > maxValueSize {
		bad("MaxValueSize %d above the format limit %d", o.MaxValueSize, maxValueSize)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
	}
	return nil
}

// compactionOptions returns o.Compaction with its zero byte-sized fields
// scaled to a MaxFileSize below the default; with the default file size
// the compaction package's own defaults apply.
func (o Options) compactionOptions() compaction.Options {
	c := o.Compaction
	fileSize := o.MaxFileSize
	if fileSize <= 0 || fileSize >= DefaultMaxFileSize {
		return c
	}
	if c.TriggerDeadBytes == 0 {
		c.TriggerDeadBytes = fileSize / 2
	}
	if c.ThresholdDeadBytes == 0 {
		c.ThresholdDeadBytes = fileSize / 8
	}
	if c.ThresholdSmallFile == 0 {
		c.ThresholdSmallFile = fileSize / 16
	}
	return c
}

// withDefaults returns a copy of o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.MaxFileSize == 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	if o.MaxKeySize == 0 {
		o.MaxKeySize = DefaultMaxKeySize
	}
	if o.MaxValueSize == 0 {
		o.MaxValueSize = DefaultMaxValueSize
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.BufferSize == 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.MaxOpenFiles == 0 {
		o.MaxOpenFiles = DefaultMaxOpenFiles
	}
	if o.CompactionInterval == 0 {
		o.CompactionInterval = DefaultCompactionInterval
	}
	o.Compaction = o.compactionOptions().WithDefaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	return o
}
