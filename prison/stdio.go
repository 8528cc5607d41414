package prison

import (
	"fmt"
	"io"
	"os"
)

// openStdio returns the init's fds 0, 1 and 2, as exec.Cmd would: an
// *os.File goes to the jail as is, anything else through a pipe the
// launcher copies, nil is /dev/null. A jail with a terminal gets /dev/null:
// its command's stdio is the pty.
func (j *Jail) openStdio() ([]uintptr, error) {
	var null *os.File
	devNull := func() (*os.File, error) {
		if null == nil {
			f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return nil, err
			}
			null = f
			j.closers = append(j.closers, f)
		}
		return null, nil
	}
	in, out, errw := j.Stdin, j.Stdout, j.Stderr
	if j.Spec.Process.Terminal {
		in, out, errw = nil, nil, nil
	}
	fds := make([]uintptr, 3)
	for i := range fds {
		var f *os.File
		var err error
		switch i {
		case 0:
			f, err = j.reader(in, devNull)
		case 1:
			f, err = j.writer(out, devNull)
		case 2:
			f, err = j.writer(errw, devNull)
		}
		if err != nil {
			j.closeAfterStart()
			return nil, fmt.Errorf("stdio: %w", err)
		}
		fds[i] = f.Fd()
	}
	return fds, nil
}

func (j *Jail) reader(r io.Reader, devNull func() (*os.File, error)) (*os.File, error) {
	switch r := r.(type) {
	case nil:
		return devNull()
	case *os.File:
		return r, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	j.closers = append(j.closers, pr)
	// Not waited for: a reader such as a terminal may never return.
	go func() {
		_, _ = io.Copy(pw, r)
		pw.Close()
	}()
	return pr, nil
}

func (j *Jail) writer(w io.Writer, devNull func() (*os.File, error)) (*os.File, error) {
	switch w := w.(type) {
	case nil:
		return devNull()
	case *os.File:
		return w, nil
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
