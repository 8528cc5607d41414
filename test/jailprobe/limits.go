package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	probes["hog"] = hog
	probes["forkbomb"] = forkbomb
	probes["burn"] = burn
	probes["fill"] = fill
}

// hog MIB allocates and touches MIB mebibytes, one at a time, printing
// each to stderr, so that a test sees how far it got before the OOM
// killer (SIGKILL) stopped it. "held MIB" when nothing did.
func hog(args []string) string {
	if len(args) != 1 {
		misuse("hog MIB")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		misuse("hog %q: want MiB", args[0])
	}
	var held [][]byte
	for i := 1; i <= n; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		held = append(held, b)
		fmt.Fprintf(os.Stderr, "%d\n", i)
	}
	runtime.KeepAlive(held)
	return fmt.Sprintf("held %d", n)
}

// forkbomb N starts up to N processes that wait, and reports how many it
// got before fork failed, and why: "forked K: EAGAIN". Its children die
// with it (parent-death signal), so the jail is usable afterwards.
func forkbomb(args []string) string {
	if len(args) != 1 {
		misuse("forkbomb N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		misuse("forkbomb %q: want a number", args[0])
	}
	self, err := os.Executable()
	if err != nil {
		fail("forkbomb: %v", err)
	}
	attr := &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}}
	var pids []int
	defer func() {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(p, &ws, 0, nil)
		}
	}()
	for len(pids) < n {
		pid, err := syscall.ForkExec(self, []string{self, "pause"}, attr)
		if err != nil {
			var e syscall.Errno
			if errors.As(err, &e) {
				return fmt.Sprintf("forked %d: %s", len(pids), unix.ErrnoName(e))
			}
			return fmt.Sprintf("forked %d: %v", len(pids), err)
		}
		pids = append(pids, pid)
	}
	return fmt.Sprintf("forked %d", len(pids))
}

// burn SECONDS keeps every CPU busy for SECONDS of wall time and reports
// how many cores' worth of CPU time it got: "cores 0.49".
func burn(args []string) string {
	if len(args) != 1 {
		misuse("burn SECONDS")
	}
	secs, err := strconv.ParseFloat(args[0], 64)
	if err != nil {
		misuse("burn %q: want seconds", args[0])
	}
	var before, after unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &before)
	start := time.Now()
	end := start.Add(time.Duration(secs * float64(time.Second)))
	done := make(chan struct{})
	for i := 0; i < runtime.NumCPU(); i++ {
		go func() {
			for time.Now().Before(end) {
			}
			done <- struct{}{}
		}()
	}
	for i := 0; i < runtime.NumCPU(); i++ {
		<-done
	}
	wall := time.Since(start)
	_ = unix.Getrusage(unix.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	return fmt.Sprintf("cores %.2f cpu %.6f", cpu.Seconds()/wall.Seconds(), cpu.Seconds())
}

// fill FILE writes zeros to FILE until a write fails, and reports how many
// MiB it wrote and why it stopped: "wrote 64: ENOSPC".
func fill(args []string) string {
	if len(args) != 1 {
		misuse("fill FILE")
	}
	f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fail("fill: %v", err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if err != nil {
			var e syscall.Errno
			if errors.As(err, &e) {
				return fmt.Sprintf("wrote %d: %s", n>>20, unix.ErrnoName(e))
			}
			return fmt.Sprintf("wrote %d: %v", n>>20, err)
		}
	}
}
