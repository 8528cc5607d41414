package prison

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/cgroup"
	"prison/internal/nsinit"
	"prison/netns"
	"prison/rootfs"
	"prison/seccomp"
)

// ErrNotRoot is returned when prison runs without root privileges.
var ErrNotRoot = errors.New("prison must run as root")

// Start starts the jail: it claims the jail's name and addresses, starts
// the init in new namespaces, sets up the host side (network) while the init
// assembles the root, and lets the command run. Host side.
//
// Preconditions: Start and Wait are called from the same goroutine. Start
// locks it to its thread until Wait has seen the jail's init die, because
// the init's parent-death signal fires when the thread that started it
// exits, not the process (golang/go#27505).
func (j *Jail) Start() (err error) {
	j.Timing.mark("launcher_start")
	j.spawner = j.spawnerOf()
	if Rootless() && (j.joined != nil || j.Client != nil) {
		return ErrNotRoot
	}
	if j.joined != nil {
		return j.startJoined()
	}
	if err := validateSpec(j.Spec, j.Persist); err != nil {
		return err
	}
	if Rootless() {
		if err := j.prepareRootless(); err != nil {
			return err
		}
	}
	netPlan, err := netPlanOf(j.Name, j.Spec)
	if err != nil {
		return &ParamError{Err: err}
	}
	ids, err := usernsOf(j.Spec)
	if err != nil {
		return &ParamError{Err: err}
	}
	if j.rootless != nil {
		ids = nil // the user's own, not the store's
	}
	// The jail's network namespace is made by the launcher, on the other
	// core while the plan and the claim run: it needs neither, and its
	// creation is the most expensive of the jail's namespaces. The init
	// enters it after its mounts (rootfs.JoinNet). A jail with a user
	// namespace gets it from its clone instead, once the init exists
	// (initNet): made by the launcher, it would be the host's to own.
	madeNet := make(chan netNS, 1)
	userns := ids != nil || j.rootless != nil
	// Made by the init's clone, or, beside the init's start, by a
	// daemon's client (which the Go launcher, a process of many threads,
	// cannot do: entering a user namespace needs a single thread).
	j.clientNet = ids != nil && j.Client != nil && hasNetNamespace(j.Spec)
	initNet := userns && hasNetNamespace(j.Spec) && !j.clientNet
	switch {
	case initNet, j.clientNet:
	case hasNetNamespace(j.Spec):
		go func() {
			n := j.Pool.take(netPlan.Fits())
			if n.spare != nil {
				netns.NameSpare(&netPlan.Plan, n.spare)
			}
			madeNet <- n
		}()
	default:
		madeNet <- netNS{fd: -1} // --net host
	}
	netTaken := false // by the attaching goroutine below
	defer func() {
		// From the init or its client, nothing is made before the
		// attaching goroutine takes it.
		if !netTaken && !initNet && !j.clientNet {
			n := <-madeNet
			n.close()
		}
	}()
	plan, err := j.plan()
	if err != nil {
		return err
	}
	plan.Loopback = netPlan.EffectiveMode() == netns.ModeNone
	plan.Persist = j.Persist
	plan.Lookup = j.Created
	plan.UserNS = userns
	if j.Persist && j.program != nil && j.program.NotifiesOthers {
		// Served by the launcher, which a persistent jail outlives. A
		// user namespace of the jail's own does not change that:
		// sethostname asks for CAP_SYS_ADMIN there, which root inside
		// does not get, since in its own namespaces it is most of what
		// the filter exists to refuse.
		return &ParamError{Err: errors.New("allow.set_hostname: not available in a persistent jail; " +
			"change its hostname from the host with prison set NAME host.hostname=NEW")}
	}
	j.initPlan = plan // Wait names the init's failures with it
	j.Timing.mark("plan")
	// Without a user namespace, root inside is host uid 0, and its
	// inotify instances are made as a host uid of the jail's own
	// (seccomp.Params.HostIDs), which the claim picks.
	inotify := ids == nil && j.rootless == nil && j.program != nil && j.program.NotifiesInotify

	if err := netPlan.checkHost(); err != nil {
		return err
	}
	var where *cgroup.Where // none without root
	if j.rootless == nil {
		w, err := cgroupOf(j.Spec)
		if err != nil {
			return &ParamError{Err: err}
		}
		where = &w
	}
	if err := j.claim(netPlan, where, ids, inotify); err != nil {
		return err
	}
	j.serveInotify(plan, j.state.Inotify)
	if ids != nil {
		// The spec that exec and restart read says which ids the jail
		// has; an "auto" jail gets a range anew when it restarts.
		setMappings(j.Spec, *j.state.IDs)
		if err := makeStage(rootfs.StageDirs(plan.Ops, StageDir())); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			_ = j.awaitCgroup() // not removed under the goroutine's feet
			closeAll(j.cgroupFiles...)
			closeAll(j.cgroupDir)
			j.teardown()
		}
	}()
	j.Timing.mark("claim")
	// The jail's kept layer (--image), now that the name is the jail's
	// (layer_linux.go).
	if err := j.prepareLayer(plan); err != nil {
		return err
	}
	defer func() { j.layerDone(err) }()
	// Made while the init is cloned and mounts its root, and opened for
	// the init to join before it runs anything of the jail's
	// (enterCgroup).
	if where != nil {
		j.cgroupMade = make(chan madeCgroup, 1)
		go func() {
			var m madeCgroup
			m.g, m.err = newCgroup(*where, withDefaultDeviceRules(j.Spec.Linux.Resources))
			if m.err == nil {
				m.files, m.err = m.g.TaskFiles()
			}
			if m.err == nil {
				m.dir, m.err = m.g.Dir()
			}
			j.cgroupMade <- m
		}()
		plan.JoinCgroup = true
		plan.CgroupNS = cloneFlags(j.Spec)&unix.CLONE_NEWCGROUP != 0
	}
	if where != nil && (where.V2 != "" && where.Unit == "" || hasCgroupMount(j.Spec)) {
		// On cgroup v2 the init is cloned into its group, which must be
		// there first: a move would wait for an RCU grace period, 5-20
		// ms here, where making the group first costs a fraction of one.
		if err := j.awaitCgroup(); err != nil {
			return err
		}
	}

	// Connected to the host while the init is cloned, exec'd and mounts
	// its root: the address was claimed just now.
	made := make(chan netNS, 1)
	attached := make(chan error, 1)
	netTaken = true
	go func() {
		n := <-madeNet
		made <- n
		switch {
		case n.err != nil || n.fd < 0 || !netPlan.touchesHost():
		case n.spare != nil:
			j.net, n.err = netns.AttachSpare(&netPlan.Plan, n.fd, n.spare)
		default:
			j.net, n.err = netns.AttachNS(&netPlan.Plan, n.fd)
		}
		attached <- n.err
	}()
	// From here on the launcher sends without waiting for answers: the
	// init reads each message when it gets to it. The plan went before the
	// init existed, the namespace goes when it is made and GO when the host
	// side is attached, so the init's mounts, the clone and the network
	// overlap and no round trip is on the jail's path.
	err = j.startInit(plan)
	if err == nil && userns {
		// The trees are idmapped for the init's user namespace, and its
		// network is in the namespaces that exist once the init does.
		if err = j.awaitInit(); err == nil && ids != nil {
			err = j.sendTrees(plan)
		}
	}
	if initNet || j.clientNet {
		n := netNS{fd: -1}
		switch {
		case err != nil:
		case initNet:
			n.fd, n.err = j.initNS("net")
		default:
			n.fd, n.err = j.Client.netns()
		}
		if err == nil {
			err = n.err
		}
		madeNet <- n
	}
	if err != nil {
		if n := <-made; n.fd >= 0 {
			<-attached
			n.close()
		}
		return err
	}
	j.Timing.mark("clone")
	n := <-made
	if n.fd >= 0 && !initNet {
		// A failed send means the init is gone: its report says why.
		_ = unix.Sendmsg(j.syncFD(), nsinit.NetNSMessage(), unix.UnixRights(n.fd), nil, 0)
	}
	var cerr error
	if where != nil {
		cerr = j.enterCgroup()
	}
	j.Timing.mark("cgroup")
	nerr := <-attached // the attaching goroutine uses n.fd until then
	n.close()
	oerr := j.setOOMScoreAdj()
	if nerr == nil && cerr == nil && oerr == nil {
		if j.Created {
			// The launcher's end stays with the init for prison
			// start (StartContainer), and the command waits for it.
			_ = unix.Sendmsg(j.syncFD(), nsinit.ParkMessage(), unix.UnixRights(j.syncFD()), nil, 0)
		} else {
			_ = unix.Send(j.syncFD(), nsinit.GoMessage(), 0)
		}
	}
	if err := j.awaitInit(); err != nil {
		return err
	}
	if err := errors.Join(cerr, nerr, oerr); err != nil {
		// The init, waiting for the namespace, its cgroup or GO, is
		// killed by the teardown rather than waited for.
		return err
	}
	if j.Created {
		return j.awaitParked(plan)
	}
	if err := j.awaitStarted(plan); err != nil {
		return err
	}
	j.Pool.refill()
	if j.Persist {
		// Findable by name before create returns.
		if err := j.record(); err != nil {
			return err
		}
		j.detach()
	} else {
		// Off the jail's path: written while the command runs, and
		// waited for before the teardown removes the directory.
		j.recorded = make(chan error, 1)
		go func() { j.recorded <- j.record() }()
	}
	j.Timing.mark("exec")
	return nil
}

