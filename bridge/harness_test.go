package bridge

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/storage"
	"github.com/edgemq/edgemq/transport"
)

// freePort returns a loopback address whose port is free right now.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for a process's output and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mosquitto is an upstream broker process run by a test on loopback.
type mosquitto struct {
	t    testing.TB
	bin  string
	addr string
	conf string
	cmd  *exec.Cmd
	out  *syncBuffer
}

func mosquittoBin(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("the bridge tests need a real upstream broker: apt-get install mosquitto")
	return ""
}

// newMosquitto writes a config for a mosquitto on a free loopback port with
// persistence (so that sessions survive its restarts) and no queue limits.
// listener, if set, returns the listener lines for the port.
func newMosquitto(t testing.TB, listener func(port string) string) *mosquitto {
	t.Helper()
	m := &mosquitto{t: t, bin: mosquittoBin(t), addr: freePort(t)}
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(m.addr)
	lines := "listener " + port + " 127.0.0.1\n"
	if listener != nil {
		lines = listener(port)
	}
	conf := lines + fmt.Sprintf(`allow_anonymous true
persistence true
persistence_location %s/
autosave_interval 1
max_queued_messages 0
max_inflight_messages 0
user root
log_dest stderr
log_type error
log_type warning
`, dir)
	m.conf = filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if m.cmd != nil {
			m.cmd.Process.Kill()
			m.cmd.Wait()
		}
	})
	return m
}

func (m *mosquitto) start() {
	m.t.Helper()
	m.out = &syncBuffer{}
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	waitListening(m.t, m.addr, m.out)
}

// stop stops mosquitto cleanly (it saves its sessions and queues).
func (m *mosquitto) stop() {
	m.t.Helper()
	m.cmd.Process.Signal(syscall.SIGTERM)
	m.cmd.Wait()
	m.cmd = nil
}

func waitListening(t testing.TB, addr string, out fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v\n%s", addr, err, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sink subscribes on a broker and records what arrives.
type sink struct {
	mu     sync.Mutex
	seen   map[string]int
	topics map[string]string // payload -> topic of its first arrival
	firsts []string          // payloads in order of first arrival
	all    []string          // every arrival
	wake   chan struct{}
	c      mqtt.Client
}

// newSink connects a persistent-session subscriber with automatic
// reconnection to addr and subscribes to filter at qos.
func newSink(t testing.TB, addr, id, filter string, qos byte) *sink {
	t.Helper()
	s := &sink{seen: make(map[string]int), topics: make(map[string]string), wake: make(chan struct{}, 1)}
	subscribed := make(chan error, 1)
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(300 * time.Millisecond).
		SetOrderMatters(true).
		SetOnConnectHandler(func(c mqtt.Client) {
			tok := c.Subscribe(filter, qos, s.handle)
			go func() {
				tok.WaitTimeout(10 * time.Second)
				select {
				case subscribed <- tok.Error():
				default:
				}
			}()
		})
	s.c = mqtt.NewClient(o)
	if tok := s.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("sink connect to %s: %v", addr, tok.Error())
	}
	t.Cleanup(func() { s.c.Disconnect(0) })
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("sink subscribe: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sink: no SUBACK")
	}
	return s
}

func (s *sink) handle(_ mqtt.Client, m mqtt.Message) {
	p := string(m.Payload())
	s.mu.Lock()
	s.seen[p]++
	if s.seen[p] == 1 {
		s.firsts = append(s.firsts, p)
		s.topics[p] = m.Topic()
	}
	s.all = append(s.all, p)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// counts returns the number of distinct payloads and of duplicates.
func (s *sink) counts() (unique, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.firsts), len(s.all) - len(s.firsts)
}

// waitUnique waits until n distinct payloads have arrived.
func (s *sink) waitUnique(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if u, _ := s.counts(); u >= n {
			return
		}
		select {
		case <-s.wake:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			u, d := s.counts()
			t.Fatalf("%d distinct messages arrived (%d duplicates) within %s, want %d", u, d, timeout, n)
		}
	}
}

