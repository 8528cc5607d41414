package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The user namespace tests (issue 12) check, from inside real jails and
// from the host, that a jail's root is a range of host ids of its own:
// what the maps and the state say, who owns what on the host, that the
// per-user counts of the kernel are the range's and not host root's,
// and that setuid programs and prison exec still work. Where it is cheap,
// the same probe runs with --userns host too, and the test asserts the
// difference: that is what shows it can fail.

// usernsPoolLo is where --userns auto takes ranges from (1<<30), unless
// the user prison has /etc/subuid and /etc/subgid entries.
const usernsPoolLo = 1 << 30

// usernsName is jailName, plus a check at cleanup that no id range is
// still claimed for the jail in the store's index.
// inDefaultMode skips a test of the default user namespace in the pass
// of the suite that runs every jail with --userns host (make test): what
// it checks is not that mode's.
func inDefaultMode(t *testing.T) {
	t.Helper()
	if os.Getenv("PRISON_USERNS") == "host" {
		t.Skip("PRISON_USERNS=host: this tests the default user namespace, which the first pass covers")
	}
}

func usernsName(t *testing.T) string {
	t.Helper()
	n := jailName(t)
	t.Cleanup(func() {
		if links := usernsIDLinks(n); len(links) > 0 {
			t.Errorf("leftover: id ranges %v still claimed for %s", links, n)
		}
	})
	return n
}

// usernsIDLinks lists the entries of /run/prison-ids that name jail name.
func usernsIDLinks(name string) []string {
	var out []string
	ents, _ := os.ReadDir("/run/prison-ids")
	for _, e := range ents {
		if holder, _ := os.Readlink("/run/prison-ids/" + e.Name()); holder == name {
			out = append(out, e.Name())
		}
	}
	return out
}

// idMap is one line of /proc/PID/uid_map or gid_map.
type idMap struct{ inside, outside, count uint64 }

func (m idMap) String() string { return fmt.Sprintf("%d %d %d", m.inside, m.outside, m.count) }

// parseIDMap parses a uid_map or gid_map of exactly one line.
func parseIDMap(t *testing.T, what, s string) idMap {
	t.Helper()
	f := strings.Fields(s)
	if len(f) != 3 {
		t.Fatalf("%s: %q, want one line of three numbers", what, s)
	}
	var n [3]uint64
	for i := range f {
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", what, s, err)
		}
		n[i] = v
	}
	return idMap{n[0], n[1], n[2]}
}

