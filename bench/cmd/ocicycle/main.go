//go:build linux

// Command ocicycle is the OCI section's driver of one container (see
// bench/ocicycle.go): as a child subreaper, it runs
//
//	RUNTIME --root ROOT create --bundle BUNDLE --pid-file PIDFILE ID
//	RUNTIME --root ROOT start ID
//	(waits for the process in PIDFILE, which must exit 0)
//	RUNTIME --root ROOT delete ID
//
// and prints each step's wall time in ms on one line, after their sum:
//
//	ocicycle: {"total":…,"create":…,"start":…,"wait":…,"delete":…}
//
// It leaves nothing of the container behind, even when a step fails: it
// then says why on stderr and exits 1. benchjail builds it for the run:
//
//	go build -o DIR/ocicycle ./bench/cmd/ocicycle
//	DIR/ocicycle -runtime /usr/bin/crun -root STATE -bundle BUNDLE -pid-file FILE ID
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"prison/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := bench.CycleMain(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocicycle:", err)
		os.Exit(1)
	}
}
