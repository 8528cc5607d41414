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

	"github.com/spf13/cobra"

	"prison/internal/nsinit"
	"prison/prison"
)

type servedKey struct{}

// served is what a command line that the daemon runs for a client gets.
type served struct {
	client *prison.Client
	pool   *prison.Pool
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
prison binary, has a terminal, or lacks any of the daemon's capabilities or
namespaces launches the jail itself, as without a daemon. The first SIGTERM
or SIGINT stops accepting (new runs launch on their own) and waits for the
jails being served; a second one exits at once, and the jails run on.`,
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
	fmt.Fprintf(log, "prison daemon: listening on %s\n", socket)

	var logMu sync.Mutex
	logf := func(format string, a ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(log, "prison daemon: "+format+"\n", a...)
	}
	var served sync.WaitGroup
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			select {
			case <-stopped:
			default:
				l.Close()
				return fmt.Errorf("daemon: %w", err)
			}
			break
		}
		served.Add(1)
		go func() {
			defer served.Done()
			serveClient(ctx, conn, pool, verbose, logf)
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
func serveClient(ctx context.Context, conn *net.UnixConn, pool *prison.Pool, verbose bool, logf func(string, ...any)) {
	defer conn.Close()
	client, err := prison.AcceptClient(conn)
	if errors.Is(err, io.EOF) {
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
	if len(client.Args) == 0 || client.Args[0] != nsinit.RunVerb {
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
	status := run(context.WithValue(ctx, servedKey{}, &served{client, pool}), client.Args, nil, &stdout, &stderr)
	if err := client.Finish(status, stdout.Bytes(), stderr.Bytes()); err != nil && verbose {
		logf("pid %d: %v", client.PID, err)
	}
	if verbose {
		logf("pid %d: served %q: exit status %d", client.PID, client.Args, status)
	}
}
