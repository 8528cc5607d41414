package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"prison/prison"
)

// lifecycleCmds are the verbs of jails with a life of their own: FreeBSD's
// jail -c / -m / -r, jls and jexec, with runc's names where they meet.
func lifecycleCmds() []*cobra.Command {
	return []*cobra.Command{
		newCreateCmd(), ociStartCmd(), ociStateCmd(), newExecCmd(), newListCmd(), newSetCmd(), newStopCmd("stop"), newStopCmd("delete"),
		newRestartCmd(), newKillCmd(), newWhichCmd(), newPsCmd(), newConfigCmd(), newStatsCmd(),
	}
}

// defaultConfFile is jail.conf's place for prison, as /etc/jail.conf is
// FreeBSD's.
const defaultConfFile = "/etc/prison.conf"

func newCreateCmd() *cobra.Command {
	c := defaultConfig()
	var file string
	var oci ociOpts
	cmd := &cobra.Command{
		Use:   "create [options] NAME [PARAM=VALUE...] | -f FILE [NAME...]",
		Short: "Create a named jail that stays up with no command running (jail -c)",
		Long: `Create a persistent jail: it stays up, with no command running, until prison
stop or prison delete, and outlives the shell that made it, a daemon and any
prison process. Options are those of prison run; jail(8)'s PARAM=VALUE form
works too (host.hostname=web1 ip4.addr=10.0.0.5 path=/srv/web1
allow.raw_sockets). exec.start (or command) runs inside once the jail is up;
if it fails, the jail is removed again.

With -f and no NAME, every jail of the file is created, each after the jails
it depends on (depend).`,
		Example: `  prison create --ip 10.0.0.5 web1
  prison create web2 host.hostname=web2.example ip4.addr=10.0.0.6 exec.start="/bin/sh /etc/rc"
  prison create -f /etc/prison.conf
  prison create -f jails.conf db web`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("bundle") {
				// runc's create, in prison's own command line.
				if len(args) != 1 {
					return &prison.ParamError{Err: fmt.Errorf("--bundle: want one container ID, got %d arguments", len(args))}
				}
				return createContainer(args[0], &oci)
			}
			if cmd.Flags().Changed("file") {
				return createFromFile(cmd, file, args)
			}
			if len(args) == 0 {
				if _, err := os.Stat(file); err == nil {
					return createFromFile(cmd, file, nil) // jail -c: every jail of the file
				}
				return &prison.ParamError{Err: fmt.Errorf("NAME: missing, and no %s to create jails from "+
					"(usage: prison create [options] NAME [PARAM=VALUE...])", file)}
			}
			d := newDef(c)
			d.cfg.Name = args[0]
			for _, a := range args[1:] {
				k, v, ok := strings.Cut(a, "=")
				vals := []string{v}
				if !ok {
					vals = nil // a bare boolean: allow.raw_sockets, persist
				}
				if err := d.setArg(k, vals); err != nil {
					return err
				}
			}
			return createJail(cmd, d)
		},
	}
	jailFlags(cmd.Flags(), &c)
	// No command follows: options may come after NAME, among PARAM=VALUE.
	cmd.Flags().SetInterspersed(true)
	_ = cmd.Flags().MarkHidden("name")
	cmd.Flags().StringVarP(&file, "file", "f", defaultConfFile, "jail.conf(5) file")
	cmd.Flags().StringVarP(&oci.bundle, "bundle", "b", "", "create the OCI bundle in DIR as the container ID, "+
		"its command waiting for prison start (runc create)")
	cmd.Flags().StringVar(&oci.pidFile, "pid-file", "", "with --bundle: write the container's host pid to this file")
	cmd.Flags().StringVar(&oci.consoleSocket, "console-socket", "", "with --bundle: a unix socket that gets the terminal's master")
	return cmd
}

