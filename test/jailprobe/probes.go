package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// probes are the observations jailprobe can make. Each returns one line.
var probes = map[string]func(args []string) string{
	"caps": func([]string) string {
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
	},
	"fds": func([]string) string {
		ents, _ := os.ReadDir("/proc/self/fd")
		var out []string
		for _, e := range ents {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			out = append(out, e.Name()+"="+l)
		}
		return strings.Join(out, " ")
	},
	"tiocsti": func([]string) string {
		// Inject a character into every terminal the jail holds.
		for fd := 0; fd < 3; fd++ {
			c := byte('x')
			err := unix.IoctlSetPointerInt(fd, unix.TIOCSTI, int(c))
			if err == nil {
				return fmt.Sprintf("injected via fd %d", fd)
			}
		}
		return "refused"
	},
}

// errnoName prints an error as the errno's symbolic name (EPERM), "ok" for
// nil.
func errnoName(err error) string {
	if err == nil {
		return "ok"
	}
	var e unix.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
		return fmt.Sprintf("errno %d", int(e))
	}
	return err.Error()
}

var _ = errnoName
