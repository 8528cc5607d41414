package prison

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// StateDir holds one directory per jail: its state.json and, for a
// host-derived root, the empty directory the jail mounts its root on.
// Nothing in it outlives its jail; what a killed launcher left is removed by
// the next prison call (Sweep).
var StateDir = "/run/prison"

// State is what prison knows of a running jail. It is written with a
// temporary file and a rename, under the store's lock.
type State struct {
	Name     string    `json:"name"`
	Hostname string    `json:"hostname"`
	Root     string    `json:"root"`
	Addrs    []string  `json:"addrs,omitempty"`
	HostLink string    `json:"hostLink,omitempty"`
	Launcher int       `json:"launcherPid"`
	Started  uint64    `json:"launcherStart"` // /proc/PID/stat start time, to tell a reused pid
	InitPID  int       `json:"initPid,omitempty"`
	Created  time.Time `json:"created"`
}

// Dir is the jail's state directory.
func (s *State) Dir() string { return filepath.Join(StateDir, s.Name) }

// alive tells whether the launcher that owns s still runs.
func (s *State) alive() bool {
	st, err := procStart(s.Launcher)
	return err == nil && st == s.Started
}

// procStart reads a process's start time in clock ticks since boot
// (proc(5), field 22), which with the pid names one process for good.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields count from
	// the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("state: /proc/%d/stat: malformed", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("state: /proc/%d/stat: malformed", pid)
	}
	return strconv.ParseUint(string(f[19]), 10, 64)
}

// store serialises claims: names and addresses are checked and taken under
// one exclusive flock, so two jails started at once cannot both win.
type store struct{ lock *os.File }

func openStore() (*store, error) {
	if err := os.MkdirAll(StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	// The lock is the directory itself: the store holds nothing but jails.
	f, err := os.Open(StateDir)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("state: lock %s: %w", f.Name(), err)
	}
	return &store{lock: f}, nil
}

// Close releases the lock.
func (st *store) Close() error { return st.lock.Close() }

// List returns the states of the jails in the store, live or not.
func (st *store) list() ([]*State, error) {
	ents, err := os.ReadDir(StateDir)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var out []*State
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		s, err := readState(e.Name())
		if err != nil {
			// A directory without a readable state is a claim that died
			// half-way: remember it by name so Sweep removes it.
			s = &State{Name: e.Name()}
		}
		out = append(out, s)
	}
	return out, nil
}

func readState(name string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(StateDir, name, "state.json"))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state: %s: %w", name, err)
	}
	return &s, nil
}

// write replaces the jail's state.json atomically.
func (s *State) write() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir(), ".state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.Dir(), "state.json")); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// remove deletes the jail's state directory.
func (s *State) remove() error {
	if err := os.RemoveAll(s.Dir()); err != nil {
		return fmt.Errorf("state: remove %s: %w", s.Dir(), err)
	}
	return nil
}

// sweep removes the state of jails whose launcher is gone and returns the
// live ones. Preconditions: the store is locked.
func (st *store) sweep(cleanup func(dead []*State) error) ([]*State, error) {
	all, err := st.list()
	if err != nil {
		return nil, err
	}
	var live, dead []*State
	for _, s := range all {
		switch {
		case s.Launcher != 0 && s.alive():
			live = append(live, s)
		case s.HostLink != "" && linkExists(s.HostLink):
			// The jail's network namespace is still dying, and with it
			// its host link: the rules that name the link can only be
			// swept once it is gone, so the state stays until then.
		default:
			dead = append(dead, s)
		}
	}
	return live, st.removeDead(dead, cleanup)
}

// removeDead removes the states of jails that are gone, after cleanup has
// removed their network entries. Preconditions: the store is locked.
func (st *store) removeDead(dead []*State, cleanup func(dead []*State) error) error {
	if len(dead) == 0 {
		return nil
	}
	var errs []error
	if cleanup != nil {
		errs = append(errs, cleanup(dead))
	}
	for _, s := range dead {
		if s.InitPID != 0 {
			// A launcher killed before its jail's init took its
			// parent-death signal could leave the init behind.
			if st, err := procStart(s.InitPID); err == nil && st >= s.Started {
				_ = unix.Kill(s.InitPID, unix.SIGKILL)
			}
		}
		errs = append(errs, s.remove())
	}
	return errors.Join(errs...)
}

// Sweep removes what jails whose launcher was killed left behind: state
// directories and, through cleanup, host network entries.
func Sweep() error {
	// A first look without the lock: most calls find nothing dead, and
	// must not hold up the claims of the jails starting meanwhile. What
	// looks dead is checked again under the lock.
	if !anyDead() {
		return nil
	}
	st, err := openStore()
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.sweep(sweepNetwork)
	return err
}

// anyDead tells whether a jail in the store seems to have lost its
// launcher.
func anyDead() bool {
	ents, err := os.ReadDir(StateDir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		s, err := readState(e.Name())
		if err != nil || s.Launcher == 0 || !s.alive() {
			return true
		}
	}
	return false
}

// claim takes the jail's name and, when conflict is not nil, checks its
// addresses against the live jails'. Stale states are not swept here but
// while the jail runs (see Jail.Wait), off the start path; only one in this
// jail's way is removed on the spot. Preconditions: the store is locked.
func (st *store) claim(s *State, conflict func(live []*State) error) error {
	if _, err := os.Lstat(s.Dir()); err == nil {
		prev, err := readState(s.Name)
		if err != nil {
			prev = &State{Name: s.Name} // a claim that died half-way
		}
		if prev.Launcher != 0 && prev.alive() {
			return &ParamError{Err: fmt.Errorf("--name %q: a jail of that name is running (launcher pid %d)", s.Name, prev.Launcher)}
		}
		if prev.HostLink != "" {
			// Killed, and its network is still going away: wait for
			// it, briefly, rather than fail.
			waitLinkGone(prev.HostLink, 3*time.Second)
		}
		if err := st.removeDead([]*State{prev}, sweepNetwork); err != nil {
			return err
		}
	}
	if conflict != nil {
		all, err := st.list()
		if err != nil {
			return err
		}
		var live []*State
		for _, o := range all {
			if o.Launcher != 0 && o.alive() {
				live = append(live, o)
			}
		}
		if err := conflict(live); err != nil {
			return err
		}
	}
	if err := os.Mkdir(s.Dir(), 0o700); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if s.Root == filepath.Join(s.Dir(), "root") {
		// The mount point of a host-derived root.
		if err := os.Mkdir(s.Root, 0o755); err != nil {
			os.RemoveAll(s.Dir())
			return fmt.Errorf("state: %w", err)
		}
	}
	if err := s.write(); err != nil {
		os.RemoveAll(s.Dir())
		return err
	}
	return nil
}

// flock takes an exclusive lock on f, released when f is closed.
func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func linkExists(name string) bool {
	_, err := os.Lstat("/sys/class/net/" + name)
	return err == nil
}

// waitLinkGone waits, at most d, for a dying namespace's link to vanish.
func waitLinkGone(name string, d time.Duration) {
	deadline := time.Now().Add(d)
	for linkExists(name) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}
