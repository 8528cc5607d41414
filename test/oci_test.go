package test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The OCI runtime driven directly, as containerd's shim and podman's
// conmon drive it: runc's command line on prison-oci, a bundle per test,
// a state root per test.

// ociRT is one state root of prison-oci, with its log.
type ociRT struct {
	t    *testing.T
	root string
	log  string
}

func newOCIRT(t *testing.T) *ociRT {
	t.Helper()
	ociPass(t)
	return newOCIRTAnyPass(t)
}

// newOCIRTAnyPass is newOCIRT for a test that runs in every pass of the
// suite (the daemon's too).
func newOCIRTAnyPass(t *testing.T) *ociRT {
	t.Helper()
	dir := t.TempDir()
	rt := &ociRT{t: t, root: filepath.Join(dir, "state"), log: filepath.Join(dir, "log.json")}
	t.Cleanup(func() {
		// Whatever a failed test left: killed and deleted; then nothing
		// of any container may be left in the root.
		ents, _ := os.ReadDir(filepath.Join(rt.root, ".oci"))
		for _, e := range ents {
			id := strings.TrimSuffix(e.Name(), ".json")
			rt.run(nil, "delete", "--force", id)
		}
		if left, _ := os.ReadDir(rt.root); len(left) > 0 {
			var names []string
			for _, e := range left {
				names = append(names, e.Name())
			}
			t.Errorf("leftover: %v in the runtime's root %s", names, rt.root)
		}
	})
	return rt
}

// run runs prison-oci with the root's global options.
func (rt *ociRT) run(stdin *os.File, args ...string) result {
	rt.t.Helper()
	c := exec.Command(ociRuntime(), append([]string{"--root", rt.root, "--log", rt.log, "--log-format", "json"}, args...)...)
	if stdin != nil {
		c.Stdin = stdin
	}
	if slices.Contains(args, "-d") || slices.Contains(args, "--detach") {
		return runDetached(rt.t, c)
	}
	return runCmd(rt.t, c)
}

// runDetached runs c, whose child outlives it holding its stdout and
// stderr (a pipe, as a shim's): what c wrote is read until a moment
// after it exits, not until the pipe's end.
func runDetached(t *testing.T, c *exec.Cmd) result {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c.Stdout, c.Stderr = w, w
	err = c.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	err = c.Wait()
	_ = r.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	out, _ := io.ReadAll(r)
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return result{stdout: string(out), stderr: string(out), code: code}
}

func (rt *ociRT) mustRun(args ...string) string {
	rt.t.Helper()
	r := rt.run(nil, args...)
	if r.code != 0 {
		rt.t.Fatalf("prison-oci %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// state returns the container's status and pid, as prison-oci state says.
func (rt *ociRT) state(id string) (string, int) {
	rt.t.Helper()
	var st specs.State
	if err := json.Unmarshal([]byte(rt.mustRun("state", id)), &st); err != nil {
		rt.t.Fatalf("state %s: %v", id, err)
	}
	if st.ID != id || st.Version == "" {
		rt.t.Errorf("state %s: %+v: want its id and ociVersion", id, st)
	}
	return string(st.Status), st.Pid
}

// waitStatus waits, bounded, for the container to reach status.
func (rt *ociRT) waitStatus(id, status string) {
	rt.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, _ := rt.state(id)
		if st == status {
			return
		}
		if time.Now().After(deadline) {
			rt.t.Fatalf("container %s: status %s, want %s", id, st, status)
		}
	}
}

// lastError is the last error line the runtime logged.
func (rt *ociRT) lastError() string {
	rt.t.Helper()
	b, _ := os.ReadFile(rt.log)
	var last string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e struct{ Level, Msg string }
		if json.Unmarshal([]byte(l), &e) == nil && e.Level == "error" {
			last = e.Msg
		}
	}
	return last
}

// ociBundle makes a bundle whose rootfs is a copy of the busybox root and
// whose config.json is prison-oci spec's, with args as the command and
// edit applied.
func ociBundle(t *testing.T, args []string, edit func(*specs.Spec)) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", busyboxDir, filepath.Join(dir, "rootfs")).CombinedOutput(); err != nil {
		t.Fatalf("copy busybox root: %v: %s", err, out)
	}
	if r := runCmd(t, exec.Command(ociRuntime(), "spec", "--bundle", dir)); r.code != 0 {
		t.Fatalf("prison-oci spec: exit %d: %s", r.code, r.stderr)
	}
	s := readConfig(t, dir)
	s.Process.Args, s.Process.Terminal = args, false
	if edit != nil {
		edit(s)
	}
	writeConfig(t, dir, s)
	return dir
}

func readConfig(t *testing.T, dir string) *specs.Spec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("config.json: %v", err)
	}
	return &s
}

