package bench

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// cycleEnv makes the test binary ocicycle (TestMain): the tests of
// RunCycle run it as a child, since a child subreaper is a whole process.
const cycleEnv = "BENCH_FAKE_CYCLE"

// orphanTimeoutForTests is the test's ocicycle's wait for stray processes.
const orphanTimeoutForTests = 300 * time.Millisecond

// cycleMain is ocicycle's main, with a short wait for stray processes.
func cycleMain(args []string) int {
	orphanTimeout = orphanTimeoutForTests
	if err := CycleMain(context.Background(), args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ocicycle:", err)
		return 1
	}
	return 0
}

func TestFormatParseCycle(t *testing.T) {
	smp := Sample{{"total", 12.5}, {"create", 8}, {"start", 2.25}, {"wait", 0.001}, {"delete", 2.249}}
	line := FormatCycle(smp)
	if want := `ocicycle: {"total":12.500,"create":8.000,"start":2.250,"wait":0.001,"delete":2.249}`; line != want {
		t.Errorf("FormatCycle = %s\nwant          %s", line, want)
	}
	got, err := ParseCycle("noise\n" + line + "\n")
	if err != nil || !reflect.DeepEqual(got, smp) {
		t.Errorf("ParseCycle(FormatCycle(s)) = %v, %v; want %v", got, err, smp)
	}
	for _, bad := range []string{
		"",
		"ocicycle: boom",
		`ocicycle: {"total":1,"create":1,"start":1,"wait":1}`,
		`ocicycle: {"create":1,"total":1,"start":1,"wait":1,"delete":1}`,
		`ocicycle: {"total":1,"create":1,"start":1,"wait":-1,"delete":1}`,
		`ocicycle: {"total":1,"create":1,"start":"fast","wait":1,"delete":1}`,
	} {
		if got, err := ParseCycle(bad); err == nil {
			t.Errorf("ParseCycle(%q) = %v, want an error", bad, got)
		}
	}
}

func TestCycleSpecArgs(t *testing.T) {
	c := CycleSpec{Runtime: "/bin/crun", Root: "/s/crun", Bundle: "/b", ID: "pb-oci-crun-1", PIDFile: "/p/pb-oci-crun-1.pid"}
	got := ShellQuote(c.Args("/o/ocicycle"))
	want := "/o/ocicycle -runtime /bin/crun -root /s/crun -bundle /b -pid-file /p/pb-oci-crun-1.pid pb-oci-crun-1"
	if got != want {
		t.Errorf("Args = %s\nwant   %s", got, want)
	}
	if !strings.HasPrefix(FormatCycle(nil), CyclePrefix) {
		t.Error("FormatCycle does not start with CyclePrefix")
	}
}
