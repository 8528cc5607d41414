//go:build !linux

package netns

// Attachment is what Attach did on the host.
type Attachment struct {
	Plan        Plan
	HostLink    string `json:",omitempty"`
	UplinkIndex int    `json:",omitempty"`
	UplinkSlot  int    `json:",omitempty"`
}

// Attach returns ErrNotSupported except for ModeHost.
func Attach(p *Plan, pid int) (*Attachment, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.EffectiveMode() == ModeHost {
		return &Attachment{Plan: *p}, nil
	}
	return nil, ErrNotSupported
}

// Detach does nothing: Attach attached nothing.
func (a *Attachment) Detach() error { return nil }

// CheckHost returns ErrNotSupported except for ModeHost and ModeNone.
func CheckHost(p *Plan) error {
	if m := p.EffectiveMode(); m == ModeHost || m == ModeNone {
		return nil
	}
	return ErrNotSupported
}

// Sweep does nothing: there is nothing to sweep.
func Sweep() error { return nil }
