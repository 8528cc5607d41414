package test

import (
	"os"
	"path/filepath"
	"testing"
)

// ociPass skips an OCI-runtime test in the suite's later passes (daemon,
// --userns host): a bundle's config.json decides the jail, not the
// environment those passes change, and containerd or podman take a while
// to start.
func ociPass(t *testing.T) {
	t.Helper()
	if os.Getenv("PRISON_TEST_DAEMON") != "" || os.Getenv("PRISON_USERNS") == "host" {
		t.Skip("OCI runtime tests run in the suite's first pass only")
	}
}

// ociRuntime is the runtime binary the OCI tests drive: prison by its OCI
// name (a link, as make install makes it), or $PRISON_OCI_RUNTIME (runc,
// crun) to check a test against a runtime known to pass it.
func ociRuntime() string {
	if r := os.Getenv("PRISON_OCI_RUNTIME"); r != "" {
		return r
	}
	return filepath.Join(filepath.Dir(prisonBin), "prison-oci")
}

// ociIsPrison tells whether the tests drive prison (not a peer).
func ociIsPrison() bool { return os.Getenv("PRISON_OCI_RUNTIME") == "" }

// ociCommandPID is the container's command's pid inside: 1 under runc and
// crun; 2 under prison, whose init is PID 1 (it forwards signals and
// reaps orphans, as docker run --init does).
func ociCommandPID() string {
	if ociIsPrison() {
		return "2"
	}
	return "1"
}

// ociInitCmdline is /proc/1/cmdline inside container id, NULs as spaces,
// whose command line is cmd: the command's own, or prison's init's.
func ociInitCmdline(id, cmd string) string {
	if ociIsPrison() {
		return "prison __prison_init " + id + " "
	}
	return cmd + " "
}
