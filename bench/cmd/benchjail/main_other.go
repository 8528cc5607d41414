//go:build !linux

// Command benchjail runs only on Linux; see main.go.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "benchjail: Linux only")
	os.Exit(1)
}
