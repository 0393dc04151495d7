package main

import (
	"fmt"
	"syscall"
)

// fsType names the file system holding dir, from statfs's magic number.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return ""
	}
	magic := uint64(st.Type) & 0xffffffff
	switch magic {
	case 0xef53:
		return "ext2/3/4"
	case 0x58465342:
		return "xfs"
	case 0x9123683e:
		return "btrfs"
	case 0x01021994:
		return "tmpfs"
	case 0x794c7630:
		return "overlayfs"
	case 0x2fc12fc1:
		return "zfs"
	case 0x6969:
		return "nfs"
	case 0x65735546:
		return "fuse"
	case 0x858458f6:
		return "ramfs"
	default:
		return fmt.Sprintf("fs magic %#x", magic)
	}
}
