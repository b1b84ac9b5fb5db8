package broker_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
)

func ptr[T any](v T) *T { return &v }

func pubPayload(p *paho.Publish) []byte { return p.Payload }

// TestV5QoSRoundTrip publishes at each QoS with paho.golang (5.0).
func TestV5QoSRoundTrip(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	for qos := byte(0); qos <= 2; qos++ {
		t.Run(fmt.Sprint("qos", qos), func(t *testing.T) {
			sub, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: fmt.Sprint("s", qos), CleanStart: true, KeepAlive: 30})
			must(sub.Subscribe(ctx5(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "v5/#", QoS: qos}}}))(t)
			pub, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: fmt.Sprint("p", qos), CleanStart: true, KeepAlive: 30})
			want := seq("m", 30)
			for _, p := range want {
				r, err := pub.Publish(ctx5(t), &paho.Publish{Topic: "v5/t", QoS: qos, Payload: []byte(p)})
				if err != nil {
					t.Fatal(err)
				}
				if qos > 0 && r.ReasonCode != 0 {
					t.Fatalf("publish reason code 0x%02x", r.ReasonCode)
				}
			}
			waitFor(t, 5*time.Second, "30 messages", func() bool { return sub.count() >= 30 })
			if got := payloads(sub.count(), sub.get, pubPayload); !slices.Equal(got, want) {
				t.Fatalf("received %v", got)
			}
		})
	}
}

// TestV5ReasonCodes: PUBACK "no matching subscribers", SUBACK codes per
// filter, UNSUBACK "no subscription existed".
func TestV5ReasonCodes(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	c, ack := v5Dial(t, tb.addr, &paho.Connect{ClientID: "rc", CleanStart: true, KeepAlive: 30})
	if ack.Properties == nil || ack.Properties.MaximumPacketSize == nil || *ack.Properties.MaximumPacketSize != 1<<20 {
		t.Fatalf("CONNACK lacks Maximum Packet Size: %+v", ack.Properties)
	}
	r := must(c.Publish(ctx5(t), &paho.Publish{Topic: "nobody/here", QoS: 1, Payload: []byte("x")}))(t)
	if r.ReasonCode != byte(packet.NoMatchingSubscribers) {
		t.Fatalf("PUBACK reason 0x%02x, want 0x10", r.ReasonCode)
	}
	s, err := c.Subscribe(ctx5(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "ok/+", QoS: 2}, {Topic: "bad/#/x", QoS: 1}, {Topic: "$share/g", QoS: 1}, {Topic: "ok1", QoS: 1}}})
	// paho.golang returns an error when any SUBACK code is a failure; the
	// codes are in the Suback either way.
	if s == nil {
		t.Fatalf("subscribe: %v", err)
	}
	want := []byte{2, byte(packet.TopicFilterInvalid), byte(packet.TopicFilterInvalid), 1}
	if !slices.Equal(s.Reasons, want) {
		t.Fatalf("SUBACK codes % x, want % x", s.Reasons, want)
	}
	u, _ := c.Unsubscribe(ctx5(t), &paho.Unsubscribe{Topics: []string{"ok/+", "never"}})
	if u == nil || !slices.Equal(u.Reasons, []byte{0, byte(packet.NoSubscriptionExisted)}) {
		t.Fatalf("UNSUBACK %+v", u)
	}
}

func mustSub(t *testing.T, c *v5Client, s *paho.Subscribe) {
	t.Helper()
	if _, err := c.Subscribe(ctx5(t), s); err != nil {
		t.Fatal(err)
	}
}

func mustPub(t *testing.T, c *v5Client, p *paho.Publish) {
	t.Helper()
	if _, err := c.Publish(ctx5(t), p); err != nil {
		t.Fatal(err)
	}
}

