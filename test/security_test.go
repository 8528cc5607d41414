package test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"prison/internal/sysprobe"
	"prison/seccomp"
)

// The security tests attempt, as root inside real jails, every line of the
// superuser policy (seccomp/policy.go and the capabilities it keeps) and
// assert the exact answer: the syscall table of internal/sysprobe for each
// jail parameter that changes it, then one test per behaviour the table
// cannot express (renice, ping, SysV IPC, hostname, /proc/1/exe...).
// jailprobe exits 0 whenever it made its observation, so an EPERM below is
// a denial, never a jail that did not start.

var shared struct {
	once sync.Once
	root string
}

// sharedProbeRoot is one probeRoot for every security test that does not
// change it: copying a root costs more than ten jails. The probes clean up
// what they make in it. It lives beside the busybox template, which
// TestMain removes, in a directory only root may enter: prison refuses a
// root that others can reach (checkPrivate).
func sharedProbeRoot(t *testing.T) string {
	t.Helper()
	shared.once.Do(func() {
		private := filepath.Join(filepath.Dir(busyboxDir), "private")
		if err := os.Mkdir(private, 0o700); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(private, "security-root")
		if err := os.Rename(probeRoot(t), dir); err != nil {
			t.Fatal(err)
		}
		shared.root = dir
	})
	if shared.root == "" {
		t.Fatal("no shared probe root: its first test failed to make it")
	}
	return shared.root
}

// securityConfigs are the jails the syscall table is checked in: the
// default, each allow.* and sysvipc mode, and no_new_privs (which moves the
// filter after the capability drop in the init, and must change nothing).
var securityConfigs = []struct {
	name   string
	flags  []string // prison run's and prison seccomp's
	nnp    bool     // also --no-new-privs
	params sysprobe.Params
	run    []string // prison run's only
}{
	{"default", nil, false, sysprobe.Params{SysVIPC: true}, nil},
	{"allow.raw_sockets", []string{"--allow", "raw_sockets"}, false, sysprobe.Params{RawSockets: true, SysVIPC: true}, nil},
	{"allow.socket_af", []string{"--allow", "socket_af"}, false, sysprobe.Params{SocketAF: true, SysVIPC: true}, nil},
	{"allow.socket_af+raw_sockets", []string{"--allow", "socket_af", "--allow", "raw_sockets"}, false, sysprobe.Params{SocketAF: true, RawSockets: true, SysVIPC: true}, nil},
	{"allow.set_hostname", []string{"--allow", "set_hostname"}, false, sysprobe.Params{SetHostname: true, SysVIPC: true}, nil},
	// Only the host's root may set immutable flags: a jail of its own user
	// namespace cannot have allow.chflags.
	{"allow.chflags", []string{"--allow", "chflags"}, false, sysprobe.Params{Chflags: true, SysVIPC: true}, []string{"--userns", "host"}},
	{"allow.sysvipc", []string{"--allow", "sysvipc"}, false, sysprobe.Params{SysVIPC: true}, nil},
	{"sysvipc=inherit", []string{"--sysvipc", "inherit"}, false, sysprobe.Params{SysVIPC: true}, nil},
	{"sysvipc=disable", []string{"--sysvipc", "disable"}, false, sysprobe.Params{}, nil},
	{"no_new_privs", nil, true, sysprobe.Params{SysVIPC: true}, nil},
}

