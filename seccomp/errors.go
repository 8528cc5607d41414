package seccomp

import "errors"

// ErrNotSupported is returned where the platform or the build cannot do what
// was asked: Compile without cgo (libseccomp), anything off Linux.
var ErrNotSupported = errors.New("seccomp: not supported on this platform or build")
