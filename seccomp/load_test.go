//go:build linux && cgo && amd64

package seccomp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"prison/internal/roottest"
	"prison/internal/sysprobe"
)

// The privileged tests load the filter into a re-executed copy of the test
// binary, never into the test process itself: a filter cannot be removed.
// The child is chosen by this variable, read before any test runs.
const childEnv = "PRISON_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "probes":
		os.Exit(probeChild())
	case "hostname":
		os.Exit(hostnameChild())
	default:
		fmt.Fprintln(os.Stderr, "unknown child", os.Getenv(childEnv))
		os.Exit(2)
	}
}

func requireRoot(t *testing.T) { roottest.Require(t) }

// install loads prog on the calling thread only, as the jail's C init does:
// without no_new_privs, so it needs CAP_SYS_ADMIN. It returns the listener
// fd, or -1.
func install(prog *Program) (int, error) {
	fprog := unix.SockFprog{Len: uint16(len(prog.Filter)), Filter: &prog.Filter[0]}
	flags := uintptr(0)
	if prog.Listener {
		flags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return -1, os.NewSyscallError("seccomp", e)
	}
	if !prog.Listener {
		return -1, nil
	}
	return int(r), nil
}

// runChild starts the test binary as child kind with its own UTS, IPC and
// mount namespaces and no controlling terminal, so that a call the filter
// wrongly let through changes nothing of the host's.
func runChild(t *testing.T, kind string, p Params, extra ...*os.File) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	arg, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, os.Args[0], string(arg))
	cmd.Env = append(os.Environ(), childEnv+"="+kind)
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNS,
		Setsid:     true,
	}
	cmd.Stderr = os.Stderr
	return cmd
}

func childParams() (Params, error) {
	var p Params
	err := json.Unmarshal([]byte(os.Args[len(os.Args)-1]), &p)
	return p, err
}

func TestLoadedFilterAnswersEveryProbe(t *testing.T) {
	requireRoot(t)
	for _, p := range []Params{
		{},
		{SysVIPC: true},
		{RawSockets: true},
		{SocketAF: true},
		{SocketAF: true, RawSockets: true, SysVIPC: true, Chflags: true},
		{SetHostname: true},
	} {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			out, err := runChild(t, "probes", p).Output()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			got, err := sysprobe.Parse(string(out))
			if err != nil {
				t.Fatalf("child: %v", err)
			}
			for _, bad := range sysprobe.Check(sysprobe.Probes(sysprobe.Params(p), &sysprobe.Env{}), got) {
				t.Error(bad)
			}
		})
	}
}

// childProgram compiles the policy for the parameters the test passed to
// this child.
func childProgram() (Params, *Program, error) {
	p, err := childParams()
	if err != nil {
		return p, nil, err
	}
	prog, err := Compile(Policy(p))
	return p, prog, err
}

// probeChild installs the filter and makes every probe on its one locked
// thread, printing sysprobe's name=ERRNO lines.
func probeChild() int {
	runtime.LockOSThread()
	p, prog, err := childProgram()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	env, err := sysprobe.NewEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer env.Close()
	ps := sysprobe.Probes(sysprobe.Params(p), env)
	if _, err := install(prog); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	os.Stdout.WriteString(sysprobe.Format(sysprobe.Make(env, ps)))
	return 0
}

// TestServeHostname: a child in its own UTS namespace installs the filter
// with allow.set_hostname, hands the listener to this process over a socket
// (as the init does to the launcher) and calls sethostname; ServeNotify
// must set the name in the child's namespace and not in the host's.
func TestServeHostname(t *testing.T) {
	requireRoot(t)
	hostBefore, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours := os.NewFile(uintptr(pair[0]), "ours")
	theirs := os.NewFile(uintptr(pair[1]), "theirs")
	defer ours.Close()
	cmd := runChild(t, "hostname", Params{SetHostname: true}, theirs)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()

	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(ours.Fd()), make([]byte, 1), oob, 0)
	if err != nil {
		cmd.Wait()
		t.Fatalf("receive listener: %v", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control message: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("listener fd: %v", err)
	}
	listener := os.NewFile(uintptr(fds[0]), "seccomp-listener")
	defer listener.Close()

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ServeNotify(ctx, listener, nil) }()

	waitErr := cmd.Wait()
	select {
	case err := <-served:
		// All the filter's users are gone: the listener hangs up.
		if err != nil {
			t.Errorf("ServeNotify: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("ServeNotify still running after the child exited")
	}
	cancel()
	if waitErr != nil {
		t.Fatalf("child: %v\n%s", waitErr, out.String())
	}
	want := "sethostname=0 uname=jail-test setdomainname=0 domain=jail.example toolong=22 nonroot=1\n"
	if out.String() != want {
		t.Errorf("child said %q, want %q", out.String(), want)
	}
	if h, _ := os.Hostname(); h != hostBefore {
		t.Errorf("host's hostname changed from %q to %q", hostBefore, h)
	}
}

// TestServeNotifyStopsOnCancel: with nobody calling, cancelling ctx ends
// ServeNotify.
func TestServeNotifyStopsOnCancel(t *testing.T) {
	r, w, err := os.Pipe() // any pollable fd stands in for a quiet listener
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeNotify(ctx, r, nil) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeNotify: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeNotify ignored ctx")
	}
}

// hostnameChild is the jail side of TestServeHostname.
func hostnameChild() int {
	runtime.LockOSThread()
	_, prog, err := childProgram()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	listener, err := install(prog)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sock := 3
	if err := unix.Sendmsg(sock, []byte{0}, unix.UnixRights(listener), nil, 0); err != nil {
		fmt.Fprintln(os.Stderr, "send listener:", err)
		return 2
	}
	unix.Close(listener)

	call := func(nr uintptr, name string) unix.Errno {
		b := []byte(name)
		_, _, e := unix.RawSyscall(nr, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0)
		return e
	}
	var out strings.Builder
	e := call(unix.SYS_SETHOSTNAME, "jail-test")
	var u unix.Utsname
	unix.Uname(&u)
	fmt.Fprintf(&out, "sethostname=%d uname=%s ", int(e), unix.ByteSliceToString(u.Nodename[:]))
	e = call(unix.SYS_SETDOMAINNAME, "jail.example")
	unix.Uname(&u)
	fmt.Fprintf(&out, "setdomainname=%d domain=%s ", int(e), unix.ByteSliceToString(u.Domainname[:]))
	fmt.Fprintf(&out, "toolong=%d ", int(call(unix.SYS_SETHOSTNAME, strings.Repeat("x", 65))))
	// Only this thread drops to uid 1000: the raw call skips Go's
	// all-threads setuid.
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 1000, 1000, 1000); e != 0 {
		fmt.Fprintln(os.Stderr, "setresuid:", e)
		return 2
	}
	fmt.Fprintf(&out, "nonroot=%d\n", int(call(unix.SYS_SETHOSTNAME, "user-was-here")))
	os.Stdout.WriteString(out.String())
	return 0
}
