// Package mountinfo reads a mount table as the kernel writes it in
// /proc/PID/mountinfo (proc(5)): a line per mount, in mount order, whose
// fifth field is the mount point and whose first field after the " - "
// separator is the filesystem type. The kernel escapes a space, a tab, a
// newline and a backslash in a path as \040, \011, \012 and \134.
//
// rootfs plans against the host's table with it; the benchmarks and the
// integration tests find the mounts a container manager left below its
// directory.
package mountinfo

import (
	"strconv"
	"strings"
)

// Mount is one line of a mount table, as much of it as prison reads.
type Mount struct {
	Point  string // the mount point, unescaped
	FSType string // the filesystem type ("ext4", "overlay", …)
}

// Parse returns the mounts of the table b, in mount order. A line that
// does not have the fields of one (a truncated read) is passed over.
func Parse(b []byte) []Mount {
	var out []Mount
	for line := range strings.Lines(string(b)) {
		pre, post, ok := strings.Cut(line, " - ")
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(postFields) < 1 {
			continue
		}
		out = append(out, Mount{Point: Unescape(fields[4]), FSType: postFields[0]})
	}
	return out
}

// Under returns the mount points of the table b that are dir or below it,
// in mount order: a mount made over another comes after it. dir is
// absolute and clean.
func Under(b []byte, dir string) []string {
	var out []string
	for _, m := range Parse(b) {
		if m.Point == dir || strings.HasPrefix(m.Point, dir+"/") {
			out = append(out, m.Point)
		}
	}
	return out
}

// Unescape undoes the kernel's \ooo escapes in a field of the table. A
// backslash that does not start three octal digits of a byte's value
// stays as it is.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Escape escapes a path as the kernel does in the table: what a search of
// the table's text for a path looks for.
func Escape(p string) string {
	return strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`).Replace(p)
}
