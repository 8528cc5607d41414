//go:build !linux

package bench

import (
	"context"
	"errors"
)

var errLinuxOnly = errors.New("Linux only")

func (e *Env) ociSetup(context.Context) (func() error, error) { return nil, errLinuxOnly }
func (e *Env) ctrSetup(context.Context) (func() error, error) { return nil, errLinuxOnly }
func (e *Env) podman() *podmanFixture                         { return &podmanFixture{e: e} }
func (p *podmanFixture) setup(context.Context) (func() error, error) {
	return nil, errLinuxOnly
}
