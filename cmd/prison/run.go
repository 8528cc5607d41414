package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"prison/prison"
)

// jailFlags binds the flags that describe a jail (shared by run and spec).
func jailFlags(fs *pflag.FlagSet, c *prison.Config) {
	fs.SetInterspersed(false) // everything after the command is the command's
	fs.StringVar(&c.Name, "name", "", "jail name (default: generated)")
	fs.StringVar(&c.Hostname, "host", "", "hostname, FreeBSD host.hostname (default: the name)")
	fs.StringVar(&c.Root, "root", "", "root directory, FreeBSD path (default: a root made from the host)")
	fs.BoolVar(&c.SharedRoot, "shared-root", false, "accept a --root that other host users can reach "+
		"(WARNING: a setuid program the jail's root plants there makes them root)")
	fs.StringArrayVar(&c.Env, "env", nil, "KEY=VALUE added to the environment (repeatable)")
	fs.StringVar(&c.Cwd, "cwd", "", "working directory inside the jail (default: /)")
	fs.StringVar(&c.User, "user", "", "UID[:GID] or a user name from the jail's passwd (default: root)")
	fs.StringArrayVar(&c.Allow, "allow", nil,
		"FreeBSD allow.* parameter: raw_sockets, set_hostname, socket_af, chflags, sysvipc (repeatable)")
	fs.StringVar(&c.SysVIPC, "sysvipc", "new", "SysV IPC: new (own namespace), inherit (the host's) or disable")
	fs.BoolVar(&c.NoNewPrivs, "no-new-privs", false, "set no_new_privs: setuid programs such as su stop working")
	fs.StringVar(&c.Net, "net", "", "network: none, veth (default with --ip), macvlan:IFACE, or host "+
		"(WARNING: host shares the host's whole network with the jail)")
	fs.StringArrayVar(&c.IPs, "ip", nil, "jail address, FreeBSD ip4.addr/ip6.addr, ADDR or ADDR/PREFIX (repeatable)")
	fs.StringVar(&c.Gateway, "gateway", "", "default gateway (macvlan)")
	fs.StringVar(&c.Uplink, "uplink", "", "interface through which a routed jail may reach the outside")
	fs.StringArrayVar(&c.DNS, "dns", nil, "nameserver for the jail's resolv.conf (repeatable; default: the host's)")
	fs.StringArrayVar(&c.Mounts, "mount", nil, "SRC:DST[:OPTS] bind the host's SRC on DST in the jail, nosuid and nodev; OPTS: ro, noidmap (repeatable)")
	fs.StringArrayVar(&c.Tmpfs, "tmpfs", nil, "DST[:SIZE] a fresh tmpfs on DST in the jail, e.g. /scratch:256m (repeatable)")
	fs.BoolVar(&c.ReadOnly, "read-only", false, "mount the jail's root read-only (/dev, /dev/shm and each --tmpfs stay writable: add --tmpfs /tmp)")
	// The jail's own layer (prison/image.go).
	fs.StringVar(&c.Image, "image", "", "a read-only base DIR (or an image of prison's store) shared by many jails: "+
		"the root is an overlay on it, with a writable layer of the jail's own in "+prison.LayerDir+"/NAME, kept across stop and create")
	fs.BoolVar(&c.Ephemeral, "ephemeral", false, "with --image: the writable layer lives in memory and goes with the jail")
	fs.StringVar(&c.Disk, "disk", "", "SIZE the jail can write, e.g. 512M: its layer's own filesystem, "+
		"or its root's tmpfs (default for a tmpfs: 1G)")
	fs.StringVar(&c.UserNS, "userns", c.UserNS, "user namespace: auto (a range of host ids of the jail's own), "+
		"host (none: root inside is host root with fewer powers, FreeBSD's model), or UID[:GID]:COUNT; "+
		"the default is $"+prison.UserNSEnv+", or auto")
	limitFlags(fs, c)
}

// defaultConfig is prison's defaults, with the user namespace's from the
// environment: a CI runner or a test pass sets it once for every jail.
func defaultConfig() prison.Config {
	c := prison.DefaultConfig()
	c.UserNS = os.Getenv(prison.UserNSEnv)
	if c.UserNS == "" {
		c.UserNS = "auto"
	}
	return c
}

