//go:build !linux

package bench

import (
	"context"
	"errors"
	"io"
)

// CycleMain runs only on Linux, where OCI runtimes run.
func CycleMain(context.Context, []string, io.Writer) error { return errors.New("Linux only") }
