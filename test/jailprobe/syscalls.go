package main

import (
	"strings"

	"prison/internal/sysprobe"
	"prison/seccomp"
)

// syscalls makes every call of the policy's probe table (sysprobe) for the
// jail parameters given as prison run's flags, and prints name=ERRNO lines
// for the test to compare with the table.
//
//	syscalls [--allow NAME]... [--sysvipc new|inherit|disable]
func syscalls(args []string) string {
	var allow []string
	sysv := "new"
	for len(args) > 0 {
		if len(args) < 2 {
			misuse("syscalls: %s wants a value", args[0])
		}
		switch args[0] {
		case "--allow":
			allow = append(allow, args[1])
		case "--sysvipc":
			sysv = args[1]
		default:
			misuse("syscalls: unknown flag %q", args[0])
		}
		args = args[2:]
	}
	p, err := seccomp.ParseAllow(allow)
	if err != nil {
		misuse("syscalls: %v", err)
	}
	switch sysv {
	case "new", "inherit":
		p.SysVIPC = true
	case "disable":
	default:
		misuse("syscalls: --sysvipc %q", sysv)
	}
	env, err := sysprobe.NewEnv()
	if err != nil {
		fail("syscalls: %v", err)
	}
	defer env.Close()
	res := sysprobe.Make(env, sysprobe.Probes(sysprobe.Params(p), env))
	return strings.TrimSuffix(sysprobe.Format(res), "\n")
}