// TestSecuritySyscallTable runs one jail per configuration that makes every
// call of the policy's table, and compares each answer with the table. The
// same jail reports its capabilities, which must be those `prison seccomp
// --params` lists for the same flags, in every set. That the probe reaches
// its last line and exits 0 also shows that no denial kills.
func TestSecuritySyscallTable(t *testing.T) {
	root := sharedProbeRoot(t)
	for _, c := range securityConfigs {
		t.Run(c.name, func(t *testing.T) {
			n := jailName(t)
			args := append(append([]string{"run", "--name", n, "--root", root}, c.flags...), c.run...)
			if c.nnp {
				args = append(args, "--no-new-privs")
			}
			script := "/probe caps && /probe syscalls " + strings.Join(c.flags, " ")
			out := mustRun(t, append(args, "/bin/sh", "-c", script)...)
			capsLine, table, _ := strings.Cut(out, "\n")

			got, err := sysprobe.Parse(table)
			if err != nil {
				t.Fatalf("jailprobe syscalls: %v\n%s", err, out)
			}
			for _, bad := range sysprobe.Check(sysprobe.Probes(c.params, &sysprobe.Env{}), got) {
				t.Error(bad)
			}

			mask := capsParams(t, c.flags)
			nnp := "0"
			if c.nnp {
				nnp = "1"
			}
			want := fmt.Sprintf("CapPrm:=%016x CapEff:=%016x CapBnd:=%016x NoNewPrivs:=%s Seccomp:=2", mask, mask, mask, nnp)
			if capsLine != want {
				t.Errorf("root inside:\n got %s\nwant %s (prison seccomp --params %s)", capsLine, want, strings.Join(c.flags, " "))
			}
		})
	}
}

// capBits are the capabilities a jail may keep, by the names `prison
// seccomp --params` prints; a name missing here fails the test.
var capBits = map[string]uint{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE,
	"CAP_DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH, "CAP_FOWNER": unix.CAP_FOWNER,
	"CAP_FSETID": unix.CAP_FSETID, "CAP_KILL": unix.CAP_KILL, "CAP_SETGID": unix.CAP_SETGID,
	"CAP_SETUID": unix.CAP_SETUID, "CAP_SETPCAP": unix.CAP_SETPCAP,
	"CAP_LINUX_IMMUTABLE": unix.CAP_LINUX_IMMUTABLE, "CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_SETFCAP": unix.CAP_SETFCAP,
}

// capsParams is the capability mask `prison seccomp --params FLAGS...`
// lists under "capabilities kept by root inside".
func capsParams(t *testing.T, flags []string) uint64 {
	t.Helper()
	out := mustRun(t, append([]string{"seccomp", "--params"}, flags...)...)
	_, list, ok := strings.Cut(out, "capabilities kept by root inside:\n")
	if !ok {
		t.Fatalf("prison seccomp --params: no capability list:\n%s", out)
	}
	var mask uint64
	for _, name := range strings.Fields(list) {
		bit, ok := capBits[name]
		if !ok {
			t.Fatalf("prison seccomp --params lists %s, which no jail should keep (or add it to capBits)", name)
		}
		mask |= 1 << bit
	}
	return mask
}

// jailLine runs one jail and returns its one line of output.
func jailLine(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(mustRun(t, args...))
}

// TestSecurityUnprivilegedUser: an ordinary user inside has no capability
// at all; the bounding set stays the jail's.
func TestSecurityUnprivilegedUser(t *testing.T) {
	n := jailName(t)
	mask := capsParams(t, nil)
	got := jailLine(t, "run", "--name", n, "--root", sharedProbeRoot(t), "--user", "nobody", "/probe", "caps")
	want := fmt.Sprintf("CapPrm:=%016x CapEff:=%016x CapBnd:=%016x NoNewPrivs:=0 Seccomp:=2", 0, 0, mask)
	if got != want {
		t.Errorf("nobody inside:\n got %s\nwant %s", got, want)
	}
}

// niceOf reads a process's nice value, field 19 of /proc/PID/stat.
func niceOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// comm (field 2) may hold spaces; the fields after it do not.
	_, after, _ := bytes.Cut(b, []byte(") "))
	f := strings.Fields(string(after))
	n, err := strconv.Atoi(f[19-3])
	if err != nil {
		t.Fatalf("/proc/%d/stat: %v", pid, err)
	}
	return n
}

