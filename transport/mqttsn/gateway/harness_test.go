package gateway_test

import (
	"bytes"
	"context"

	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	snclient "github.com/energomonitor/bisquitt/client"
	snpkt "github.com/energomonitor/bisquitt/packets1"
	sntopics "github.com/energomonitor/bisquitt/topics"
	snutil "github.com/energomonitor/bisquitt/util"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/transport"
	"github.com/edgemq/edgemq/transport/mqttsn/gateway"
)

// logBuffer collects log lines for a failing test's output.
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

// predefined are the predefined topic ids of the tests.
var predefined = map[uint16]string{7: "sensors/predefined", 8: "cmd/predefined"}

// env is a broker on a loopback TCP port with the gateway in front of it.
type env struct {
	t        testing.TB
	srv      *broker.Server
	mqttAddr string
	gw       *gateway.Gateway
	udp      string // the gateway's UDP address
	logs     *logBuffer
}

// newEnv starts a broker and a gateway with one UDP socket on 127.0.0.1.
// broadcast, when not "", is the gateway's broadcast address.
func newEnv(t testing.TB, opts gateway.Options, bopts broker.Options, broadcast string) *env {
	t.Helper()
	e := &env{t: t, logs: &logBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	bopts.Logger = log
	srv, err := broker.New(bopts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP("tcp", "127.0.0.1:0", srv.ServeConn, log)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.mqttAddr = srv, ln.Addr().String()
	opts.Serve = srv.ServeConn
	opts.Logger = log
	gw, err := gateway.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	addr, err := gw.ListenUDP(gateway.UDPConfig{Address: "127.0.0.1:0", Broadcast: broadcast})
	if err != nil {
		t.Fatal(err)
	}
	e.udp = addr.String()
	t.Cleanup(func() {
		gw.Close()
		ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if t.Failed() {
			t.Logf("log:\n%s", e.logs.String())
		}
	})
	return e
}

// mqttClient connects a paho MQTT 3.1.1 client to the broker.
func (e *env) mqttClient(id string) mqtt.Client {
	e.t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + e.mqttAddr).SetClientID(id).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		e.t.Fatalf("mqtt connect %s: %v", id, tok.Error())
	}
	e.t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// received is one message a paho subscriber got.
type received struct {
	topic   string
	payload string
	qos     byte
	retain  bool
}

// subscribe subscribes c to filter and returns the messages it gets.
func (e *env) subscribe(c mqtt.Client, filter string, qos byte) chan received {
	e.t.Helper()
	ch := make(chan received, 1000)
	tok := c.Subscribe(filter, qos, func(_ mqtt.Client, m mqtt.Message) {
		ch <- received{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		e.t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return ch
}

func (e *env) publish(c mqtt.Client, topic string, qos byte, retain bool, payload string) {
	e.t.Helper()
	if tok := c.Publish(topic, qos, retain, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		e.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// expect waits for a message on ch and checks it.
func expect(t *testing.T, ch chan received, want received) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %+v", want)
	}
}

// expectNone checks that nothing arrives on ch within d.
func expectNone[T any](t *testing.T, ch chan T, d time.Duration) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected %+v", got)
	case <-time.After(d):
	}
}

// snConfig is a bisquitt client configuration. Loopback UDP loses
// nothing; a long retry delay keeps bisquitt's retry timers, which race
// with its replies (a nil DISCONNECT resent), out of the way.
func snConfig(id string) *snclient.ClientConfig {
	pre := sntopics.PredefinedTopics{}
	for id, name := range predefined {
		pre.Add("*", name, id)
	}
	return &snclient.ClientConfig{ClientID: id, CleanSession: true, KeepAlive: 10 * time.Second,
		ConnectTimeout: 5 * time.Second, RetryDelay: 5 * time.Second, RetryCount: 3, PredefinedTopics: pre}
}

// snConnect dials the gateway with the third-party MQTT-SN client and
// connects it.
func (e *env) snConnect(cfg *snclient.ClientConfig, addr string) *snclient.Client {
	e.t.Helper()
	if addr == "" {
		addr = e.udp
	}
	c := snclient.NewClient(snutil.NoOpLogger{}, cfg)
	if err := c.Dial(addr); err != nil {
		e.t.Fatal(err)
	}
	if err := c.Connect(); err != nil {
		e.t.Fatalf("MQTT-SN connect %s: %v", cfg.ClientID, err)
	}
	return c
}

// snMessage is one message a bisquitt subscriber got.
type snMessage struct {
	topic   string
	payload string
	qos     uint8
	retain  bool
}

func snHandler(ch chan snMessage) snclient.MessageHandlerFunc {
	return func(_ *snclient.Client, topic string, p *snpkt.Publish) {
		ch <- snMessage{topic, string(p.Data), p.QOS, p.Retain}
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stats returns the first transport's statistics.
func (e *env) stats() gateway.TransportStats {
	return e.gw.Stats().Transports[0]
}

// udpProxy relays datagrams between one client and the gateway until cut,
// to simulate a client that vanishes without DISCONNECT.
type udpProxy struct {
	pc     net.PacketConn
	target *net.UDPAddr
	mu     sync.Mutex
	cut    bool
	client net.Addr
}

func newUDPProxy(t *testing.T, target string) *udpProxy {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ta, _ := net.ResolveUDPAddr("udp", target)
	up, err := net.DialUDP("udp", nil, ta)
	if err != nil {
		t.Fatal(err)
	}
	p := &udpProxy{pc: pc, target: ta}
	t.Cleanup(func() { pc.Close(); up.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.client = from
			cut := p.cut
			p.mu.Unlock()
			if !cut {
				up.Write(buf[:n])
			}
		}
	}()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			to, cut := p.client, p.cut
			p.mu.Unlock()
			if !cut && to != nil {
				pc.WriteTo(buf[:n], to)
			}
		}
	}()
	return p
}

func (p *udpProxy) addr() string { return p.pc.LocalAddr().String() }

func (p *udpProxy) cutOff() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
}
