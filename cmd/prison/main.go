// Command prison runs commands in jails: FreeBSD's jails on Linux.
//
//	prison run --ip 10.0.0.5 --host cust1 /bin/sh
//
// Exit status: the command's own; 125 when prison itself fails, 126 when the
// command cannot be executed, 127 when it is not found, 128+N when it died of
// signal N.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"prison/internal/nsinit"
	"prison/prison"
)

// Exit codes of prison itself (DESIGN.md, Names and conventions).
const (
	exitFailure    = 125
	exitCannotExec = 126
	exitNotFound   = 127
)

func main() {
	// The jail's init is C (internal/nsinit) and takes over in a
	// constructor before the Go runtime starts; reaching this point with
	// the sentinel means that constructor was not linked in.
	if len(os.Args) > 1 && os.Args[1] == nsinit.Sentinel {
		fmt.Fprintln(os.Stderr, "prison: bug: the jail init reached the Go runtime (built without cgo?)")
		os.Exit(exitFailure)
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// exitError carries an exit status out of a command without printing.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// run executes the command line and returns the process's exit status. It
// prints each error once, as one line. ctx carries the client when a daemon
// runs it (clientOf).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "prison",
		Short:         "FreeBSD jails on Linux",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(), newSpecCmd(), newSeccompCmd(), newDaemonCmd())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &prison.ParamError{Err: err} })
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(stderr, "prison: %s\n", oneLine(err))
	if h := hint(err); h != "" {
		fmt.Fprintf(stderr, "hint: %s\n", h)
	}
	var xe *prison.ExecError
	if errors.As(err, &xe) {
		return xe.ExitCode()
	}
	return exitFailure
}

// oneLine keeps an error to the one line the user reads.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// hint names the likely cause when the environment, not the input, is wrong.
func hint(err error) string {
	switch {
	case errors.Is(err, prison.ErrNotRoot):
		return "run it with sudo, or as root"
	case errors.Is(err, syscall.ENOSPC):
		return "a namespace limit is reached: see /proc/sys/user/max_*_namespaces"
	case errors.Is(err, syscall.EPERM) && !errors.As(err, new(*prison.ParamError)):
		return "is prison itself running in a container without CAP_SYS_ADMIN?"
	}
	return ""
}