func newExecCmd() *cobra.Command {
	var o prison.ExecOptions
	var tty, noTTY bool
	cmd := &cobra.Command{
		Use:   "exec [options] NAME COMMAND [ARG...]",
		Short: "Run a command in a running jail and return its exit status (jexec)",
		Long: `Run a command in a running jail, as if the jail's own PID 1 had started it:
the jail's namespaces, root, capabilities, limits and seccomp policy. Its exit
status is the command's. A terminal is given when stdin is one (-t forces it,
-T refuses it).`,
		Example: `  prison exec web1 /bin/sh
  prison exec -u www web1 id
  prison exec -e LANG=C.UTF-8 --cwd /var/www web1 ls -l
  echo 'SELECT 1' | prison exec -T db1 psql`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &prison.ParamError{Err: errors.New("NAME: missing (usage: prison exec [options] NAME COMMAND [ARG...])")}
			}
			if len(args) == 1 {
				return &prison.ParamError{Err: errors.New("COMMAND: missing (usage: prison exec [options] NAME COMMAND [ARG...])")}
			}
			if tty && noTTY {
				return &prison.ParamError{Err: errors.New("-t and -T: give one of them")}
			}
			for _, e := range o.Env {
				if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
					return &prison.ParamError{Err: fmt.Errorf("-e %q: want KEY=VALUE", e)}
				}
			}
			if o.Cwd != "" && !strings.HasPrefix(o.Cwd, "/") {
				return &prison.ParamError{Err: fmt.Errorf("--cwd %q: must be an absolute path inside the jail", o.Cwd)}
			}
			code, err := execIn(servedOf(cmd.Context()), args[0], args[1:], o, tty, noTTY)
			if err != nil {
				return err
			}
			return &exitError{code: code}
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.StringVarP(&o.User, "user", "u", "", "run as this user of the jail's passwd (default: root)")
	fs.StringVarP(&o.HostUser, "host-user", "U", "", "run as this user of the host's passwd")
	fs.StringArrayVarP(&o.Env, "env", "e", nil, "KEY=VALUE added to the environment (repeatable)")
	fs.StringVar(&o.Cwd, "cwd", "", "working directory inside the jail (default: /)")
	fs.BoolVarP(&tty, "tty", "t", false, "give the command a terminal even when stdin is none")
	fs.BoolVarP(&noTTY, "no-tty", "T", false, "give the command no terminal even when stdin is one")
	return cmd
}

// execIn runs args in the jail name with the caller's stdio or terminal,
// or, for a daemon (sv), with its client's stdio.
func execIn(sv *served, name string, args []string, o prison.ExecOptions, tty, noTTY bool) (int, error) {
	if sv != nil && tty && !noTTY {
		// A client has no terminal to give (client.c): it launches.
		sv.fellBack = true
		return 0, sv.client.Fallback()
	}
	r, err := prison.Find(name)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	o.Args = args
	if sv != nil {
		j, err := r.Command(o)
		if err != nil {
			return 0, err
		}
		j.Client = sv.client
		st, err := j.Run()
		if err != nil {
			return 0, err
		}
		return st.ExitCode(), nil
	}
	o.Terminal = (term.IsTerminal(int(os.Stdin.Fd())) || tty) && !noTTY
	if o.Terminal {
		o.Term = os.Getenv("TERM")
		if o.Term == "" {
			o.Term = "xterm"
		}
	}
	j, err := r.Command(o)
	if err != nil {
		return 0, err
	}
	return attach(j, o.Terminal, true)
}

