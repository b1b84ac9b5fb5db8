package monitor_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	dto "github.com/prometheus/client_model/go"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/logs"
	"github.com/edgemq/edgemq/monitor"
	"github.com/edgemq/edgemq/storage"
	"github.com/edgemq/edgemq/transport"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rig is a broker with two real TCP listeners, a bolt store and the
// monitor's HTTP server on loopback.
type rig struct {
	srv      *broker.Server
	store    *storage.Store
	mon      *monitor.Server
	a, b     string // MQTT listener addresses
	base     string // http://host:port
	logs     *syncBuffer
	ring     *logs.Ring
	dataDir  string
	failNext *atomic.Bool // injected engine failure
}

// failingEngine fails every write while fail is set: an injected engine
// error, the unit-test stand-in for a disk that stopped taking writes.
type failingEngine struct {
	storage.Engine
	fail *atomic.Bool
}

func (e failingEngine) Write(b *storage.Batch, sync bool) error {
	if e.fail.Load() {
		return errors.New("injected: input/output error")
	}
	return e.Engine.Write(b, sync)
}

func newRig(t *testing.T, limits broker.Limits, auth monitor.PasswordChecker) *rig {
	t.Helper()
	r := &rig{logs: &syncBuffer{}, ring: logs.NewRing(20), dataDir: t.TempDir(), failNext: new(atomic.Bool)}
	log := slog.New(r.ring.Wrap(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: logs.Redact})))
	opts := storage.Options{Dir: r.dataDir, Engine: "bolt", Sync: storage.SyncBatch, Logger: log}
	eng, err := storage.OpenEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.store = storage.NewStore(failingEngine{Engine: eng, fail: r.failNext}, opts)
	r.srv, err = broker.New(broker.Options{Logger: log, Store: r.store, Limits: limits, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	la, err := transport.ListenTCP("a", "127.0.0.1:0", r.srv.ServeConn, log)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := transport.ListenTCP("b", "127.0.0.1:0", r.srv.ServeConn, log)
	if err != nil {
		t.Fatal(err)
	}
	r.a, r.b = la.Addr().String(), lb.Addr().String()
	r.mon, err = monitor.New(monitor.Options{
		Address: "127.0.0.1:0", Version: "1.2.3-test", Broker: r.srv, Store: r.store, DataDir: r.dataDir,
		Listeners: []monitor.Listener{{Name: "a", Type: "tcp", Address: r.a}, {Name: "b", Type: "tcp", Address: r.b}},
		Auth:      auth, Logs: r.ring, Logger: log, ProbeTTL: 20 * time.Millisecond,
		Collectors: []monitor.Collector{monitor.LogCollector(r.ring, nil)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.mon.Start(); err != nil {
		t.Fatal(err)
	}
	r.base = "http://" + r.mon.Addr().String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.mon.Shutdown(ctx); err != nil {
			t.Errorf("monitor Shutdown: %v", err)
		}
		la.Close()
		lb.Close()
		r.srv.Shutdown(ctx)
		r.store.Close()
		if t.Failed() {
			t.Logf("log:\n%s", r.logs.String())
		}
	})
	return r
}

// get fetches path and returns the status code and body.
func (r *rig) get(t *testing.T, path string, setup ...func(*http.Request)) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", r.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b), res.Header
}

// value returns the sample of family name whose labels include all of
// labels (name, value pairs).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no family %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no sample of %s with %q", name, labels)
	return 0
}

