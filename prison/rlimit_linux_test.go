package prison

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestRlimitsOf(t *testing.T) {
	got, err := rlimitsOf([]specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}})
	if err != nil || len(got) != 1 || got[0].Resource != unix.RLIMIT_NOFILE || got[0].Soft != 10 || got[0].Hard != 20 {
		t.Errorf("rlimitsOf(NOFILE) = %+v, %v", got, err)
	}
	for _, bad := range []specs.POSIXRlimit{{Type: "RLIMIT_NOFILES", Soft: 1, Hard: 1}, {Type: "RLIMIT_CORE", Soft: 2, Hard: 1}} {
		if _, err := rlimitsOf([]specs.POSIXRlimit{bad}); err == nil || !strings.Contains(err.Error(), "process.rlimits") {
			t.Errorf("rlimitsOf(%+v): %v, want an error naming process.rlimits", bad, err)
		}
	}
}
