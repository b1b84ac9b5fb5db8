package faults

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// TestFDExhaustion runs edgemq with RLIMIT_NOFILE at 64 (prlimit) and
// opens connections until it cannot accept more. While it is out of file
// descriptors: clients already connected keep publishing and receiving,
// accept errors are logged at most once a second, and the accept loop
// backs off instead of spinning (edgemq's CPU time is measured). Once
// connections close, the ones waiting in the listen backlog and new ones
// are accepted without a restart.
func TestFDExhaustion(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Fatal("prlimit is not installed: apt-get install util-linux (make deps does)")
	}
	bin := edgemqBinary(t)
	var f Figures
	defer func() { Report(t, "fd_exhaustion", f.List()...) }()
	const limit = 64
	f.Set("fd_limit", limit)
	dir := t.TempDir()
	addr := loopbackAddr(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
data_dir: %s/data
storage: {engine: bolt}
listeners:
  - {name: mqtt, type: tcp, address: "%s"}
auth: {allow_anonymous: true}
sys_interval: 0s
log: {level: info}
`, dir, addr))
	p := startBroker(t, bin, cfg, procOpts{NoFile: limit}, "mqtt")

	sub, _, err := dialMQTT(addr, packet.Connect{ClientID: []byte("fd-sub"), CleanStart: true, KeepAlive: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.close()
	if _, err := sub.subscribe("fd/#", 1); err != nil {
		t.Fatal(err)
	}
	pub, _, err := dialMQTT(addr, packet.Connect{ClientID: []byte("fd-pub"), CleanStart: true, KeepAlive: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()
	roundTrip := func(i int) error {
		m := packet.Publish{Topic: []byte("fd/x"), QoS: 1, PacketID: uint16(i), Payload: []byte("m" + strconv.Itoa(i))}
		if err := pub.send(m.Append(nil, packet.V311)); err != nil {
			return err
		}
		if h, _, err := pub.next(5 * time.Second); err != nil || h.Type != packet.PUBACK {
			return fmt.Errorf("publish %d: %v %v", i, h.Type, err)
		}
		h, body, err := sub.next(5 * time.Second)
		if err != nil || h.Type != packet.PUBLISH {
			return fmt.Errorf("receive %d: %v %v", i, h.Type, err)
		}
		var got packet.Publish
		got.Decode(h, body, packet.V311)
		a := packet.Ack{Type: packet.PUBACK, PacketID: got.PacketID}
		sub.send(a.Append(nil, packet.V311))
		if string(got.Payload) != "m"+strconv.Itoa(i) {
			return fmt.Errorf("received %q, want m%d", got.Payload, i)
		}
		return nil
	}
	if err := roundTrip(1); err != nil {
		t.Fatal(err)
	}

	// Connect until a CONNECT gets no CONNACK: edgemq is out of fds.
	connect := packet.Connect{ClientID: []byte("x"), CleanStart: true, KeepAlive: 60}
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	var waiting []*mqttClient // connected at the TCP level, CONNECT sent, no CONNACK yet
	for i := 0; len(waiting) == 0; i++ {
		if i > limit {
			t.Fatalf("%d connections accepted with RLIMIT_NOFILE %d", i, limit)
		}
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		connect.ClientID = []byte("idle-" + strconv.Itoa(i))
		nc.Write(connect.Append(nil, packet.V311))
		cl := &mqttClient{nc: nc, r: packet.NewReader(nc, 1<<16), v: packet.V311}
		if h, _, err := cl.next(time.Second); err == nil && h.Type == packet.CONNACK {
			idle = append(idle, nc)
			continue
		}
		cl.r = packet.NewReader(nc, 1<<16) // the timeout is sticky in the old one
		waiting = append(waiting, cl)
	}
	f.Set("clients_at_limit", len(idle)+2)
	// A few more wait in the listen backlog.
	for i := range 5 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		connect.ClientID = []byte("late-" + strconv.Itoa(i))
		nc.Write(connect.Append(nil, packet.V311))
		waiting = append(waiting, &mqttClient{nc: nc, r: packet.NewReader(nc, 1<<16), v: packet.V311})
	}
	defer func() {
		for _, c := range waiting {
			c.close()
		}
	}()

	// Out of fds: the existing clients still work; the accept loop logs
	// and backs off.
	cpu0, t0 := cpuTime(p.pid()), time.Now()
	for i := 2; i < 22; i++ {
		if err := roundTrip(i); err != nil {
			t.Fatalf("an existing client stopped working while edgemq was out of fds: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cpu := cpuTime(p.pid()) - cpu0
	elapsed := time.Since(t0)
	f.Set("cpu_while_exhausted", fmt.Sprintf("%.1f%%", 100*cpu.Seconds()/elapsed.Seconds()))
	if cpu > elapsed/5 {
		t.Errorf("edgemq used %v of CPU in %v while out of fds: the accept loop spins", cpu, elapsed)
	}
	log := p.logText()
	lines := strings.Count(log, `msg="accept failed; retrying"`)
	f.Set("accept_error_lines", lines)
	if lines == 0 || !strings.Contains(log, "too many open files") {
		t.Errorf("no accept error logged while out of fds:\n%s", tail(log, 20))
	}
	if lines > int(elapsed/time.Second)+2 {
		t.Errorf("%d accept error lines in %v: not rate-limited", lines, elapsed)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "accept failed") && !uniqueKeys(line) {
			t.Errorf("a log line with a key twice (invalid as JSON): %s", line)
		}
	}

	// Free fds: the waiting connections are accepted, and new ones.
	start := time.Now()
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	for i, c := range waiting {
		if h, _, err := c.next(5 * time.Second); err != nil || h.Type != packet.CONNACK {
			t.Fatalf("connection %d waiting in the backlog: %v %v after fds were freed", i, h.Type, err)
		}
	}
	f.Set("recovery", time.Since(start))
	late, _, err := dialMQTT(addr, packet.Connect{ClientID: []byte("after"), CleanStart: true, KeepAlive: 60})
	if err != nil {
		t.Fatalf("a new client after fds were freed: %v", err)
	}
	late.close()
	if err := roundTrip(30); err != nil {
		t.Fatal(err)
	}
}

// TestSlowloris opens connections that never send anything and
// connections that send half a CONNECT, and checks that edgemq closes
// each within limits.connect_timeout (plus scheduling slack), while a
// well-behaved client connects and exchanges messages throughout.
func TestSlowloris(t *testing.T) {
	bin := edgemqBinary(t)
	var f Figures
	defer func() { Report(t, "slowloris", f.List()...) }()
	flood, timeout := 200, time.Second
	if Full() {
		flood, timeout = 900, 2*time.Second
	}
	f.Set("flood", 2*flood)
	f.Set("connect_timeout", timeout)
	dir := t.TempDir()
	addr := loopbackAddr(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
data_dir: ""
listeners:
  - {name: mqtt, type: tcp, address: "%s"}
auth: {allow_anonymous: true}
limits: {max_connections: %d, connect_timeout: %s}
sys_interval: 0s
log: {level: warn}
`, addr, 2*flood+100, timeout))
	startBrokerQuiet(t, bin, cfg, addr)

	// Half a CONNECT: fixed header, remaining length, part of the
	// protocol name.
	c := packet.Connect{ClientID: []byte("slow"), CleanStart: true, KeepAlive: 60}
	half := c.Append(nil, packet.V311)[:6]
	type victim struct {
		nc     net.Conn
		opened time.Time
	}
	var victims []victim
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 2 * flood {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			nc.Write(half)
		}
		victims = append(victims, victim{nc, time.Now()})
	}
	closedAfter := make([]time.Duration, len(victims))
	for i, v := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer v.nc.Close()
			v.nc.SetReadDeadline(time.Now().Add(timeout + 10*time.Second))
			var b [64]byte
			for {
				if _, err := v.nc.Read(b[:]); err != nil {
					mu.Lock()
					closedAfter[i] = time.Since(v.opened)
					if isTimeout(err) {
						closedAfter[i] = -1
					}
					mu.Unlock()
					return
				}
			}
		}()
	}

	// The good client, meanwhile.
	goodStart := time.Now()
	good, _, err := dialMQTT(addr, packet.Connect{ClientID: []byte("good"), CleanStart: true, KeepAlive: 60})
	if err != nil {
		t.Fatalf("a good client during the flood: %v", err)
	}
	defer good.close()
	if _, err := good.subscribe("ok/#", 0); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		m := packet.Publish{Topic: []byte("ok/x"), Payload: []byte(strconv.Itoa(i))}
		good.send(m.Append(nil, packet.V311))
		h, _, err := good.next(2 * time.Second)
		if err != nil || h.Type != packet.PUBLISH {
			t.Fatalf("the good client during the flood: %v %v", h.Type, err)
		}
	}
	f.Set("good_client", time.Since(goodStart))
	wg.Wait()

	var worst time.Duration
	open := 0
	for _, d := range closedAfter {
		if d < 0 {
			open++
		}
		worst = max(worst, d)
	}
	f.Set("closed_within", worst)
	if open > 0 {
		t.Fatalf("%d of %d silent connections were still open %v after the connect timeout", open, len(victims), 10*time.Second)
	}
	if worst > timeout+1500*time.Millisecond {
		t.Errorf("a silent connection was closed only after %v (connect_timeout %v)", worst, timeout)
	}
}

