// Package proc starts the brokers under test as child processes, pinned to
// a CPU, and reads their memory and CPU use from /proc.
package proc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture edgemq targets.
const clockTicks = 100

// Usage is one sample of a process's resources.
type Usage struct {
	RSS  int64         // VmRSS, bytes
	Anon int64         // RssAnon, bytes (heap, stacks: not file-backed pages)
	CPU  time.Duration // utime + stime, all threads, dead ones included
}

// ReadUsage reads pid's Usage from /proc.
func ReadUsage(pid int) (Usage, error) {
	var u Usage
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return u, err
	}
	if u.RSS, err = statusKiB(status, "VmRSS:"); err != nil {
		return u, fmt.Errorf("pid %d: %w", pid, err)
	}
	if u.Anon, err = statusKiB(status, "RssAnon:"); err != nil {
		return u, fmt.Errorf("pid %d: %w", pid, err)
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return u, err
	}
	u.CPU, err = statCPU(stat)
	if err != nil {
		return u, fmt.Errorf("pid %d: %w", pid, err)
	}
	return u, nil
}

// statusKiB returns the value of a "Key:   123 kB" line of
// /proc/<pid>/status, in bytes.
func statusKiB(status []byte, key string) (int64, error) {
	i := bytes.Index(status, []byte("\n"+key))
	if i < 0 {
		return 0, fmt.Errorf("/proc status has no %s line", key)
	}
	line := status[i+1+len(key):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := strings.Fields(string(line))
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("/proc status line %s%q: want a number and kB", key, line)
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc status line %s%q: %w", key, line, err)
	}
	return n << 10, nil
}

// statCPU returns utime+stime from the contents of /proc/<pid>/stat. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func statCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat %q: no ')'", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat utime/stime: %w", err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// OpenFilesLimit returns the soft "Max open files" limit of pid.
func OpenFilesLimit(pid int) (string, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Max open files"); ok {
			if fl := strings.Fields(rest); len(fl) >= 1 {
				return fl[0], nil
			}
		}
	}
	return "", fmt.Errorf("pid %d: no Max open files in /proc limits", pid)
}

// Process is a broker running as a child process.
type Process struct {
	Name    string // "edgemq" or "mosquitto"
	Version string // as the binary reports it
	Addr    string // its MQTT listener, host:port
	// Setup says how it was configured, for the report.
	Setup  string
	Config string // the generated configuration file's contents
	Pid    int

	cmd    *exec.Cmd
	bin    string // absolute, symlinks resolved
	log    *os.File
	exited chan struct{}
	err    error // the Wait result, once exited is closed
}

// spec is what start needs to run one broker.
type spec struct {
	name, bin string
	args      []string
	cpu       int // pinned with taskset; < 0: not pinned
	dir       string
	addr      string
}

// start runs s (under taskset when pinned) with its output in dir/log and
// waits until its listener accepts connections.
func start(ctx context.Context, s spec) (*Process, error) {
	bin, err := exec.LookPath(s.bin) // relative to our directory, not the broker's
	if err == nil {
		bin, err = filepath.Abs(bin)
	}
	if err == nil {
		bin, err = filepath.EvalSymlinks(bin) // what /proc/<pid>/exe will say
	}
	if err != nil {
		return nil, fmt.Errorf("%s binary: %w", s.name, err)
	}
	args := append([]string{bin}, s.args...)
	if s.cpu >= 0 {
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("pinning %s to CPU %d: %w (taskset is in Debian's util-linux)", s.name, s.cpu, err)
		}
		args = append([]string{ts, "-c", strconv.Itoa(s.cpu)}, args...)
	}
	logf, err := os.Create(filepath.Join(s.dir, s.name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", s.name, err)
	}
	p := &Process{Name: s.name, Addr: s.addr, Pid: cmd.Process.Pid, cmd: cmd, bin: bin, log: logf, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(ctx, 20*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// waitReady waits until the broker accepts a TCP connection and its
// process is the broker itself (taskset has exec'd it).
func (p *Process) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited at start (%v); its log:\n%s", p.Name, p.err, p.LogTail(20))
		default:
		}
		if exe, _ := os.Readlink("/proc/" + strconv.Itoa(p.Pid) + "/exe"); exe == p.bin {
			nc, err := net.DialTimeout("tcp", p.Addr, time.Second)
			if err == nil {
				nc.Close()
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not accept connections on %s within %v; its log:\n%s", p.Name, p.Addr, timeout, p.LogTail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Usage samples the broker's memory and CPU.
func (p *Process) Usage() (Usage, error) {
	if p.Exited() {
		return Usage{}, fmt.Errorf("%s has exited (%v); its log:\n%s", p.Name, p.err, p.LogTail(20))
	}
	return ReadUsage(p.Pid)
}

// LogTail returns the last n lines of the broker's output.
func (p *Process) LogTail(n int) string {
	b, _ := os.ReadFile(p.log.Name())
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Stop sends SIGTERM, waits up to 10 s, then kills. It returns an error
// when the broker did not stop cleanly.
func (p *Process) Stop() error {
	defer p.log.Close()
	if p.Exited() {
		return fmt.Errorf("%s had already exited: %v", p.Name, p.err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			return fmt.Errorf("%s exited with %v after SIGTERM; its log:\n%s", p.Name, p.err, p.LogTail(10))
		}
		return nil
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within 10s of SIGTERM: killed", p.Name)
	}
}

// FreePort returns a loopback address with a port that was free a moment ago.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// versionOf runs bin with args and returns the first line of its output.
func versionOf(bin string, args ...string) string {
	out, _ := exec.Command(bin, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// CPUTimes is one line of /proc/stat for one CPU, in USER_HZ ticks.
type CPUTimes struct {
	Busy, Total uint64
}

// ReadCPUTimes reads the per-CPU lines of /proc/stat ("cpu0 ...", not the
// "cpu" sum), indexed by CPU number. Busy is everything but idle and iowait.
func ReadCPUTimes() (map[int]CPUTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	return parseCPUTimes(b)
}

func parseCPUTimes(stat []byte) (map[int]CPUTimes, error) {
	out := map[int]CPUTimes{}
	for _, line := range strings.Split(string(stat), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			return nil, fmt.Errorf("/proc/stat line %q: %w", line, err)
		}
		var t CPUTimes
		// user nice system idle iowait irq softirq steal (guest time is
		// already counted in user and nice).
		for i, s := range f[1:min(len(f), 9)] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/stat line %q: %w", line, err)
			}
			t.Total += v
			if i != 3 && i != 4 {
				t.Busy += v
			}
		}
		out[n] = t
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("/proc/stat: no per-CPU lines")
	}
	return out, nil
}

// BusyPercent returns how busy cpu was between two readings, in percent.
func BusyPercent(a, b map[int]CPUTimes, cpu int) float64 {
	x, y := a[cpu], b[cpu]
	if y.Total <= x.Total {
		return 0
	}
	return 100 * float64(y.Busy-x.Busy) / float64(y.Total-x.Total)
}
