package bench

import (
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCountMountinfo(t *testing.T) {
	info := "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n" +
		"23 22 0:21 / /proc rw,nosuid shared:2 - proc proc rw\n" +
		"\n" +
		"24 22 0:40 / /tmp/prison-bench-1/mounts/0 rw,nosuid - tmpfs prison-bench rw,size=16k\n"
	if n := CountMountinfo([]byte(info)); n != 3 {
		t.Errorf("CountMountinfo = %d, want 3", n)
	}
	if n := CountMountinfo([]byte("22 1 8:1 / / rw - ext4 /dev/sda1 rw")); n != 1 {
		t.Errorf("CountMountinfo without a final newline = %d, want 1", n)
	}
	if n := CountMountinfo(nil); n != 0 {
		t.Errorf("CountMountinfo(nil) = %d", n)
	}
}

// TestGoLockedOffMain checks that the runner's goroutine never keeps the
// main thread: called on it, goLockedOffMain hands fn to another thread.
func TestGoLockedOffMain(t *testing.T) {
	// Each goroutine of goLockedOffMain asks once; the first one is told
	// that its thread is the main one.
	var asked atomic.Int32
	var fakeMain atomic.Int64
	saved := onMainThread
	onMainThread = func() bool {
		if asked.Add(1) == 1 {
			fakeMain.Store(int64(unix.Gettid()))
			return true
		}
		return false
	}
	defer func() { onMainThread = saved }()

	tid := make(chan int, 1)
	goLockedOffMain(func() { tid <- unix.Gettid() })
	got := <-tid
	if asked.Load() != 2 {
		t.Errorf("onMainThread asked %d times, want 2", asked.Load())
	}
	if int64(got) == fakeMain.Load() {
		t.Errorf("fn ran on the (pretended) main thread %d", got)
	}

	// And for real: never on the main thread.
	onMainThread = saved
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		goLockedOffMain(func() {
			defer wg.Done()
			if unix.Gettid() == unix.Getpid() {
				t.Error("fn ran on the main thread")
			}
		})
	}
	wg.Wait()
}
