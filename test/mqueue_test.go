package test

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hostMqOpen creates and removes a POSIX message queue of 10 messages of
// 8 KiB in the host's IPC namespace.
func hostMqOpen(name string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	attr := struct {
		flags, maxmsg, msgsize, curmsgs int64
		_                               [4]int64
	}{maxmsg: 10, msgsize: 8192}
	fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)),
		unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600, uintptr(unsafe.Pointer(&attr)), 0, 0)
	if e != 0 {
		return e
	}
	unix.Close(int(fd))
	_, _, e = unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