// TestMetricsAfterWorkload scripts a workload with real clients (paho
// MQTT 5 subscriber on listener a, paho 3.1.1 publisher on listener b, an
// offline persistent session whose queue overflows) and asserts the exact
// values scraped from /metrics.
func TestMetricsAfterWorkload(t *testing.T) {
	r := newRig(t, broker.Limits{MaxQueuedMessages: 1}, nil)

	// The offline session: subscribed to w/2 at QoS 1, then gone.
	slow := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + r.b).SetClientID("slow").
		SetCleanSession(false).SetAutoReconnect(false).SetProtocolVersion(4))
	wait(t, slow.Connect())
	wait(t, slow.Subscribe("w/2", 1, nil))
	slow.Disconnect(100)

	// The subscriber, MQTT 5 over listener a.
	var got atomic.Int32
	sub := dialV5(t, r.a, "sub", func(*paho.Publish) { got.Add(1) })
	if _, err := sub.Subscribe(ctx(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "w/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	// The publisher, MQTT 3.1.1 over listener b. One message at a time,
	// each waited for, so that the subscriber's one-message queue never
	// overflows.
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + r.b).SetClientID("pub").
		SetAutoReconnect(false).SetProtocolVersion(4))
	wait(t, pub.Connect())
	defer pub.Disconnect(100)
	n := int32(0)
	send := func(topic string, qos byte, retain bool, payload string) {
		t.Helper()
		wait(t, pub.Publish(topic, qos, retain, payload))
		n++
		waitFor(t, "delivery to sub", func() bool { return got.Load() == n })
	}
	for range 5 {
		send("w/0", 0, false, "hello")
	}
	for range 3 {
		send("w/1", 1, false, "abcd")
	}
	for range 2 {
		send("w/2", 2, false, "xyz") // the second overflows slow's queue
	}
	send("w/r", 1, true, "r")

	code, body, h := r.get(t, "/metrics")
	if code != 200 || h.Get("Content-Type") != monitor.ContentType {
		t.Fatalf("/metrics: %d %q", code, h.Get("Content-Type"))
	}
	if testing.Verbose() {
		t.Logf("/metrics:\n%s", body)
	}
	fams := parse(t, []byte(body))
	want := []struct {
		name   string
		labels []string
		v      float64
	}{
		{"edgemq_messages_received_total", []string{"qos", "0"}, 5},
		{"edgemq_messages_received_total", []string{"qos", "1"}, 4},
		{"edgemq_messages_received_total", []string{"qos", "2"}, 2},
		{"edgemq_payload_received_bytes_total", []string{"qos", "0"}, 25},
		{"edgemq_payload_received_bytes_total", []string{"qos", "1"}, 13},
		{"edgemq_payload_received_bytes_total", []string{"qos", "2"}, 6},
		// The subscription is QoS 1: QoS 2 messages go out at QoS 1.
		{"edgemq_messages_sent_total", []string{"qos", "0"}, 5},
		{"edgemq_messages_sent_total", []string{"qos", "1"}, 6},
		{"edgemq_messages_sent_total", []string{"qos", "2"}, 0},
		{"edgemq_payload_sent_bytes_total", []string{"qos", "0"}, 25},
		{"edgemq_payload_sent_bytes_total", []string{"qos", "1"}, 19},
		{"edgemq_messages_dropped_total", []string{"reason", "queue_full"}, 1},
		{"edgemq_messages_dropped_total", []string{"reason", "expired"}, 0},
		{"edgemq_messages_dropped_total", []string{"reason", "not_authorized"}, 0},
		{"edgemq_messages_dropped_total", []string{"reason", "too_large"}, 0},
		{"edgemq_connections", []string{"listener", "a", "protocol", "mqtt", "version", "5.0"}, 1},
		{"edgemq_connections", []string{"listener", "b", "protocol", "mqtt", "version", "3.1.1"}, 1},
		{"edgemq_clients_connected", nil, 2},
		{"edgemq_connects_total", nil, 3},
		{"edgemq_sessions", nil, 3},
		{"edgemq_subscriptions", nil, 2},
		{"edgemq_retained_messages", nil, 1},
		{"edgemq_queued_messages", nil, 1},
		{"edgemq_queue_max_messages", nil, 1},
		{"edgemq_inflight_messages", nil, 0},
		{"edgemq_storage_info", []string{"engine", "bolt"}, 1},
		{"edgemq_ready", []string{"check", "storage"}, 1},
		{"edgemq_ready", []string{"check", "broker"}, 1},
		{"edgemq_build_info", []string{"version", "1.2.3-test"}, 1},
		{"edgemq_storage_errors_total", nil, 0},
	}
	for _, w := range want {
		if v := value(t, fams, w.name, w.labels...); v != w.v {
			t.Errorf("%s%q = %v, want %v", w.name, w.labels, v, w.v)
		}
	}
	// Gauges that depend on the machine: present and plausible.
	for _, name := range []string{"edgemq_storage_commits_total", "edgemq_storage_size_bytes", "go_goroutines",
		"go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds", "edgemq_queue_max_bytes"} {
		if v := value(t, fams, name); v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	for name, f := range fams {
		if f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
	}

	// The status API agrees.
	code, body, _ = r.get(t, "/api/status")
	var st monitor.Status
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("/api/status: %d %v\n%s", code, err, body)
	}
	if st.Clients != 2 || st.MessagesIn != 11 || st.MessagesOut != 11 || st.Dropped != 1 || !st.Ready.Ready ||
		len(st.Listeners) != 2 || st.Listeners[0].Connections != 1 || st.Listeners[1].Connections != 1 ||
		st.Storage.Engine != "bolt" || !st.Storage.Writable || st.Bridges != nil || st.Serial != nil {
		t.Errorf("status %+v", st)
	}
	if !strings.Contains(body, `"bridges":null`) || !strings.Contains(body, `"serial":null`) {
		t.Errorf("unconfigured sections are not null: %s", body)
	}
	// The queue_full drop was logged as a warning and reached the ring.
	if len(st.Warnings) == 0 || st.Warnings[0].Message != "client queue full: dropping messages" {
		t.Errorf("warnings %+v", st.Warnings)
	}
}

