package bench

import (
	"cmp"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"

	"prison/internal/peerconf"
)

// The OCI sections measure prison as an OCI runtime (prison-oci, runc's
// command line) against crun and runc, each way a container manager
// drives one: directly, create + start + wait + delete of a bundle (as a
// shim does; see ocicycle.go); under containerd, `ctr run --rm` with the
// runtime as the runc v2 shim's binary; under podman, `podman run --rm`
// with it as podman's --runtime. The containerd and the podman are the
// suite's own, each made by its section's Setup in a directory of the run
// and a mount namespace of its own (see oci_linux.go), and removed by its
// teardown.

// OCI section ids, for -only.
const (
	SecOCI    = "oci"
	SecCtr    = "ctr"
	SecPodman = "podman"
)

// The OCI sections' contenders: the runtimes, by name.
const (
	nameOCIPrison = "prison-oci"
	nameOCICrun   = "crun"
	nameOCIRunc   = "runc"
)

// ociRuntimes are the runtimes the OCI sections compare, in report order,
// each as a tool name: prison-oci is Env.PrisonOCI, the others Env.Tools.
var ociRuntimes = []string{nameOCIPrison, nameOCICrun, nameOCIRunc}

// OCIMax is the OCI sections' bound on prison over crun: half of crun's
// time for the runtime alone, crun's for a whole `ctr run` or `podman run`,
// whose client and manager take the same time whatever the runtime.
var OCIMax = map[string]float64{SecOCI: 0.5, SecCtr: 1.0, SecPodman: 1.0}

// ClientTools maps the container managers and the pieces they run to
// their Debian packages. Unlike Packages' tools they are not installed by
// the driver (podman would bring its recommends, systemd among them):
// `make deps` installs them, without recommends.
var ClientTools = map[string]string{
	"containerd":              "containerd",
	"ctr":                     "containerd",
	"containerd-shim-runc-v2": "containerd",
	"podman":                  "podman",
	"conmon":                  "conmon",
}

// ociRuntime returns the path of an OCI runtime of ociRuntimes, or why
// there is none.
// ImageRef names the image the containerd and podman sections run: the
// busybox root (Env.Root) with /bin/true as its command
// (internal/ociimage).
const ImageRef = "localhost/prison-bench/busybox:latest"

func (e *Env) ociRuntime(name string) (bin, na string) {
	if name == nameOCIPrison {
		if e.PrisonOCI == "" {
			return "", cmp.Or(e.PrisonOCINA, e.PrisonNA, "no prison-oci")
		}
		return e.PrisonOCI, ""
	}
	return e.binary(name)
}

// needTools returns why a contender that runs tools cannot run here, or
// "".
func (e *Env) needTools(tools ...string) string {
	for _, t := range tools {
		if _, na := e.binary(t); na != "" {
			return na
		}
	}
	return ""
}

// ociID returns a fresh container id of the section kind (oci, ctr,
// podman) for runtime.
func (e *Env) ociID(kind, runtime string) string {
	return e.IDPrefix + kind + "-" + runtime + "-" + strconv.FormatUint(e.nextID(), 10)
}

// ociCycle returns the OCI section's contender for runtime: ocicycle
// driving it on OCIBundle, with a state root of its own. crun starts
// where the driver starts it (its cgroup workaround).
func (e *Env) ociCycle(runtime string) *Contender {
	c := &Contender{Name: runtime}
	bin, na := e.ociRuntime(runtime)
	if na != "" {
		c.NA = na
		return c
	}
	c.Args = func() []string {
		id := e.ociID("oci", runtime)
		return CycleSpec{
			Runtime: bin, Root: e.ociStateRoot(SecOCI, runtime), Bundle: e.OCIBundle, ID: id,
			PIDFile: filepath.Join(e.OCIDir, "pids", id+".pid"),
		}.Args(e.ociCycleBin())
	}
	if runtime == nameOCICrun {
		c.Start = e.CrunStart
	}
	return c
}

// ociCycleBin is where the OCI section's Setup builds ocicycle.
func (e *Env) ociCycleBin() string { return filepath.Join(e.OCIDir, "ocicycle") }

// ociStateRoot is runtime's --root in section sec.
func (e *Env) ociStateRoot(sec, runtime string) string {
	return filepath.Join(e.OCIDir, sec+"-state", runtime)
}

// ctrDir is the containerd's directory: its config, root, state and
// socket, ctr's FIFOs and the runtimes' state roots.
func (e *Env) ctrDir() string { return filepath.Join(e.OCIDir, "containerd") }

// ctrSocket is the containerd's socket.
func (e *Env) ctrSocket() string { return filepath.Join(e.ctrDir(), "c.sock") }

// ctrNamespace is the containerd namespace of the suite's containers; ctr
// puts each container's cgroup at /NAMESPACE/ID, where Cleanup finds it
// by the prefix.
func (e *Env) ctrNamespace() string { return e.IDPrefix + "ctr" }