// startBrokerQuiet starts edgemq with a log level above info (no
// "listening" line) and waits until addr accepts.
func startBrokerQuiet(t *testing.T, bin, cfg, addr string) *brokerProc {
	t.Helper()
	p := startBroker(t, bin, cfg, procOpts{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return p
		}
		if !p.alive() || time.Now().After(deadline) {
			t.Fatalf("edgemq does not listen on %s: %v\n%s", addr, err, p.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// uniqueKeys reports whether no key=value key appears twice in a text log
// line (values here have no spaces except quoted ones).
func uniqueKeys(line string) bool {
	seen := map[string]bool{}
	inQuote := false
	start := 0
	for i := 0; i <= len(line); i++ {
		if i < len(line) && line[i] == '"' {
			inQuote = !inQuote
		}
		if i == len(line) || line[i] == ' ' && !inQuote {
			if k, _, ok := strings.Cut(line[start:i], "="); ok {
				if seen[k] {
					return false
				}
				seen[k] = true
			}
			start = i + 1
		}
	}
	return true
}

// TestMemoryFlood subscribes 10,000 clients (1,000 in make test) to "#"
// that never read, except one in a hundred, and floods QoS 0 messages to
// them, with edgemq in a memory cgroup (512 MiB) when one can be made and
// GOMEMLIMIT otherwise. edgemq must not be OOM-killed, its resident memory
// must stay within what its limits allow (connections, max_total_queued_
// bytes), and the drops must be counted. The readers must keep getting
// messages.
func TestMemoryFlood(t *testing.T) {
	bin := edgemqBinary(t)
	var f Figures
	defer func() { Report(t, "memory_flood", f.List()...) }()
	clients, flood := 1000, 3*time.Second
	if Full() {
		clients, flood = 10000, 20*time.Second
	}
	const (
		cgroupLimit = 512 << 20
		totalQueued = 32 << 20
		payloadSize = 512
		// What a connection holds beyond the queues: its goroutines, read
		// buffer and session (idle, about 8 KiB), and when its client does
		// not read, the batch its writer is stuck writing (at most 32 KiB
		// of messages, broker/writer.go).
		perConnIdle  = 16 << 10
		perConnBatch = 32 << 10
	)
	f.Set("clients", clients)
	var o procOpts
	cg, cgv := memCgroup(t, cgroupLimit)
	if cg != "" {
		o.Cgroup = cg
		f.Set("memory", fmt.Sprintf("cgroup-v%d-%dMiB", cgv, cgroupLimit>>20))
	} else {
		o.Env = []string{"GOMEMLIMIT=256MiB"}
		f.Set("memory", "GOMEMLIMIT=256MiB")
	}
	dir := t.TempDir()
	addr, httpAddr := loopbackAddr(t), loopbackAddr(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
data_dir: %s/data
storage: {engine: bolt}
listeners:
  - {name: mqtt, type: tcp, address: "%s"}
auth: {allow_anonymous: true}
limits: {max_connections: %d, max_total_queued_bytes: %d, max_queued_messages: 1000, max_queued_bytes: 1MiB}
http: {address: "%s"}
sys_interval: 0s
log: {level: info}
`, dir, addr, clients+100, totalQueued, httpAddr))
	p := startBroker(t, bin, cfg, o, "mqtt")
	rss0 := procStatus(p.pid(), "VmRSS")

	// Subscribe everyone; small receive buffers, so that the stalled ones
	// stall soon.
	dialer := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	conns := make([]net.Conn, clients)
	var received sync.WaitGroup
	var readBytes atomic.Int64
	jobs := make(chan int)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	setupStart := time.Now()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				nc, err := dialer.Dial("tcp", addr)
				if err != nil {
					errs <- err
					continue
				}
				c := packet.Connect{ClientID: []byte("m" + strconv.Itoa(i)), CleanStart: true, KeepAlive: 0}
				s := packet.Subscribe{PacketID: 1, Subs: []packet.Subscription{{Filter: []byte("#")}}}
				nc.Write(s.Append(c.Append(nil, packet.V311), packet.V311))
				cl := &mqttClient{nc: nc, r: packet.NewReaderSize(nc, 1<<16, 64), v: packet.V311}
				for _, want := range []packet.Type{packet.CONNACK, packet.SUBACK} {
					if h, _, err := cl.next(10 * time.Second); err != nil || h.Type != want {
						errs <- fmt.Errorf("client %d: %v %v, want %v", i, h.Type, err, want)
						break
					}
				}
				conns[i] = nc
			}
		}()
	}
	for i := range clients {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	f.Set("setup", time.Since(setupStart))
	rssIdle := procStatus(p.pid(), "VmRSS")
	f.Set("rss_idle_mib", rssIdle>>20)
	f.Set("per_conn_kib", (rssIdle-rss0)/int64(clients)>>10)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	// One in a hundred reads everything (at most 16 of them).
	for i := 0; i < clients && i < 1600; i += 100 {
		received.Add(1)
		go func() {
			defer received.Done()
			var b [32 << 10]byte
			for {
				n, err := conns[i].Read(b[:])
				readBytes.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
	}

	// Flood, sampling RSS.
	pub, _, err := dialMQTT(addr, packet.Connect{ClientID: []byte("flooder"), CleanStart: true, KeepAlive: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()
	stopSampling := make(chan struct{})
	var peak int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				peak = max(peak, procStatus(p.pid(), "VmRSS"))
			}
		}
	}()
	payload := make([]byte, payloadSize)
	var batch []byte
	sent := 0
	for i := range 64 {
		m := packet.Publish{Topic: []byte("flood/" + strconv.Itoa(i%8)), Payload: payload}
		batch = m.Append(batch, packet.V311)
	}
	// Flood for the planned time, and on until drops are counted (the
	// queues may take a while to reach max_total_queued_bytes while the
	// kernel's socket buffers absorb the first messages).
	// The flooder is throttled by TCP: edgemq reads it only as fast as it
	// can route to every subscriber. With 10,000 of them one message is
	// 10,000 writes, and on 2 cores a write of the flooder may wait for
	// seconds; the longest wait is reported. 60 s is a keep alive.
	start := time.Now()
	var stall time.Duration
	for next := start.Add(flood); ; {
		t0 := time.Now()
		pub.nc.SetWriteDeadline(t0.Add(60 * time.Second))
		if _, err := pub.nc.Write(batch); err != nil {
			t.Fatalf("publisher: %v", err)
		}
		stall = max(stall, time.Since(t0))
		sent += 64
		if now := time.Now(); now.After(next) {
			m, err := metrics(httpAddr)
			if err != nil {
				t.Fatal(err)
			}
			if m[`edgemq_messages_dropped_total{reason="memory"}`]+m[`edgemq_messages_dropped_total{reason="queue_full"}`] > 0 ||
				now.Sub(start) > flood+30*time.Second {
				break
			}
			next = now.Add(500 * time.Millisecond)
		}
	}
	f.Set("flood", time.Since(start))
	f.Set("publisher_max_wait", stall)
	close(stopSampling)
	<-sampled
	f.Set("published", sent)
	if !p.alive() {
		t.Fatalf("edgemq died under the flood:\n%s", logExcerpt(p.logText()))
	}
	if cg != "" {
		kills := oomKills(cg, cgv)
		f.Set("oom_kills", kills)
		if kills > 0 {
			t.Errorf("the OOM killer killed %d processes in edgemq's cgroup", kills)
		}
	}
	hwm := procStatus(p.pid(), "VmHWM")
	f.Set("rss_peak_mib", max(peak, hwm)>>20)
	m, err := metrics(httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	dropped := m[`edgemq_messages_dropped_total{reason="memory"}`] + m[`edgemq_messages_dropped_total{reason="queue_full"}`]
	f.Set("dropped_memory", int64(m[`edgemq_messages_dropped_total{reason="memory"}`]))
	f.Set("dropped_queue_full", int64(m[`edgemq_messages_dropped_total{reason="queue_full"}`]))
	f.Set("delivered", int64(m[`edgemq_messages_sent_total{qos="0"}`]))
	f.Set("queue_memory_mib", int64(m["edgemq_queue_memory_bytes"])>>20)
	if dropped == 0 {
		t.Errorf("no drop counted while %d stalled clients were flooded", clients)
	}
	if q := m["edgemq_queue_memory_bytes"]; q > totalQueued+1<<20 {
		t.Errorf("queues hold %.0f bytes, above max_total_queued_bytes %d", q, totalQueued)
	}
	// Bound: what edgemq held before the clients, each connection idle,
	// the queues and the stalled writers' batches twice over (the Go heap
	// grows to twice what is live before it collects), and 32 MiB for the
	// rest.
	bound := rss0 + int64(clients)*perConnIdle + 2*(totalQueued+int64(clients)*perConnBatch) + 32<<20
	f.Set("rss_bound_mib", bound>>20)
	if max(peak, hwm) > bound {
		t.Errorf("RSS peaked at %d MiB, above %d MiB", max(peak, hwm)>>20, bound>>20)
	}
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	received.Wait()
	read := readBytes.Load()
	f.Set("reader_bytes", read)
	if read == 0 {
		t.Error("the clients that read got nothing during the flood")
	}
}
