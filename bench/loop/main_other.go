//go:build !linux

// Command loop runs only on Linux; see main.go.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "loop: Linux only")
	os.Exit(1)
}
