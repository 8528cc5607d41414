//go:build linux

// Command loop is the benchmarks' in-jail workload: a static binary
// (CGO_ENABLED=0, so it runs in a root with no libc) that makes one system
// call in a tight loop and prints its cost, so that the price of a seccomp
// filter can be read off without the jail's start-up in the number.
//
//	loop getppid N       getppid(2) N times (a call filters allow outright)
//	loop personality N   personality(0xffffffff), a query (checked by argument)
//	loop socket N        socket(AF_UNIX, SOCK_DGRAM, 0) + close(2) (the family
//	                     is checked by argument)
//	loop stamp           print CLOCK_MONOTONIC in ns and exit
//
// The loop modes print "MODE N calls: X ns/op (…)", X being the median
// over 40 chunks of the count. A call that fails exits 1: a
// benchmark that measures an error path measures the wrong thing.
package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// calls holds one iteration of each mode. RawSyscall skips the Go
// scheduler's bookkeeping: none of these calls block, and the number should
// be the kernel's (and the filter's) cost, not the runtime's.
var calls = map[string]func() unix.Errno{
	"getppid": func() unix.Errno {
		_, _, e := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		return e
	},
	"personality": func() unix.Errno {
		_, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
		return e
	},
	"socket": func() unix.Errno {
		fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if e != 0 {
			return e
		}
		_, _, e = unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
		return e
	},
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "stamp" {
		var ts unix.Timespec
		// Cannot fail for CLOCK_MONOTONIC; a zero would be rejected by the
		// harness as out of range.
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		fmt.Println(ts.Nano())
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loop:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: loop getppid|personality|socket N | loop stamp")
	}
	call, ok := calls[args[0]]
	if !ok {
		return fmt.Errorf("unknown mode %q", args[0])
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n <= 0 {
		return fmt.Errorf("bad count %q", args[1])
	}
	// The count is timed in chunks and the median chunk is reported: a
	// chunk during which the machine's other tenants took the core is an
	// outlier, not the cost of the call.
	chunks := min(n, 40)
	per := make([]float64, 0, chunks)
	t0 := time.Now()
	for c := range chunks {
		m := n/chunks + boolInt(c < n%chunks)
		start := time.Now()
		for range m {
			if e := call(); e != 0 {
				return fmt.Errorf("%s: %w", args[0], e)
			}
		}
		per = append(per, float64(time.Since(start).Nanoseconds())/float64(m))
	}
	mean := float64(time.Since(t0).Nanoseconds()) / float64(n)
	slices.Sort(per)
	fmt.Printf("%s %d calls: %.2f ns/op (median of %d chunks; mean %.2f, min %.2f)\n",
		args[0], n, per[len(per)/2], chunks, mean, per[0])
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
