package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"prison/internal/nsinit"
	"prison/prison"
)

// prison is also an OCI runtime with runc's command line, which containerd
// and podman drive. The two command lines meet: runc's global --root is a
// state directory where prison run's --root is the jail's root, runc's
// delete -f is --force where prison's -f is a jail.conf, and runc's run
// takes a bundle. runc's form is chosen by name (a prison-oci link, which
// containerd's BinaryName and podman's --runtime point at) or by a global
// option before the verb, which prison's own command line never has.
// prison run --bundle and prison create --bundle take a bundle in prison's
// form too. The verbs are those below; the jail they make is a jail like
// any other (prison/oci_linux.go).

// ociName is the name under which prison takes runc's command line.
const ociName = nsinit.OCIName

// ociGlobals are runc's global options.
type ociGlobals struct {
	root, log, logFormat string
	systemdCgroup, debug bool
	given                bool // any of them came before the verb
}

// splitGlobals takes runc's global options off the front of args. It stops
// at the first argument that is not one, which is the verb, or an option
// such as --help or --version that the command tree knows.
func splitGlobals(args []string) (ociGlobals, []string) {
	var g ociGlobals
	valued := map[string]*string{"--root": &g.root, "--log": &g.log, "--log-format": &g.logFormat, "--criu": new(string), "--rootless": new(string)}
	flags := map[string]*bool{"--systemd-cgroup": &g.systemdCgroup, "--debug": &g.debug}
	for len(args) > 0 {
		a := args[0]
		name, val, hasVal := strings.Cut(a, "=")
		if p, ok := valued[name]; ok {
			switch {
			case hasVal:
				*p, args = val, args[1:]
			case len(args) > 1:
				*p, args = args[1], args[2:]
			default:
				return g, args
			}
			g.given = true
			continue
		}
		if p, ok := flags[name]; ok {
			*p = !hasVal || val == "true"
			g.given, args = true, args[1:]
			continue
		}
		break
	}
	return g, args
}

// isOCIName tells whether the program was called by the OCI name.
func isOCIName(argv0 string) bool { return filepath.Base(argv0) == ociName }

// runOCI executes runc's command line. Errors go to stderr, and to the
// log when --log is given: containerd and podman read the last error line
// of the log and show it to their user.
func runOCI(ctx context.Context, g ociGlobals, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if g.root != "" {
		prison.StateDir = filepath.Clean(g.root)
	}
	root := newOCIRootCmd()
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var hw *prison.HookWarning
	if errors.As(err, &hw) {
		fmt.Fprintf(stderr, "prison: %s\n", oneLine(err))
		if g.log != "" {
			logLine(g.log, g.logFormat, "warning", oneLine(hw.Err))
		}
		return 0
	}
	msg := oneLine(err)
	var xe *prison.ExecError
	if errors.As(err, &xe) {
		// runc's words, which podman reads to choose its exit status.
		if errors.Is(xe.Err, syscall.ENOENT) {
			msg = fmt.Sprintf("exec: %q: executable file not found in $PATH", xe.Name)
		} else {
			msg = fmt.Sprintf("exec: %q: %v", xe.Name, xe.Err)
		}
	}
	fmt.Fprintf(stderr, "prison: %s\n", msg)
	if g.log != "" {
		logError(g.log, g.logFormat, msg)
	}
	if xe != nil {
		return xe.ExitCode()
	}
	return exitFailure
}

// logError appends msg to the log as runc writes it: a JSON object per
// line, or logrus's text.
func logError(path, format, msg string) { logLine(path, format, "error", msg) }

// logLine appends one line of level to the log.
func logLine(path, format, level, msg string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if format == "json" {
		b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		fmt.Fprintf(f, "%s\n", b)
		return
	}
	fmt.Fprintf(f, "time=%q level=%s msg=%q\n", now, level, msg)
}

func newOCIRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   ociName,
		Short: "prison as an OCI runtime, with runc's command line",
		Long: `prison-oci is prison with runc's command line, for containerd, Kubernetes and
podman: global options (--root STATE, --log FILE, --log-format text|json,
--systemd-cgroup, --debug) before the verb, and runc's verbs. Each container
is a jail, made from its bundle's config.json.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
	}
	showVersion := root.Flags().BoolP("version", "v", false, "print the version")
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if *showVersion {
			fmt.Fprintf(cmd.OutOrStdout(), "%s\nspec: %s\n", versionText(), specs.Version)
			return nil
		}
		return cmd.Help()
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &prison.ParamError{Err: err} })
	root.AddCommand(ociCreateCmd(), ociRunCmd(), ociStartCmd(), ociStateCmd(), ociKillCmd(), ociDeleteCmd(),
		ociExecCmd(), ociPsCmd(), ociListCmd(), ociPauseCmd(true), ociPauseCmd(false), ociUpdateCmd(),
		ociFeaturesCmd(), ociEventsCmd(), ociSpecCmd(), newVersionCmd())
	root.InitDefaultHelpCmd()
	return root
}

// ociOpts are the options of create and run.
type ociOpts struct {
	bundle, pidFile, consoleSocket string
	preserveFDs                    int
	detach, noPivot, noNewKeyring  bool
	files                          []*os.File // --preserve-fds's
}

func (o *ociOpts) flags(cmd *cobra.Command, run bool) {
	fs := cmd.Flags()
	fs.StringVarP(&o.bundle, "bundle", "b", "", "the bundle: the directory of config.json (default: the current one)")
	fs.StringVar(&o.pidFile, "pid-file", "", "write the container process's host pid to this file")
	fs.StringVar(&o.consoleSocket, "console-socket", "", "a unix socket that gets the terminal's master (process.terminal)")
	fs.IntVar(&o.preserveFDs, "preserve-fds", 0, "pass this many descriptors after stdio, as 3 on: sockets and pipes only")
	fs.BoolVar(&o.noPivot, "no-pivot", false, "accepted; prison always pivots")
	fs.BoolVar(&o.noNewKeyring, "no-new-keyring", false, "accepted; a jail cannot use the keyring (seccomp refuses keyctl)")
	if run {
		fs.BoolVarP(&o.detach, "detach", "d", false, "return once the container runs")
		fs.Bool("keep", false, "keep the container's record after it exits (delete removes it)")
	}
}

// check refuses what prison does not do.
func (o *ociOpts) check() (err error) {
	o.files, err = prison.PassableFiles(o.preserveFDs)
	return err
}

// container checks the options and the bundle for container id, to be
// recorded once its jail starts.
func (o *ociOpts) container(id string) (*prison.Container, *specs.Spec, error) {
	if err := o.check(); err != nil {
		return nil, nil, err
	}
	spec, err := prison.LoadBundle(o.bundle)
	if err != nil {
		return nil, nil, err
	}
	c, err := prison.NewContainer(id, o.bundle, spec)
	return c, spec, err
}

func ociCreateCmd() *cobra.Command {
	var o ociOpts
	cmd := &cobra.Command{
		Use:   "create [options] ID",
		Short: "Create a container from a bundle; its process waits for start",
		Args:  ociID,
		RunE: func(cmd *cobra.Command, args []string) error {
			return createContainer(args[0], &o)
		},
	}
	o.flags(cmd, false)
	return cmd
}

// ociID checks the one argument of a verb that names a container.
func ociID(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return &prison.ParamError{Err: fmt.Errorf("ID: want one container id, got %d arguments", len(args))}
	}
	return nil
}

// createContainer makes the container, its process waiting for start:
// created, in runtime-spec's words. The process is this one's child, and
// becomes its caller's (a subreaper's, such as containerd's shim) when this
// one exits.
func createContainer(id string, o *ociOpts) error {
	c, spec, err := o.container(id)
	if err != nil {
		return err
	}
	if spec.Process.Terminal && o.consoleSocket == "" {
		return &prison.ParamError{Err: errors.New("--console-socket: missing, and process.terminal is true: " +
			"the terminal's master has nowhere to go")}
	}
	j := &prison.Jail{Name: id, Spec: spec, Created: true, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Files: o.files}
	if err := j.Start(); err != nil {
		return err
	}
	if err := c.Record(j); err != nil {
		return err
	}
	return detached(j, c, o.consoleSocket, o.pidFile)
}

// detached hands what a caller keeps of a process that outlives this one:
// its terminal's master, over the console socket, and its pid, in the pid
// file. The process is killed when either fails.
func detached(j *prison.Jail, c *prison.Container, consoleSocket, pidFile string) error {
	err := func() error {
		if j.Console != nil {
			defer j.Console.Close()
			if err := sendConsole(consoleSocket, j.Console); err != nil {
				return err
			}
		}
		if pidFile != "" {
			return writePidFile(pidFile, j.Pid())
		}
		return nil
	}()
	if err != nil {
		if c != nil {
			_ = prison.DeleteContainer(c.ID, true)
		} else {
			_ = unix.Kill(j.Pid(), unix.SIGKILL)
		}
	}
	return err
}

// sendConsole passes the terminal's master over the unix socket at path
// (SCM_RIGHTS), as runc does.
func sendConsole(path string, master *os.File) error {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return &prison.ParamError{Err: fmt.Errorf("--console-socket %q: %w", path, err)}
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("--console-socket %q: not a unix socket", path)
	}
	if _, _, err := uc.WriteMsgUnix([]byte(master.Name()), unix.UnixRights(int(master.Fd())), nil); err != nil {
		return fmt.Errorf("--console-socket %q: send the terminal: %w", path, err)
	}
	return nil
}

// writePidFile writes pid so that a reader never sees a partial file.
func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return &prison.ParamError{Err: fmt.Errorf("--pid-file %q: %w", path, err)}
	}
	tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o600); err != nil {
		return &prison.ParamError{Err: fmt.Errorf("--pid-file %q: %w", path, err)}
	}
	if err := os.Rename(tmp, abs); err != nil {
		os.Remove(tmp)
		return &prison.ParamError{Err: fmt.Errorf("--pid-file %q: %w", path, err)}
	}
	return nil
}

func ociRunCmd() *cobra.Command {
	var o ociOpts
	cmd := &cobra.Command{
		Use:   "run [options] ID",
		Short: "Create and start a container; without -d, wait for it and delete it",
		Args:  ociID,
		RunE: func(cmd *cobra.Command, args []string) error {
			keep, _ := cmd.Flags().GetBool("keep")
			return runContainer(args[0], &o, keep)
		},
	}
	o.flags(cmd, true)
	return cmd
}

// runContainer is runc run: created and started at once. In the
// foreground it is a jail run as prison run runs one, relaying a terminal
// or stdio, and its exit status is the container's.
func runContainer(id string, o *ociOpts, keep bool) error {
	if o.detach {
		if err := createContainer(id, o); err != nil {
			return err
		}
		return prison.StartContainer(id)
	}
	c, spec, err := o.container(id)
	if err != nil {
		return err
	}
	j := &prison.Jail{Name: id, Spec: spec, Files: o.files}
	tty := spec.Process.Terminal
	if tty && !term.IsTerminal(int(os.Stdin.Fd())) {
		return &prison.ParamError{Err: errors.New("process.terminal: true, but stdin is not a terminal (run it with -d and --console-socket)")}
	}
	code, err := attachStarted(j, tty, false, func() error {
		if err := c.Record(j); err != nil {
			return err
		}
		if o.pidFile != "" {
			return writePidFile(o.pidFile, j.Pid())
		}
		return nil
	})
	if !keep {
		derr := prison.DeleteContainer(id, true)
		var hw *prison.HookWarning
		if errors.As(derr, &hw) {
			fmt.Fprintf(os.Stderr, "prison: %s\n", oneLine(derr))
			derr = nil
		}
		if err == nil && !errors.As(derr, new(*prison.NoContainerError)) {
			err = derr
		}
	}
	if err != nil {
		return err
	}
	return &exitError{code: code}
}

func ociStartCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "start ID",
		Short: "Start the process of a created container",
		Args:  ociID,
		RunE:  func(_ *cobra.Command, args []string) error { return prison.StartContainer(args[0]) },
	}
}

func ociStateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "state ID",
		Short: "Print the container's state (runtime-spec's state JSON)",
		Args:  ociID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := prison.FindContainer(args[0])
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), c.State())
		},
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func ociKillCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "kill [--all] ID [SIGNAL]",
		Short: "Send a signal (default SIGTERM) to the container's process, or with --all to each of its processes",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return &prison.ParamError{Err: errors.New("want ID [SIGNAL]")}
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			sig := syscall.SIGTERM
			if len(args) == 2 {
				var err error
				if sig, err = parseSignal(args[1]); err != nil {
					return err
				}
			}
			return prison.KillContainer(args[0], sig, all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "every process of the container")
	return cmd
}

func ociDeleteCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete [--force] ID",
		Short: "Delete a stopped container (or, with --force, kill it first)",
		Args:  ociID,
		RunE: func(_ *cobra.Command, args []string) error {
			err := prison.DeleteContainer(args[0], force)
			if force && errors.As(err, new(*prison.NoContainerError)) {
				return nil // runc delete --force of what is gone succeeds
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first")
	return cmd
}

func ociExecCmd() *cobra.Command {
	var (
		processFile, pidFile, consoleSocket, cwd, user string
		env, caps                                      []string
		gids                                           []int
		detach, tty, noNewPrivs                        bool
		preserveFDs                                    int
	)
	cmd := &cobra.Command{
		Use:   "exec [options] ID [COMMAND [ARG...]]",
		Short: "Run a process in a running container (--process FILE: a runtime-spec process)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := prison.PassableFiles(preserveFDs)
			if err != nil {
				return err
			}
			if c, err := prison.FindContainer(args[0]); err == nil && c.Status() != prison.StatusRunning {
				// A paused container's cgroup would freeze the new
				// process too; a created one has not started.
				return fmt.Errorf("container %q: cannot exec in it while it is %s", args[0], c.Status())
			}
			r, err := prison.ContainerJail(args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			p, err := execProcess(r, processFile, args[1:])
			if err != nil {
				return err
			}
			fs := cmd.Flags()
			if fs.Changed("tty") {
				p.Terminal = tty
			}
			if cwd != "" {
				p.Cwd = cwd
			}
			p.Env = append(p.Env, env...)
			if user != "" {
				u, g, ok := strings.Cut(user, ":")
				uid, err1 := strconv.ParseUint(u, 10, 32)
				gid, err2 := strconv.ParseUint(g, 10, 32)
				if err1 != nil || ok && err2 != nil {
					return &prison.ParamError{Err: fmt.Errorf("--user %q: want UID[:GID]", user)}
				}
				p.User.UID = uint32(uid)
				if ok {
					p.User.GID = uint32(gid)
				}
			}
			for _, g := range gids {
				p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
			}
			if noNewPrivs {
				p.NoNewPrivileges = true
			}
			if len(caps) > 0 && p.Capabilities != nil {
				for _, c := range caps {
					c = strings.ToUpper(c)
					if !strings.HasPrefix(c, "CAP_") {
						c = "CAP_" + c
					}
					p.Capabilities.Effective = append(p.Capabilities.Effective, c)
					p.Capabilities.Permitted = append(p.Capabilities.Permitted, c)
				}
			}
			if p.Terminal && detach && consoleSocket == "" {
				return &prison.ParamError{Err: errors.New("--console-socket: missing, and the process has a terminal while --detach")}
			}
			j, err := r.CommandProcess(p)
			if err != nil {
				return err
			}
			j.Files = files
			if detach {
				j.Detach = true
				j.Stdin, j.Stdout, j.Stderr = os.Stdin, os.Stdout, os.Stderr
				if err := j.Start(); err != nil {
					return err
				}
				return detached(j, nil, consoleSocket, pidFile)
			}
			if p.Terminal && consoleSocket != "" {
				return &prison.ParamError{Err: errors.New("--console-socket: only with --detach")}
			}
			code, err := attachStarted(j, p.Terminal, true, func() error {
				if pidFile != "" {
					return writePidFile(pidFile, j.Pid())
				}
				return nil
			})
			if err != nil {
				return err
			}
			return &exitError{code: code}
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.StringVarP(&processFile, "process", "p", "", "a runtime-spec process JSON file")
	fs.BoolVarP(&detach, "detach", "d", false, "return once the process runs")
	fs.StringVar(&pidFile, "pid-file", "", "write the process's host pid to this file")
	fs.BoolVarP(&tty, "tty", "t", false, "give the process a terminal")
	fs.StringVar(&consoleSocket, "console-socket", "", "a unix socket that gets the terminal's master")
	fs.IntVar(&preserveFDs, "preserve-fds", 0, "pass this many descriptors after stdio, as 3 on: sockets and pipes only")
	fs.StringVar(&cwd, "cwd", "", "working directory")
	fs.StringArrayVarP(&env, "env", "e", nil, "KEY=VALUE (repeatable)")
	fs.StringVarP(&user, "user", "u", "", "UID[:GID]")
	fs.IntSliceVarP(&gids, "additional-gids", "g", nil, "supplementary groups")
	fs.StringArrayVarP(&caps, "cap", "c", nil, "a capability to add (within the container's bounding set)")
	fs.BoolVar(&noNewPrivs, "no-new-privs", false, "set no_new_privs")
	fs.String("process-label", "", "accepted; no SELinux")
	fs.String("apparmor", "", "accepted; no AppArmor")
	return cmd
}

// execProcess is the process exec runs: the file's, or the container's own
// with args for its command.
func execProcess(r *prison.Running, file string, args []string) (*specs.Process, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, &prison.ParamError{Err: fmt.Errorf("--process %q: %w", file, err)}
		}
		var p specs.Process
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, &prison.ParamError{Err: fmt.Errorf("--process %q: %w", file, err)}
		}
		return &p, nil
	}
	if len(args) == 0 {
		return nil, &prison.ParamError{Err: errors.New("COMMAND: missing, and no --process file")}
	}
	s, err := r.Spec()
	if err != nil {
		return nil, err
	}
	p := *s.Process
	p.Args, p.Terminal = args, false
	return &p, nil
}

func ociPsCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps [--format table|json] ID",
		Short: "List the container's processes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := prison.ContainerJail(args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			procs, err := r.Processes()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				pids := make([]int, 0, len(procs))
				for _, p := range procs {
					pids = append(pids, p.PID)
				}
				return json.NewEncoder(out).Encode(pids)
			case "table":
				return printProcesses(out, procs)
			}
			return &prison.ParamError{Err: fmt.Errorf("--format %q: want table or json", format)}
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	return cmd
}

// containerSummary is one container of runc's list --format json.
type containerSummary struct {
	Version        string            `json:"ociVersion"`
	ID             string            `json:"id"`
	InitProcessPid int               `json:"pid"`
	Status         string            `json:"status"`
	Bundle         string            `json:"bundle"`
	Rootfs         string            `json:"rootfs"`
	Created        time.Time         `json:"created"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	Owner          string            `json:"owner"`
}