// limitFlags binds the resource limits, rctl's memoryuse, swapuse, maxproc,
// pcpu and openfiles, and the cgroup's weights.
func limitFlags(fs *pflag.FlagSet, c *prison.Config) {
	fs.StringVar(&c.Memory, "memory", "", "memory limit (memoryuse), e.g. 512M: past it the jail's processes are OOM-killed")
	fs.StringVar(&c.Swap, "swap", "", "swap the jail may use on top of --memory (swapuse), e.g. 1G")
	fs.StringVar(&c.Pids, "pids", "", fmt.Sprintf("process and thread limit (maxproc), or unlimited (default %d)", prison.DefaultPids))
	fs.StringVar(&c.CPUs, "cpus", "", "CPU quota in cores (pcpu/100), e.g. 0.5")
	fs.StringVar(&c.CPUWeight, "cpu-weight", "", "CPU share against other jails, 1-10000 (default 100)")
	fs.StringVar(&c.IOWeight, "io-weight", "", "block I/O share, 10-1000 (needs the BFQ scheduler)")
	fs.StringArrayVar(&c.IOMax, "io-max", nil, "DEV:rbps=N,wbps=N,riops=N,wiops=N block I/O limits on device DEV (repeatable)")
	fs.StringVar(&c.NoFile, "nofile", "", "open file limit (openfiles), RLIMIT_NOFILE")
	fs.StringVar(&c.Cgroup, "cgroup", "", "the jail's cgroup path (default /prison/NAME)")
	fs.StringVar(&c.CgroupV2, "cgroup-v2", "", "a cgroup2 mountpoint for the jail's cgroup on a host whose controllers are on v1 (tests)")
	_ = fs.MarkHidden("cgroup-v2")
}

func newRunCmd() *cobra.Command {
	c := defaultConfig()
	var oci ociOpts
	var timing bool
	var seccompMode string
	cmd := &cobra.Command{
		Use:   "run [options] [--] COMMAND [ARG...]",
		Short: "Run a command in a new jail and return its exit status",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sv := servedOf(cmd.Context())
			if oci.bundle != "" || cmd.Flags().Changed("bundle") {
				// runc's run, in prison's own command line.
				if sv != nil {
					// The container's record and its relays are a
					// launcher's of its own.
					sv.fellBack = true
					return sv.client.Fallback()
				}
				if len(args) != 1 {
					return &prison.ParamError{Err: fmt.Errorf("--bundle: want one container ID after the options, got %d arguments", len(args))}
				}
				return runContainer(args[0], &oci, false)
			}
			var t *prison.Timing
			if timing {
				t = &prison.Timing{}
				t.Begin(processStart)
				if sv != nil {
					t.Begin(sv.client.Begun)
				}
			}
			c.Args = args
			switch seccompMode {
			case "on":
			case "off":
				c.Seccomp = false
			default:
				return &prison.ParamError{Err: fmt.Errorf("--seccomp %q: want on or off", seccompMode)}
			}
			var code int
			var err error
			if sv != nil {
				code, err = serveJail(&c, t, sv)
			} else {
				code, err = runJail(&c, t)
			}
			if t != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "prison-timing: %s\n", t)
			}
			if err != nil {
				return err
			}
			return &exitError{code: code}
		},
	}
	jailFlags(cmd.Flags(), &c)
	cmd.Flags().StringVarP(&oci.bundle, "bundle", "b", "", "run the OCI bundle in DIR (its config.json) as the container ID: prison run --bundle DIR ID")
	cmd.Flags().StringVar(&oci.pidFile, "pid-file", "", "with --bundle: write the container's host pid to this file")
	cmd.Flags().BoolVar(&timing, "timing", false, "print the start path's phases to stderr")
	cmd.Flags().StringVar(&seccompMode, "seccomp", "on", "seccomp policy: on, or off (benchmarks only: no protection)")
	_ = cmd.Flags().MarkHidden("timing")
	_ = cmd.Flags().MarkHidden("seccomp")
	return cmd
}

// processStart is as close to the launcher's exec as Go lets us look.
var processStart = time.Now()

func newSpecCmd() *cobra.Command {
	c := defaultConfig()
	cmd := &cobra.Command{
		Use:   "spec [options] [--] COMMAND [ARG...]",
		Short: "Print the OCI runtime spec that `prison run` would run",
		RunE: func(cmd *cobra.Command, args []string) error {
			c.Args = args
			if len(args) == 0 {
				c.Args = []string{"/bin/sh"}
			}
			if err := c.Validate(); err != nil {
				return err
			}
			s, err := c.Spec()
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(s)
		},
	}
	jailFlags(cmd.Flags(), &c)
	return cmd
}

