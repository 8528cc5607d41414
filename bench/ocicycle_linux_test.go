package bench

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fakeRuntime is an OCI runtime in sh with runc's command line, enough of
// it for RunCycle: create starts the container's process in the
// background (an orphan once create exits) and writes its pid; the
// process waits for start, then exits with the code in ROOT/code (0 by
// default); delete removes the state, --force kills the process first.
// ROOT/mode makes it misbehave: "failcreate" fails create, "stray"
// leaves a process of its own behind (its pid in ROOT/stray). Every verb
// is logged to ROOT/log.
const fakeRuntime = `#!/bin/sh
root=$2 verb=$3
shift 3
case $verb in
create)
	pidfile=$4 id=$5
	echo "create $id" >>"$root/log"
	if [ "$(cat "$root/mode" 2>/dev/null)" = failcreate ]; then
		echo "fake: cannot create $id" >&2
		exit 1
	fi
	mkdir "$root/$id"
	(
		while [ ! -e "$root/$id/go" ]; do sleep 0.01; done
		exit "$(cat "$root/code" 2>/dev/null || echo 0)"
	) </dev/null >/dev/null 2>&1 &
	echo $! >"$root/$id/pid"
	echo $! >"$pidfile"
	if [ "$(cat "$root/mode" 2>/dev/null)" = stray ]; then
		sleep 60 </dev/null >/dev/null 2>&1 &
		echo $! >"$root/stray"
	fi
	;;
start)
	echo "start $1" >>"$root/log"
	touch "$root/$1/go"
	;;
delete)
	if [ "$1" = --force ]; then
		echo "delete --force $2" >>"$root/log"
		[ -e "$root/$2/pid" ] && kill -9 "$(cat "$root/$2/pid")" 2>/dev/null
		rm -rf "${root:?}/$2"
	else
		echo "delete $1" >>"$root/log"
		rm -rf "${root:?}/$1"
	fi
	;;
*)
	echo "fake: unknown verb $verb" >&2
	exit 2
	;;
esac
`

// runFakeCycle runs one cycle of the fake runtime through the test
// binary as ocicycle, with mode and code in its state root, and returns
// its stdout, its stderr, whether it succeeded, and the runtime's log.
func runFakeCycle(t *testing.T, mode, code string) (stdout, stderr string, ok bool, log string) {
	t.Helper()
	dir := t.TempDir()
	rt, root, pidFile := filepath.Join(dir, "runc"), filepath.Join(dir, "state"), filepath.Join(dir, "c1.pid")
	if err := os.WriteFile(rt, []byte(fakeRuntime), 0o755); err != nil { //nolint:gosec // G306: a script to execute
		t.Fatal(err)
	}
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"mode": mode, "code": code} {
		if v == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(root, "stray")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	cmd := exec.Command(os.Args[0], CycleSpec{Runtime: rt, Root: root, Bundle: dir, ID: "c1", PIDFile: pidFile}.Args("-")[1:]...)
	cmd.Env = append(os.Environ(), cycleEnv+"=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, serr := os.Stat(pidFile); serr == nil {
		t.Errorf("the pid file is left")
	}
	if _, serr := os.Stat(filepath.Join(root, "c1")); serr == nil {
		t.Errorf("the container's state is left")
	}
	b, _ := os.ReadFile(filepath.Join(root, "log"))
	return out.String(), errb.String(), err == nil, strings.TrimSpace(string(b))
}

// TestRunCycle runs the cycle of a fake runtime: the container's process,
// an orphan once create exits, is waited for; every step is timed; and
// whatever fails, the container is deleted with --force.
func TestRunCycle(t *testing.T) {
	stdout, stderr, ok, log := runFakeCycle(t, "", "")
	if !ok {
		t.Fatalf("cycle failed: %s", stderr)
	}
	smp, err := ParseCycle(stdout)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, m := range smp[1:] {
		sum += m.Value
	}
	if math.Abs(smp[0].Value-sum) > 0.002 { // each printed to the µs
		t.Errorf("total %v, want the steps' sum %v", smp[0].Value, sum)
	}
	if want := "create c1\nstart c1\ndelete c1"; log != want {
		t.Errorf("runtime ran:\n%s\nwant\n%s", log, want)
	}
}

func TestRunCycleFails(t *testing.T) {
	tests := []struct {
		name, mode, code string
		wantErr, wantLog string
	}{
		{"the container's process exits 3", "", "3", "the container's process exited 3", "create c1\nstart c1\ndelete --force c1"},
		{"create fails", "failcreate", "", "runc create: exit status 1: fake: cannot create c1", "create c1\ndelete --force c1"},
		{"a process is left behind", "stray", "", "processes left behind: ", "create c1\nstart c1\ndelete c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, ok, log := runFakeCycle(t, tt.mode, tt.code)
			if ok || stdout != "" {
				t.Fatalf("cycle succeeded: %s", stdout)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr %q, want %q", stderr, tt.wantErr)
			}
			if log != tt.wantLog {
				t.Errorf("runtime ran:\n%s\nwant\n%s", log, tt.wantLog)
			}
		})
	}
}

func TestCycleMainArgs(t *testing.T) {
	for _, args := range [][]string{
		{"-runtime", "/bin/runc", "-root", "/s", "-bundle", "/b", "-pid-file", "/p"},
		{"-runtime", "runc", "-root", "/s", "-bundle", "/b", "-pid-file", "/p", "c1"},
		{"-runtime", "/bin/runc", "-root", "/s", "-bundle", "/b", "-pid-file", "/p", "c1", "c2"},
		{"-nosuchflag", "c1"},
	} {
		if err := CycleMain(t.Context(), args, nil); err == nil {
			t.Errorf("CycleMain(%q) succeeded", args)
		}
	}
}
