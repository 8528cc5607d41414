// Package seccomp is prison's syscall policy: the jail's allow.* parameters
// become an OCI seccomp section (Policy), the section becomes a classic BPF
// program (Compile), and the capabilities root keeps inside the jail are
// listed beside it (Capabilities).
//
// The policy is an allow-list: calls a customer's root needs are allowed
// outright, calls root must not make fail with EPERM (mount, module loading,
// clock setting, namespaces, keyrings, bpf, io_uring...), socket families
// other than UNIX, IPv4, IPv6 and routing fail with EAFNOSUPPORT, and every
// call the policy does not name fails with ENOSYS. Nothing is ever killed.
//
// Host side, in the launcher:
//
//	p, err := seccomp.ParseAllow([]string{"allow.raw_sockets"})
//	p.SysVIPC = true // sysvipc=new
//	prog, err := seccomp.Compile(seccomp.Policy(p))
//	// send prog.Filter to the init; if prog.Listener, receive the
//	// listener fd back and run:
//	go seccomp.ServeNotify(ctx, listener, nil)
//
// Inside the jail, the init installs prog.Filter with seccomp(2) while it
// still holds CAP_SYS_ADMIN and without no_new_privs (setuid programs keep
// working), then drops capabilities to Capabilities(p) and execs.
//
// Compile needs cgo and libseccomp; Policy, Capabilities and Format are pure
// and build everywhere.
package seccomp
