// Wire constants shared by init.c and nsinit.go: the one definition of the
// plan format and the sync messages.
#ifndef PRISON_NSINIT_H
#define PRISON_NSINIT_H

#define NSINIT_SENTINEL "__prison_init"

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
	NSINIT_ARG = 20,     // arg\0 (repeated, in order)
	NSINIT_ENV = 21,     // KEY=VALUE\0 (repeated)
	NSINIT_CWD = 22,     // path\0
	NSINIT_USER = 23,    // u32 uid, u32 gid, u32 n, n x u32 gid
	NSINIT_CAPS = 24,    // u64 capability mask kept
	NSINIT_FLAGS = 25,   // u32 NSINIT_FLAG_*
	NSINIT_FILTER = 26,  // u32 seccomp flags, u32 pad, struct sock_filter[]
};

enum { NSINIT_WRITE_CREATE = 0, NSINIT_WRITE_TRUNC = 1, NSINIT_WRITE_TOUCH = 2 };
enum { NSINIT_FLAG_NNP = 1 };
#define NSINIT_MAX_GROUPS 64

// Steps that are not plan records report these in place of a record index.
enum {
	NSINIT_OP_CAPS = -2,
	NSINIT_OP_FILTER = -3,
	NSINIT_OP_EXEC = -4,
	NSINIT_OP_USER = -5,
	NSINIT_OP_CWD = -6,
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
};

#define NSINIT_EXIT_SETUP 125

#endif
