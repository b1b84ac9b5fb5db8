package faults

// Helpers of the flash, power-cut, resource and bad-peer scenarios: the
// edgemq binary as a child process, a small MQTT client on edgemq's own
// codec (exact control of every packet, no retries behind the test's back),
// and the system pieces the scenarios need (tmpfs mounts, cgroups, /proc).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/faults/rig"
)

// edgemqBuild is the edgemq binary built once per test process.
var edgemqBuild struct {
	once sync.Once
	path string
	err  error
}

// edgemqBinary builds ./cmd/edgemq once per test process, into
// $TMPDIR/edgemq-faults-<pid>, and returns its path. Directories left by
// earlier test processes that are gone are removed.
func edgemqBinary(t testing.TB) string {
	t.Helper()
	edgemqBuild.once.Do(func() {
		old, _ := filepath.Glob(filepath.Join(os.TempDir(), "edgemq-faults-*"))
		for _, d := range old {
			pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "edgemq-faults-"))
			if err == nil && syscall.Kill(pid, 0) != nil {
				os.RemoveAll(d)
			}
		}
		dir := filepath.Join(os.TempDir(), "edgemq-faults-"+strconv.Itoa(os.Getpid()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			edgemqBuild.err = err
			return
		}
		edgemqBuild.path = filepath.Join(dir, "edgemq")
		// go test puts its own GOROOT/bin first on PATH.
		cmd := exec.Command("go", "build", "-trimpath", "-o", edgemqBuild.path, "../cmd/edgemq") // static, as shipped
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			edgemqBuild.err = fmt.Errorf("go build ./cmd/edgemq: %v\n%s", err, out)
		}
	})
	if edgemqBuild.err != nil {
		t.Fatal(edgemqBuild.err)
	}
	return edgemqBuild.path
}

// writeConfig writes an edgemq config file into dir and returns its path.
func writeConfig(t testing.TB, dir, yaml string) string {
	t.Helper()
	p := filepath.Join(dir, "edgemq.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// loopbackAddr returns a 127.0.0.1 address whose port is free right now.
func loopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// procOpts are how a brokerProc is started.
type procOpts struct {
	Env    []string // added to the environment
	NoFile int      // > 0: RLIMIT_NOFILE (soft and hard) of the process, set with prlimit(1)
	Cgroup string   // a cgroup directory (memCgroup) the process runs in
}

// brokerProc is a running edgemq whose log (stderr) the test reads.
type brokerProc struct {
	t   testing.TB
	cmd *exec.Cmd

	mu     sync.Mutex
	log    bytes.Buffer
	addrs  map[string]string // listener name -> address, from "listening" lines
	http   string            // the HTTP server's address, once logged
	exited chan struct{}     // closed once the process has exited and its log is read
	state  *os.ProcessState
}

var (
	listeningLine = regexp.MustCompile(`msg=listening listener=(\S+) address=(\S+)`)
	httpLine      = regexp.MustCompile(`msg="http server listening[^"]*" address=(\S+)`)
)

// startBroker runs bin -c cfg and waits until every listener in names
// listens (log level info or debug is needed for that).
func startBroker(t testing.TB, bin, cfg string, o procOpts, names ...string) *brokerProc {
	t.Helper()
	p := &brokerProc{t: t, addrs: map[string]string{}, exited: make(chan struct{})}
	args := []string{bin, "-c", cfg}
	if o.NoFile > 0 {
		n := strconv.Itoa(o.NoFile)
		args = append([]string{"prlimit", "--nofile=" + n + ":" + n, "--"}, args...)
	}
	if o.Cgroup != "" {
		// Join the cgroup before exec, so that edgemq sees its limit from
		// its first instruction (it sizes itself from it).
		procs := filepath.Join(o.Cgroup, "cgroup.procs")
		args = append([]string{"sh", "-c", `echo $$ > "$0" && exec "$@"`, procs}, args...)
	}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Env = append(os.Environ(), o.Env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			if p.log.Len() < 64<<20 {
				p.log.WriteString(line + "\n")
			}
			if m := listeningLine.FindStringSubmatch(line); m != nil {
				p.addrs[m[1]] = m[2]
			}
			if m := httpLine.FindStringSubmatch(line); m != nil {
				p.http = m[1]
			}
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
		p.cmd.Wait()
		p.mu.Lock()
		p.state = p.cmd.ProcessState
		p.mu.Unlock()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("edgemq log:\n%s", logExcerpt(p.logText()))
		}
	})
	for _, n := range names {
		p.waitLog(`msg=listening listener=`+n+` `, 20*time.Second)
	}
	return p
}