// TestV5SubscriptionOptions: No Local, Retain As Published, Retain Handling.
func TestV5SubscriptionOptions(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	c, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "opts", CleanStart: true, KeepAlive: 30})
	other, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "other", CleanStart: true, KeepAlive: 30})

	// No Local [MQTT-3.8.3-3]: own messages are not delivered back.
	mustSub(t, c, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "nl", QoS: 1, NoLocal: true}}})
	mustPub(t, c, &paho.Publish{Topic: "nl", QoS: 1, Payload: []byte("mine")})
	mustPub(t, other, &paho.Publish{Topic: "nl", QoS: 1, Payload: []byte("theirs")})
	waitFor(t, 2*time.Second, "message from other", func() bool { return c.count() >= 1 })
	time.Sleep(100 * time.Millisecond)
	if c.count() != 1 || string(c.get(0).Payload) != "theirs" {
		t.Fatalf("No Local: got %d messages, first %q", c.count(), c.get(0).Payload)
	}

	// Retain As Published keeps RETAIN on live messages; without it, cleared.
	mustSub(t, c, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "rap/keep", QoS: 1, RetainAsPublished: true}, {Topic: "rap/clear", QoS: 1}}})
	mustPub(t, other, &paho.Publish{Topic: "rap/keep", QoS: 1, Retain: true, Payload: []byte("k")})
	mustPub(t, other, &paho.Publish{Topic: "rap/clear", QoS: 1, Retain: true, Payload: []byte("c")})
	waitFor(t, 2*time.Second, "rap messages", func() bool { return c.count() >= 3 })
	if !c.get(1).Retain || c.get(2).Retain {
		t.Fatalf("retain flags: keep=%v clear=%v, want true false", c.get(1).Retain, c.get(2).Retain)
	}

	// Retain Handling: 0 always sends retained, 1 only for a new
	// subscription, 2 never [MQTT-3.3.1-9..11].
	mustPub(t, other, &paho.Publish{Topic: "rh/x", QoS: 1, Retain: true, Payload: []byte("r")})
	count := func(rh byte, resubscribe bool) int {
		cl, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: fmt.Sprint("rh", rh, resubscribe), CleanStart: true, KeepAlive: 30})
		s := &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "rh/#", QoS: 1, RetainHandling: rh}}}
		mustSub(t, cl, s)
		if resubscribe {
			mustSub(t, cl, s)
		}
		time.Sleep(150 * time.Millisecond)
		return cl.count()
	}
	for _, tc := range []struct {
		rh    byte
		resub bool
		want  int
	}{{0, false, 1}, {0, true, 2}, {1, false, 1}, {1, true, 1}, {2, false, 0}} {
		if got := count(tc.rh, tc.resub); got != tc.want {
			t.Errorf("retain handling %d (resubscribe %v): %d retained messages, want %d", tc.rh, tc.resub, got, tc.want)
		}
	}
}

// TestV5SubscriptionIdentifier: a message carries the identifier of the
// subscription it matched [MQTT-3.3.4-3].
func TestV5SubscriptionIdentifier(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	c, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "sid", CleanStart: true, KeepAlive: 30})
	mustSub(t, c, &paho.Subscribe{Properties: &paho.SubscribeProperties{SubscriptionIdentifier: ptr(42)},
		Subscriptions: []paho.SubscribeOptions{{Topic: "sid/+", QoS: 1}}})
	mustSub(t, c, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "plain/+", QoS: 1}}})
	mustPub(t, c, &paho.Publish{Topic: "sid/1", QoS: 1, Payload: []byte("a")})
	mustPub(t, c, &paho.Publish{Topic: "plain/1", QoS: 1, Payload: []byte("b")})
	waitFor(t, 2*time.Second, "2 messages", func() bool { return c.count() >= 2 })
	p := c.get(0).Properties
	if p == nil || p.SubscriptionIdentifier == nil || *p.SubscriptionIdentifier != 42 {
		t.Fatalf("subscription identifier not delivered: %+v", p)
	}
	if p := c.get(1).Properties; p != nil && p.SubscriptionIdentifier != nil {
		t.Fatalf("identifier %d on a subscription without one", *p.SubscriptionIdentifier)
	}
}

// TestV5SharedSubscription: one member of a $share group gets each
// message, round-robin; a non-shared subscriber gets all.
func TestV5SharedSubscription(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	var members []*v5Client
	for i := range 3 {
		m, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: fmt.Sprint("member", i), CleanStart: true, KeepAlive: 30})
		mustSub(t, m, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "$share/workers/jobs/#", QoS: 1}}})
		members = append(members, m)
	}
	all, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "all", CleanStart: true, KeepAlive: 30})
	mustSub(t, all, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "jobs/#", QoS: 1}}})
	pub, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "boss", CleanStart: true, KeepAlive: 30})
	for i := range 30 {
		mustPub(t, pub, &paho.Publish{Topic: "jobs/x", QoS: 1, Payload: fmt.Append(nil, i)})
	}
	waitFor(t, 3*time.Second, "30 messages at the plain subscriber", func() bool { return all.count() == 30 })
	total := 0
	for i, m := range members {
		waitFor(t, 2*time.Second, "member share", func() bool { return m.count() == 10 })
		total += m.count()
		_ = i
	}
	if total != 30 {
		t.Fatalf("shared group received %d messages, want 30", total)
	}
}