// ioprioOf is a process's I/O priority, ioprio_get(IOPRIO_WHO_PROCESS).
func ioprioOf(t *testing.T, pid int) uintptr {
	t.Helper()
	p, _, e := unix.RawSyscall(unix.SYS_IOPRIO_GET, 1, uintptr(pid), 0)
	if e != 0 {
		t.Fatalf("ioprio_get %d: %v", pid, e)
	}
	return p
}

// TestSecurityPriorities (FreeBSD kern/17878): root inside renices every
// process of its uid (`renice -n 19 -u root`, and the same for I/O with
// `ionice -c 3 -u 0`), which reaches the jail's processes only: a root
// process on the host, in its own process group, keeps its nice value and
// I/O priority, and naming it by PID or PGID finds nothing.
func TestSecurityPriorities(t *testing.T) {
	host := exec.Command("sleep", "60")
	host.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Process.Kill(); host.Wait() })
	pid := host.Process.Pid
	before, ioBefore := niceOf(t, pid), ioprioOf(t, pid)
	self := niceOf(t, os.Getpid())

	n := jailName(t)
	got := jailLine(t, "run", "--name", n, "--root", sharedProbeRoot(t), "/probe", "renice-user", "19", strconv.Itoa(pid))
	want := fmt.Sprintf("renice-user=ok self=19 ionice-user=ok self-ioclass=3 pid%d=ESRCH pgrp%d=ESRCH", pid, pid)
	if got != want {
		t.Errorf("inside: %s, want %s", got, want)
	}
	if after := niceOf(t, pid); after != before {
		t.Errorf("a root process on the host went from nice %d to %d", before, after)
	}
	if after := ioprioOf(t, pid); after != ioBefore {
		t.Errorf("a root process on the host went from I/O priority %#x to %#x", ioBefore, after)
	}
	if after := niceOf(t, os.Getpid()); after != self {
		t.Errorf("the test process went from nice %d to %d", self, after)
	}
}

// TestSecurityNoLowerNice: without CAP_SYS_NICE nobody inside, root
// included, may lower a nice value below the one it started with, by any of
// setpriority's selectors; raising it is allowed.
func TestSecurityNoLowerNice(t *testing.T) {
	root := sharedProbeRoot(t)
	start := niceOf(t, os.Getpid()) // the jail inherits the launcher's
	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			n := jailName(t)
			got := jailLine(t, "run", "--name", n, "--root", root, "--user", user, "/probe", "nice")
			want := fmt.Sprintf("nice=%d lower-process=EACCES lower-pgrp=EACCES lower-user=EACCES raise=ok now=%d", start, min(start+1, 19))
			if got != want {
				t.Errorf("inside: %s, want %s", got, want)
			}
		})
	}
}

// TestSecurityPing: ping works without privilege (ICMP datagram sockets:
// prison sets the jail's net.ipv4.ping_group_range), for every user and
// both IP versions; raw ICMP sockets need allow.raw_sockets.
func TestSecurityPing(t *testing.T) {
	root := sharedProbeRoot(t)
	for _, c := range []struct {
		name  string
		flags []string
		probe []string
		want  string
	}{
		{"datagram", nil, nil, "icmp=ok"},
		{"datagram IPv6", nil, []string{"::1"}, "icmp=ok"},
		{"datagram as nobody", []string{"--user", "nobody"}, nil, "icmp=ok"},
		{"raw refused", nil, []string{"--raw"}, "icmp=socket:EPERM"},
		{"raw IPv6 refused", nil, []string{"--raw", "::1"}, "icmp=socket:EPERM"},
		{"raw with allow.raw_sockets", []string{"--allow", "raw_sockets"}, []string{"--raw"}, "icmp=ok"},
		{"raw IPv6 with allow.raw_sockets", []string{"--allow", "raw_sockets"}, []string{"--raw", "::1"}, "icmp=ok"},
		{"raw as nobody with allow.raw_sockets", []string{"--allow", "raw_sockets", "--user", "nobody"}, []string{"--raw"}, "icmp=socket:EPERM"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := jailName(t)
			args := append(append([]string{"run", "--name", n, "--root", root}, c.flags...), "/probe", "icmp")
			if got := jailLine(t, append(args, c.probe...)...); got != c.want {
				t.Errorf("inside: %s, want %s", got, c.want)
			}
		})
	}
}