func writeConfig(t *testing.T, dir string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func ociID(t *testing.T) string { return "oci-" + strings.TrimPrefix(jailName(t), "t-") }

// ociGone checks that nothing of container id is left on the host: no
// process, no cgroup.
func ociGone(t *testing.T, id string) {
	t.Helper()
	if inits := jailInits(id); len(inits) > 0 {
		t.Errorf("leftover: init %v of container %s", inits, id)
	}
	for _, h := range []string{"pids", "memory", "devices", "freezer"} {
		if d := filepath.Join("/sys/fs/cgroup", h, "prison", id); fileExists(d) {
			t.Errorf("leftover: cgroup %s", d)
		}
	}
}

// The life of a container as containerd sees it: create (the process
// waits, a descendant of no daemon), start, its pipes, its end, delete;
// and the errors a client reads from the log.
func TestOCILifecycle(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	bundle := ociBundle(t, []string{"sh", "-c", `echo "started $$ $(cat /proc/1/comm)"; read line; echo "got $line"; exit 7`}, nil)
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	defer inW.Close()
	defer outR.Close()
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := exec.Command(ociRuntime(), "--root", rt.root, "--log", rt.log, "--log-format", "json",
		"create", "--bundle", bundle, "--pid-file", pidFile, id)
	c.Stdin, c.Stdout, c.Stderr = inR, outW, outW
	if err := c.Run(); err != nil {
		outW.Close()
		b := make([]byte, 4096)
		n, _ := outR.Read(b)
		t.Fatalf("create: %v: %s", err, b[:n])
	}
	inR.Close()
	outW.Close()
	t.Cleanup(func() { ociGone(t, id) })

	b, err := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(b))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file: %q (%v)", b, err)
	}
	st, spid := rt.state(id)
	if st != "created" || spid != pid {
		t.Errorf("after create: status %s pid %d, want created %d (the pid file's)", st, spid, pid)
	}
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "prison-init" {
		t.Errorf("pid %d: %q, want the jail's init", pid, comm)
	}
	if r := rt.run(nil, "delete", id); r.code != 0 {
		// runc deletes a created container without --force; so does
		// prison, but that would end this test: here it must not fail.
		t.Logf("delete of a created container: %d %s", r.code, r.stderr)
	}
	// (The delete above removed it: make it again.)
	if _, err := os.Stat(filepath.Join(rt.root, ".oci", id+".json")); err == nil {
		t.Fatal("delete of a created container left its record")
	}
	inR, inW, _ = os.Pipe()
	outR, outW, _ = os.Pipe()
	c = exec.Command(ociRuntime(), "--root", rt.root, "--log", rt.log, "--log-format", "json",
		"create", "--bundle", bundle, "--pid-file", pidFile, id)
	c.Stdin, c.Stdout, c.Stderr = inR, outW, outW
	if err := c.Run(); err != nil {
		t.Fatalf("create again: %v", err)
	}
	inR.Close()
	outW.Close()
	b, _ = os.ReadFile(pidFile)
	pid, _ = strconv.Atoi(string(b))

	rt.mustRun("start", id)
	out := bufio.NewReader(outR)
	line, _ := out.ReadString('\n')
	if line != "started 2 prison-init\n" {
		t.Errorf("the command's first line: %q, want it as PID 2 under prison-init", line)
	}
	if st, spid := rt.state(id); st != "running" || spid != pid {
		t.Errorf("after start: %s %d, want running %d", st, spid, pid)
	}
	if r := rt.run(nil, "start", id); r.code == 0 || !strings.Contains(rt.lastError(), "cannot start") {
		t.Errorf("start of a running container: exit %d, logged %q: want a failure saying so", r.code, rt.lastError())
	}
	if r := rt.run(nil, "delete", id); r.code == 0 || !strings.Contains(rt.lastError(), "--force") {
		t.Errorf("delete of a running container: exit %d, logged %q: want a failure naming --force", r.code, rt.lastError())
	}
	var pids []int
	if err := json.Unmarshal([]byte(rt.mustRun("ps", "--format", "json", id)), &pids); err != nil || len(pids) != 2 || pids[0] != pid {
		t.Errorf("ps --format json: %v (%v), want the init %d and the command", pids, err, pid)
	}
	var list []struct {
		ID, Status string
		Pid        int
	}
	if err := json.Unmarshal([]byte(rt.mustRun("list", "--format", "json")), &list); err != nil || len(list) != 1 ||
		list[0].ID != id || list[0].Status != "running" || list[0].Pid != pid {
		t.Errorf("list --format json: %+v (%v)", list, err)
	}
	var ev struct {
		Type, ID string
		Data     struct {
			Pids struct{ Current uint64 }
		}
	}
	// The cgroup counts tasks: the command, and the init's threads (a
	// host-ids jail's init has one that makes its inotify instances).
	tasks := uint64(1)
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if n, ok := strings.CutPrefix(l, "Threads:"); ok {
				k, _ := strconv.Atoi(strings.TrimSpace(n))
				tasks += uint64(k)
			}
		}
	}
	if err := json.Unmarshal([]byte(rt.mustRun("events", "--stats", id)), &ev); err != nil || ev.Type != "stats" || ev.Data.Pids.Current != tasks {
		t.Errorf("events --stats: %+v (%v), want %d pids: the command and the init's threads", ev, err, tasks)
	}

	fmt.Fprintln(inW, "hello")
	inW.Close()
	if line, _ := out.ReadString('\n'); line != "got hello\n" {
		t.Errorf("the command's second line: %q", line)
	}
	rt.waitStatus(id, "stopped")
	if _, spid := rt.state(id); spid != 0 {
		t.Errorf("a stopped container's pid: %d, want 0", spid)
	}
	if r := rt.run(nil, "kill", id, "TERM"); r.code == 0 || !strings.Contains(rt.lastError(), "container not running") {
		t.Errorf("kill of a stopped container: exit %d, logged %q", r.code, rt.lastError())
	}
	rt.mustRun("delete", id)
	for _, verb := range []string{"state", "start", "delete", "kill"} {
		if r := rt.run(nil, verb, id); r.code == 0 || !strings.Contains(rt.lastError(), "does not exist") {
			t.Errorf("%s of a deleted container: exit %d, logged %q, want runc's \"does not exist\"", verb, r.code, rt.lastError())
		}
	}
	// runc delete --force of what is gone succeeds.
	rt.mustRun("delete", "--force", id)
}

