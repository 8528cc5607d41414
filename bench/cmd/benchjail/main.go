//go:build linux

// Command benchjail measures prison, with and without a resident prison
// daemon (which it starts for the run and stops at the end), against bwrap,
// crun, runc and a bare unshare+chroot floor, and writes RESULTS.md and
// startup.svg. `make bench` runs it as
//
//	go run ./bench/cmd/benchjail -out bench
//
// from the repository root, as root. See bench/doc.go for what is measured.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"prison/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchjail:", err)
		os.Exit(1)
	}
}

type options struct {
	out, prison, only string
	rounds            int
	quick             bool
	seed              uint64
	keep              bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	var o options
	fs := flag.NewFlagSet("benchjail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "", "write RESULTS.md and startup.svg to this directory (default: print only)")
	fs.IntVar(&o.rounds, "rounds", 0, "measured rounds per section (default: each section's own)")
	fs.BoolVar(&o.quick, "quick", false, "smoke test: 3 rounds per section, 1 warm-up")
	fs.StringVar(&o.prison, "prison", "bin/prison", "prison binary; built from ./cmd/prison when missing")
	fs.StringVar(&o.only, "only", "", "comma-separated sections to run: "+strings.Join(sectionIDs(), ", "))
	fs.Uint64Var(&o.seed, "seed", 0, "shuffle seed (default: from the clock)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary root, bundle and state directories")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.only != "" {
		for _, id := range strings.Split(o.only, ",") {
			if !slices.Contains(sectionIDs(), id) {
				return nil, fmt.Errorf("-only %q: unknown section (have %s)", id, strings.Join(sectionIDs(), ", "))
			}
		}
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return &o, nil
}

func sectionIDs() []string {
	var ids []string
	for _, s := range bench.Suite(&bench.Env{}) {
		ids = append(ids, s.ID)
	}
	return ids
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root: jails, crun and runc need it (run: sudo make bench)")
	}
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(repo, "scripts", "busybox-root.sh")); err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}

	// The rows without --userns are named for prison's default mode: an
	// inherited default would measure another under their name, for the
	// jails prison run launches and for the daemon's, which parses theirs.
	if v, ok := os.LookupEnv(bench.UserNSEnv); ok {
		fmt.Fprintf(stderr, "benchjail: ignoring %s=%s: the suite measures both --userns modes itself\n", bench.UserNSEnv, v)
		if err := os.Unsetenv(bench.UserNSEnv); err != nil {
			return err
		}
	}
	env := &bench.Env{IDPrefix: fmt.Sprintf("prison-bench-%d-", os.Getpid())}
	var setup []string
	env.Tools, env.ToolNA = bench.EnsureTools(stderr)
	env.Prison, env.PrisonNA = findPrison(repo, o.prison, stderr)

	tmp, err := os.MkdirTemp("", "prison-bench-")
	if err != nil {
		return err
	}
	env.IPScript = filepath.Join(repo, "bench", "ipsetup.sh")
	env.Root = filepath.Join(tmp, "root")
	env.Bundle = filepath.Join(tmp, "bundle")
	env.SleepBundle = filepath.Join(tmp, "bundle-sleep")
	env.LimitsBundle = filepath.Join(tmp, "bundle-limits")
	env.State = filepath.Join(tmp, "state")
	env.OCIBundle = filepath.Join(tmp, "bundle-oci")
	env.OCIDir = filepath.Join(tmp, "oci")
	env.Repo = repo
	env.Socket = filepath.Join(tmp, "daemon.sock")
	env.MountsSocket = filepath.Join(tmp, "mounts-daemon.sock")
	var closeRunner, closeMounts func()
	defer func() {
		if env.Daemon != nil {
			stopDaemon(env.Daemon, stderr)
		}
		if closeMounts != nil {
			closeMounts()
		}
		if err := bench.Cleanup(env, tmp); err != nil {
			fmt.Fprintln(stderr, "benchjail: cleanup:", err)
		}
		if closeRunner != nil {
			closeRunner()
		}
		if o.keep {
			fmt.Fprintln(stderr, "benchjail: kept", tmp)
		} else if err := os.RemoveAll(tmp); err != nil {
			fmt.Fprintln(stderr, "benchjail: cleanup:", err)
		}
	}()
	if env.PrisonNA == "" {
		env.PrisonOCI, env.PrisonOCINA = prisonOCI(env.Prison, filepath.Join(tmp, "bin"))
	}
	fmt.Fprintf(stderr, "benchjail: building the busybox root in %s\n", env.Root)
	if err := bench.BuildRoot(repo, env.Root); err != nil {
		return err
	}
	if err := writeBundle(env); err != nil {
		for _, rt := range []string{"crun", "runc"} {
			env.ToolNA[rt], env.Tools[rt] = "OCI bundle: "+err.Error(), ""
		}
	}
	if env.Tools["crun"] != "" && bench.HybridCgroupV2Controllers() {
		r, err := bench.NewCgroupV1Runner()
		if err != nil {
			env.ToolNA["crun"], env.Tools["crun"] = "cgroup workaround: "+err.Error(), ""
		} else {
			closeRunner = r.Close
			env.CrunStart = r.Start
			setup = append(setup, "This host mounts cgroup v1 controllers and a cgroup v2 hierarchy with "+
				"controllers of its own at /sys/fs/cgroup/unified; crun 1.8 refuses to run there. crun is "+
				"therefore started from a private mount namespace in which that mount is covered by an empty "+
				"tmpfs, so it creates its cgroups in the v1 hierarchies as runc does. The namespace is made "+
				"once, before the measurements.")
		}
	}

	suite := func() []*bench.Section {
		sections := bench.Suite(env)
		if o.only != "" {
			ids := strings.Split(o.only, ",")
			sections = slices.DeleteFunc(sections, func(s *bench.Section) bool { return !slices.Contains(ids, s.ID) })
		}
		return sections
	}
	if env.PrisonNA == "" && bench.NeedsDaemon(suite()) {
		d, err := startDaemon(ctx, nil, env.Prison, env.Root, env.Socket, filepath.Join(tmp, "daemon.log"), stderr)
		if err != nil {
			env.DaemonNA = err.Error()
			fmt.Fprintln(stderr, "benchjail:", err)
		}
		env.Daemon = d
		setup = append(setup, daemonMethod)
	}
	if ns, daemon := bench.NeedsManyMounts(suite()); ns {
		closeMounts = setupManyMounts(ctx, env, tmp, daemon, stderr)
		setup = append(setup, mountsMethod)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	// Built again: the daemon contenders take the daemon, or its failure.
	sections := suite()
	// A seeded order, which -seed reproduces: no secret.
	runner := &bench.Runner{Rounds: o.rounds, Warmup: -1, Rand: rand.New(rand.NewPCG(o.seed, 0)), Progress: stderr} //nolint:gosec // G404
	if o.quick {
		runner.Warmup = 1
		if o.rounds == 0 {
			runner.Rounds = 3
		}
	}
	rep := &bench.Report{
		Date:     time.Now(),
		Machine:  bench.Machine(),
		Versions: bench.Versions(env, repo),
		Command:  "go run ./bench/cmd/benchjail " + strings.Join(args, " "),
		Seed:     o.seed,
		Quick:    o.quick,
		Setup:    setup,
	}
	for _, s := range sections {
		rep.Results = append(rep.Results, runner.Run(ctx, s))
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
	fmt.Fprint(stdout, rep.Text())
	if o.out == "" {
		return nil
	}
	return writeOutputs(o.out, rep)
}

// daemonMethod is the Method paragraph on the daemon rows.
const daemonMethod = "The (daemon) rows measure prison run served by a resident `prison daemon`, which the " +
	"suite starts once before the measurements (on a socket in its temporary directory, named to those rows " +
	"in PRISON_SOCKET) and stops with SIGTERM at the end. prison run is then a small C client that forks the " +
	"jail's init; the warm daemon plans, claims the name and the address, makes the network and drives the " +
	"init, so no Go runtime starts per jail. The (no daemon) and seccomp rows get PRISON_SOCKET=none and " +
	"launch the jail themselves. A probe first checks that the daemon serves the suite's jails (with " +
	"GODEBUG=inittrace=1, a client that starts Go would print its package inits), and a daemon row's " +
	"invocation fails if the daemon has died or written anything (it speaks only to refuse or fail a client)."

// mountsMethod is the Method paragraph on the mounts section's namespace.
var mountsMethod = fmt.Sprintf("The mounts section runs every contender from a private mount namespace "+
	"that the suite makes once, before the measurements (a thread of the driver unshares it, mounts "+
	"them and starts the contenders), with %d empty tmpfs mounts more than the driver's; the "+
	"propagation is private, so none of them reaches the host's namespace, and they end with the "+
	"namespace after the run. Its (daemon) rows are served by a second prison daemon started in that "+
	"namespace, on its own socket, with the same probe and checks as the first, and stopped the same way.",
	bench.ExtraMounts)

// daemonStartTimeout bounds the wait for the daemon's socket.
const daemonStartTimeout = 10 * time.Second

// startDaemon starts a prison daemon, with start (nil: directly), on
// socket, and checks that it serves the suite's jails started the same way.
// On failure no daemon is left running.
func startDaemon(ctx context.Context, start func(*exec.Cmd) error, bin, root, socket, logPath string, log io.Writer) (*bench.Daemon, error) {
	d, err := bench.StartDaemon(ctx, start, bin, socket, logPath, daemonStartTimeout)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "benchjail: prison daemon (pid %d) listening on %s\n", d.PID(), socket)
	if err := d.SelfTest(ctx, bin, root, log); err != nil {
		stopDaemon(d, log)
		return nil, fmt.Errorf("prison daemon self-test: %w", err)
	}
	return d, nil
}