// logExcerpt returns the start of a crash report in log, if there is one,
// else its last 60 lines.
func logExcerpt(log string) string {
	for _, mark := range []string{"\nfatal error:", "\npanic:", "\nunexpected fault", "\nSIG"} {
		if i := strings.Index(log, mark); i >= 0 {
			return tail(log[:i], 10) + "...\n" + strings.Join(strings.SplitAfterN(log[i+1:], "\n", 40)[:min(39, strings.Count(log[i+1:], "\n"))], "")
		}
	}
	return tail(log, 60)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

func (p *brokerProc) pid() int { return p.cmd.Process.Pid }

func (p *brokerProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// addr returns the address of listener name.
func (p *brokerProc) addr(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addrs[name]
}

// httpAddr returns the HTTP server's address (waiting for its log line).
func (p *brokerProc) httpAddr() string {
	p.t.Helper()
	p.waitLog("http server listening", 10*time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.http
}

// alive reports whether the process still runs.
func (p *brokerProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// waitLog waits until the log contains s, failing the test if the process
// exits or d passes first.
func (p *brokerProc) waitLog(s string, d time.Duration) {
	p.t.Helper()
	if err := p.waitLogErr(s, d); err != nil {
		p.t.Fatal(err)
	}
}

func (p *brokerProc) waitLogErr(s string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for !strings.Contains(p.logText(), s) {
		if !p.alive() {
			return fmt.Errorf("edgemq exited (%v) while waiting for %q; log:\n%s", p.state, s, tail(p.logText(), 40))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %q in the edgemq log after %v; log:\n%s", s, d, tail(p.logText(), 40))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// kill9 kills the process with SIGKILL and waits for it.
func (p *brokerProc) kill9() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and waits up to 15 s, then kills. It returns the exit
// state.
func (p *brokerProc) stop() *os.ProcessState {
	if p.alive() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			p.kill9()
		}
	}
	<-p.exited
	return p.state
}

// procStatus returns a field of /proc/<pid>/status in bytes (VmRSS, VmHWM)
// or as a number (Threads); -1 when it cannot be read.
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, field+":") {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, field+":"))
		if len(f) == 0 {
			return -1
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return -1
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		return n
	}
	return -1
}

// openFDs counts the open file descriptors of pid; -1 when unknown.
func openFDs(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// cpuTime returns the user+system CPU time pid has used.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// metrics fetches /metrics and returns each unlabelled sample, and each
// labelled one under its full name with labels as written.
func metrics(addr string) (map[string]float64, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return rig.ParseMetrics(resp.Body)
}

// readyz fetches /readyz and returns its status code and body.
func readyz(addr string) (int, string, error) {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it at cleanup. It skips the test when mounting is not possible (not
// root, no mount permission).
func mountTmpfs(t testing.TB, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "flash")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := "size=" + strconv.FormatInt(size, 10) + ",mode=0700"
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Skipf("cannot mount a tmpfs for the data dir (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// resizeTmpfs changes the size of the tmpfs mounted on dir.
func resizeTmpfs(t testing.TB, dir string, size int64) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size="+strconv.FormatInt(size, 10)); err != nil {
		t.Fatalf("resize the tmpfs on %s to %d: %v", dir, size, err)
	}
}

// fsUsed returns the bytes used on the filesystem of dir.
func fsUsed(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks-st.Bfree) * st.Bsize
}

// fsFree returns the bytes available to unprivileged users on the
// filesystem of dir.
func fsFree(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fillFS writes a ballast file into dir until the filesystem has at most
// leave bytes available (or is full when leave is 0), and returns its path.
func fillFS(t testing.TB, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "ballast")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		free := fsFree(t, dir)
		if free <= leave {
			return path
		}
		n := min(int64(len(chunk)), free-leave)
		if _, err := f.Write(chunk[:n]); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatal(err)
		}
	}
}

// memCgroup makes a cgroup with a memory limit of limit bytes (no swap),
// under the test process's own cgroup, and removes it at cleanup. It
// returns the directory and the cgroup version, or "" when no memory
// cgroup can be made here (not root, no memory controller delegated).
func memCgroup(t testing.TB, limit int64) (dir string, version int) {
	t.Helper()
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	own, _ := os.ReadFile("/proc/self/cgroup")
	var v1, v2 string
	for _, line := range strings.Split(string(mounts), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 || f[3] != "/" {
			continue
		}
		switch {
		case g[0] == "cgroup2" && v2 == "":
			v2 = f[4]
		case g[0] == "cgroup" && v1 == "" && slices.Contains(strings.Split(g[2], ","), "memory"):
			v1 = f[4]
		}
	}
	name := fmt.Sprintf("edgemq-faults-%d-%d", os.Getpid(), time.Now().UnixNano())
	for _, line := range strings.Split(string(own), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var parent, limitFile string
		switch {
		case parts[0] == "0" && parts[1] == "" && v2 != "":
			parent = filepath.Join(v2, parts[2])
			ctl, _ := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
			if !slices.Contains(strings.Fields(string(ctl)), "memory") {
				continue
			}
			version, limitFile = 2, "memory.max"
		case slices.Contains(strings.Split(parts[1], ","), "memory") && v1 != "":
			parent = filepath.Join(v1, parts[2])
			version, limitFile = 1, "memory.limit_in_bytes"
		default:
			continue
		}
		dir = filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
			os.Remove(dir)
			continue
		}
		if version == 2 {
			os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0o644)
		} else {
			os.WriteFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644)
		}
		t.Cleanup(func() {
			// The processes in it are gone by now (their cleanups ran
			// first); an emptied cgroup may take a moment to go away.
			for range 50 {
				if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("could not remove cgroup %s", dir)
		})
		return dir, version
	}
	return "", 0
}

