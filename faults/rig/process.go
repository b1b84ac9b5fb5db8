// Package rig holds what the fault scenarios of ./faults drive: the real
// edgemq binary and a real mosquitto as child processes, a small MQTT
// client on edgemq's own codec (publishers that know which messages were
// acknowledged, subscribers that count what arrives per publisher), a TCP
// proxy that cuts connections mid-packet, and readings of a process's
// resources from /proc and /metrics.
//
// It is a package of its own, rather than _test.go helpers, so that the
// scenarios of several authors share it without name clashes, and so that
// its own logic (sequence sets, the proxy) is unit tested.
package rig

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgemq/edgemq/bench/proc"
)

// Edgemq is a running edgemq process whose log (stderr) the test reads.
type Edgemq struct {
	t      testing.TB
	cmd    *exec.Cmd
	Pid    int
	Config string // path of its config file

	mu     sync.Mutex
	log    bytes.Buffer
	addrs  map[string]string // listener name ("http" for the HTTP server) -> address
	exited chan struct{}
	err    error
}

var (
	listeningRe = regexp.MustCompile(`msg=listening listener=(\S+) address=(\S+)`)
	httpRe      = regexp.MustCompile(`msg="http server listening[^"]*" address=(\S+)`)
)

// StartEdgemq writes config to dir/edgemq.yaml, starts bin with it and
// waits until each named listener (and "http", if named) is listening.
// The process is killed when the test ends, if still running.
func StartEdgemq(t testing.TB, bin, dir, config string, listeners ...string) *Edgemq {
	t.Helper()
	path := filepath.Join(dir, "edgemq.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &Edgemq{t: t, Config: path, addrs: map[string]string{}, exited: make(chan struct{})}
	e.cmd = exec.Command(bin, "-c", path)
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := e.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.Pid = e.cmd.Process.Pid
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		e.read(stderr)
	}()
	go func() {
		<-logDone
		e.err = e.cmd.Wait()
		close(e.exited)
	}()
	t.Cleanup(func() {
		e.Kill()
		if t.Failed() {
			t.Logf("edgemq log (last 60 lines):\n%s", e.LogTail(60))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for _, name := range listeners {
		for e.Addr(name) == "" {
			select {
			case <-e.exited:
				t.Fatalf("edgemq exited at start (%v):\n%s", e.err, e.Log())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("edgemq: listener %s not listening after 20s:\n%s", name, e.Log())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return e
}

func (e *Edgemq) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		e.mu.Lock()
		// The log is kept whole up to 4 MiB, then only its start and the
		// last 4 MiB: a long soak must not grow the test's memory.
		if e.log.Len() > 8<<20 {
			keep := append([]byte(nil), e.log.Bytes()[e.log.Len()-4<<20:]...)
			e.log.Reset()
			e.log.WriteString("[... log cut ...]\n")
			e.log.Write(keep)
		}
		e.log.WriteString(line)
		e.log.WriteByte('\n')
		if m := listeningRe.FindStringSubmatch(line); m != nil {
			e.addrs[m[1]] = m[2]
		}
		if m := httpRe.FindStringSubmatch(line); m != nil {
			e.addrs["http"] = m[1]
		}
		e.mu.Unlock()
	}
	io.Copy(io.Discard, r)
}

// Addr returns the address listener name listens on ("http" for the HTTP
// server), or "" if it has not said yet.
func (e *Edgemq) Addr(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addrs[name]
}

// Log returns what edgemq logged so far.
func (e *Edgemq) Log() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.String()
}

// LogTail returns the last n lines of the log.
func (e *Edgemq) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(e.Log(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Exited is closed when the process has ended.
func (e *Edgemq) Exited() <-chan struct{} { return e.exited }

// Kill kills the process (SIGKILL) and waits for it.
func (e *Edgemq) Kill() {
	select {
	case <-e.exited:
		return
	default:
	}
	e.cmd.Process.Signal(syscall.SIGKILL)
	<-e.exited
}

// Stop asks the process to stop (SIGTERM), waits up to 15 s, and returns
// an error unless it exited cleanly.
func (e *Edgemq) Stop() error {
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
		return e.err
	case <-time.After(15 * time.Second):
		e.Kill()
		return fmt.Errorf("edgemq did not stop within 15s of SIGTERM")
	}
}

// Usage reads the process's memory and CPU time from /proc.
func (e *Edgemq) Usage() (proc.Usage, error) { return proc.ReadUsage(e.Pid) }

// OpenFiles counts the process's open file descriptors.
func (e *Edgemq) OpenFiles() (int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(e.Pid) + "/fd")
	return len(ents), err
}

// Metrics reads /metrics (the config must have http.address) and returns
// each sample by its series ("name" or "name{labels}" as written).
func (e *Edgemq) Metrics() (map[string]float64, error) {
	addr := e.Addr("http")
	if addr == "" {
		return nil, fmt.Errorf("edgemq has no http server (http.address)")
	}
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	return ParseMetrics(resp.Body)
}

// ParseMetrics reads Prometheus text: each sample by its series.
func ParseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// DiskUsage returns the bytes that the files under dir occupy on disk (as
// du counts them: allocated blocks).
func DiskUsage(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed while walking (a compaction)
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		}
		return nil
	})
	return n, err
}

// Mosquitto is an upstream broker process with persistence, so that its
// sessions survive the restarts a test makes.
type Mosquitto struct {
	t    testing.TB
	Addr string // where clients reach it
	bin  string
	conf string
	wrap func(name string, args ...string) *exec.Cmd
	dial func(network, address string) (net.Conn, error)

	mu  sync.Mutex
	cmd *exec.Cmd
	out *bytes.Buffer
}

// NewMosquitto writes the config of a mosquitto listening on host:port
// (persistence in a temporary directory, no queue limits). wrap makes the
// command (nil: exec.Command; a wire.Link's Command to run it in a
// namespace); dial reaches it to check it is up (nil: net.Dial). Start
// runs it.
func NewMosquitto(t testing.TB, host string, port int, wrap func(string, ...string) *exec.Cmd, dial func(string, string) (net.Conn, error)) *Mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("the fault suite needs a real upstream broker: apt-get install mosquitto")
		}
	}
	if wrap == nil {
		wrap = exec.Command
	}
	if dial == nil {
		dial = net.Dial
	}
	dir := t.TempDir()
	m := &Mosquitto{t: t, Addr: net.JoinHostPort(host, strconv.Itoa(port)), bin: bin, wrap: wrap, dial: dial}
	conf := fmt.Sprintf(`listener %d %s
allow_anonymous true
persistence true
persistence_location %s/
autosave_interval 1
max_queued_messages 0
max_inflight_messages 0
user root
log_dest stderr
log_type error
log_type warning
`, port, host, dir)
	m.conf = filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.cmd != nil {
			m.cmd.Process.Kill()
			m.cmd.Wait()
		}
	})
	return m
}

// Start runs mosquitto and waits until it accepts connections.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.mu.Lock()
	m.out = &bytes.Buffer{}
	m.cmd = m.wrap(m.bin, "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = &lockedWriter{mu: &m.mu, w: m.out}, &lockedWriter{mu: &m.mu, w: m.out}
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := m.cmd.Start()
	m.mu.Unlock()
	if err != nil {
		m.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := m.dial("tcp", m.Addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			m.mu.Lock()
			out := m.out.String()
			m.mu.Unlock()
			m.t.Fatalf("mosquitto does not listen on %s: %v\n%s", m.Addr, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops mosquitto cleanly (it saves its sessions).
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	cmd := m.cmd
	m.cmd = nil
	m.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
