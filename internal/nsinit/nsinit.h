// Wire constants shared by init.c and nsinit.go: the one definition of the
// plan format and the sync messages.
#ifndef PRISON_NSINIT_H
#define PRISON_NSINIT_H

#include <stddef.h>

#define NSINIT_SENTINEL "__prison_init"
// The binary called with this first argument copies fd 0 to fd 1 until
// either ends: the host's side of a detached jail's stdio that is not a
// pipe (prison/stdio.go), which the jail must never hold itself.
#define NSINIT_RELAY "__prison_relay"
// After the jail's name: the init of a jail started without root waits
// for a byte on fd 5 (its ids are mapped), then executes itself again,
// now root of its user namespace (prison/spawn_linux.go).
#define NSINIT_AWAIT_MAP "await-map"
#define NSINIT_AWAIT_FD 5

// The init's descriptors: 3 is the sync socket; 4, when open, is the jail's
// state lock (prison/state.go), held by PID 1 for the jail's whole life so
// that the jail's name and addresses are free only once it is gone.
#define NSINIT_SYNC_FD 3
#define NSINIT_LOCK_FD 4

// Plan records: u32 type, u32 length, payload padded to 8 bytes.
enum {
	NSINIT_MOUNT = 1,    // u64 flags, source\0 target\0 fstype\0 data\0
	NSINIT_ROOT = 2,     // path\0: later relative paths resolve below it
	NSINIT_MKDIR = 3,    // u32 mode, path\0
	NSINIT_MKNOD = 4,    // u32 mode, u64 dev, path\0
	NSINIT_SYMLINK = 5,  // target\0 path\0
	NSINIT_WRITE = 6,    // u32 how, u32 mode, path\0 content
	NSINIT_PTY = 7,      // u32 rows<<16|cols, path of ptmx\0
	NSINIT_PIVOT = 8,    // -
	NSINIT_HOSTNAME = 9, // name\0
	NSINIT_LOOPBACK = 10, // -: set lo up
	NSINIT_JOINNET = 11,  // -: receive a network namespace (MSG_NETNS) and enter it
	NSINIT_JOIN = 12,     // u32 CLONE_NEW* flags: receive a running jail's init (MSG_JOIN, a pidfd) and enter its namespaces
	NSINIT_FSMOUNT = 13,  // u64 MOUNT_ATTR_*, u32 n, u32 pad, fstype\0 target\0, n x (key\0 value\0): fsopen/fsconfig/fsmount/move_mount
	NSINIT_USERNS = 14,   // -: become root of the jail's user namespace (all ids 0, no supplementary groups)
	NSINIT_ATTACH = 15,   // u32 i, target\0: attach the i-th tree of MSG_MOUNTS (a detached mount) at target
	NSINIT_SETNS = 16,    // u32 CLONE_NEW* type, path\0: enter the namespace at a host path (an OCI spec's linux.namespaces[].path)
	// u32 uid, u32 gid: the init answers the filter's notifications,
	// inotify_init and inotify_init1 only, on a thread with these host
	// ids, which the jail's inotify instances are then counted against;
	// the filter is loaded after GO, by the command and by the init.
	NSINIT_NOTIFY = 17,
	NSINIT_ARG = 20,     // arg\0 (repeated, in order)
	NSINIT_ENV = 21,     // KEY=VALUE\0 (repeated)
	NSINIT_CWD = 22,     // path\0
	NSINIT_USER = 23,    // u32 uid, u32 gid, u32 n, n x u32 gid
	NSINIT_CAPS = 24,    // u64 capability mask kept, [u64 ambient mask]
	NSINIT_FLAGS = 25,   // u32 NSINIT_FLAG_*
	NSINIT_FILTER = 26,  // u32 seccomp flags, u32 pad, struct sock_filter[]
	NSINIT_RLIMIT = 27,  // u32 resource, u32 pad, u64 soft, u64 hard
	NSINIT_UMASK = 28,   // u32 the command's umask (default: the init's caller's)
	NSINIT_FDS = 29,     // u32 n: receive n descriptors (MSG_FDS), the command's 3 to 3+n-1
};

