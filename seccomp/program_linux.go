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
// returns the listener fd. The launcher serves it (ServeNotify), unless
// inotify calls are all that is notified: then the jail's init does
// (init.c, serve_inotify there), as a host uid of the jail's own.
type Program struct {
	// Filter is raw classic BPF, ready for seccomp(SECCOMP_SET_MODE_FILTER).
	Filter []unix.SockFilter
	// Listener reports that the filter has SCMP_ACT_NOTIFY rules: load it
	// with SECCOMP_FILTER_FLAG_NEW_LISTENER, or those calls fail with ENOSYS.
	Listener bool
	// NotifiesInotify reports that inotify_init and inotify_init1 are
	// among the notify rules (Params.HostIDs), NotifiesOthers that other
	// calls are (allow.set_hostname, or an OCI spec's own).
	NotifiesInotify, NotifiesOthers bool
}
