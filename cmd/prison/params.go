package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"prison/prison"
	"prison/prison/jailconf"
)

// jailDef is one jail as jail(8)'s parameters describe it, from a command
// line's PARAM=VALUE words or a jail.conf block: the configuration, and
// what happens around the jail's start and stop.
type jailDef struct {
	cfg    prison.Config
	hooks  prison.Hooks
	depend []string
	iface  string            // interface, or ip4.addr's iface| part
	sysv   map[string]string // sysvmsg, sysvsem, sysvshm
	// spec, when set, is what the jail is made from instead of cfg:
	// prison restart makes a jail again from the spec it ran with.
	spec *specs.Spec
	// warnings say which parameters have no meaning on Linux.
	warnings []string
	// conf is the jail.conf block it was read from, if any.
	conf *jailconf.Jail
	// fstabs are mount.fstab files, read at creation.
	fstabs []string
	// given are the parameters set as such (not as flags), which errors
	// then name.
	given map[string]bool
}

func newDef(base prison.Config) *jailDef {
	return &jailDef{cfg: base, sysv: map[string]string{}, given: map[string]bool{}, hooks: prison.Hooks{
		Commands: map[string][]string{}, Timeout: prison.DefaultStopTimeout,
	}}
}

// lookupParam checks that name is a jail(8) parameter.
func lookupParam(name string) (jailconf.Spec, error) {
	s, ok := jailconf.Lookup(name)
	if !ok {
		return s, &prison.ParamError{Err: fmt.Errorf("%s: not a jail parameter", name)}
	}
	return s, nil
}

// setArg sets a parameter given on the command line: a bare name is a
// boolean that is true, or false in its no form (allow.noraw_sockets).
func (d *jailDef) setArg(name string, vals []string) error {
	if vals == nil {
		vals = []string{"true"}
		if _, ok := jailconf.Lookup(name); !ok {
			dir, base := "", name
			if i := strings.LastIndexByte(name, '.'); i >= 0 {
				dir, base = name[:i+1], name[i+1:]
			}
			if rest, ok := strings.CutPrefix(base, "no"); ok {
				name, vals = dir+rest, []string{"false"}
			}
		}
	} else if len(vals) == 1 && strings.Contains(vals[0], ",") && listParam(name) {
		vals = prison.SplitList(vals[0])
	}
	if err := d.set(name, vals); err != nil {
		return &prison.ParamError{Err: err}
	}
	if s, ok := jailconf.Lookup(name); ok && !s.Linux {
		d.warnings = append(d.warnings, name+": has no meaning on Linux; ignored")
	}
	return nil
}

func listParam(name string) bool {
	switch name {
	case "ip4.addr", "ip6.addr", "depend":
		return true
	}
	return false
}

