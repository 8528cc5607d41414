package main

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	probes["ptys"] = func([]string) string { return openPtys(false) }
	probes["ptys-hold"] = func([]string) string { return openPtys(true) }
	probes["addkeys"] = addKeys
}

// openPtys opens terminals from the jail's /dev/ptmx until that fails, and
// reports how many it got and why it stopped; with hold, it prints that
// and keeps them until its stdin closes.
func openPtys(hold bool) string {
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	res := ""
	for res == "" {
		f, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
		switch {
		case err != nil:
			res = fmt.Sprintf("ptys=%d stop=%s", len(held), errnoName(err))
		case len(held) >= 5000:
			res = fmt.Sprintf("ptys=%d stop=none", len(held))
		default:
			held = append(held, f)
		}
	}
	if hold {
		fmt.Println(res)
		var b [1]byte
		os.Stdin.Read(b[:])
	}
	return res
}

// addKeys adds up to N user keys to the session keyring.
func addKeys(args []string) string {
	n := 1
	if len(args) > 0 {
		fmt.Sscan(args[0], &n)
	}
	typ, _ := syscall.BytePtrFromString("user")
	payload := []byte("x")
	for i := 0; i < n; i++ {
		desc, _ := syscall.BytePtrFromString(fmt.Sprintf("prison-test-%d", i))
		_, _, e := unix.Syscall6(unix.SYS_ADD_KEY, uintptr(unsafe.Pointer(typ)), uintptr(unsafe.Pointer(desc)),
			uintptr(unsafe.Pointer(&payload[0])), 1, uintptr(0xfffffffd), 0) // KEY_SPEC_SESSION_KEYRING
		if e != 0 {
			return "add_key=" + errnoName(e)
		}
	}
	return "add_key=ok"
}
