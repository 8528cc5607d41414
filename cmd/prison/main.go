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
	"runtime"
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

// The main thread is the process as /proc/PID/status and capget(2) see
// it: a daemon's clients check its capabilities so before they trust it
// (client.c, daemon_trusted), and the daemon its own so (daemonIdentity).
// A goroutine that takes a jail's ids on its thread (asOwner, the inotify
// maker of seccomp's notify server, which never gives them back) must
// never run there: locked to the main goroutine from its start, the main
// thread runs nothing else.
func init() { runtime.LockOSThread() }

func main() {
	// The jail's init is C (internal/nsinit) and takes over in a
	// constructor before the Go runtime starts; reaching this point with
	// the sentinel means that constructor was not linked in.
	if len(os.Args) > 1 && os.Args[1] == nsinit.Sentinel {
		fmt.Fprintln(os.Stderr, "prison: bug: the jail init reached the Go runtime (built without cgo?)")
		os.Exit(exitFailure)
	}
	if prison.Rootless() {
		// A user without root keeps jails of their own (prison/rootless_linux.go).
		prison.StateDir = prison.RootlessStateDir()
	}
	if g, rest := splitGlobals(os.Args[1:]); g.given || isOCIName(os.Args[0]) {
		os.Exit(runOCI(context.Background(), g, rest, os.Stdin, os.Stdout, os.Stderr))
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
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
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

// newRootCmd is the command tree. The help, the man pages (make man: see
// docs_test.go) and the shell completion (prison completion) are all made
// from it, so that they say the same.
func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "prison",
		Short: "FreeBSD jails on Linux",
		Long: `prison runs commands in jails, as FreeBSD's jail(8) does: each jail has its
own root, hostname, processes, IPC, and network with the addresses it is
given, and root inside may do what FreeBSD's allow.* parameters let it do.

prison run and prison exec exit with the status of the command they run
(prison help run); the other commands, with the status below.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version is the whole of prison version. Not cobra's own flag: its
	// output goes through text/template, whose use of reflection keeps
	// every method of every type in the binary (2 MB more to map at each
	// start), and it would take -v, which reads as --verbose here, as in
	// prison daemon -v.
	showVersion := root.Flags().Bool("version", false, "print the version (as prison version does)")
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if *showVersion {
			fmt.Fprintln(cmd.OutOrStdout(), versionText())
			return nil
		}
		if len(args) > 0 {
			return &prison.ParamError{Err: fmt.Errorf("%q: not a prison command (see prison help)", args[0])}
		}
		return cmd.Help()
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(), newSpecCmd(), newSeccompCmd(), newDaemonCmd(), newVersionCmd())
	root.AddCommand(lifecycleCmds()...)
	root.AddCommand(imageCmd(), rootfsCmd())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &prison.ParamError{Err: err} })
	for _, c := range root.Commands() {
		if e, ok := examples[c.Name()]; ok && c.Example == "" {
			c.Example = e
		}
	}
	// Execute adds help and completion itself, after this walk would
	// have passed: add them first, so that they get their table too.
	// Preconditions: the output is set (completion keeps the one it
	// finds here).
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	addExitStatus(root)
	return root
}

// runsCommand names the commands that run a command in a jail and exit
// with its status, whose Exit status table says so.
var runsCommand = map[string]bool{"prison run": true, "prison exec": true}

// exitRow is one row of a command's Exit status table.
type exitRow struct{ status, meaning string }

var (
	ownStatus = []exitRow{
		{"0", "success"},
		{"125", "prison itself failed (bad input included)"},
	}
	commandStatus = []exitRow{
		{"N", "the command exited with status N"},
		{"128+N", "the command died of signal N"},
		{"125", "prison itself failed (bad input included)"},
		{"126", "the command cannot be executed"},
		{"127", "the command was not found"},
	}
)

func exitStatus(cmd *cobra.Command) []exitRow {
	if runsCommand[cmd.CommandPath()] {
		return commandStatus
	}
	return ownStatus
}

// exitStatusText is the table as the help prints it, after the description.
func exitStatusText(cmd *cobra.Command) string {
	var b strings.Builder
	b.WriteString("\n\nExit status:")
	for _, r := range exitStatus(cmd) {
		fmt.Fprintf(&b, "\n  %-6s %s", r.status, r.meaning)
	}
	return b.String()
}

// addExitStatus ends the description of every command in the tree with its
// Exit status table: those added later get theirs without asking.
func addExitStatus(cmd *cobra.Command) {
	long := cmd.Long
	if long == "" {
		long = cmd.Short // which the help prints only while Long is empty
	}
	cmd.Long = strings.TrimRight(long, "\n") + exitStatusText(cmd)
	for _, c := range cmd.Commands() {
		addExitStatus(c)
	}
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
	case errors.Is(err, syscall.EPERM) && prison.Rootless():
		return "that needs root: run it with sudo, or as root"
	case errors.Is(err, syscall.ENOSPC):
		return "a namespace limit is reached: see /proc/sys/user/max_*_namespaces"
	case errors.Is(err, syscall.EPERM) && !errors.As(err, new(*prison.ParamError)):
		return "is prison itself running in a container without CAP_SYS_ADMIN?"
	}
	return ""
}