// TestV5PropertiesPassThrough: user properties, response topic,
// correlation data, content type and payload format reach the subscriber.
func TestV5PropertiesPassThrough(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	sub, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "resp", CleanStart: true, KeepAlive: 30})
	mustSub(t, sub, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "req", QoS: 1}}})
	req, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "req", CleanStart: true, KeepAlive: 30})
	props := &paho.PublishProperties{
		CorrelationData: []byte{1, 2, 3}, ContentType: "application/json", ResponseTopic: "replies/req",
		PayloadFormat: ptr(byte(1)), User: paho.UserProperties{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}, {Key: "b", Value: ""}},
	}
	mustPub(t, req, &paho.Publish{Topic: "req", QoS: 1, Payload: []byte(`{}`), Properties: props})
	waitFor(t, 2*time.Second, "request", func() bool { return sub.count() == 1 })
	got := sub.get(0).Properties
	if got == nil || string(got.CorrelationData) != "\x01\x02\x03" || got.ContentType != "application/json" ||
		got.ResponseTopic != "replies/req" || got.PayloadFormat == nil || *got.PayloadFormat != 1 ||
		!slices.Equal(got.User, props.User) {
		t.Fatalf("properties not passed through: %+v", got)
	}
}

// TestV5MessageExpiry: a message that expires while queued is not
// delivered; one that does not arrives with the remaining interval.
func TestV5MessageExpiry(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	cp := &paho.Connect{ClientID: "exp", CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: ptr(uint32(60))}}
	sub, _ := v5Dial(t, tb.addr, cp)
	mustSub(t, sub, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "e/#", QoS: 1}}})
	sub.Disconnect(&paho.Disconnect{})
	time.Sleep(50 * time.Millisecond)

	pub, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "ep", CleanStart: true, KeepAlive: 30})
	mustPub(t, pub, &paho.Publish{Topic: "e/short", QoS: 1, Payload: []byte("short"), Properties: &paho.PublishProperties{MessageExpiry: ptr(uint32(1))}})
	mustPub(t, pub, &paho.Publish{Topic: "e/long", QoS: 1, Payload: []byte("long"), Properties: &paho.PublishProperties{MessageExpiry: ptr(uint32(100))}})
	time.Sleep(1200 * time.Millisecond)

	cp.CleanStart = false
	sub2, ack := v5Dial(t, tb.addr, cp)
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	waitFor(t, 2*time.Second, "long-lived message", func() bool { return sub2.count() >= 1 })
	time.Sleep(100 * time.Millisecond)
	if sub2.count() != 1 || string(sub2.get(0).Payload) != "long" {
		t.Fatalf("got %d messages, first %q", sub2.count(), sub2.get(0).Payload)
	}
	if e := sub2.get(0).Properties.MessageExpiry; e == nil || *e > 99 || *e < 90 {
		t.Fatalf("remaining expiry %v, want 90..99", e)
	}
	if n := tb.srv.Stats().DroppedExpired; n != 1 {
		t.Fatalf("DroppedExpired = %d, want 1", n)
	}
}

// TestV5SessionExpiry: a session with expiry 1 s is gone after 1 s away.
func TestV5SessionExpiry(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	cp := &paho.Connect{ClientID: "se", CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: ptr(uint32(1))}}
	c, _ := v5Dial(t, tb.addr, cp)
	mustSub(t, c, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "se", QoS: 1}}})
	c.Disconnect(&paho.Disconnect{})
	time.Sleep(100 * time.Millisecond)
	cp.CleanStart = false
	c2, ack := v5Dial(t, tb.addr, cp)
	if !ack.SessionPresent {
		t.Fatal("session gone before its expiry")
	}
	c2.Disconnect(&paho.Disconnect{})
	time.Sleep(1500 * time.Millisecond)
	_, ack = v5Dial(t, tb.addr, cp)
	if ack.SessionPresent {
		t.Fatal("session still present after its expiry interval")
	}
	if n := tb.srv.Stats().Subscriptions; n != 0 {
		t.Fatalf("expired session left %d subscriptions", n)
	}
}

