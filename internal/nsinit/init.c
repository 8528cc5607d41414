// The jail side of prison's start path.
//
// Runs inside the jail's new namespaces, as a constructor of the prison binary,
// before the Go runtime starts: the launcher re-executes prison with the
// sentinel argument "__prison_init", and this code takes over and never returns
// into Go. Skipping the second Go runtime start is what makes a jail start as
// cheap as bubblewrap's (see docs/startpath.md for the numbers).
//
// The code is a small interpreter. The launcher (Go, prison/launch_linux.go)
// plans everything — which mounts, files, hostname, filter, capabilities — and
// sends the plan as one SOCK_SEQPACKET message on fd 3 (format: nsinit.go).
// This file executes the records in order and reports the index and errno of
// the first one that fails; the launcher turns that into a readable error.
// Keep it dumb: no policy lives here.
//
// Sequence on fd 3 (I = this init, L = launcher):
//
//	L -> I  plan
//	I       ops: make / private, mount root, mounts, files, pty, pivot_root, hostname
//	L       network (made ahead, and queued as NETNS for JOINNET)
//	L -> I  CGROUP [+ the jail's cgroup files]
//	I       into the jail's cgroup, cgroup namespace
//	I       bounding set, seccomp filter, capset
//	I -> L  READY [+ pty master fd]             or ERROR(op, errno)
//	L -> I  GO
//	I       fork
//	I -> L  STARTED [+ seccomp listener fd]
//	I(child)  setsid, ctty, stdio, uid/gid, cwd, execve
//	I(child) -> L  EXEC_FAILED(errno)           only when execve fails
//	I -> L  EXIT(wait status)                   I is PID 1: a reaper that forwards signals
//
// With an NSINIT_NOTIFY record (--userns host: inotify calls are notified),
// the filter goes in after GO instead: the command loads it, with the
// listener, and hands the listener back; the init starts the thread that
// answers it (serve_inotify), then loads the filter on itself, without a
// listener, and only then drops CAP_SYS_ADMIN; STARTED comes without a
// listener.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <net/if.h>
#include <linux/audit.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "nsinit.h"

#define SYNC_FD NSINIT_SYNC_FD

struct plan {
	char **argv, **envp;
	int argc, envc;
	const char *cwd;
	uint32_t uid, gid, ngroups;
	gid_t groups[NSINIT_MAX_GROUPS];
	uint64_t caps, ambient;
	uint32_t flags;
	const struct sock_filter *filter;
	uint32_t filter_len, filter_flags;
	// notify: NSINIT_NOTIFY's host ids, which answer the filter's
	// inotify calls.
	int notify;
	uint32_t notify_uid, notify_gid;
};

static int rootfd = -1;
// passed are the descriptors the command gets from 3 on (NSINIT_FDS),
// close-on-exec until then.
static int passed[NSINIT_MAX_PASSED_FDS], npassed;

// joined: this init holds a command that joins a running jail (prison
// exec), from outside the jail's PID namespace.
static int joined;
// The detached mounts the launcher made for NSINIT_ATTACH (MSG_MOUNTS),
// received at the first attach.
static int trees[NSINIT_MAX_MOUNT_FDS], ntrees = -1;
static int ptymaster = -1, ptyslave = -1;
// The init creates files with the plan's exact modes under umask 0, so that
// no mode needs fixing afterwards by path (a path in a --root that another
// jail can write may have become a symlink by then); the command gets the
// umask the init was started with.
static mode_t command_umask;