enum { NSINIT_WRITE_CREATE = 0, NSINIT_WRITE_TRUNC = 1, NSINIT_WRITE_TOUCH = 2 };
enum {
	NSINIT_FLAG_NNP = 1,
	// The init outlives its command: a persistent jail (FreeBSD persist).
	// A plan without arguments starts no command; without this flag its
	// init then exits once the last process it adopted is gone.
	NSINIT_FLAG_PERSIST = 2,
	// The init waits for MSG_CGROUP and moves itself into the jail's
	// cgroup: it writes "0" to each cgroup file that comes with the
	// message (none when the launcher moved it).
	NSINIT_FLAG_CGROUP = 4,
	// Then it makes the jail's cgroup namespace: rooted there, not in the
	// cgroup of whoever started the jail.
	NSINIT_FLAG_CGROUPNS = 8,
	// Fd 0, 1 or 2 of the command (NULL0 << fd) is the jail's own
	// /dev/null rather than what the init got there: a jail created
	// to start later (OCI create) has no launcher left to relay what is
	// not a pipe.
	NSINIT_FLAG_NULL0 = 16,
	// Before READY, the init looks the command up in the jail (PATH,
	// execute permission) and fails as its execve would: a jail created
	// to start later reports a missing command at its creation, as runc
	// does, not once its creator is gone.
	NSINIT_FLAG_LOOKUP = 128,
};

// A signal queued to a jail's PID 1 with this value (SI_QUEUE) goes to
// every process of the jail rather than to the command.
#define NSINIT_BROADCAST 0x6a61696c
#define NSINIT_MAX_GROUPS 64
// The most cgroup files MSG_CGROUP carries: one per v1 hierarchy.
#define NSINIT_MAX_CGROUP_FDS 16
// The most detached mounts MSG_MOUNTS carries.
#define NSINIT_MAX_MOUNT_FDS 64
// The most descriptors MSG_FDS carries (OCI --preserve-fds); recv_fds's
// buffer is MSG_MOUNTS's.
#define NSINIT_MAX_PASSED_FDS NSINIT_MAX_MOUNT_FDS

// Steps that are not plan records report these in place of a record index.
enum {
	NSINIT_OP_CAPS = -2,
	NSINIT_OP_FILTER = -3,
	NSINIT_OP_EXEC = -4,
	NSINIT_OP_USER = -5,
	NSINIT_OP_CWD = -6,
	NSINIT_OP_INIT = -7, // the client's execveat of the init
	NSINIT_OP_CGROUPNS = -8,
	NSINIT_OP_CGROUP = -9,
	NSINIT_OP_NOTIFY = -10, // start the thread that answers NSINIT_NOTIFY's calls
};

// Messages: three int32s (type, a, b), optionally with one fd.
enum {
	NSINIT_MSG_READY = 1,       // [pty master]
	NSINIT_MSG_ERROR = 2,       // a = op, b = errno
	NSINIT_MSG_STARTED = 3,     // a = command pid inside [seccomp listener]
	NSINIT_MSG_EXEC_FAILED = 4, // a = errno
	NSINIT_MSG_EXIT = 5,        // a = wait status
	NSINIT_MSG_GO = 6,          // launcher -> init
	NSINIT_MSG_NETNS = 7,       // launcher -> init, with the network namespace
	NSINIT_MSG_JOIN = 8,        // launcher -> init, with a pidfd of the jail to enter (NSINIT_JOIN)
	NSINIT_MSG_CGROUP = 9,      // launcher -> init, with the cgroup files to join (NSINIT_FLAG_CGROUP)
	NSINIT_MSG_MOUNTS = 10,     // launcher -> init, a = count, with the detached mounts NSINIT_ATTACH attaches, in order
	NSINIT_MSG_FDS = 20,        // launcher -> init, right after the plan, with the command's descriptors from 3 on (NSINIT_FDS)
	// launcher -> init, between READY and GO, with the launcher's own end
	// of the sync socket: a jail created to start later (OCI create)
	// keeps it, where prison start takes it (pidfd_getfd) to send GO and
	// read STARTED as the launcher would. The init answers PARK, a = the
	// descriptor's number in the init.
	NSINIT_MSG_PARK = 11,
};