func newListCmd() *cobra.Command {
	var verbose, asJSON, quiet bool
	var file string
	cmd := &cobra.Command{
		Use:     "list [-v | --json | -q] [-f FILE]",
		Aliases: []string{"ls"},
		Short:   "List the jails (jls)",
		Long: `List the running jails: those of prison create and of prison run alike. The
jails of the jail.conf (-f, default /etc/prison.conf if it exists) that are
not running are listed too, as stopped. PROCESSES counts the jail's processes
other than its PID 1.`,
		Example: `  prison list
  prison ls -q
  prison list --json | jq '.[] | select(.name == "web1")'
  prison list -v -f /etc/prison.conf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rows, err := listRows(cmd, file, verbose || asJSON)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case quiet:
				for _, r := range rows {
					fmt.Fprintln(out, r.Name)
				}
			case asJSON:
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			case verbose:
				printVerbose(out, rows)
			default:
				printTable(out, rows)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "every parameter of each jail")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON document, parameters in jail(8)'s names")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "names only")
	cmd.Flags().StringVarP(&file, "file", "f", defaultConfFile, "also list this jail.conf's jails that are not running")
	return cmd
}

// listRow is a jail as list shows it; the JSON names are jail(8)'s.
type listRow struct {
	Name      string            `json:"name"`
	JID       int               `json:"jid,omitempty"`
	IP4       []string          `json:"ip4.addr,omitempty"`
	IP6       []string          `json:"ip6.addr,omitempty"`
	Hostname  string            `json:"host.hostname,omitempty"`
	Path      string            `json:"path,omitempty"`
	Status    string            `json:"status"`
	Processes int               `json:"processes"`
	Persist   bool              `json:"persist"`
	PID       int               `json:"pid,omitempty"`
	Created   string            `json:"created,omitempty"`
	Params    map[string]string `json:"parameters,omitempty"`
}

// listRows lists the running jails, then the file's that are not: the
// default file only if it exists, and only warned about if it is wrong,
// so that a broken /etc/prison.conf never hides what runs.
func listRows(cmd *cobra.Command, file string, params bool) ([]listRow, error) {
	jails, err := prison.List()
	if err != nil {
		return nil, err
	}
	var rows []listRow
	running := map[string]bool{}
	counts := prison.ProcessCounts(jails)
	for _, j := range jails {
		row := listRow{
			Name: j.Name, JID: j.JID, Hostname: j.Hostname, Path: j.Root,
			Status: "running", Persist: j.Persist, PID: j.InitPID,
			Created: j.Created.Format(time.RFC3339), Processes: counts[j.Name],
		}
		row.IP4, row.IP6 = prison.AddrFamilies(j.Addrs)
		if !j.Alive() {
			row.Status = "dead" // since List found it
		}
		if j.HostDerived() {
			row.Path = "" // a root made from the host: nothing of the host's to show
		}
		if params {
			// The spec, a third of a millisecond to decode: only when asked.
			if p, err := j.Params(); err == nil {
				row.Params = p
			}
		}
		j.Close()
		running[j.Name] = true
		rows = append(rows, row)
	}
	explicit := cmd.Flags().Changed("file")
	if _, err := os.Stat(file); err == nil || explicit {
		defs, _, err := loadFile(file, nil)
		if err != nil && explicit {
			return nil, err
		}
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "prison: warning: %s\n", oneLine(err))
		}
		for _, d := range defs {
			if running[d.cfg.Name] {
				continue
			}
			row := listRow{Name: d.cfg.Name, Hostname: d.cfg.Hostname, Path: d.cfg.Root, Status: "stopped", Persist: true}
			row.IP4, row.IP6 = prison.AddrFamilies(d.cfg.IPs)
			rows = append(rows, row)
		}
	}
	return rows, nil
}

func printTable(out io.Writer, rows []listRow) {
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tJID\tIP\tHOSTNAME\tPATH\tSTATUS\tPROCESSES")
	for _, r := range rows {
		jid, procs := "-", "-"
		if r.JID != 0 {
			jid = strconv.Itoa(r.JID)
		}
		if r.Status == "running" {
			procs = strconv.Itoa(r.Processes)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, jid, orDash(strings.Join(append(r.IP4, r.IP6...), ",")),
			orDash(r.Hostname), orDash(r.Path), r.Status, procs)
	}
	w.Flush()
}

func printVerbose(out io.Writer, rows []listRow) {
	for i, r := range rows {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "%s: jid=%d status=%s processes=%d pid=%d created=%s\n",
			r.Name, r.JID, r.Status, r.Processes, r.PID, r.Created)
		for _, k := range sortedKeys(r.Params) {
			fmt.Fprintf(out, "\t%s = %s;\n", k, r.Params[k])
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newSetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set NAME PARAM=VALUE...",
		Short: "Change parameters of a running jail (jail -m)",
		Long: `Change a running jail's parameters. host.hostname and the limits (memoryuse,
swapuse, maxproc, pcpu, cpu.weight, io.weight, io.max) change live, as rctl -a
changes them on FreeBSD, and a restart keeps them; a parameter that cannot
change while the jail runs says so (restart the jail with it).`,
		Example: `  prison set web1 host.hostname=www1.example
  prison set web1 memoryuse=1G maxproc=200 pcpu=150`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) < 2 {
				return &prison.ParamError{Err: errors.New("PARAM=VALUE: missing (usage: prison set NAME PARAM=VALUE...)")}
			}
			r, err := prison.Find(args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			// Limits change together, in one update of the cgroup.
			limits := newDef(prison.Config{})
			for _, a := range args[1:] {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					return &prison.ParamError{Err: fmt.Errorf("%q: want PARAM=VALUE", a)}
				}
				switch {
				case k == "host.hostname":
					if err := r.SetHostname(v); err != nil {
						return err
					}
				case limitParam(k):
					if err := limits.setArg(k, []string{v}); err != nil {
						return err
					}
				default:
					if _, err := lookupParam(k); err != nil {
						return err
					}
					return &prison.ParamError{Err: fmt.Errorf("%s: cannot change while the jail runs (restart it with the new value)", k)}
				}
			}
			if len(limits.given) > 0 {
				return limits.inParams(r.SetLimits(&limits.cfg))
			}
			return nil
		},
	}
}

func newStopCmd(verb string) *cobra.Command {
	var timeout int
	var file string
	var purge bool // delete --purge (layer.go)
	short := "Stop jails and remove everything they had (jail -r)"
	if verb == "delete" {
		short = "Stop and remove jails (jail -r; as prison stop)"
	}
	cmd := &cobra.Command{
		Use:   verb + " [-t SECONDS] [-f FILE] NAME...",
		Short: short,
		Long: `Stop jails as jail -r does: exec.prestop on the host, exec.stop inside, SIGTERM
to every process, up to -t seconds (exec.timeout; default 10) for them to
exit, SIGKILL to the rest, exec.poststop on the host; then the jail's network,
mounts and state are removed. With -f, the jails of the file are stopped in
the reverse of their dependency order. A jail's kept layer (--image) stays, for
the jail made again under its name: prison delete --purge removes it too.`,
		Example: fmt.Sprintf(`  prison %[1]s web1
  prison %[1]s -t 30 db1 web1
  prison %[1]s -f /etc/prison.conf`, verb),
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var t *time.Duration
			if cmd.Flags().Changed("timeout") {
				if timeout < 0 {
					return &prison.ParamError{Err: fmt.Errorf("-t %d: want 0 or more seconds", timeout)}
				}
				d := time.Duration(timeout) * time.Second
				t = &d
			}
			names := args
			if cmd.Flags().Changed("file") {
				defs, _, err := loadFile(file, args)
				if err != nil {
					return err
				}
				names = nil
				for i := len(defs) - 1; i >= 0; i-- {
					names = append(names, defs[i].cfg.Name)
				}
			}
			if len(names) == 0 {
				return &prison.ParamError{Err: fmt.Errorf("NAME: missing (usage: prison %s [-t SECONDS] NAME...)", verb)}
			}
			var errs []error
			for _, n := range names {
				if err := deleteJail(n, t, purge); err != nil {
					if cmd.Flags().Changed("file") && errors.As(err, new(*prison.NoJailError)) {
						continue // a jail of the file that is not running
					}
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", int(prison.DefaultStopTimeout/time.Second), "seconds for the processes to exit after SIGTERM (exec.timeout)")
	cmd.Flags().StringVarP(&file, "file", "f", defaultConfFile, "stop the jails of this jail.conf")
	if verb == "delete" {
		cmd.Flags().BoolVar(&purge, "purge", false, "also remove the jail's kept layer (--image), with every file it wrote; "+
			"with no jail of that name running, remove the layer only")
	}
	return cmd
}

// stopJail runs the jail's stop hooks and stops it; timeout, when set,
// overrides its exec.timeout.
func stopJail(name string, timeout *time.Duration) error {
	r, err := prison.Find(name)
	if err != nil {
		return err
	}
	defer r.Close()
	h, err := r.Hooks()
	if err != nil {
		return err
	}
	t := h.Timeout
	if timeout != nil {
		t = *timeout
	}
	var errs []error
	errs = append(errs, runHostHooks(h, "exec.prestop", name))
	errs = append(errs, runJailHooks(r, h, "exec.stop"))
	errs = append(errs, r.Stop(t))
	errs = append(errs, runHostHooks(h, "exec.poststop", name))
	return errors.Join(errs...)
}

func newRestartCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "restart [-f FILE] NAME...",
		Short: "Stop jails and create them again with the same parameters (jail -rc)",
		Long: `Stop each jail and create it again. With -f the parameters are read anew from
the file; without, the jail is made again from the parameters it had.`,
		Example: `  prison restart web1
  prison restart -f /etc/prison.conf web1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var defs []*jailDef
			if cmd.Flags().Changed("file") {
				var err error
				if defs, _, err = loadFile(file, args); err != nil {
					return err
				}
			} else {
				for _, n := range args {
					r, err := prison.Find(n)
					if err != nil {
						return err
					}
					spec, err := r.Spec()
					r.Close()
					if err != nil {
						return err
					}
					d := newDef(prison.Config{Name: n})
					d.spec = spec
					defs = append(defs, d)
				}
			}
			for _, d := range defs {
				if err := stopJail(d.cfg.Name, nil); err != nil && !errors.As(err, new(*prison.NoJailError)) {
					return err
				}
			}
			for _, d := range defs {
				if err := createJail(cmd, d); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", defaultConfFile, "jail.conf(5) file")
	return cmd
}

func newKillCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "kill NAME [SIGNAL]",
		Short: "Send a signal to every process of a jail",
		Long: `Send SIGNAL (a name such as TERM or SIGHUP, or a number; default TERM) to every
process of the jail. A persistent jail stays up, with no processes, after
prison kill NAME KILL.`,
		Example: `  prison kill web1
  prison kill web1 HUP
  prison kill web1 9`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(_ *cobra.Command, args []string) error {
			sig := unix.SIGTERM
			if len(args) == 2 {
				var err error
				if sig, err = parseSignal(args[1]); err != nil {
					return err
				}
			}
			r, err := prison.Find(args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			return r.Kill(sig)
		},
	}
}

