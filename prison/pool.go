package prison

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"prison/netns"
)

// A Pool keeps network namespaces made ahead of the jails that will need
// them, for a launcher that outlives its jails (prison daemon). Making a
// network namespace is the most expensive step of a jail's start, about
// 0.5 ms of kernel work, and a routed jail's veth pair another 0.4 ms; a
// pooled one is taken in no time, and the pool is refilled while the jail
// runs. Each namespace serves one jail only. The kernel frees what is left
// in the pool when its fds close, spare pairs included, even if the daemon
// is killed.
type Pool struct {
	bare   chan netNS // for jails without a veth of prison's
	spares chan netNS // with a spare veth pair, for routed jails
	kick   chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
	serial atomic.Uint32 // names the spares' host ends
}

// NewPool starts a pool of size namespaces of each kind, filled in the
// background.
func NewPool(size int) *Pool {
	p := &Pool{
		bare:   make(chan netNS, size),
		spares: make(chan netNS, size),
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	p.wg.Add(1)
	go p.fill()
	p.refill()
	return p
}

// take returns a pooled namespace, with a spare pair when spare is set, or
// makes a bare one when the pool has none (a burst of starts).
func (p *Pool) take(spare bool) netNS {
	if p != nil {
		ch := p.bare
		if spare {
			ch = p.spares
		}
		select {
		case n := <-ch:
			return n
		default:
		}
	}
	fd, err := newNetNS()
	return netNS{fd: fd, err: err}
}

// refill asks for the pool to be topped up. Jails call it once their
// command runs, so that the refill does not compete with their start.
func (p *Pool) refill() {
	if p == nil {
		return
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *Pool) fill() {
	defer p.wg.Done()
	for {
		select {
		case <-p.done:
			return
		case <-p.kick:
		}
		for len(p.spares) < cap(p.spares) || len(p.bare) < cap(p.bare) {
			spare := len(p.spares) < cap(p.spares)
			n, err := p.make(spare)
			if err != nil {
				// Out of namespaces (ENOSPC) or memory: jails make
				// their own meanwhile, and fail with the reason.
				time.AfterFunc(time.Second, p.refill)
				break
			}
			ch := p.bare
			if spare {
				ch = p.spares
			}
			select {
			case ch <- n:
			case <-p.done:
				n.close()
				return
			}
		}
	}
}

// make makes a pooled namespace, at SCHED_IDLE: the refill takes only CPU
// time that jails leave, or on a small machine it would slow down the very
// jails it serves.
func (p *Pool) make(spare bool) (n netNS, err error) {
	atIdle(func() {
		runtime.LockOSThread()
		if n.fd, err = netNSHere(); err != nil || !spare {
			return
		}
		// Unique on the host while the pair waits, and never a jail's
		// host link name (netns.HostLink: "pr-…").
		name := fmt.Sprintf("prs%x.%x", os.Getpid()&0xfffff, p.serial.Add(1)&0xffff)
		if n.spare, err = netns.MakeSpare(n.fd, name); err != nil {
			unix.Close(n.fd)
		}
	})
	return n, err
}

// atIdle runs fn on a thread of its own at SCHED_IDLE, which goes back to
// the runtime at normal priority or not at all.
func atIdle(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		idle := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
		normal := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}
		_ = unix.SchedSetAttr(0, &idle, 0)
		fn()
		if unix.SchedSetAttr(0, &normal, 0) == nil {
			runtime.UnlockOSThread()
		}
	}()
	<-done
}

// Close stops the refill and frees the pooled namespaces.
func (p *Pool) Close() {
	close(p.done)
	p.wg.Wait()
	for _, ch := range []chan netNS{p.bare, p.spares} {
		for len(ch) > 0 {
			n := <-ch
			n.close()
		}
	}
}
