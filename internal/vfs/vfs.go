package vfs

import (
	"io"
	"os"
)

// FS is the set of filesystem operations the engine uses. Paths are ordinary
// slash-separated OS paths; implementations must be safe for concurrent use.
type FS interface {
	// Create creates name for reading and writing. It fails with an error
	// matching fs.ErrExist if name already exists, so a file id is never
	// silently reused.
	Create(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing.
	OpenReadWrite(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// Rename atomically renames oldname to newname, replacing newname.
	Rename(oldname, newname string) error
	// Link makes newname a hard link to the existing file oldname. It
	// fails with an error matching fs.ErrExist if newname exists, and
	// with another error (such as EXDEV or EPERM) where the filesystem
	// cannot link; callers then copy instead.
	Link(oldname, newname string) error
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the names (not paths) of the entries of dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes name.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the directory entries of dir durable: files created,
	// renamed or removed in dir survive a power cut only after it returns.
	SyncDir(dir string) error
	// Lock takes an exclusive advisory lock on name (creating it if needed)
	// without blocking. It returns ErrLocked (wrapped with the path) if
	// another holder has it, in this process or another.
	Lock(name string) (io.Closer, error)
}

// File is an open file. ReadAt may run concurrently with Write and Sync;
// Write writes at the current offset (the engine only appends), WriteAt
// at a given one without moving it (the engine uses it only to write zero
// padding ahead of the end of the active log file).
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Sync makes the file's data durable (fdatasync). If it fails, the
	// unsynced data may be lost even though earlier writes succeeded.
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Stat describes the open file.
	Stat() (os.FileInfo, error)
}

// Mapper is implemented by files that can be memory-mapped read-only. The
// engine uses it for reads when present and falls back to ReadAt otherwise.
type Mapper interface {
	// Map maps the first length bytes of the file read-only. length may
	// exceed the current size (so an appended-to file can be read through
	// one mapping as it grows); bytes past the end of the file must not be
	// touched. The mapping stays valid after the file is closed, until
	// Unmap.
	Map(length int) (Mapping, error)
}

// Mapping is a read-only memory mapping.
type Mapping interface {
	// Bytes returns the mapped memory.
	Bytes() []byte
	// Unmap releases the mapping. Bytes must not be used afterwards.
	Unmap() error
}
