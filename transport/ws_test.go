package transport_test

import (
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/internal/testpki"
	"github.com/edgemq/edgemq/transport"
)

// TestWSPaho: paho over ws:// publishes to a TCP subscriber, and the other
// way round; a payload larger than one WebSocket read buffer crosses too.
func TestWSPaho(t *testing.T) {
	e := newEnv(t, broker.Options{})
	ws := e.listen(transport.ListenWS("ws", "127.0.0.1:0", "/mqtt", nil, e.srv.ServeConn, e.log))
	tcp := e.tcp()
	wc := pahoConnect(t, pahoOptions("ws://"+ws+"/mqtt", "ws-client", nil))
	tc := pahoConnect(t, pahoOptions("tcp://"+tcp, "tcp-client", nil))
	roundTrip(t, wc, tc, "ws/to/tcp")
	roundTrip(t, tc, wc, "tcp/to/ws")

	var in inbox
	wait(t, wc.Subscribe("big", 1, in.handler))
	big := strings.Repeat("x", 100<<10)
	wait(t, tc.Publish("big", 1, false, big))
	in.expect(t, "big "+big)
}

// TestWSS: paho over wss:// with a client certificate the broker sees.
func TestWSS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	srvPair := ca.Server(t, "server")
	client := ca.Client(t, "client", "dashboard")
	cn := make(chan string, 4)
	e := newEnv(t, broker.Options{Auth: authFunc(func(c *broker.ClientInfo, _ []byte, _ bool) error {
		if c.TLS != nil && len(c.TLS.PeerCertificates) > 0 {
			cn <- c.TLS.PeerCertificates[0].Subject.CommonName
		} else {
			cn <- "<none>"
		}
		return nil
	})})
	certs := loadCerts(t, transport.TLSFiles{CertFile: srvPair.CertFile, KeyFile: srvPair.KeyFile, ClientCAFile: ca.File})
	addr := e.listen(transport.ListenWS("wss", "127.0.0.1:0", "/mqtt", certs, e.srv.ServeConn, e.log))
	tcp := e.tcp()

	tc := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	if _, err := pahoTry(t, pahoOptions("wss://"+addr+"/mqtt", "no-cert", tc)); err == nil {
		t.Fatal("wss client without a certificate connected")
	}
	withCert := tc.Clone()
	withCert.Certificates = []tls.Certificate{client.TLS}
	wc := pahoConnect(t, pahoOptions("wss://"+addr+"/mqtt", "wss-client", withCert))
	if got := <-cn; got != "dashboard" {
		t.Fatalf("broker saw certificate CN %q, want dashboard", got)
	}
	pc := pahoConnect(t, pahoOptions("tcp://"+tcp, "tcp-client", nil))
	<-cn
	roundTrip(t, wc, pc, "wss/to/tcp")
	roundTrip(t, pc, wc, "tcp/to/wss")

	// Plain ws clients are not TLS clients: a ws listener's connections
	// carry no TLS state.
	e2 := newEnv(t, broker.Options{Auth: authFunc(func(c *broker.ClientInfo, _ []byte, _ bool) error {
		if c.TLS != nil {
			return packet.NotAuthorized
		}
		return nil
	})})
	plain := e2.listen(transport.ListenWS("ws", "127.0.0.1:0", "/mqtt", nil, e2.srv.ServeConn, e2.log))
	pahoConnect(t, pahoOptions("ws://"+plain+"/mqtt", "plain", nil))
}

// TestWSBadInput: an upgrade without the mqtt subprotocol, a wrong path,
// a text frame and a request that is not an upgrade are each refused
// cleanly, and another client is served afterwards.
func TestWSBadInput(t *testing.T) {
	e := newEnv(t, broker.Options{})
	addr := e.listen(transport.ListenWS("ws", "127.0.0.1:0", "/mqtt", nil, e.srv.ServeConn, e.log))
	url := "ws://" + addr + "/mqtt"

	t.Run("no subprotocol", func(t *testing.T) {
		d := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
		c, resp, err := d.Dial(url, nil)
		if err == nil {
			c.Close()
			t.Fatal("upgrade without a subprotocol accepted")
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("response %v, want 400", resp)
		}
		e.waitLog(`msg="WebSocket upgrade refused" listener=ws`)
		e.waitLog(`reason="no mqtt subprotocol"`)
	})
	t.Run("other subprotocol", func(t *testing.T) {
		d := websocket.Dialer{HandshakeTimeout: 3 * time.Second, Subprotocols: []string{"chat"}}
		if c, resp, err := d.Dial(url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			if c != nil {
				c.Close()
			}
			t.Fatalf("upgrade with subprotocol chat: err %v, response %v", err, resp)
		}
	})
	t.Run("wrong path", func(t *testing.T) {
		d := websocket.Dialer{HandshakeTimeout: 3 * time.Second, Subprotocols: []string{"mqtt"}}
		if c, resp, err := d.Dial("ws://"+addr+"/other", nil); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
			if c != nil {
				c.Close()
			}
			t.Fatalf("upgrade on /other: err %v, response %v", err, resp)
		}
	})
	t.Run("plain GET", func(t *testing.T) {
		resp, err := http.Get("http://" + addr + "/mqtt")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("GET /mqtt: %d, want 400", resp.StatusCode)
		}
	})
	t.Run("text frame", func(t *testing.T) {
		d := websocket.Dialer{HandshakeTimeout: 3 * time.Second, Subprotocols: []string{"mqtt"}}
		c, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.Subprotocol() != "mqtt" {
			t.Fatalf("negotiated subprotocol %q", c.Subprotocol())
		}
		conn := packet.Connect{Version: packet.V311, ProtocolName: []byte("MQTT"), CleanStart: true, KeepAlive: 30, ClientID: []byte("texter")}
		if err := c.WriteMessage(websocket.TextMessage, conn.Append(nil, packet.V311)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err = c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseUnsupportedData {
			t.Fatalf("after a text frame: %v, want close 1003", err)
		}
		e.waitLog("MQTT needs binary frames")
	})
	t.Run("binary CONNECT split over frames", func(t *testing.T) {
		d := websocket.Dialer{HandshakeTimeout: 3 * time.Second, Subprotocols: []string{"mqtt"}}
		c, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conn := packet.Connect{Version: packet.V311, ProtocolName: []byte("MQTT"), CleanStart: true, KeepAlive: 30, ClientID: []byte("splitter")}
		b := conn.Append(nil, packet.V311)
		for _, part := range [][]byte{b[:3], b[3:]} {
			if err := c.WriteMessage(websocket.BinaryMessage, part); err != nil {
				t.Fatal(err)
			}
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		typ, msg, err := c.ReadMessage()
		if err != nil || typ != websocket.BinaryMessage || len(msg) != 4 || msg[0] != 0x20 || msg[3] != 0 {
			t.Fatalf("CONNACK: type %d % x %v", typ, msg, err)
		}
	})
	// The broker still serves.
	c := pahoConnect(t, pahoOptions(url, "after", nil))
	roundTrip(t, c, c, "still/served")
}
