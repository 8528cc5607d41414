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
//	C       connect, and check the peer is a daemon (daemon_trusted)
//	C -> D  RUN(args, cwd, TERM)
//	D -> C  FALLBACK                       Go runs as if no daemon listened
//	     or DONE(status, stdout, stderr)   the command line was refused
//	     or CLONE(flags, name) + sync socket, state lock, sealed executable
//	C       clone(flags): the child executes the sealed copy of prison as
//	        the jail's init (init.c)
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
//
// Two things the client does not inherit blindly. Its stdio goes to the
// jail only as anonymous pipes: any other descriptor (a file, a FIFO, a
// socket, /dev/null) is relayed through a pipe, because root inside could
// reopen, chmod or truncate a host file it holds (prison/stdio.go says the
// same for the Go launcher). And the init is executed from the daemon's
// sealed copy of prison, never forked from this process as it is: until the
// command's execve its /proc/self/exe would be the host's prison binary
// (prison/exe_linux.go).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <linux/capability.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nsinit.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 // Linux 6.5; older glibc headers lack it
#endif

#define SYNC_FD NSINIT_SYNC_FD

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

#define MAX_FDS 4

// recv_msg reads one message into a buffer it allocates, with up to
// MAX_FDS fds.
static ssize_t recv_msg(int s, char **buf, int fds[MAX_FDS])
{
	for (int i = 0; i < MAX_FDS; i++)
		fds[i] = -1;
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
		char b[CMSG_SPACE(MAX_FDS * sizeof(int))];
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
		memcpy(fds, CMSG_DATA(c), (k > MAX_FDS ? MAX_FDS : k) * sizeof(int));
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

// same_file says whether two paths name the same inode.
static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static int effective_caps(pid_t pid, uint64_t *caps)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = pid};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	*caps = (uint64_t)d[1].effective << 32 | d[0].effective;
	return 0;
}

