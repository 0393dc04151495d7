package main

import (
	"fmt"
	"os"
	"syscall"
)

// statFS names the file system holding dir, from statfs's magic number,
// and gives its size and free space.
func statFS(dir string) (name string, size, free int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "", 0, 0
	}
	size = int64(st.Blocks) * int64(st.Bsize)
	free = int64(st.Bavail) * int64(st.Bsize)
	magic := uint64(st.Type) & 0xffffffff
	switch magic {
	case 0xef53:
		name = "ext2/3/4"
	case 0x58465342:
		name = "xfs"
	case 0x9123683e:
		name = "btrfs"
	case 0x01021994:
		name = "tmpfs"
	case 0x794c7630:
		name = "overlayfs"
	case 0x2fc12fc1:
		name = "zfs"
	case 0x6969:
		name = "nfs"
	case 0x65735546:
		name = "fuse"
	case 0x858458f6:
		name = "ramfs"
	default:
		name = fmt.Sprintf("fs magic %#x", magic)
	}
	return name, size, free
}

// allocated is the space a file's blocks take (st_blocks is in 512-byte
// units), which for a sparse file is less than its size.
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// settleDisk writes back every dirty page in the system (sync(2)), so
// that a synced-write workload does not pay for the writeback the
// workloads before it left behind.
func settleDisk() { syscall.Sync() }