func ociListCmd() *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "list [--format table|json] [-q]",
		Short: "List the containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := prison.Containers()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if quiet {
				for _, c := range cs {
					fmt.Fprintln(out, c.ID)
				}
				return nil
			}
			var sums []containerSummary
			for _, c := range cs {
				st := c.State()
				sums = append(sums, containerSummary{
					Version: st.Version, ID: c.ID, InitProcessPid: st.Pid, Status: string(st.Status),
					Bundle: c.Bundle, Rootfs: filepath.Join(c.Bundle, "rootfs"), Created: c.Created,
					Annotations: c.Annotations, Owner: "root",
				})
			}
			switch format {
			case "json":
				if sums == nil {
					sums = []containerSummary{}
				}
				return json.NewEncoder(out).Encode(sums)
			case "table":
				tw := tabwriter.NewWriter(out, 12, 1, 3, ' ', 0)
				fmt.Fprintln(tw, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
				for _, s := range sums {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.InitProcessPid, s.Status, s.Bundle,
						s.Created.Format(time.RFC3339Nano), s.Owner)
				}
				return tw.Flush()
			}
			return &prison.ParamError{Err: fmt.Errorf("--format %q: want table or json", format)}
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "ids only")
	return cmd
}

func ociPauseCmd(pause bool) *cobra.Command {
	verb, short, do := "pause", "Freeze every process of the container", prison.PauseContainer
	if !pause {
		verb, short, do = "resume", "Thaw a paused container", prison.ResumeContainer
	}
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  ociID,
		RunE:  func(_ *cobra.Command, args []string) error { return do(args[0]) },
	}
}

