package prison

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/cgroup"
)

// StateDir holds one directory per jail: its state.json and, for a
// host-derived root, the empty directory the jail mounts its root on.
// Nothing in it outlives its jail; what a killed launcher left is removed by
// the next prison call (Sweep).
var StateDir = "/run/prison"

// State is what prison knows of a running jail.
//
// A jail is alive exactly as long as a shared flock on the jail's state
// directory is held: by its launcher (or a daemon's client) and by the
// jail's PID 1, which inherits it. The kernel drops the lock when the last
// of them dies, however it dies, so liveness needs no pid (which could be
// reused) and costs one non-blocking flock to check; and a launcher killed
// a moment before its jail's init does not free the name and addresses
// while the init still runs (the parent-death signal comes after the
// dying launcher's files are closed).
type State struct {
	Name     string    `json:"name"`
	Hostname string    `json:"hostname"`
	Root     string    `json:"root"`
	Addrs    []string  `json:"addrs,omitempty"`
	HostLink string    `json:"hostLink,omitempty"`
	Launcher int       `json:"launcherPid"`
	Created  time.Time `json:"created"`
	// JID is the jail's number, as jls(8) shows it: the lowest free one.
	JID int `json:"jid"`
	// InitPID and InitStart (clock ticks after boot, /proc/PID/stat) name
	// the jail's PID 1 on the host: together they cannot be reused. Zero
	// while the jail starts.
	InitPID   int    `json:"initPid,omitempty"`
	InitStart uint64 `json:"initStart,omitempty"`
	// Persist: the jail has a life of its own (prison create).
	Persist bool `json:"persist,omitempty"`
	// Waiting: the jail's command waits for prison start (OCI create),
	// which takes the launcher's end of the sync socket from the init's
	// descriptor ParkFD.
	Waiting bool `json:"waiting,omitempty"`
	ParkFD  int  `json:"parkFd,omitempty"`
	// Cgroup is where the jail's cgroup is: known from the claim on, so
	// that whoever removes the state removes the cgroup too.
	Cgroup *cgroup.Where `json:"cgroup,omitempty"`
	// SharedPID: the jail's PID namespace is not its own (an OCI spec
	// joins a pod's, or makes none). Its processes are then its cgroup's,
	// and its init's death does not end them: the removal kills them.
	SharedPID bool `json:"sharedPid,omitempty"`
	// IDs is the host ids the jail's user namespace maps; nil when the
	// jail shares the host's ids. A map with no extent asks claim to
	// choose them.
	IDs *IDMap `json:"ids,omitempty"`
	// Inotify is, for a jail without a user namespace whose filter
	// notifies the inotify calls (--userns host), the host uid and gid
	// (a range of 1) that the jail's inotify instances are made as and
	// counted against: from the pool, so no host user and no other jail
	// has it. A Size of 0 asks claim to choose it.
	Inotify *IDRange `json:"inotify,omitempty"`

	// Claim tells this jail's state from that of a jail claimed under the
	// same name after it: random, where Dir's inode number is not (tmpfs
	// hands a freed one out again at once).
	Claim string `json:"claim,omitempty"`

	lock *os.File // the launcher's hold on Dir, for the jail's life
}

// Dir is the jail's state directory.
func (s *State) Dir() string { return filepath.Join(StateDir, s.Name) }

// alive tells whether the launcher of the jail named name still runs.
func alive(name string) bool {
	return held(filepath.Join(StateDir, name))
}

// held tells whether a launcher holds dir: an exclusive try-lock fails.
func held(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB), unix.EWOULDBLOCK)
}

// store serialises claims: names and addresses are checked and taken under
// one exclusive flock, so two jails started at once cannot both win.
type store struct{ lock *os.File }