// awaitStarted reads the init's READY, with the terminal's master, and
// STARTED, with the seccomp listener that the launcher serves.
func (j *Jail) awaitStarted(plan *nsinit.Plan) error {
	if err := j.awaitReady(plan); err != nil {
		return err
	}
	return j.awaitCommand(plan)
}

// awaitReady reads the init's READY, with the terminal's master.
func (j *Jail) awaitReady(plan *nsinit.Plan) error {
	msg, err := j.recv()
	if err == nil && msg.Type != nsinit.MsgReady {
		err = j.initError(msg, plan)
	}
	j.Timing.mark("root+filter+network")
	if err != nil {
		return err
	}
	if msg.FD >= 0 {
		j.Console = os.NewFile(uintptr(msg.FD), "pty")
	}
	return nil
}

// awaitParked finishes a jail created to start later: set up, with the
// launcher's end of the sync socket parked in its init (StartContainer),
// recorded, and let go.
func (j *Jail) awaitParked(plan *nsinit.Plan) error {
	if err := j.awaitReady(plan); err != nil {
		return err
	}
	msg, err := j.recv()
	if err == nil && msg.Type != nsinit.MsgPark {
		err = j.initError(msg, plan)
	}
	if err != nil {
		return err
	}
	j.parkFD = int(msg.A)
	j.Pool.refill()
	if err := j.record(); err != nil {
		return err
	}
	j.detach()
	return nil
}

