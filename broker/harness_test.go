package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/transport"
)

// logBuffer collects the broker's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// hasLine reports whether one log line contains all of parts.
func (l *logBuffer) hasLine(parts ...string) bool {
	for _, line := range strings.Split(l.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type testBroker struct {
	srv  *broker.Server
	addr string
	ln   transport.Listener
	logs *logBuffer
}

// startBroker runs a broker on a real loopback TCP port for the test.
func startBroker(t *testing.T, opts broker.Options) *testBroker {
	t.Helper()
	tb := &testBroker{logs: &logBuffer{}}
	opts.Logger = slog.New(slog.NewTextHandler(tb.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP("tcp", "127.0.0.1:0", srv.ServeConn, opts.Logger)
	if err != nil {
		t.Fatal(err)
	}
	tb.srv, tb.ln, tb.addr = srv, ln, ln.Addr().String()
	t.Cleanup(func() {
		tb.stop()
		if t.Failed() {
			t.Logf("broker log:\n%s", tb.logs.String())
		}
	})
	return tb
}

func (tb *testBroker) stop() {
	tb.ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tb.srv.Shutdown(ctx)
}

// --- raw client: our codec over a real socket, for byte-level assertions.

type rawClient struct {
	t  *testing.T
	nc net.Conn
	r  *packet.Reader
	v  packet.Version
}

func dialRaw(t *testing.T, addr string, v packet.Version) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, r: packet.NewReader(nc, 1<<20), v: v}
}

func (c *rawClient) send(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// connect sends CONNECT (version from c.v) and returns the CONNACK.
func (c *rawClient) connect(p packet.Connect) *packet.Connack {
	c.t.Helper()
	p.Version = c.v
	if len(p.ProtocolName) == 0 {
		p.ProtocolName = []byte("MQTT")
	}
	c.send(p.Append(nil, c.v))
	h, body := c.next(2 * time.Second)
	if h.Type != packet.CONNACK {
		c.t.Fatalf("got %v, want CONNACK", h.Type)
	}
	var ack packet.Connack
	if err := ack.Decode(h, body, c.v); err != nil {
		c.t.Fatal(err)
	}
	return &ack
}

// next reads the next packet; it fails the test on timeout or EOF.
func (c *rawClient) next(timeout time.Duration) (packet.Header, []byte) {
	c.t.Helper()
	h, body, err := c.tryNext(timeout)
	if err != nil {
		c.t.Fatalf("reading a packet: %v", err)
	}
	return h, body
}

func (c *rawClient) tryNext(timeout time.Duration) (packet.Header, []byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	h, body, err := c.r.Next()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && c.r.Buffered() == 0 {
		// The Reader's errors are sticky; a test may try again after a
		// timeout when nothing was half read.
		c.r = packet.NewReader(c.nc, 1<<20)
	}
	return h, body, err
}

// expectPublish reads the next packet, which must be a PUBLISH, and
// decodes it (copying).
func (c *rawClient) expectPublish(timeout time.Duration) *packet.Publish {
	c.t.Helper()
	h, body := c.next(timeout)
	if h.Type != packet.PUBLISH {
		c.t.Fatalf("got %v, want PUBLISH", h.Type)
	}
	var p packet.Publish
	if err := p.Decode(h, bytes.Clone(body), c.v); err != nil {
		c.t.Fatal(err)
	}
	return &p
}

// expectAck reads one packet of type typ.
func (c *rawClient) expectAck(typ packet.Type) *packet.Ack {
	c.t.Helper()
	h, body := c.next(2 * time.Second)
	if h.Type != typ {
		c.t.Fatalf("got %v, want %v", h.Type, typ)
	}
	var a packet.Ack
	if err := a.Decode(h, body, c.v); err != nil {
		c.t.Fatal(err)
	}
	return &a
}

func (c *rawClient) subscribe(pid uint16, subs ...packet.Subscription) *packet.Suback {
	c.t.Helper()
	s := packet.Subscribe{PacketID: pid, Subs: subs}
	c.send(s.Append(nil, c.v))
	h, body := c.next(2 * time.Second)
	if h.Type != packet.SUBACK {
		c.t.Fatalf("got %v, want SUBACK", h.Type)
	}
	var a packet.Suback
	if err := a.Decode(h, bytes.Clone(body), c.v); err != nil {
		c.t.Fatal(err)
	}
	return &a
}

// expectClosed reads until the broker closes the connection and returns
// the reason code of a DISCONNECT received on the way (or 0xFF if none).
func (c *rawClient) expectClosed(timeout time.Duration) packet.ReasonCode {
	c.t.Helper()
	code := packet.ReasonCode(0xFF)
	deadline := time.Now().Add(timeout)
	for {
		h, body, err := c.tryNext(time.Until(deadline))
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("connection still open after %v", timeout)
			}
			return code
		}
		if h.Type == packet.DISCONNECT {
			var d packet.Disconnect
			if err := d.Decode(h, body, c.v); err == nil {
				code = d.Code
			}
		}
	}
}

// --- paho.mqtt.golang (MQTT 3.1.1)

type received struct {
	mu   sync.Mutex
	msgs []mqtt.Message
}

func (r *received) handler(_ mqtt.Client, m mqtt.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *received) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *received) get(i int) mqtt.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs[i]
}

func v3Options(addr, id string) *mqtt.ClientOptions {
	return mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(3 * time.Second).
		SetProtocolVersion(4)
}

func v3Connect(t *testing.T, o *mqtt.ClientOptions) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect: %v", tok.Error())
	}
	t.Cleanup(func() {
		if c.IsConnected() {
			c.Disconnect(50)
		}
	})
	return c
}

func wait(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho: %v", tok.Error())
	}
}

// --- paho.golang (MQTT 5.0)

type v5Client struct {
	*paho.Client
	mu           sync.Mutex
	msgs         []*paho.Publish
	disconnected chan *paho.Disconnect
}

func (c *v5Client) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *v5Client) get(i int) *paho.Publish {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs[i]
}

func v5Dial(t *testing.T, addr string, cp *paho.Connect) (*v5Client, *paho.Connack) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &v5Client{disconnected: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				c.mu.Lock()
				c.msgs = append(c.msgs, pr.Packet)
				c.mu.Unlock()
				return true, nil
			}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.disconnected <- d },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		t.Fatalf("paho.golang connect: %v (connack %+v)", err, ack)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}); nc.Close() })
	return c, ack
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func payloads[T any](n int, get func(int) T, f func(T) []byte) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = string(f(get(i)))
	}
	return out
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

var _ = io.EOF