// set lowers one parameter into the definition. The error names the
// parameter, as jail(8) users know it.
func (d *jailDef) set(name string, vals []string) error {
	d.given[name] = true
	one := func() (string, error) {
		if len(vals) != 1 {
			return "", fmt.Errorf("%s: want one value, got %d", name, len(vals))
		}
		return vals[0], nil
	}
	boolean := func() (bool, error) {
		v, err := one()
		if err != nil {
			return false, err
		}
		switch strings.ToLower(v) {
		case "true", "1", "yes", "on", "":
			return true, nil
		case "false", "0", "no", "off":
			return false, nil
		}
		return false, fmt.Errorf("%s %q: want true or false", name, v)
	}
	switch name {
	case "name":
		v, err := one()
		d.cfg.Name = v
		return err
	case "path":
		v, err := one()
		d.cfg.Root = v
		return err
	case "image": // prison's own: the jail's layer (prison/image.go)
		v, err := one()
		d.cfg.Image = v
		return err
	case "ephemeral":
		on, err := boolean()
		d.cfg.Ephemeral = on
		return err
	case "disk":
		v, err := one()
		d.cfg.Disk = v
		return err
	case "userns": // prison's own: auto, host or a RANGE (prison/userns_linux.go)
		v, err := one()
		d.cfg.UserNS = v
		return err
	case "host.hostname":
		v, err := one()
		d.cfg.Hostname = v
		return err
	case "ip4.addr", "ip6.addr":
		for _, v := range vals {
			// FreeBSD's iface|addr/prefix: the address on that interface.
			if iface, addr, ok := strings.Cut(v, "|"); ok {
				d.iface, v = iface, addr
			}
			// FreeBSD also takes "addr netmask N" and " SKIP"-style
			// suffixes after a space; the address is the first word.
			if f := strings.Fields(v); len(f) > 0 {
				v = f[0]
			}
			d.cfg.IPs = append(d.cfg.IPs, v)
		}
		return nil
	case "ip4", "ip6", "vnet":
		v, err := one()
		switch v {
		case "inherit":
			d.cfg.Net = "host"
		case "new", "disable":
		default:
			return fmt.Errorf("%s %q: want new, inherit or disable", name, v)
		}
		return err
	case "interface":
		v, err := one()
		d.iface = v
		return err
	case "vnet.interface":
		v, err := one()
		d.cfg.Net = "macvlan:" + v
		return err
	case "allow.set_hostname", "allow.raw_sockets", "allow.chflags", "allow.socket_af", "allow.sysvipc":
		on, err := boolean()
		short := strings.TrimPrefix(name, "allow.")
		d.cfg.Allow = slices.DeleteFunc(d.cfg.Allow, func(a string) bool { return a == short })
		if on {
			d.cfg.Allow = append(d.cfg.Allow, short)
		}
		return err
	case "sysvmsg", "sysvsem", "sysvshm":
		v, err := one()
		d.sysv[name] = v
		return err
	case "persist":
		on, err := boolean()
		if err == nil && !on {
			d.warnings = append(d.warnings, "nopersist: prison create always makes a persistent jail; stop it with prison stop")
		}
		return err
	case "command":
		// jail -c command=…: run in the jail once it is up, as exec.start.
		d.hooks.Commands["exec.start"] = append(d.hooks.Commands["exec.start"], strings.Join(vals, " "))
		return nil
	case "depend":
		d.depend = append(d.depend, vals...)
		return nil
	case "exec.timeout":
		v, err := one()
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("exec.timeout %q: want seconds", v)
		}
		d.hooks.Timeout = time.Duration(n) * time.Second
		return nil
	case "exec.jail_user":
		v, err := one()
		d.hooks.JailUser = v
		return err
	case "exec.system_user":
		v, err := one()
		d.hooks.SystemUser = v
		return err
	case "exec.consolelog":
		v, err := one()
		d.hooks.ConsoleLog = v
		return err
	case "exec.clean":
		// A jail's environment is always the clean one prison makes.
		_, err := boolean()
		return err
	case "mount.devfs", "mount.procfs":
		on, err := boolean()
		if err == nil && !on {
			d.warnings = append(d.warnings, name+"=false: every prison jail has its own /dev and /proc")
		}
		return err
	case "mount":
		for _, v := range vals {
			if err := d.fstabLine(v); err != nil {
				return fmt.Errorf("mount %q: %w", v, err)
			}
		}
		return nil
	case "mount.fstab":
		// Read when the jail is created, as jail(8) does: prison config
		// checks a file meant for another machine.
		v, err := one()
		d.fstabs = append(d.fstabs, v)
		return err
	case "jid":
		d.warnings = append(d.warnings, "jid: prison numbers jails itself; ignored")
		return nil
	case "cgroup":
		v, err := one()
		d.cfg.Cgroup = v
		return err
	case "pcpu":
		// rctl's pcpu is a percentage of one CPU; --cpus counts cores.
		v, err := one()
		if err != nil {
			return err
		}
		pct, err := strconv.ParseFloat(v, 64)
		if err != nil || pct <= 0 {
			return fmt.Errorf("pcpu %q: want a percentage of one CPU, such as 50", v)
		}
		d.cfg.CPUs = strconv.FormatFloat(pct/100, 'f', -1, 64)
		return nil
	case "io.max":
		d.cfg.IOMax = append(d.cfg.IOMax, vals...)
		return nil
	}
	if field, ok := limitFields[name]; ok {
		v, err := one()
		*field(&d.cfg) = v
		return err
	}
	if slices.Contains(prison.HookNames, name) {
		d.hooks.Commands[name] = append(d.hooks.Commands[name], vals...)
		return nil
	}
	s, ok := jailconf.Lookup(name)
	if !ok {
		return fmt.Errorf("%s: not a jail parameter", name)
	}
	if !s.Linux {
		return nil // jailconf warns, and setArg
	}
	return fmt.Errorf("%s: not supported by prison yet", name)
}

// fstab reads mount.fstab: fstab(5) lines, as mount takes them.
func (d *jailDef) fstab(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("mount.fstab: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := d.fstabLine(line); err != nil {
			return fmt.Errorf("mount.fstab %s:%d: %w", file, n, err)
		}
	}
	return s.Err()
}

