package prison

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"prison/internal/nsinit"
)

// An init that fails closes its end with the launcher's later messages
// unread: the launcher still reads why it failed, not the reset that the
// kernel reports first.
func TestRecvAfterTheInitReset(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	j := &Jail{sock: os.NewFile(uintptr(fds[0]), "sync")}
	defer j.sock.Close()
	if err := unix.Send(fds[0], []byte("unread by the init"), 0); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 12)
	binary.NativeEndian.PutUint32(msg[0:], uint32(nsinit.MsgExecFailed))
	binary.NativeEndian.PutUint32(msg[4:], uint32(unix.ENOENT))
	if err := unix.Send(fds[1], msg, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(fds[1])
	m, err := j.recv()
	if err != nil || m.Type != nsinit.MsgExecFailed || m.A != int32(unix.ENOENT) {
		t.Fatalf("recv: %+v, %v; want the init's EXEC_FAILED ENOENT", m, err)
	}
	if _, err := j.recv(); !errors.Is(err, errInitGone) {
		t.Errorf("then: %v, want the init gone", err)
	}
}