// setupManyMounts makes the mounts section's namespace and, when daemon is
// set and there is a prison binary, starts the daemon there. What fails
// goes to env's NA fields and makes those contenders n/a. The returned
// function stops that daemon, then ends the namespace; nil when there is
// none.
func setupManyMounts(ctx context.Context, env *bench.Env, tmp string, daemon bool, log io.Writer) func() {
	dir := filepath.Join(tmp, "mounts")
	r, err := bench.NewManyMountsRunner(dir, bench.ExtraMounts)
	if err != nil {
		env.MountsNA = "namespace with many mounts: " + err.Error()
		fmt.Fprintln(log, "benchjail:", env.MountsNA)
		return nil
	}
	env.MountsStart = r.Start
	if env.MountsCount, err = r.CountMounts(); err != nil {
		fmt.Fprintln(log, "benchjail: count the mounts of the namespace:", err)
	}
	if env.HostMounts, err = bench.CountMountsHere(); err != nil {
		fmt.Fprintln(log, "benchjail: count the driver's mounts:", err)
	}
	fmt.Fprintf(log, "benchjail: mount namespace with %d tmpfs mounts on %s: %d mounts in all (the driver's: %d)\n",
		bench.ExtraMounts, dir, env.MountsCount, env.HostMounts)
	if daemon && env.PrisonNA == "" {
		d, err := startDaemon(ctx, r.Start, env.Prison, env.Root, env.MountsSocket, filepath.Join(tmp, "mounts-daemon.log"), log)
		if err != nil {
			env.MountsDaemonNA = err.Error()
			fmt.Fprintln(log, "benchjail:", err)
		}
		env.MountsDaemon = d
	}
	return func() {
		// First the daemon: its Pdeathsig goes with the runner's thread.
		if env.MountsDaemon != nil {
			stopDaemon(env.MountsDaemon, log)
		}
		r.Close()
	}
}

