package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	probes["sethostname-loop"] = sethostnameLoop
	probes["seccomp-exec"] = seccompExec
}

// sethostnameLoop calls sethostname as fast as it is answered for SECONDS,
// as a jail flooding its launcher would, and counts the outcomes.
//
//	sethostname-loop SECONDS
func sethostnameLoop(args []string) string {
	if len(args) != 1 {
		misuse("sethostname-loop SECONDS")
	}
	secs, err := strconv.ParseFloat(args[0], 64)
	if err != nil {
		misuse("sethostname-loop: %v", err)
	}
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	counts := map[string]int{}
	calls := 0
	for time.Now().Before(end) {
		counts[errnoName(unix.Sethostname([]byte("flood"+strconv.Itoa(calls%10))))]++
		calls++
	}
	return fmt.Sprintf("calls=%d ok=%d", calls, counts["ok"])
}

// seccompExec installs a seccomp filter that allows every call, without
// no_new_privs (root may), and executes PROG: a process confined by a
// filter of its own, however lax.
//
//	seccomp-exec PROG [ARG...]
func seccompExec(args []string) string {
	if len(args) < 1 {
		misuse("seccomp-exec PROG [ARG...]")
	}
	// The filter and the exec must be one thread's: a filter installed
	// without TSYNC is the calling thread's alone.
	runtime.LockOSThread()
	insn := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}
	prog := unix.SockFprog{Len: uint16(len(insn)), Filter: &insn[0]}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); e != 0 {
		fail("seccomp: %v", e)
	}
	err := syscall.Exec(args[0], args, os.Environ())
	fail("exec %s: %v", args[0], err)
	return ""
}