// ctrRun returns the containerd section's contender for runtime: `ctr
// run --rm` of the image's /bin/true, the runc v2 shim running runtime
// with a state root of its own, ctr's FIFOs in the containerd's
// directory.
func (e *Env) ctrRun(runtime string) *Contender {
	c := &Contender{Name: runtime}
	bin, na := e.ociRuntime(runtime)
	c.NA = cmp.Or(na, e.needTools("containerd", "ctr", "containerd-shim-runc-v2"))
	if c.NA != "" {
		return c
	}
	ctr := e.Tools["ctr"]
	c.Args = func() []string {
		return []string{
			ctr, "--address", e.ctrSocket(), "--namespace", e.ctrNamespace(), "run", "--rm",
			"--runc-binary", bin, "--runc-root", e.ociStateRoot(SecCtr, runtime), "--fifo-dir", filepath.Join(e.ctrDir(), "fifo"),
			ImageRef, e.ociID("ctr", runtime), "/bin/true",
		}
	}
	return c
}

// podmanDir is the podman's directory: its configuration, storage, run
// root, temporary files, event log and /var/lib's upper layer.
func (e *Env) podmanDir() string { return filepath.Join(e.OCIDir, "podman") }

// podmanCgroupParent is the cgroup under which podman puts its
// containers and their conmon, named with the prefix for Cleanup.
func (e *Env) podmanCgroupParent() string { return "/" + e.IDPrefix + "podman" }

// podmanEnv is the environment that points podman at its directory:
// containers.conf, storage.conf and registries.conf there, and HOME, the
// XDG directories and TMPDIR in it.
func (e *Env) podmanEnv() []string { return peerconf.Podman{Dir: e.podmanDir()}.Env() }

// podmanFixture is the podman section's podman: its Setup (setup) makes
// the podman's namespace, and start starts a command there.
type podmanFixture struct {
	e       *Env
	startFn func(*exec.Cmd) error // while the namespace is up
}

// start starts cmd in the podman's namespace; it has the signature of
// Contender.Start.
func (p *podmanFixture) start(cmd *exec.Cmd) error {
	if p.startFn == nil {
		return errors.New("the podman's namespace is not up")
	}
	return p.startFn(cmd)
}

// podmanRun returns the podman section's contender for runtime: `podman
// run --rm --network none` of the image's /bin/true with --runtime
// runtime, started in the podman's namespace (start, which the section's
// Setup makes work).
func (e *Env) podmanRun(runtime string, start func(*exec.Cmd) error) *Contender {
	c := &Contender{Name: runtime}
	bin, na := e.ociRuntime(runtime)
	c.NA = cmp.Or(na, e.needTools("podman", "conmon"))
	if c.NA != "" {
		return c
	}
	podman := e.Tools["podman"]
	c.Env = e.podmanEnv()
	c.Start = start
	c.Args = func() []string {
		return []string{
			podman, "--runtime", bin, "run", "--rm", "--network", "none", "--cgroup-parent", e.podmanCgroupParent(),
			ImageRef, "/bin/true",
		}
	}
	return c
}

// ociTargets returns the section's target: prison-oci against crun, by
// OCIMax.
func ociTargets(sec, what string) []Target {
	return []Target{{
		Label: fmt.Sprintf("OCI runtime, %s, prison-oci vs crun", what),
		Num:   nameOCIPrison, Den: nameOCICrun, Max: OCIMax[sec],
	}}
}