// Kill, pause, resume, update and exec on a running container.
func TestOCIRunningContainer(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	bundle := ociBundle(t, []string{"sh", "-c", `trap 'echo term; exit 9' TERM; while :; do sleep 0.05; done`}, nil)
	rt.mustRun("run", "--detach", "--bundle", bundle, id)
	t.Cleanup(func() { ociGone(t, id) })
	if st, _ := rt.state(id); st != "running" {
		t.Fatalf("after run -d: %s", st)
	}

	rt.mustRun("pause", id)
	if st, _ := rt.state(id); st != "paused" {
		t.Errorf("after pause: %s, want paused", st)
	}
	if r := rt.run(nil, "exec", id, "true"); r.code == 0 || !strings.Contains(r.stderr, "paused") {
		t.Errorf("exec into a paused container: exit %d %q, want a refusal saying it is paused", r.code, r.stderr)
	}
	rt.mustRun("resume", id)
	if st, _ := rt.state(id); st != "running" {
		t.Errorf("after resume: %s, want running", st)
	}

	// exec: the container's namespaces, its own exit status.
	r := rt.run(nil, "exec", id, "sh", "-c", `echo "$(cat /proc/1/comm) $(hostname)"; exit 5`)
	if r.code != 5 || r.stdout != "prison-init prison\n" {
		t.Errorf("exec: exit %d, %q: want 5 and the container's init and hostname", r.code, r.stdout)
	}
	// exec --process --detach: the pid file names a process that ends
	// with the command.
	proc := specs.Process{Args: []string{"sh", "-c", "echo detached > /tmp/mark"}, Cwd: "/", Env: []string{"PATH=/bin:/sbin"}}
	pf := filepath.Join(t.TempDir(), "process.json")
	pb, _ := json.Marshal(proc)
	os.WriteFile(pf, pb, 0o644)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	rt.mustRun("exec", "--process", pf, "--detach", "--pid-file", pidFile, id)
	if b, err := os.ReadFile(pidFile); err != nil || len(b) == 0 {
		t.Errorf("exec --detach: pid file %q (%v)", b, err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r := rt.run(nil, "exec", id, "cat", "/tmp/mark"); r.stdout == "detached\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("exec --detach: its command never ran")
		}
	}

	// update: a new pids limit, live.
	res := filepath.Join(t.TempDir(), "res.json")
	os.WriteFile(res, []byte(`{"pids":{"limit":33}}`), 0o644)
	rt.mustRun("update", "--resources", res, id)
	if b, err := os.ReadFile("/sys/fs/cgroup/pids/prison/" + id + "/pids.max"); err == nil && strings.TrimSpace(string(b)) != "33" {
		t.Errorf("pids.max after update: %q, want 33", b)
	}

	// kill: SIGTERM (the default) reaches the command, not its init.
	rt.mustRun("kill", id)
	rt.waitStatus(id, "stopped")
	rt.mustRun("delete", id)
}

