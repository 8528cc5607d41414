package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes the host: kernel, CPU model, cores and memory.
func Machine() []KV {
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return []KV{
		{"kernel", "Linux " + kernel},
		{"CPU", procField("/proc/cpuinfo", "model name")},
		{"cores", strconv.Itoa(runtime.NumCPU())},
		{"memory", memTotal()},
	}
}

// procField returns the value of the first "key : value" line of a /proc
// file, or "unknown".
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	f := strings.Fields(procField("/proc/meminfo", "MemTotal"))
	if len(f) == 0 {
		return "unknown"
	}
	kb, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", kb/(1<<20))
}

// Versions reports the version of prison (git describe of repo) and of
// every peer and tool the run used.
func Versions(env *Env, repo string) []KV {
	first := func(name string, args ...string) string {
		if name == "" {
			return "not installed"
		}
		out, err := exec.Command(name, args...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if err != nil && line == "" {
			return "unknown (" + err.Error() + ")"
		}
		return line
	}
	git := exec.Command("git", "describe", "--always", "--dirty", "--tags")
	git.Dir = repo
	prison := "unknown"
	if out, err := git.Output(); err == nil {
		prison = strings.TrimSpace(string(out))
	}
	if env.PrisonNA != "" {
		prison += " (not run: see the tables)"
	}
	return []KV{
		{"prison", prison},
		{"bwrap", first(env.Tools["bwrap"], "--version")},
		{"crun", first(env.Tools["crun"], "--version")},
		{"runc", first(env.Tools["runc"], "--version")},
		{"unshare", first(env.Tools["unshare"], "--version")},
		{"containerd", first(env.Tools["containerd"], "--version")},
		{"podman", first(env.Tools["podman"], "--version")},
		{"Go", first(goTool(), "version")},
	}
}
