package prison

import (
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/cgroup"
	"prison/internal/nsinit"
	"prison/rootfs"
	"prison/seccomp"
)

// ExecOptions is a command to run in a running jail (prison exec, FreeBSD
// jexec).
type ExecOptions struct {
	Args     []string
	Env      []string // KEY=VALUE, over the jail's own environment
	Cwd      string   // inside the jail; the user's home when empty
	User     string   // a user of the jail's passwd (jexec -u); root when empty
	HostUser string   // a user of the host's passwd (jexec -U)
	Terminal bool
	Term     string
}

// Command returns a Jail whose Start runs o in r, and whose Wait, Signal
// and stdio work as for a new jail. The command gets the jail's
// namespaces, root, bounding set, capabilities, limits and seccomp policy,
// as if the jail's own PID 1 had started it; the process that joins
// stays outside the jail's PID namespace, and its command's side is not
// dumpable until its execve (init.c).
func (r *Running) Command(o ExecOptions) (*Jail, error) {
	if len(o.Args) == 0 || o.Args[0] == "" {
		return nil, &ParamError{Err: errors.New("COMMAND: missing")}
	}
	if o.User != "" && o.HostUser != "" {
		return nil, &ParamError{Err: errors.New("-u and -U: give one of them")}
	}
	prof, prog, err := r.execProfile()
	if err != nil {
		return nil, err
	}
	u, err := r.execUser(o)
	if err != nil {
		return nil, &ParamError{Err: err}
	}
	p := *prof.Process
	p.Args = o.Args
	p.Terminal = o.Terminal
	p.User = specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.Groups}
	p.Cwd = o.Cwd
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	env := []string{"HOME=" + u.Home, "HOSTNAME=" + r.Hostname}
	if o.Term != "" {
		env = append(env, "TERM="+o.Term)
	}
	// The capabilities are the jail's bounding set, which the init holds
	// for root and a change of uid drops (processPlan): nothing to adjust.
	p.Env = mergeEnv(mergeEnv(prof.Process.Env, env), o.Env)
	// The jail's own spec is not read (a third of a millisecond to
	// decode): the profile holds what the command needs.
	spec := &specs.Spec{Process: &p, Linux: &specs.Linux{}}
	return &Jail{Name: r.Name, Spec: spec, joined: r, joinNS: prof.Join, program: prog}, nil
}

// execProfile reads what a command joining the jail gets: its process,
// namespaces and compiled filter.
func (r *Running) execProfile() (*execProfile, *seccomp.Program, error) {
	prof, err := readExecProfile(r.Name)
	if err != nil {
		return nil, nil, err
	}
	var prog *seccomp.Program
	if len(prof.Filter) > 0 {
		var ok bool
		if prog, ok = decodeProgram(prof.Filter); !ok {
			return nil, nil, fmt.Errorf("state: %s: %s: a malformed filter", r.Name, execFile)
		}
	}
	return prof, prog, nil
}

// CommandProcess is Command for an OCI process (runc exec --process): the
// process as given, in the jail's namespaces, cgroup and filter, with at
// most the jail's capabilities.
func (r *Running) CommandProcess(p *specs.Process) (*Jail, error) {
	switch {
	case len(p.Args) == 0 || p.Args[0] == "":
		return nil, &ParamError{Err: errors.New("process.args is missing")}
	case p.Cwd == "":
		p.Cwd = "/"
	case !strings.HasPrefix(p.Cwd, "/"):
		return nil, &ParamError{Err: fmt.Errorf("process.cwd %q: want an absolute path", p.Cwd)}
	}
	prof, prog, err := r.execProfile()
	if err != nil {
		return nil, err
	}
	jail := prof.Process.Capabilities
	if p.Capabilities == nil {
		p.Capabilities = jail
	}
	if p.Capabilities != nil {
		var bound []string
		if jail != nil {
			bound = jail.Bounding
		}
		for _, c := range slices.Concat(p.Capabilities.Bounding, p.Capabilities.Effective, p.Capabilities.Permitted) {
			if !slices.Contains(bound, c) {
				return nil, &ParamError{Err: fmt.Errorf("process.capabilities: %s is not in the container's bounding set", c)}
			}
		}
	}
	if p.Rlimits == nil {
		p.Rlimits = prof.Process.Rlimits
	}
	spec := &specs.Spec{Process: p, Linux: &specs.Linux{}}
	return &Jail{Name: r.Name, Spec: spec, joined: r, joinNS: prof.Join, program: prog}, nil
}

