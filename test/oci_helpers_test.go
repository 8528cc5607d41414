package test

import (
	"os"
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

// ociRuntime is the runtime binary the OCI tests drive: prison, or
// $PRISON_OCI_RUNTIME (runc, crun) to check a test against a runtime
// known to pass it.
func ociRuntime() string {
	if r := os.Getenv("PRISON_OCI_RUNTIME"); r != "" {
		return r
	}
	return prisonBin
}