// ociSections returns the OCI sections.
func (e *Env) ociSections() []*Section {
	var cycles, ctrs, podmans []*Contender
	pd := e.podman()
	for _, rt := range ociRuntimes {
		cycles = append(cycles, e.ociCycle(rt))
		ctrs = append(ctrs, e.ctrRun(rt))
		podmans = append(podmans, e.podmanRun(rt, pd.start))
	}
	rtNote := "The runtimes: prison-oci is " + e.prisonOCIWhat() + ", which takes runc's command line by that " +
		"name; crun and runc are the distribution's."
	cycleNote := rtNote + " crun starts from the private mount namespace of the Method's cgroup workaround, " +
		"prison-oci and runc from the driver's."
	return []*Section{{
		ID:    SecOCI,
		Title: "OCI runtime: create, start, wait, delete",
		About: "One container's life, driven with runc's command line as a shim does: `RUNTIME --root STATE create " +
			"--bundle BUNDLE --pid-file FILE ID`, `RUNTIME --root STATE start ID`, a wait for the process whose pid " +
			"create wrote (the container's process for crun and runc, the jail's init, whose child the command is, " +
			"for prison), and `RUNTIME --root STATE delete ID`, each command's stdin and stdout /dev/null and its " +
			"stderr a pipe. The bundle is the start-up section's (`runc spec`'s config.json: /bin/true on the busybox " +
			"root, read-only, no terminal) without ambient capabilities, which prison refuses. The driver of each " +
			"container is bench/cmd/ocicycle, a child subreaper (PR_SET_CHILD_SUBREAPER), which the container's " +
			"process is reparented to once create exits; it times each step, fork to reap (wait: from start's reap to " +
			"the process's), and its own start-up is in none of them. total is the sum of the steps.",
		Unit: "ms", Rounds: 100, Warmup: 3,
		Measure:    CycleSteps,
		Baseline:   nameOCICrun,
		Contenders: cycles,
		Targets:    ociTargets(SecOCI, "create + start + wait + delete"),
		Setup:      e.ociSetup,
		Notes: []string{
			cycleNote,
			"A failed step fails the invocation; ocicycle then kills the container's process, deletes the container " +
				"with --force and reaps every process reparented to it, and it fails too when one is still alive after " +
				"the delete, so that no container outlives its invocation. The exit status of the waited-for process " +
				"must be 0.",
		},
	}, {
		ID:    SecCtr,
		Title: "OCI runtime under containerd: ctr run --rm",
		About: "Wall time from fork to reap of `ctr run --rm` of /bin/true in an image of the busybox root, with the " +
			"runtime as the binary of containerd's runc v2 shim (`--runc-binary`): the image's snapshot, the shim, " +
			"the runtime's create and start, the wait for the container's exit, the runtime's delete, the container's " +
			"removal. The containerd is the suite's " +
			"own (1.6, its CRI plugin disabled), with its config, root, state and socket in the run's temporary " +
			"directory, started for this section and stopped (SIGTERM, by its pid) after it.",
		Unit: "ms", Rounds: 40, Warmup: 2,
		Measure:    WallTime,
		Baseline:   nameOCICrun,
		Contenders: ctrs,
		Targets:    ociTargets(SecCtr, "ctr run --rm"),
		Setup:      e.ctrSetup,
		Notes: []string{
			"The shim runs the runtime as `RUNTIME --root STATE --log FILE --log-format json VERB …`, each runtime " +
				"with a state root of its own (`--runc-root`). The containers' cgroups are /NAMESPACE/ID (ctr's " +
				"default) in each v1 hierarchy.",
			"containerd and its shims run in a private mount namespace of their own, made by a thread of the driver: " +
				"/run there is an empty tmpfs (the shims' sockets, which containerd 1.6 puts in /run/containerd/s " +
				"whatever its state directory, stay off the host), and " + cgroupCover + ". Its mounts (the " +
				"containers' root file systems) never reach the host's table and go with it.",
			rtNote,
		},
	}, {
		ID:    SecPodman,
		Title: "OCI runtime under podman: podman run --rm",
		About: "Wall time from fork to reap of `podman run --rm --network none` of /bin/true in the same image, " +
			"loaded into a podman of the suite's own (4.3, its configuration, storage, run root, temporary files and " +
			"event log in the run's temporary directory; the cgroupfs manager, the file events backend, file locks), " +
			"with the runtime as --runtime: podman's container and its storage, conmon, the runtime's create and start, " +
			"the wait, the cleanup and the removal.",
		Unit: "ms", Rounds: 40, Warmup: 2,
		Measure:    WallTime,
		Baseline:   nameOCICrun,
		Contenders: podmans,
		Targets:    ociTargets(SecPodman, "podman run --rm"),
		Setup:      pd.setup,
		Notes: []string{
			"podman and what it starts (conmon, the runtime, `podman container cleanup`) run in a private mount " +
				"namespace of their own, made by a thread of the driver: /run there is an empty tmpfs (each runtime's " +
				"default state directory, /run/crun, /run/runc and /run/prison, is there: podman names no --root to " +
				"its cleanup's delete), /var/lib an overlay whose upper layer is in the podman's directory (podman load " +
				"writes a cache in /var/lib/containers whatever it is told), and " + cgroupCover + ". The " +
				"containers' cgroups are under " + e.podmanCgroupParent() + " (--cgroup-parent); their nofile and nproc " +
				"limits are 1024 (default_ulimits), since podman's default is above this machine's hard limits.",
			rtNote,
		},
	}}
}

// cgroupCover says what becomes of the cgroup v2 mount in the OCI
// sections' namespaces.
const cgroupCover = "on a host with cgroup v2 controllers at /sys/fs/cgroup/unified (a hybrid, which crun " +
	"refuses) that mount is covered by an empty tmpfs, for every runtime alike"

// prisonOCIWhat says which binary prison-oci is.
func (e *Env) prisonOCIWhat() string {
	if e.PrisonOCI == "" {
		return "prison by its OCI name"
	}
	return e.PrisonOCI + " (a link to " + e.Prison + ")"
}