// TestSecurityRootKeeps: what a customer's root needs works inside: low
// ports, tracing and killing its own processes, chroot (whose classic
// escape ends at the jail's root, not the host's).
func TestSecurityRootKeeps(t *testing.T) {
	root := sharedProbeRoot(t)
	hostOnly := filepath.Join(t.TempDir(), "host-only")
	if err := os.WriteFile(hostOnly, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		user  string
		probe []string
		want  string
	}{
		{"bind a port below 1024", "root", []string{"bind-low", "80"}, "bind=ok"},
		{"nobody may not bind it", "nobody", []string{"bind-low", "80"}, "bind=EACCES"},
		{"ptrace and kill a child", "root", []string{"ptrace-child"}, "attach=ok stopped=true detach=ok kill=ok killed=true"},
		{"chroot, and no way out of the jail", "root", []string{"chroot", hostOnly}, "chroot=ok inside=ok escape-chroot=ok landed=jail-root host=ENOENT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := jailName(t)
			args := append([]string{"run", "--name", n, "--root", root, "--user", c.user, "/probe"}, c.probe...)
			if got := jailLine(t, args...); got != c.want {
				t.Errorf("inside: %s, want %s", got, c.want)
			}
		})
	}
	t.Run("userns", func(t *testing.T) {
		n := jailName(t)
		r := prison(t, nil, "run", "--name", n, "--root", root, "--allow", "chflags", "--userns", "auto", "/probe", "chflags")
		if want := "--allow chflags: needs --userns host"; r.code != 125 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("exit %d, stderr %q; want 125 and one line with %q", r.code, r.stderr, want)
		}
	})
}

// TestSecurityNoNetAdmin: root inside cannot change addresses, routes or
// links (no CAP_NET_ADMIN), over rtnetlink or ioctl; reading them works.
func TestSecurityNoNetAdmin(t *testing.T) {
	n := jailName(t)
	got := jailLine(t, "run", "--name", n, "--root", sharedProbeRoot(t), "/probe", "netadmin")
	want := "getlink=ok newaddr=EPERM newroute=EPERM newlink=EPERM siocsifflags=EPERM"
	if got != want {
		t.Errorf("inside: %s, want %s", got, want)
	}
}

// TestSecurityInitNotDumpable: the jail's PID 1 is prison's init, a host
// binary: root inside may neither resolve nor open it through /proc/1/exe
// (CVE-2019-5736) nor trace it.
func TestSecurityInitNotDumpable(t *testing.T) {
	n := jailName(t)
	got := jailLine(t, "run", "--name", n, "--root", sharedProbeRoot(t), "/probe", "proc1exe")
	if want := "self=ok readlink=EACCES open=EACCES ptrace=EPERM"; got != want {
		t.Errorf("inside: %s, want %s", got, want)
	}
}

// TestSecurityHostname: sethostname and setdomainname are refused unless
// allow.set_hostname; then they change the jail's names only, and only for
// root.
func TestSecurityHostname(t *testing.T) {
	root := sharedProbeRoot(t)
	hostName, _ := os.ReadFile("/proc/sys/kernel/hostname")
	hostDomain, _ := os.ReadFile("/proc/sys/kernel/domainname")
	domain := strings.TrimSpace(string(hostDomain)) // a new UTS namespace starts with the host's
	for _, c := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"refused", nil, "sethostname=EPERM setdomainname=EPERM hostname=cust1 domainname=" + domain},
		{"allow.set_hostname", []string{"--allow", "set_hostname"}, "sethostname=ok setdomainname=ok hostname=renamed domainname=renamed"},
		{"allow.set_hostname, not root", []string{"--allow", "set_hostname", "--user", "nobody"}, "sethostname=EPERM setdomainname=EPERM hostname=cust1 domainname=" + domain},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := jailName(t)
			args := append(append([]string{"run", "--name", n, "--host", "cust1", "--root", root}, c.flags...), "/probe", "hostname", "renamed")
			if got := jailLine(t, args...); got != c.want {
				t.Errorf("inside: %s, want %s", got, c.want)
			}
		})
	}
	for file, before := range map[string][]byte{"hostname": hostName, "domainname": hostDomain} {
		if after, _ := os.ReadFile("/proc/sys/kernel/" + file); !bytes.Equal(after, before) {
			t.Errorf("the host's %s changed from %q to %q", file, before, after)
		}
	}
}