// Both command lines run a bundle: runc's (prison-oci, or any global option
// before the verb) and prison's own (prison run --bundle), whose --root
// still means a jail's root.
func TestOCIRunForms(t *testing.T) {
	// In the daemon's pass too: a daemon's client hands prison run
	// --bundle back to a launcher of its own.
	rt := newOCIRTAnyPass(t)
	bundle := ociBundle(t, []string{"sh", "-c", "echo in $(hostname); exit 3"}, nil)
	id := ociID(t)
	for _, args := range [][]string{
		{ociRuntime(), "--root", rt.root, "run", "--bundle", bundle, id},
		{prisonBin, "--root", rt.root, "run", "-b", bundle, id},
		{prisonBin, "--log", rt.log, "run", "--bundle", bundle, id},
		{prisonBin, "run", "--bundle", bundle, id},
	} {
		r := runCmd(t, exec.Command(args[0], args[1:]...))
		if r.code != 3 || r.stdout != "in prison\n" {
			t.Errorf("%v: exit %d, %q %q: want 3 and the bundle's hostname", args[1:], r.code, r.stdout, r.stderr)
		}
	}
	ociGone(t, id)
	assertNoLeftovers(t, id)
	// prison run --root DIR: a jail whose root is DIR, as ever.
	root := probeRoot(t)
	os.Chmod(filepath.Dir(root), 0o700)
	if r := prison(t, nil, "run", "--root", root, "--", "/bin/sh", "-c", "test -x /probe && echo jail-root"); r.code != 0 || r.stdout != "jail-root\n" {
		t.Errorf("prison run --root DIR: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

// What a bundle cannot ask for, or asks wrongly, is an error naming the
// field, and nothing is left.
func TestOCIBadBundles(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	for _, c := range []struct {
		name string
		edit func(string, map[string]any)
		want string
	}{
		{"no args", func(_ string, m map[string]any) { delete(m["process"].(map[string]any), "args") }, "process.args is missing"},
		{"relative cwd", func(_ string, m map[string]any) { m["process"].(map[string]any)["cwd"] = "tmp" }, "process.cwd"},
		{"no root", func(_ string, m map[string]any) { delete(m, "root") }, "root.path is missing"},
		{"host root", func(_ string, m map[string]any) { m["root"] = map[string]any{"path": "/"} }, "the host's own root"},
		{"no mount namespace", func(_ string, m map[string]any) {
			l := m["linux"].(map[string]any)
			var ns []any
			for _, n := range l["namespaces"].([]any) {
				if n.(map[string]any)["type"] != "mount" {
					ns = append(ns, n)
				}
			}
			l["namespaces"] = ns
		}, "a jail needs a mount namespace"},
		{"join the host's mounts", func(_ string, m map[string]any) {
			l := m["linux"].(map[string]any)
			for _, n := range l["namespaces"].([]any) {
				if n.(map[string]any)["type"] == "mount" {
					n.(map[string]any)["path"] = "/proc/self/ns/mnt" // prison-oci's own
				}
			}
		}, "the host's own mount namespace"},
		{"join a user namespace", func(_ string, m map[string]any) {
			l := m["linux"].(map[string]any)
			l["namespaces"] = append(l["namespaces"].([]any), map[string]any{"type": "user", "path": "/proc/1/ns/user"})
		}, "joining a user namespace is not supported"},
		{
			"missing command", func(_ string, m map[string]any) { m["process"].(map[string]any)["args"] = []string{"no-such-command"} },
			`exec: "no-such-command": executable file not found in $PATH`,
		},
	} {
		bundle := ociBundle(t, []string{"true"}, nil)
		var m map[string]any
		b, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
		json.Unmarshal(b, &m)
		c.edit(bundle, m)
		b, _ = json.Marshal(m)
		os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)
		r := rt.run(nil, "create", "--bundle", bundle, id)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) || !strings.Contains(rt.lastError(), c.want) {
			t.Errorf("%s: exit %d, stderr %q, logged %q: want a failure saying %q", c.name, r.code, r.stderr, rt.lastError(), c.want)
		}
		if strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%s: more than one line: %q", c.name, r.stderr)
		}
		ociGone(t, id)
	}

	// Two containers of one id: the second is refused.
	bundle := ociBundle(t, []string{"true"}, nil)
	rt.mustRun("run", "-d", "--bundle", ociBundle(t, []string{"sleep", "100"}, nil), id)
	if r := rt.run(nil, "run", "-d", "--bundle", bundle, id); r.code == 0 || !strings.Contains(r.stderr, "exists already") {
		t.Errorf("a second container %s: exit %d %q", id, r.code, r.stderr)
	}
	rt.mustRun("delete", "--force", id)
	ociGone(t, id)
}

// A created container's stdout that is a host file (a shim's log, the
// validation suite's capture) reaches the file, through a pipe: root
// inside holds no descriptor of the file, so it can neither reopen,
// chmod nor truncate it (issue 9's first finding, for containers).
func TestOCIStdioFile(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	bundle := ociBundle(t, []string{"sh", "-c", `echo "fd1 $(readlink /proc/self/fd/1)"; chmod 4755 /proc/self/fd/1 2>/dev/null; : > /proc/self/fd/1; echo after`}, nil)
	log := filepath.Join(t.TempDir(), "out.log")
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "before")
	c := exec.Command(ociRuntime(), "--root", rt.root, "create", "--bundle", bundle, id)
	c.Stdout, c.Stderr = f, f
	err = c.Run()
	f.Close()
	if err != nil {
		b, _ := os.ReadFile(log)
		t.Fatalf("create with stdout a file: %v: %s", err, b)
	}
	rt.mustRun("start", id)
	rt.waitStatus(id, "stopped")
	rt.mustRun("delete", id)
	var b []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, _ = os.ReadFile(log); strings.Contains(string(b), "after") {
			break
		}
	}
	if !strings.HasPrefix(string(b), "before\nfd1 pipe:[") || !strings.HasSuffix(string(b), "after\n") {
		t.Errorf("the log: %q: want what was there, the command's output, its stdout a pipe", b)
	}
	if fi, err := os.Stat(log); err != nil || fi.Mode() != 0o600 {
		t.Errorf("the log's mode: %v (%v), want 0600 as it was made", fi.Mode(), err)
	}
	ociGone(t, id)
}

