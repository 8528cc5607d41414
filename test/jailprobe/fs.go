package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

func init() {
	probes["walk"] = walk
	probes["read"] = read
}

// walk lists every entry below the given directories (default /), as
// "DEV INO PATH" lines, without entering /proc, /dev or /sys: the test
// compares each with the host's entry of the same path. The walk does not
// stop at mounts: a host-derived root is many binds.
func walk(args []string) string {
	if len(args) == 0 {
		args = []string{"/"}
	}
	var out []string
	for _, top := range args {
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if p == "/proc" || p == "/dev" || p == "/sys" {
				return filepath.SkipDir
			}
			var st syscall.Stat_t
			if syscall.Lstat(p, &st) != nil {
				return nil
			}
			out = append(out, fmt.Sprintf("%d %d %s", st.Dev, st.Ino, p))
			return nil
		})
	}
	return strings.Join(out, "\n")
}

// read reads up to 4 KiB of each file, "PATH=N" bytes or "PATH=ERRNO"; a
// directory reports its number of entries as "PATH=dir:N".
func read(args []string) string {
	var out []string
	for _, p := range args {
		f, err := os.Open(p)
		if err != nil {
			out = append(out, p+"="+errnoName(err))
			continue
		}
		if names, err := f.Readdirnames(-1); err == nil {
			out = append(out, fmt.Sprintf("%s=dir:%d", p, len(names)))
		} else {
			n, err := io.ReadFull(f, make([]byte, 4096))
			if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
				out = append(out, p+"="+errnoName(err))
			} else {
				out = append(out, fmt.Sprintf("%s=%d", p, n))
			}
		}
		f.Close()
	}
	return strings.Join(out, " ")
}