// fstabLine lowers one fstab(5) line: nullfs (FreeBSD's bind mount) and
// bind become --mount, tmpfs becomes --tmpfs. The mount point is a host
// path below the jail's path, as in FreeBSD; it is taken relative to it.
func (d *jailDef) fstabLine(line string) error {
	f := strings.Fields(line)
	if len(f) < 3 {
		return errors.New("want SOURCE MOUNTPOINT TYPE [OPTIONS]")
	}
	src, dst, typ := f[0], f[1], f[2]
	opts := ""
	if len(f) > 3 {
		opts = f[3]
	}
	if d.cfg.Root != "" {
		if r, err := filepath.Rel(d.cfg.Root, dst); err == nil && !strings.HasPrefix(r, "..") {
			dst = "/" + r
		}
	}
	switch typ {
	case "nullfs", "bind", "none":
		m := src + ":" + dst
		var keep []string
		for _, o := range strings.Split(opts, ",") {
			if o == "ro" || o == "noidmap" {
				keep = append(keep, o)
			}
		}
		if len(keep) > 0 {
			m += ":" + strings.Join(keep, ",")
		}
		d.cfg.Mounts = append(d.cfg.Mounts, m)
	case "tmpfs":
		t := dst
		for _, o := range strings.Split(opts, ",") {
			if size, ok := strings.CutPrefix(o, "size="); ok {
				t += ":" + size
			}
		}
		d.cfg.Tmpfs = append(d.cfg.Tmpfs, t)
	case "devfs", "procfs", "fdescfs", "linprocfs", "linsysfs":
		d.warnings = append(d.warnings, fmt.Sprintf("mount %s on %s: the jail has its own /dev and /proc; ignored", typ, dst))
	default:
		return fmt.Errorf("type %q: only nullfs, bind and tmpfs mounts are supported", typ)
	}
	return nil
}

// flagParams are the jail(8) parameters behind the flags that the core's
// errors name.
var flagParams = map[string][]string{
	"--name": {"name"}, "--host": {"host.hostname"}, "--root": {"path"},
	"--ip": {"ip4.addr", "ip6.addr"}, "--net": {"vnet.interface", "interface", "vnet"},
	"--mount": {"mount", "mount.fstab"}, "--tmpfs": {"mount", "mount.fstab"},
	"--image": {"image"}, "--ephemeral": {"ephemeral"}, "--disk": {"disk"},
	"--sysvipc": {"sysvmsg", "sysvsem", "sysvshm"},
	"--memory":  {"memoryuse"}, "--swap": {"swapuse"}, "--pids": {"maxproc"}, "--cpus": {"pcpu"},
	"--nofile": {"openfiles"}, "--cpu-weight": {"cpu.weight"}, "--io-weight": {"io.weight"},
	"--io-max": {"io.max"}, "--cgroup": {"cgroup"}, "--userns": {"userns"},
}

// limitFields are the limits whose value is their flag's, by rctl's
// names, and the Config field behind each.
var limitFields = map[string]func(c *prison.Config) *string{
	"memoryuse":  func(c *prison.Config) *string { return &c.Memory },
	"swapuse":    func(c *prison.Config) *string { return &c.Swap },
	"maxproc":    func(c *prison.Config) *string { return &c.Pids },
	"openfiles":  func(c *prison.Config) *string { return &c.NoFile },
	"cpu.weight": func(c *prison.Config) *string { return &c.CPUWeight },
	"io.weight":  func(c *prison.Config) *string { return &c.IOWeight },
}

// limitParam tells whether param is a limit, which prison set changes
// live: limitFields, and pcpu and io.max, which set lowers itself.
func limitParam(param string) bool {
	_, ok := limitFields[param]
	return ok || param == "pcpu" || param == "io.max"
}

// inParams names a bad value by the parameter the user gave it as, when
// that was a jail(8) parameter rather than a flag: "ip4.addr", not "--ip".
func (d *jailDef) inParams(err error) error {
	var pe *prison.ParamError
	if !errors.As(err, &pe) {
		return err
	}
	msg := pe.Error()
	for flag, params := range flagParams {
		if !strings.HasPrefix(msg, flag+" ") {
			continue
		}
		for _, p := range params {
			if d.given[p] {
				return &prison.ParamError{Err: fmt.Errorf("%s%s", p, strings.TrimPrefix(msg, flag))}
			}
		}
	}
	return err
}