// daemon_trusted says whether the peer of s is a prison daemon on the host
// and not something that only sits at the socket's path: a path can be
// resolved inside a jail, whose tenant may run a fake daemon there, and a
// jail can even run prison itself (a script whose interpreter is
// /proc/self/exe). So the peer must be root, run this very binary, and hold
// CAP_SYS_ADMIN and CAP_NET_ADMIN — which no process in a jail can, its
// bounding set lacks them — and every capability this process has; all of
// it read while its pidfd shows it alive, so a reused pid cannot pass.
static int daemon_trusted(int s)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int pidfd = -1;
	socklen_t plen = sizeof(pidfd);
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0 ||
	    cred.pid <= 0 || getsockopt(s, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &plen) < 0)
		return 0;
	uint64_t peer = 0, self = 0;
	const uint64_t need = 1ULL << CAP_SYS_ADMIN | 1ULL << CAP_NET_ADMIN;
	char exe[64];
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)cred.pid);
	int ok = effective_caps(cred.pid, &peer) == 0 && effective_caps(0, &self) == 0 &&
		 (peer & need) == need && (peer & self) == self && same_file(exe, "/proc/self/exe") &&
		 syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
	close(pidfd);
	return ok;
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
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || !daemon_trusted(s)) {
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
	// The caller's default user namespace, which the daemon, parsing the
	// command line with its own environment, would not see: given as
	// the first option, so that one on the command line still wins.
	char userns[256] = "";
	const char *un = env_of(envp, NSINIT_USERNS_ENV);
	if (un && un[0] && strcmp(argv[1], NSINIT_RUN_VERB) == 0)
		snprintf(userns, sizeof(userns), "--userns=%s", un);
	size_t len = 16 + strlen(cwd) + 1 + strlen(term) + 1 + (userns[0] ? strlen(userns) + 1 : 0);
	for (int i = 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *req = malloc(len), *p = req;
	if (!req)
		return -1;
	uint32_t hdr[2] = {NSINIT_CLIENT_RUN, (uint32_t)(argc - 1 + (userns[0] != 0))};
	memcpy(p, hdr, 8);
	memcpy(p + 8, &start, 8);
	p += 16;
	for (int i = 1; i < argc; i++) {
		p = stpcpy(p, argv[i]) + 1;
		if (i == 1 && userns[0])
			p = stpcpy(p, userns) + 1;
	}
	p = stpcpy(p, cwd) + 1;
	stpcpy(p, term);
	// A request too large for one message (EMSGSIZE) falls back.
	int r = nsinit_send(s, req, len, -1);
	free(req);
	return r;
}

// A relay copies one stdio stream between the caller's descriptor and a
// pipe of the jail's, for a descriptor the jail must not hold itself.
struct relay {
	int src, dst;    // -1 once closed
	int host_dst;    // dst is the caller's: written PIPE_BUF at a time
	int eof;         // src is done
	size_t len, off; // buffered bytes
	char buf[65536];
};

// anonymous_pipe says whether fd is a pipe that no filesystem names, the
// only kind of descriptor the jail may share with the caller.
static int anonymous_pipe(int fd)
{
	struct stat st;
	struct statfs fs;
	return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fstatfs(fd, &fs) == 0 &&
	       fs.f_type == 0x50495045; // PIPEFS_MAGIC
}

// open_relays gives each of the caller's stdio descriptors that is not an
// anonymous pipe a pipe of its own: jail[i] is the end the init gets as fd
// i (-1: fd i itself).
static int open_relays(struct relay *r[3], int jail[3])
{
	// All set before any can fail: the caller closes what is open.
	for (int i = 0; i < 3; i++) {
		r[i] = NULL;
		jail[i] = -1;
	}
	for (int i = 0; i < 3; i++) {
		if (anonymous_pipe(i))
			continue;
		int p[2];
		struct relay *n = calloc(1, sizeof(*n));
		if (!n || pipe2(p, O_CLOEXEC) < 0) {
			free(n);
			return -1;
		}
		r[i] = n;
		int ours = i == 0 ? p[1] : p[0];
		jail[i] = i == 0 ? p[0] : p[1];
		if (fcntl(ours, F_SETFL, O_NONBLOCK) < 0)
			return -1;
		r[i]->src = i == 0 ? 0 : ours;
		r[i]->dst = i == 0 ? ours : i;
		r[i]->host_dst = i != 0;
	}
	return 0;
}

// The jail's ids: its root's on the host, of the user namespace the clone
// makes (NSINIT_CLONE_USERNS) or of the jail the init joins, and the
// maps the clone's namespace gets; has 0: none.
struct idmap {
	uint32_t uid, gid, has;
	const char *uid_map, *gid_map;
};

// chown_stdio gives the pipes the init gets as its stdio to the jail's
// root, when the jail has ids of its own: owned by host root, they would
// not reopen as /dev/stdout inside (prison/stdio.go says the same).
static int chown_stdio(const int jail[3], const struct idmap *ids)
{
	if (ids->has == 0)
		return 0;
	for (int i = 0; i < 3; i++)
		if (fchown(jail[i] >= 0 ? jail[i] : i, ids->uid, ids->gid) < 0)
			return -1;
	return 0;
}

static void relay_close(struct relay *r)
{
	if (r->dst > 2)
		close(r->dst);
	if (r->src > 2)
		close(r->src);
	r->src = r->dst = -1;
	r->eof = 1;
	r->len = r->off = 0;
}

// relay_poll sets what to poll the relay's descriptors for.
static void relay_poll(struct relay *r, struct pollfd *src, struct pollfd *dst)
{
	src->fd = r && r->src >= 0 && !r->eof && r->len == 0 ? r->src : -1;
	src->events = POLLIN;
	dst->fd = r && r->dst >= 0 && r->len > 0 ? r->dst : -1;
	dst->events = POLLOUT;
}

static void relay_step(struct relay *r, short srcev, short dstev)
{
	if (srcev) {
		ssize_t n = read(r->src, r->buf, sizeof(r->buf));
		if (n > 0) {
			r->len = (size_t)n;
			r->off = 0;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			r->eof = 1;
		}
	}
	if (dstev && r->len > 0) {
		size_t want = r->len - r->off;
		if (r->host_dst && want > PIPE_BUF)
			want = PIPE_BUF;
		ssize_t n = write(r->dst, r->buf + r->off, want);
		if (n > 0) {
			r->off += (size_t)n;
			if (r->off == r->len)
				r->len = r->off = 0;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			relay_close(r); // the reader is gone: as a pipe, the writer gets EPIPE
			return;
		}
	}
	if (r->eof && r->len == 0 && r->dst >= 0)
		relay_close(r);
}

// RELAY_GRACE_MS is how long the relays drain once the command is done
// while a process of the jail still holds them (prison/launch_linux.go's
// RelayGrace).
#define RELAY_GRACE_MS 200

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

// clone3's arguments (linux/sched.h, which clashes with sched.h).
struct clone3_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
		set_tid_size, cgroup;
};