int nsinit_send(int sock, const void *msg, size_t len, int fd)
{
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n;
	while ((n = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	return n < 0 ? -1 : 0;
}

// sync_fd is SYNC_FD, but in a command given descriptors from 3 on
// (pass_fds), which moves it above them.
static int sync_fd = SYNC_FD;

static void send_msg(uint32_t type, int32_t a, int32_t b, int fd)
{
	int32_t msg[3] = {(int32_t)type, a, b};
	nsinit_send(sync_fd, msg, sizeof(msg), fd);
}

static _Noreturn void fail(int op, int err)
{
	send_msg(NSINIT_MSG_ERROR, op, err, -1);
	_exit(NSINIT_EXIT_SETUP);
}

// Open path below the jail's root without letting symlinks or ".." leave it:
// a --root directory belongs to the jail and may have been prepared by an
// earlier tenant (the same reason runc resolves targets with securejoin).
static int open_in_root(const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	do
		fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd;
}

// Split rel into its parent and its last element. A relative path's parent
// is opened in the jail's root; an absolute one is the host's, as for
// mount_path (before pivot_root: an overlay root's own layer).
static int open_parent(const char *rel, const char **base)
{
	const char *slash = strrchr(rel, '/');
	if (!slash) {
		*base = rel;
		return fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	}
	char dir[4096];
	size_t n = (size_t)(slash - rel);
	if (n >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, rel, n);
	dir[n] = 0;
	*base = slash + 1;
	if (rel[0] == '/')
		return open(n ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return open_in_root(n ? dir : ".", O_PATH | O_DIRECTORY);
}

// A path for mount(2): absolute paths are the host's (before pivot_root),
// relative ones are resolved in the jail's root and reached through
// /proc/self/fd, so the mount lands exactly on what was resolved.
static const char *mount_path(const char *p, char *buf, size_t len, int *fd)
{
	*fd = -1;
	if (p[0] == 0 || p[0] == '/' || rootfd < 0)
		return p[0] ? p : NULL;
	*fd = open_in_root(p, O_PATH);
	if (*fd < 0)
		return NULL;
	snprintf(buf, len, "/proc/self/fd/%d", *fd);
	return buf;
}

static int do_mount(const char *src, const char *dst, const char *fstype, uint64_t flags,
		    const char *data)
{
	char sbuf[64], dbuf[64];
	int sfd = -1, dfd = -1, r = -1, err = 0;
	const char *s = src[0] ? src : NULL;
	if (flags & MS_BIND && src[0])
		s = mount_path(src, sbuf, sizeof(sbuf), &sfd);
	const char *d = mount_path(dst, dbuf, sizeof(dbuf), &dfd);
	if ((flags & MS_BIND && src[0] && !s) || !d) {
		err = errno;
		goto out;
	}
	r = mount(s, d, fstype[0] ? fstype : NULL, (unsigned long)flags, data[0] ? data : NULL);
	err = errno;
out:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	errno = err;
	return r;
}

// A new filesystem through the mount API: each parameter is one fsconfig
// call, where mount(2)'s data is one page (an overlay of many layers).
// params holds n key\0value\0 pairs; an empty value is a flag.
static int do_fsmount(const char *fstype, const char *target, uint64_t attrs, uint32_t n,
		      const char *params)
{
	int fs = fsopen(fstype, FSOPEN_CLOEXEC), mnt = -1, tfd = -1, r = -1, err;
	if (fs < 0)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		const char *key = params, *val = key + strlen(key) + 1;
		params = val + strlen(val) + 1;
		if (fsconfig(fs, val[0] ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, key,
			     val[0] ? val : NULL, 0) < 0)
			goto out;
	}
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto out;
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, (unsigned int)attrs);
	if (mnt < 0)
		goto out;
	if (target[0] == '/') {
		r = move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
	} else if ((tfd = open_in_root(target, O_PATH)) >= 0) {
		r = move_mount(mnt, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	}
out:
	err = errno;
	close(fs);
	if (mnt >= 0)
		close(mnt);
	if (tfd >= 0)
		close(tfd);
	errno = err;
	return r;
}

static int do_mkdir(const char *rel, mode_t mode)
{
	const char *base;
	int dfd = open_parent(rel, &base);
	if (dfd < 0)
		return -1;
	int r = mkdirat(dfd, base, mode);
	if (r < 0 && errno == EEXIST) {
		struct stat st;
		r = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW);
		if (r == 0 && !S_ISDIR(st.st_mode)) {
			r = -1;
			errno = ENOTDIR;
		}
	}
	int err = errno;
	close(dfd);
	errno = err;
	return r;
}

static int do_mknod(const char *rel, mode_t mode, dev_t dev)
{
	const char *base;
	int dfd = open_parent(rel, &base);
	if (dfd < 0)
		return -1;
	int r = mknodat(dfd, base, mode, dev);
	int err = errno;
	close(dfd);
	errno = err;
	return r;
}

static int do_symlink(const char *target, const char *rel)
{
	const char *base;
	int dfd = open_parent(rel, &base);
	if (dfd < 0)
		return -1;
	int r = symlinkat(target, dfd, base);
	int err = errno;
	close(dfd);
	errno = err;
	return r;
}

static int do_write(const char *rel, uint32_t how, mode_t mode, const char *data, size_t len)
{
	const char *base;
	int dfd = open_parent(rel, &base);
	if (dfd < 0)
		return -1;
	struct stat st;
	if (how == NSINIT_WRITE_TOUCH && fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		// There already: a file to mount on need not be opened, which
		// a host file that only root may read (a masked secret) would
		// refuse a jail started without root.
		close(dfd);
		return 0;
	}
	int oflags = how == NSINIT_WRITE_TRUNC	? O_WRONLY | O_TRUNC
		     : how == NSINIT_WRITE_TOUCH ? O_RDONLY | O_CREAT
						 : O_WRONLY | O_CREAT | O_EXCL;
	int fd = openat(dfd, base, oflags | O_NOFOLLOW | O_CLOEXEC, mode);
	int err = errno;
	close(dfd);
	if (fd < 0) {
		errno = err;
		return -1;
	}
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			close(fd);
			errno = err;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return close(fd);
}

// pivot_root(".", ".") stacks the old root under the new one, and the
// detaching umount takes it away: no temporary directory is needed inside the
// jail's root (runc pivotRoot, crun do_pivot).
static int do_pivot(void)
{
	if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return -1;
	// Detach must not propagate to the host: / was made private first.
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return -1;
	close(rootfd);
	rootfd = -1;
	return 0;
}

static int do_pty(const char *rel, uint16_t rows, uint16_t cols)
{
	ptymaster = open_in_root(rel, O_RDWR | O_NOCTTY);
	if (ptymaster < 0)
		return -1;
	int unlock = 0;
	if (ioctl(ptymaster, TIOCSPTLCK, &unlock) < 0)
		return -1;
	// TIOCGPTPEER opens the slave through the master, never by a path that
	// the jail could have swapped (kernel 4.13).
	ptyslave = ioctl(ptymaster, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (ptyslave < 0)
		return -1;
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	return ioctl(ptyslave, TIOCSWINSZ, &ws);
}

// recv_fd reads the launcher's message of type want, which carries one
// descriptor: a namespace to enter, sent when it is ready.
// recv_fds receives the message want with up to max descriptors, into
// fds; it returns how many came, or -1 (EPIPE: the launcher is gone).
// Descriptors beyond max are a protocol error, closed by the kernel
// (MSG_CTRUNC).
static int recv_fds(int32_t want, int *fds, int max)
{
	int32_t msg[3];
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg)};
	union {
		char buf[CMSG_SPACE(NSINIT_MAX_MOUNT_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = CMSG_SPACE((size_t)max * sizeof(int))};
	ssize_t n;
	do
		n = recvmsg(SYNC_FD, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != sizeof(msg) || msg[0] != want) {
		errno = n == 0 ? EPIPE : EPROTO;
		return -1;
	}
	int got = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && got < max; i++)
			memcpy(&fds[got++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		while (got > 0)
			close(fds[--got]);
		errno = EMSGSIZE;
		return -1;
	}
	return got;
}

// recv_fd receives the message want with exactly one descriptor.
static int recv_fd(int32_t want)
{
	int fd;
	int got = recv_fds(want, &fd, 1);
	if (got == 0)
		errno = EPROTO;
	return got == 1 ? fd : -1;
}

// join_cgroup receives MSG_CGROUP and writes "0" to every cgroup file
// that came with it (v1 tasks files): this process moves itself. For a
// thread that moves itself the kernel skips its global threadgroup lock
// (cgroup_procs_write_start), and with it the RCU grace period, several
// milliseconds on a busy machine, that a pid written into cgroup.procs by
// the launcher costs. This process is single-threaded: the thread is the
// process.
static int join_cgroup(void)
{
	int fds[NSINIT_MAX_CGROUP_FDS];
	int n = recv_fds(NSINIT_MSG_CGROUP, fds, NSINIT_MAX_CGROUP_FDS);
	if (n < 0 && errno == EPIPE)
		_exit(NSINIT_EXIT_SETUP); // the launcher is gone or gave up
	int err = n < 0 ? errno : 0;
	for (int i = 0; i < n; i++) {
		if (!err && write(fds[i], "0", 1) != 1)
			err = errno;
		close(fds[i]);
	}
	errno = err;
	return err ? -1 : 0;
}

// setns_fd enters fd's namespaces and closes fd.
static int setns_fd(int fd, int nstype)
{
	if (fd < 0)
		return -1;
	int r = setns(fd, nstype);
	int err = errno;
	close(fd);
	errno = err;
	return r;
}

// The launcher makes the jail's network namespace while this init starts,
// so that the namespace's creation and the veth's setup are off the clone;
// it arrives here as MSG_NETNS with the namespace fd.
static int join_net(void) { return setns_fd(recv_fd(NSINIT_MSG_NETNS), CLONE_NEWNET); }

// An OCI spec's namespace to join by path (containerd's CRI gives every
// container of a pod the pod's network, IPC and UTS namespaces so). Opened
// here, before anything of the jail's exists: the path is the host's.
static int join_path(uint32_t nstype, const char *path)
{
	return setns_fd(open(path, O_RDONLY | O_CLOEXEC), (int)nstype);
}

// prison exec: enter a running jail's namespaces through a pidfd of its
// init (setns(2) takes several at once since 5.8), before the filter,
// which refuses setns, is loaded. Entering the mount namespace makes its
// root, the jail's, this process's root and working directory. The PID
// namespace applies to the children: the command forked after GO is in
// the jail; this process is not, and is never visible there.
static int join_jail(uint32_t nstype)
{
	if (setns_fd(recv_fd(NSINIT_MSG_JOIN), (int)nstype) < 0)
		return -1;
	return chdir("/");
}

// drop_groups sets the supplementary groups. A user namespace that a user
// without root mapped to their own ids alone denies setgroups (it says
// so in /proc/self/setgroups): there the groups stay the user's, and
// giving none is not an error. Anywhere else a refusal is one: a host
// group must never reach the jail.
static int drop_groups(size_t n, const gid_t *groups)
{
	if (setgroups(n, groups) == 0)
		return 0;
	if (errno != EPERM || n != 0)
		return -1;
	char buf[8] = "";
	int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
	ssize_t r = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (r > 0 && strncmp(buf, "deny", 4) == 0)
		return 0;
	errno = EPERM;
	return -1;
}

// become_root makes this process root of the jail's user namespace, all
// of its ids: cloned (or joined) by host root, it still has host uid 0 as
// its real and saved ids, which the jail's ids replace before anything
// of the jail's is touched; and no host group may stay in its groups.
static int become_root(void)
{
	if (drop_groups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return -1;
	return 0;
}

// attach moves the i-th detached mount of MSG_MOUNTS onto target: a tree
// the launcher cloned on the host (open_tree) and idmapped for the jail,
// where this process, root of the jail's user namespace only, could
// neither reach the source nor idmap it.
static int attach(uint32_t i, const char *target)
{
	if (ntrees < 0) {
		ntrees = recv_fds(NSINIT_MSG_MOUNTS, trees, NSINIT_MAX_MOUNT_FDS);
		if (ntrees < 0 && errno == EPIPE)
			_exit(NSINIT_EXIT_SETUP);
		if (ntrees < 0)
			return -1;
	}
	if (i >= (uint32_t)ntrees || trees[i] < 0) {
		errno = EBADF;
		return -1;
	}
	int r, tfd = -1;
	if (target[0] == '/') {
		r = move_mount(trees[i], "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
	} else if ((tfd = open_in_root(target, O_PATH)) >= 0) {
		r = move_mount(trees[i], "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	} else {
		r = -1;
	}
	int err = errno;
	if (tfd >= 0)
		close(tfd);
	close(trees[i]);
	trees[i] = -1;
	errno = err;
	return r;
}

// A jail without a network still has lo; bringing it up here is one ioctl,
// where the launcher would need a netlink socket in the jail's namespace.
static int loopback_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct ifreq ifr = {0};
	strcpy(ifr.ifr_name, "lo");
	int r = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (r == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	int err = errno;
	close(s);
	errno = err;
	return r;
}

static uint32_t rd32(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

// strs_ok says whether p[0..len) holds n NUL-terminated strings after skip
// bytes, and returns in *end where they end: the plan comes from the
// launcher, but a record that runs past its own length must fail, not read
// the next one.
static int strs_ok(const char *p, uint32_t len, uint32_t skip, int n, uint32_t *end)
{
	uint32_t o = skip;
	if (o > len)
		return 0;
	for (int i = 0; i < n; i++) {
		const char *z = memchr(p + o, 0, len - o);
		if (!z)
			return 0;
		o = (uint32_t)(z - p) + 1;
	}
	if (end)
		*end = o;
	return 1;
}

// Execute the plan's records in order; fill in the process settings.
static void run_plan(char *buf, size_t len, struct plan *pl)
{
	size_t off = 0;
	int idx = 0, nargs = 0, nenv = 0;
	// First pass checks every record's bounds and counts arguments and
	// environment entries for the arrays.
	for (size_t o = 0; o < len; idx++) {
		if (len - o < 8)
			fail(idx, EINVAL);
		uint32_t t = rd32(buf + o), l = rd32(buf + o + 4);
		uint64_t padded = ((uint64_t)l + 7) & ~(uint64_t)7;
		if (padded > len - o - 8)
			fail(idx, EINVAL);
		nargs += t == NSINIT_ARG;
		nenv += t == NSINIT_ENV;
		o += 8 + (size_t)padded;
	}
	pl->argv = calloc((size_t)nargs + 1, sizeof(char *));
	pl->envp = calloc((size_t)nenv + 1, sizeof(char *));
	if (!pl->argv || !pl->envp)
		fail(-1, ENOMEM);
	for (idx = 0; off < len; idx++) {
		uint32_t t = rd32(buf + off), l = rd32(buf + off + 4);
		char *p = buf + off + 8;
		off += 8 + (size_t)((((uint64_t)l + 7) & ~(uint64_t)7));
		uint32_t end = 0;
		int ok = 1, r = 0;
		switch (t) {
		case NSINIT_MOUNT:
			ok = strs_ok(p, l, 8, 4, NULL);
			break;
		case NSINIT_FSMOUNT:
			ok = l >= 16 && rd32(p + 8) <= l / 2 &&
			     strs_ok(p, l, 16, 2 + 2 * (int)rd32(p + 8), NULL);
			break;
		case NSINIT_MKDIR:
		case NSINIT_PTY:
		case NSINIT_ATTACH:
		case NSINIT_SETNS:
			ok = strs_ok(p, l, 4, 1, NULL);
			break;
		case NSINIT_MKNOD:
			ok = strs_ok(p, l, 12, 1, NULL);
			break;
		case NSINIT_SYMLINK:
			ok = strs_ok(p, l, 0, 2, NULL);
			break;
		case NSINIT_WRITE:
			ok = strs_ok(p, l, 8, 1, &end);
			break;
		case NSINIT_ROOT:
		case NSINIT_HOSTNAME:
		case NSINIT_ARG:
		case NSINIT_ENV:
		case NSINIT_CWD:
			ok = strs_ok(p, l, 0, 1, NULL);
			break;
		case NSINIT_USER:
			ok = l >= 12 && rd32(p + 8) <= NSINIT_MAX_GROUPS && l >= 12 + 4 * rd32(p + 8);
			break;
		case NSINIT_CAPS:
			ok = l >= 8;
			break;
		case NSINIT_FDS:
			ok = l >= 4 && rd32(p) >= 1 && rd32(p) <= NSINIT_MAX_PASSED_FDS;
			break;
		case NSINIT_FLAGS:
		case NSINIT_JOIN:
		case NSINIT_UMASK:
			ok = l >= 4;
			break;
		case NSINIT_RLIMIT:
			ok = l >= 24;
			break;
		case NSINIT_NOTIFY:
			ok = l >= 8;
			break;
		case NSINIT_FILTER:
			// The kernel takes at most BPF_MAXINSNS instructions, in an
			// unsigned short: a longer program must not be truncated.
			ok = l >= 8 && (l - 8) % sizeof(struct sock_filter) == 0 &&
			     (l - 8) / sizeof(struct sock_filter) <= BPF_MAXINSNS;
			break;
		}
		if (!ok)
			fail(idx, EINVAL);
		switch (t) {
		case NSINIT_MOUNT: {
			uint64_t flags = rd64(p);
			char *src = p + 8, *dst = src + strlen(src) + 1;
			char *fstype = dst + strlen(dst) + 1, *data = fstype + strlen(fstype) + 1;
			r = do_mount(src, dst, fstype, flags, data);
			break;
		}
		case NSINIT_FSMOUNT: {
			char *fstype = p + 16, *target = fstype + strlen(fstype) + 1;
			r = do_fsmount(fstype, target, rd64(p), rd32(p + 8), target + strlen(target) + 1);
			break;
		}
		case NSINIT_ROOT:
			rootfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
			r = rootfd < 0 ? -1 : 0;
			break;
		case NSINIT_MKDIR:
			r = do_mkdir(p + 4, (mode_t)rd32(p));
			break;
		case NSINIT_MKNOD:
			r = do_mknod(p + 12, (mode_t)rd32(p), (dev_t)rd64(p + 4));
			break;
		case NSINIT_SYMLINK:
			r = do_symlink(p, p + strlen(p) + 1);
			break;
		case NSINIT_WRITE:
			r = do_write(p + 8, rd32(p), (mode_t)rd32(p + 4), p + end, l - end);
			break;
		case NSINIT_PTY:
			r = do_pty(p + 4, (uint16_t)(rd32(p) >> 16), (uint16_t)rd32(p));
			break;
		case NSINIT_PIVOT:
			r = do_pivot();
			break;
		case NSINIT_JOINNET:
			r = join_net();
			break;
		case NSINIT_JOIN:
			r = join_jail(rd32(p));
			joined = 1;
			break;
		case NSINIT_SETNS:
			r = join_path(rd32(p), p + 4);
			break;
		case NSINIT_LOOPBACK:
			r = loopback_up();
			break;
		case NSINIT_USERNS:
			r = become_root();
			break;
		case NSINIT_ATTACH:
			r = attach(rd32(p), p + 4);
			break;
		case NSINIT_HOSTNAME:
			r = sethostname(p, strlen(p));
			break;
		case NSINIT_ARG:
			pl->argv[pl->argc++] = p;
			break;
		case NSINIT_ENV:
			pl->envp[pl->envc++] = p;
			break;
		case NSINIT_CWD:
			pl->cwd = p;
			break;
		case NSINIT_USER:
			pl->uid = rd32(p);
			pl->gid = rd32(p + 4);
			pl->ngroups = rd32(p + 8);
			for (uint32_t i = 0; i < pl->ngroups; i++)
				pl->groups[i] = rd32(p + 12 + 4 * i);
			break;
		case NSINIT_CAPS:
			pl->caps = rd64(p);
			if (l >= 16)
				pl->ambient = rd64(p + 8);
			break;
		case NSINIT_FLAGS:
			pl->flags = rd32(p);
			break;
		case NSINIT_UMASK:
			command_umask = (mode_t)(rd32(p) & 0777);
			break;
		case NSINIT_FDS:
			npassed = recv_fds(NSINIT_MSG_FDS, passed, (int)rd32(p));
			r = npassed == (int)rd32(p) ? 0 : -1;
			if (npassed >= 0 && r < 0)
				errno = EPROTO;
			break;
		case NSINIT_RLIMIT: {
			// Set here, in the init, so that the command inherits it;
			// a hard limit above the current one needs
			// CAP_SYS_RESOURCE, and fails the jail rather than running it
			// with less than its spec says.
			struct rlimit rl = {.rlim_cur = rd64(p + 8), .rlim_max = rd64(p + 16)};
			r = setrlimit((int)rd32(p), &rl);
			break;
		}
		case NSINIT_FILTER:
			pl->filter_flags = rd32(p);
			pl->filter_len = (l - 8) / sizeof(struct sock_filter);
			pl->filter = (const struct sock_filter *)(p + 8);
			break;
		case NSINIT_NOTIFY:
			pl->notify = 1;
			pl->notify_uid = rd32(p);
			pl->notify_gid = rd32(p + 4);
			break;
		default:
			fail(idx, EINVAL);
		}
		if (r < 0)
			fail(idx, errno);
	}
}

static void drop_bounding(uint64_t keep)
{
	for (int c = 0; c <= 63; c++) {
		if (keep & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			fail(NSINIT_OP_CAPS, errno);
	}
}

static int set_caps_inh(uint64_t keep, uint64_t inh)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {
		{.effective = (uint32_t)keep, .permitted = (uint32_t)keep, .inheritable = (uint32_t)inh},
		{.effective = (uint32_t)(keep >> 32), .permitted = (uint32_t)(keep >> 32), .inheritable = (uint32_t)(inh >> 32)},
	};
	return (int)syscall(SYS_capset, &h, d);
}

static int set_caps(uint64_t keep) { return set_caps_inh(keep, 0); }

// What the init keeps beyond the jail's capabilities until its command
// has its ids: setgroups, setresgid and setresuid need them, and a spec
// may give the command neither.
#define SETID_CAPS ((1ULL << CAP_SETUID) | (1ULL << CAP_SETGID))

// search tries the command at each place the shell would, with the
// jail's PATH, until try returns 0; it returns 0, or the errno to report:
// ENOENT when every place lacked it (not found), else the last other error
// (cannot execute).
static int search(struct plan *pl, int (*try)(struct plan *, const char *))
{
	const char *file = pl->argv[0];
	if (strchr(file, '/'))
		return try(pl, file);
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (int i = 0; i < pl->envc; i++)
		if (strncmp(pl->envp[i], "PATH=", 5) == 0)
			path = pl->envp[i] + 5;
	int err = ENOENT;
	char buf[4096];
	while (*path) {
		const char *end = strchrnul(path, ':');
		size_t n = (size_t)(end - path);
		if (n + strlen(file) + 2 < sizeof(buf)) {
			memcpy(buf, path, n);
			if (n == 0)
				buf[n++] = '.';
			buf[n] = '/';
			strcpy(buf + n + 1, file);
			int r = try(pl, buf);
			if (r == 0)
				return 0;
			if (r != ENOENT && r != ENOTDIR)
				err = r;
		}
		path = *end ? end + 1 : end;
	}
	return err;
}

static int try_exec(struct plan *pl, const char *path)
{
	execve(path, pl->argv, pl->envp);
	return errno;
}

// try_lookup: what execve of path would say, short of executing it.
static int try_lookup(struct plan *pl, const char *path)
{
	(void)pl;
	struct stat st;
	if (stat(path, &st) < 0)
		return errno;
	return S_ISREG(st.st_mode) && access(path, X_OK) == 0 ? 0 : EACCES;
}

// Runs in the command's process: becomes the jail's user and execs.
// pass_fds gives the command the descriptors the launcher's caller
// passed (runc's --preserve-fds: systemd's socket activation) as 3 to
// 3+n-1, where the sync socket and the lock are: the socket moves above
// them, for the exec failure's report; the lock's copy is not needed
// here. Each goes up first, so that none is overwritten before it moved.
static int pass_fds(void)
{
	int top = 3 + npassed;
	if ((sync_fd = fcntl(SYNC_FD, F_DUPFD_CLOEXEC, top)) < 0)
		return -1;
	for (int i = 0; i < npassed; i++) {
		int fd = fcntl(passed[i], F_DUPFD_CLOEXEC, top);
		if (fd < 0)
			return -1;
		close(passed[i]);
		passed[i] = fd;
	}
	for (int i = 0; i < npassed; i++)
		if (dup2(passed[i], 3 + i) < 0) // without FD_CLOEXEC: the command's
			return -1;
	return 0;
}

static _Noreturn void exec_command(struct plan *pl)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int i = 0; i < 3; i++) {
		if (!(pl->flags & (NSINIT_FLAG_NULL0 << i)))
			continue;
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, i) < 0)
			fail(NSINIT_OP_EXEC, errno);
		close(null);
	}
	if (npassed > 0 && pass_fds() < 0)
		fail(NSINIT_OP_EXEC, errno);
	// A new session: the command has no controlling terminal of the
	// caller's, so TIOCSTI has nothing to inject into.
	if (setsid() < 0)
		fail(NSINIT_OP_EXEC, errno);
	if (ptyslave >= 0) {
		if (ioctl(ptyslave, TIOCSCTTY, 0) < 0)
			fail(NSINIT_OP_EXEC, errno);
		for (int i = 0; i < 3; i++)
			if (dup2(ptyslave, i) < 0)
				fail(NSINIT_OP_EXEC, errno);
		close(ptyslave);
		close(ptymaster);
	}
	// Always, for root too: whatever groups and ids the caller of prison
	// had (setpriv --groups, --regid) must not reach the jail.
	if (pl->ambient && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail(NSINIT_OP_CAPS, errno);
	if (drop_groups(pl->ngroups, pl->groups) < 0 || setresgid(pl->gid, pl->gid, pl->gid) < 0 ||
	    setresuid(pl->uid, pl->uid, pl->uid) < 0)
		fail(NSINIT_OP_USER, errno);
	// Now the jail's own set: without the init's SETID_CAPS, and, for an
	// OCI spec's ambient capabilities, the ones an ordinary user's
	// command keeps across its execve. An ordinary user without them
	// has none left: setresuid cleared them.
	if (pl->uid == 0 || pl->ambient) {
		if (set_caps_inh(pl->caps, pl->ambient) < 0)
			fail(NSINIT_OP_CAPS, errno);
		for (int c = 0; c < 64; c++)
			if ((pl->ambient >> c & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
				fail(NSINIT_OP_CAPS, errno);
	}
	umask(command_umask);
	if (pl->cwd && chdir(pl->cwd) < 0)
		fail(NSINIT_OP_CWD, errno);
	if (pl->flags & NSINIT_FLAG_NNP && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(NSINIT_OP_FILTER, errno);

	// ENOENT from every place PATH names is "not found" (127), anything
	// else "cannot execute" (126), as in sh(1).
	int err = search(pl, try_exec);
	send_msg(NSINIT_MSG_EXEC_FAILED, err, 0, -1);
	_exit(err == ENOENT ? 127 : 126);
}

// PID 1 of the jail: forwards the launcher's signals to the command (PID 1
// ignores signals it has no handler for, so the command must not be PID 1
// for SIGTERM to work), reaps every orphan, and reports the command's status.
// A signal queued with NSINIT_BROADCAST goes to every process of the jail
// instead (prison kill, prison stop); from inside, root could do as much.
// For prison exec this runs outside the jail's PID namespace, holding the
// joined command: there is no jail to broadcast to.
static _Noreturn void reap(pid_t cmd, uint32_t flags)
{
	sigset_t all;
	sigfillset(&all);
	int pid1 = getpid() == 1, adopted = 0;
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			if (si.si_code == SI_QUEUE && si.si_value.sival_int == NSINIT_BROADCAST) {
				if (pid1)
					kill(-1, sig);
			} else if (cmd > 0) {
				kill(cmd, sig);
			}
			continue;
		}
		int status;
		pid_t p;
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			adopted = 1;
			if (p != cmd)
				continue;
			send_msg(NSINIT_MSG_EXIT, status, 0, -1);
			if (flags & NSINIT_FLAG_PERSIST) {
				cmd = 0;
				continue;
			}
			// Our exit kills what is left in the jail. Its status
			// is the command's as a shell reports it, for a parent
			// whose launcher is gone (client.c).
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		}
		// A jail created without a command or persist lives as long as
		// the processes started in it (FreeBSD nopersist).
		if (p < 0 && errno == ECHILD && cmd == 0 && adopted && !(flags & NSINIT_FLAG_PERSIST))
			_exit(0);
	}
}

// await_go waits for the launcher's GO. A jail created to start later
// (OCI create) first gets PARK with the launcher's end of this socket,
// which it keeps, and says where; prison start takes that end and sends
// GO on it, which closes it again; it returns 1 then, 0 after a plain GO,
// -1 when the launcher is gone. The command never holds either end
// (both are close-on-exec), and this process is not dumpable: root inside
// cannot take them.
static int await_go(void)
{
	int parked = -1;
	for (;;) {
		int32_t msg[3] = {0};
		struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg)};
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				    .msg_controllen = sizeof(u.buf)};
		ssize_t n;
		do
			n = recvmsg(SYNC_FD, &mh, MSG_CMSG_CLOEXEC);
		while (n < 0 && errno == EINTR);
		int fd = -1;
		struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
		if (n >= 4 && msg[0] == NSINIT_MSG_PARK && fd >= 0 && parked < 0 &&
		    !(mh.msg_flags & MSG_CTRUNC)) {
			parked = fd;
			send_msg(NSINIT_MSG_PARK, parked, 0, -1);
			continue;
		}
		if (fd >= 0)
			close(fd);
		if (parked >= 0)
			close(parked);
		if (n < 4 || msg[0] != NSINIT_MSG_GO)
			return -1;
		return parked >= 0;
	}
}