// awaitCommand reads the init's STARTED, with the seccomp listener that
// the launcher serves.
func (j *Jail) awaitCommand(plan *nsinit.Plan) error {
	msg, err := j.recv()
	if err == nil && msg.Type != nsinit.MsgStarted {
		err = j.initError(msg, plan)
	}
	if err != nil {
		return err
	}
	if msg.FD >= 0 {
		listener := os.NewFile(uintptr(msg.FD), "seccomp-listener")
		ctx, cancel := context.WithCancel(context.Background())
		j.stopHost = func() { cancel(); listener.Close() }
		go func() { _ = seccomp.ServeNotify(ctx, listener, j.inotify) }()
	}
	return nil
}

// record completes the jail's state with its init and its spec.
func (j *Jail) record() error {
	s := j.state
	s.InitPID, s.Persist = j.initPID, j.Persist
	s.Waiting, s.ParkFD = j.Created, j.parkFD
	st, err := procStartTime(j.initPID)
	switch {
	case errors.Is(err, os.ErrNotExist) || j.Signal(syscall.Signal(0)) != nil:
		// A daemon's client has already reaped an init whose command was
		// quick, and its pid may be another process's by now: the
		// record names no process (a start time of 0 matches none), and
		// no prison call will find the jail, which is over. The check
		// through the pidfd comes after the read: a pid that is still the
		// init's then was the init's.
		st = 0
	case err != nil:
		return fmt.Errorf("state: the init's start time: %w", err)
	}
	s.InitStart = st
	prof := &execProfile{Process: j.Spec.Process, Join: joinFlags(j.Spec)}
	if j.program != nil {
		prof.Filter = encodeProgram(j.program)
	}
	return s.record(j.Spec, prof)
}

// setOOMScoreAdj gives the init, and so the command, the spec's
// process.oomScoreAdj, before the command exists.
func (j *Jail) setOOMScoreAdj() error {
	adj := j.Spec.Process.OOMScoreAdj
	if adj == nil {
		return nil
	}
	if err := j.awaitInit(); err != nil {
		return err
	}
	p := "/proc/" + strconv.Itoa(j.initPID) + "/oom_score_adj"
	if err := os.WriteFile(p, []byte(strconv.Itoa(*adj)), 0); err != nil {
		return fmt.Errorf("process.oomScoreAdj %d: %w", *adj, err)
	}
	return nil
}

// detach lets a persistent jail go: its PID 1 holds the state lock and
// needs no launcher; what it had of the launcher's closes.
func (j *Jail) detach() {
	j.sock.Close()
	j.sock = nil
	j.state.handOver()
	j.closeAfterStart()
}

// procStartTime is the start time of process pid, in clock ticks after
// boot: with the pid, it names one process for the system's life.
func procStartTime(pid int) (uint64, error) {
	st, _, err := procStat(pid)
	return st, err
}

