package broker_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
)

// prefixACL allows everything except topics and filters under "secret/".
type prefixACL struct{}

func (prefixACL) CanPublish(c *broker.ClientInfo, topic []byte) bool {
	return !strings.HasPrefix(string(topic), "secret/")
}
func (prefixACL) CanSubscribe(c *broker.ClientInfo, filter string) bool {
	return !strings.HasPrefix(filter, "secret/")
}
func (prefixACL) CanReceive(c *broker.ClientInfo, topic []byte) bool {
	return !strings.HasPrefix(string(topic), "secret/")
}

// TestACLReasonCodes: SUBACK "not authorized" per filter (v5 0x87, 3.1.1
// 0x80) and PUBACK 0x87, each counted. (The ACL file itself is tested
// with real clients in package auth.)
func TestACLReasonCodes(t *testing.T) {
	tb := startBroker(t, broker.Options{ACL: prefixACL{}})
	c, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "v5", CleanStart: true, KeepAlive: 30})
	s, _ := c.Subscribe(ctx5(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "open/#", QoS: 1}, {Topic: "secret/#", QoS: 1}, {Topic: "$share/g/secret/x", QoS: 2}, {Topic: "open2", QoS: 2}}})
	if s == nil || !slices.Equal(s.Reasons, []byte{1, 0x87, 0x87, 2}) {
		t.Fatalf("SUBACK %+v, want 01 87 87 02", s)
	}
	r, _ := c.Publish(ctx5(t), &paho.Publish{Topic: "secret/x", QoS: 1, Payload: []byte("x")})
	if r == nil || r.ReasonCode != byte(packet.NotAuthorized) {
		t.Fatalf("PUBACK %+v, want 0x87", r)
	}

	raw := dialRaw(t, tb.addr, packet.V311)
	if ack := raw.connect(packet.Connect{ClientID: []byte("v3"), CleanStart: true, KeepAlive: 30}); ack.Code != 0 {
		t.Fatalf("CONNACK %v", ack.Code)
	}
	a := raw.subscribe(1, packet.Subscription{Filter: []byte("secret/a"), QoS: 1}, packet.Subscription{Filter: []byte("open/a"), QoS: 1})
	if !slices.Equal(a.Codes, []packet.ReasonCode{0x80, 1}) {
		t.Fatalf("3.1.1 SUBACK codes %v, want [0x80 1]", a.Codes)
	}
	if n := tb.srv.Stats().DroppedNotAllowed; n != 4 {
		t.Fatalf("DroppedNotAllowed = %d, want 4", n)
	}
}

// TestWrongCredentialsV3: a refusal with "bad user name or password" is
// 0x86 in 5.0 and 0x05 "not authorized" in 3.1.1 (0x04 means malformed
// credentials), as mosquitto answers.
func TestWrongCredentialsV3(t *testing.T) {
	refuse := authFunc(func(*broker.ClientInfo, []byte, bool) error { return packet.BadUsernameOrPassword })
	tb := startBroker(t, broker.Options{Auth: refuse})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		raw := dialRaw(t, tb.addr, v)
		ack := raw.connect(packet.Connect{ClientID: []byte("c"), CleanStart: true, UsernameFlag: true, Username: []byte("u"),
			PasswordFlag: true, Password: []byte("p")})
		want := packet.V3NotAuthorized
		if v == packet.V5 {
			want = packet.BadUsernameOrPassword
		}
		if ack.Code != want {
			t.Errorf("%v: CONNACK 0x%02x, want 0x%02x", v, byte(ack.Code), byte(want))
		}
	}
}

type authFunc func(c *broker.ClientInfo, password []byte, hasPassword bool) error

func (f authFunc) Authenticate(c *broker.ClientInfo, password []byte, hasPassword bool) error {
	return f(c, password, hasPassword)
}

