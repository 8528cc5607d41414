//go:build !linux

package image

import (
	"errors"
	"io"
	"io/fs"
)

// ErrNotSupported is returned on systems other than Linux, where the store
// cannot write a layer (overlayfs whiteouts, openat2).
var ErrNotSupported = errors.New("image store: only on Linux")

const (
	lockShared    = 1
	lockExclusive = 2
)

func (s *Store) lock(string, int) (func(), error) { return nil, ErrNotSupported }

func (s *Store) collect() {}

func extract(io.Reader, string, string) (string, int64, error) { return "", 0, ErrNotSupported }

func renameNoReplace(string, string) error { return ErrNotSupported }

func syncFS(string) error { return ErrNotSupported }

func fileOwner(fs.FileInfo) (uint32, bool) { return 0, false }
