package transport_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/transport"
)

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// env is a broker with a log, to which a test attaches listeners.
type env struct {
	t    *testing.T
	srv  *broker.Server
	logs *logBuffer
	log  *slog.Logger
}

func newEnv(t *testing.T, opts broker.Options) *env {
	t.Helper()
	e := &env{t: t, logs: &logBuffer{}}
	e.log = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Logger = e.log
	srv, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if t.Failed() {
			t.Logf("log:\n%s", e.logs.String())
		}
	})
	return e
}

// listen registers l to be closed at the end of the test and returns its
// address.
func (e *env) listen(l transport.Listener, err error) string {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

func (e *env) tcp() string {
	return e.listen(transport.ListenTCP("tcp", "127.0.0.1:0", e.srv.ServeConn, e.log))
}

// waitLog waits until the log contains s.
func (e *env) waitLog(s string) {
	e.t.Helper()
	waitFor(e.t, 5*time.Second, "log line "+s, func() bool { return strings.Contains(e.logs.String(), s) })
}

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

// inbox collects messages a paho client receives.
type inbox struct {
	mu   sync.Mutex
	msgs []string // "topic payload"
}

func (b *inbox) handler(_ mqtt.Client, m mqtt.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m.Topic()+" "+string(m.Payload()))
	b.mu.Unlock()
}

func (b *inbox) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

// expect waits until the inbox holds want (in order).
func (b *inbox) expect(t *testing.T, want ...string) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprint("messages ", want), func() bool { return len(b.all()) >= len(want) })
	if got := b.all(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("received %q, want %q", got, want)
	}
}

func pahoOptions(url, id string, tc *tls.Config) *mqtt.ClientOptions {
	return mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetTLSConfig(tc).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(3 * time.Second).
		SetProtocolVersion(4)
}

// pahoConnect connects and fails the test on error.
func pahoConnect(t *testing.T, o *mqtt.ClientOptions) mqtt.Client {
	t.Helper()
	c, err := pahoTry(t, o)
	if err != nil {
		t.Fatalf("paho connect to %v: %v", o.Servers, err)
	}
	return c
}

// pahoTry connects and returns the error.
func pahoTry(t *testing.T, o *mqtt.ClientOptions) (mqtt.Client, error) {
	t.Helper()
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if c.IsConnected() {
			c.Disconnect(50)
		}
	})
	return c, nil
}

func wait(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho: %v", tok.Error())
	}
}

// roundTrip checks that a message published by pub reaches sub.
func roundTrip(t *testing.T, pub, sub mqtt.Client, topic string) {
	t.Helper()
	var in inbox
	wait(t, sub.Subscribe(topic, 1, in.handler))
	wait(t, pub.Publish(topic, 1, false, "hello"))
	in.expect(t, topic+" hello")
	wait(t, sub.Unsubscribe(topic))
}

// authFunc is an Authenticator that records what the broker tells it.
type authFunc func(c *broker.ClientInfo, password []byte, hasPassword bool) error

func (f authFunc) Authenticate(c *broker.ClientInfo, password []byte, hasPassword bool) error {
	return f(c, password, hasPassword)
}
