// `prison run` served by a resident launcher (`prison daemon`).
//
// A Go launcher costs a Go runtime start and a cold pass through its own
// code on every jail: about 1.5 ms of a 7 ms start. When a daemon listens,
// this constructor does the jail's process work in C before the Go runtime
// starts, and the daemon, warm, does everything that needs Go: it parses the
// command line, plans the root, compiles the filter, claims the name and the
// addresses, makes the network, and drives the init through the usual sync
// protocol (init.c). The client only forks:
//
//	C -> D  RUN(args, cwd, TERM)
//	D -> C  FALLBACK                       Go runs as if no daemon listened
//	     or DONE(status, stdout, stderr)   the command line was refused
//	     or CLONE(flags) + sync socket, state lock
//	C       clone(flags): the child is the init (nsinit_run_init)
//	C -> D  SPAWNED(pid) + pidfd
//	D <-> init  plan, READY, GO, STARTED, EXIT
//	C -> D  REAPED(wait status)
//	D -> C  DONE(status, stdout, stderr)   after the host side is gone
//
// The init is this process's child, so it inherits this process's
// credentials, capabilities, limits, cgroup, seccomp filter and stdio, as
// it does from the Go launcher: the daemon lends the jail nothing of its
// own but a network namespace. The client holds the jail's state lock, so
// the jail is alive exactly as long as its client (prison/state.go). Keep
// it dumb: no policy lives here.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nsinit.h"

#define SYNC_FD 3