func TestEndpoints(t *testing.T) {
	r := newRig(t, broker.Limits{}, nil)
	code, body, _ := r.get(t, "/healthz")
	if code != 200 || body != `{"status":"ok"}`+"\n" {
		t.Errorf("/healthz: %d %s", code, body)
	}
	code, body, _ = r.get(t, "/readyz")
	if code != 200 || body != `{"ready":true,"checks":[{"name":"broker","ok":true},{"name":"storage","ok":true}]}`+"\n" {
		t.Errorf("/readyz: %d %s", code, body)
	}
	code, body, h := r.get(t, "/")
	if code != 200 || !strings.HasPrefix(body, "<!doctype html>") || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("/: %d %q %q", code, h.Get("Content-Security-Policy"), body[:min(len(body), 40)])
	}
	// Self-contained: nothing fetched from elsewhere.
	for _, bad := range []string{"http://", "https://", "src=", "<link"} {
		if strings.Contains(body, bad) {
			t.Errorf("the status page contains %q", bad)
		}
	}
	if code, _, _ := r.get(t, "/nope"); code != 404 {
		t.Errorf("/nope: %d", code)
	}
	res, err := http.Post(r.base+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 405 {
		t.Errorf("POST /metrics: %d", res.StatusCode)
	}
}

// TestReadyzFollowsStorage injects engine write errors and removes the
// data dir: /readyz turns 503 with the reason, and back to 200 when
// storage recovers.
func TestReadyzFollowsStorage(t *testing.T) {
	r := newRig(t, broker.Limits{}, nil)
	readyz := func() (int, monitor.Readiness) {
		code, body, _ := r.get(t, "/readyz")
		var rd monitor.Readiness
		if err := json.Unmarshal([]byte(body), &rd); err != nil {
			t.Fatalf("/readyz body %q: %v", body, err)
		}
		return code, rd
	}
	storageErr := func(rd monitor.Readiness) string {
		for _, c := range rd.Checks {
			if c.Name == "storage" {
				return c.Error
			}
		}
		return "no storage check"
	}
	if code, rd := readyz(); code != 200 || !rd.Ready {
		t.Fatalf("ready at start: %d %+v", code, rd)
	}

	r.failNext.Store(true)
	waitFor(t, "/readyz 503 on engine errors", func() bool { c, _ := readyz(); return c == 503 })
	_, rd := readyz()
	if want := "storage (bolt) refused a write: injected: input/output error"; storageErr(rd) != want || rd.Ready {
		t.Errorf("storage check %q, want %q", storageErr(rd), want)
	}
	r.failNext.Store(false)
	waitFor(t, "/readyz 200 after recovery", func() bool { c, _ := readyz(); return c == 200 })
	// Each change was logged once.
	if n := strings.Count(r.logs.String(), `msg="storage does not take writes: not ready"`); n != 1 {
		t.Errorf("%d not-ready warnings, want 1", n)
	}
	if n := strings.Count(r.logs.String(), `msg="storage takes writes again: ready"`); n != 1 {
		t.Errorf("%d ready-again lines, want 1", n)
	}

	// The data dir's filesystem refusing files: here, the directory gone
	// (root ignores permissions; the real-process test fills a tmpfs).
	moved := r.dataDir + ".moved"
	if err := os.Rename(r.dataDir, moved); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz 503 without the data dir", func() bool { c, _ := readyz(); return c == 503 })
	_, rd = readyz()
	if want := "data_dir " + r.dataDir + " is not writable: no such file or directory"; storageErr(rd) != want {
		t.Errorf("storage check %q, want %q", storageErr(rd), want)
	}
	if err := os.Rename(moved, r.dataDir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz 200 with the data dir back", func() bool { c, _ := readyz(); return c == 200 })
	if _, err := os.Stat(filepath.Join(r.dataDir, ".edgemq-probe")); !os.IsNotExist(err) {
		t.Errorf("the probe file was left behind: %v", err)
	}
}

// passwords is a PasswordChecker for the test: a map, counting calls.
type passwords struct {
	m     map[string]string
	calls atomic.Int32
}

func (p *passwords) Verify(user string, pw []byte) bool {
	p.calls.Add(1)
	want, ok := p.m[user]
	return ok && want == string(pw)
}

func TestBasicAuth(t *testing.T) {
	pw := &passwords{m: map[string]string{"ops": "correct horse"}}
	r := newRig(t, broker.Limits{}, pw)
	basic := func(u, p string) func(*http.Request) { return func(req *http.Request) { req.SetBasicAuth(u, p) } }
	for _, path := range []string{"/", "/metrics", "/readyz", "/api/status"} {
		code, _, h := r.get(t, path)
		if code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), `Basic realm="edgemq"`) {
			t.Errorf("%s without credentials: %d %q", path, code, h.Get("WWW-Authenticate"))
		}
		if code, _, _ := r.get(t, path, basic("ops", "wrong-guess-s3cret")); code != 401 {
			t.Errorf("%s with a wrong password: %d", path, code)
		}
		if code, _, _ := r.get(t, path, basic("ops", "correct horse")); code != 200 {
			t.Errorf("%s with the right password: %d", path, code)
		}
	}
	// Liveness stays open for local watchdogs.
	if code, _, _ := r.get(t, "/healthz"); code != 200 {
		t.Errorf("/healthz without credentials: %d", code)
	}
	if !strings.Contains(r.logs.String(), `msg="http: wrong username or password"`) {
		t.Errorf("failed logins not logged:\n%s", r.logs.String())
	}
	if strings.Contains(r.logs.String(), "wrong-guess-s3cret") || strings.Contains(r.logs.String(), "correct horse") {
		t.Errorf("a password reached the log:\n%s", r.logs.String())
	}
}

func TestListenAddress(t *testing.T) {
	for in, want := range map[string]string{
		":9090":          "127.0.0.1:9090",
		"0.0.0.0:9090":   "0.0.0.0:9090",
		"[::1]:9090":     "[::1]:9090",
		"10.0.0.1:80":    "10.0.0.1:80",
		"localhost:9090": "localhost:9090",
	} {
		if got := monitor.ListenAddress(in); got != want {
			t.Errorf("ListenAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

// --- clients

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func wait(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho: %v", tok.Error())
	}
}

func dialV5(t *testing.T, addr, id string, onMsg func(*paho.Publish)) *paho.Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { onMsg(pr.Packet); return true, nil }},
	})
	if _, err := c.Connect(ctx(t), &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 60}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}); nc.Close() })
	return c
}
