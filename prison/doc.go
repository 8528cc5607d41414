// Package prison is the core of prison: a jail's configuration, its
// lowering into an OCI runtime spec, the launcher that starts a jail, and
// the state store of running jails.
//
// A jail is described once, as a Config of jail(8) parameters, lowered by
// Config.Spec into the OCI spec that every front end shares, and run by a
// Jail, shaped like exec.Cmd:
//
//	c := prison.DefaultConfig()
//	c.Hostname, c.IPs, c.Args = "cust1", []string{"10.0.0.5"}, []string{"/bin/sh"}
//	if err := c.Validate(); err != nil { … }
//	spec, err := c.Spec()
//	j := &prison.Jail{Name: c.Name, Spec: spec, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
//	status, err := j.Run()
//
// The launcher runs on the host; the jail side is the C init in
// internal/nsinit. Nothing here prints or exits: errors name the parameter
// or the step that failed, and a *ParamError marks bad input.
package prison
