package prison

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func minimalSpec() *specs.Spec {
	return &specs.Spec{Process: &specs.Process{Args: []string{"true"}}, Linux: &specs.Linux{}}
}

// TestRecordOfAnInitGone: a daemon's client may reap a quick jail's init
// before the daemon records it, and its pid may be another process's by
// then. The record must not fail the jail, nor name that other process.
func TestRecordOfAnInitGone(t *testing.T) {
	old := StateDir
	StateDir = t.TempDir()
	t.Cleanup(func() { StateDir = old })
	st := &State{Name: "gone"}
	if err := os.Mkdir(st.Dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	// A process that has come and gone, as the reaped init.
	c := exec.Command("/bin/true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	j := &Jail{Name: "gone", state: st, initPID: c.Process.Pid, spawner: &forkExec{pidfd: -1}, Spec: minimalSpec()}
	if err := j.record(); err != nil {
		t.Fatalf("record of a jail whose init is gone: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(st.Dir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got State
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.InitStart != 0 {
		t.Errorf("the record names a start time (%d) of a process that is not the init", got.InitStart)
	}

	// A live init, our own process here, is named exactly.
	pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	j = &Jail{Name: "gone", state: st, initPID: os.Getpid(), spawner: &forkExec{pidfd: pidfd}, Spec: minimalSpec()}
	if err := j.record(); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(st.Dir(), "state.json"))
	_ = json.Unmarshal(b, &got)
	if want, _ := procStartTime(os.Getpid()); got.InitStart != want || want == 0 {
		t.Errorf("record of a live init: start %d, want %d", got.InitStart, want)
	}
}
