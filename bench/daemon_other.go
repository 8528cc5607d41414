//go:build !linux

package bench

import "syscall"

// daemonProcAttr: the daemon runs only on Linux.
func daemonProcAttr() *syscall.SysProcAttr { return nil }
