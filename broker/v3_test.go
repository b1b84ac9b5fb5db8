package broker_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
)

func msgPayload(m mqtt.Message) []byte { return m.Payload() }

// TestV3QoSRoundTrip publishes at each QoS with paho (3.1.1) and checks
// every message arrives once, in order, at the granted QoS.
func TestV3QoSRoundTrip(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	for qos := byte(0); qos <= 2; qos++ {
		t.Run(fmt.Sprint("qos", qos), func(t *testing.T) {
			var got received
			sub := v3Connect(t, v3Options(tb.addr, fmt.Sprint("sub", qos)))
			wait(t, sub.Subscribe("q/+", qos, got.handler))
			pub := v3Connect(t, v3Options(tb.addr, fmt.Sprint("pub", qos)))
			want := seq("m", 50)
			for _, p := range want {
				wait(t, pub.Publish(fmt.Sprint("q/", qos), qos, false, p))
			}
			waitFor(t, 5*time.Second, "50 messages", func() bool { return got.count() >= 50 })
			time.Sleep(50 * time.Millisecond)
			if got.count() != 50 {
				t.Fatalf("received %d messages, want 50", got.count())
			}
			if p := payloads(50, got.get, msgPayload); !slices.Equal(p, want) {
				t.Fatalf("order: %v", p)
			}
			if q := got.get(0).Qos(); q != qos {
				t.Fatalf("delivered at QoS %d, want %d", q, qos)
			}
		})
	}
}

// TestV3Retained: a retained message reaches later subscribers with the
// RETAIN flag; an empty retained payload clears it [MQTT-3.3.1-10].
func TestV3Retained(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	pub := v3Connect(t, v3Options(tb.addr, "pub"))
	wait(t, pub.Publish("r/a", 1, true, "A"))
	wait(t, pub.Publish("r/b", 1, true, "B"))

	var got received
	sub := v3Connect(t, v3Options(tb.addr, "sub1"))
	wait(t, sub.Subscribe("r/#", 1, got.handler))
	waitFor(t, 2*time.Second, "2 retained", func() bool { return got.count() == 2 })
	for i := range 2 {
		if !got.get(i).Retained() {
			t.Fatalf("retained message %d delivered without RETAIN", i)
		}
	}
	// A live message is forwarded with RETAIN cleared [MQTT-3.3.1-9].
	wait(t, pub.Publish("r/a", 1, true, "A2"))
	waitFor(t, 2*time.Second, "live message", func() bool { return got.count() == 3 })
	if got.get(2).Retained() {
		t.Fatal("live message to an existing subscription has RETAIN set")
	}

	wait(t, pub.Publish("r/a", 1, true, ""))
	var got2 received
	sub2 := v3Connect(t, v3Options(tb.addr, "sub2"))
	wait(t, sub2.Subscribe("r/#", 1, got2.handler))
	time.Sleep(200 * time.Millisecond)
	if got2.count() != 1 || string(got2.get(0).Payload()) != "B" {
		t.Fatalf("after clearing r/a, new subscriber got %d messages", got2.count())
	}
	if n := tb.srv.Stats().Retained; n != 1 {
		t.Fatalf("Stats().Retained = %d, want 1", n)
	}
}

// TestV3Will: the will is published when the connection is lost, not after
// a normal DISCONNECT.
func TestV3Will(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	var got received
	sub := v3Connect(t, v3Options(tb.addr, "watcher"))
	wait(t, sub.Subscribe("wills/#", 1, got.handler))

	// Normal DISCONNECT: no will.
	o := v3Options(tb.addr, "polite").SetWill("wills/polite", "gone", 1, false)
	polite := v3Connect(t, o)
	polite.Disconnect(100)

	// Lost connection: will.
	rc := dialRaw(t, tb.addr, packet.V311)
	ack := rc.connect(packet.Connect{ClientID: []byte("rude"), CleanStart: true, KeepAlive: 60,
		WillFlag: true, WillQoS: 1, WillTopic: []byte("wills/rude"), WillPayload: []byte("lost")})
	if ack.Code != 0 {
		t.Fatalf("connack %v", ack.Code)
	}
	rc.nc.Close()

	waitFor(t, 2*time.Second, "will", func() bool { return got.count() >= 1 })
	time.Sleep(200 * time.Millisecond)
	if got.count() != 1 || got.get(0).Topic() != "wills/rude" || string(got.get(0).Payload()) != "lost" {
		t.Fatalf("wills received: %d, first %q", got.count(), got.get(0).Topic())
	}
}

