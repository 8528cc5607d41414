package prison

import (
	"errors"
	"sync"
	"syscall"
	"testing"

	"prison/internal/roottest"
)

// TestSignalWhileWaiting: `prison run` forwards signals from a goroutine
// of its own while Wait reaps the init. Signal must neither race with Wait
// (run with -race) nor, once the init is reaped, reach a process that took
// its pid. A real jail, since that is where the pid comes from; the test
// binary is its init (it links internal/nsinit's constructor).
func TestSignalWhileWaiting(t *testing.T) {
	roottest.Require(t)
	c := DefaultConfig()
	c.Args = []string{"/bin/sh", "-c", "trap '' WINCH; sleep 0.2"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	spec, err := c.Spec()
	if err != nil {
		t.Fatal(err)
	}
	j := &Jail{Name: c.Name, Spec: spec}
	if err := j.Start(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := j.Signal(syscall.SIGWINCH); err != nil && !errors.Is(err, ErrNotRunning) {
					t.Errorf("Signal: %v", err)
					return
				}
			}
		}()
	}
	st, err := j.Wait()
	close(stop)
	wg.Wait()
	if err != nil || st.ExitCode() != 0 {
		t.Errorf("Wait: %+v, %v", st, err)
	}
	if err := j.Signal(syscall.SIGKILL); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Signal after Wait: %v, want ErrNotRunning", err)
	}
}