func openStore() (*store, error) {
	// Raw calls on the start path: os.MkdirAll and os.Open cost several
	// system calls each (stat, poller registration, fcntl).
	if err := unix.Mkdir(StateDir, 0o700); err != nil && err != unix.EEXIST {
		if err := os.MkdirAll(StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
	}
	// The lock is the directory itself: the store holds nothing but jails.
	fd, err := unix.Open(StateDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("state: %w", &os.PathError{Op: "open", Path: StateDir, Err: err})
	}
	f := os.NewFile(uintptr(fd), StateDir)
	if err := flock(f, unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("state: lock %s: %w", f.Name(), err)
	}
	return &store{lock: f}, nil
}

// Close releases the lock.
func (st *store) Close() error { return st.lock.Close() }

// claimPrefix starts the names of claims being built (see claim).
const claimPrefix = ".claim-"

// list returns the jails in the store, live or not, and claims that a
// killed launcher left half-built.
func list() ([]*State, error) {
	ents, err := os.ReadDir(StateDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("state: %w", err)
	}
	var out []*State
	for _, e := range ents {
		if !e.IsDir() || e.Name() == ociDir {
			continue
		}
		s, err := readState(e.Name())
		if err != nil {
			// A directory without a readable state: remembered by name,
			// so that Sweep removes it once nobody holds it.
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

// remove deletes the jail's state directory and its addresses' and ids'
// links, then lets go of the directory.
func (s *State) remove() error {
	s.releaseAddrs()
	s.releaseIDs()
	var cerr error
	if s.Cgroup != nil {
		if s.SharedPID {
			s.Cgroup.Kill()
		}
		cerr = cgroup.Remove(*s.Cgroup, cgroupGrace)
	}
	err := removeStateDir(s.Dir())
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
	if err != nil {
		return fmt.Errorf("state: remove %s: %w", s.Dir(), err)
	}
	return cerr
}

// handOver lets go of the launcher's hold once the daemon's client holds
// it: the jail is then alive exactly as long as the client, as it is as
// long as the launcher without a daemon.
func (s *State) handOver() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// owned tells whether Dir is still this jail's. Once a client that holds
// its jail has died, another jail may claim the name and the addresses;
// the daemon's teardown then leaves them alone. Preconditions: the store
// is locked.
func (s *State) owned() bool {
	cur, err := readState(s.Name)
	return err == nil && s.Claim != "" && cur.Claim == s.Claim
}

// removeStateDir removes a jail's directory: what claim puts there takes
// three unlinks; anything else, os.RemoveAll.
func removeStateDir(dir string) error {
	_ = unix.Unlink(dir + "/state.json")
	_ = unix.Unlink(dir + "/" + specFile)
	_ = unix.Unlink(dir + "/" + execFile)
	_ = unix.Rmdir(dir + "/root")
	err := unix.Rmdir(dir)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	return os.RemoveAll(dir)
}

// sweep removes the state of jails whose launcher is gone. Preconditions:
// the store is locked.
func (st *store) sweep(cleanup func(dead []*State) error) error {
	all, err := list()
	if err != nil {
		return err
	}
	var dead []*State
	for _, s := range all {
		switch {
		case held(s.Dir()):
		case s.HostLink != "" && linkExists(s.HostLink):
			// The jail's network namespace is still dying, and with it
			// its host link: the rules that name the link can only be
			// swept once it is gone, so the state stays until then.
		default:
			dead = append(dead, s)
		}
	}
	return st.removeDead(dead, cleanup)
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
	return st.sweep(sweepNetwork)
}

// anyDead tells whether a directory in the store has no launcher.
func anyDead() bool {
	ents, err := os.ReadDir(StateDir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name() != ociDir && !held(filepath.Join(StateDir, e.Name())) {
			return true
		}
	}
	return false
}

// claim takes the jail's name, addresses and ids, and holds them for the
// launcher's life. The state is written into a hidden directory that the
// launcher already holds, which is then renamed to the jail's name: no
// other prison call ever sees a jail without its state or its holder.
// Stale states are not swept here but while the jail runs (see Jail.Wait),
// off the start path; only what stands in this jail's way is removed on the
// spot. Preconditions: the store is locked, so that of two jails started at
// once with one address exactly one wins.
func (st *store) claim(s *State) error {
	if _, err := os.Lstat(s.Dir()); err == nil {
		if alive(s.Name) {
			return &ParamError{Err: fmt.Errorf("--name %q: a jail of that name is running", s.Name)}
		}
		prev, err := readState(s.Name)
		if err != nil {
			prev = &State{Name: s.Name}
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
	// The ids are chosen before the state is written, since it records
	// them (an automatic range is only known once chosen), and linked in
	// the index after, as the addresses are.
	if err := s.pickIDs(); err != nil {
		return err
	}
	s.JID = nextJID()
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	s.Claim = hex.EncodeToString(nonce[:])
	tmp := filepath.Join(StateDir, claimPrefix+s.Name)
	if err := removeStateDir(tmp); err != nil { // a claim of this name whose launcher was killed
		return fmt.Errorf("state: %w", err)
	}
	if err := unix.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("state: %w", &os.PathError{Op: "mkdir", Path: tmp, Err: err})
	}
	lock, err := hold(tmp)
	if err == nil && s.Root == filepath.Join(s.Dir(), "root") {
		// The mount point of a host-derived root.
		err = unix.Mkdirat(int(lock.Fd()), "root", 0o755)
	}
	if err == nil {
		var b []byte
		if b, err = json.Marshal(s); err == nil {
			err = writeFileAt(int(lock.Fd()), "state.json", b)
		}
	}
	if err == nil {
		err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, s.Dir(), unix.RENAME_NOREPLACE)
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(tmp)
		return fmt.Errorf("state: claim %s: %w", s.Name, err)
	}
	s.lock = lock
	if err := s.linkIDs(); err != nil {
		s.remove()
		return err
	}
	if err := s.claimAddrs(); err != nil {
		s.remove()
		return err
	}
	return nil
}

// hold opens dir and takes the shared lock that says its jail is alive.
func hold(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), dir)
	if err := flock(f, unix.LOCK_SH); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// writeFileAt creates name in the directory dirfd with data.
func writeFileAt(dirfd int, name string, data []byte) error {
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: name, Err: err}
	}
	_, err = unix.Write(fd, data)
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}

// addrDir indexes the addresses of running jails: one symlink per address,
// naming the jail that holds it. symlink(2) fails atomically when the
// address is taken, so a claim costs a call per address rather than a read
// of every jail's state, which 50 jails starting at once paid 50 times
// over under the lock.
func addrDir() string { return StateDir + "-addrs" }

// claimAddrs takes the jail's addresses in the index. A link left by a jail
// that is gone, or that no longer holds the address, is replaced.
// Preconditions: the store is locked.
func (s *State) claimAddrs() error {
	if len(s.Addrs) == 0 {
		return nil
	}
	if err := unix.Mkdir(addrDir(), 0o700); err != nil && err != unix.EEXIST {
		return fmt.Errorf("state: %w", &os.PathError{Op: "mkdir", Path: addrDir(), Err: err})
	}
	for _, a := range s.Addrs {
		p := filepath.Join(addrDir(), a)
		for {
			err := unix.Symlink(s.Name, p)
			if err == nil {
				break
			}
			if err != unix.EEXIST {
				return fmt.Errorf("state: %w", &os.PathError{Op: "symlink", Path: p, Err: err})
			}
			holder, _ := os.Readlink(p)
			if h, err := readState(holder); err == nil && alive(holder) && slices.Contains(h.Addrs, a) {
				return &ParamError{Err: fmt.Errorf("--ip %s: already held by jail %q", a, holder)}
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("state: %w", err)
			}
		}
	}
	return nil
}

// releaseAddrs removes the jail's links from the address index.
func (s *State) releaseAddrs() {
	for _, a := range s.Addrs {
		p := filepath.Join(addrDir(), a)
		if holder, err := os.Readlink(p); err == nil && holder == s.Name {
			os.Remove(p)
		}
	}
}

// flock takes a lock on f, released when f is closed.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
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

// nextJID numbers jails in the order they are made, as FreeBSD does: a
// counter beside the store, so that the claim reads no other jail.
// Preconditions: the store is locked.
func nextJID() int {
	p := StateDir + "-jid"
	n := 0
	if b, err := os.ReadFile(p); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	n++
	if n <= 0 || n > 1<<30 {
		n = 1
	}
	_ = os.WriteFile(p, []byte(strconv.Itoa(n)), 0o600)
	return n
}

// specFile is the jail's spec, beside its state: what prison exec and
// prison restart start from.
const specFile = "config.json"

// execFile is the jail's execProfile.
const execFile = "exec.json"

// execProfile is what a command joining the jail needs of it. It is the
// spec's process and the compiled filter, small: prison exec decodes it in
// microseconds, where the whole spec takes a third of a millisecond.
type execProfile struct {
	Process *specs.Process `json:"process"`
	Join    uint32         `json:"join"`             // CLONE_NEW* flags of the namespaces to enter
	Filter  []byte         `json:"filter,omitempty"` // encodeProgram's
}

// record writes the state (with the init's pid, once known) and, when
// given, the spec and the exec profile, each replacing its file whole, so
// that a reader never sees half of one. The state goes last: once it
// names the init, the others are there.
func (s *State) record(spec *specs.Spec, prof *execProfile) error {
	if spec != nil {
		if err := s.writeJSON(specFile, spec); err != nil {
			return err
		}
	}
	if prof != nil {
		if err := s.writeJSON(execFile, prof); err != nil {
			return err
		}
	}
	return s.writeJSON("state.json", s)
}

func (s *State) writeJSON(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := replaceFile(filepath.Join(s.Dir(), name), b); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// readExecProfile reads what prison exec needs of the jail.
func readExecProfile(name string) (*execProfile, error) {
	b, err := os.ReadFile(filepath.Join(StateDir, name, execFile))
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var p execProfile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("state: %s: %s: %w", name, execFile, err)
	}
	if p.Process == nil {
		return nil, fmt.Errorf("state: %s: %s: no process", name, execFile)
	}
	return &p, nil
}

// replaceFile writes data to path through a temporary file and rename(2).
func replaceFile(path string, data []byte) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readSpec reads the spec a jail was started with.
func readSpec(name string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(StateDir, name, specFile))
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state: %s: %w", name, err)
	}
	return &s, nil
}