// TestV5WillDelay: a will with a delay is sent after the delay; a
// reconnect within the delay cancels it [MQTT-3.1.3-9].
func TestV5WillDelay(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	watch, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "watch", CleanStart: true, KeepAlive: 30})
	mustSub(t, watch, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "will/#", QoS: 1}}})

	connect := func(id string, clean bool) *rawClient {
		rc := dialRaw(t, tb.addr, packet.V5)
		p := packet.Connect{ClientID: []byte(id), CleanStart: clean, KeepAlive: 30, WillFlag: true, WillQoS: 1,
			WillTopic: []byte("will/" + id), WillPayload: []byte("bye")}
		p.Props.SessionExpiry = 60
		p.Props.Set(packet.PropSessionExpiry)
		p.WillProps.WillDelay = 1
		p.WillProps.Set(packet.PropWillDelay)
		rc.connect(p)
		return rc
	}
	// Comes back in time: no will.
	a := connect("back", true)
	a.nc.Close()
	time.Sleep(300 * time.Millisecond)
	connect("back", false)
	// Does not come back: will after ~1 s, not before.
	b := connect("gone", true)
	b.nc.Close()
	time.Sleep(500 * time.Millisecond)
	if watch.count() != 0 {
		t.Fatalf("will sent before its delay: %q", watch.get(0).Topic)
	}
	waitFor(t, 2*time.Second, "delayed will", func() bool { return watch.count() >= 1 })
	time.Sleep(700 * time.Millisecond)
	if watch.count() != 1 || watch.get(0).Topic != "will/gone" {
		t.Fatalf("wills: %d, first %s", watch.count(), watch.get(0).Topic)
	}
}

// TestV5TakeoverAndShutdown: the old connection gets DISCONNECT 0x8E on
// takeover; clients get 0x8B when the broker shuts down.
func TestV5TakeoverAndShutdown(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	old, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "dup", CleanStart: true, KeepAlive: 30})
	v5Dial(t, tb.addr, &paho.Connect{ClientID: "dup", CleanStart: true, KeepAlive: 30})
	select {
	case d := <-old.disconnected:
		if d.ReasonCode != byte(packet.SessionTakenOver) {
			t.Fatalf("takeover DISCONNECT reason 0x%02x", d.ReasonCode)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("old connection got no DISCONNECT")
	}
	c, _ := v5Dial(t, tb.addr, &paho.Connect{ClientID: "bye", CleanStart: true, KeepAlive: 30})
	go tb.stop()
	select {
	case d := <-c.disconnected:
		if d.ReasonCode != byte(packet.ServerShuttingDown) {
			t.Fatalf("shutdown DISCONNECT reason 0x%02x", d.ReasonCode)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no DISCONNECT on shutdown")
	}
}

// TestV5ConnackProperties: assigned client id, server keep alive capped by
// max_keepalive, response information only when requested.
func TestV5ConnackProperties(t *testing.T) {
	tb := startBroker(t, broker.Options{Limits: broker.Limits{MaxKeepAlive: 20}})
	_, ack := v5Dial(t, tb.addr, &paho.Connect{CleanStart: true, KeepAlive: 100,
		Properties: &paho.ConnectProperties{RequestResponseInfo: true}})
	p := ack.Properties
	if p.AssignedClientID == "" {
		t.Fatal("no assigned client id for an empty one")
	}
	if p.ServerKeepAlive == nil || *p.ServerKeepAlive != 20 {
		t.Fatalf("server keep alive %v, want 20", p.ServerKeepAlive)
	}
	if p.ResponseInfo == "" {
		t.Fatal("response information requested but not sent")
	}
	_, ack = v5Dial(t, tb.addr, &paho.Connect{ClientID: "noresp", CleanStart: true, KeepAlive: 10})
	if ack.Properties.ResponseInfo != "" || ack.Properties.ServerKeepAlive != nil {
		t.Fatalf("unrequested response info %q / keep alive %v", ack.Properties.ResponseInfo, ack.Properties.ServerKeepAlive)
	}
}
