package prison

import (
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// netPlan is the jail's network, read from the spec.
type netPlan struct{ mode string }

type netAttachment struct{}

func netPlanOf(name string, s *specs.Spec) (*netPlan, error) {
	return &netPlan{mode: s.Annotations[AnnotationNet]}, nil
}

func (np *netPlan) stateFields() ([]string, string)              { return nil, "" }
func (np *netPlan) conflicts(live []*State) error                { return nil }
func attachNetwork(np *netPlan, pid int) (*netAttachment, error) { return nil, nil }
func (a *netAttachment) detach() error                           { return nil }
func sweepNetwork(dead []*State) error                           { return nil }
func (c *Config) specNetwork(s *specs.Spec) error                { return nil }

func cutPrefix(a string) (string, string, bool) { return strings.Cut(a, "/") }

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