// procStat reads process pid's start time (procStartTime) and whether it
// is on its way out: a zombie, or a task in exit (PF_EXITING), which
// still holds its files, the state lock among them, for a moment.
func procStat(pid int) (start uint64, exiting bool, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, err
	}
	// The command name, in parentheses, may hold spaces and ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// Fields 3 (state), 9 (flags) and 22 (start time) of stat(5); f[0]
	// is field 3.
	if len(f) < 20 {
		return 0, false, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	const pfExiting = 0x4 // include/linux/sched.h
	flags, _ := strconv.ParseUint(f[6], 10, 64)
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] == "Z" || f[0] == "X" || flags&pfExiting != 0, err
}

// netNS is a network namespace the launcher made, or why it could not.
type netNS struct {
	fd    int
	spare *netns.Spare // a veth pair made in it, from a Pool
	err   error
}

// close releases the launcher's hold on the namespace and on a spare that
// was not attached (its source filter's map; an attached one is the
// link's now).
func (n netNS) close() {
	if n.fd >= 0 {
		unix.Close(n.fd)
	}
	n.spare.Close()
}

// plan lowers the spec into the init's plan. It compiles the seccomp
// filter here, in the launcher, so that the init needs no libseccomp.
func (j *Jail) plan() (*nsinit.Plan, error) {
	ops, err := rootfs.Plan(j.layout())
	if err != nil {
		return nil, err
	}
	p, err := j.processPlan()
	if err != nil {
		return nil, err
	}
	p.Ops, p.Hostname = ops, j.Spec.Hostname
	return p, nil
}

// processPlan lowers the spec's process, with its filter and limits: what
// a new jail's command and a command joining a jail get alike.
func (j *Jail) processPlan() (*nsinit.Plan, error) {
	s := j.Spec
	var err error
	p := &nsinit.Plan{
		Rows:       j.Rows,
		Cols:       j.Cols,
		Args:       s.Process.Args,
		Env:        s.Process.Env,
		Cwd:        s.Process.Cwd,
		UID:        s.Process.User.UID,
		GID:        s.Process.User.GID,
		Groups:     s.Process.User.AdditionalGids,
		NoNewPrivs: s.Process.NoNewPrivileges,
		NullStdio:  j.nullStdio(),
		Umask:      s.Process.User.Umask,
		PassFDs:    len(j.Files),
	}
	if c := s.Process.Capabilities; c != nil {
		if p.Caps, err = capMask(c.Bounding); err != nil {
			return nil, err
		}
		if p.Ambient, err = capMask(c.Ambient); err != nil {
			return nil, err
		}
		if p.Ambient&^p.Caps != 0 {
			return nil, &ParamError{Err: errors.New("process.capabilities.ambient: every ambient capability must be in the bounding set")}
		}
	}
	if p.Rlimits, err = rlimitsOf(s.Process.Rlimits); err != nil {
		return nil, err
	}
	if j.program == nil && s.Linux.Seccomp != nil {
		if j.program, err = compileFilter(s.Linux.Seccomp); err != nil {
			return nil, err
		}
	}
	if prog := j.program; prog != nil {
		p.Filter = prog.Filter
		if prog.Listener {
			p.FilterFlags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		}
	}
	return p, nil
}

// layout is the jail's root assembly: the spec's, and where its network
// namespace comes from. Every plan of the jail's root is made from it: a
// plan that missed the JoinNet of a namespace the clone did not make would
// leave the jail in the host's network.
func (j *Jail) layout() rootfs.Layout {
	l := layoutOf(j.Spec)
	if j.clientNet {
		l.JoinNet = true // the client's, sent as the launcher's is
	}
	return l
}

// layoutOf reads the root's assembly out of the spec.
func layoutOf(s *specs.Spec) rootfs.Layout {
	l := rootfs.Layout{
		Path:          s.Root.Path,
		HostDerived:   s.Annotations[AnnotationRoot] == "host",
		Mounts:        s.Mounts,
		MaskedPaths:   s.Linux.MaskedPaths,
		ReadonlyPaths: s.Linux.ReadonlyPaths,
		Sysctl:        s.Linux.Sysctl,
		Devices:       withDefaultDevices(s.Linux.Devices),
		Pty:           s.Process.Terminal,
		Readonly:      s.Root.Readonly,
		Join:          initJoins(s),
		Propagation:   rootfs.Propagations[s.Linux.RootfsPropagation],
	}
	switch ids, _ := usernsOf(s); {
	case Rootless():
		// The user's own ids: nothing to idmap (only the host's root
		// may), and the host's trees are reached as the user reaches
		// them. The clone makes the network namespace.
		l.BindDevices = true
	case ids != nil:
		// Its clone makes the network namespace too: owned by the
		// jail's user namespace, so that root inside may bind its low
		// ports and set its sysctls.
		l.IDMap, l.Stage = true, StageDir()
	default:
		l.JoinNet = hasNetNamespace(s)
	}
	l.Overlay, l.Size = overlayOf(s) // --image, --disk (image.go)
	if hasCgroupMount(s) && !Rootless() {
		l.Cgroup = cgroupView(s)
	}
	if l.HostDerived {
		l.Files = etcFiles(s)
	}
	return l
}

