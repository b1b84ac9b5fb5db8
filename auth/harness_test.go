package auth_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/transport"
)

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

// env is a broker on a real loopback port with a log to assert on.
type env struct {
	t    *testing.T
	srv  *broker.Server
	addr string // host:port of the tcp listener on 127.0.0.1
	port string
	logs *logBuffer
	log  *slog.Logger
}

func newEnv(t *testing.T, opts broker.Options) *env {
	t.Helper()
	e := logEnv(t)
	e.start(opts)
	return e
}

// logEnv makes the log of an env; start starts its broker.
func logEnv(t *testing.T) *env {
	e := &env{t: t, logs: &logBuffer{}}
	e.log = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return e
}

func (e *env) start(opts broker.Options) {
	t := e.t
	t.Helper()
	opts.Logger = e.log
	srv, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ln, err := transport.ListenTCP("tcp", "127.0.0.1:0", srv.ServeConn, e.log)
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	_, e.port, _ = net.SplitHostPort(e.addr)
	t.Cleanup(func() {
		ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if t.Failed() {
			t.Logf("log:\n%s", e.logs.String())
		}
	})
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

// inbox collects what a paho client receives, as "topic payload".
type inbox struct {
	mu   sync.Mutex
	msgs []string
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

// expect waits for want and then checks nothing else arrived.
func (b *inbox) expect(t *testing.T, want ...string) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprint("messages ", want), func() bool { return len(b.all()) >= len(want) })
	time.Sleep(100 * time.Millisecond)
	if got := b.all(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("received %q, want %q", got, want)
	}
}

// v3 connects with paho.mqtt.golang (MQTT 3.1.1) from local address from
// ("" for any) and returns the client and the connect error.
func (e *env) v3(id, user, password, from string) (mqtt.Client, error) {
	o := mqtt.NewClientOptions().AddBroker("tcp://" + e.addr).SetClientID(id).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(3 * time.Second).
		SetProtocolVersion(4).SetUsername(user).SetPassword(password)
	if from != "" {
		o.SetDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 3 * time.Second})
	}
	return e.v3Opts(o)
}

func (e *env) v3Opts(o *mqtt.ClientOptions) (mqtt.Client, error) {
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	e.t.Cleanup(func() {
		if c.IsConnected() {
			c.Disconnect(50)
		}
	})
	return c, nil
}

func (e *env) mustV3(id, user, password string) mqtt.Client {
	e.t.Helper()
	c, err := e.v3(id, user, password, "")
	if err != nil {
		e.t.Fatalf("connect %s as %q: %v", id, user, err)
	}
	return c
}

func wait(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho: %v", tok.Error())
	}
}

// v5 connects with paho.golang (MQTT 5.0) and returns the CONNACK reason
// code (0 on success) and the client.
func (e *env) v5(id, user, password string) (byte, *paho.Client) {
	e.t.Helper()
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: nc})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cp := &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
	}
	if password != "" {
		cp.Password, cp.PasswordFlag = []byte(password), true
	}
	ack, err := c.Connect(ctx, cp)
	if ack == nil {
		e.t.Fatalf("paho.golang connect %s: %v", id, err)
	}
	if err == nil {
		e.t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}); nc.Close() })
	} else {
		nc.Close()
	}
	return ack.ReasonCode, c
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}
