package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain turns the test binary into a fake `prison daemon` when
// BENCH_FAKE_DAEMON says how it should behave (see fakeDaemon), and into
// ocicycle when cycleEnv is set (see cycleMain).
func TestMain(m *testing.M) {
	if mode := os.Getenv("BENCH_FAKE_DAEMON"); mode != "" {
		os.Exit(fakeDaemon(mode, os.Args[1:]))
	}
	if os.Getenv(cycleEnv) != "" {
		os.Exit(cycleMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeDaemon plays `prison daemon --socket PATH` (args) in one of these
// modes:
//
//	serve:  listen, greet, and answer each message: "refuse" is logged as
//	        the real daemon logs a refused client, then answered; "die"
//	        makes it write a last word and exit 3. SIGTERM closes the
//	        socket and exits 0.
//	late:   serve, but greet only once a first connection came and went,
//	        as a daemon descheduled between its listen and its greeting
//	        does on a busy machine (StartDaemon's probe is that
//	        connection).
//	silent: serve, but never greet.
//	exit:   complain and exit 2 without listening.
//	mute:   never listen, ignore SIGTERM.
func fakeDaemon(mode string, args []string) int {
	if len(args) != 3 || args[0] != "daemon" || args[1] != "--socket" {
		fmt.Fprintf(os.Stderr, "fake daemon: bad arguments %q\n", args)
		return 125
	}
	socket := args[2]
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "prison: boom: no such thing")
		return 2
	case "mute":
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
		return 0
	}
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake daemon:", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		l.Close()
		os.Exit(0)
	}()
	greet := func() { fmt.Fprintf(os.Stderr, "prison daemon: listening on %s\n", socket) }
	if mode == "serve" {
		greet()
	}
	for {
		c, err := l.Accept()
		if err != nil {
			time.Sleep(time.Hour) // closed on SIGTERM: the exit is on its way
		}
		if mode == "late" {
			// The probe sends nothing: greet once it hung up.
			_, _ = c.Read(make([]byte, 1))
			greet()
			mode = "serve"
			c.Close()
			continue
		}
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		switch string(buf[:n]) {
		case "refuse":
			fmt.Fprintln(os.Stderr, "prison daemon: pid 42: launches on its own: pid 42 lacks capabilities 0x1")
		case "die":
			fmt.Fprintln(os.Stderr, "panic: the fake daemon's last word")
			os.Exit(3)
		}
		c.Write([]byte("ok"))
		c.Close()
	}
}

// startFake starts the test binary as a daemon in mode.
func startFake(t *testing.T, mode string, timeout time.Duration) (*Daemon, string, error) {
	t.Setenv("BENCH_FAKE_DAEMON", mode)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	socket := filepath.Join(dir, "daemon.sock")
	d, err := StartDaemon(context.Background(), nil, exe, socket, filepath.Join(dir, "daemon.log"), timeout)
	return d, socket, err
}

