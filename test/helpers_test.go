package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"prison/netns"

	"golang.org/x/sys/unix"
)

// result is what a user sees of one prison command.
type result struct {
	stdout, stderr string
	code           int
}

// jailName returns a name unique to this test run, so that leftovers can be
// attributed.
func jailName(t testing.TB) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	n := "t" + hex.EncodeToString(b[:])
	t.Cleanup(func() { assertNoLeftovers(t, n) })
	return n
}

// prison runs the prison binary with stdin from the given reader (nil:
// /dev/null) and a generous timeout.
func prison(t testing.TB, stdin io.Reader, args ...string) result {
	t.Helper()
	return prisonEnv(t, nil, stdin, args...)
}

// prisonEnv is prison with variables added to the environment.
func prisonEnv(t testing.TB, env []string, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prisonBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	return runCmd(t, cmd)
}

// runCmd runs a prepared command and returns what a user sees of it.
func runCmd(t testing.TB, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return r
}

// mustRun runs a jail and fails the test unless the command exits 0.
func mustRun(t testing.TB, args ...string) string {
	t.Helper()
	r := prison(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("prison %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// probeRoot returns a fresh writable busybox root with jailprobe at /probe.
func probeRoot(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("cp", "-a", busyboxDir, dir).CombinedOutput(); err != nil {
		t.Fatalf("copy busybox root: %v: %s", err, out)
	}
	if out, err := exec.Command("cp", probeBin, filepath.Join(dir, "probe")).CombinedOutput(); err != nil {
		t.Fatalf("copy jailprobe: %v: %s", err, out)
	}
	return dir
}

// assertNoLeftovers checks that nothing of jail name is on the host: no
// state, no mounts, no processes, no host links.
func assertNoLeftovers(t testing.TB, name string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("/run/prison", name)); err == nil {
		t.Errorf("leftover: /run/prison/%s", name)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if bytes.Contains(mi, []byte("/run/prison/"+name)) {
		t.Errorf("leftover: mount under /run/prison/%s", name)
	}
	links, _ := os.ReadDir("/run/prison-addrs")
	for _, l := range links {
		if holder, _ := os.Readlink("/run/prison-addrs/" + l.Name()); holder == name {
			t.Errorf("leftover: address %s still claimed", l.Name())
		}
	}
	ids, _ := os.ReadDir("/run/prison-ids")
	for _, l := range ids {
		if holder, _ := os.Readlink("/run/prison-ids/" + l.Name()); holder == name {
			t.Errorf("leftover: id range %s still claimed", l.Name())
		}
	}
	// The jail's cgroup, on whichever hierarchy (v1 or the v2 tree).
	if left, _ := filepath.Glob("/sys/fs/cgroup/*/prison/" + name); len(left) > 0 {
		t.Errorf("leftover: cgroup %v", left)
	}
	if pids := jailInits(name); len(pids) > 0 {
		t.Errorf("leftover: jail init process %v still running", pids)
	}
	// A jail's host link dies with its network namespace, which the
	// kernel cleans up asynchronously: wait for it, bounded.
	link := "/sys/class/net/" + hostLink(name)
	deadline := time.Now().Add(10 * time.Second)
	for fileExists(link) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if fileExists(link) {
		t.Errorf("leftover: host link %s", hostLink(name))
	}
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// hostLink is the host end of a routed jail's veth (netns.Plan.HostLink).
func hostLink(jail string) string {
	p := netns.Plan{Jail: jail}
	return p.HostLink()
}

// jailInits lists the pids of the running inits of jail name: processes
// named prison-init, PID 1 of their namespace, whose command line names the
// jail ("prison __prison_init NAME", from the Go launcher and a daemon's
// client alike). PID 1 only: the command is a copy of the init until its
// execve, which under load can be seen.
func jailInits(name string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || string(comm) != "prison-init\n" || exiting(e.Name()) || !nsInit(e.Name()) {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		args := strings.Split(string(b), "\x00")
		for i := 1; i+1 < len(args); i++ {
			if args[i] == "__prison_init" && args[i+1] == name {
				out = append(out, e.Name())
				break
			}
		}
	}
	return out
}

// background is a jail running until its stdin closes or it is stopped.
type background struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *lockedBuffer
	name   string
}

// startJail starts a jail in the background and waits (bounded) until its
// command printed "ready". The test's cleanup stops it.
func startJail(t *testing.T, name string, args ...string) *background {
	t.Helper()
	return startJailEnv(t, nil, name, args...)
}

// startJailEnv is startJail with variables added to prison's environment.
func startJailEnv(t *testing.T, env []string, name string, args ...string) *background {
	t.Helper()
	return startPrison(t, env, name, append([]string{"run", "--name", name}, args...))
}

// startExec is startJail for a command that prison exec runs in the
// running jail name.
func startExec(t *testing.T, name string, args ...string) *background {
	t.Helper()
	return startPrison(t, nil, name, append([]string{"exec", name}, args...))
}

// startPrison runs prison with args in the background, for jail name, and
// waits (bounded) until the jail's command printed "ready".
func startPrison(t *testing.T, env []string, name string, args []string) *background {
	t.Helper()
	cmd := exec.Command(prisonBin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	errb := &lockedBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &background{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), stderr: errb, name: name}
	t.Cleanup(b.stop)
	line := make(chan string, 1)
	go func() { l, _ := b.out.ReadString('\n'); line <- l }()
	select {
	case l := <-line:
		if strings.TrimSpace(l) != "ready" {
			b.stop()
			t.Fatalf("jail %s did not start: %q %s", name, l, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("jail %s: no ready line", name)
	}
	return b
}

// kill kills the launcher with SIGKILL, as an admin's kill -9 would.
func (b *background) kill() {
	b.cmd.Process.Kill()
	b.cmd.Wait()
}

// stop ends the jail cleanly (SIGTERM, forwarded to the command).
func (b *background) stop() {
	if b.cmd.ProcessState != nil {
		return
	}
	b.cmd.Process.Signal(unix.SIGTERM)
	b.cmd.Wait()
}

// nsInit tells whether process pid is PID 1 of its innermost PID namespace.
func nsInit(pid string) bool {
	b, _ := os.ReadFile("/proc/" + pid + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "NSpid:"); ok {
			f := strings.Fields(rest)
			return len(f) > 1 && f[len(f)-1] == "1"
		}
	}
	return false
}

// exiting tells whether process pid is on its way out: a zombie, or a
// task in exit (PF_EXITING), such as a jail's init that was killed and
// waits for the kernel to end every process of its PID namespace. Its
// files, the jail's state lock among them, are closed by then, and no
// jail runs in it any more.
func exiting(pid string) bool {
	b, _ := os.ReadFile("/proc/" + pid + "/stat")
	_, after, _ := bytes.Cut(b, []byte(") "))
	f := strings.Fields(string(after))
	if len(f) < 7 {
		return true // gone meanwhile
	}
	flags, _ := strconv.ParseUint(f[6], 10, 64)
	const pfExiting = 0x4 // include/linux/sched.h
	return f[0] == "Z" || flags&pfExiting != 0
}