static const char *env_of(char **envp, const char *key)
{
	size_t n = strlen(key);
	for (; envp && *envp; envp++)
		if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

// recv_msg reads one message into a buffer it allocates, with up to two fds.
static ssize_t recv_msg(int s, char **buf, int fds[2])
{
	fds[0] = fds[1] = -1;
	ssize_t n;
	while ((n = recv(s, NULL, 0, MSG_PEEK | MSG_TRUNC)) < 0 && errno == EINTR)
		;
	if (n <= 0)
		return -1;
	*buf = malloc((size_t)n + 1);
	if (!*buf)
		return -1;
	struct iovec iov = {.iov_base = *buf, .iov_len = (size_t)n};
	union {
		char b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			    .msg_controllen = sizeof(u.b)};
	while ((n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n >= 0 && c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		memcpy(fds, CMSG_DATA(c), (k > 2 ? 2 : k) * sizeof(int));
	}
	return n;
}

static uint32_t rd32(const char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

// done prints what the daemon's `prison run` printed and exits with its
// status.
static _Noreturn void done(const char *m, ssize_t n)
{
	if (n < 12)
		_exit(NSINIT_EXIT_SETUP);
	int32_t status = (int32_t)rd32(m + 4);
	size_t out = rd32(m + 8), len = (size_t)n - 12;
	if (out > len)
		out = len;
	write_all(1, m + 12, out);
	write_all(2, m + 12 + out, len - out);
	_exit(status);
}

// connect_daemon returns a connection to the daemon, or -1 when there is
// none to use.
static int connect_daemon(char **envp)
{
	const char *path = env_of(envp, NSINIT_SOCKET_ENV);
	if (!path || !*path)
		path = NSINIT_SOCKET_DEFAULT;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strcmp(path, "none") == 0 || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	// A terminal needs the Go launcher: raw mode, the pty's relay, and a
	// pipe in place of a terminal on stdout or stderr. So does a closed
	// stdio descriptor, which the init could not inherit.
	for (int i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0 || isatty(i))
			return -1;
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int send_request(int s, int argc, char **argv, char **envp, uint64_t start)
{
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = 0;
	const char *term = env_of(envp, "TERM");
	if (!term)
		term = "";
	size_t len = 16 + strlen(cwd) + 1 + strlen(term) + 1;
	for (int i = 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *req = malloc(len), *p = req;
	if (!req)
		return -1;
	uint32_t hdr[2] = {NSINIT_CLIENT_RUN, (uint32_t)(argc - 1)};
	memcpy(p, hdr, 8);
	memcpy(p + 8, &start, 8);
	p += 16;
	for (int i = 1; i < argc; i++)
		p = stpcpy(p, argv[i]) + 1;
	p = stpcpy(p, cwd) + 1;
	stpcpy(p, term);
	// A request too large for one message (EMSGSIZE) falls back.
	int r = nsinit_send(s, req, len, -1);
	free(req);
	return r;
}

// spawn clones the init with the daemon's flags; the child never returns.
static pid_t spawn(uint64_t flags, int syncfd)
{
	pid_t parent = getpid();
	pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)flags | SIGCHLD, 0, NULL, NULL, 0);
	if (pid != 0)
		return pid;
	// The jail dies with its client, even by SIGKILL. A client that died
	// before this line is seen by getppid() only outside a new PID
	// namespace (inside, the parent is 0); the daemon, seeing the client
	// hang up, ends such an init through its sync socket.
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (!(flags & CLONE_NEWPID) && getppid() != parent)
		_exit(NSINIT_EXIT_SETUP);
	if (syncfd != SYNC_FD && dup2(syncfd, SYNC_FD) < 0)
		_exit(NSINIT_EXIT_SETUP);
	_exit(nsinit_run_init());
}

void nsinit_client(int argc, char **argv, char **envp)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t start = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	int s = connect_daemon(envp);
	if (s < 0)
		return;
	char *m = NULL;
	int fds[2];
	ssize_t n = -1;
	if (send_request(s, argc, argv, envp, start) == 0)
		n = recv_msg(s, &m, fds);
	if (n >= 4 && rd32(m) == NSINIT_DAEMON_DONE)
		done(m, n);
	if (n < 16 || rd32(m) != NSINIT_DAEMON_CLONE || fds[0] < 0 || fds[1] < 0) {
		// No daemon after all, or one that declines: nothing is made yet.
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		free(m);
		close(s);
		return;
	}
	uint64_t flags;
	memcpy(&flags, m + 8, 8);
	free(m);
	int syncfd = fds[0]; // fds[1], the state lock, stays open until exit

	// Signals for the command are queued from here on and forwarded once
	// the init exists; SIGCHLD says it is gone.
	sigset_t set;
	sigemptyset(&set);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);

	pid_t pid = sfd < 0 ? -1 : spawn(flags, syncfd);
	int32_t spawned[2] = {NSINIT_CLIENT_SPAWNED, pid < 0 ? -errno : pid};
	int pidfd = pid < 0 ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
	if (pid > 0 && pidfd < 0) {
		kill(pid, SIGKILL);
		spawned[1] = -errno;
	}
	close(syncfd);
	if (nsinit_send(s, spawned, sizeof(spawned), pidfd) < 0 && pid > 0)
		kill(pid, SIGKILL);
	if (pidfd >= 0)
		close(pidfd);

	int status = 0, reaped = pid <= 0, gone = 0;
	while (!reaped || !gone) {
		struct pollfd p[2] = {{.fd = gone ? -1 : s, .events = POLLIN},
				      {.fd = reaped ? -1 : sfd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo != SIGCHLD) {
				kill(pid, (int)si.ssi_signo);
				continue;
			}
			if (waitpid(pid, &status, WNOHANG) != pid)
				continue;
			reaped = 1;
			int32_t msg[2] = {NSINIT_CLIENT_REAPED, status};
			if (!gone)
				nsinit_send(s, msg, sizeof(msg), -1);
		}
		if (p[0].revents) {
			n = recv_msg(s, &m, fds);
			if (n >= 4 && rd32(m) == NSINIT_DAEMON_DONE) {
				if (!reaped) // not expected: the daemon waits for REAPED
					waitpid(pid, &status, 0);
				done(m, n);
			}
			gone = 1;
		}
	}
	// The daemon went away: the command's status is the init's (init.c),
	// and the next prison call removes the jail's host side.
	static const char msg[] = "prison: the daemon stopped while the jail ran; "
				  "its state is removed by the next prison call\n";
	write_all(2, msg, sizeof(msg) - 1);
	if (pid <= 0)
		_exit(NSINIT_EXIT_SETUP);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}
