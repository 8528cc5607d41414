package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"prison/seccomp"
)

// newSeccompCmd is `prison seccomp`: the syscall policy a jail with the
// given parameters runs under, as text, as its parameters, or as the
// compiled BPF program.
func newSeccompCmd() *cobra.Command {
	var (
		allow  []string
		sysv   string
		userns string
		params bool
		bpf    bool
	)
	cmd := &cobra.Command{
		Use:   "seccomp [--allow NAME]... [--sysvipc new|inherit|disable] [--userns auto|host] [--params | --bpf]",
		Short: "Show the syscall policy of a jail",
		Long: `Show the syscall policy a jail runs under: one line per rule, the default
action and the architectures. --params lists the allow.* parameters and the
capabilities root keeps inside; --bpf writes the compiled filter (raw struct
sock_filter array) to stdout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if params && bpf {
				return errors.New("--params and --bpf: choose one")
			}
			asked, err := seccomp.ParseAllow(allow)
			if err != nil {
				return err
			}
			p := asked
			switch sysv {
			case "new", "inherit":
				p.SysVIPC = true
			case "disable":
				if asked.SysVIPC {
					return errors.New("--allow sysvipc and --sysvipc disable contradict each other")
				}
			default:
				return fmt.Errorf("--sysvipc: %q is not new, inherit or disable", sysv)
			}
			if asked.SysVIPC {
				sysv = "inherit" // FreeBSD's allow.sysvipc is the host's IPC
			}
			switch userns {
			case "auto":
			case "host":
				p.HostIDs = true // inotify's calls notified
			default:
				return fmt.Errorf("--userns: %q is not auto or host (a range makes the policy auto's)", userns)
			}
			out := cmd.OutOrStdout()
			switch {
			case params:
				return writeParams(cmd, asked, p, sysv)
			case bpf:
				if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					return errors.New("--bpf writes binary; redirect it or pipe it: prison seccomp --bpf | xxd")
				}
				prog, err := seccomp.Compile(seccomp.Policy(p))
				if err != nil {
					return err
				}
				b := make([]byte, 0, 8*len(prog.Filter))
				for _, in := range prog.Filter {
					b = binary.NativeEndian.AppendUint16(b, in.Code)
					b = append(b, in.Jt, in.Jf)
					b = binary.NativeEndian.AppendUint32(b, in.K)
				}
				_, err = out.Write(b)
				return err
			}
			return seccomp.Format(out, seccomp.Policy(p))
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&allow, "allow", nil,
		"FreeBSD allow.* parameter: raw_sockets, set_hostname, socket_af, chflags, sysvipc (repeatable)")
	fs.StringVar(&sysv, "sysvipc", "new", "SysV IPC: new (own namespace), inherit (the host's) or disable")
	fs.StringVar(&userns, "userns", "auto", "the jail's user namespace: auto (its own) or host (root inside is host uid 0)")
	fs.BoolVar(&params, "params", false, "list the allow.* parameters and the capabilities root keeps")
	fs.BoolVar(&bpf, "bpf", false, "write the compiled BPF program (binary) to stdout")
	return cmd
}

// writeParams lists the allow.* parameters, which of them asked sets, and
// what the resulting jail p keeps.
func writeParams(cmd *cobra.Command, asked, p seccomp.Params, sysv string) error {
	on := map[string]bool{
		"raw_sockets": asked.RawSockets, "set_hostname": asked.SetHostname,
		"socket_af": asked.SocketAF, "chflags": asked.Chflags, "sysvipc": asked.SysVIPC,
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARAMETER\tSET\tCHANGES")
	for _, a := range seccomp.Allows() {
		set := "no"
		if on[a.Name] {
			set = "yes"
		}
		fmt.Fprintf(tw, "allow.%s\t%s\t%s\n", a.Name, set, a.Does)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(cmd.OutOrStdout(), "\nSysV IPC: %s\ncapabilities kept by root inside:\n  %s\n",
		sysv, strings.Join(seccomp.Capabilities(p), " "))
	return err
}