// The jail's inotify instances (--userns host, issue 9). The kernel counts
// an instance against the effective uid that makes it
// (fs.inotify.max_user_instances), and root inside is host uid 0 in this
// mode: a jail would take host root's instances. So the filter notifies
// inotify_init and inotify_init1, and a thread of the init answers them
// with an instance it makes itself, as the host uid the launcher gave the
// jail (NSINIT_NOTIFY), which no host user and no other jail has, and
// installs it in the caller. The watches stay the caller's own calls,
// checked with its permissions; the kernel counts them against the
// instance's maker, so against that uid too.
//
// A thread, not a process: it takes no process slot in the jail (ps shows
// none, and a jail without a command still ends with its last process),
// and it shares PID 1's protection: no signal from inside the jail reaches
// it, and PID 1 is not dumpable, so root inside (no CAP_SYS_PTRACE) can
// neither trace it nor write its memory. It runs without the jail's filter
// (its own inotify_init1 would be notified to itself), under one of its
// own that allows only the calls its loop makes.
#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

struct supervisor {
	int listener;
	uint32_t uid, gid;
	int ready; // the write end of a pipe: one byte, 0 or the errno that stopped it
};

// confine_supervisor gives the calling thread its ids, no capabilities,
// and a filter of its own.
static int confine_supervisor(const struct supervisor *s)
{
	// Raw calls: glibc's would change every thread of the init.
	if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0 ||
	    syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0 || set_caps(0) < 0)
		return -1;
	// A change of the effective uid sets the dumpable flag to
	// fs.suid_dumpable; the init's must stay 0.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -1;
