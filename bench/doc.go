// Package bench measures prison against its peers (bubblewrap, crun, runc
// and a bare unshare+chroot floor) and renders the results as RESULTS.md
// and an SVG chart. The driver is bench/cmd/benchjail; `make bench` runs
//
//	go run ./bench/cmd/benchjail -out bench
//
// as root from the repository root.
//
// A report is a list of Sections; a Section is a list of Contenders (command
// lines), a Measure (what "the time" of one invocation is) and Targets
// (bounds on ratios or differences, printed with PASS or MISS; a miss never
// fails the run). All of it is data, built in one place (Suite), so adding a
// contender or a section is adding a value:
//
//	&Section{
//		ID: "exec", Title: "prison exec", Unit: "ms", Rounds: 100, Warmup: 3,
//		Measure:    WallTime,
//		Contenders: []*Contender{e.prison("prison exec", false, nil, "/bin/true")},
//	}
//
// prison's start-up, network, parallelism and phase contenders come in both
// launch modes: "(daemon)" rows are served by a `prison daemon` that the
// driver starts for the run (PRISON_SOCKET names its socket; see Daemon),
// "(no daemon)" rows launch the jail themselves (PRISON_SOCKET=none), so a
// daemon on the default socket never changes what is measured.
//
// prison's rows run with its default user namespace mode, --userns auto
// (a user namespace of the jail's own, idmapped mounts of the host trees
// it binds); the driver clears PRISON_USERNS so that nothing changes that
// default. The start-up section also runs its prison rows with `prison run
// --userns host` (no user namespace) and reports the user namespace's cost
// as the ratio of the two; its, the mounts' and the limits' default rows
// say "(userns)" in their names.
//
// The mounts section repeats the start-up measurement on a host with many
// mounts: its contenders start in a private mount namespace that the
// driver makes once, with ExtraMounts tmpfs mounts more than its own (see
// MountNSRunner, which also serves crun), and its daemon rows are served by
// a second daemon that runs there, since a daemon serves only clients of
// its own mount namespace.
//
// The limits section repeats the start-up measurement with limits: prison
// run --memory and --pids against crun and runc on a bundle with the same
// limits in its linux.resources (WithLimits; Env.LimitsBundle), bwrap,
// which has no cgroup, for reference. Run it alone with
//
//	go run ./bench/cmd/benchjail -only limits -rounds 20
//
// The exec, create and memory sections measure persistent jails against
// long-lived containers. Each runtime's jail or container is a Unit: the
// commands that bring one up under a name and remove it (prison create and
// delete -t 0; crun and runc create, start and delete -f, of a bundle that
// runs `sleep infinity`; bwrap running it in the foreground), and how to
// find its processes. The exec section enters one unit per contender, made
// by the contender's Setup before the section and removed after it; the
// create section brings one up and removes it per invocation (UpDown); the
// memory section keeps IdleUnits of them up at once and reads the memory
// of their processes (IdleMemory). Every unit a run makes is removed at
// its end, pass or fail; Cleanup removes what an interrupted run left,
// by its names' IDPrefix. Run only these with
//
//	go run ./bench/cmd/benchjail -only exec,create,memory
//
// The OCI sections measure prison as an OCI runtime, by its OCI name
// (prison-oci, runc's command line), against crun and runc, the way
// container managers drive one (oci.go): "oci", one container's create,
// start, wait and delete, driven by bench/cmd/ocicycle, a child subreaper
// that the container's process is reparented to (ocicycle.go); "ctr",
// `ctr run --rm` with the runtime as containerd's runc v2 shim binary;
// "podman", `podman run --rm --network none` with it as --runtime. The
// image (ociimage.go) is the busybox root as one layer. The containerd
// and the podman are the suite's own: a Section's Setup makes each for its
// section (its configuration, storage and state in the run's temporary
// directory, its processes in a private mount namespace where /run is an
// empty tmpfs) and its teardown stops it and checks that nothing of a
// container is left. Run only these with
//
//	go run ./bench/cmd/benchjail -only oci,ctr,podman
//
// A Runner measures a Section in alternating rounds: every round runs every
// contender once, in shuffled order, so drift on a noisy machine spreads
// over all contenders instead of landing on one. The reports give medians
// and p10–p90 bands, never a lone time.
//
// The package's tests are pure (no root, no jails, no wall-clock
// assertions); the measurements themselves run only in the driver.
package bench