// finish checks what only the whole definition can tell, and fills in
// what parameters imply for each other.
func (d *jailDef) finish() error {
	if d.iface != "" && d.cfg.Net == "" {
		// FreeBSD puts the jail's address on the host's interface; on
		// Linux the jail gets its own address on that segment.
		d.cfg.Net = "macvlan:" + d.iface
	}
	if len(d.sysv) > 0 {
		var v string
		for _, k := range []string{"sysvmsg", "sysvsem", "sysvshm"} {
			x := d.sysv[k]
			if x == "" {
				x = "new"
			}
			if v != "" && x != v {
				return &prison.ParamError{Err: fmt.Errorf("sysvmsg, sysvsem, sysvshm: prison takes one setting for the three (%s and %s given)", v, x)}
			}
			v = x
		}
		d.cfg.SysVIPC = v
	}
	return nil
}

// createJail makes the persistent jail d describes and runs its start
// hooks: jail -c.
func createJail(cmd *cobra.Command, d *jailDef) error {
	spec := d.spec
	hooks := d.hooks
	if spec == nil {
		if err := d.finish(); err != nil {
			return err
		}
		for _, w := range d.warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "prison: warning: %s: %s\n", d.cfg.Name, w)
		}
		for _, f := range d.fstabs {
			if err := d.fstab(f); err != nil {
				return &prison.ParamError{Err: err}
			}
		}
		d.cfg.Persist = true
		d.cfg.Args = nil
		if err := d.cfg.Validate(); err != nil {
			return d.inParams(err)
		}
		var err error
		if spec, err = d.cfg.Spec(); err != nil {
			return d.inParams(err)
		}
		if err := prison.SetHooks(spec, hooks); err != nil {
			return err
		}
	} else {
		var err error
		if hooks, err = prison.HooksOf(spec); err != nil {
			return err
		}
	}
	name := d.cfg.Name
	if err := runHostHooks(hooks, "exec.prestart", name); err != nil {
		return err
	}
	j := &prison.Jail{Name: name, Spec: spec, Persist: true}
	if err := j.Start(); err != nil {
		d.given["name"] = true // NAME, or the file's block
		return d.inParams(err)
	}
	// From here on a failure takes the jail down again, as jail(8) does.
	undo := func(err error) error {
		if r, ferr := prison.Find(name); ferr == nil {
			_ = r.Stop(0)
			r.Close()
		}
		return err
	}
	if err := runHostHooks(hooks, "exec.created", name); err != nil {
		return undo(err)
	}
	if len(hooks.Commands["exec.start"]) > 0 {
		r, err := prison.Find(name)
		if err != nil {
			return undo(err)
		}
		err = runJailHooks(r, hooks, "exec.start")
		r.Close()
		if err != nil {
			return undo(err)
		}
	}
	return runHostHooks(hooks, "exec.poststart", name)
}

// hookOutput is where hooks write: exec.consolelog, or the caller's
// stdout and stderr.
func hookOutput(h prison.Hooks) (stdout, stderr io.Writer, done func(), err error) {
	if h.ConsoleLog == "" {
		return os.Stdout, os.Stderr, func() {}, nil
	}
	f, err := os.OpenFile(h.ConsoleLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("exec.consolelog: %w", err)
	}
	return f, f, func() { f.Close() }, nil
}