// oomKills returns how many processes the OOM killer killed in the cgroup.
func oomKills(dir string, version int) int {
	file, key := "memory.events", "oom_kill"
	if version == 1 {
		file = "memory.oom_control"
	}
	b, _ := os.ReadFile(filepath.Join(dir, file))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// mqttClient is a minimal MQTT client on edgemq's codec. Its methods
// return errors (never t.Fatal), so goroutines can use it.
type mqttClient struct {
	nc net.Conn
	r  *packet.Reader
	v  packet.Version
}

// dialMQTT connects and sends c (its Version picks 3.1.1 or 5.0), and
// returns the client and the CONNACK. A refused CONNACK is an error.
func dialMQTT(addr string, c packet.Connect) (*mqttClient, packet.Connack, error) {
	if c.Version == 0 {
		c.Version = packet.V311
	}
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, packet.Connack{}, err
	}
	cl := &mqttClient{nc: nc, r: packet.NewReader(nc, 1<<20), v: c.Version}
	if err := cl.send(c.Append(nil, c.Version)); err != nil {
		nc.Close()
		return nil, packet.Connack{}, err
	}
	h, body, err := cl.next(10 * time.Second)
	if err != nil {
		nc.Close()
		return nil, packet.Connack{}, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	var ack packet.Connack
	if h.Type != packet.CONNACK {
		nc.Close()
		return nil, ack, fmt.Errorf("got %v, want CONNACK", h.Type)
	}
	if err := ack.Decode(h, body, c.Version); err != nil {
		nc.Close()
		return nil, ack, err
	}
	if ack.Code != 0 {
		nc.Close()
		return nil, ack, fmt.Errorf("CONNACK refused: %v", ack.Code)
	}
	return cl, ack, nil
}

func (c *mqttClient) close() { c.nc.Close() }

// send writes b with a 10 s deadline.
func (c *mqttClient) send(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

// next reads one packet; the body is valid until the next call.
func (c *mqttClient) next(timeout time.Duration) (packet.Header, []byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	return c.r.Next()
}

// subscribe subscribes to filter and waits for the SUBACK; it returns the
// granted code.
func (c *mqttClient) subscribe(filter string, qos byte) (packet.ReasonCode, error) {
	s := packet.Subscribe{PacketID: 1, Subs: []packet.Subscription{{Filter: []byte(filter), QoS: qos}}}
	if err := c.send(s.Append(nil, c.v)); err != nil {
		return 0, err
	}
	for {
		h, body, err := c.next(10 * time.Second)
		if err != nil {
			return 0, fmt.Errorf("waiting for SUBACK: %w", err)
		}
		if h.Type != packet.SUBACK {
			continue // a retained or queued message may come first
		}
		var a packet.Suback
		if err := a.Decode(h, body, c.v); err != nil {
			return 0, err
		}
		if len(a.Codes) != 1 {
			return 0, fmt.Errorf("SUBACK with %d codes", len(a.Codes))
		}
		return a.Codes[0], nil
	}
}

// ack acknowledges a received QoS 1 or 2 PUBLISH (QoS 2: PUBREC; the
// PUBREL is answered by handleIncoming).
func (c *mqttClient) ack(p *packet.Publish) error {
	switch p.QoS {
	case 1:
		a := packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID}
		return c.send(a.Append(nil, c.v))
	case 2:
		a := packet.Ack{Type: packet.PUBREC, PacketID: p.PacketID}
		return c.send(a.Append(nil, c.v))
	}
	return nil
}

// receive reads until an error (a timeout of idle included), calling fn
// for each PUBLISH after acknowledging it; PUBRELs are answered.
func (c *mqttClient) receive(idle time.Duration, fn func(p *packet.Publish)) error {
	var p packet.Publish
	for {
		h, body, err := c.next(idle)
		if err != nil {
			return err
		}
		switch h.Type {
		case packet.PUBLISH:
			if err := p.Decode(h, body, c.v); err != nil {
				return err
			}
			if err := c.ack(&p); err != nil {
				return err
			}
			fn(&p)
		case packet.PUBREL:
			var a packet.Ack
			if err := a.Decode(h, body, c.v); err != nil {
				return err
			}
			r := packet.Ack{Type: packet.PUBCOMP, PacketID: a.PacketID}
			if err := c.send(r.Append(nil, c.v)); err != nil {
				return err
			}
		}
	}
}

// isTimeout reports whether err is a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
