package main

import (
	"os"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// No goroutine but the main one runs on the main thread, the one that
// /proc/PID shows (init): goroutines that lock their thread and take a
// jail's ids or namespaces with it never take the process's with them.
func TestNoGoroutineOnTheMainThread(t *testing.T) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	onMain := 0
	for range 2000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if unix.Gettid() == os.Getpid() {
				mu.Lock()
				onMain++
				mu.Unlock()
			}
			runtime.Gosched()
		}()
	}
	wg.Wait()
	if onMain > 0 {
		t.Errorf("%d goroutines ran locked on the main thread", onMain)
	}
}