// procIDMap reads a map (uid_map or gid_map) of host process pid.
func procIDMap(t *testing.T, pid int, file string) idMap {
	t.Helper()
	p := fmt.Sprintf("/proc/%d/%s", pid, file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return parseIDMap(t, p, string(b))
}

// usernsState is what the state store records of a jail and these tests
// read: its init's pid and its id range.
type usernsState struct {
	InitPID int `json:"initPid"`
	IDs     *usernsRange
}

// usernsRange is a jail's ids as one range from 0: jail ids 0..Size-1 are
// host uids UID.. and gids GID...
type usernsRange struct{ UID, GID, Size uint64 }

// stateIDs is the state's record of a jail's maps, as config.json spells
// them.
type stateIDs struct {
	UIDs []specs.LinuxIDMapping `json:"uidMappings"`
	GIDs []specs.LinuxIDMapping `json:"gidMappings"`
}

// UnmarshalJSON reads a state.json, whose ids of a jail of prison's own
// are one extent each from 0, of one size; anything else is none.
func (s *usernsState) UnmarshalJSON(b []byte) error {
	var v struct {
		InitPID int       `json:"initPid"`
		IDs     *stateIDs `json:"ids"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = usernsState{InitPID: v.InitPID}
	if m := v.IDs; m != nil && len(m.UIDs) == 1 && len(m.GIDs) == 1 && m.UIDs[0].ContainerID == 0 &&
		m.GIDs[0].ContainerID == 0 && m.UIDs[0].Size == m.GIDs[0].Size {
		s.IDs = &usernsRange{uint64(m.UIDs[0].HostID), uint64(m.GIDs[0].HostID), uint64(m.UIDs[0].Size)}
	}
	return nil
}

// usernsStateOf reads a running jail's state once it names its init: a
// jail that prison run starts records its init while its command runs,
// off the start path, so a command's first output can come before it.
func usernsStateOf(t *testing.T, name string) usernsState {
	t.Helper()
	p := filepath.Join("/run/prison", name, "state.json")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var s usernsState
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %v\n%s", p, err, b)
		}
		if s.InitPID > 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no initPid\n%s", p, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// jailLines reads n lines of a background jail's output, each within a
// generous bound (the jail's command may first have work to do).
func jailLines(t *testing.T, b *background, n int) []string {
	t.Helper()
	var out []string
	for range n {
		line := make(chan string, 1)
		go func() { l, _ := b.out.ReadString('\n'); line <- l }()
		select {
		case l := <-line:
			if l == "" {
				t.Fatalf("jail %s: output ended after %q: %s", b.name, out, b.stderr.String())
			}
			out = append(out, strings.TrimSuffix(l, "\n"))
		case <-time.After(60 * time.Second):
			t.Fatalf("jail %s: no line after %q: %s", b.name, out, b.stderr.String())
		}
	}
	return out
}

// hostOwner is the host owner of path, not following a last symlink.
func hostOwner(t *testing.T, path string) (uid, gid uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// TestUserNSMap: by default a jail's root is uid 0 in a user namespace
// whose ids 0..65535 are a host range from the pool: the maps inside say
// so, the state and prison list -v agree, and the jail's init is that
// range's first uid on the host.
func TestUserNSMap(t *testing.T) {
	inDefaultMode(t)
	n := usernsName(t)
	b := startJail(t, n, "/bin/sh", "-c", "echo ready; cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; exec cat")
	lines := jailLines(t, b, 4)
	uids, gids := parseIDMap(t, "uid_map inside", lines[0]), parseIDMap(t, "gid_map inside", lines[1])
	if uids.inside != 0 || uids.count != 65536 || uids.outside < usernsPoolLo {
		t.Errorf("uid_map inside: %s, want 0 BASE 65536 with BASE >= %d", uids, usernsPoolLo)
	}
	if gids.inside != 0 || gids.count != 65536 || gids.outside < usernsPoolLo {
		t.Errorf("gid_map inside: %s, want 0 BASE 65536 with BASE >= %d", gids, usernsPoolLo)
	}
	if lines[2] != "0" || lines[3] != "0" {
		t.Errorf("id -u, id -g inside: %s %s, want 0 0", lines[2], lines[3])
	}

	st := usernsStateOf(t, n)
	if st.IDs == nil || st.IDs.UID != uids.outside || st.IDs.GID != gids.outside || st.IDs.Size != 65536 {
		t.Errorf("state.json ids: %+v, want uid %d gid %d size 65536", st.IDs, uids.outside, gids.outside)
	}
	if uid, gid := hostOwner(t, fmt.Sprintf("/proc/%d", st.InitPID)); uint64(uid) != uids.outside || uint64(gid) != gids.outside {
		t.Errorf("the jail's init on the host is %d:%d, want the range's base %d:%d", uid, gid, uids.outside, gids.outside)
	}
	if got := procIDMap(t, st.InitPID, "uid_map"); got != uids {
		t.Errorf("the init's uid_map read from the host: %s, inside: %s", got, uids)
	}

	// The README: "prison list -v # shows userns=BASE:65536".
	// Its parameters are the tab-indented lines after "NAME: ".
	var mine []string
	in := false
	for _, l := range strings.Split(mustRun(t, "list", "-v"), "\n") {
		switch {
		case strings.HasPrefix(l, n+": "):
			in = true
		case in && strings.HasPrefix(l, "\t"):
			mine = append(mine, strings.TrimSpace(l))
		default:
			in = false
		}
	}
	want := fmt.Sprintf("%d:65536", uids.outside)
	found := false
	for _, l := range mine {
		found = found || strings.HasPrefix(l, "userns") && strings.Contains(l, want)
	}
	if !found {
		t.Errorf("prison list -v does not show the jail's range (userns %s):\n%s", want, strings.Join(mine, "\n"))
	}
}

// TestUserNSFileOwners: the host's trees come idmapped, so a setuid-root
// program of the host-derived root shows as root's with its setuid bit;
// what the jail's root makes in memory (the root's /tmp) belongs to the
// range on the host, and what it makes on a --root DIR is uid 0 on disk.
// The host's device nodes, bound in, show as nobody.
func TestUserNSFileOwners(t *testing.T) {
	inDefaultMode(t)
	n := usernsName(t)
	create(t, n)
	st := usernsStateOf(t, n)
	if st.IDs == nil {
		t.Fatalf("state.json of %s: no ids", n)
	}

	f := strings.Fields(mustExec(t, n, "ls -ln /usr/bin/su"))
	if len(f) < 4 || !strings.HasPrefix(f[0], "-rws") || f[2] != "0" || f[3] != "0" {
		t.Errorf("ls -ln /usr/bin/su inside: %q, want -rws… 0 0", strings.Join(f, " "))
	}
	if got := strings.TrimSpace(mustExec(t, n, "stat -c '%u %g' /dev/null")); got != "65534 65534" {
		t.Errorf("/dev/null inside is owned by %s, want 65534 65534 (nobody: the host's root is not mapped)", got)
	}

	if got := strings.TrimSpace(mustExec(t, n, "echo made > /tmp/userns-f && stat -c '%u %g' /tmp/userns-f")); got != "0 0" {
		t.Errorf("a file root makes in /tmp is %s inside, want 0 0", got)
	}
	uid, gid := hostOwner(t, fmt.Sprintf("/proc/%d/root/tmp/userns-f", st.InitPID))
	if uint64(uid) != st.IDs.UID || uint64(gid) != st.IDs.GID {
		t.Errorf("the jail root's /tmp file on the host is %d:%d, want the range's base %d:%d", uid, gid, st.IDs.UID, st.IDs.GID)
	}

	root := probeRoot(t)
	out := jailLine(t, "run", "--name", usernsName(t), "--root", root, "/bin/sh", "-c",
		"echo made > /userns-f && mkdir /userns-d && stat -c '%u %g' /userns-f")
	if out != "0 0" {
		t.Errorf("a file root makes on its --root is %s inside, want 0 0", out)
	}
	for _, p := range []string{"userns-f", "userns-d"} {
		if uid, gid := hostOwner(t, filepath.Join(root, p)); uid != 0 || gid != 0 {
			t.Errorf("/%s made by the jail's root on its --root is %d:%d on disk, want 0:0", p, uid, gid)
		}
	}
}

// TestUserNSStdoutNotChmoddable: root inside cannot chmod or chown a host
// file through the descriptor it is handed as stdout: prison relays it
// through a pipe, in both modes, and what the jail writes still arrives.
// Where the jail reaches a host file as it is (a read-write --mount with
// noidmap), the user namespace alone stops it: its root is an unrelated
// user there, while with --userns host the same script takes the file.
func TestUserNSStdoutNotChmoddable(t *testing.T) {
	inDefaultMode(t)
	for _, mode := range []string{"auto", "host"} {
		t.Run("stdout/"+mode, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if err := os.WriteFile(out, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, prisonBin, "run", "--name", usernsName(t), "--userns", mode,
				"/bin/sh", "-c", "chmod 4755 /proc/self/fd/1; chown 1:1 /proc/self/fd/1; echo x")
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = f, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("prison run: %v\n%s", err, stderr.String())
			}
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if uid, gid := hostOwner(t, out); fi.Mode() != 0o644 || uid != 0 || gid != 0 {
				t.Errorf("the host file the jail's stdout went to: %v %d:%d, want -rw-r--r-- 0:0", fi.Mode(), uid, gid)
			}
			if b, _ := os.ReadFile(out); string(b) != "x\n" {
				t.Errorf("the host file holds %q, want what the jail wrote, \"x\\n\"", b)
			}
		})
	}

	for _, c := range []struct {
		mode    string
		changes bool // the host file's mode or owner
	}{{"auto", false}, {"host", true}} {
		t.Run("mount noidmap/"+c.mode, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "f")
			if err := os.WriteFile(file, []byte("host data\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			before := stateOf(t, file)
			got := jailLine(t, "run", "--name", usernsName(t), "--userns", c.mode, "--mount", dir+":/m:noidmap",
				"/bin/sh", "-c", "chmod 4755 /m/f; chown 1:1 /m/f; echo x >> /m/f; echo ran")
			if !strings.HasSuffix(got, "ran") {
				t.Fatalf("the script did not run to its end: %q", got)
			}
			after := stateOf(t, file)
			if changed := after != before; changed != c.changes {
				t.Errorf("--userns %s: a root-owned host file on a noidmap --mount went from %+v to %+v (changed: %v, want %v)",
					c.mode, before, after, changed, c.changes)
			}
		})
	}
}

// inotifyScript opens inotify instances until the kernel refuses one (at
// most LIMIT), prints how many and why it stopped, then READY, and holds
// them until its stdin ends.
const inotifyScript = `
import ctypes, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
n, err = 0, 0
while n < int(sys.argv[1]):
    if libc.inotify_init1(0o2000000) < 0:
        err = ctypes.get_errno()
        break
    n += 1
print("instances=%d stop=%s" % (n, errno.errorcode.get(err, "none")), flush=True)
print("READY", flush=True)
sys.stdin.read()
`

// TestUserNSInotifyNotShared: inotify instances are counted per user. A
// jail that takes all it may (fs.inotify.max_user_instances) charges
// them to its range's owner: host root and a second jail still get theirs
// meanwhile. With --userns host the jail's init makes them as a host uid
// of the jail's own instead: TestHostUsernsInotifyExhaust.
func TestUserNSInotifyNotShared(t *testing.T) {
	inDefaultMode(t)
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_instances")
	if err != nil {
		t.Fatal(err)
	}
	perUser, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("max_user_instances: %q", b)
	}
	limit := strconv.Itoa(perUser + 16)
	// Every instance is a descriptor: the jail may hold more than it may
	// have instances.
	nofile := strconv.Itoa(perUser + 64)
	want := fmt.Sprintf("instances=%d stop=EMFILE", perUser)

	hog := startJail(t, usernsName(t), "--nofile", nofile, "/bin/sh", "-c",
		"echo ready; exec python3 -c '"+inotifyScript+"' "+limit)
	if got := jailLines(t, hog, 2); got[0] != want || got[1] != "READY" {
		t.Fatalf("a jail taking every inotify instance it can: %q, want %q, READY", got, want)
	}
	if fd, err := unix.InotifyInit1(unix.IN_CLOEXEC); err != nil {
		t.Errorf("host root cannot make an inotify instance while a jail holds its share: %v", err)
	} else {
		unix.Close(fd)
	}
	got := jailLine(t, "run", "--name", usernsName(t), "--nofile", nofile, "python3", "-c", inotifyScript, limit)
	if got != want+"\nREADY" {
		t.Errorf("a second jail beside it: %q, want %q, READY", got, want)
	}
}

// mqProbeLimit is an RLIMIT_MSGQUEUE that holds one of jailprobe's
// queues (10 messages of 8 KiB, about 81 KiB with the kernel's overhead)
// but not two: host root, run with it, can make its queue only while it
// is charged for no other.
const mqProbeLimit = 100 << 10

// hostMqueue runs jailprobe's mqueue probe on the host, as host root,
// with RLIMIT_MSGQUEUE at mqProbeLimit.
func hostMqueue(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("prison-test-userns-%d", os.Getpid())
	lim := strconv.Itoa(mqProbeLimit)
	out, err := exec.Command("prlimit", "--msgqueue="+lim+":"+lim, probeBin, "mqueue", name).CombinedOutput()
	if err != nil {
		t.Fatalf("prlimit jailprobe mqueue: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestUserNSMqueueNotShared: POSIX message queue memory is counted per
// user. A jail that makes queues until it may not charges them to its
// range's owner, not to host root: root, with room for one queue, still
// makes it, and a second jail gets queues too. With --userns host the
// same jail's queues are root's, and root then has no room.
func TestUserNSMqueueNotShared(t *testing.T) {
	inDefaultMode(t)
	if got := hostMqueue(t); got != "mq_open=ok" {
		t.Fatalf("before any jail, host root cannot make one queue: %s (does a root process hold queues?)", got)
	}
	root := probeRoot(t)
	hog := startJail(t, usernsName(t), "--root", root, "/bin/sh", "-c", "echo ready; /probe mqueues-hold")
	first := jailLines(t, hog, 1)[0]
	if !strings.HasSuffix(first, " stop=EMFILE") || strings.HasPrefix(first, "mqueues=0 ") {
		t.Fatalf("a jail making every queue it can: %q, want some, then EMFILE", first)
	}
	if got := hostMqueue(t); got != "mq_open=ok" {
		t.Errorf("host root, with room for one queue, while a jail holds its own: %s, want mq_open=ok", got)
	}
	// Its stdin is /dev/null: it reports and lets its queues go. Not
	// "as many as the first": a range just freed may still be charged,
	// for a moment, for the queues of a jail whose IPC namespace the
	// kernel frees asynchronously. With --userns host it gets none.
	got := jailLine(t, "run", "--name", usernsName(t), "--root", root, "/probe", "mqueues-hold")
	if !strings.HasSuffix(got, " stop=EMFILE\ndone") || strings.HasPrefix(got, "mqueues=0 ") {
		t.Errorf("a second jail beside it: %q, want some queues, then EMFILE", got)
	}
	hog.stop()

	t.Run("control: --userns host", func(t *testing.T) {
		hog := startJail(t, usernsName(t), "--userns", "host", "--root", root, "/bin/sh", "-c", "echo ready; /probe mqueues-hold")
		if got := jailLines(t, hog, 1)[0]; !strings.HasSuffix(got, " stop=EMFILE") || strings.HasPrefix(got, "mqueues=0 ") {
			t.Fatalf("a host-mode jail making every queue it can: %q, want some, then EMFILE", got)
		}
		got := hostMqueue(t)
		hog.stop()
		if got != "mq_open=EMFILE" {
			t.Errorf("with --userns host, host root with room for one queue while the jail holds its own: %s, want mq_open=EMFILE", got)
		}
	})
}

// forkBomb starts background sleeps under RLIMIT_NPROC 50 until a fork
// fails (busybox sh then exits 2) or 200 run, printing the count after
// each; the sleeps stay in the jail.
const forkBomb = `ulimit -u 50; i=0; while [ $i -lt 200 ]; do sleep 1000 >/dev/null 2>&1 </dev/null & i=$((i+1)); echo $i; done`

// TestUserNSForkBombNproc: prison has no flag for RLIMIT_NPROC, so the
// jail's root lowers its own (ulimit -u 50) and forks without end, with
// no pids limit. In its user namespace root is bound by the limit: it
// stops at it, and the host forks as before. With --userns host, root
// ignores RLIMIT_NPROC and only the pids controller would stop it (here
// --pids 300, past the 200 the bomb tries).
func TestUserNSForkBombNproc(t *testing.T) {
	inDefaultMode(t)
	root := probeRoot(t)
	bomb := func(t *testing.T, flags ...string) (count int, r result) {
		t.Helper()
		n := usernsName(t)
		create(t, n, append([]string{"--root", root}, flags...)...)
		r = prison(t, nil, "exec", n, "/bin/sh", "-c", forkBomb)
		lines := strings.Fields(r.stdout)
		if len(lines) > 0 {
			count, _ = strconv.Atoi(lines[len(lines)-1])
		}
		j, ok := findListed(t, n)
		if !ok {
			t.Fatalf("prison list does not show %s", n)
		}
		if j.Processes < count {
			t.Errorf("the jail has %d processes, fewer than the %d sleeps started", j.Processes, count)
		}
		if out, err := exec.Command("true").CombinedOutput(); err != nil {
			t.Errorf("the host cannot start a process while the jail's bomb holds its processes: %v %s", err, out)
		}
		return count, r
	}

	count, r := bomb(t, "--pids", "unlimited")
	if count > 50 || r.code == 0 || !strings.Contains(r.stderr, "fork") {
		t.Errorf("a fork bomb under RLIMIT_NPROC 50: %d processes, exit %d, stderr %q; want at most 50, then a failed fork",
			count, r.code, r.stderr)
	}
	if count < 1 {
		t.Errorf("the fork bomb got no process at all: exit %d %s", r.code, r.stderr)
	}

	t.Run("control: --userns host", func(t *testing.T) {
		count, r := bomb(t, "--userns", "host", "--pids", "300")
		if count != 200 || r.code != 0 {
			t.Errorf("with --userns host, root under RLIMIT_NPROC 50: %d processes, exit %d %q; want all 200 (root ignores the limit)",
				count, r.code, r.stderr)
		}
	})
}

// TestUserNSRangesDistinct: 20 jails created at once get 20 ranges, none
// of which meets another, each as its state records it.
func TestUserNSRangesDistinct(t *testing.T) {
	inDefaultMode(t)
	const jails = 20
	names := make([]string, jails)
	for i := range names {
		names[i] = usernsName(t)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, n := range names {
			wg.Add(1)
			go func() { defer wg.Done(); prison(t, nil, "delete", "-t", "0", n) }()
		}
		wg.Wait()
	})
	results := make([]result, jails)
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = prison(t, nil, "create", n) }()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("prison create %s (one of %d at once): exit %d: %s", names[i], jails, r.code, r.stderr)
		}
	}

	type ranges struct{ uid, gid idMap }
	got := make([]ranges, jails)
	for i, n := range names {
		st := usernsStateOf(t, n)
		u, g := procIDMap(t, st.InitPID, "uid_map"), procIDMap(t, st.InitPID, "gid_map")
		if u.inside != 0 || u.count != 65536 || g.inside != 0 || g.count != 65536 {
			t.Errorf("%s: uid_map %s, gid_map %s, want 0 BASE 65536", n, u, g)
		}
		if st.IDs == nil || st.IDs.UID != u.outside || st.IDs.GID != g.outside || st.IDs.Size != u.count {
			t.Errorf("%s: state.json ids %+v, the init's maps %s and %s", n, st.IDs, u, g)
		}
		got[i] = ranges{u, g}
	}
	if t.Failed() {
		t.FailNow() // no ranges to compare
	}
	meets := func(a, b idMap) bool { return a.outside < b.outside+b.count && b.outside < a.outside+a.count }
	for i := range got {
		for j := i + 1; j < len(got); j++ {
			if meets(got[i].uid, got[j].uid) || meets(got[i].gid, got[j].gid) {
				t.Errorf("%s (uids %s, gids %s) and %s (uids %s, gids %s) overlap",
					names[i], got[i].uid, got[i].gid, names[j], got[j].uid, got[j].gid)
			}
		}
	}
}

// suidProbe prints the ids it runs with.
const suidProbe = `package main

import (
	"fmt"
	"os"
)

func main() { fmt.Printf("uid=%d euid=%d\n", os.Getuid(), os.Geteuid()) }
`

// TestUserNSSetuid: setuid programs work in a user namespace: a
// setuid-root program the host's root put on a --root runs with euid 0
// for nobody inside (its owner, host uid 0, is the jail's root through
// the idmapped root), and the host-derived root's su takes root to
// nobody.
func TestUserNSSetuid(t *testing.T) {
	inDefaultMode(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(suidProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	root := probeRoot(t)
	bin := filepath.Join(root, "suidprobe")
	build := exec.Command("go", "build", "-o", bin, "main.go")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build suidprobe: %v\n%s", err, out)
	}
	if err := os.Chown(bin, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	got := jailLine(t, "run", "--name", usernsName(t), "--root", root, "--user", "65534", "/suidprobe")
	if want := "uid=65534 euid=0"; got != want {
		t.Errorf("nobody runs a setuid-root program: %s, want %s", got, want)
	}

	got = jailLine(t, "run", "--name", usernsName(t), "/bin/sh", "-c", "su -s /bin/sh nobody -c 'id -u'")
	if got != "65534" {
		t.Errorf("root inside: su -s /bin/sh nobody -c 'id -u': %q, want 65534", got)
	}
}

// TestUserNSExecJoins: prison exec runs its command in the jail's user
// namespace (the very one of its init), with its map, as root or as
// another user of the jail.
func TestUserNSExecJoins(t *testing.T) {
	inDefaultMode(t)
	n := usernsName(t)
	create(t, n)
	st := usernsStateOf(t, n)
	initMap := procIDMap(t, st.InitPID, "uid_map")
	if got := parseIDMap(t, "uid_map in prison exec", mustExec(t, n, "cat /proc/self/uid_map")); got != initMap {
		t.Errorf("uid_map in prison exec: %s, the jail's init: %s", got, initMap)
	}
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", st.InitPID))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(mustExec(t, n, "readlink /proc/self/ns/user")); got != ns {
		t.Errorf("prison exec is in user namespace %s, the jail's init in %s", got, ns)
	}
	if got := strings.TrimSpace(mustRun(t, "exec", "-u", "nobody", n, "id", "-u")); got != "65534" {
		t.Errorf("prison exec -u nobody id -u: %q, want 65534", got)
	}
}

// TestUserNSHostMode: --userns host, or PRISON_USERNS=host, is the old
// model: no user namespace of the jail's own, root inside is host root
// (its map is the identity over every id).
func TestUserNSHostMode(t *testing.T) {
	want := idMap{0, 0, 4294967295}
	got := jailLine(t, "run", "--name", usernsName(t), "--userns", "host", "cat", "/proc/self/uid_map")
	if m := parseIDMap(t, "uid_map with --userns host", got); m != want {
		t.Errorf("uid_map with --userns host: %s, want %s", m, want)
	}
	// Launched by this prison: a daemon that serves a jail reads its own
	// environment's PRISON_USERNS, not its client's (README).
	r := prisonEnv(t, []string{"PRISON_USERNS=host", "PRISON_SOCKET=none"}, nil, "run", "--name", usernsName(t), "cat", "/proc/self/uid_map")
	if r.code != 0 {
		t.Fatalf("PRISON_USERNS=host prison run: exit %d: %s", r.code, r.stderr)
	}
	if m := parseIDMap(t, "uid_map with PRISON_USERNS=host", r.stdout); m != want {
		t.Errorf("uid_map with PRISON_USERNS=host: %s, want %s", m, want)
	}
}

// TestUserNSBadRange: a range that holds host id 0, or is no range, is
// refused with one line naming --userns and exit 125 (bad input), and
// nothing is left of the jail; a range that meets a running jail's is
// refused naming that jail, which runs on unchanged.
func TestUserNSBadRange(t *testing.T) {
	inDefaultMode(t)
	for _, c := range []struct{ name, value, want string }{
		{"host id 0", "0:65536", `--userns "0:65536"`},
		{"junk", "junk", `--userns "junk"`},
	} {
		for _, verb := range []string{"run", "create"} {
			t.Run(c.name+"/"+verb, func(t *testing.T) {
				n := usernsName(t)
				args := []string{"run", "--name", n, "--userns", c.value, "true"}
				if verb == "create" {
					args = []string{"create", "--userns", c.value, n}
				}
				r := prison(t, nil, args...)
				if r.code != 125 {
					t.Errorf("prison %s: exit %d, want 125", strings.Join(args, " "), r.code)
				}
				assertOneLine(t, r, c.want)
			})
		}
	}

	t.Run("overlaps a running jail", func(t *testing.T) {
		held := usernsName(t)
		create(t, held)
		st := usernsStateOf(t, held)
		if st.IDs == nil {
			t.Fatalf("state.json of %s: no ids", held)
		}
		before := procIDMap(t, st.InitPID, "uid_map")
		for _, r := range []string{
			fmt.Sprintf("%d:65536", st.IDs.UID),
			fmt.Sprintf("%d:1", st.IDs.UID+st.IDs.Size-1), // its last id
		} {
			res := prison(t, nil, "run", "--name", usernsName(t), "--userns", r, "true")
			if res.code != 125 {
				t.Errorf("--userns %s, which meets %s's range: exit %d, want 125", r, held, res.code)
			}
			assertOneLine(t, res, held)
		}
		if j, ok := findListed(t, held); !ok || j.Status != "running" {
			t.Errorf("the jail whose range was asked for: %+v, want it running", j)
		}
		if after := procIDMap(t, st.InitPID, "uid_map"); after != before {
			t.Errorf("the running jail's map went from %s to %s", before, after)
		}
	})
}

// TestUserNSNotIdmappable: a tree on a filesystem that cannot be idmapped
// (ramfs) is refused with one line that names it and the ways out, and
// nothing is left; with noidmap, the user asked for the fallback, and the
// tree is there as it is, its root's files nobody's.
func TestUserNSNotIdmappable(t *testing.T) {
	inDefaultMode(t)
	dir := t.TempDir()
	if err := unix.Mount("ramfs", dir, "ramfs", 0, ""); err != nil {
		t.Fatalf("mount ramfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("umount %s: %v", dir, err)
		}
	})
	for _, opt := range []string{"", ":ro"} {
		r := prison(t, nil, "run", "--name", usernsName(t), "--mount", dir+":/x"+opt, "true")
		want := dir + ": its filesystem cannot be idmapped"
		if r.code != 125 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "noidmap") ||
			strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("--mount %s:/x%s: exit %d, stderr %q; want 125 and one line with %q", dir, opt, r.code, r.stderr, want)
		}
	}
	got := mustRun(t, "run", "--name", usernsName(t), "--mount", dir+":/x:noidmap", "stat", "-c", "%U", "/x")
	if got != "nobody\n" {
		t.Errorf("--mount :noidmap of a ramfs: /x owned by %q, want nobody", got)
	}
}
