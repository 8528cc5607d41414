package prison

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"prison/cgroup"
	"prison/internal/nsinit"
	"prison/netns"
	"prison/seccomp"
)

// Jail is one jail being started or run, shaped like exec.Cmd: set the
// exported fields, then Start and Wait, or Run. A Jail cannot be restarted
// after Wait.
type Jail struct {
	// Name is the jail's name (FreeBSD name); it keys the state store.
	Name string
	// Spec is the jail; Start does not change it.
	Spec *specs.Spec

	// Stdin, Stdout and Stderr are the command's standard files when it has
	// no terminal. An *os.File that is an anonymous pipe is handed to the
	// jail as is; anything else goes through a pipe that the launcher
	// copies (see exec.Cmd), because the jail's root could reopen, chmod or
	// truncate a host file it holds. nil reads as empty and discards.
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	// Files are more descriptors for the command, as 3 on (runc's
	// --preserve-fds): sockets and anonymous pipes only (PassableFiles).
	// Not with Client.
	Files []*os.File

	// Rows and Cols size the jail's terminal when Spec.Process.Terminal.
	Rows, Cols uint16
	// Console is the master side of the jail's terminal, set by Start when
	// Spec.Process.Terminal. The caller copies to and from it.
	Console *os.File

	// Timing, when not nil, records how long each phase took.
	Timing *Timing

	// Client, when set, forks the init for this launcher (prison daemon):
	// the init is the client's child and inherits its stdio, credentials
	// and limits. Stdin, Stdout and Stderr are then unused,
	// and Spec.Process.Terminal must be false.
	Client *Client
	// Pool, when set, supplies the jail's network namespace.
	Pool *Pool
	// Persist gives the jail a life of its own (prison create): Start
	// returns once it runs, and it outlives this process; its command,
	// if any, is not waited for. Do not call Wait.
	Persist bool
	// Created starts the jail up to its command, which waits for
	// StartContainer (OCI create): Start returns once the jail is set up,
	// and its init, this process's child, outlives this process and ends
	// with the command. Stdin, Stdout and Stderr must then be anonymous
	// pipes, which the command gets, or /dev/null or nil, for which it
	// gets the jail's /dev/null: no launcher is left to relay anything
	// else. Do not call Wait.
	Created bool
	// Detach lets a command joining a jail (prison exec) outlive this
	// process: its holder, this process's child, ends with it. Stdio as
	// for Created. Do not call Wait.
	Detach bool

	joined   *Running     // the jail a command joins (prison exec), or nil
	joinNS   uint32       // the namespaces it enters (CLONE_NEW*)
	rootless *rootlessMap // the ids of a jail started without root (rootless_linux.go)
	// clientNet: a daemon's client makes the network namespace in the
	// jail's user namespace, which the init then joins (client.c).
	clientNet bool
	parkFD    int              // where the init keeps the launcher's end (Created)
	program   *seccomp.Program // the compiled filter, once known
	// inotify: the host ids that make the jail's inotify instances
	// (State.Inotify), when its filter notifies the inotify calls.
	inotify  *seccomp.Owner
	recorded chan error // the state's record, written while the command runs
	state    *State
	sigMu    sync.Mutex // guards reaped and the spawner's handle against Signal
	reaped   bool       // the init has been waited for
	spawner  spawner    // how the init was started, and the handle on it
	copies   sync.WaitGroup
	closers  []*os.File   // the init's ends of stdio pipes and /dev/null
	sock     *os.File     // launcher's end of the sync socket
	initPlan *nsinit.Plan // what the init was sent
	initPID  int
	layer    *layerHold // the kept layer, while Start prepares it (layer_linux.go)
	net      *netns.Attachment
	cgroup   *cgroup.Group // the jail's, once made or found
	// cgroupMade reports the making of cgroup, which runs beside the
	// init's start (awaitCgroup).
	cgroupMade  chan madeCgroup
	cgroupErr   error
	cgroupFiles []*os.File // for the init to join the cgroup by (cgroup.TaskFiles)
	cgroupDir   *os.File   // the cgroup v2 group the init is cloned into (cgroup.Group.Dir)
	stopHost    func()
	once        sync.Once // teardownNet
	stateOnce   sync.Once // removeState
}

// Timing holds the duration of each phase of a jail's life, in order.
type Timing struct {
	Phases []Phase
	last   time.Time
}

// Phase is one named step of the start path.
type Phase struct {
	Name string
	D    time.Duration
}

// mark ends the phase that began at the previous mark.
func (t *Timing) mark(name string) {
	if t == nil {
		return
	}
	now := time.Now()
	if !t.last.IsZero() {
		t.Phases = append(t.Phases, Phase{Name: name, D: now.Sub(t.last)})
	}
	t.last = now
}

// Begin sets the time the first phase counts from.
func (t *Timing) Begin(at time.Time) { t.last = at }

// String renders the phases as JSON object members in microseconds.
func (t *Timing) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range t.Phases {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%d", p.Name, p.D.Microseconds())
	}
	b.WriteByte('}')
	return b.String()
}

// ExitStatus is how the jail's command ended.
type ExitStatus struct {
	Code   int            // exit code when it exited
	Signal syscall.Signal // the signal that killed it, or 0
}

// ExitCode is the status a shell would report: the code, or 128+N for
// death by signal N.
func (s ExitStatus) ExitCode() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

// ExecError reports that the jail's command could not be executed.
type ExecError struct {
	Name string
	Err  error
}

func (e *ExecError) Error() string {
	if errors.Is(e.Err, syscall.ENOENT) {
		return fmt.Sprintf("%s: command not found in the jail", e.Name)
	}
	return fmt.Sprintf("%s: cannot execute: %v", e.Name, e.Err)
}

func (e *ExecError) Unwrap() error { return e.Err }

// ExitCode is 127 for a command not found and 126 for one found but not
// executable, as in sh(1).
func (e *ExecError) ExitCode() int {
	if errors.Is(e.Err, syscall.ENOENT) {
		return 127
	}
	return 126
}

// Run starts the jail and waits for its command.
func (j *Jail) Run() (ExitStatus, error) {
	if err := j.Start(); err != nil {
		return ExitStatus{}, err
	}
	return j.Wait()
}