// TestSecurityChflags: the immutable flag needs allow.chflags
// (CAP_LINUX_IMMUTABLE); once set, it holds against root inside too. The
// kernel checks that capability in the host's user namespace: a jail with
// a user namespace of its own is refused allow.chflags with one line.
func TestSecurityChflags(t *testing.T) {
	root := sharedProbeRoot(t)
	for _, c := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"refused", nil, "set=EPERM"},
		{"refused-host", []string{"--userns", "host"}, "set=EPERM"},
		{"allow.chflags", []string{"--allow", "chflags", "--userns", "host"}, "set=ok write=EPERM clear=ok"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := jailName(t)
			args := append(append([]string{"run", "--name", n, "--root", root}, c.flags...), "/probe", "chflags")
			if got := jailLine(t, args...); got != c.want {
				t.Errorf("inside: %s, want %s", got, c.want)
			}
		})
	}
	t.Run("userns", func(t *testing.T) {
		n := jailName(t)
		r := prison(t, nil, "run", "--name", n, "--root", root, "--allow", "chflags", "--userns", "auto", "/probe", "chflags")
		if want := "--allow chflags: needs --userns host"; r.code != 125 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("exit %d, stderr %q; want 125 and one line with %q", r.code, r.stderr, want)
		}
	})
}

// TestSecuritySysVIPC: new (the default) is a namespace of the jail's own;
// inherit and allow.sysvipc share the host's, both ways; disable refuses
// the calls with ENOSYS.
func TestSecuritySysVIPC(t *testing.T) {
	root := sharedProbeRoot(t)
	hostKey := 0x5e000000 + os.Getpid()%0xffff
	id, err := unix.SysvShmGet(hostKey, 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	if err != nil {
		t.Fatalf("shmget on the host: %v", err)
	}
	t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	for i, c := range []struct {
		name      string
		flags     []string
		seesHost  string // shmget of the host's segment
		make      string // shmget IPC_CREAT inside
		hostSeeIt bool   // the segment made inside is on the host afterwards
	}{
		{"new", nil, "ENOENT", "ok", false},
		{"inherit", []string{"--sysvipc", "inherit"}, "ok", "ok", true},
		{"allow.sysvipc", []string{"--allow", "sysvipc"}, "ok", "ok", true},
		{"disable", []string{"--sysvipc", "disable"}, "ENOSYS", "ENOSYS", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			inKey := hostKey + 1 + i
			n := jailName(t)
			script := fmt.Sprintf("/probe shm get %d && /probe shm make %d", hostKey, inKey)
			args := append(append([]string{"run", "--name", n, "--root", root}, c.flags...), "/bin/sh", "-c", script)
			out := mustRun(t, args...)
			id, err := unix.SysvShmGet(inKey, 0, 0)
			if err == nil {
				unix.SysvShmCtl(id, unix.IPC_RMID, nil)
			}
			if want := "shmget=" + c.seesHost + "\nshmget=" + c.make + "\n"; out != want {
				t.Errorf("inside: %q, want %q", out, want)
			}
			if (err == nil) != c.hostSeeIt {
				t.Errorf("segment made inside, on the host: shmget %v, want it there: %v", err, c.hostSeeIt)
			}
		})
	}
}