// A terminal given as a created container's stdin is relayed by a host
// process, which ends with the container: left reading the terminal, it
// would take the next line typed there from the shell.
func TestOCIStdinTerminalRelayEnds(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer tty.Close()
	bundle := ociBundle(t, []string{"true"}, nil)
	c := exec.Command(ociRuntime(), "--root", rt.root, "create", "--bundle", bundle, id)
	c.Stdin = tty
	if r := runDetached(t, c); r.code != 0 {
		t.Fatalf("create with stdin a terminal: exit %d %q", r.code, r.stdout)
	}
	t.Cleanup(func() { ociGone(t, id) })
	// The relays reading this terminal.
	relays := func() []int {
		var out []int
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			in, _ := os.Readlink("/proc/" + e.Name() + "/fd/0")
			if strings.Contains(string(cmd), "__prison_relay") && in == tty.Name() {
				out = append(out, pid)
			}
		}
		return out
	}
	if len(relays()) != 1 {
		t.Fatalf("relays of %s: %v, want one", tty.Name(), relays())
	}
	rt.mustRun("start", id)
	rt.waitStatus(id, "stopped")
	rt.mustRun("delete", id)
	for deadline := time.Now().Add(20 * time.Second); len(relays()) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the relay %v of the terminal outlived the container", relays())
		}
	}
}

// A mount's destination is resolved in the container's root: a symlink
// the image plants there cannot put a mount on the host's tree.
func TestOCIMountTargetSymlink(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	hostDir := t.TempDir()
	bundle := ociBundle(t, []string{"sh", "-c", "echo planted > /escape/x"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/escape", Type: "tmpfs", Source: "tmpfs"})
	})
	if err := os.Symlink("../../../../../../.."+hostDir, filepath.Join(bundle, "rootfs", "escape")); err != nil {
		t.Fatal(err)
	}
	// Refused (prison does not follow the link), or mounted inside the
	// root: either way, not on the host.
	if r := rt.run(nil, "run", "--bundle", bundle, id); r.code != 0 && !strings.Contains(r.stderr, "/escape") {
		t.Errorf("run: exit %d %s: want success or an error naming /escape", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(hostDir); len(ents) > 0 {
		t.Errorf("the host's %s got %d entries through the container's symlink", hostDir, len(ents))
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), hostDir) {
		t.Errorf("a mount on the host's %s", hostDir)
	}
	ociGone(t, id)
}

// Root inside an OCI container holds CAP_MKNOD (containerd's and podman's
// default set), and makes a node of the host's disk: the spec's device
// rules keep it from opening it, on cgroup v1 and v2 alike.
func TestOCIDeviceRules(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	var st syscall.Stat_t
	if err := syscall.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	major, minor := st.Dev>>8&0xfff, st.Dev&0xff|st.Dev>>12&0xfff00
	bundle := ociBundle(t, []string{"sh", "-c", fmt.Sprintf(
		"mknod /tmp/disk b %d %d && echo made; head -c 1 /tmp/disk >/dev/null 2>&1 && echo read-disk || echo denied; echo ok > /dev/null && echo null-ok", major, minor)},
		func(s *specs.Spec) {
			s.Linux.Seccomp = nil // containerd's default: the rules alone
			c := s.Process.Capabilities
			c.Bounding = append(c.Bounding, "CAP_MKNOD")
			c.Effective, c.Permitted = c.Bounding, c.Bounding
			s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"dev"}})
		})
	r := rt.run(nil, "run", "--bundle", bundle, id)
	if r.stdout != "made\ndenied\nnull-ok\n" {
		t.Errorf("a node of the host's disk (%d:%d): exit %d, %q %q: want it denied, and /dev/null allowed", major, minor, r.code, r.stdout, r.stderr)
	}
	ociGone(t, id)
}

// A spec's cgroup mount shows the container's own group, read-only even
// when the spec asks for it read-write: root inside may not raise its own
// limits.
func TestOCICgroupView(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	bundle := ociBundle(t, []string{"sh", "-c", "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; echo max > /sys/fs/cgroup/pids/pids.max 2>/dev/null || echo max > /sys/fs/cgroup/pids.max 2>/dev/null || echo refused"},
		func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"rw", "nosuid"}})
			limit := int64(77)
			s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}
		})
	r := rt.run(nil, "run", "--bundle", bundle, id)
	if r.stdout != "77\nrefused\n" {
		t.Errorf("the cgroup view: exit %d, %q %q: want the container's pids.max, 77, and a refused write", r.code, r.stdout, r.stderr)
	}
	ociGone(t, id)
}