#ifdef NATIVE_AUDIT_ARCH
	// What serve_inotify calls, and its end (glibc's futex if a lock of
	// its is contended); anything else fails with ENOSYS.
	static const uint32_t calls[] = {SYS_ioctl, SYS_ppoll, SYS_inotify_init1, SYS_close, SYS_write,
					 SYS_futex, SYS_exit, SYS_rt_sigreturn, SYS_restart_syscall};
	enum { N = sizeof(calls) / sizeof(calls[0]) };
	struct sock_filter f[N + 6] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	};
	for (int i = 0; i < N; i++) // to the last instruction, ALLOW, when it matches
		f[4 + i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, calls[i], (uint8_t)(N - i), 0);
	f[4 + N] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
	f[5 + N] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {.len = N + 6, .filter = f};
	// no_new_privs is the thread's own, and the thread never executes.
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -1;
#endif
	return 0;
}

// answer_inotify answers one notification: with the new instance's number
// in the caller (SECCOMP_ADDFD_FLAG_SEND installs it and answers at once),
// or with an errno: EINVAL for flags inotify_init1 does not take (it
// reads them as an int), the kernel's (EMFILE at the uid's
// max_user_instances), the caller's (EMFILE at its RLIMIT_NOFILE).
static void answer_inotify(int listener, const struct seccomp_notif *req)
{
	int err = 0;
	uint32_t flags = 0;
#ifdef NATIVE_AUDIT_ARCH
	if (req->data.arch != NATIVE_AUDIT_ARCH)
		err = ENOSYS;
	else
#endif
	    if (req->data.nr == SYS_inotify_init1)
		flags = (uint32_t)req->data.args[0];
#ifdef SYS_inotify_init
	else if (req->data.nr == SYS_inotify_init)
		flags = 0;
#endif
	else
		err = ENOSYS;
	if (!err && (flags & ~(uint32_t)(IN_NONBLOCK | IN_CLOEXEC)))
		err = EINVAL;
	if (!err) {
		int fd = inotify_init1(IN_CLOEXEC | (int)(flags & IN_NONBLOCK));
		if (fd < 0) {
			err = errno;
		} else {
			struct seccomp_notif_addfd add = {
				.id = req->id,
				.flags = SECCOMP_ADDFD_FLAG_SEND,
				.srcfd = (uint32_t)fd,
				.newfd_flags = flags & IN_CLOEXEC, // O_CLOEXEC's value
			};
			int r = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
			err = r < 0 ? errno : 0;
			close(fd);
			if (r >= 0 || err == ENOENT) // answered, or the caller is gone
				return;
		}
	}
	struct seccomp_notif_resp resp = {.id = req->id, .error = -err};
	ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp); // ENOENT: the caller is gone
}

