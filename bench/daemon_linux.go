package bench

import "syscall"

// daemonProcAttr puts the daemon in a process group of its own and has the
// kernel send it SIGTERM (drain and exit) should the driver die first.
func daemonProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