// stopDaemon stops d and shows what it wrote besides its greeting.
func stopDaemon(d *bench.Daemon, log io.Writer) {
	if err := d.Stop(5 * time.Second); err != nil {
		fmt.Fprintln(log, "benchjail:", strings.ReplaceAll(err.Error(), "\n", "\nbenchjail: "))
	}
	out := strings.TrimSpace(d.Output())
	if _, rest, _ := strings.Cut(out, "\n"); rest != "" || !strings.HasPrefix(out, "prison daemon: listening on ") {
		fmt.Fprintf(log, "benchjail: the prison daemon wrote:\n%s\n", out)
	}
	fmt.Fprintf(log, "benchjail: prison daemon (pid %d) stopped\n", d.PID())
}

// findPrison returns the prison binary to measure, building it when the
// default path is missing, or the reason there is none.
func findPrison(repo, path string, log io.Writer) (bin, na string) {
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(repo, path)
	}
	if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(log, "benchjail: %s missing; go build -o %s ./cmd/prison\n", path, path)
		if err := bench.BuildPrison(repo, abs); err != nil {
			return "", err.Error()
		}
	} else if err != nil {
		return "", err.Error()
	}
	return abs, ""
}

// prisonOCI returns prison by its OCI name: the prison-oci link beside
// prison (make build makes it) when it is prison, else one made in dir.
func prisonOCI(prison, dir string) (bin, na string) {
	const name = "prison-oci"
	beside := filepath.Join(filepath.Dir(prison), name)
	if a, err := os.Stat(beside); err == nil {
		if b, err := os.Stat(prison); err == nil && os.SameFile(a, b) {
			return beside, ""
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err.Error()
	}
	link := filepath.Join(dir, name)
	if err := os.Symlink(prison, link); err != nil {
		return "", err.Error()
	}
	return link, ""
}

// writeBundle writes the OCI bundles, of /bin/true, of a long-lived
// `/bin/sleep infinity`, of /bin/true without ambient capabilities (the
// OCI section's) and of /bin/true with the limits section's limits, with
// whichever runtime is installed.
func writeBundle(env *bench.Env) error {
	for _, rt := range []string{"runc", "crun"} {
		if bin := env.Tools[rt]; bin != "" {
			if err := bench.WriteBundle(bin, env.Bundle, env.Root, []string{"/bin/true"}); err != nil {
				return err
			}
			if err := bench.WriteBundle(bin, env.SleepBundle, env.Root, []string{"/bin/sleep", "infinity"}); err != nil {
				return err
			}
			if err := bench.WriteBundle(bin, env.OCIBundle, env.Root, []string{"/bin/true"}, bench.WithoutAmbient); err != nil {
				return err
			}
			return bench.WriteBundle(bin, env.LimitsBundle, env.Root, []string{"/bin/true"}, bench.WithLimits)
		}
	}
	return errors.New("neither runc nor crun is installed")
}

// writeOutputs writes RESULTS.md (keeping its hand-written profile notes)
// and startup.svg to dir.
func writeOutputs(dir string, rep *bench.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // G301: the results are for everyone to read
		return err
	}
	md := filepath.Join(dir, "RESULTS.md")
	old, err := os.ReadFile(md)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	rep.ProfileNotes = bench.ProfileNotes(string(old))
	if err := writeFileAtomic(md, []byte(rep.Markdown())); err != nil {
		return err
	}
	for _, res := range rep.Results {
		if res.Section.ID != bench.SecStartup {
			continue
		}
		sub := fmt.Sprintf("median, whiskers p10–p90, %d alternating rounds · %s · %s", res.Rounds, machineLine(rep), rep.Date.UTC().Format("2006-01-02"))
		svg := bench.BarChartSVG("Start-up: /bin/true in a jail on a busybox root", sub, "ms", res.Bars("prison"))
		if err := writeFileAtomic(filepath.Join(dir, "startup.svg"), []byte(svg)); err != nil {
			return err
		}
	}
	return nil
}

func machineLine(rep *bench.Report) string {
	var parts []string
	for _, kv := range rep.Machine {
		switch kv.Key {
		case "kernel":
			parts = append(parts, kv.Value)
		case "cores":
			parts = append(parts, kv.Value+" cores")
		}
	}
	return strings.Join(parts, ", ")
}

// writeFileAtomic replaces path by data through a temporary file, so an
// interrupted run never leaves a half-written report.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
