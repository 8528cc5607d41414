package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"prison/internal/mountinfo"
	"prison/internal/peerconf"
)

// containerd drives the OCI runtime under test (ociRuntime) as Kubernetes
// nodes and ctr users do: containerd 1.6 with its io.containerd.runc.v2
// shim, which runs the runtime with runc's command line (create, start,
// exec, kill, delete, state, ...). Each test has a containerd of its own:
// its own config, root, state and socket, in a temporary directory, and
// a containerd namespace of its own.

const (
	containerdBin = "/usr/bin/containerd"
	ctrBin        = "/usr/bin/ctr"
	// Where every runc v2 shim puts its socket, whatever containerd's
	// state directory (containerd 1.6 hard-codes it), and where ctr
	// makes its FIFO directories unless told.
	containerdRunDir   = "/run/containerd"
	containerdShimDir  = "/run/containerd/s"
	containerdFIFOHome = "/run/containerd/fifo"
)

// containerdD is a containerd that the test started.
type containerdD struct {
	t    *testing.T
	dir  string // config.toml, root/, state/, runc/, fifo/, the socket
	sock string // gRPC socket
	// runtime is the OCI runtime binary, absolute, that ctr and the CRI
	// runtime handler name to the shim.
	runtime string
	// runcRoot is the runtime's --root that the shim passes (by default
	// /run/containerd/runc): here under dir, so that what the runtime
	// leaves there can be checked.
	runcRoot string
	cmd      *exec.Cmd
	log      *lockedBuffer
	exited   chan error
	// namespaces whose tasks, containers and cgroups the cleanup checks.
	namespaces []string
	// cgroupParents are cgroup paths (relative to each hierarchy's root)
	// that containers were put under: the cleanup checks that they are
	// empty and removes them.
	cgroupParents []string
}

// requireContainerd fails or skips (as TestMain does for root) unless
// containerd and ctr are installed.
func requireContainerd(t *testing.T) {
	t.Helper()
	for _, b := range []string{containerdBin, ctrBin, "/usr/bin/containerd-shim-runc-v2"} {
		if _, err := os.Stat(b); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing (apt-get install containerd): %v", b, err)
			}
			t.Skipf("%s missing (apt-get install containerd)", b)
		}
	}
}

// ociRuntimePath is ociRuntime as an absolute path, as containerd's shim
// options want it.
func ociRuntimePath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath(ociRuntime())
	if err != nil {
		t.Fatalf("the OCI runtime %q: %v", ociRuntime(), err)
	}
	p, err = filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ociRandHex returns n random bytes in hex: names unique to this run.
func ociRandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startContainerd starts a containerd of the test's own and waits until it
// serves. Without criTOML the CRI plugin is disabled; with it, criTOML is
// the plugin's configuration, appended to the config (it may use
// {{DIR}} and {{RUNTIME}} and {{RUNCROOT}}). The test's cleanup stops it
// (by its PID), and checks that nothing is left of its containers: no
// task or container, no shim, no mount under its directory, no runtime
// state, no shim socket, no cgroup.
func startContainerd(t *testing.T, criTOML string) *containerdD {
	t.Helper()
	requireContainerd(t)
	runtime := ociRuntimePath(t)
	// Unix socket paths are limited to 108 bytes: a short directory of
	// its own rather than t.TempDir's, which has the test's name in it.
	dir, err := os.MkdirTemp("", "prison-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	d := &containerdD{
		t:        t,
		dir:      dir,
		sock:     filepath.Join(dir, "c.sock"),
		runtime:  runtime,
		runcRoot: filepath.Join(dir, "runc"),
		log:      &lockedBuffer{},
		exited:   make(chan error, 1),
	}
	// The last cleanup: whatever is left, and the directory.
	t.Cleanup(func() {
		unmountUnder(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	cri := strings.NewReplacer("{{DIR}}", dir, "{{RUNTIME}}", d.runtime, "{{RUNCROOT}}", d.runcRoot).Replace(criTOML)
	config := peerconf.Containerd(dir, d.sock, cri)
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}

	// What was there before, so that the cleanup removes only what this
	// containerd made: /run/containerd and its shim socket directory.
	runDirBefore := fileExists(containerdRunDir)
	shimsBefore := ociDirNames(containerdShimDir)

	d.cmd = exec.Command(containerdBin, "--config", cfgPath, "--log-level", "info")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() { d.stop(runDirBefore, shimsBefore) })

	// Serving once ctr reaches it through the socket.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-d.exited:
			d.exited <- err
			t.Fatalf("containerd exited before it served (%v):\n%s", err, d.log.String())
		default:
		}
		if fileExists(d.sock) {
			if r := d.ctrNS("", "version"); r.code == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not serve on %s:\n%s", d.sock, d.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d
}

// newNamespace returns a containerd namespace unique to this test, which
// the cleanup checks.
func (d *containerdD) newNamespace() string {
	ns := "prisontest-" + ociRandHex(4)
	d.namespaces = append(d.namespaces, ns)
	// ctr's containers go into the cgroup /NAMESPACE/ID.
	d.cgroupParents = append(d.cgroupParents, ns)
	return ns
}

// ctrNS runs ctr against this containerd, in namespace ns ("" for none),
// with a generous timeout.
func (d *containerdD) ctrNS(ns string, args ...string) result {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := []string{"--address", d.sock}
	if ns != "" {
		full = append(full, "--namespace", ns)
	}
	cmd := exec.CommandContext(ctx, ctrBin, append(full, args...)...)
	return runCmd(d.t, cmd)
}

// mustCtr is ctrNS that fails the test unless ctr exits 0.
func (d *containerdD) mustCtr(ns string, args ...string) string {
	d.t.Helper()
	r := d.ctrNS(ns, args...)
	if r.code != 0 {
		d.t.Fatalf("ctr -n %s %s: exit %d\nstdout: %s\nstderr: %s\ncontainerd's last warnings and errors:\n%s",
			ns, strings.Join(args, " "), r.code, r.stdout, r.stderr, logTail(d.log.String(), 15))
	}
	return r.stdout
}

// importImage imports an image archive into namespace ns and checks that
// the image is then listed under ref.
func (d *containerdD) importImage(ns, archive, ref string) {
	d.t.Helper()
	d.mustCtr(ns, "images", "import", archive)
	if refs := strings.Fields(d.mustCtr(ns, "images", "ls", "-q")); !slices.Contains(refs, ref) {
		d.t.Fatalf("after importing %s: images %v, want %s", filepath.Base(archive), refs, ref)
	}
}

// runArgs are the ctr run options that make the shim use the runtime
// under test, with its state and ctr's FIFOs under the test's directory.
func (d *containerdD) runArgs() []string {
	return []string{"--runc-binary", d.runtime, "--runc-root", d.runcRoot, "--fifo-dir", filepath.Join(d.dir, "fifo")}
}

// taskStatus returns the STATUS column of ctr task ls for task id, ""
// when it is not listed.
func (d *containerdD) taskStatus(ns, id string) string {
	d.t.Helper()
	for _, l := range strings.Split(d.mustCtr(ns, "task", "ls"), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

// waitTaskStatus waits (bounded, generously) until task id has status want.
func (d *containerdD) waitTaskStatus(ns, id, want string) {
	d.t.Helper()
	var got string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = d.taskStatus(ns, id); got == want {
			return
		}
	}
	d.t.Fatalf("task %s: status %q, want %q", id, got, want)
}

// stop is the cleanup: what the tests left in containerd, containerd
// itself, then what it or the runtime left on the machine.
func (d *containerdD) stop(runDirBefore bool, shimsBefore map[string]bool) {
	t := d.t
	t.Helper()
	// A leftover after a failed test is expected, not news.
	leftover := t.Errorf
	if t.Failed() {
		leftover = t.Logf
	}
	alive := true
	select {
	case err := <-d.exited:
		t.Errorf("containerd exited during the test (%v):\n%s", err, logTail(d.log.String(), 15))
		alive = false
	default:
	}
	if alive {
		for _, ns := range d.namespaces {
			if ids := strings.Fields(d.ctrNS(ns, "task", "ls", "-q").stdout); len(ids) > 0 {
				leftover("leftover: tasks %v in namespace %s", ids, ns)
				for _, id := range ids {
					d.ctrNS(ns, "task", "kill", "-s", "SIGKILL", id)
					d.ctrNS(ns, "task", "delete", "--force", id)
				}
			}
			if ids := strings.Fields(d.ctrNS(ns, "container", "ls", "-q").stdout); len(ids) > 0 {
				leftover("leftover: containers %v in namespace %s", ids, ns)
				for _, id := range ids {
					d.ctrNS(ns, "container", "delete", id)
				}
			}
		}
		d.cmd.Process.Signal(unix.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(60 * time.Second):
			t.Errorf("containerd did not exit on SIGTERM: killing it")
			d.cmd.Process.Kill()
			<-d.exited
		}
	}

	// Shims outlive containerd by design: ours must have gone with their
	// containers. They exit a moment after their last container's delete.
	var shims []int
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if shims = shimsOf(d.sock); len(shims) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(shims) > 0 {
		leftover("leftover: shim processes %v", shims)
		for _, pid := range shims {
			unix.Kill(pid, unix.SIGKILL)
		}
	}

	if mounts := mountsUnder(d.dir); len(mounts) > 0 {
		leftover("leftover: mounts %v", mounts)
	}
	// The runtime's state: runc root/NAMESPACE/ID, the shim's bundles.
	for _, ns := range d.namespaces {
		for _, p := range []string{
			filepath.Join(d.runcRoot, ns),
			filepath.Join(d.dir, "state", "io.containerd.runtime.v2.task", ns),
		} {
			if left := ociDirNames(p); len(left) > 0 {
				leftover("leftover: %s: %v", p, slices.Sorted(maps.Keys(left)))
			}
		}
	}
	if left := ociDirNames(filepath.Join(d.dir, "fifo")); len(left) > 0 {
		leftover("leftover: ctr FIFO directories %v", slices.Sorted(maps.Keys(left)))
	}
	var newShims []string
	for n := range ociDirNames(containerdShimDir) {
		if !shimsBefore[n] {
			newShims = append(newShims, n)
		}
	}
	if len(newShims) > 0 {
		leftover("leftover: shim sockets %v in %s", newShims, containerdShimDir)
	}
	if !runDirBefore {
		// Only if empty: ctr's and the shims' parent directories.
		os.Remove(containerdShimDir)
		os.Remove(containerdFIFOHome)
		os.Remove(containerdRunDir)
	}

	// The cgroup parents: empty (every container's cgroup gone), then
	// removed, in each hierarchy.
	for _, parent := range d.cgroupParents {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", parent))
		for _, cg := range dirs {
			ents, _ := os.ReadDir(cg)
			for _, e := range ents {
				if e.IsDir() {
					leftover("leftover: cgroup %s", filepath.Join(cg, e.Name()))
				}
			}
			removeCgroupTree(cg)
		}
	}
}

// shimsOf lists the pids of the containerd shims serving containerd at
// address sock (their command line names it).
func shimsOf(sock string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || exiting(e.Name()) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == sock {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// mountsUnder lists the mount points at or under dir, in mount order.
func mountsUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	return mountinfo.Under(b, dir)
}

// unmountUnder detaches every mount under dir, deepest first, so that
// removing dir cannot reach through one into another file system.
func unmountUnder(t *testing.T, dir string) {
	mounts := mountsUnder(dir)
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(mounts[i], unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mounts[i], err)
		}
	}
}

// removeCgroupTree removes an empty cgroup and its empty descendants.
func removeCgroupTree(cg string) {
	ents, _ := os.ReadDir(cg)
	for _, e := range ents {
		if e.IsDir() {
			removeCgroupTree(filepath.Join(cg, e.Name()))
		}
	}
	os.Remove(cg)
}

// ociDirNames returns the names in directory p (none if it is missing).
func ociDirNames(p string) map[string]bool {
	ents, _ := os.ReadDir(p)
	m := map[string]bool{}
	for _, e := range ents {
		m[e.Name()] = true
	}
	return m
}

// logTail returns the last n of the warning and error lines of containerd's
// log s.
func logTail(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "level=warning") || strings.Contains(l, "level=error") || strings.Contains(l, "level=fatal") {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFileContains waits (bounded) until file p contains want, and
// returns its content.
func waitFileContains(t *testing.T, p, want string) string {
	t.Helper()
	var b []byte
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, _ = os.ReadFile(p); bytes.Contains(b, []byte(want)) {
			return string(b)
		}
	}
	t.Fatalf("%s: no %q in %q", p, want, b)
	return ""
}

// TestContainerdRunRm is ctr run --rm: a container from an imported
// image, its output, its exit status; nothing is left of it afterwards.
func TestContainerdRunRm(t *testing.T) {
	ociPass(t)
	d := startContainerd(t, "")
	ns := d.newNamespace()
	ociArchive, dockerArchive := ociBusyboxImage(t)
	d.importImage(ns, ociArchive, ociBusyboxRef)

	id := "run-" + ociRandHex(3)
	script := `echo hello; echo "pid $$"; echo "uid $(id -u)"; echo "cwd $(pwd)"; echo "path $PATH";` +
		` echo "init $(tr '\0' ' ' </proc/1/cmdline)"; echo oops >&2; exit 3`
	r := d.ctrNS(ns, append(append([]string{"run", "--rm"}, d.runArgs()...), ociBusyboxRef, id, "sh", "-c", script)...)
	if r.code != 3 {
		t.Fatalf("ctr run: exit %d, want 3 (the command's)\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"hello\n",
		"pid " + ociCommandPID() + "\n", // the command is its PID namespace's init, or prison's init's child
		"uid 0\n",
		"cwd /\n",
		"path /usr/sbin:/usr/bin:/sbin:/bin\n", // from the image's config
		"init " + ociInitCmdline(id, "sh -c "+script) + "\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ctr run: stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "oops") {
		t.Errorf("ctr run: stderr lacks the command's %q:\n%s", "oops", r.stderr)
	}
	// --rm: neither the task nor the container is left.
	if ids := strings.Fields(d.mustCtr(ns, "task", "ls", "-q")); len(ids) > 0 {
		t.Errorf("after run --rm: tasks %v", ids)
	}
	if ids := strings.Fields(d.mustCtr(ns, "container", "ls", "-q")); len(ids) > 0 {
		t.Errorf("after run --rm: containers %v", ids)
	}
	if r := d.ctrNS(ns, "snapshots", "info", id); r.code == 0 {
		t.Errorf("after run --rm: the container's snapshot %s is left: %s", id, r.stdout)
	}

	// The docker archive of the same image, in a namespace of its own.
	ns2 := d.newNamespace()
	d.importImage(ns2, dockerArchive, ociBusyboxRef)
	r = d.ctrNS(ns2, append(append([]string{"run", "--rm"}, d.runArgs()...), ociBusyboxRef, id, "sh", "-c", "cat /etc/passwd")...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "root:x:0:0:") {
		t.Errorf("ctr run from the docker archive: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// TestContainerdDetachedTask is a task's life through ctr: run detached,
// listed as running, exec into it, a signal that it handles, stopped,
// deleted.
func TestContainerdDetachedTask(t *testing.T) {
	ociPass(t)
	d := startContainerd(t, "")
	ns := d.newNamespace()
	ociArchive, _ := ociBusyboxImage(t)
	d.importImage(ns, ociArchive, ociBusyboxRef)

	id := "task-" + ociRandHex(3)
	logFile := filepath.Join(d.dir, id+".log")
	// The shell is PID 1: SIGTERM reaches it only through its trap.
	script := `trap 'echo got-term; exit 7' TERM; echo started; sleep 2147483647 & wait`
	d.mustCtr(ns, append(append([]string{"run", "-d", "--log-uri", "file://" + logFile}, d.runArgs()...),
		ociBusyboxRef, id, "sh", "-c", script)...)
	t.Cleanup(func() {
		// After a failure (else a no-op on a deleted task): containerd's
		// stop finds and reports the rest.
		d.ctrNS(ns, "task", "kill", "-s", "SIGKILL", id)
	})
	waitFileContains(t, logFile, "started\n")
	if st := d.taskStatus(ns, id); st != "RUNNING" {
		t.Fatalf("task %s: status %q, want RUNNING", id, st)
	}
	// The listed PID is the task's init on the host: our sh.
	var pid string
	for _, l := range strings.Split(d.mustCtr(ns, "task", "ls"), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == id {
			pid = f[1]
		}
	}
	shPID := pid
	if ociIsPrison() {
		// prison's init, whose one child is the task's sh.
		b, err := os.ReadFile("/proc/" + pid + "/task/" + pid + "/children")
		if cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline"); err != nil || string(cmdline) != "prison\x00__prison_init\x00"+id+"\x00" {
			t.Errorf("task ls PID %s: cmdline %q (%v), want prison's init of %s", pid, cmdline, err, id)
		}
		shPID = strings.TrimSpace(string(b))
	}
	if cmdline, err := os.ReadFile("/proc/" + shPID + "/cmdline"); err != nil || !bytes.HasPrefix(cmdline, []byte("sh\x00-c\x00trap ")) {
		t.Errorf("task ls PID %s: command %s: cmdline %q (%v), want the task's sh", pid, shPID, cmdline, err)
	}

	// An exec joins the task's namespaces: it sees the task's init as
	// PID 1 and is not PID 1 itself; its exit status is its own. What it
	// finds goes to a file of the task's root, read here through the
	// task's /proc/PID/root: ctr 1.6 deletes an exec once it exited and
	// cancels the copy of its output still in flight (containerd#13931,
	// fixed after 1.7), which a loaded machine meets, whatever the runtime.
	report := func(exec string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("/proc", shPID, "root", "tmp", exec))
		if err != nil {
			t.Errorf("exec %s left no report: %v", exec, err)
		}
		return string(b)
	}
	r := d.ctrNS(ns, "task", "exec", "--exec-id", "probe", "--fifo-dir", filepath.Join(d.dir, "fifo"), id,
		"sh", "-c", `{ echo "exec pid $$"; echo "init $(tr '\0' ' ' </proc/1/cmdline)"; echo "uid $(id -u)"; } >/tmp/probe; exit 4`)
	if r.code != 4 {
		t.Fatalf("ctr task exec: exit %d, want 4\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if out := report("probe"); !strings.Contains(out, "init "+ociInitCmdline(id, "sh -c "+script)+"\n") || strings.Contains(out, "exec pid 1\n") ||
		!strings.Contains(out, "exec pid ") || !strings.Contains(out, "uid 0\n") {
		t.Errorf("ctr task exec: it found\n%s", out)
	}
	// An exec's ID is free again once it exited.
	d.mustCtr(ns, "task", "exec", "--exec-id", "probe", "--fifo-dir", filepath.Join(d.dir, "fifo"), id, "sh", "-c", "echo again >/tmp/again")
	if out := report("again"); out != "again\n" {
		t.Errorf("second exec: %q", out)
	}
	if st := d.taskStatus(ns, id); st != "RUNNING" {
		t.Errorf("after the execs: task status %q, want RUNNING", st)
	}

	// SIGTERM (ctr's default): the trap runs, the task stops with its
	// status.
	d.mustCtr(ns, "task", "kill", id)
	d.waitTaskStatus(ns, id, "STOPPED")
	waitFileContains(t, logFile, "got-term\n")
	r = d.ctrNS(ns, "task", "delete", id)
	if r.code != 0 {
		t.Fatalf("ctr task delete: exit %d: %s", r.code, r.stderr)
	}
	// ctr reports a non-zero status on delete.
	if !strings.Contains(r.stderr, "exit code 7") {
		t.Errorf("ctr task delete: want the task's exit code 7 reported, stderr: %s", r.stderr)
	}
	if st := d.taskStatus(ns, id); st != "" {
		t.Errorf("after task delete: task listed, status %q", st)
	}
	d.mustCtr(ns, "container", "delete", id)
	if ids := strings.Fields(d.mustCtr(ns, "container", "ls", "-q")); len(ids) > 0 {
		t.Errorf("after container delete: containers %v", ids)
	}
}

// TestContainerdTTY is ctr run -t at a terminal: the shim hands the
// runtime a console socket, and the command finds a terminal on its
// stdin and stdout, sized as the user's, and its exit status comes back.
func TestContainerdTTY(t *testing.T) {
	ociPass(t)
	d := startContainerd(t, "")
	ns := d.newNamespace()
	ociArchive, _ := ociBusyboxImage(t)
	d.importImage(ns, ociArchive, ociBusyboxRef)

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 31, Cols: 101}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	id := "tty-" + ociRandHex(3)
	// ctr sizes the console after the start: wait for it (bounded).
	// (busybox stty size fails on a 0x0 terminal.)
	script := `for i in $(seq 300); do s=$(stty size 2>/dev/null); [ -n "$s" ] && [ "$s" != "0 0" ] && break; sleep 0.1; done;` +
		` if test -t 0 && test -t 1; then echo "tty yes"; fi; echo "size $(stty size)"; exit 6`
	cmd := exec.CommandContext(ctx, ctrBin, append(append([]string{"--address", d.sock, "--namespace", ns, "run", "--rm", "-t"},
		d.runArgs()...), ociBusyboxRef, id, "sh", "-c", script)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	var out lockedBuffer
	copied := make(chan struct{})
	go func() { io.Copy(&out, ptmx); close(copied) }()
	err = cmd.Wait()
	// The terminal reads EIO once nobody holds its other end.
	select {
	case <-copied:
	case <-time.After(10 * time.Second):
	}
	if code := cmd.ProcessState.ExitCode(); code != 6 {
		t.Fatalf("ctr run -t: exit %d (%v), want 6\n%q", code, err, out.String())
	}
	// Line ends as each terminal's ONLCR left them.
	got := strings.ReplaceAll(out.String(), "\r", "")
	for _, want := range []string{"tty yes\n", "size 31 101\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("ctr run -t: no %q in %q", want, got)
		}
	}
	if ids := strings.Fields(d.mustCtr(ns, "container", "ls", "-q")); len(ids) > 0 {
		t.Errorf("after run --rm -t: containers %v", ids)
	}
}
