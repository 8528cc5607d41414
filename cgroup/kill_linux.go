package cgroup

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Kill kills every process in the group at w. A jail whose PID namespace
// is not its own (an OCI container in its pod's) leaves its processes
// behind when its init dies; the kernel kills them only with a namespace
// that ends. cgroup v2's cgroup.kill takes the whole group at once, forks
// included; on v1 the group is killed round by round, since a process may
// fork between the read and the kill, until it is empty or a second has
// passed (Remove then says which hierarchy still holds processes).
func (w Where) Kill() {
	for _, d := range w.dirs() {
		if err := os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0); err == nil {
			return
		}
	}
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		pids := w.Procs()
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Procs are the processes in the group at w, in any of its hierarchies.
func (w Where) Procs() []int {
	seen := map[int]bool{}
	var out []int
	for _, d := range w.dirs() {
		f, err := os.Open(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue // a hierarchy the group does not use
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if pid, err := strconv.Atoi(sc.Text()); err == nil && pid > 0 && !seen[pid] {
				seen[pid] = true
				out = append(out, pid)
			}
		}
		f.Close()
	}
	return out
}
