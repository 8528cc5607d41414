package bench

import (
	"context"
	"os/exec"
	"reflect"
	"testing"
)

func TestParseNsPerOp(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    float64
		wantErr bool
	}{
		{"loop output", "getppid 2000000 calls: 157.27 ns/op (median of 40 chunks; mean 160.00, min 150.10)\n", 157.27, false},
		{"last one wins", "warm 1 9 ns/op\ngetppid 10 42.5 ns/op\n", 42.5, false},
		{"no number", "hello\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNsPerOp(tt.out)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseNsPerOp(%q) = %v, %v; want %v, error %v", tt.out, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseTiming(t *testing.T) {
	tests := []struct {
		name    string
		stderr  string
		want    Sample
		wantErr bool
	}{
		{
			name:   "keys keep prison's order",
			stderr: "noise\nprison-timing: {\"launcher_start\":120,\"clone\":800.5,\"network\":0,\"exec\":30}\n",
			want:   Sample{{"launcher_start", 120}, {"clone", 800.5}, {"network", 0}, {"exec", 30}},
		},
		{
			name:   "unknown keys are kept",
			stderr: "prison-timing: {\"zeta\":1,\"alpha\":2}",
			want:   Sample{{"zeta", 1}, {"alpha", 2}},
		},
		{name: "no timing line", stderr: "prison: boom\n", wantErr: true},
		{name: "not an object", stderr: "prison-timing: [1,2]\n", wantErr: true},
		{name: "not a number", stderr: "prison-timing: {\"clone\":\"fast\"}\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTiming(tt.stderr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseTiming error = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseTiming = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBatchReportsOneError(t *testing.T) {
	bin, err := exec.LookPath("false")
	if err != nil {
		t.Skip("no false(1) on PATH")
	}
	c := &Contender{Name: "false", Args: func() []string { return []string{bin} }}
	for _, parallel := range []bool{true, false} {
		_, err := Batch(3, parallel)(context.Background(), c)
		want := "3 of 3 jails failed, first: false: exit status 1"
		if !parallel {
			// One after another stops at the first failure.
			want = "false: exit status 1"
		}
		if err == nil || err.Error() != want {
			t.Errorf("Batch(3, %v) error = %v, want %q", parallel, err, want)
		}
	}
}
