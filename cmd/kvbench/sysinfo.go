package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DiskInfo describes the file system the benchmark directory is on.
type DiskInfo struct {
	FSType string `json:"fs_type,omitempty"`
	Device string `json:"device,omitempty"`
	// Rotational is "rotational" or "non-rotational" as the kernel reports
	// the device (queue/rotational; a virtual disk may say either), or ""
	// when unknown.
	Rotational string `json:"rotational,omitempty"`
	Size       int64  `json:"size_bytes,omitempty"`
	Free       int64  `json:"free_bytes,omitempty"`
}

// String is the header line, e.g. "ext4 on /dev/vda (non-rotational per
// the kernel), 252 GiB, 77.0 GiB free".
func (d DiskInfo) String() string {
	if d.FSType == "" {
		return "unknown"
	}
	s := d.FSType
	if d.Device != "" {
		s += " on " + d.Device
	}
	if d.Rotational != "" {
		s += " (" + d.Rotational + " per the kernel)"
	}
	if d.Size > 0 {
		s += fmt.Sprintf(", %s, %s free", fmtBytes(d.Size), fmtBytes(d.Free))
	}
	return s
}

// diskInfo describes the file system holding dir.
func diskInfo(dir string) DiskInfo {
	var d DiskInfo
	d.FSType, d.Size, d.Free = statFS(dir)
	abs, err := filepath.Abs(dir)
	if err != nil {
		return d
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	// The mount with the longest mount point that contains dir.
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return d
	}
	best := -1
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mnt := f[1]
		if abs != mnt && !strings.HasPrefix(abs, strings.TrimSuffix(mnt, "/")+"/") {
			continue
		}
		if len(mnt) > best {
			best = len(mnt)
			d.Device, d.FSType = f[0], f[2] // the mount table names it best
		}
	}
	if strings.HasPrefix(d.Device, "/dev/") {
		d.Rotational = rotational(filepath.Base(d.Device))
	}
	return d
}

// rotational reads /sys/class/block/<dev>/queue/rotational (or its
// disk's, for a partition): "rotational", "non-rotational" or "".
func rotational(dev string) string {
	for _, name := range []string{dev, strings.TrimRight(dev, "0123456789")} {
		r, err := os.ReadFile("/sys/class/block/" + name + "/queue/rotational")
		if err != nil {
			continue
		}
		switch strings.TrimSpace(string(r)) {
		case "0":
			return "non-rotational"
		case "1":
			return "rotational"
		}
		return ""
	}
	return ""
}

// dirBytes is the disk space the files under dir take: allocated blocks
// (as du counts them) where the system reports them, else sizes. Badger
// preallocates sparse files, whose size says little. A file that an
// engine's background work removes during the walk is skipped.
func dirBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != dir {
				return nil
			}
			return err
		}
		if !de.Type().IsRegular() {
			return nil
		}
		fi, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		total += allocated(fi)
		return nil
	})
	return total, err
}

// cpuModel is the first "model name" of /proc/cpuinfo, if there is one.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// memTotal is MemTotal of /proc/meminfo in bytes, or 0.
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("MemTotal:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
