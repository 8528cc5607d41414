// Command jailprobe runs inside a jail in the integration tests and reports
// what it observed. It is static (CGO_ENABLED=0), so it runs on any root.
//
// It exits 0 when the probe itself ran, whatever it found, and prints the
// finding on stdout: one line, or for syscalls one line per call. 3 means
// the probe was misused, 4 that it could not make its observation (its own
// setup failed). A test therefore tells "denied" (exit 0, "EPERM") from "did
// not start" (prison's 125/127, or 3 and 4).
package main

import (
	"fmt"
	"os"
	"sort"
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
	var names []string
	for n := range probes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintln(os.Stderr, "  ", n)
	}
	os.Exit(3)
}

// misuse ends jailprobe for bad arguments.
func misuse(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "jailprobe: "+format+"\n", args...)
	os.Exit(3)
}

// fail ends jailprobe when its own setup failed, before it observed
// anything: a denial must never look like that.
func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "jailprobe: "+format+"\n", args...)
	os.Exit(4)
}