// containerd's CRI runs a pod's containers in the pod's network namespace,
// by path: the container has no network of its own, and exec enters the
// pod's too.
func TestOCIJoinNamespace(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	ns := "prisonoci-" + strings.TrimPrefix(jailName(t), "t-")
	if len(ns) > 15 {
		ns = ns[:15]
	}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", ns).Run()
		if fileExists("/run/netns/" + ns) {
			t.Errorf("leftover: netns %s", ns)
		}
	})
	ip("-n", ns, "link", "add", "pod0", "type", "veth", "peer", "name", "pod1") // no dummy module here
	ip("-n", ns, "addr", "add", "10.254.72.1/24", "dev", "pod0")
	bundle := ociBundle(t, []string{"sh", "-c", "ip -4 -o addr show dev pod0; sleep 100"}, func(s *specs.Spec) {
		for i := range s.Linux.Namespaces {
			if s.Linux.Namespaces[i].Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = "/run/netns/" + ns
			}
		}
		s.Annotations = nil
	})
	rt.mustRun("run", "-d", "--bundle", bundle, id)
	t.Cleanup(func() { ociGone(t, id) })
	if r := rt.run(nil, "exec", id, "ip", "-4", "-o", "addr", "show", "dev", "pod0"); !strings.Contains(r.stdout, "10.254.72.1/24") {
		t.Errorf("exec in a container of the pod's network: %q %q", r.stdout, r.stderr)
	}
	rt.mustRun("delete", "--force", id)
}

// A container in its pod's PID namespace (CRI's shareProcessNamespace:
// the sandbox's, joined by path): it sees the pod's processes, and its
// own are its cgroup's: ps lists only them, kill --all reaches only
// them, and delete ends the ones its init's end left behind.
func TestOCIJoinPIDNamespace(t *testing.T) {
	rt := newOCIRT(t)
	pod := ociID(t)
	rt.mustRun("run", "-d", "--bundle", ociBundle(t, []string{"sleep", "1001"}, nil), pod)
	t.Cleanup(func() { ociGone(t, pod) })
	_, podPID := rt.state(pod)
	joining := func(id string, args ...string) {
		t.Helper()
		bundle := ociBundle(t, args, func(s *specs.Spec) {
			for i := range s.Linux.Namespaces {
				if s.Linux.Namespaces[i].Type == specs.PIDNamespace {
					s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/pid", podPID)
				}
			}
		})
		rt.mustRun("run", "-d", "--bundle", bundle, id)
		t.Cleanup(func() { ociGone(t, id) })
	}
	podSees := func(cmd string) bool {
		t.Helper()
		return strings.Contains(rt.mustRun("exec", pod, "ps", "-o", "args"), cmd)
	}

	a := pod + "-a"
	joining(a, "sh", "-c", "sleep 1003 & exec sleep 1002")
	if r := rt.run(nil, "exec", a, "ps", "-o", "args"); !strings.Contains(r.stdout, "sleep 1001") {
		t.Errorf("ps in a container of the pod's PID namespace: %q %q, want the pod's sleep 1001", r.stdout, r.stderr)
	}
	var procs []int
	if err := json.Unmarshal([]byte(rt.mustRun("ps", "--format", "json", a)), &procs); err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, p := range procs {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		cmds = append(cmds, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")))
	}
	if got := strings.Join(cmds, "|"); strings.Contains(got, "sleep 1001") || !strings.Contains(got, "sleep 1002") || !strings.Contains(got, "sleep 1003") {
		t.Errorf("ps %s: %q, want its own sleeps and not the pod's", a, got)
	}
	// The end of its init does not end what it leaves in the pod's
	// namespace (an orphan, here its command too); prison does.
	if !podSees("sleep 1003") {
		t.Errorf("the pod does not see the container's background process")
	}
	rt.mustRun("kill", a, "KILL")
	rt.waitStatus(a, "stopped")
	rt.mustRun("delete", a)
	if podSees("sleep 1003") {
		t.Errorf("delete %s left its orphan running in the pod", a)
	}

	b := pod + "-b"
	joining(b, "sh", "-c", "sleep 1005 & exec sleep 1004")
	rt.mustRun("kill", "--all", b, "KILL")
	rt.waitStatus(b, "stopped")
	if podSees("sleep 1005") || podSees("sleep 1004") {
		t.Errorf("kill --all %s left its processes", b)
	}
	if !podSees("sleep 1001") {
		t.Errorf("kill --all %s killed the pod's process", b)
	}
	rt.mustRun("delete", b)
	if st, _ := rt.state(pod); st != "running" {
		t.Errorf("the pod after its containers: %s, want running", st)
	}
	rt.mustRun("delete", "--force", pod)
}

// A container without a PID namespace of its own is in the host's: its
// processes are its cgroup's, never the host's others, for ps and for
// kill --all (which once took "the init's PID namespace" for the jail).
func TestOCINoPIDNamespace(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	bundle := ociBundle(t, []string{"sh", "-c", "sleep 1006 & exec sleep 1007"}, func(s *specs.Spec) {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.PIDNamespace })
	})
	host := exec.Command("sleep", "1008")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Process.Kill(); host.Wait() })
	rt.mustRun("run", "-d", "--bundle", bundle, id)
	t.Cleanup(func() { ociGone(t, id) })
	var procs []int
	if err := json.Unmarshal([]byte(rt.mustRun("ps", "--format", "json", id)), &procs); err != nil {
		t.Fatal(err)
	}
	// Checked before the kill: a wrong list is what kill --all signals.
	if len(procs) != 3 || slices.Contains(procs, os.Getpid()) || slices.Contains(procs, host.Process.Pid) {
		t.Fatalf("ps of a container in the host's PID namespace: %v, want its init and its two sleeps", procs)
	}
	rt.mustRun("kill", "--all", id, "KILL")
	rt.waitStatus(id, "stopped")
	if err := host.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("kill --all of the container reached a host process: %v", err)
	}
	rt.mustRun("delete", id)
}

