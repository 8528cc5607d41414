package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"prison/internal/sysprobe"
)

// probes are the observations jailprobe can make. Each returns its finding;
// "name=ERRNO" pairs, "ok" for success.
var probes = map[string]func(args []string) string{
	"caps":         caps,
	"fds":          fds,
	"tiocsti":      tiocsti,
	"id":           id,
	"syscalls":     syscalls,
	"nice":         nice,
	"renice-user":  reniceUser,
	"icmp":         icmp,
	"bind-low":     bindLow,
	"netadmin":     netadmin,
	"ptrace-child": ptraceChild,
	"pause":        pause,
	"proc1exe":     proc1exe,
	"chroot":       chroot,
	"chflags":      chflags,
	"hostname":     hostname,
	"shm":          shm,
}

func caps([]string) string {
	b, _ := os.ReadFile("/proc/self/status")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, k := range []string{"CapEff:", "CapBnd:", "CapPrm:", "NoNewPrivs:", "Seccomp:"} {
			if strings.HasPrefix(l, k) {
				out = append(out, strings.Join(strings.Fields(l), "="))
			}
		}
	}
	return strings.Join(out, " ")
}

func fds([]string) string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"="+l)
	}
	return strings.Join(out, " ")
}

// tiocsti injects a character into every terminal the jail holds.
func tiocsti([]string) string {
	for fd := 0; fd < 3; fd++ {
		c := byte('x')
		err := unix.IoctlSetPointerInt(fd, unix.TIOCSTI, int(c))
		if err == nil {
			return fmt.Sprintf("injected via fd %d", fd)
		}
	}
	return "refused"
}

// id prints the real and effective ids: a setuid-root copy of jailprobe
// shows whether exec granted root.
func id([]string) string {
	return fmt.Sprintf("uid=%d euid=%d gid=%d egid=%d", os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid())
}

// errnoName prints an error as the errno's symbolic name (EPERM), "ok" for
// nil.
func errnoName(err error) string {
	if err == nil {
		return "ok"
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return sysprobe.ErrnoName(e)
	}
	return err.Error()
}