// withDefaultDevices adds to a spec's devices those every container has
// (runtime-spec, config-linux.md#default-devices), unless the spec makes
// them itself.
func withDefaultDevices(devs []specs.LinuxDevice) []specs.LinuxDevice {
	out := slices.Clone(devs)
	for _, d := range defaultDevices() {
		if !slices.ContainsFunc(devs, func(x specs.LinuxDevice) bool { return x.Path == d.Path }) {
			out = append(out, d)
		}
	}
	return out
}

// hasCgroupMount tells whether the spec mounts a view of the jail's
// cgroup, whose directories must then exist before the init starts.
func hasCgroupMount(s *specs.Spec) bool {
	return slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool { return m.Type == "cgroup" || m.Type == "cgroup2" })
}

// cgroupView is the jail's cgroup as its cgroup mount shows it. A view
// that cannot be made is empty: the mount is then an empty directory.
func cgroupView(s *specs.Spec) rootfs.CgroupView {
	var v rootfs.CgroupView
	w, err := cgroupOf(s)
	if err != nil {
		return v
	}
	dirs, links, err := w.Mounted(withDefaultDeviceRules(s.Linux.Resources))
	if err != nil {
		return v
	}
	for _, name := range slices.Sorted(maps.Keys(dirs)) {
		v.Dirs = append(v.Dirs, rootfs.CgroupDir{Name: name, Source: dirs[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(links)) {
		v.Links = append(v.Links, rootfs.Symlink{Target: links[name], Path: name})
	}
	return v
}

// withDefaultDeviceRules lets a spec's device rules, when it has any,
// allow the devices every container has (withDefaultDevices) and its
// terminals, as runc does: containerd's CRI denies all in a pod's
// sandbox and relies on that.
func withDefaultDeviceRules(r *specs.LinuxResources) *specs.LinuxResources {
	if r == nil || len(r.Devices) == 0 {
		return r
	}
	out := *r
	out.Devices = slices.Clone(r.Devices)
	num := func(n int64) *int64 { return &n }
	allow := func(major, minor *int64) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: major, Minor: minor, Access: "rwm"}
	}
	for _, d := range defaultDevices() {
		out.Devices = append(out.Devices, allow(num(d.Major), num(d.Minor)))
	}
	// /dev/console, /dev/ptmx, and every pty of the jail's devpts.
	out.Devices = append(out.Devices, allow(num(5), num(1)), allow(num(5), num(2)), allow(num(136), nil))
	// mknod of any node, which runc allows too: what the node names
	// stays closed (rw), and making one needs CAP_MKNOD.
	out.Devices = append(out.Devices,
		specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "m"},
		specs.LinuxDeviceCgroup{Allow: true, Type: "b", Access: "m"})
	return &out
}

// etcFiles are the host-derived root's own /etc.
func etcFiles(s *specs.Spec) []rootfs.WriteFile {
	var addrs []string
	if j := s.FreeBSD.Jail; j != nil {
		addrs = append(append(addrs, j.Ip4Addr...), j.Ip6Addr...)
	}
	for i, a := range addrs {
		addrs[i], _, _ = strings.Cut(a, "/")
	}
	var dns []string
	if d := s.Annotations[AnnotationDNS]; d != "" {
		dns = SplitList(d)
	}
	return []rootfs.WriteFile{
		{Path: "etc/hostname", Mode: 0o644, Data: []byte(s.Hostname + "\n")},
		{Path: "etc/hosts", Mode: 0o644, Data: etcHosts(s.Hostname, addrs)},
		{Path: "etc/resolv.conf", Mode: 0o644, Data: resolvConf(dns)},
		{Path: "etc/passwd", Mode: 0o644, Data: []byte(defaultPasswd)},
		{Path: "etc/group", Mode: 0o644, Data: []byte(defaultGroup)},
		{Path: "etc/mtab", Mode: 0o644, Data: nil},
	}
}

