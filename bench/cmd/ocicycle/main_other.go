//go:build !linux

// Command ocicycle runs only on Linux; see main.go.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "ocicycle: Linux only")
	os.Exit(1)
}
