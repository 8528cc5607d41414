package main

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	probes["mqueues-hold"] = mqueuesHold
	probes["mqueue"] = mqueueOnce
}

// mqAttr is struct mq_attr.
type mqAttr struct {
	flags, maxmsg, msgsize, curmsgs int64
	_                               [4]int64
}

// mqOpen creates the POSIX message queue name (without its leading /)
// holding 10 messages of 8 KiB, charged to the caller's RLIMIT_MSGQUEUE.
func mqOpen(name string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	attr := mqAttr{maxmsg: 10, msgsize: 8192}
	fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)),
		unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600, uintptr(unsafe.Pointer(&attr)), 0, 0)
	if e != 0 {
		return e
	}
	return unix.Close(int(fd))
}

// mqueuesHold creates message queues until that fails, prints how many and
// why it stopped, and waits for its stdin to close: the queues live with
// the jail's IPC namespace.
func mqueuesHold([]string) string {
	n := 0
	var err error
	for ; n < 1000; n++ {
		if err = mqOpen(fmt.Sprintf("prison-probe-%d", n)); err != nil {
			break
		}
	}
	fmt.Printf("mqueues=%d stop=%s\n", n, errnoName(err))
	var b [1]byte
	os.Stdin.Read(b[:])
	return "done"
}

// mqueueOnce creates the queue NAME and removes it: whether its caller's
// user may have one more.
func mqueueOnce(args []string) string {
	if len(args) != 1 {
		misuse("mqueue NAME")
	}
	err := mqOpen(args[0])
	if err == nil {
		p, _ := unix.BytePtrFromString(args[0])
		if _, _, e := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0); e != 0 {
			err = e
		}
	}
	return "mq_open=" + errnoName(err)
}