// A prison binary called by this name (a link) takes runc's command line:
// containerd's and podman's. Never the daemon's client.
#define NSINIT_OCI_NAME "prison-oci"

#define NSINIT_EXIT_SETUP 125

// The resident launcher (`prison daemon`, prison/client.go) serves `prison
// run` (client.c) over a SOCK_SEQPACKET socket: C = client, D = daemon.
#define NSINIT_SOCKET_ENV "PRISON_SOCKET" // a path, or "none"
#define NSINIT_USERNS_ENV "PRISON_USERNS" // --userns's default: the client passes it on
#define NSINIT_SOCKET_DEFAULT "/run/prison.sock"
#define NSINIT_RUN_VERB "run"
#define NSINIT_EXEC_VERB "exec" // served alike: a command joining a running jail
enum {
	// C -> D: u32 type, u32 nargs, u64 client start (CLOCK_MONOTONIC ns);
	// then args\0 (without the program name), cwd\0, TERM\0.
	NSINIT_CLIENT_RUN = 1,
	// D -> C: u32 type: launch the jail in the client process instead.
	NSINIT_DAEMON_FALLBACK = 2,
	// D -> C: u32 type, u32 NSINIT_CLONE_*, u64 clone flags, u32 uid, u32 gid
	// (the jail root's on the host), u32 ids (0: the jail has no ids of its
	// own), u32 pad, the jail's name\0; with NSINIT_CLONE_USERNS, its
	// uid_map\0 and gid_map\0 as the kernel's files take them; fds:
	// the init's sync socket, the jail's state lock (held by the client for
	// the jail's life; for a join, the jail's pidfd), the sealed prison
	// binary to execute as the init.
	NSINIT_DAEMON_CLONE = 3,
	// CLONE's second word: the init joins a running jail (prison exec),
	// which outlives the command, and processes it leaves may hold the
	// client's relays.
	NSINIT_CLONE_JOIN = 1,
	// CLONE's second word: a fourth fd, the jail's cgroup v2 directory,
	// which the init is cloned into (clone3 CLONE_INTO_CGROUP).
	NSINIT_CLONE_INTO_CGROUP = 2,
	// CLONE's second word: the clone makes the jail's user namespace
	// (CLONE_NEWUSER in the flags), owned by host uid "uid", whose maps
	// (uid_map, gid_map) the client writes before the init is executed.
	// Without it, ids that are not 0 still name the root of the jail the
	// init joins: the stdio pipes are its.
	NSINIT_CLONE_USERNS = 4,
	// CLONE's second word, with NSINIT_CLONE_USERNS: the clone makes no
	// network namespace; the client makes it in the init's user
	// namespace, beside the init's start, and sends it as NETNS.
	NSINIT_CLONE_NETNS = 8,
	// C -> D: u32 type, i32 init pid or -errno; fd: the init's pidfd.
	NSINIT_CLIENT_SPAWNED = 4,
	// C -> D: u32 type, i32 the init's wait status.
	NSINIT_CLIENT_REAPED = 5,
	// D -> C: u32 type, i32 exit status, u32 stdout length; stdout, stderr.
	NSINIT_DAEMON_DONE = 6,
	// C -> D, after SPAWNED (NSINIT_CLONE_NETNS): u32 type, i32 0 or
	// -errno; fd: the jail's network namespace.
	NSINIT_CLIENT_NETNS = 7,
};

// Sends one message on sock, with fd when it is not -1; 0 or -1 (errno).
int nsinit_send(int sock, const void *msg, size_t len, int fd);
// The init's main: fd 3 is the sync socket. Returns the exit status.
int nsinit_run_init(void);
// Serves `prison run` through the daemon; returns only if the daemon is
// absent or declines, and the Go launcher must run.
void nsinit_client(int argc, char **argv, char **envp);

#endif
