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
// Errors are *fs.PathError values (or wrap them) so errors.Is(err,
// fs.ErrNotExist) behaves the same on every implementation.
package vfs
