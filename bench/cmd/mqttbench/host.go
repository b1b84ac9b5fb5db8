package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// pinSelf pins every thread of this process to cpu and sets GOMAXPROCS to
// 1. Threads the runtime creates later are cloned from pinned ones and
// inherit the mask; the loop repeats until a pass finds no new thread.
func pinSelf(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	done := map[int]bool{}
	for pass := 0; pass < 10; pass++ {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		fresh := 0
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("pinning thread %d to CPU %d: %w", tid, cpu, err)
			}
			done[tid] = true
			fresh++
		}
		if fresh == 0 {
			runtime.GOMAXPROCS(1)
			return nil
		}
	}
	return fmt.Errorf("pinning to CPU %d: threads kept appearing", cpu)
}

// raiseNoFile raises RLIMIT_NOFILE to at least need (the hard limit too,
// when allowed) and returns the soft limit in force. Children inherit it:
// once a program calls syscall.Setrlimit, os/exec no longer restores the
// limit it found at start.
func raiseNoFile(need uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur >= need {
		return rl.Cur, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	want := rl
	want.Cur = need
	want.Max = max(rl.Max, need)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
		return need, nil
	}
	// Not allowed to raise the hard limit: go as far as it allows.
	want.Cur, want.Max = rl.Max, rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return rl.Cur, err
	}
	return want.Cur, fmt.Errorf("RLIMIT_NOFILE hard limit is %d, below the %d needed", rl.Max, need)
}

// loadAvg returns /proc/loadavg's three averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// kernel returns the kernel release.
func kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