// TestV3PersistentSession: with clean session 0, QoS 1 messages published
// while the subscriber is away are delivered when it comes back, and the
// CONNACK says the session was present.
func TestV3PersistentSession(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	var got received
	o := v3Options(tb.addr, "durable").SetCleanSession(false)
	sub := v3Connect(t, o)
	wait(t, sub.Subscribe("p/#", 1, got.handler))
	sub.Disconnect(50)

	pub := v3Connect(t, v3Options(tb.addr, "pub"))
	want := seq("x", 20)
	for _, p := range want {
		wait(t, pub.Publish("p/1", 1, false, p))
		wait(t, pub.Publish("p/0", 0, false, "qos0-"+p)) // QoS 0 for an offline session is queued too
	}

	rc := dialRaw(t, tb.addr, packet.V311)
	ack := rc.connect(packet.Connect{ClientID: []byte("durable"), KeepAlive: 60})
	if !ack.SessionPresent {
		t.Fatal("session present = 0 for a persistent session")
	}
	var p1 []string
	for range 40 {
		p := rc.expectPublish(2 * time.Second)
		if p.QoS == 1 {
			p1 = append(p1, string(p.Payload))
			a := packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID}
			rc.send(a.Append(nil, rc.v))
		}
	}
	if !slices.Equal(p1, want) {
		t.Fatalf("queued QoS 1 messages: %v", p1)
	}

	// Clean session 1 discards it.
	rc.send([]byte{0xE0, 0})
	rc2 := dialRaw(t, tb.addr, packet.V311)
	if ack := rc2.connect(packet.Connect{ClientID: []byte("durable"), CleanStart: true}); ack.SessionPresent {
		t.Fatal("clean session connect reported a present session")
	}
}

// TestV3Takeover: a second connection with the same client id closes the
// first [MQTT-3.1.4-2].
func TestV3Takeover(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	first := dialRaw(t, tb.addr, packet.V311)
	first.connect(packet.Connect{ClientID: []byte("twin"), CleanStart: true, KeepAlive: 60})
	second := dialRaw(t, tb.addr, packet.V311)
	if ack := second.connect(packet.Connect{ClientID: []byte("twin"), CleanStart: true, KeepAlive: 60}); ack.Code != 0 {
		t.Fatalf("second connect refused: %v", ack.Code)
	}
	first.expectClosed(2 * time.Second)
	// The new connection works.
	second.subscribe(1, packet.Subscription{Filter: []byte("t"), QoS: 0})
}

// TestDollarTopics: "#" and "+" do not match $SYS topics; "$SYS/#" does.
func TestDollarTopics(t *testing.T) {
	tb := startBroker(t, broker.Options{SysInterval: 50 * time.Millisecond, Version: "test"})
	var all, sys received
	c := v3Connect(t, v3Options(tb.addr, "c"))
	wait(t, c.Subscribe("#", 0, all.handler))
	wait(t, c.Subscribe("+/broker/#", 0, all.handler))
	c2 := v3Connect(t, v3Options(tb.addr, "c2"))
	wait(t, c2.Subscribe("$SYS/broker/version", 0, sys.handler))
	waitFor(t, 2*time.Second, "$SYS/broker/version", func() bool { return sys.count() > 0 })
	if string(sys.get(0).Payload()) != "edgemq test" {
		t.Fatalf("$SYS/broker/version = %q", sys.get(0).Payload())
	}
	time.Sleep(150 * time.Millisecond)
	if n := all.count(); n != 0 {
		t.Fatalf("'#' received %d $SYS messages, first %q", n, all.get(0).Topic())
	}
}

// TestRetainedWhileSubscribing: a retained message published at the very
// moment a client subscribes reaches it exactly once, live or as retained,
// never twice and never not at all. Repeated to catch the interleavings.
func TestRetainedWhileSubscribing(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	pub := dialRaw(t, tb.addr, packet.V311)
	pub.connect(packet.Connect{ClientID: []byte("rpub"), CleanStart: true})
	for i := range 150 {
		topic := fmt.Sprintf("race/%d", i)
		sub := dialRaw(t, tb.addr, packet.V311)
		sub.connect(packet.Connect{ClientID: []byte("rsub"), CleanStart: true})
		s := packet.Subscribe{PacketID: 1, Subs: []packet.Subscription{{Filter: []byte(topic)}}}
		p := packet.Publish{Topic: []byte(topic), Retain: true, Payload: []byte("x")}
		// Both at once: the publish from another goroutine (a raw write,
		// not pub.send, which may call t.Fatal).
		go pub.nc.Write(p.Append(nil, packet.V311))
		sub.send(s.Append(nil, packet.V311))
		n := 0
		for {
			h, _, err := sub.tryNext(40 * time.Millisecond)
			if err != nil {
				break
			}
			if h.Type == packet.PUBLISH {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("round %d: the retained message arrived %d times, want once", i, n)
		}
		sub.nc.Close()
	}
}