// serveInotify says who answers the jail's inotify calls, made as ids: the
// init, when they are all its filter notifies, or else the launcher, with
// the rest (allow.set_hostname).
func (j *Jail) serveInotify(plan *nsinit.Plan, ids *IDRange) {
	if ids == nil || j.program == nil || !j.program.NotifiesInotify {
		return
	}
	j.inotify = &seccomp.Owner{UID: ids.UID, GID: ids.GID}
	if !j.program.NotifiesOthers {
		plan.Inotify = &nsinit.IDs{UID: ids.UID, GID: ids.GID}
	}
}

func (j *Jail) claim(np *netPlan, cg *cgroup.Where, ids *IDMap, inotify bool) error {
	j.state = &State{
		IDs:       ids,
		Cgroup:    cg,
		SharedPID: !ownsPIDNS(j.Spec),
		Name:      j.Name,
		Hostname:  j.Spec.Hostname,
		Root:      j.Spec.Root.Path,
		Launcher:  os.Getpid(),
		Created:   time.Now().UTC(),
	}
	if j.Client != nil {
		j.state.Launcher = j.Client.PID
	}
	if inotify {
		j.state.Inotify = &IDRange{} // chosen by the claim
	}
	j.state.Addrs, j.state.HostLink = np.stateFields()
	st, err := openStore()
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.claim(j.state); err != nil {
		j.state = nil
		return err
	}
	return nil
}

// ownsPIDNS tells whether the jail's init is PID 1 of a namespace of its
// own, whose end ends every process in it.
func ownsPIDNS(s *specs.Spec) bool {
	return slices.ContainsFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
		return ns.Type == specs.PIDNamespace && ns.Path == ""
	})
}

// cloneFlags are the namespaces the spec asks for.
func cloneFlags(s *specs.Spec) uintptr {
	var f uintptr
	for _, ns := range s.Linux.Namespaces {
		if ns.Path != "" {
			continue
		}
		if ns.Type == specs.UserNamespace && hasNetNamespace(s) {
			f |= unix.CLONE_NEWNET
		}
		switch ns.Type {
		case specs.PIDNamespace:
			f |= unix.CLONE_NEWPID
		case specs.MountNamespace:
			f |= unix.CLONE_NEWNS
		case specs.UTSNamespace:
			f |= unix.CLONE_NEWUTS
		case specs.IPCNamespace:
			f |= unix.CLONE_NEWIPC
		case specs.NetworkNamespace:
			// Made by the launcher and joined by the init (JoinNet);
			// with a user namespace, made by the clone.
		case specs.UserNamespace:
			f |= unix.CLONE_NEWUSER
		case specs.CgroupNamespace:
			f |= unix.CLONE_NEWCGROUP
		}
	}
	return f
}

// startInit starts the prison binary as the jail's init in new namespaces
// and sends it the plan.
func (j *Jail) startInit(plan *nsinit.Plan) error {
	blob, err := plan.Encode()
	if err != nil {
		return err
	}
	// SOCK_SEQPACKET keeps message boundaries, so the protocol needs no
	// framing; the plan goes in one message.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync: socketpair: %w", err)
	}
	if len(blob) > 200<<10 {
		_ = unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, len(blob)+4096)
	}
	j.sock = os.NewFile(uintptr(fds[0]), "sync")
	child := os.NewFile(uintptr(fds[1]), "sync")
	defer child.Close()

	// Queued for the init before it exists.
	if err := unix.Send(j.syncFD(), blob, 0); err != nil {
		return fmt.Errorf("sync: send plan: %w", err)
	}
	if len(j.Files) > 0 {
		fds := make([]int, len(j.Files))
		for i, f := range j.Files {
			fds[i] = int(f.Fd())
		}
		if err := unix.Sendmsg(j.syncFD(), nsinit.FDsMessage(), unix.UnixRights(fds...), nil, 0); err != nil {
			return fmt.Errorf("sync: send the command's descriptors: %w", err)
		}
	}
	// fd 4: the state lock, which a new jail's init holds for the jail's
	// life (nsinit.h); a joining command gets the jail's pidfd there, and
	// does not keep the jail alive.
	var hold int
	flags := cloneFlags(j.Spec)
	if plan.CgroupNS {
		flags &^= unix.CLONE_NEWCGROUP // made by the init, in its cgroup
	}
	if j.clientNet {
		flags &^= unix.CLONE_NEWNET // made by the client
	}
	if j.joined == nil && hasNetNamespace(j.Spec) && flags&unix.CLONE_NEWNET == 0 && !joinsNet(plan) {
		// Fail closed: the jail would run in the host's network.
		return errors.New("bug: a network namespace that neither the clone makes nor the plan joins")
	}
	if j.joined != nil {
		// The jail to enter, as a pidfd that names its PID 1 for good.
		if err := unix.Sendmsg(j.syncFD(), nsinit.JoinMessage(), unix.UnixRights(j.joined.pidfd), nil, 0); err != nil {
			return fmt.Errorf("sync: send jail: %w", err)
		}
		hold, flags = j.joined.pidfd, 0
	} else {
		hold = int(j.state.lock.Fd())
	}
	return j.spawner.spawn(j, fds[1], hold, flags)
}