// serve_inotify is the thread: it answers until every process using the
// filter is gone (the listener hangs up), then ends.
static void *serve_inotify(void *arg)
{
	struct supervisor s = *(struct supervisor *)arg;
	prctl(PR_SET_NAME, "prison-inotify", 0, 0, 0);
	unsigned char st = confine_supervisor(&s) < 0 ? (unsigned char)errno : 0;
	int ready = s.ready;
	ssize_t n;
	while ((n = write(ready, &st, 1)) < 0 && errno == EINTR)
		;
	close(ready);
	for (; st == 0;) {
		struct pollfd p = {.fd = s.listener, .events = POLLIN};
		if (ppoll(&p, 1, NULL, NULL) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
			break;
		struct seccomp_notif req;
		memset(&req, 0, sizeof(req)); // the kernel insists
		if (ioctl(s.listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
			if (errno == EINTR || errno == ENOENT) // the caller was interrupted or died
				continue;
			break;
		}
		answer_inotify(s.listener, &req);
	}
	// Once nobody answers, the notified calls fail with ENOSYS.
	close(s.listener);
	return NULL;
}

// start_supervisor starts serve_inotify with listener, which it takes, and
// waits until the thread has its ids and filter. Preconditions: this is
// the init, before it loads its own filter (the thread would inherit it).
static int start_supervisor(int listener, uint32_t uid, uint32_t gid)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(listener);
		return -1;
	}
	static struct supervisor s;
	s = (struct supervisor){.listener = listener, .uid = uid, .gid = gid, .ready = p[1]};
	pthread_attr_t a;
	pthread_t t;
	int err = pthread_attr_init(&a);
	if (!err)
		err = pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (!err)
		err = pthread_attr_setstacksize(&a, 128 << 10);
	if (!err)
		err = pthread_create(&t, &a, serve_inotify, &s);
	if (err) {
		close(p[0]);
		close(p[1]);
		close(listener);
		errno = err;
		return -1;
	}
	unsigned char st = EPROTO;
	ssize_t n;
	while ((n = read(p[0], &st, 1)) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (n != 1 || st) {
		errno = n == 1 ? st : EPROTO;
		return -1;
	}
	return 0;
}

// recv_listener receives the listener the command sends over sock; -1
// when the command died first.
static int recv_listener(int sock)
{
	char b;
	struct iovec iov = {.iov_base = &b, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	int fd = -1;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

// rejoin_own_pidns has this process's children, and threads, start in
// its own PID namespace again.
static int rejoin_own_pidns(void)
{
	return setns_fd((int)syscall(SYS_pidfd_open, getpid(), 0), CLONE_NEWPID);
}

// load_filter installs the plan's filter on the calling thread; with
// SECCOMP_FILTER_FLAG_NEW_LISTENER it returns the listener.
static int load_filter(const struct plan *pl, uint32_t flags)
{
	struct sock_fprog prog = {.len = (unsigned short)pl->filter_len, .filter = (struct sock_filter *)pl->filter};
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

int nsinit_run_init(void)
{
	// Only 0-2, the sync socket and the state lock are meant for this
	// process: whatever else the launcher's caller left open without
	// close-on-exec came along through both execs, and must not reach the
	// jail (CVE-2024-21626). Neither socket nor lock may reach the command.
	if (syscall(SYS_close_range, NSINIT_LOCK_FD + 1, ~0U, 0) < 0 ||
	    fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC) < 0 ||
	    (fcntl(NSINIT_LOCK_FD, F_SETFD, FD_CLOEXEC) < 0 && errno != EBADF))
		return NSINIT_EXIT_SETUP;
	command_umask = umask(0);
	// This process is the prison binary until the command's exec, and the
	// reaper stays it for the jail's life: not dumpable, so that root inside
	// (no CAP_SYS_PTRACE) can neither ptrace it nor open /proc/1/exe, the
	// host's binary (CVE-2019-5736). The command's execve makes the command
	// dumpable again, as usual.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return NSINIT_EXIT_SETUP;
	// Executed as /proc/self/exe, this process would show as "exe" in the
	// jail's ps; the reaper it becomes is better named for what it is.
	prctl(PR_SET_NAME, "prison-init", 0, 0, 0);
	// A jail starts like a booted system, whatever its launcher's caller
	// ignored (nohup, a shell's trap ''): ignored dispositions survive fork
	// and exec, and an ignored SIGCHLD would even have the kernel reap the
	// command before this reaper could report its status. The Go launcher
	// resets what Go catches; the daemon's client passes the caller's on.
	// Raw rt_sigaction: glibc's signal() refuses its own real-time signals
	// (32 and 33), which a caller can have ignored all the same.
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		uint64_t mask;
	} dfl = {.handler = SIG_DFL};
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			syscall(SYS_rt_sigaction, s, &dfl, NULL, sizeof(dfl.mask));
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);

	ssize_t n = recv(SYNC_FD, NULL, 0, MSG_PEEK | MSG_TRUNC);
	if (n <= 0)
		return NSINIT_EXIT_SETUP;
	char *buf = malloc((size_t)n + 8);
	if (!buf || recv(SYNC_FD, buf, (size_t)n, 0) != n)
		return NSINIT_EXIT_SETUP;
	struct plan pl = {0};
	run_plan(buf, (size_t)n, &pl);
	for (int i = 0; i < ntrees; i++)
		if (trees[i] >= 0)
			close(trees[i]); // sent, never attached: not the jail's to hold

	// Into the jail's cgroup before anything of the jail's runs, and the
	// cgroup namespace made there rather than by the clone: its root is
	// the cgroup it is made in. Before the filter, which refuses unshare.
	if (pl.flags & NSINIT_FLAG_CGROUP) {
		if (join_cgroup() < 0)
			fail(NSINIT_OP_CGROUP, errno);
		if ((pl.flags & NSINIT_FLAG_CGROUPNS) && unshare(CLONE_NEWCGROUP) < 0)
			fail(NSINIT_OP_CGROUPNS, errno);
	}

	// The bounding set goes first (it needs CAP_SETPCAP), the filter while
	// CAP_SYS_ADMIN is still held (no no_new_privs by default, so that su
	// works inside), the capability sets last (runc standard_init_linux.go).
	// All of it before READY: while the launcher finishes the host side,
	// not after its GO.
	drop_bounding(pl.caps);
	// served: this init answers the filter's notifications (NSINIT_NOTIFY),
	// on a thread that must not inherit the filter, so the filter goes in
	// after GO; meanwhile nothing of the jail's runs, and the init keeps
	// CAP_SYS_ADMIN, which loading it without no_new_privs needs.
	int served = pl.notify && pl.filter_len && (pl.filter_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER);
	int listener = -1;
	if (pl.filter_len && !served) {
		listener = load_filter(&pl, pl.filter_flags);
		if (listener < 0)
			fail(NSINIT_OP_FILTER, errno);
		if (!(pl.filter_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER))
			listener = -1;
	}
	if (set_caps(pl.caps | SETID_CAPS | (served ? 1ULL << CAP_SYS_ADMIN : 0)) < 0)
		fail(NSINIT_OP_CAPS, errno);

	if ((pl.flags & NSINIT_FLAG_LOOKUP) && pl.argc > 0) {
		int err = search(&pl, try_lookup);
		if (err) {
			send_msg(NSINIT_MSG_EXEC_FAILED, err, 0, -1);
			_exit(err == ENOENT ? 127 : 126);
		}
	}
	send_msg(NSINIT_MSG_READY, 0, 0, ptymaster);
	if (ptymaster >= 0) {
		close(ptymaster);
		ptymaster = -1;
	}
	int parked = await_go();
	if (parked < 0)
		_exit(NSINIT_EXIT_SETUP); // the launcher is gone or gave up

	// In a PID namespace not its own (an OCI container in its pod's),
	// this process is not PID 1: the jail's orphans would go to the
	// namespace's, and escape the reaping and the status reported here.
	if (!joined && getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		fail(NSINIT_OP_EXEC, errno);

	// A persistent jail may start with no command (prison create).
	pid_t cmd = 0;
	int sp[2] = {-1, -1}; // served: the command's listener comes back on it
	if (served && pl.argc > 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		fail(NSINIT_OP_FILTER, errno);
	if (pl.argc > 0) {
		cmd = fork();
		if (cmd < 0)
			fail(NSINIT_OP_EXEC, errno);
		if (cmd == 0) {
			if (listener >= 0)
				close(listener);
			// A joining command dies with its holder, which is
			// what its caller signals (containerd kills an exec's
			// pid): orphaned, it would live on in the jail.
			if (joined && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
				fail(NSINIT_OP_EXEC, errno);
			if (served) {
				// The command's filter is the one with the listener:
				// every process of the jail descends from it.
				close(sp[0]);
				int l = load_filter(&pl, pl.filter_flags);
				if (l < 0 || nsinit_send(sp[1], "L", 1, l) < 0)
					fail(NSINIT_OP_FILTER, errno);
				close(l);
				close(sp[1]);
				if (set_caps(pl.caps | SETID_CAPS) < 0)
					fail(NSINIT_OP_CAPS, errno);
			}
			exec_command(&pl);
		}
	}
	if (served) {
		if (cmd > 0) {
			close(sp[1]);
			int l = recv_listener(sp[0]); // -1: the command failed, and says so
			close(sp[0]);
			// A joining init's children are in the jail's PID
			// namespace, its own threads must be in its own
			// (clone(2) refuses CLONE_THREAD otherwise): back to it
			// for the thread's sake, now that the command is forked.
			if (l >= 0 && joined && rejoin_own_pidns() < 0) {
				close(l);
				fail(NSINIT_OP_NOTIFY, errno);
			}
			if (l >= 0 && start_supervisor(l, pl.notify_uid, pl.notify_gid) < 0)
				fail(NSINIT_OP_NOTIFY, errno);
		}
		// Its own inotify calls, which it never makes, fail with ENOSYS.
		if (load_filter(&pl, pl.filter_flags & ~(uint32_t)SECCOMP_FILTER_FLAG_NEW_LISTENER) < 0)
			fail(NSINIT_OP_FILTER, errno);
		if (set_caps(pl.caps | SETID_CAPS) < 0)
			fail(NSINIT_OP_CAPS, errno);
	}
	// The command's alone: a pipe it was passed ends with it.
	for (int i = 0; i < npassed; i++)
		close(passed[i]);
	send_msg(NSINIT_MSG_STARTED, cmd, 0, listener);
	if (parked)
		// prison start reads the command's exec failure, or the end of
		// the socket once the command's execve closed its copy: no one
		// reads what this process would send later.
		close(SYNC_FD);
	if (listener >= 0)
		close(listener);
	if (ptyslave >= 0)
		close(ptyslave);
	// The reaper keeps no handle on the caller's stdio: when the command is
	// done, the pipes close.
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; i < 3; i++)
		if (null < 0 || dup2(null, i) < 0)
			close(i);
	reap(cmd, pl.flags);
}

// oci_name tells whether the binary was called as prison-oci.
static int oci_name(const char *argv0)
{
	const char *base = strrchr(argv0, '/');
	return strcmp(base ? base + 1 : argv0, NSINIT_OCI_NAME) == 0;
}

// relay copies fd 0 to fd 1 until the end of either. The end of the
// jail's side is watched too, not only met by the next write: a relay
// of a terminal's input would otherwise wait on the terminal after the
// command is gone, and take the next line typed there from the shell.
static _Noreturn void relay(void)
{
	static char buf[65536];
	for (;;) {
		struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = 1, .events = 0}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(0);
		}
		if (p[1].revents & (POLLERR | POLLHUP))
			_exit(0); // no reader left
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(1, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				_exit(0);
			off += w;
		}
	}
}

__attribute__((constructor)) static void nsinit(int argc, char **argv, char **envp)
{
	if (argc == 2 && strcmp(argv[1], NSINIT_RELAY) == 0)
		relay();
	if (argc >= 2 && (strcmp(argv[1], NSINIT_RUN_VERB) == 0 || strcmp(argv[1], NSINIT_EXEC_VERB) == 0) &&
	    !oci_name(argv[0]))
		nsinit_client(argc, argv, envp);
	if (argc < 2 || strcmp(argv[1], NSINIT_SENTINEL) != 0)
		return;
	if (argc >= 4 && strcmp(argv[3], NSINIT_AWAIT_MAP) == 0) {
		// Executed before its ids were mapped, this process is nobody
		// in its user namespace and has no capabilities; once they are,
		// executing again makes it root there.
		char c;
		ssize_t n;
		while ((n = read(NSINIT_AWAIT_FD, &c, 1)) < 0 && errno == EINTR)
			;
		if (n != 1)
			_exit(NSINIT_EXIT_SETUP);
		close(NSINIT_AWAIT_FD);
		argv[3] = NULL;
		execve("/proc/self/exe", argv, envp);
		_exit(NSINIT_EXIT_SETUP);
	}
	_exit(nsinit_run_init());
}
