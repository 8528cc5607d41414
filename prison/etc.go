package prison

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The host-derived root's own accounts: the system users programs expect,
// and no one of the host's.
//
//nolint:gosec // G101: account names, no credentials (the password field is "x")
const defaultPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`

const defaultGroup = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
www-data:x:33:
staff:x:50:
users:x:100:
nogroup:x:65534:
`

// User is a resolved jail user.
type User struct {
	UID, GID uint32
	Groups   []uint32
	Home     string

	spec string // the --user it was resolved from
}

// maxEtcFile bounds what prison reads of a jail's passwd or group file.
const maxEtcFile = 4 << 20

// openInRoot opens name (absolute, inside the jail) below root without
// following links out of it: a --root belongs to the jail's tenant. It
// opens regular files only, and reads at most maxEtcFile+1 bytes of them:
// opening a FIFO would wait for a writer that never comes, and a device
// node's open alone can act (a watchdog starts ticking).
func openInRoot(root, name string) (io.ReadCloser, error) {
	if root == "" {
		switch name {
		case "/etc/passwd":
			return io.NopCloser(strings.NewReader(defaultPasswd)), nil
		case "/etc/group":
			return io.NopCloser(strings.NewReader(defaultGroup)), nil
		}
		return nil, os.ErrNotExist
	}
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(dir)
	// O_PATH opens nothing but the name: the file's type is checked
	// before anything opens the file itself.
	path, err := unix.Openat2(dir, strings.TrimPrefix(name, "/"), &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(path)
	var st unix.Stat_t
	if err := unix.Fstat(path, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &os.PathError{Op: "open", Path: name, Err: notRegularError(st.Mode)}
	}
	// Reopening the O_PATH descriptor opens the file just checked, not
	// whatever the tenant may have put at name since. O_NONBLOCK in case
	// that ever is not a regular file after all.
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(path), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, maxEtcFile+1), f}, nil
}

// notRegularError is a file's type where a regular file belongs.
type notRegularError uint32

func (m notRegularError) Error() string {
	kind := fmt.Sprintf("mode %#o", uint32(m)&unix.S_IFMT)
	switch uint32(m) & unix.S_IFMT {
	case unix.S_IFIFO:
		kind = "a FIFO"
	case unix.S_IFCHR:
		kind = "a character device"
	case unix.S_IFBLK:
		kind = "a block device"
	case unix.S_IFSOCK:
		kind = "a socket"
	case unix.S_IFDIR:
		kind = "a directory"
	}
	return "not a regular file but " + kind
}

// colonFile reads /etc/passwd or /etc/group style lines; a missing file
// has none.
func colonFile(root, name string) ([][]string, error) {
	f, err := openInRoot(root, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		err = pe.Err
	}
	if err != nil {
		return nil, fmt.Errorf("the jail's %s: %w", name, err)
	}
	defer f.Close()
	var out [][]string
	var size int
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if size += len(line) + 1; size > maxEtcFile {
			return nil, fmt.Errorf("the jail's %s: larger than %d MiB", name, maxEtcFile>>20)
		}
		if line == "" || line[0] == '#' {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("the jail's %s: %w", name, err)
	}
	return out, nil
}

// lookupUser resolves --user: "NAME", "UID", "UID:GID" or "NAME:GROUP",
// against the jail's own passwd and group files.
func lookupUser(root, spec string) (*User, error) {
	uspec, gspec, hasGroup := strings.Cut(spec, ":")
	passwd, err := colonFile(root, "/etc/passwd")
	if err != nil {
		return nil, fmt.Errorf("--user %q: %w", spec, err)
	}
	u := &User{Home: "/", spec: spec}
	found := false
	if n, err := strconv.ParseUint(uspec, 10, 32); err == nil {
		u.UID, u.GID = uint32(n), uint32(n)
		for _, f := range passwd {
			if len(f) >= 6 && f[2] == uspec {
				found = true
				u.GID, u.Home = parseID(f[3], u.GID), f[5]
				break
			}
		}
	} else {
		for _, f := range passwd {
			if len(f) >= 6 && f[0] == uspec {
				found = true
				u.UID, u.GID, u.Home = parseID(f[2], 0), parseID(f[3], 0), f[5]
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("--user %q: no such user in the jail's /etc/passwd", uspec)
		}
	}
	if uspec == "0" || (u.UID == 0 && !found) {
		u.Home = "/root"
	}
	groups, err := colonFile(root, "/etc/group")
	if err != nil {
		return nil, fmt.Errorf("--user %q: %w", spec, err)
	}
	if hasGroup {
		if n, err := strconv.ParseUint(gspec, 10, 32); err == nil {
			u.GID = uint32(n)
		} else {
			ok := false
			for _, g := range groups {
				if len(g) >= 3 && g[0] == gspec {
					u.GID, ok = parseID(g[2], 0), true
					break
				}
			}
			if !ok {
				return nil, fmt.Errorf("--user %q: no such group in the jail's /etc/group", gspec)
			}
		}
	}
	if found {
		name := uspec
		for _, f := range passwd {
			if len(f) >= 3 && f[2] == strconv.FormatUint(uint64(u.UID), 10) {
				name = f[0]
				break
			}
		}
		for _, g := range groups {
			if len(g) >= 4 && g[3] != "" {
				for _, m := range strings.Split(g[3], ",") {
					if m == name {
						u.Groups = append(u.Groups, parseID(g[2], 0))
					}
				}
			}
		}
	}
	return u, nil
}

func parseID(s string, def uint32) uint32 {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return def
	}
	return uint32(n)
}

// etcHosts maps the hostname to the jail's addresses, or to loopback when
// it has none, so that programs resolving their own name work.
func etcHosts(hostname string, addrs []string) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if len(addrs) == 0 {
		fmt.Fprintf(&b, "127.0.1.1\t%s\n", hostname)
	}
	for _, a := range addrs {
		fmt.Fprintf(&b, "%s\t%s\n", a, hostname)
	}
	return b.Bytes()
}

// resolvConf is the host's resolv.conf unless nameservers are given.
func resolvConf(dns []string) []byte {
	if len(dns) == 0 {
		b, err := os.ReadFile("/etc/resolv.conf")
		if err != nil {
			return nil
		}
		return b
	}
	var b bytes.Buffer
	for _, d := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", d)
	}
	return b.Bytes()
}