// as_owner makes this thread's real and effective ids the jail's base
// ids, keeping its capabilities, or back to 0: a user namespace is owned
// by its creator's effective uid, and the kernel charges the per-user
// counts of everything in it (inotify instances, message queue bytes,
// processes) to that owner in the host's namespace too. Owned by root, a
// jail would share root's. Real ids too: an execve whose real and
// effective ids differ, and any later change of the effective ids (the
// init's become_root), would clear the parent-death signal. The saved
// ids stay 0, the way back. prison/userns_linux.go does the same.
static int as_owner(uint32_t uid, uint32_t gid)
{
	if (uid == 0) {
		if (syscall(SYS_setresuid, 0, 0, -1) < 0 || syscall(SYS_setresgid, 0, 0, -1) < 0)
			return -1;
	} else if (syscall(SYS_setresgid, gid, gid, -1) < 0 || syscall(SYS_setresuid, uid, uid, -1) < 0) {
		return -1;
	}
	// A change of the effective uid away from 0 clears the effective
	// capabilities; the permitted ones stay, and come back.
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	d[0].effective = d[0].permitted;
	d[1].effective = d[1].permitted;
	return (int)syscall(SYS_capset, &h, d);
}

// write_map writes map, the jail's ids as the daemon spelled them
// ("CONTAINER HOST SIZE" lines), to /proc/PID/what, in the one write the
// kernel takes.
static int write_map(pid_t pid, const char *what, const char *map)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	size_t n = strlen(map);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = write(fd, map, n) == (ssize_t)n ? 0 : -1;
	int err = errno;
	close(fd);
	errno = err;
	return r;
}

// spawn clones the init with the daemon's flags, into the cgroup v2
// directory cgroup when it is not -1: born there, it needs no move, which
// would wait for an RCU grace period. The child executes exe as the
// jail's init and never returns. alive is a pipe whose write end only
// this process holds. With ids, the clone makes the jail's user
// namespace, and the child waits for its maps: executed before them, the
// init would not be root there and would lose every capability.
static pid_t spawn(uint64_t flags, int cgroup, int syncfd, int lockfd, int exe, const char *name,
		   int alive[2], const int jail[3], const struct idmap *ids)
{
	int mapped[2] = {-1, -1};
	if (ids && (pipe2(mapped, O_CLOEXEC) < 0 || as_owner(ids->uid, ids->gid) < 0)) {
		int err = errno;
		if (mapped[0] >= 0) {
			close(mapped[0]);
			close(mapped[1]);
		}
		errno = err;
		return -1;
	}
	pid_t pid;
	if (cgroup >= 0) {
		struct clone3_args a = {.flags = flags | CLONE_INTO_CGROUP, .exit_signal = SIGCHLD,
					.cgroup = (uint64_t)cgroup};
		pid = (pid_t)syscall(SYS_clone3, &a, sizeof(a));
	} else {
		pid = (pid_t)syscall(SYS_clone, (unsigned long)flags | SIGCHLD, 0, NULL, NULL, 0);
	}
	if (pid != 0 && ids) {
		int err = errno;
		if (as_owner(0, 0) < 0)
			_exit(NSINIT_EXIT_SETUP); // never run on as anyone but root
		close(mapped[0]);
		if (pid > 0 && (write_map(pid, "uid_map", ids->uid_map) < 0 ||
				write_map(pid, "gid_map", ids->gid_map) < 0 ||
				write(mapped[1], "m", 1) != 1)) {
			err = errno;
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			pid = -1;
		}
		close(mapped[1]);
		errno = err;
	}
	if (pid != 0)
		return pid;
	if (ids) {
		char c;
		close(mapped[1]);
		if (read(mapped[0], &c, 1) != 1)
			_exit(NSINIT_EXIT_SETUP);
		close(mapped[0]);
	}
	// The jail dies with its client, even by SIGKILL. A client that died
	// before the parent-death signal was set has closed the last write end
	// of alive: getppid() cannot tell in a new PID namespace, where the
	// parent is 0.
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	close(alive[1]);
	struct pollfd p = {.fd = alive[0], .events = POLLIN};
	if (poll(&p, 1, 0) != 0)
		_exit(NSINIT_EXIT_SETUP);
	for (int i = 0; i < 3; i++)
		if (jail[i] >= 0 && dup2(jail[i], i) < 0)
			_exit(NSINIT_EXIT_SETUP);
	// Out of the way of 3 and 4 first, which any of them may hold now.
	exe = fcntl(exe, F_DUPFD_CLOEXEC, 10);
	syncfd = fcntl(syncfd, F_DUPFD_CLOEXEC, 10);
	lockfd = fcntl(lockfd, F_DUPFD_CLOEXEC, 10);
	if (exe < 0 || syncfd < 0 || lockfd < 0 || dup2(syncfd, SYNC_FD) < 0 ||
	    dup2(lockfd, NSINIT_LOCK_FD) < 0)
		_exit(NSINIT_EXIT_SETUP);
	// The name in the arguments tells ps(1) on the host which jail an
	// init belongs to, as with the Go launcher; nothing of the caller's
	// command line (host paths, --env values) reaches the jail's
	// /proc/1/cmdline.
	char *args[] = {"prison", NSINIT_SENTINEL, (char *)name, NULL};
	char *env[] = {NULL};
	syscall(SYS_execveat, exe, "", args, env, AT_EMPTY_PATH);
	int32_t msg[3] = {NSINIT_MSG_ERROR, NSINIT_OP_INIT, errno};
	nsinit_send(SYNC_FD, msg, sizeof(msg), -1);
	_exit(NSINIT_EXIT_SETUP);
}