// ask sends msg to the daemon and waits for its answer, as a client waits
// for the daemon's answer before it goes on.
func ask(t *testing.T, socket, msg string) {
	t.Helper()
	c, err := net.Dial("unixpacket", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.Read(make([]byte, 8))
}

func TestDaemonServes(t *testing.T) {
	d, socket, err := startFake(t, "serve", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	measured := 0
	measure := func() (Sample, error) {
		measured++
		ask(t, socket, "serve me")
		return Sample{{"wall", 1}}, nil
	}
	if smp, err := d.Around(measure); err != nil || len(smp) != 1 || measured != 1 {
		t.Fatalf("Around = %v, %v after %d measurements; want the sample", smp, err, measured)
	}
	// A refusal fails the invocation it happened in, and only that one.
	_, err = d.Around(func() (Sample, error) { ask(t, socket, "refuse"); return Sample{{"wall", 1}}, nil })
	if err == nil || !strings.Contains(err.Error(), "not served by the prison daemon") || !strings.Contains(err.Error(), "launches on its own") {
		t.Errorf("Around after a refusal = %v", err)
	}
	if _, err := d.Around(measure); err != nil {
		t.Errorf("Around after the refusal's invocation = %v", err)
	}
	// The measurement's own error comes through.
	if _, err := d.Around(func() (Sample, error) { return nil, errors.New("exit status 125") }); err == nil || err.Error() != "exit status 125" {
		t.Errorf("Around of a failed measurement = %v", err)
	}
	if err := d.Stop(5 * time.Second); err != nil {
		t.Errorf("Stop = %v", err)
	}
	if _, err := os.Stat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Stop: %v", err)
	}
	if err := d.Check(); err == nil {
		t.Error("Check of a stopped daemon = nil")
	}
}

// A daemon that greets after its socket accepts connections, as a busy
// machine has it, is not taken for one that refused a client: the
// greeting is start-up output, whenever it lands.
func TestDaemonGreetsLate(t *testing.T) {
	d, socket, err := startFake(t, "late", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop(5 * time.Second) })
	if _, err := d.Around(func() (Sample, error) { ask(t, socket, "serve me"); return Sample{{"wall", 1}}, nil }); err != nil {
		t.Errorf("Around after a late greeting = %v", err)
	}
}

// A daemon that accepts connections but never says it listens is not
// taken for a prison daemon.
func TestDaemonNeverGreets(t *testing.T) {
	_, _, err := startFake(t, "silent", 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not write") {
		t.Errorf("StartDaemon of a daemon that never greets = %v", err)
	}
}

func TestDaemonDies(t *testing.T) {
	d, socket, err := startFake(t, "serve", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Around(func() (Sample, error) { ask(t, socket, "die"); return Sample{{"wall", 1}}, nil })
	if err == nil || !strings.Contains(err.Error(), "last word") {
		t.Errorf("Around when the daemon dies = %v, want its output", err)
	}
	<-d.exited
	// Every later invocation fails too, with the daemon's output.
	_, err = d.Around(func() (Sample, error) { t.Error("measured without a daemon"); return nil, nil })
	if err == nil || !strings.Contains(err.Error(), "prison daemon died (exit status 3)") || !strings.Contains(err.Error(), "last word") {
		t.Errorf("Around after the daemon died = %v", err)
	}
	// Stop says so and removes the socket it left.
	if err := d.Stop(time.Second); err == nil || !strings.Contains(err.Error(), "had exited") {
		t.Errorf("Stop = %v", err)
	}
	if _, err := os.Stat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Stop: %v", err)
	}
}

func TestDaemonStartFails(t *testing.T) {
	_, _, err := startFake(t, "exit", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited before it listened") || !strings.Contains(err.Error(), "boom: no such thing") {
		t.Errorf("StartDaemon of a daemon that exits = %v", err)
	}
	_, _, err = startFake(t, "mute", 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "does not accept connections") {
		t.Errorf("StartDaemon of a daemon that never listens = %v", err)
	}
	long := "/tmp/" + strings.Repeat("x", 120) + "/daemon.sock"
	if _, err := StartDaemon(context.Background(), nil, "/bin/true", long, os.DevNull, time.Second); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("StartDaemon with a long socket path = %v", err)
	}
}

func TestDaemonKilledAfterGrace(t *testing.T) {
	d, socket, err := startFake(t, "serve", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Make it deaf to SIGTERM: a stopped process does not act on it, but
	// SIGKILL still ends it.
	if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	err = d.Stop(100 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop of a daemon that ignores SIGTERM = %v", err)
	}
	if _, err := os.Stat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Stop: %v", err)
	}
}

func TestGoStarted(t *testing.T) {
	trace := "init internal/bytealg @0.003 ms, 0 ms clock, 0 bytes, 0 allocs\n" +
		"init runtime @0.021 ms, 0.017 ms clock, 0 bytes, 0 allocs\n"
	if !goStarted(trace + "prison: boom\n") {
		t.Error("goStarted(inittrace output) = false")
	}
	if goStarted("prison-timing: {\"plan\":1}\ninit: not a trace\n") {
		t.Error("goStarted(no inittrace) = true")
	}
}