// execUser resolves -u in the jail's own passwd, read through its PID 1's
// root (a tenant's file, opened without leaving that root), or -U in the
// host's.
func (r *Running) execUser(o ExecOptions) (*User, error) {
	switch {
	case o.HostUser != "":
		hu, err := user.Lookup(o.HostUser)
		if err != nil {
			hu, err = user.LookupId(o.HostUser)
		}
		if err != nil {
			return nil, fmt.Errorf("-U %q: no such user on the host", o.HostUser)
		}
		uid, _ := strconv.ParseUint(hu.Uid, 10, 32)
		gid, _ := strconv.ParseUint(hu.Gid, 10, 32)
		u := &User{UID: uint32(uid), GID: uint32(gid), Home: "/"}
		gids, _ := hu.GroupIds()
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil && uint32(n) != u.GID {
				u.Groups = append(u.Groups, uint32(n))
			}
		}
		return u, nil
	case o.User != "":
		root := "/proc/" + strconv.Itoa(r.InitPID) + "/root"
		u, err := lookupUser(root, o.User)
		if err == nil && !r.Alive() {
			// The pid may have been reused while the file was read.
			return nil, &NoJailError{Name: r.Name}
		}
		if err != nil {
			return nil, errors.New(strings.Replace(err.Error(), "--user", "-u", 1))
		}
		return u, nil
	}
	return &User{Home: "/root"}, nil
}

// startJoined starts a command in a running jail: the prison binary, from
// a read-only mount as for a jail's init, enters the jail's namespaces
// before it loads the filter, and forks the command into the jail.
func (j *Jail) startJoined() (err error) {
	plan, err := j.processPlan()
	if err != nil {
		return err
	}
	plan.Join = j.joinNS
	plan.UserNS = j.joinNS&unix.CLONE_NEWUSER != 0
	// Its inotify instances are the jail's, counted against the same
	// host ids as those of the jail's own processes.
	j.serveInotify(plan, j.joined.Inotify)
	// The command, which the joining init forks after GO, runs in the
	// jail's cgroup: the init goes there first (enterCgroup).
	if where := j.joined.Cgroup; where != nil {
		if j.cgroup, err = cgroup.Load(*where); err != nil {
			return err
		}
		if j.cgroupFiles, err = j.cgroup.TaskFiles(); err != nil {
			return err
		}
		if j.cgroupDir, err = j.cgroup.Dir(); err != nil {
			closeAll(j.cgroupFiles...)
			return err
		}
		plan.JoinCgroup = true
	}
	if j.Spec.Process.Terminal {
		// The jail's own devpts, which root inside can neither unmount
		// nor replace, found from the jail's root.
		plan.Ops = []rootfs.Op{rootfs.Root{Path: "/"}, rootfs.Pty{Path: "dev/pts/ptmx"}}
	}
	j.initPlan = plan
	defer func() {
		if err != nil {
			closeAll(j.cgroupFiles...)
			closeAll(j.cgroupDir)
			j.teardown()
		}
	}()
	if err := j.startInit(plan); err != nil {
		return err
	}
	if j.cgroup != nil {
		if err := j.enterCgroup(); err != nil {
			return err
		}
	}
	_ = unix.Send(j.syncFD(), nsinit.GoMessage(), 0)
	if err := j.awaitInit(); err != nil {
		return err
	}
	if err := j.awaitStarted(plan); err != nil {
		return err
	}
	if j.Detach {
		j.sock.Close()
		j.sock = nil
		j.closeAfterStart()
	}
	return nil
}

// joinFlags are the namespaces a command joining the jail enters: the
// jail's own, its network namespace, which the launcher made, and those
// it joined by path.
func joinFlags(s *specs.Spec) uint32 {
	f := uint32(cloneFlags(s))
	if hasNetNamespace(s) {
		f |= unix.CLONE_NEWNET
	}
	for _, j := range joinedNamespaces(s) {
		f |= j.Type
	}
	return f
}