// runHostHooks runs a host-side hook's commands by /bin/sh -c, as
// exec.system_user when set; the first failure stops it.
func runHostHooks(h prison.Hooks, hook, jail string) error {
	cmds := h.Commands[hook]
	if len(cmds) == 0 {
		return nil
	}
	stdout, stderr, done, err := hookOutput(h)
	if err != nil {
		return err
	}
	defer done()
	var cred *syscall.Credential
	if h.SystemUser != "" {
		u, err := user.Lookup(h.SystemUser)
		if err != nil {
			return fmt.Errorf("exec.system_user %q: no such user on the host", h.SystemUser)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	for _, c := range cmds {
		x := exec.Command("/bin/sh", "-c", c)
		x.Stdout, x.Stderr = stdout, stderr
		x.Env = append(os.Environ(), "PRISON_JAIL="+jail)
		x.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if err := x.Run(); err != nil {
			return fmt.Errorf("%s %q: %w", hook, c, err)
		}
	}
	return nil
}

// runJailHooks runs a hook's commands inside the jail by /bin/sh -c, as
// exec.jail_user when set.
func runJailHooks(r *prison.Running, h prison.Hooks, hook string) error {
	stdout, stderr, done, err := hookOutput(h)
	if err != nil {
		return err
	}
	defer done()
	for _, c := range h.Commands[hook] {
		j, err := r.Command(prison.ExecOptions{Args: []string{"/bin/sh", "-c", c}, User: h.JailUser})
		if err != nil {
			return fmt.Errorf("%s: %w", hook, err)
		}
		j.Stdout, j.Stderr = stdout, stderr
		st, err := j.Run()
		if err != nil {
			return fmt.Errorf("%s %q: %w", hook, c, err)
		}
		if code := st.ExitCode(); code != 0 {
			return fmt.Errorf("%s %q: exit status %d", hook, c, code)
		}
	}
	return nil
}

// loadFile reads a jail.conf and lowers the named jails (every jail when
// names is empty), each after the jails it depends on.
func loadFile(file string, names []string) ([]*jailDef, []jailconf.Warning, error) {
	conf, err := jailconf.ParseFile(file)
	if err != nil {
		return nil, nil, &prison.ParamError{Err: err}
	}
	ordered, err := conf.Order(names)
	if err != nil {
		if !errors.As(err, new(*jailconf.Error)) {
			err = fmt.Errorf("%s: %w", file, err) // an error that names no place
		}
		return nil, nil, &prison.ParamError{Err: err}
	}
	var defs []*jailDef
	for _, j := range ordered {
		d := newDef(defaultConfig())
		d.cfg.Name, d.conf = j.Name, j
		for _, p := range j.Params {
			if err := d.set(p.Name, p.Values); err != nil {
				return nil, nil, &prison.ParamError{Err: fmt.Errorf("%s:%d: jail %s: %w", p.Pos.File, p.Pos.Line, j.Name, err)}
			}
		}
		if err := d.finish(); err != nil {
			return nil, nil, fmt.Errorf("%s: jail %s: %w", file, j.Name, err)
		}
		defs = append(defs, d)
	}
	return defs, conf.Warnings, nil
}

// createFromFile creates the jails of a jail.conf, dependencies first;
// one already running is left alone.
func createFromFile(cmd *cobra.Command, file string, names []string) error {
	defs, warnings, err := loadFile(file, names)
	if err != nil {
		return err
	}
	printWarnings(cmd, warnings)
	for _, d := range defs {
		if r, err := prison.Find(d.cfg.Name); err == nil {
			r.Close()
			if len(names) == 0 {
				continue
			}
			return &prison.ParamError{Err: fmt.Errorf("%s: a jail of that name is running", d.cfg.Name)}
		}
		if err := createJail(cmd, d); err != nil {
			return err
		}
	}
	return nil
}

func newConfigCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "config [-f FILE] [NAME...]",
		Short: "Print what each jail of a jail.conf resolves to, and create nothing",
		Long: `Read a jail.conf(5) file (FreeBSD syntax) and print each jail as it resolves:
the wildcard and global parameters merged in, variables substituted. Parameters
that have no meaning on Linux are warned about; a syntax error or an unknown
parameter is an error naming the file, line and token.`,
		Example: `  prison config
  prison config -f jails.conf web1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				// Every jail that resolves; one that does not (a variable
				// it never sets) fails only when it is made, as in jail(8).
				conf, err := jailconf.ParseFile(file)
				if err != nil {
					return &prison.ParamError{Err: err}
				}
				for _, j := range conf.Jails {
					if j.Err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "prison: warning: %v: jail %s cannot be created\n", j.Err, j.Name)
						continue
					}
					args = append(args, j.Name)
				}
				if len(args) == 0 {
					return nil
				}
			}
			defs, warnings, err := loadFile(file, args)
			if err != nil {
				return err
			}
			printWarnings(cmd, warnings)
			out := cmd.OutOrStdout()
			for i, d := range defs {
				for _, w := range d.warnings {
					fmt.Fprintf(cmd.ErrOrStderr(), "prison: warning: %s: %s\n", d.cfg.Name, w)
				}
				if i > 0 {
					fmt.Fprintln(out)
				}
				fmt.Fprint(out, d.conf.Format())
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", defaultConfFile, "jail.conf(5) file")
	return cmd
}

func printWarnings(cmd *cobra.Command, warnings []jailconf.Warning) {
	for _, w := range warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "prison: warning: %s:%d: %s: %s\n", w.Pos.File, w.Pos.Line, w.Param, w.Msg)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