// A container that joins a mount namespace by path has its root built in
// it, and sees what is mounted there; the host's own is refused
// (TestOCIBadBundles).
func TestOCIJoinMountNamespace(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	bundle := ociBundle(t, []string{"cat", "/mnt/marker"}, nil)
	rootfs := filepath.Join(bundle, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "mnt"), 0o755)
	// A mount namespace of the test's, private, with a tmpfs the host's
	// does not have.
	ns := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs tmpfs "$1/mnt" && echo joined > "$1/mnt/marker" && echo ready && exec sleep 1000`, "sh", rootfs)
	out, err := ns.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Process.Kill(); ns.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("the test's mount namespace: %q %v", line, err)
	}
	s := readConfig(t, bundle)
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == specs.MountNamespace {
			s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/mnt", ns.Process.Pid)
		}
	}
	writeConfig(t, bundle, s)
	t.Cleanup(func() { ociGone(t, id) })
	if r := rt.run(nil, "run", "--bundle", bundle, id); r.code != 0 || r.stdout != "joined\n" {
		t.Errorf("a container in the test's mount namespace: exit %d %q %q, want the namespace's tmpfs", r.code, r.stdout, r.stderr)
	}
	if fileExists(filepath.Join(rootfs, "mnt", "marker")) {
		t.Errorf("the joined namespace's tmpfs is in the host's mount table")
	}
}

// runc's --preserve-fds: the caller's descriptors from 3 on are the
// command's, the same numbers (systemd's socket activation), for create,
// run and exec; only sockets and pipes: a host file or directory is
// refused, since root inside could reopen it through /proc/self/fd.
func TestOCIPreserveFDs(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	// pass runs prison-oci with files as its 3 on.
	pass := func(files []*os.File, args ...string) result {
		t.Helper()
		c := exec.Command(ociRuntime(), append([]string{"--root", rt.root, "--log", rt.log, "--log-format", "json"}, args...)...)
		c.ExtraFiles = files
		if args[0] == "create" {
			return runDetached(t, c) // its init holds the pipes
		}
		return runCmd(t, c)
	}
	socket := func() (mine, theirs *os.File) {
		t.Helper()
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		mine, theirs = os.NewFile(uintptr(fds[0]), "mine"), os.NewFile(uintptr(fds[1]), "theirs")
		t.Cleanup(func() { mine.Close(); theirs.Close() })
		return mine, theirs
	}
	readAll := func(f *os.File) string {
		t.Helper()
		f.SetReadDeadline(time.Now().Add(20 * time.Second))
		b, _ := io.ReadAll(f)
		return string(b)
	}

	// run, in the foreground: a socket as 3, a pipe as 4.
	sock, sockEnd := socket()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	bundle := ociBundle(t, []string{"sh", "-c", `echo to-socket >&3; echo to-pipe >&4; [ -e /proc/self/fd/5 ] && echo fd5; exit 0`}, nil)
	r := pass([]*os.File{sockEnd, pw}, "run", "--preserve-fds", "2", "--bundle", bundle, id)
	sockEnd.Close()
	pw.Close()
	if r.code != 0 || strings.Contains(r.stdout, "fd5") {
		t.Errorf("run --preserve-fds 2: exit %d %q %q, want 0 and no descriptor 5", r.code, r.stdout, r.stderr)
	}
	if got := readAll(sock); got != "to-socket\n" {
		t.Errorf("the socket passed as 3 read %q", got)
	}
	if got := readAll(pr); got != "to-pipe\n" {
		t.Errorf("the pipe passed as 4 read %q", got)
	}

	// create, then start; then exec into it.
	sock, sockEnd = socket()
	bundle = ociBundle(t, []string{"sh", "-c", `echo created >&3; exec sleep 100`}, nil)
	if r := pass([]*os.File{sockEnd}, "create", "--preserve-fds", "1", "--bundle", bundle, id); r.code != 0 {
		t.Fatalf("create --preserve-fds 1: exit %d %q", r.code, r.stderr)
	}
	t.Cleanup(func() { ociGone(t, id) })
	sockEnd.Close()
	rt.mustRun("start", id)
	buf := make([]byte, 64)
	sock.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, _ := sock.Read(buf); string(buf[:n]) != "created\n" {
		t.Errorf("the socket passed to create read %q", buf[:n])
	}
	sock2, sockEnd2 := socket()
	if r := pass([]*os.File{sockEnd2}, "exec", "--preserve-fds", "1", id, "sh", "-c", "echo exec >&3"); r.code != 0 {
		t.Errorf("exec --preserve-fds 1: exit %d %q", r.code, r.stderr)
	}
	sockEnd2.Close()
	if got := readAll(sock2); got != "exec\n" {
		t.Errorf("the socket passed to exec read %q", got)
	}
	rt.mustRun("delete", "--force", id)

	// A host file or directory: refused, nothing created.
	file, err := os.OpenFile(filepath.Join(t.TempDir(), "host-file"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	for what, f := range map[string]*os.File{"a regular file": file, "a directory": dir} {
		r := pass([]*os.File{f}, "create", "--preserve-fds", "1", "--bundle", bundle, id)
		if ociIsPrison() && (r.code == 0 || !strings.Contains(rt.lastError(), "descriptor 3 is "+what)) {
			t.Errorf("create with %s as 3: exit %d, logged %q: want a refusal naming it", what, r.code, rt.lastError())
		}
		rt.run(nil, "delete", "--force", id)
	}
}

// The spec's hooks run on the host, with the container's state on stdin,
// at their points of its life.
func TestOCIHooks(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	dir := t.TempDir()
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + filepath.Join(dir, name)}}
	}
	bundle := ociBundle(t, []string{"sleep", "100"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{
			CreateRuntime: []specs.Hook{hook("createRuntime")},
			Prestart:      []specs.Hook{hook("prestart")}, //nolint:staticcheck // still what runtimes run
			Poststart:     []specs.Hook{hook("poststart")},
			Poststop:      []specs.Hook{hook("poststop")},
		}
	})
	rt.mustRun("run", "-d", "--bundle", bundle, id)
	_, pid := rt.state(id)
	rt.mustRun("delete", "--force", id)
	for _, h := range []struct{ name, status string }{
		{"createRuntime", "created"}, {"prestart", "created"}, {"poststart", "running"}, {"poststop", "stopped"},
	} {
		var st specs.State
		b, err := os.ReadFile(filepath.Join(dir, h.name))
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		if err != nil || st.ID != id || string(st.Status) != h.status || (h.status != "stopped" && st.Pid != pid) {
			t.Errorf("hook %s: state %q (%v), want id %s, status %s, pid %d", h.name, b, err, id, h.status, pid)
		}
	}
	ociGone(t, id)
}

// A config.json written for a FreeBSD jail (a freebsd.jail section, no
// linux section) runs as that jail: its hostname, its address, its
// allow.* parameters.
func TestOCIFreeBSDConfig(t *testing.T) {
	rt := newOCIRT(t)
	id := ociID(t)
	bundle := ociBundle(t, nil, nil)
	root := filepath.Join(bundle, "rootfs")
	cfg := map[string]any{
		"ociVersion": "1.3.0",
		"hostname":   "bsdjail",
		"root":       map[string]any{"path": "rootfs"},
		"process": map[string]any{
			"args": []string{"sh", "-c", "hostname; ip -4 -o addr show scope global | awk '{print $4}'; grep CapEff /proc/self/status"},
			"cwd":  "/", "user": map[string]any{"uid": 0, "gid": 0},
		},
		"freebsd": map[string]any{"jail": map[string]any{
			"host": "new", "ip4Addr": []string{"10.254.72.20"}, "allow": map[string]any{"rawSockets": true},
		}},
	}
	b, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)
	_ = root
	r := rt.run(nil, "run", "--bundle", bundle, id)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 || lines[0] != "bsdjail" || lines[1] != "10.254.72.20/32" {
		t.Fatalf("a FreeBSD config.json: exit %d, %q %q: want its hostname and its address", r.code, r.stdout, r.stderr)
	}
	eff, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(lines[2], "CapEff:")), 16, 64)
	if eff&(1<<13) == 0 || eff&(1<<21) != 0 {
		t.Errorf("CapEff %x: want CAP_NET_RAW (allow.raw_sockets) and never CAP_SYS_ADMIN", eff)
	}
	ociGone(t, id)
	assertNoLeftovers(t, id)
}

// prison spec's output, run as a bundle, is the jail its flags make.
func TestOCISpecIsTheJail(t *testing.T) {
	ociPass(t)
	root := probeRoot(t)
	os.Chmod(filepath.Dir(root), 0o700)
	script := `hostname; grep -E 'CapEff|CapBnd|NoNewPrivs|Seccomp:' /proc/self/status; cat /proc/self/uid_map | tr -s ' '; awk '{print $2}' /proc/self/mounts | sort | tr '\n' ' '`
	flags := []string{"--root", root, "--host", "same1", "--allow", "raw_sockets", "--userns", "host", "--memory", "64M"}
	name := ociID(t)
	want := prison(t, nil, append(append([]string{"run", "--name", name}, flags...), "--", "/bin/sh", "-c", script)...)
	if want.code != 0 {
		t.Fatalf("prison run: exit %d %s", want.code, want.stderr)
	}
	spec := prison(t, nil, append(append([]string{"spec", "--name", name}, flags...), "--", "/bin/sh", "-c", script)...)
	if spec.code != 0 {
		t.Fatalf("prison spec: %s", spec.stderr)
	}
	bundle := t.TempDir()
	os.WriteFile(filepath.Join(bundle, "config.json"), []byte(spec.stdout), 0o644)
	got := prison(t, nil, "run", "--bundle", bundle, name)
	if got.code != 0 || got.stdout != want.stdout {
		t.Errorf("prison spec | prison run --bundle: exit %d\n%s%s\nwant, as prison run ran it:\n%s", got.code, got.stdout, got.stderr, want.stdout)
	}
	assertNoLeftovers(t, name)
}
