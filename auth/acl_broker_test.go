package auth_test

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
)

// brokerACL is the ACL of the tests with real clients; usernames are not
// checked (no Authenticator), so a client is whoever it says it is.
const brokerACL = `topic readwrite public/#

user dev
topic write status/#
topic write users/#
topic readwrite dev/#

user watcher
topic read status/#
topic read public/#

user blind
topic read public/#
topic write public/#

pattern readwrite clients/%c/#
pattern read users/%u/inbox
`

// TestACLWithClients: SUBACK per filter (v5 0x87, 3.1.1 0x80), PUBACK 0x87
// for a refused publish, and %c and %u patterns, with real clients.
func TestACLWithClients(t *testing.T) {
	e := newEnv(t, broker.Options{ACL: loadACL(t, brokerACL)})

	// 5.0 SUBACK: one code per filter.
	_, blind := e.v5("b5", "blind", "")
	s, _ := blind.Subscribe(ctx5(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "public/#", QoS: 1}, {Topic: "status/#", QoS: 1}, {Topic: "#", QoS: 1}, {Topic: "$share/g/status/x", QoS: 0}}})
	if s == nil || !slices.Equal(s.Reasons, []byte{1, byte(packet.NotAuthorized), 1, byte(packet.NotAuthorized)}) {
		t.Fatalf("SUBACK %+v, want 01 87 01 87", s)
	}
	// 5.0 PUBACK: not authorized.
	r, err := blind.Publish(ctx5(t), &paho.Publish{Topic: "status/x", QoS: 1, Payload: []byte("x")})
	if r == nil || r.ReasonCode != byte(packet.NotAuthorized) {
		t.Fatalf("PUBACK %+v (%v), want 0x87", r, err)
	}

	// 3.1.1 SUBACK: 0x80 for the refused filter.
	watcher := e.mustV3("w3", "watcher", "")
	tok := watcher.SubscribeMultiple(map[string]byte{"status/#": 1, "secret/#": 1}, nil)
	wait(t, tok)
	res := tok.(*mqtt.SubscribeToken).Result()
	if res["status/#"] != 1 || res["secret/#"] != 0x80 {
		t.Fatalf("3.1.1 SUBACK %v, want status/# 1, secret/# 0x80", res)
	}

	// %c: a client's own subtree only.
	var mine inbox
	c9 := e.mustV3("c9", "", "")
	wait(t, c9.Subscribe("clients/c9/#", 1, mine.handler))
	wait(t, c9.Publish("clients/c9/a", 1, false, "own"))
	_, c8 := e.v5("c8", "", "")
	r, _ = c8.Publish(ctx5(t), &paho.Publish{Topic: "clients/c9/a", QoS: 1, Payload: []byte("intruder")})
	if r == nil || r.ReasonCode != byte(packet.NotAuthorized) {
		t.Fatalf("c8 publishing into c9's subtree: PUBACK %+v", r)
	}
	mine.expect(t, "clients/c9/a own")

	// %u: a user's inbox, readable by that user only.
	var inboxU1 inbox
	u1 := e.mustV3("u1-client", "u1", "")
	wait(t, u1.Subscribe("users/u1/inbox", 1, inboxU1.handler))
	_, anon := e.v5("anon5", "", "")
	s, _ = anon.Subscribe(ctx5(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "users/u1/inbox", QoS: 1}}})
	if s == nil || !slices.Equal(s.Reasons, []byte{byte(packet.NotAuthorized)}) {
		t.Fatalf("anonymous subscribing to a %%u inbox: SUBACK %+v", s)
	}
	dev := e.mustV3("dev1", "dev", "")
	wait(t, dev.Publish("users/u1/inbox", 1, false, "hi u1"))
	inboxU1.expect(t, "users/u1/inbox hi u1")
}

// TestACLRetainedAndWills: retained messages and wills reach only the
// subscribers allowed to read them, even through a granted "#"; a will on
// a topic the client may not write refuses the connection.
func TestACLRetainedAndWills(t *testing.T) {
	e := newEnv(t, broker.Options{ACL: loadACL(t, brokerACL)})
	dev := e.mustV3("dev1", "dev", "")
	wait(t, dev.Publish("status/dev1", 1, true, "online"))
	pub := e.mustV3("pub", "", "")
	wait(t, pub.Publish("public/news", 1, true, "hello"))

	var seenW, seenB inbox
	watcher := e.mustV3("w", "watcher", "")
	wait(t, watcher.Subscribe("#", 1, seenW.handler))
	blind := e.mustV3("b", "blind", "")
	wait(t, blind.Subscribe("#", 1, seenB.handler))
	seenB.expect(t, "public/news hello")
	time.Sleep(100 * time.Millisecond) // any retained message would have arrived
	if got := seenW.all(); !slices.Contains(got, "status/dev1 online") || !slices.Contains(got, "public/news hello") || len(got) != 2 {
		t.Fatalf("watcher's retained messages: %q", got)
	}

	// A will on status/: dev may write it, watcher may read it, blind not.
	will := rawConnect(t, e.addr, packet.Connect{ClientID: []byte("dev2"), Username: []byte("dev"), UsernameFlag: true,
		WillFlag: true, WillQoS: 1, WillTopic: []byte("status/dev2"), WillPayload: []byte("gone")})
	if will.code != 0 {
		t.Fatalf("CONNECT with an allowed will: return code %d", will.code)
	}
	will.nc.Close() // no DISCONNECT: the will is published
	waitFor(t, 5*time.Second, "the will at the watcher", func() bool { return slices.Contains(seenW.all(), "status/dev2 gone") })
	seenB.expect(t, "public/news hello")

	// A will on a topic the client may not write: CONNACK not authorized.
	refused := rawConnect(t, e.addr, packet.Connect{ClientID: []byte("b2"), Username: []byte("blind"), UsernameFlag: true,
		WillFlag: true, WillTopic: []byte("status/b2"), WillPayload: []byte("x")})
	if refused.code != packet.V3NotAuthorized {
		t.Fatalf("CONNECT with a forbidden will: return code %d, want 5", refused.code)
	}
	if _, err := e.v3("b3", "blind", "", ""); err != nil {
		t.Fatalf("blind without a will: %v", err)
	}
}

type rawConn struct {
	nc   net.Conn
	code packet.ReasonCode
}

// rawConnect sends a 3.1.1 CONNECT and reads the CONNACK.
func rawConnect(t *testing.T, addr string, p packet.Connect) rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	p.Version, p.ProtocolName, p.CleanStart, p.KeepAlive = packet.V311, []byte("MQTT"), true, 30
	if _, err := nc.Write(p.Append(nil, packet.V311)); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := packet.NewReader(nc, 1<<10)
	h, body, err := r.Next()
	if err != nil || h.Type != packet.CONNACK {
		t.Fatalf("reading CONNACK: %v %v", h.Type, err)
	}
	var ack packet.Connack
	if err := ack.Decode(h, body, packet.V311); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Time{})
	return rawConn{nc: nc, code: ack.Code}
}