// send_netns makes the jail's network namespace in the init's user
// namespace, so that the jail's root owns it, and sends it to the daemon
// (NSINIT_CLIENT_NETNS). Made by the init's clone, it would cost the
// init a millisecond before it even executes; made here, it comes while
// the init executes and mounts its root. A helper makes it: entering a
// user namespace is for good, and this process stays host root.
static void send_netns(int s, pid_t init)
{
	int32_t msg[2] = {NSINIT_CLIENT_NETNS, 0};
	pid_t h = fork();
	if (h == 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)init);
		int u = open(path, O_RDONLY | O_CLOEXEC), fd = -1;
		if (u >= 0 && setns(u, CLONE_NEWUSER) == 0 && unshare(CLONE_NEWNET) == 0)
			fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		msg[1] = fd < 0 ? -errno : 0;
		nsinit_send(s, msg, sizeof(msg), fd);
		_exit(0);
	}
	if (h < 0) {
		msg[1] = -errno;
		nsinit_send(s, msg, sizeof(msg), -1);
		return;
	}
	while (waitpid(h, NULL, 0) < 0 && errno == EINTR)
		;
}

// read_ids reads the jail's ids out of CLONE, m of n bytes, whose last is
// 0: every string in it ends inside it. -1: the maps a new user namespace
// needs are missing.
static int read_ids(const char *m, ssize_t n, struct idmap *ids)
{
	ids->uid = rd32(m + 16);
	ids->gid = rd32(m + 20);
	ids->has = rd32(m + 24);
	if (!(rd32(m + 4) & NSINIT_CLONE_USERNS))
		return 0;
	const char *end = m + n, *name = m + 32;
	ids->uid_map = name + strlen(name) + 1;
	if (ids->uid_map >= end)
		return -1;
	ids->gid_map = ids->uid_map + strlen(ids->uid_map) + 1;
	return ids->gid_map < end && ids->uid_map[0] && ids->gid_map[0] ? 0 : -1;
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
	int fds[MAX_FDS];
	ssize_t n = -1;
	if (send_request(s, argc, argv, envp, start) == 0)
		n = recv_msg(s, &m, fds);
	if (n >= 4 && rd32(m) == NSINIT_DAEMON_DONE)
		done(m, n);
	struct idmap ids = {0, 0, 0, NULL, NULL};
	if (n < 33 || rd32(m) != NSINIT_DAEMON_CLONE || m[n - 1] != 0 || fds[0] < 0 ||
	    fds[1] < 0 || fds[2] < 0 || ((rd32(m + 4) & NSINIT_CLONE_INTO_CGROUP) && fds[3] < 0) ||
	    read_ids(m, n, &ids) < 0) {
		// No daemon after all, or one that declines: nothing is made yet.
		for (int i = 0; i < MAX_FDS; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		free(m);
		close(s);
		return;
	}
	uint64_t flags;
	memcpy(&flags, m + 8, 8);
	int join = (rd32(m + 4) & NSINIT_CLONE_JOIN) != 0;
	int cgroup = (rd32(m + 4) & NSINIT_CLONE_INTO_CGROUP) ? fds[3] : -1;
	uint32_t how = rd32(m + 4);
	int userns = (how & NSINIT_CLONE_USERNS) != 0;
	const char *name = m + 32;
	// fds[1], the state lock, stays open until exit, here and in the init.
	int syncfd = fds[0], exe = fds[2];

	// Signals for the command are queued from here on and forwarded once
	// the init exists; SIGCHLD says it is gone.
	sigset_t set;
	sigemptyset(&set);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);

	struct relay *r[3] = {NULL, NULL, NULL};
	int jail[3] = {-1, -1, -1}, alive[2] = {-1, -1};
	pid_t pid = -1;
	if (sfd >= 0 && open_relays(r, jail) == 0 && chown_stdio(jail, &ids) == 0 &&
	    pipe2(alive, O_CLOEXEC) == 0)
		pid = spawn(flags, cgroup, syncfd, fds[1], exe, name, alive, jail, userns ? &ids : NULL);
	int32_t spawned[2] = {NSINIT_CLIENT_SPAWNED, pid < 0 ? -errno : pid};
	int pidfd = pid < 0 ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
	if (pid > 0 && pidfd < 0) {
		kill(pid, SIGKILL);
		spawned[1] = -errno;
	}
	free(m);
	close(syncfd);
	close(exe);
	if (fds[3] >= 0)
		close(fds[3]);
	close(alive[0]); // alive[1] stays open until exit
	for (int i = 0; i < 3; i++)
		if (jail[i] >= 0)
			close(jail[i]);
	if (nsinit_send(s, spawned, sizeof(spawned), pidfd) < 0 && pid > 0)
		kill(pid, SIGKILL);
	else if (pid > 0 && (how & NSINIT_CLONE_NETNS))
		send_netns(s, pid);
	if (pidfd >= 0)
		close(pidfd);
	// A reader of the caller's that went away ends that relay, not the
	// client.
	signal(SIGPIPE, SIG_IGN);

	char *fin = NULL;
	ssize_t finlen = 0;
	int status = 0, reaped = pid <= 0, gone = 0;
	long long deadline = 0;
	for (;;) {
		int relaying = 0, open_src = 0;
		for (int i = 1; i < 3; i++) {
			relaying |= r[i] && r[i]->dst >= 0;
			open_src |= r[i] && r[i]->dst >= 0 && !r[i]->eof;
		}
		if (reaped && gone && !relaying)
			break;
		// A jail that lives on (prison exec) may keep a process the
		// command left in the background, holding the pipes for good:
		// once the command is done, what it wrote has arrived within
		// RELAY_GRACE_MS. A relay whose source ended drains in full. A
		// new jail's end ends every writer: its relays drain in full,
		// however slow the caller's side.
		int timeout = -1;
		if (join && reaped && gone && open_src) {
			if (!deadline)
				deadline = now_ms() + RELAY_GRACE_MS;
			long long left = deadline - now_ms();
			if (left <= 0)
				break;
			timeout = (int)left;
		}
		if (reaped && r[0] && r[0]->dst >= 0)
			relay_close(r[0]); // nobody is left to read the jail's stdin
		struct pollfd p[8] = {{.fd = gone ? -1 : s, .events = POLLIN},
				      {.fd = reaped ? -1 : sfd, .events = POLLIN}};
		for (int i = 0; i < 3; i++)
			relay_poll(r[i], &p[2 + 2 * i], &p[3 + 2 * i]);
		if (poll(p, 8, timeout) < 0)
			continue;
		for (int i = 0; i < 3; i++)
			if (r[i] && (p[2 + 2 * i].revents || p[3 + 2 * i].revents))
				relay_step(r[i], p[2 + 2 * i].revents, p[3 + 2 * i].revents);
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
				if (!reaped) { // not expected: the daemon waits for REAPED
					waitpid(pid, &status, 0);
					reaped = 1;
				}
				fin = m;
				finlen = n;
			}
			gone = 1;
		}
	}
	// What the jail wrote is all out; now what prison run itself printed.
	if (fin)
		done(fin, finlen);
	// The daemon went away: the command's status is the init's (init.c),
	// and the next prison call removes the jail's host side.
	static const char msg[] = "prison: the daemon stopped while the jail ran; "
				  "its state is removed by the next prison call\n";
	write_all(2, msg, sizeof(msg) - 1);
	if (pid <= 0)
		_exit(NSINIT_EXIT_SETUP);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}