// forwarded are the signals that `prison run` passes on to the command.
var forwarded = []os.Signal{
	syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2,
}

// newJail validates the configuration and makes its jail.
func newJail(c *prison.Config, t *prison.Timing) (*prison.Jail, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	spec, err := c.Spec()
	if err != nil {
		return nil, err
	}
	return &prison.Jail{Name: c.Name, Spec: spec, Timing: t}, nil
}

// serveJail runs the jail of a daemon's client. The client has no terminal
// (client.c sends none), and holds the jail's stdio and forwards its
// signals itself.
func serveJail(c *prison.Config, t *prison.Timing, sv *served) (int, error) {
	c.Term = sv.client.Term
	if c.Root != "" && !filepath.IsAbs(c.Root) {
		c.Root = filepath.Join(sv.client.Cwd, c.Root)
	}
	c.ImageIn(sv.client.Cwd)
	j, err := newJail(c, t)
	if err != nil {
		return 0, err
	}
	j.Client, j.Pool = sv.client, sv.pool
	st, err := j.Run()
	if err != nil {
		return 0, err
	}
	return st.ExitCode(), nil
}

func runJail(c *prison.Config, t *prison.Timing) (int, error) {
	tty := term.IsTerminal(int(os.Stdin.Fd()))
	c.Terminal = tty
	c.Term = os.Getenv("TERM")
	if c.Term == "" && tty {
		c.Term = "xterm"
	}
	j, err := newJail(c, t)
	if err != nil {
		return 0, err
	}
	return attach(j, tty, false)
}

// attach starts j with the caller's terminal or stdio, passes on the
// caller's signals, and returns the command's exit status: prison run and
// prison exec alike. lingers says the jail outlives the command (exec).
func attach(j *prison.Jail, tty, lingers bool) (int, error) {
	return attachStarted(j, tty, lingers, nil)
}

// attachStarted is attach, with started called once the jail runs (nil:
// nothing to do); its error ends the jail.
func attachStarted(j *prison.Jail, tty, lingers bool, started func() error) (int, error) {
	if tty {
		if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
			j.Rows, j.Cols = ws.Row, ws.Col
		}
	} else {
		// The jail gets no handle on the caller's terminal: a terminal
		// among stdout and stderr goes through a pipe.
		j.Stdin = passOrPipeReader(os.Stdin)
		j.Stdout = passOrPipeWriter(os.Stdout)
		j.Stderr = passOrPipeWriter(os.Stderr)
	}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	if err := j.Start(); err != nil {
		return 0, err
	}
	if started != nil {
		if err := started(); err != nil {
			_ = j.Signal(syscall.SIGKILL)
			_, _ = j.Wait()
			return 0, err
		}
	}
	go func() {
		for s := range sigs {
			_ = j.Signal(s)
		}
	}()

	var copied chan struct{}
	if j.Console != nil {
		restore, err := makeRaw(os.Stdin)
		if err != nil {
			j.Signal(syscall.SIGKILL)
			j.Wait()
			return 0, err
		}
		defer restore()
		copied = make(chan struct{})
		go func() { _, _ = io.Copy(j.Console, os.Stdin) }()
		go func() {
			// EIO once every process holding the jail's terminal is gone.
			_, _ = io.Copy(os.Stdout, j.Console)
			close(copied)
		}()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
					_ = unix.IoctlSetWinsize(int(j.Console.Fd()), unix.TIOCSWINSZ, ws)
				}
			}
		}()
	}
	st, err := j.Wait()
	if copied != nil {
		var grace <-chan time.Time
		if lingers {
			// A process the command left in the background may hold
			// the terminal for good: what the command wrote has
			// arrived by now. A new jail's end closes the terminal.
			grace = time.After(prison.RelayGrace)
		}
		select {
		case <-copied:
		case <-grace:
		}
		j.Console.Close()
	}
	if err != nil {
		return 0, err
	}
	return st.ExitCode(), nil
}

// makeRaw puts the caller's terminal in raw mode; the returned function
// restores it, and runs on every way out but SIGKILL.
func makeRaw(f *os.File) (func(), error) {
	old, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	return func() { _ = term.Restore(int(f.Fd()), old) }, nil
}

func passOrPipeReader(f *os.File) io.Reader {
	if term.IsTerminal(int(f.Fd())) {
		return struct{ io.Reader }{f}
	}
	return f
}

func passOrPipeWriter(f *os.File) io.Writer {
	if term.IsTerminal(int(f.Fd())) {
		return struct{ io.Writer }{f}
	}
	return f
}
