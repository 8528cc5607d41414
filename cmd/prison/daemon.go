package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"prison/internal/nsinit"
	"prison/prison"
)

type servedKey struct{}

// served is what a command line that the daemon runs for a client gets.
type served struct {
	client *prison.Client
	pool   *prison.Pool
	// fellBack: the command line asked for what only a launcher of its
	// own can give (a terminal), and the client was told to launch.
	fellBack bool
}

// servedOf is the daemon's part in the command line's run, or nil.
func servedOf(ctx context.Context) *served {
	s, _ := ctx.Value(servedKey{}).(*served)
	return s
}

func newDaemonCmd() *cobra.Command {
	var socket string
	var verbose bool
	var pool int
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Serve `prison run` from a resident launcher, for faster starts",
		Long: `Serve prison run from a resident launcher, for faster starts.

prison run then forks the jail itself and leaves the rest to the daemon: no Go
runtime starts per jail. A prison run that finds no daemon, runs another
prison binary, has a terminal, lacks any of the daemon's capabilities or
namespaces, is confined more than the daemon (a seccomp filter, no_new_privs,
another LSM label) or finds it serving as many as it may launches the jail
itself, as without a daemon. The first SIGTERM or SIGINT stops accepting (new
runs launch on their own) and waits for the jails being served; a second one
exits at once, and the jails run on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pool < 0 {
				return &prison.ParamError{Err: fmt.Errorf("--pool %d: want 0 or more", pool)}
			}
			return serveDaemon(cmd.Context(), socket, pool, verbose, cmd.ErrOrStderr())
		},
	}
	def := os.Getenv(nsinit.SocketEnv)
	if def == "" || def == "none" {
		def = nsinit.SocketDefault
	}
	cmd.Flags().StringVar(&socket, "socket", def, "the socket to listen on ($"+nsinit.SocketEnv+" for prison run)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every prison run served")
	cmd.Flags().IntVar(&pool, "pool", 4, "network namespaces made ahead of the jails that need them")
	return cmd
}

// What bounds a flood of connections. Any root may connect, even one the
// daemon then refuses, and each connection holds a descriptor and a
// goroutine while it waits for its request and, once served, for as long
// as its jail runs. A connection beyond a bound is closed at once, unread:
// its client launches the jail on its own, as without a daemon.
const (
	// maxWaiting bounds the connections whose request has not arrived;
	// prison.RequestTimeout bounds how long each may take. A client sends
	// its request right after connecting, so a few suffice for a burst of
	// starts, and a flood of idle connections holds no more than these.
	maxWaiting = 64
	// maxServing bounds the connections served or waiting, where the
	// descriptor limit does not bound them lower: the jails served run as
	// long as they like, and each costs the daemon some memory.
	maxServing = 4096
	// fdsPerJail is more than the descriptors the daemon holds for one
	// jail it serves (its client's connection, the init's pidfd and sync
	// socket, the seccomp listener and its cancel pipe, the network
	// namespace: 6 measured), or for two spares of its pool; fdsReserved,
	// more than it holds for itself.
	fdsPerJail  = 16
	fdsReserved = 64
)

// connLimit is how many connections the daemon serves at once without
// running out of descriptors, with room for a pool of poolSize spares.
func connLimit(poolSize int) int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return maxServing
	}
	n := (int(lim.Cur)-fdsReserved)/fdsPerJail - poolSize
	return max(1, min(n, maxServing))
}

// acceptRetry says whether an accept error is a shortage that passes
// (descriptors, memory), which the daemon waits out instead of exiting.
func acceptRetry(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.ENOBUFS, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// throttle counts events and says when to log them: the first at once,
// then how many since, at most every throttleEvery, so that a flood is
// seen in the log without flooding it.
type throttle struct {
	mu   sync.Mutex
	last time.Time
	n    int
}

const throttleEvery = 10 * time.Second

// note counts an event and returns the count to log, or 0.
func (t *throttle) note(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	if now.Sub(t.last) < throttleEvery {
		return 0
	}
	n := t.n
	t.n, t.last = 0, now
	return n
}

func serveDaemon(ctx context.Context, socket string, poolSize int, verbose bool, log io.Writer) error {
	if os.Geteuid() != 0 {
		return prison.ErrNotRoot
	}
	l, err := prison.Listen(socket)
	if err != nil {
		return err
	}
	var pool *prison.Pool
	if poolSize > 0 {
		pool = prison.NewPool(poolSize)
		defer pool.Close()
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	stopped := make(chan struct{})
	go func() {
		<-sigs
		close(stopped)
		l.Close() // removes the socket: new runs launch on their own
	}()
	limit := connLimit(poolSize)
	fmt.Fprintf(log, "prison daemon: listening on %s\n", socket)

	var logMu sync.Mutex
	logf := func(format string, a ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(log, "prison daemon: "+format+"\n", a...)
	}
	// Slots: a connection takes one of conns until it is done, and one
	// of waiting until its request has arrived.
	conns := make(chan struct{}, limit)
	waiting := make(chan struct{}, min(maxWaiting, limit))
	var busy, idle, short throttle
	var served sync.WaitGroup
	var backoff time.Duration
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			select {
			case <-stopped:
			default:
				if !acceptRetry(err) {
					l.Close()
					return fmt.Errorf("daemon: %w", err)
				}
				// Out of descriptors or memory: the jails served free
				// them as they end. Meanwhile new clients wait in the
				// listen queue, or give up and launch on their own.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				if n := short.note(time.Now()); n > 0 {
					logf("accept: %v: retrying (%d times)", err, n)
				}
				select {
				case <-time.After(backoff):
				case <-stopped:
				}
				continue
			}
			break
		}
		backoff = 0
		select {
		case conns <- struct{}{}:
			select {
			case waiting <- struct{}{}:
			default:
				<-conns
				if n := busy.note(time.Now()); n > 0 {
					logf("connections closed unread, %d waiting for their request already: %d", cap(waiting), n)
				}
				conn.Close()
				continue
			}
		default:
			if n := busy.note(time.Now()); n > 0 {
				logf("connections closed unread, %d served or waiting already: %d", limit, n)
			}
			conn.Close()
			continue
		}
		served.Add(1)
		go func() {
			defer served.Done()
			defer func() { <-conns }()
			serveClient(ctx, conn, func() { <-waiting }, &idle, pool, verbose, logf)
		}()
	}
	drained := make(chan struct{})
	go func() {
		served.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-sigs:
	}
	return nil
}

// serveClient runs one client's command line as `prison run` would have in
// the client itself, and sends it the outcome.
// requested is called once the request has arrived, or the wait for it
// ended; idle counts the connections that sent none in time.
func serveClient(ctx context.Context, conn *net.UnixConn, requested func(), idle *throttle, pool *prison.Pool, verbose bool, logf func(string, ...any)) {
	defer conn.Close()
	client, err := prison.AcceptClient(conn)
	requested()
	if errors.Is(err, io.EOF) {
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if n := idle.note(time.Now()); n > 0 {
			logf("connections closed without a request within %s: %d", prison.RequestTimeout, n)
		}
		return
	}
	var refused *prison.RefusedError
	if errors.As(err, &refused) {
		logf("pid %d: launches on its own: %s", client.PID, refused.Reason)
		_ = client.Fallback()
		return
	}
	if err != nil {
		logf("%s", oneLine(err))
		return
	}
	defer client.Close()
	if len(client.Args) == 0 || (client.Args[0] != nsinit.RunVerb && client.Args[0] != nsinit.ExecVerb) {
		_ = client.Fallback()
		return
	}
	var stdout, stderr bytes.Buffer
	defer func() {
		// One client's bug must not end the daemon, and with it the
		// host side of every jail it serves.
		if r := recover(); r != nil {
			logf("pid %d: bug: %v", client.PID, r)
			_ = client.Finish(exitFailure, nil, fmt.Appendf(nil, "prison: bug in the daemon: %v\n", r))
		}
	}()
	sv := &served{client: client, pool: pool}
	status := run(context.WithValue(ctx, servedKey{}, sv), client.Args, nil, &stdout, &stderr)
	if sv.fellBack {
		return
	}
	// Logged before the client is let go, so that whoever waits for the
	// client finds the line written.
	if verbose {
		logf("pid %d: served %q: exit status %d", client.PID, client.Args, status)
	}
	if err := client.Finish(status, stdout.Bytes(), stderr.Bytes()); err != nil && verbose {
		logf("pid %d: %v", client.PID, err)
	}
}
