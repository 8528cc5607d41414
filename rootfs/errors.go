package rootfs

import "fmt"

// MountError records a failed mount(2) and its arguments.
type MountError struct {
	Op, Source, Target, FSType, Data string
	Flags                            uintptr
	Err                              error
}

func (e *MountError) Error() string {
	s := "rootfs: " + e.Op
	if e.Flags != 0 {
		s += fmt.Sprintf(" [%s]", FlagString(e.Flags))
	}
	if e.Data != "" {
		s += fmt.Sprintf(" (%s)", e.Data)
	}
	return s + ": " + e.Err.Error()
}

func (e *MountError) Unwrap() error { return e.Err }
