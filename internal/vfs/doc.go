// Package vfs is the filesystem seam of simplekv: every file operation the
// engine performs goes through the FS and File interfaces defined here.
//
// Two implementations live in this package:
//
//   - Default (OS) talks to the real operating system. It syncs the parent
//     directory of created, renamed and removed files only when asked
//     (SyncDir), so the engine decides exactly when a directory entry must be
//     durable.
//   - MemFS keeps everything in memory and remembers what has been synced, so a
//     test can take a CrashClone: the disk as a power cut would leave it, with
//     unsynced file data and unsynced directory entries dropped.
//
// FaultFS wraps either of them to make chosen operations fail, in the spirit
// of pebble's vfs/errorfs: every FS and File call is numbered, and an Injector
// (AtOp for one chosen operation, Random for a seeded fraction of some
// classes, or any InjectorFunc) decides whether it fails with ENOSPC, EIO or a
// short write. A failed operation leaves the wrapped FS untouched (a short
// write really writes the first half) and returns the error the OS would, so
// tests can check how the engine handles a full or failing disk. Its files
// are not Mappers, so reads go through ReadAt where faults can hit them.
//
// Overlay wraps an FS so that nothing is ever written to it: changes live in
// an in-memory upper layer (files copied up on first write). The operator CLI
// opens a database through one for the commands that only read.
//
// Errors are *fs.PathError values (or wrap them) so errors.Is(err,
// fs.ErrNotExist) behaves the same on every implementation.
package vfs
