//go:build !linux

package main

import "os"

// statFS is only known on Linux.
func statFS(string) (string, int64, int64) { return "", 0, 0 }

// allocated is the file's size where blocks are not reported.
func allocated(fi os.FileInfo) int64 { return fi.Size() }

// settleDisk is a no-op where sync(2) is not called.
func settleDisk() {}
