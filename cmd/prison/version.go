package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// The Makefile sets these with -ldflags -X, from git describe and git
// rev-parse: a build from elsewhere (go build, go install) leaves them
// empty, and versionText falls back on what the go command recorded.
var (
	version string
	commit  string
)

// versionText is what prison version and prison --version print: the first
// line reads "prison version 0.x.y", for scripts and bug reports to grep.
func versionText() string {
	v, c := buildVersion()
	return fmt.Sprintf("prison version %s\ngo version %s %s/%s\ncommit %s",
		v, runtime.Version(), runtime.GOOS, runtime.GOARCH, c)
}

// buildVersion is the version and the commit prison was built from: those
// the Makefile set, else those the go command recorded, else "devel" and
// "unknown".
func buildVersion() (v, c string) {
	v, c = version, commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version // go install prison/cmd/prison@VERSION
		}
		if c == "" {
			c = buildSetting(info, "vcs.revision")
			if c != "" && buildSetting(info, "vcs.modified") == "true" {
				c += "-dirty"
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if c == "" {
		c = "unknown"
	}
	// git describe and module versions say v0.3.1; a version number
	// reads 0.3.1. A bare commit hash (no tag yet) stays as it is.
	if len(v) > 1 && v[0] == 'v' && v[1] >= '0' && v[1] <= '9' {
		v = v[1:]
	}
	return v, c
}

func buildSetting(info *debug.BuildInfo, key string) string {
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of prison, of the Go it was built with, and its commit",
		Example: `  prison version
  prison version | awk '/^prison version/ { print $3 }'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionText())
			return err
		},
	}
}