// joinsNet tells whether the plan enters a network namespace it is sent.
func joinsNet(plan *nsinit.Plan) bool {
	return slices.ContainsFunc(plan.Ops, func(op rootfs.Op) bool { _, ok := op.(rootfs.JoinNet); return ok })
}

// awaitInit learns the init's pid, which a client's spawn reports later.
func (j *Jail) awaitInit() error {
	if j.initPID != 0 || j.spawner == nil {
		return nil
	}
	pid, err := j.spawner.pid()
	j.initPID = pid
	return err
}

func (j *Jail) syncFD() int { return int(j.sock.Fd()) }

// recv reads one message from the init. EOF means the init died.
func (j *Jail) recv() (nsinit.Message, error) {
	buf := make([]byte, 64)
	oob := make([]byte, unix.CmsgSpace(4))
	reset := false
	for {
		n, oobn, _, _, err := unix.Recvmsg(j.syncFD(), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ECONNRESET) && !reset {
			// The init closed its end with a message of ours unread
			// (it failed, or exited before GO): the kernel reports
			// that once, ahead of what the init sent before it went,
			// its own words of why.
			reset = true
			continue
		}
		if err != nil {
			return nsinit.Message{FD: -1}, fmt.Errorf("sync: %w", err)
		}
		if n == 0 {
			return nsinit.Message{FD: -1}, errInitGone
		}
		return nsinit.ParseMessage(buf[:n], oob[:oobn])
	}
}

var errInitGone = errors.New("the jail's init exited before the command started")

// initError turns an init's failure report into an error naming the step.
func (j *Jail) initError(m nsinit.Message, plan *nsinit.Plan) error {
	if m.FD >= 0 {
		unix.Close(m.FD)
	}
	errno := syscall.Errno(m.B)
	switch m.Type {
	case nsinit.MsgError:
		switch int(m.A) {
		case nsinit.OpCwd:
			if errno == unix.ENOENT || errno == unix.ENOTDIR {
				return &ParamError{Err: fmt.Errorf("--cwd %q: no such directory in the jail", plan.Cwd)}
			}
			return &ParamError{Err: fmt.Errorf("--cwd %q: %w", plan.Cwd, errno)}
		}
		if op, ok := plan.OpAt(int(m.A)); ok {
			if mo, ok := op.(rootfs.Mount); ok {
				return &rootfs.MountError{
					Op: op.String(), Source: mo.Source, Target: mo.Target,
					FSType: mo.FSType, Flags: mo.Flags, Data: mo.Data, Err: errno,
				}
			}
			return fmt.Errorf("rootfs: %s: %w", op, errno)
		}
		return fmt.Errorf("init: %s: %w", plan.Step(int(m.A)), errno)
	case nsinit.MsgExecFailed:
		return &ExecError{Name: plan.Args[0], Err: syscall.Errno(m.A)}
	}
	return fmt.Errorf("bug: sync: unexpected message %d", m.Type)
}

// Wait waits for the command to end and removes everything the jail made
// on the host. The error is not nil when the command could not run.
func (j *Jail) Wait() (ExitStatus, error) {
	var st ExitStatus
	var err error
	exited := false // the init reported the command's end
	// While the command runs, what killed launchers left goes: this is the
	// "next prison call" that removes leftovers, kept off the start path.
	_ = Sweep()
	for {
		m, rerr := j.recv()
		if rerr != nil {
			break // the init is gone: its exit status tells the rest
		}
		if m.Type == nsinit.MsgExit {
			exited = true
			ws := syscall.WaitStatus(m.A)
			if ws.Signaled() {
				st.Signal = ws.Signal()
			} else {
				st.Code = ws.ExitStatus()
			}
			break
		}
		if m.Type == nsinit.MsgExecFailed || m.Type == nsinit.MsgError {
			if err == nil {
				err = j.initError(m, j.initPlan)
			}
		}
	}
	j.Timing.mark("run")
	if j.recorded != nil {
		<-j.recorded // a record that failed only made the jail harder to find
	}
	// The jail is over: the host side goes while the kernel tears down the
	// jail's namespaces, on the other core; its state and cgroup once the
	// init is reaped.
	j.teardownNet()
	ws, waitErr := j.waitInit()
	j.removeState()
	j.unlock()
	j.waitCopies()
	switch {
	case err != nil:
	case waitErr != nil:
		err = waitErr
	case exited:
	case ws.Signaled():
		// The init died without reporting: killed from outside.
		st.Signal = ws.Signal()
	case ws.Exited() && ws.ExitStatus() == nsinit.ExitSetup:
		err = errInitGone
	}
	j.Timing.mark("teardown")
	return st, err
}

