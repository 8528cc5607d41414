package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"prison/prison"
	"prison/rootfs"
)

// rootfsCmd is prison rootfs: roots for prison run --root, made without a
// script (FreeBSD's "I have no scripts for setting up a jail").
func rootfsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rootfs COMMAND",
		Short: "Make a root directory for a jail (busybox, debootstrap)",
		Long: `Make a directory a jail's root, for prison run --root: a minimal one from the
host's static busybox in a few milliseconds, or a Debian system with
debootstrap. DIR must not exist or be empty. As prison run --root asks, a
directory other users can reach is refused as DIR's parent: the jail's root
could plant a setuid shell in its root. Missing parents are made mode 0700.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &prison.ParamError{Err: fmt.Errorf("%q: not a prison rootfs command (see prison rootfs --help)", args[0])}
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newRootfsBusyboxCmd(), newRootfsDebootstrapCmd())
	return cmd
}

func newRootfsBusyboxCmd() *cobra.Command {
	var busybox string
	cmd := &cobra.Command{
		Use:   "busybox [--busybox FILE] DIR",
		Short: "Make DIR a minimal root from the host's static busybox",
		Long: `Make DIR a minimal root: the host's static busybox (Debian's busybox-static) as
/bin/busybox, a hard link to it for each of its applets, the directories a jail mounts
onto, and a small /etc: passwd and group with root and nobody, shadow (no
passwords), hosts, profile, shells. It takes a few milliseconds.`,
		Example: `  prison rootfs busybox /srv/jails/web1
  prison run --root /srv/jails/web1 --ip 10.0.0.5 /bin/sh`,
		Args: exactArgs(1, "DIR", "prison rootfs busybox [--busybox FILE] DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rootfs.Busybox(args[0], busybox)
		},
	}
	cmd.Flags().StringVar(&busybox, "busybox", rootfs.DefaultBusybox, "the static busybox to copy")
	return cmd
}

func newRootfsDebootstrapCmd() *cobra.Command {
	var mirror string
	cmd := &cobra.Command{
		Use:   "debootstrap [--mirror URL] DIR [SUITE]",
		Short: "Make DIR a minimal Debian root with debootstrap",
		Long: `Make DIR a Debian root of SUITE (default stable) with debootstrap
--variant=minbase, whose output is shown as it runs. It needs root, the
network (or --mirror), and debootstrap (apt-get install debootstrap).`,
		Example: `  prison rootfs debootstrap /srv/jails/db1 bookworm
  prison rootfs debootstrap --mirror http://deb.example.lan/debian /srv/jails/db2`,
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return &prison.ParamError{Err: fmt.Errorf("DIR: missing (usage: prison rootfs debootstrap [--mirror URL] DIR [SUITE])")}
			case len(args) > 2:
				return &prison.ParamError{Err: fmt.Errorf("%q: one DIR and one SUITE only", args[2])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			suite := ""
			if len(args) == 2 {
				suite = args[1]
			}
			if os.Geteuid() != 0 {
				return prison.ErrNotRoot
			}
			return rootfs.Debootstrap(cmd.Context(), args[0], suite, mirror, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&mirror, "mirror", "", "the Debian mirror to fetch from (debootstrap's default if empty)")
	return cmd
}
