package bridge

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
)

// The bridge benchmarks measure edgemq -> loopback mosquitto. The
// upstream subscriber is a persistent mosquitto_sub session that is
// offline while messages flow (mosquitto keeps them for it), so that only
// edgemq and mosquitto use the CPU during the measurement; afterwards
// mosquitto_sub collects every message to check that none was lost. CPU
// time of both sides is reported per message, which is steadier than a
// rate on a shared machine.

// BenchmarkBridgeDrain measures how fast a backlog of b.N QoS 1 messages,
// queued while the upstream was down, drains to a loopback mosquitto, and
// checks that every message arrives. make bench runs it with 1,000,000.
// The target (DESIGN.md section 5) is 20,000 msg/s without loss.
func BenchmarkBridgeDrain(b *testing.B) {
	b.ReportAllocs()
	up := newMosquitto(b, nil)
	up.start()
	sub := newOfflineSub(b, up.addr, "site1/#")
	up.stop()
	cfg := testConfig("cloud", up.addr, Rule{Pattern: "bench/#", Direction: Out, QoS: 1, RemotePrefix: "site1/"})
	cfg.MaxBytes = 1 << 30
	e := startEdge(b, b.TempDir(), cfg)

	fillStart := time.Now()
	publishLocal(b, e.srv, b.N, 0, 8)
	e.waitStats(b, "cloud", 10*time.Minute, "backlog queued", func(s Stats) bool { return s.Queued == b.N })
	st := e.stats(b, "cloud")
	b.Logf("backlog: %d messages, %d bytes, queued in %v", st.Queued, st.QueuedBytes, time.Since(fillStart).Round(time.Millisecond))

	b.ResetTimer()
	up.start()
	cpu := startCPU(up)
	start := time.Now()
	e.waitStats(b, "cloud", 30*time.Minute, "backlog drained", func(s Stats) bool { return s.Queued == 0 && s.Inflight == 0 })
	drain := time.Since(start)
	b.StopTimer()
	self, mosq := cpu.stop()
	b.ReportMetric(float64(b.N)/drain.Seconds(), "msg/s")
	b.ReportMetric(float64(self.Microseconds())/float64(b.N), "edgemq-cpu-µs/msg")
	b.ReportMetric(float64(mosq.Microseconds())/float64(b.N), "mosquitto-cpu-µs/msg")
	b.Logf("drained %d messages in %v: %.0f msg/s; CPU edgemq %v (%.0f%% of a core), mosquitto %v",
		b.N, drain.Round(time.Millisecond), float64(b.N)/drain.Seconds(), self.Round(time.Millisecond),
		100*self.Seconds()/drain.Seconds(), mosq.Round(time.Millisecond))
	sub.check(b, b.N)
}

// BenchmarkBridgeForward measures the steady rate of QoS 1 messages
// published to edgemq (256 in-process publishers, each waiting until its
// message is durable, as a client waits for its PUBACK) and forwarded to a
// loopback mosquitto, until the remote has acknowledged all of them.
func BenchmarkBridgeForward(b *testing.B) {
	b.ReportAllocs()
	up := newMosquitto(b, nil)
	up.start()
	sub := newOfflineSub(b, up.addr, "site1/#")
	cfg := testConfig("cloud", up.addr, Rule{Pattern: "bench/#", Direction: Out, QoS: 1, RemotePrefix: "site1/"})
	e := startEdge(b, b.TempDir(), cfg)
	e.waitStats(b, "cloud", 10*time.Second, "link up", func(s Stats) bool { return s.State == LinkUp })
	b.ResetTimer()
	cpu := startCPU(up)
	start := time.Now()
	publishLocal(b, e.srv, b.N, 1, 256)
	e.waitStats(b, "cloud", 30*time.Minute, "all acknowledged", func(s Stats) bool { return s.Acked == uint64(b.N) })
	d := time.Since(start)
	b.StopTimer()
	self, mosq := cpu.stop()
	b.ReportMetric(float64(b.N)/d.Seconds(), "msg/s")
	b.ReportMetric(float64(self.Microseconds())/float64(b.N), "edgemq-cpu-µs/msg")
	b.ReportMetric(float64(mosq.Microseconds())/float64(b.N), "mosquitto-cpu-µs/msg")
	b.Logf("forwarded %d QoS 1 messages in %v: %.0f msg/s; CPU edgemq %v, mosquitto %v",
		b.N, d.Round(time.Millisecond), float64(b.N)/d.Seconds(), self.Round(time.Millisecond), mosq.Round(time.Millisecond))
	sub.check(b, b.N)
}

// publishLocal publishes n messages with 100-byte payloads into srv from
// pubs goroutines at QoS qos (for QoS 1, Publish returns once durable).
func publishLocal(b *testing.B, srv *broker.Server, n int, qos byte, pubs int) {
	var wg sync.WaitGroup
	for p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := fmt.Appendf(nil, "bench/p%d", p)
			for i := p; i < n; i += pubs {
				payload := fmt.Appendf(make([]byte, 0, 100), "p%d-%d-", p, i)
				payload = append(payload, bytes.Repeat([]byte{'x'}, 100-len(payload))...)
				if _, err := srv.Publish(topic, payload, broker.PublishOptions{QoS: qos}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// offlineSub is a persistent mosquitto_sub session, offline while the
// benchmark runs.
type offlineSub struct {
	addr, filter, id string
}

func newOfflineSub(b *testing.B, addr, filter string) *offlineSub {
	s := &offlineSub{addr: addr, filter: filter, id: fmt.Sprintf("benchsink%d", time.Now().UnixNano())}
	if out, err := s.cmd("-E").CombinedOutput(); err != nil {
		b.Fatalf("mosquitto_sub (apt-get install mosquitto-clients): %v\n%s", err, out)
	}
	return s
}

func (s *offlineSub) cmd(args ...string) *exec.Cmd {
	host, port, _ := net.SplitHostPort(s.addr)
	return exec.Command("mosquitto_sub", append([]string{"-h", host, "-p", port, "-c", "-i", s.id, "-q", "1", "-t", s.filter}, args...)...)
}

// check collects what mosquitto kept for the session and checks that n
// distinct messages arrived.
func (s *offlineSub) check(b *testing.B, n int) {
	path := filepath.Join(b.TempDir(), "received")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	cmd := s.cmd("-C", strconv.Itoa(n), "-W", "600")
	cmd.Stdout = f
	err = cmd.Run()
	f.Close()
	if err != nil {
		b.Fatalf("mosquitto_sub: %v", err)
	}
	f, _ = os.Open(path)
	defer f.Close()
	seen := make(map[string]bool, n)
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines++
		seen[strings.TrimRight(sc.Text(), "x")] = true
	}
	if len(seen) != n {
		b.Fatalf("%d distinct messages reached the upstream, want %d", len(seen), n)
	}
	b.Logf("all %d messages reached the upstream (%d deliveries)", n, lines)
}

// cpuMeter measures the CPU time of this process and of mosquitto.
type cpuMeter struct {
	up         *mosquitto
	self, mosq time.Duration
}

func startCPU(up *mosquitto) *cpuMeter {
	return &cpuMeter{up: up, self: selfCPU(), mosq: procCPU(up.cmd.Process.Pid)}
}

func (c *cpuMeter) stop() (self, mosq time.Duration) {
	return selfCPU() - c.self, procCPU(c.up.cmd.Process.Pid) - c.mosq
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU returns the user and system time of pid (Linux, 100 ticks/s).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