func ociUpdateCmd() *cobra.Command {
	var resources string
	cmd := &cobra.Command{
		Use:   "update [--resources FILE|-] ID",
		Short: "Change the container's limits (linux.resources JSON)",
		Args:  ociID,
		RunE: func(cmd *cobra.Command, args []string) error {
			var r specs.LinuxResources
			var b []byte
			var err error
			switch resources {
			case "":
				return &prison.ParamError{Err: errors.New("--resources: missing (a linux.resources JSON file, or - for stdin)")}
			case "-":
				b, err = io.ReadAll(cmd.InOrStdin())
			default:
				b, err = os.ReadFile(resources)
			}
			if err == nil {
				err = json.Unmarshal(b, &r)
			}
			if err != nil {
				return &prison.ParamError{Err: fmt.Errorf("--resources %q: %w", resources, err)}
			}
			j, err := prison.ContainerJail(args[0])
			if err != nil {
				return err
			}
			defer j.Close()
			return j.Update(&r)
		},
	}
	cmd.Flags().StringVarP(&resources, "resources", "r", "", "linux.resources JSON file, or - for stdin")
	return cmd
}

func ociEventsCmd() *cobra.Command {
	var stats bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "events [--stats] [--interval D] ID",
		Short: "Print the container's resource usage, once (--stats) or every interval until it stops",
		Args:  ociID,
		RunE: func(cmd *cobra.Command, args []string) error {
			enc := json.NewEncoder(cmd.OutOrStdout())
			for {
				r, err := prison.ContainerJail(args[0])
				if err != nil {
					if !stats && !errors.As(err, new(*prison.NoContainerError)) {
						return nil // stopped: the stream ends
					}
					return err
				}
				st, err := r.Stats()
				r.Close()
				if err != nil {
					return err
				}
				if err := enc.Encode(map[string]any{"type": "stats", "id": args[0], "data": ociStats(st)}); err != nil {
					return err
				}
				if stats {
					return nil
				}
				time.Sleep(interval)
			}
		},
	}
	cmd.Flags().BoolVar(&stats, "stats", false, "print the usage once and exit")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "time between two reports")
	return cmd
}