// parseSignal reads a signal as kill(1) takes it: TERM, SIGTERM or 15.
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, &prison.ParamError{Err: fmt.Errorf("SIGNAL %q: not a signal name or number", s)}
}

func newWhichCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "which PID",
		Short:   "Print the jail a host process belongs to, or host",
		Example: `  prison which 4711`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, err := strconv.Atoi(args[0])
			if err != nil || pid <= 0 {
				return &prison.ParamError{Err: fmt.Errorf("PID %q: not a process id", args[0])}
			}
			name, err := prison.Which(pid)
			if err != nil {
				return err
			}
			if name == "" {
				name = "host"
			}
			fmt.Fprintln(cmd.OutOrStdout(), name)
			return nil
		},
	}
}

func newPsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ps NAME",
		Short: "List a jail's processes, with their host and jail PIDs",
		Example: `  prison ps web1
  kill $(prison ps web1 | awk '$4 == "nginx:" {print $1}')`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := prison.Find(args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			procs, err := r.Processes()
			if err != nil {
				return err
			}
			return printProcesses(cmd.OutOrStdout(), procs)
		},
	}
}

// printProcesses is prison ps's table, which the OCI ps prints too.
func printProcesses(out io.Writer, procs []prison.Process) error {
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "PID\tJPID\tUID\tCOMMAND")
	for _, p := range procs {
		fmt.Fprintf(w, "%d\t%d\t%d\t%s\n", p.PID, p.JailPID, p.UID, p.Command)
	}
	return w.Flush()
}
