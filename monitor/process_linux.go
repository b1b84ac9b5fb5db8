package monitor

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// writeProcess writes the process_* families from /proc and getrusage.
func writeProcess(w *Writer) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
		w.Counter("process_cpu_seconds_total", "User and system CPU time spent, in seconds.", cpu)
	}
	if rss, ok := residentBytes(); ok {
		w.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", float64(rss))
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		w.Gauge("process_open_fds", "Open file descriptors (sockets included).", float64(len(fds)))
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		w.Gauge("process_max_fds", "Limit of open file descriptors.", float64(rl.Cur))
	}
}

// residentBytes reads the resident set size from /proc/self/statm.
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
