package prison

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"prison/internal/nsinit"
)

// openStdio returns the init's fds 0, 1 and 2. The jail gets byte streams
// and never a host object: root inside holds CAP_FOWNER and
// CAP_DAC_OVERRIDE, so a host file (a `> log` redirection, systemd's
// StandardOutput=append:, even /dev/null) could be reopened read-write
// through /proc/self/fd/N, truncated, chmodded 4755 or chowned, a named
// FIFO likewise, and a socket could carry forged credentials to its host
// peer. Only an anonymous pipe goes in as it is: reopening it gives the
// same pipe, and its inode belongs to no filesystem of the host. Anything
// else is relayed through a pipe the launcher copies, which reads and
// writes the same bytes. A jail with a terminal gets empty pipes: its
// command's stdio is the pty.
func (j *Jail) openStdio() ([]uintptr, error) {
	in, out, errw := j.Stdin, j.Stdout, j.Stderr
	if j.Spec.Process.Terminal {
		in, out, errw = nil, nil, nil
	}
	fds := make([]uintptr, 3)
	for i := range fds {
		var f *os.File
		var err error
		if j.Created || j.Detach {
			f, err = j.createdStdio(i, []any{in, out, errw}[i])
			if err != nil {
				j.closeAfterStart()
				return nil, err
			}
			fds[i] = f.Fd()
			continue
		}
		switch i {
		case 0:
			f, err = j.reader(in)
		case 1:
			f, err = j.writer(out)
		case 2:
			f, err = j.writer(errw)
		}
		if err != nil {
			j.closeAfterStart()
			return nil, fmt.Errorf("stdio: %w", err)
		}
		fds[i] = f.Fd()
	}
	if ids := j.jailIDs(); ids != nil {
		uid, gid := ids.Root()
		// A pipe's inode belongs to whoever made it: to the jail's root,
		// another user than the host's, /dev/stdout and
		// /proc/self/fd/1 would not open. Given to the jail's root, a
		// pipe is still only a pipe (runc does the same).
		for _, fd := range fds {
			if err := unix.Fchown(int(fd), int(uid), int(gid)); err != nil {
				j.closeAfterStart()
				return nil, fmt.Errorf("stdio: give the pipes to the jail's root: %w", err)
			}
		}
	}
	return fds, nil
}

// createdStdio is fd i of a jail whose launcher does not stay (a created
// container, a detached command), from s: an anonymous pipe goes to the
// command as it is; for /dev/null and nil, the command gets the jail's
// own /dev/null, and the init an empty pipe; any other file (a log file,
// a terminal: runtime-tools' suite gives files) is relayed through a pipe
// by a process of the host's own (relayFile), which outlives this one.
func (j *Jail) createdStdio(i int, s any) (*os.File, error) {
	f, _ := s.(*os.File)
	switch {
	case f != nil && passPipe(f):
		return f, nil
	case f != nil && !isDevNull(f):
		return j.relayFile(i, f)
	case s != nil && f == nil:
		return nil, &ParamError{Err: fmt.Errorf("%s: a %T; a detached jail takes files", []string{"stdin", "stdout", "stderr"}[i], s)}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdio: %w", err)
	}
	j.closers = append(j.closers, pr, pw)
	if i == 0 {
		return pr, nil
	}
	return pw, nil
}

// nullStdio is the plan's NullStdio: which of a detached command's fds
// are the jail's /dev/null (createdStdio).
func (j *Jail) nullStdio() uint8 {
	if !j.Created && !j.Detach {
		return 0
	}
	var m uint8
	for i, s := range []any{j.Stdin, j.Stdout, j.Stderr} {
		f, _ := s.(*os.File)
		if s == nil || f != nil && isDevNull(f) || j.Spec.Process.Terminal {
			m |= 1 << i
		}
	}
	return m
}

// relayFile gives fd i of a detached jail a pipe, whose other end a relay
// process (nsinit.Relay: the prison binary, on the host, in no namespace
// of the jail's) copies from or to f until either ends.
func (j *Jail) relayFile(i int, f *os.File) (*os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdio: %w", err)
	}
	in, out, mine, theirs := pr, f, pw, pr // fd 1, 2: the jail writes the pipe
	if i == 0 {
		in, out, mine, theirs = f, pw, pr, pw
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	p, err := os.StartProcess(exe, []string{"prison", nsinit.Relay}, &os.ProcAttr{
		Files: []*os.File{in, out, nil},
		// Its own session: the caller's terminal's signals are not
		// the jail's end.
		Sys: &syscall.SysProcAttr{Setsid: true},
	})
	theirs.Close()
	if err != nil {
		mine.Close()
		return nil, fmt.Errorf("stdio: relay %s: %w", []string{"stdin", "stdout", "stderr"}[i], err)
	}
	_ = p.Release()
	j.closers = append(j.closers, mine)
	return mine, nil
}

// isDevNull tells whether f is the null device.
func isDevNull(f *os.File) bool {
	var st unix.Stat_t
	return unix.Fstat(int(f.Fd()), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR &&
		unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3
}

// jailIDs is the jail's id maps: its own, or those of the jail a command
// joins; nil without a user namespace.
func (j *Jail) jailIDs() *IDMap {
	if j.joined != nil {
		if r := j.joined.IDs; r != nil && !r.auto() {
			return r
		}
		return nil
	}
	return j.newUserNS()
}

// IsAnonymousPipe reports whether f is a pipe that no filesystem names:
// the only kind of descriptor a jail may hold of the host's.
func IsAnonymousPipe(f *os.File) bool {
	var st unix.Stat_t
	var fs unix.Statfs_t
	return unix.Fstat(int(f.Fd()), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO &&
		unix.Fstatfs(int(f.Fd()), &fs) == nil && fs.Type == unix.PIPEFS_MAGIC
}

// passPipe tells whether f goes to the jail as it is: an anonymous pipe,
// which a jail started without root can also reopen (/dev/stdout) only
// when it is the user's, since the user cannot give it to the jail.
func passPipe(f *os.File) bool {
	if !IsAnonymousPipe(f) {
		return false
	}
	var st unix.Stat_t
	return !Rootless() || unix.Fstat(int(f.Fd()), &st) == nil && int(st.Uid) == os.Geteuid()
}

func (j *Jail) reader(r io.Reader) (*os.File, error) {
	if f, ok := r.(*os.File); ok && passPipe(f) {
		return f, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	j.closers = append(j.closers, pr)
	if r == nil {
		pw.Close() // end of file at once, as /dev/null gives
		return pr, nil
	}
	// Not waited for: a reader such as a terminal may never return.
	go func() {
		_, _ = io.Copy(pw, r)
		pw.Close()
	}()
	return pr, nil
}

func (j *Jail) writer(w io.Writer) (*os.File, error) {
	if f, ok := w.(*os.File); ok && passPipe(f) {
		return f, nil
	}
	if w == nil {
		w = io.Discard
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	j.closers = append(j.closers, pw)
	j.copies.Add(1)
	go func() {
		defer j.copies.Done()
		_, _ = io.Copy(w, pr)
		pr.Close()
	}()
	return pw, nil
}

// closeAfterStart closes the launcher's copies of the init's stdio ends.
func (j *Jail) closeAfterStart() {
	for _, f := range j.closers {
		f.Close()
	}
	j.closers = nil
}
