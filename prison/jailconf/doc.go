// Package jailconf reads FreeBSD's jail.conf(5): the file users bring to
// `prison config -f FILE` and `prison create -f FILE`. It parses the file
// and its includes, merges each jail's global, wildcard and own
// parameters, substitutes variables, and checks every parameter against
// the ones jail(8) knows. Turning the result into a jail is not its job.
//
//	cfg, err := jailconf.ParseFile("/etc/jail.conf")
//	if err != nil { … }                 // an *Error: "FILE:LINE: "TOKEN": MSG"
//	for _, w := range cfg.Warnings { … } // parameters prison ignores
//	jails, err := cfg.Order([]string{"web"}) // web's dependencies, then web
//	for _, j := range jails {
//		path, _ := j.Value("path")
//		addrs, _ := j.Get("ip4.addr") // addrs.Values: one per address
//		…
//	}
//
// Nothing here prints, exits or touches anything but the files it reads.
//
// # What it keeps from FreeBSD
//
// The behaviour was learned from FreeBSD's sources (FreeBSD 14/15):
// usr.sbin/jail/jaillex.l, jailparse.y and config.c, the manuals jail.8 and
// jail.conf.5, lib/libjail/jail.c for how values are read, and
// sys/kern/kern_jail.c and its modules for the kernel's parameters.
//
//   - Lexing, rule by rule: unquoted words of [A-Za-z0-9_!%&()\-.:<>?@[]^`|~]
//     and "*", "+", "/", "$" alone; '...' with C escapes and no
//     substitution; "..." with escapes and substitution; a backslash
//     escape anywhere, a backslash-newline vanishing; the three comment
//     styles, with flex's longest match (so "//" starts a comment even in
//     an unquoted path); pieces with nothing between them ("/j/"$name)
//     making one string; a NUL from an escape ending its piece, as the C
//     string does. An unterminated comment, string or ${ is an error.
//   - The grammar: "name;", "name = v, v;", "name += v;", "name v;",
//     "$var = v;" and "${var} = v;", jail blocks, nested blocks naming
//     sub-jails ("a { b { } }" defines "a" and "a.b"), and
//     ".include "glob";" at top level or inside a block, whose parameters
//     then belong to that block. A name is one word: web.* lexes as "web."
//     and "*", so a partial wildcard block is written "web.*" { }, in
//     quotes, as jail(8) requires too.
//   - Precedence (config.c's load_config): parameters outside any block
//     form one global pseudo-jail "*" placed where the first of them
//     appears. Each jail takes, in order, its implied name (or jid, when
//     the name is a number), the parameters of every wildcard block ("*",
//     "web.*", the global one) that starts before it in the file, its own,
//     then those of the wildcard blocks after it. A later "=" replaces an
//     earlier value, wherever the earlier one came from; "+=" appends to
//     it; a bare name replaces. So a wildcard above a jail gives defaults
//     and one below it gives overrides.
//   - Substitution per jail, after that merge: $name and ${name} name a
//     variable or a parameter as last written; a global
//     "path = /jails/$name" gets each jail's name, and a global may use a
//     variable only some jails define. A list variable expands to its
//     items when it is a whole value, and is an error inside a larger
//     string; a loop and a missing variable are errors.
//   - Booleans: a bare name is true; "no" after the last dot (persist →
//     nopersist, allow.raw_sockets → allow.noraw_sockets) is false and
//     inverts an explicit value; values are true/false in any case or a
//     number. jailsys switches (ip4, ip6, vnet, host, sysvmsg, sysvsem,
//     sysvshm, linux) take disable/new/inherit, and a bare name is "new".
//     A scalar given several values keeps the last.
//   - Includes (config.c's include_config): a relative name is taken from
//     the directory of the file that includes it; a name with glob
//     characters reads its matches in sorted order and may match nothing;
//     a plain name must exist; variables are not allowed; at most 32
//     levels deep.
//   - depend lists jails to create first and stop last; Order sorts them,
//     and a loop or an undefined jail is an error.
//   - A jail that fails to resolve (a variable not found, a value of the
//     wrong kind) fails alone, as jail(8)'s JF_FAILED does: it carries its
//     error in Jail.Err, and Order refuses it.
//
// # Parameters
//
// Lookup knows every parameter of jail(8) and the kernel, each with a
// kind. Those prison gives a meaning on Linux are path, host.hostname,
// ip4.addr, ip6.addr, ip4, ip6, interface, vnet, vnet.interface, mount,
// mount.fstab, mount.devfs, mount.procfs, allow.set_hostname,
// allow.raw_sockets, allow.chflags, allow.socket_af, allow.sysvipc,
// sysvmsg, sysvsem, sysvshm, persist, command, depend, name, jid, and
// exec.prestart, exec.created, exec.start, exec.poststart, exec.prestop,
// exec.stop, exec.poststop, exec.timeout, exec.jail_user,
// exec.system_user, exec.clean and exec.consolelog; and prison's own
// image, ephemeral and disk, which FreeBSD does not have. The others
// (securelevel, enforce_statfs, devfs_ruleset, children.max, allow.mount
// and allow.mount.<fs>, osrelease, linux.*, exec.fib, ip_hostname ...) are
// accepted with a Warning and ignored. The read-only ones (children.cur,
// cpuset.id, dying, parent) are errors, as the kernel refuses them.
//
// # Where it differs, and why
//
//   - An unknown parameter is an error for the whole file, naming its file,
//     line and token, with the closest known name as a hint. jail(8) learns
//     the kernel's parameters only when it creates a jail, and a kernel
//     module can add some; prison has no kernel to ask, so its table is
//     FreeBSD 15's. allow.mount.<fs>, meta.<key> and env.<key> accept any
//     word, since the kernel adds one per jail-friendly file system or key.
//   - Values are checked by kind for every jail when the file is read, not
//     when the kernel sees them; an integer must fit in 64 bits.
//   - Restating a jail's own name (name = "t1"; inside t1 { }) is allowed:
//     it changes nothing. config.c rejects any second name or jid.
//   - The first error ends the parse; jail(8) reports every syntax error
//     of a file, then exits.
//   - Two blocks with the same real jail name are an error: jail(8) would
//     try to create the jail twice.
//   - A file including itself, directly or not, is reported as an include
//     loop naming the files, rather than after 32 levels. An included file
//     must be a regular file of at most 8 MiB: a glob reaching /dev must
//     not block on a FIFO or read forever. Glob patterns are Go's
//     path.Match, with glob(3)'s "[!...]" and literal unmatched '['
//     translated.
//   - Blocks nest at most 64 deep; an empty jail name is an error;
//     substitution may produce at most 64 MiB over the whole file (a
//     variable doubling at every line would otherwise exhaust memory).
//   - Nothing is looked up or read beyond the configuration: ip_hostname
//     resolves no name, and mount.fstab files are left to whoever mounts
//     them.
package jailconf
