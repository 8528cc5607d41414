package prison

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/internal/nsinit"
)

// rlimitNumbers are the resources a spec's process.rlimits may name.
var rlimitNumbers = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// rlimitsOf lowers a spec's process.rlimits for the init, which sets them
// before it forks the command. A name prison does not know is an error,
// never a limit silently dropped.
func rlimitsOf(rls []specs.POSIXRlimit) ([]nsinit.Rlimit, error) {
	var out []nsinit.Rlimit
	for _, r := range rls {
		n, ok := rlimitNumbers[r.Type]
		if !ok {
			return nil, fmt.Errorf("spec: process.rlimits: unknown type %q", r.Type)
		}
		if r.Soft > r.Hard {
			return nil, fmt.Errorf("spec: process.rlimits: %s soft limit %d above its hard limit %d", r.Type, r.Soft, r.Hard)
		}
		out = append(out, nsinit.Rlimit{Name: r.Type, Resource: n, Soft: r.Soft, Hard: r.Hard})
	}
	return out, nil
}

// JailMsgQueueBytes bounds the POSIX message queue memory of a jail's
// processes. Kernel accounting of it is per user, and root inside is host
// uid 0: a jail could otherwise take all of RLIMIT_MSGQUEUE's 800 KiB
// default from host root. A process may allocate only while uid 0's total
// stays below its own limit, so jails, capped at a quarter, leave the host
// the rest (issue 9; a user namespace per jail, issue 12, separates them
// from each other too).
const JailMsgQueueBytes = 200 << 10

// defaultRlimits are every jail's, within the caller's own hard limits:
// raising one needs CAP_SYS_RESOURCE.
func defaultRlimits() []specs.POSIXRlimit {
	limit := uint64(JailMsgQueueBytes)
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &cur); err == nil && cur.Max < limit {
		limit = cur.Max
	}
	return []specs.POSIXRlimit{{Type: "RLIMIT_MSGQUEUE", Soft: limit, Hard: limit}}
}