// TestRetainedMax: beyond retained_max retained topics, a v5 QoS 1/2
// publisher gets 0x97 quota exceeded and the message is not routed; a
// 3.1.1 publisher's message is routed without being retained. Replacing
// and clearing existing topics still works. Each refusal is counted.
func TestRetainedMax(t *testing.T) {
	tb := startBroker(t, broker.Options{Limits: broker.Limits{RetainedMax: 2}})
	sub, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "sub", CleanStart: true, KeepAlive: 30})
	mustSub(t, sub, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "r/#", QoS: 2}}})
	pub, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 30})
	publish := func(topic, payload string, qos byte) byte {
		r, err := pub.Publish(ctx5(t), &paho.Publish{Topic: topic, QoS: qos, Retain: true, Payload: []byte(payload)})
		if r == nil {
			t.Fatalf("publish %s: %v", topic, err)
		}
		return r.ReasonCode
	}
	if publish("r/a", "A", 1) != 0 || publish("r/b", "B", 2) != 0 {
		t.Fatal("retained messages under the limit refused")
	}
	if code := publish("r/c", "C", 1); code != byte(packet.QuotaExceeded) {
		t.Fatalf("QoS 1 retained beyond retained_max: PUBACK 0x%02x, want 0x97", code)
	}
	if code := publish("r/d", "D", 2); code != byte(packet.QuotaExceeded) {
		t.Fatalf("QoS 2 retained beyond retained_max: PUBREC 0x%02x, want 0x97", code)
	}
	if publish("r/a", "A2", 1) != 0 {
		t.Fatal("replacing a retained topic at the limit refused")
	}
	if publish("r/b", "", 1) != 0 || publish("r/c", "C2", 1) != 0 {
		t.Fatal("clearing a topic did not make room")
	}
	// 3.1.1: routed, not retained.
	v3 := v3Connect(t, v3Options(tb.addr, "v3pub"))
	wait(t, v3.Publish("r/e", 1, true, "E"))

	want := []string{"A", "B", "A2", "", "C2", "E"}
	waitFor(t, 5*time.Second, fmt.Sprint(len(want), " messages"), func() bool { return sub.count() >= len(want) })
	time.Sleep(100 * time.Millisecond)
	got := payloads(sub.count(), sub.get, func(p *paho.Publish) []byte { return p.Payload })
	if !slices.Equal(got, want) {
		t.Fatalf("subscriber got %q, want %q", got, want)
	}
	st := tb.srv.Stats()
	if st.Retained != 2 || st.RetainedRefused != 3 {
		t.Fatalf("Retained %d RetainedRefused %d, want 2 and 3", st.Retained, st.RetainedRefused)
	}
	if !strings.Contains(tb.logs.String(), "retained_max reached") {
		t.Fatal("no log line for the refusal")
	}
}

// TestMaxConnections: beyond max_connections a client gets CONNACK
// "server busy" (v5 0x89) or "server unavailable" (3.1.1 0x03), with a log
// line; once a client leaves, a new one is served.
func TestMaxConnections(t *testing.T) {
	tb := startBroker(t, broker.Options{Limits: broker.Limits{MaxConnections: 2}})
	first := dialRaw(t, tb.addr, packet.V5)
	if ack := first.connect(packet.Connect{ClientID: []byte("c1"), CleanStart: true}); ack.Code != 0 {
		t.Fatalf("first: 0x%02x", byte(ack.Code))
	}
	second := dialRaw(t, tb.addr, packet.V311)
	if ack := second.connect(packet.Connect{ClientID: []byte("c2"), CleanStart: true}); ack.Code != 0 {
		t.Fatalf("second: 0x%02x", byte(ack.Code))
	}
	for _, tt := range []struct {
		v    packet.Version
		want packet.ReasonCode
	}{{packet.V5, packet.ServerBusy}, {packet.V311, packet.V3ServerUnavailable}} {
		c := dialRaw(t, tb.addr, tt.v)
		if ack := c.connect(packet.Connect{ClientID: []byte("over"), CleanStart: true}); ack.Code != tt.want {
			t.Fatalf("%v over the limit: CONNACK 0x%02x, want 0x%02x", tt.v, byte(ack.Code), byte(tt.want))
		}
		c.expectClosed(2 * time.Second)
	}
	if !strings.Contains(tb.logs.String(), "connection refused: max_connections reached") {
		t.Fatal("no log line for the refusal")
	}
	first.nc.Close()
	waitFor(t, 2*time.Second, "the first connection to close", func() bool { return tb.srv.Stats().ClientsConnected == 1 })
	third := dialRaw(t, tb.addr, packet.V5)
	if ack := third.connect(packet.Connect{ClientID: []byte("c3"), CleanStart: true}); ack.Code != 0 {
		t.Fatalf("after a client left: 0x%02x", byte(ack.Code))
	}
}
