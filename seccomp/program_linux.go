//go:build linux

package seccomp

import "golang.org/x/sys/unix"

// Program is a compiled filter for the native architecture.
//
// To install it (inside the jail, in C or Go):
//
//	struct sock_fprog prog = { .len = len(Filter), .filter = &Filter[0] };
//	seccomp(SECCOMP_SET_MODE_FILTER, Listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &prog);
//
// Without no_new_privs this needs CAP_SYS_ADMIN, so it comes before the
// capabilities are dropped. With SECCOMP_FILTER_FLAG_NEW_LISTENER the call
// returns the listener fd, which goes to the launcher for ServeHostname.
type Program struct {
	// Filter is raw classic BPF, ready for seccomp(SECCOMP_SET_MODE_FILTER).
	Filter []unix.SockFilter
	// Listener reports that the filter has SCMP_ACT_NOTIFY rules: load it
	// with SECCOMP_FILTER_FLAG_NEW_LISTENER, or those calls fail with ENOSYS.
	Listener bool
}