// RelayGrace is how long the relays of a command that joined a running
// jail drain after it has exited (the daemon's client's RELAY_GRACE_MS).
const RelayGrace = 200 * time.Millisecond

// waitCopies waits for the relays of the jail's stdio to reach end of
// file. A new jail's end kills every process that could hold its pipes; a
// running jail lives on, and a process its command left in the background
// (a daemon of exec.start's rc script) may hold them for good: what the
// command wrote has arrived within the grace, and Wait returns with the
// command's status, as jexec does.
func (j *Jail) waitCopies() {
	if j.joined == nil {
		j.copies.Wait()
		return
	}
	done := make(chan struct{})
	go func() { j.copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(RelayGrace):
	}
}

// ErrNotRunning is returned by Signal for a jail whose init is not (or no
// longer) running.
var ErrNotRunning = errors.New("jail not running")

// Signal sends sig to the jail's command (through its PID 1, which forwards
// it). It may be called from any goroutine while Wait runs.
func (j *Jail) Signal(sig os.Signal) error {
	j.sigMu.Lock()
	defer j.sigMu.Unlock()
	if j.initPID == 0 || j.reaped {
		return ErrNotRunning
	}
	err := j.spawner.signal(sig.(syscall.Signal))
	if errors.Is(err, unix.ESRCH) {
		return ErrNotRunning // exited, not yet reaped
	}
	return err
}

// waitInit reaps the init.
func (j *Jail) waitInit() (syscall.WaitStatus, error) {
	ws, err := j.spawner.wait()
	if err == nil {
		j.setReaped()
	}
	return ws, err
}

// setReaped records that the init is gone, so that Signal no longer
// reaches for it, and lets go of the spawner's handle on it under the same
// lock, so that Signal never uses a handle closed under it.
func (j *Jail) setReaped() {
	j.sigMu.Lock()
	defer j.sigMu.Unlock()
	j.reaped = true
	j.spawner.release()
}

// teardown removes what the jail made on the host when Start fails.
func (j *Jail) teardown() {
	_ = j.awaitInit()
	if j.initPID != 0 && !j.reaped {
		_ = j.Signal(unix.SIGKILL)
		_, _ = j.waitInit()
	}
	j.copies.Wait()
	j.teardownHost()
	j.unlock()
}

// teardownHost removes the jail's host side: the hostname server, the sync
// socket, the network entries, and then the state with the cgroup.
func (j *Jail) teardownHost() {
	j.teardownNet()
	j.removeState()
}

// teardownNet removes the host side but the state: what can go while the
// kernel still ends the jail's processes. The cgroup cannot (the kernel
// refuses to remove it while the init exits), and the state records it,
// so that whoever removes one removes both.
func (j *Jail) teardownNet() {
	j.once.Do(func() {
		if j.stopHost != nil {
			j.stopHost()
		}
		if j.sock != nil {
			j.sock.Close()
		}
		if j.net != nil {
			j.whileOwned(func() { _ = j.net.Detach() })
		}
	})
}

// removeState removes the jail's state, with its cgroup: once the init is
// reaped, or the cgroup's removal waits for it.
func (j *Jail) removeState() {
	j.stateOnce.Do(func() {
		if j.state != nil {
			j.whileOwned(func() { _ = j.state.remove() })
		}
	})
}

// whileOwned runs f unless the jail's state was handed over to a client
// that has died since and another jail has claimed the name: what is left
// of this jail is the daemon's to remove only until then.
func (j *Jail) whileOwned(f func()) {
	if j.state == nil || j.state.lock != nil {
		f() // held by this launcher: nobody else can claim the name
		return
	}
	st, err := openStore()
	if err != nil {
		return
	}
	defer st.Close()
	if j.state.owned() {
		f()
	}
}

// unlock releases the thread that a spawn locked, once the init is dead.
func (j *Jail) unlock() {
	if f, ok := j.spawner.(*forkExec); ok {
		f.unlock()
	}
}