// TestSecuritySetuidPrograms: setuid programs work inside (su is normal in
// a jail) unless --no-new-privs. In the default root root uses the host's
// su to become nobody, with or without it; nobody running a setuid-root
// program gains root only without it.
func TestSecuritySetuidPrograms(t *testing.T) {
	for _, c := range []struct {
		name string
		nnp  bool
		euid string
	}{
		{"default", false, "0"},
		{"no_new_privs", true, "65534"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var nnp []string
			if c.nnp {
				nnp = []string{"--no-new-privs"}
			}
			args := append(append([]string{"run", "--name", jailName(t)}, nnp...), "/bin/sh", "-c", "su -s /bin/sh nobody -c 'id -u'")
			if got := jailLine(t, args...); got != "65534" {
				t.Errorf("su to nobody: %q, want 65534", got)
			}

			root := probeRoot(t) // its own: it gets a setuid binary
			if out, err := exec.Command("cp", probeBin, filepath.Join(root, "suid-probe")).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if err := os.Chmod(filepath.Join(root, "suid-probe"), os.ModeSetuid|0o755); err != nil {
				t.Fatal(err)
			}
			args = append(append([]string{"run", "--name", jailName(t), "--root", root, "--user", "nobody"}, nnp...), "/suid-probe", "id")
			want := "uid=65534 euid=" + c.euid + " gid=65534 egid=65534"
			if got := jailLine(t, args...); got != want {
				t.Errorf("nobody runs a setuid-root program: %s, want %s", got, want)
			}
		})
	}
}

// TestSecuritySeccompCommand: `prison seccomp` prints the policy a jail runs
// under, --bpf the very program, and bad input gets one line and 125.
func TestSecuritySeccompCommand(t *testing.T) {
	t.Run("rules", func(t *testing.T) {
		var want bytes.Buffer
		if err := seccomp.Format(&want, seccomp.Policy(seccomp.Params{SysVIPC: true, RawSockets: true})); err != nil {
			t.Fatal(err)
		}
		if got := mustRun(t, "seccomp", "--allow", "raw_sockets"); got != want.String() {
			t.Errorf("prison seccomp --allow raw_sockets:\n%s\nwant seccomp.Format of the policy:\n%s", got, want.String())
		}
	})
	t.Run("bpf", func(t *testing.T) {
		out := mustRun(t, "seccomp", "--bpf", "--sysvipc", "disable")
		if len(out) == 0 || len(out)%8 != 0 {
			t.Fatalf("--bpf wrote %d bytes, want a positive multiple of 8 (struct sock_filter)", len(out))
		}
		prog, err := seccomp.Compile(seccomp.Policy(seccomp.Params{}))
		if errors.Is(err, seccomp.ErrNotSupported) {
			t.Skip("test built without cgo: cannot compile the filter to compare")
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 8*len(prog.Filter) {
			t.Errorf("--bpf wrote %d instructions, the policy compiles to %d", len(out)/8, len(prog.Filter))
		}
	})
	t.Run("bpf refuses a terminal", func(t *testing.T) {
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer ptmx.Close()
		defer tty.Close()
		cmd := exec.Command(prisonBin, "seccomp", "--bpf")
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = tty, &stderr
		err = cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 125 {
			t.Errorf("prison seccomp --bpf to a terminal: %v, want exit 125", err)
		}
		assertOneLine(t, result{stderr: stderr.String(), code: 125}, "--bpf writes binary")
	})
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown allow", []string{"seccomp", "--allow", "x"}, `--allow: unknown parameter "x"`},
		{"unknown allow in run", []string{"run", "--name", jailName(t), "--allow", "x", "true"}, `--allow: unknown parameter "x"`},
		{"contradiction", []string{"seccomp", "--allow", "sysvipc", "--sysvipc", "disable"}, "contradict"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := prison(t, nil, c.args...)
			if r.code != 125 {
				t.Errorf("exit %d, want 125", r.code)
			}
			assertOneLine(t, r, c.want)
		})
	}
}