// ociStats is a jail's usage in runc's events types (the fields prison
// knows).
func ociStats(s *prison.Stats) map[string]any {
	return map[string]any{
		"cpu":    map[string]any{"usage": map[string]any{"total": s.CPU.Nanoseconds()}},
		"memory": map[string]any{"usage": map[string]any{"usage": s.Memory, "limit": s.MemoryLimit}},
		"pids":   map[string]any{"current": s.Pids, "limit": s.PidsLimit},
	}
}

func ociFeaturesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "Print what this runtime implements (runtime-spec's features JSON)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return printJSON(cmd.OutOrStdout(), prison.Features()) },
	}
}

func ociSpecCmd() *cobra.Command {
	var bundle string
	cmd := &cobra.Command{
		Use:   "spec [--bundle DIR]",
		Short: "Write a config.json for a bundle whose root is DIR/rootfs: the jail prison run would make",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return writeBundleSpec(bundle, []string{"sh"})
		},
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", ".", "the bundle directory")
	cmd.Flags().Bool("rootless", false, "accepted; prison makes the same spec")
	return cmd
}

// writeBundleSpec writes DIR/config.json: prison's jail for args, with its
// root at DIR/rootfs, runnable by run --bundle there.
func writeBundleSpec(dir string, args []string) error {
	path := filepath.Join(dir, "config.json")
	if _, err := os.Stat(path); err == nil {
		return &prison.ParamError{Err: fmt.Errorf("%s: exists already", path)}
	}
	s, err := prison.BundleSpec(args)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644) //nolint:gosec // a bundle's config.json, as runc spec writes it: no secret in it
}