// edge is an in-process edgemq (broker, store, tcp listener, bridges).
type edge struct {
	srv  *broker.Server
	st   *storage.Store
	ln   transport.Listener
	addr string
	mgr  *Manager
	log  *syncBuffer
}

// startEdge starts a broker with a store in dir (memory when dir is "")
// and the bridges of cfgs.
func startEdge(t testing.TB, dir string, cfgs ...Config) *edge {
	t.Helper()
	e := &edge{log: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if dir != "" {
		opts := storage.Options{Dir: dir, Sync: storage.SyncBatch, Logger: log}
		eng, err := storage.OpenEngine(opts)
		if err != nil {
			t.Fatal(err)
		}
		e.st = storage.NewStore(eng, opts)
	}
	srv, err := broker.New(broker.Options{Logger: log, Store: e.st,
		Limits: broker.Limits{MaxInflight: 1000, ReceiveMaximum: 1000, MaxQueuedMessages: 100000, MaxQueuedBytes: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.ln, err = transport.ListenTCP("tcp", "127.0.0.1:0", srv.ServeConn, log)
	if err != nil {
		t.Fatal(err)
	}
	e.addr = e.ln.Addr().String()
	e.mgr, err = NewManager(Options{Server: srv, Store: e.st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Apply(cfgs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	return e
}

func (e *edge) close() {
	if e.mgr == nil {
		return
	}
	e.ln.Close()
	e.mgr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.srv.Shutdown(ctx)
	if e.st != nil {
		e.st.Close()
	}
	e.mgr = nil
}

func (e *edge) stats(t testing.TB, name string) Stats {
	t.Helper()
	for _, s := range e.mgr.Stats() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no bridge %q", name)
	return Stats{}
}

// waitStats waits until cond holds for the stats of bridge name.
func (e *edge) waitStats(t testing.TB, name string, timeout time.Duration, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := e.stats(t, name)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge %s: %s did not happen within %s: %+v", name, what, timeout, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testConfig is a bridge to a plain tcp upstream with short timings.
func testConfig(name, addr string, rules ...Rule) Config {
	return Config{
		Name: name, Address: "tcp://" + addr, ClientID: "edge-" + name,
		Keepalive: 5 * time.Second, Rules: rules, MaxBytes: 256 << 20, Overflow: DropOldest,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond, ConnectTimeout: 3 * time.Second,
	}
}

// client connects a plain paho client.
func client(t testing.TB, addr, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", id, addr, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// publishSeq publishes payloads "<prefix>-<i>" for i in [from, to) on
// topic, keeping up to window publishes unacknowledged, and returns once
// all are acknowledged. acked, if set, is called with i for each PUBACK,
// in order.
func publishSeq(t testing.TB, c mqtt.Client, topic, prefix string, qos byte, from, to, window int, acked func(int)) {
	t.Helper()
	type pending struct {
		i   int
		tok mqtt.Token
	}
	var q []pending
	wait := func(p pending) {
		if !p.tok.WaitTimeout(30*time.Second) || p.tok.Error() != nil {
			t.Errorf("publish %s-%d: not acknowledged: %v", prefix, p.i, p.tok.Error())
			return
		}
		if acked != nil {
			acked(p.i)
		}
	}
	for i := from; i < to; i++ {
		q = append(q, pending{i, c.Publish(topic, qos, false, fmt.Sprintf("%s-%d", prefix, i))})
		if len(q) >= window {
			wait(q[0])
			q = q[1:]
		}
	}
	for _, p := range q {
		wait(p)
	}
}

// checkOrder checks that, per publisher prefix, the first arrivals of
// "<prefix>-<i>" payloads come in increasing i.
func checkOrder(t testing.TB, firsts []string) {
	t.Helper()
	last := make(map[string]int)
	for _, p := range firsts {
		i := strings.LastIndexByte(p, '-')
		var n int
		fmt.Sscanf(p[i+1:], "%d", &n)
		prev, ok := last[p[:i]]
		if ok && n <= prev {
			t.Fatalf("publisher %s: %d arrived after %d", p[:i], n, prev)
		}
		last[p[:i]] = n
	}
}
