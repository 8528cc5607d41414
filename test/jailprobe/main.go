// Command jailprobe runs inside a jail in the integration tests and reports
// what it observed. It is static (CGO_ENABLED=0), so it runs on any root.
//
// It exits 0 when the probe itself ran, whatever it found, and prints the
// finding on stdout; 3 means the probe was misused. A test therefore tells
// "denied" (exit 0, "EPERM") from "did not start" (prison's 125/127).
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	p, ok := probes[os.Args[1]]
	if !ok {
		usage()
	}
	fmt.Println(p(os.Args[2:]))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: jailprobe PROBE [ARG...]")
	for n := range probes {
		fmt.Fprintln(os.Stderr, "  ", n)
	}
	os.Exit(3)
}
