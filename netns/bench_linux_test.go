package netns

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// benchJail starts a throwaway namespace (outside the timer) and returns
// its pid and a function that ends it.
func benchJail(b *testing.B) (int, func()) {
	b.StopTimer()
	defer b.StartTimer()
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return cmd.Process.Pid, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
}

func benchAttach(b *testing.B, mode Mode, addrs ...string) {
	requireRoot(b)
	var as []*Attachment
	var stops []func()
	b.Cleanup(func() {
		for i, a := range as {
			_ = a.Detach()
			stops[i]()
		}
	})
	for i := 0; b.Loop(); i++ {
		pid, stop := benchJail(b)
		stops = append(stops, stop)
		p := &Plan{Mode: mode, Jail: fmt.Sprintf("b-%d", i)}
		if mode != ModeNone {
			for _, a := range addrs {
				p.Addrs = append(p.Addrs, mustParse(b, fmt.Sprintf(a, i/250, i%250+1))...)
			}
		}
		a, err := Attach(p, pid)
		if err != nil {
			b.Fatal(err)
		}
		as = append(as, a)
	}
}

func BenchmarkAttachNone(b *testing.B) { benchAttach(b, ModeNone) }
func BenchmarkAttachVeth4(b *testing.B) {
	benchAttach(b, ModeVeth, "10.214.%d.%d")
}

func BenchmarkAttachVeth46(b *testing.B) {
	benchAttach(b, ModeVeth, "10.214.%d.%d", "fd7a:5eed:b:%x::%x")
}

func BenchmarkDetach(b *testing.B) {
	requireRoot(b)
	for i := 0; b.Loop(); i++ {
		pid, stop := benchJail(b)
		b.StopTimer()
		a, err := Attach(&Plan{Jail: fmt.Sprintf("b-%d", i), Addrs: mustParse(b, fmt.Sprintf("10.214.%d.%d", i/250, i%250+1))}, pid)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := a.Detach(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		stop()
		b.StartTimer()
	}
}

// BenchmarkSourceProgram is the source check's part of a fresh routed
// pair's attach that is not in a batch sent anyway: making its map,
// loading its program (verifier and JIT) and filling the map. It runs
// while the pair is created. A Spare has it done ahead.
func BenchmarkSourceProgram(b *testing.B) {
	requireRoot(b)
	addrs := mustParse(b, "10.214.0.1", "fd7a:5eed:b::1")
	for b.Loop() {
		p, err := newSourceFilter(addrs)
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

// BenchmarkAllowSources is what remains of the source check in a Spare's
// attach: writing the jail's addresses into its filter's map.
func BenchmarkAllowSources(b *testing.B) {
	requireRoot(b)
	addrs := mustParse(b, "10.214.0.1", "fd7a:5eed:b::1")
	p, m, err := loadSourceFilter(spareAddrs)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	defer m.Close()
	for b.Loop() {
		if err := allowSources(m, addrs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAttachSpare is a pooled routed jail's attach (prison daemon):
// the namespace, its spare pair and the spare's name are made outside the
// timer, as the pool and the launcher make them off the start path.
func BenchmarkAttachSpare(b *testing.B) {
	requireRoot(b)
	var as []*Attachment
	var nss []*os.File
	b.Cleanup(func() {
		for _, a := range as {
			_ = a.Detach()
		}
		for _, ns := range nss {
			ns.Close()
		}
	})
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ns := newNamespace(b)
		nss = append(nss, ns)
		p := &Plan{Jail: fmt.Sprintf("b-%d", i), Addrs: mustParse(b, fmt.Sprintf("10.214.%d.%d", i/250, i%250+1))}
		s, err := MakeSpare(int(ns.Fd()), fmt.Sprintf("prsb.%x", i))
		if err != nil {
			b.Fatal(err)
		}
		NameSpare(p, s)
		b.StartTimer()
		a, err := AttachSpare(p, int(ns.Fd()), s)
		if err != nil {
			b.Fatal(err)
		}
		as = append(as, a)
	}
}
