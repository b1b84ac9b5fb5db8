package broker_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
)

func v5Connect(id string) packet.Connect {
	return packet.Connect{ClientID: []byte(id), CleanStart: true, KeepAlive: 30}
}

// TestBadInput sends malformed packets and protocol violations, each on
// its own connection, and checks that each connection is closed with the
// right reason code (v5) and a log line, while a well-behaved subscriber
// keeps receiving everything a publisher sends.
func TestBadInput(t *testing.T) {
	tb := startBroker(t, broker.Options{Limits: broker.Limits{MaxPacketSize: 1024}})

	// A healthy pair, running throughout.
	sub := dialRaw(t, tb.addr, packet.V311)
	sub.connect(packet.Connect{ClientID: []byte("healthy-sub"), CleanStart: true})
	sub.subscribe(1, packet.Subscription{Filter: []byte("healthy"), QoS: 0})
	var sent atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	pub := dialRaw(t, tb.addr, packet.V311)
	pub.connect(packet.Connect{ClientID: []byte("healthy-pub"), CleanStart: true})
	go func() {
		defer close(done)
		p := packet.Publish{Topic: []byte("healthy"), Payload: []byte("ok")}
		b := p.Append(nil, packet.V311)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := pub.nc.Write(b); err != nil {
				return
			}
			sent.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()

	cases := []struct {
		name     string
		v        packet.Version
		connect  bool // send a valid CONNECT first
		input    []byte
		wantCode packet.ReasonCode // 0xFF: closed without DISCONNECT
		wantLog  string
	}{
		{"remaining length over 4 bytes", packet.V5, true, []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, packet.MalformedPacket, "bad input"},
		{"SUBSCRIBE reserved flags 0", packet.V5, true, []byte{0x80, 6, 0, 1, 0, 1, 'a', 0}, packet.MalformedPacket, "bad input"},
		{"PUBLISH QoS 3", packet.V5, true, []byte{0x36, 5, 0, 1, 'a', 0, 1}, packet.MalformedPacket, "bad input"},
		{"invalid UTF-8 topic", packet.V5, true, []byte{0x30, 5, 0, 2, 0xC3, 0x28, 0}, packet.MalformedPacket, "bad input"},
		{"wildcard in topic name", packet.V5, true, []byte{0x30, 5, 0, 2, 'a', '#', 0}, packet.TopicNameInvalid, "bad input"},
		{"second CONNECT", packet.V5, true, nil, packet.ProtocolError, "second CONNECT"},
		{"oversize packet", packet.V5, true, append([]byte{0x30, 0x90, 0x10, 0, 1, 'a'}, make([]byte, 2061)...), packet.PacketTooLarge, "bad input"},
		{"subscription identifier from a client", packet.V5, true, []byte{0x30, 6, 0, 1, 'a', 2, 0x0B, 5}, packet.ProtocolError, "subscription identifier"},
		{"PUBLISH before CONNECT", packet.V5, false, []byte{0x30, 4, 0, 1, 'a', 'x'}, 0xFF, "not CONNECT"},
		{"3.1.1 malformed: closed without DISCONNECT", packet.V311, true, []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, 0xFF, "bad input"},
		{"3.1.1 second CONNECT", packet.V311, true, nil, 0xFF, "second CONNECT"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, tb.addr, tc.v)
			if tc.connect {
				if ack := c.connect(v5Connect(fmt.Sprint("bad", i))); ack.Code != 0 {
					t.Fatalf("connack %v", ack.Code)
				}
			}
			input := tc.input
			if input == nil { // a second CONNECT
				p := v5Connect("again")
				p.Version, p.ProtocolName = tc.v, []byte("MQTT")
				input = p.Append(nil, tc.v)
			}
			c.send(input)
			if got := c.expectClosed(3 * time.Second); got != tc.wantCode {
				t.Fatalf("closed with reason 0x%02x, want 0x%02x", byte(got), byte(tc.wantCode))
			}
			waitFor(t, time.Second, "log line", func() bool { return strings.Contains(tb.logs.String(), tc.wantLog) })
		})
	}

	waitFor(t, 5*time.Second, "100 healthy messages", func() bool { return sent.Load() >= 100 })
	close(stop)
	<-done
	n := int(sent.Load())
	for i := range n {
		p := sub.expectPublish(2 * time.Second)
		if string(p.Payload) != "ok" {
			t.Fatalf("healthy subscriber: message %d corrupted: %q", i, p.Payload)
		}
	}
	if n < 10 {
		t.Fatalf("healthy publisher sent only %d messages", n)
	}
}

// TestKeepAlive: a client silent for 1.5x its keep alive is disconnected
// (v5: 0x8D) and its will is published.
func TestKeepAlive(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	watch := dialRaw(t, tb.addr, packet.V311)
	watch.connect(packet.Connect{ClientID: []byte("watch"), CleanStart: true})
	watch.subscribe(1, packet.Subscription{Filter: []byte("lost/#"), QoS: 0})

	c := dialRaw(t, tb.addr, packet.V5)
	p := v5Connect("sleepy")
	p.KeepAlive = 1
	p.WillFlag, p.WillTopic, p.WillPayload = true, []byte("lost/sleepy"), []byte("timeout")
	c.connect(p)
	start := time.Now()
	if code := c.expectClosed(4 * time.Second); code != packet.KeepAliveTimeout {
		t.Fatalf("closed with 0x%02x, want keep alive timeout 0x8D", byte(code))
	}
	if el := time.Since(start); el < 1400*time.Millisecond || el > 2500*time.Millisecond {
		t.Fatalf("closed after %v, want about 1.5 s", el)
	}
	w := watch.expectPublish(time.Second)
	if string(w.Topic) != "lost/sleepy" {
		t.Fatalf("will topic %q", w.Topic)
	}

	// PINGREQ keeps a connection alive.
	c2 := dialRaw(t, tb.addr, packet.V311)
	c2.connect(packet.Connect{ClientID: []byte("pinger"), CleanStart: true, KeepAlive: 1})
	for range 4 {
		time.Sleep(700 * time.Millisecond)
		c2.send([]byte{0xC0, 0})
		if h, _ := c2.next(time.Second); h.Type != packet.PINGRESP {
			t.Fatalf("got %v, want PINGRESP", h.Type)
		}
	}
}

// TestConnectTimeout: a connection that never sends CONNECT is closed.
func TestConnectTimeout(t *testing.T) {
	tb := startBroker(t, broker.Options{Limits: broker.Limits{ConnectTimeout: 300 * time.Millisecond}})
	c := dialRaw(t, tb.addr, packet.V311)
	c.send([]byte{0x10, 20}) // half a CONNECT
	c.expectClosed(2 * time.Second)
}

// TestTopicAliases: inbound aliases are resolved; outbound aliases are
// used up to the client's Topic Alias Maximum; an alias above ours closes
// the connection with 0x94.
func TestTopicAliases(t *testing.T) {
	tb := startBroker(t, broker.Options{Limits: broker.Limits{MaxTopicAlias: 2}})
	sub := dialRaw(t, tb.addr, packet.V5)
	sp := v5Connect("alias-sub")
	sp.Props.TopicAliasMaximum = 1
	sp.Props.Set(packet.PropTopicAliasMaximum)
	sub.connect(sp)
	sub.subscribe(1, packet.Subscription{Filter: []byte("al/#")})

	pub := dialRaw(t, tb.addr, packet.V5)
	ack := pub.connect(v5Connect("alias-pub"))
	if ack.Props.TopicAliasMaximum != 2 {
		t.Fatalf("CONNACK topic alias maximum %d, want 2", ack.Props.TopicAliasMaximum)
	}
	send := func(topic string, alias uint16, payload string) {
		p := packet.Publish{Topic: []byte(topic), Payload: []byte(payload)}
		if alias != 0 {
			p.Props.TopicAlias = alias
			p.Props.Set(packet.PropTopicAlias)
		}
		pub.send(p.Append(nil, packet.V5))
	}
	send("al/one", 1, "1") // sets alias 1
	send("", 1, "2")       // uses alias 1
	send("al/two", 0, "3") // no alias
	send("al/one", 0, "4") // no alias
	wantTopics := []string{"al/one", "", "al/two", ""}
	wantAlias := []uint16{1, 1, 0, 1}
	for i := range 4 {
		p := sub.expectPublish(2 * time.Second)
		if string(p.Topic) != wantTopics[i] || p.Props.TopicAlias != wantAlias[i] || string(p.Payload) != fmt.Sprint(i+1) {
			t.Fatalf("message %d: topic %q alias %d payload %q; want %q alias %d", i, p.Topic, p.Props.TopicAlias, p.Payload, wantTopics[i], wantAlias[i])
		}
	}
	send("al/x", 3, "bad")
	if code := pub.expectClosed(2 * time.Second); code != packet.TopicAliasInvalid {
		t.Fatalf("alias above maximum: closed with 0x%02x, want 0x94", byte(code))
	}
}

// TestReceiveMaximum: the broker sends at most the client's Receive
// Maximum unacknowledged QoS 1 messages; a client exceeding ours is
// disconnected with 0x93.
func TestReceiveMaximum(t *testing.T) {
	tb := startBroker(t, broker.Options{Limits: broker.Limits{ReceiveMaximum: 2}})
	sub := dialRaw(t, tb.addr, packet.V5)
	sp := v5Connect("rm-sub")
	sp.Props.ReceiveMaximum = 2
	sp.Props.Set(packet.PropReceiveMaximum)
	sub.connect(sp)
	sub.subscribe(1, packet.Subscription{Filter: []byte("rm"), QoS: 1})
	pub := dialRaw(t, tb.addr, packet.V5)
	ack := pub.connect(v5Connect("rm-pub"))
	if !ack.Props.Has(packet.PropReceiveMaximum) || ack.Props.ReceiveMaximum != 2 {
		t.Fatalf("CONNACK receive maximum %d", ack.Props.ReceiveMaximum)
	}
	for i := range 5 {
		p := packet.Publish{Topic: []byte("rm"), QoS: 1, PacketID: uint16(i + 1), Payload: fmt.Append(nil, i)}
		pub.send(p.Append(nil, packet.V5))
		pub.expectAck(packet.PUBACK)
	}
	var got []*packet.Publish
	got = append(got, sub.expectPublish(time.Second), sub.expectPublish(time.Second))
	if _, _, err := sub.tryNext(300 * time.Millisecond); err == nil {
		t.Fatal("broker sent a third message beyond the client's receive maximum")
	}
	for _, p := range got {
		a := packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID}
		sub.send(a.Append(nil, packet.V5))
	}
	for range 3 {
		p := sub.expectPublish(time.Second)
		a := packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID}
		sub.send(a.Append(nil, packet.V5))
	}

	// Inbound: QoS 2 publishes awaiting PUBREL count against ours (2).
	for i := range 3 {
		p := packet.Publish{Topic: []byte("rm2"), QoS: 2, PacketID: uint16(100 + i), Payload: []byte("x")}
		pub.send(p.Append(nil, packet.V5))
		if i < 2 {
			pub.expectAck(packet.PUBREC)
		}
	}
	if code := pub.expectClosed(2 * time.Second); code != packet.ReceiveMaximumExceeded {
		t.Fatalf("closed with 0x%02x, want 0x93", byte(code))
	}
}

// TestMaximumPacketSize: the broker never sends a client more than its
// Maximum Packet Size (the message is dropped and counted).
func TestMaximumPacketSize(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	sub := dialRaw(t, tb.addr, packet.V5)
	sp := v5Connect("small")
	sp.Props.MaximumPacketSize = 64
	sp.Props.Set(packet.PropMaximumPacketSize)
	sub.connect(sp)
	sub.subscribe(1, packet.Subscription{Filter: []byte("mp"), QoS: 1})
	pub := dialRaw(t, tb.addr, packet.V5)
	pub.connect(v5Connect("big"))
	for _, n := range []int{10, 100, 20} {
		p := packet.Publish{Topic: []byte("mp"), QoS: 1, PacketID: uint16(n), Payload: make([]byte, n)}
		pub.send(p.Append(nil, packet.V5))
		pub.expectAck(packet.PUBACK)
	}
	for _, want := range []int{10, 20} {
		p := sub.expectPublish(time.Second)
		if len(p.Payload) != want {
			t.Fatalf("payload %d bytes, want %d", len(p.Payload), want)
		}
		a := packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID}
		sub.send(a.Append(nil, packet.V5))
	}
	if n := tb.srv.Stats().DroppedTooLarge; n != 1 {
		t.Fatalf("DroppedTooLarge = %d, want 1", n)
	}
}

// TestOverlappingSubscriptions: a message matching two subscriptions of
// one client is delivered once, at the higher QoS, with both
// subscription identifiers.
func TestOverlappingSubscriptions(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	c := dialRaw(t, tb.addr, packet.V5)
	c.connect(v5Connect("overlap"))
	for i, f := range []string{"o/+", "o/#"} {
		s := packet.Subscribe{PacketID: uint16(i + 1), Subs: []packet.Subscription{{Filter: []byte(f), QoS: byte(i + 1)}}}
		s.Props.SubscriptionIDs = []uint32{uint32(10 + i)}
		s.Props.Set(packet.PropSubscriptionID)
		c.send(s.Append(nil, packet.V5))
		if h, _ := c.next(time.Second); h.Type != packet.SUBACK {
			t.Fatalf("got %v, want SUBACK", h.Type)
		}
	}
	p := packet.Publish{Topic: []byte("o/x"), QoS: 2, PacketID: 7, Payload: []byte("once")}
	c.send(p.Append(nil, packet.V5))
	var got *packet.Publish
	for got == nil {
		h, body := c.next(time.Second)
		switch h.Type {
		case packet.PUBREC:
			r := packet.Ack{Type: packet.PUBREL, PacketID: 7}
			c.send(r.Append(nil, packet.V5))
		case packet.PUBCOMP:
		case packet.PUBLISH:
			got = &packet.Publish{}
			if err := got.Decode(h, append([]byte(nil), body...), packet.V5); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got.QoS != 2 || len(got.Props.SubscriptionIDs) != 2 {
		t.Fatalf("QoS %d, subscription ids %v; want QoS 2 and [10 11]", got.QoS, got.Props.SubscriptionIDs)
	}
	for {
		h, _, err := c.tryNext(200 * time.Millisecond)
		if err != nil {
			break
		}
		if h.Type == packet.PUBLISH {
			t.Fatal("overlapping subscriptions delivered the message twice")
		}
	}
}

// TestBridgeProtocolLevel: a client connecting with protocol level 0x84,
// as mosquitto and edgemq bridges do, does not get its own messages back
// (No Local) and gets the retain flag as published.
func TestBridgeProtocolLevel(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	br := dialRaw(t, tb.addr, packet.V311)
	p := packet.Connect{ClientID: []byte("bridge-in"), CleanStart: true, KeepAlive: 60}
	b := p.Append(nil, packet.V311)
	if string(b[4:8]) != "MQTT" || b[8] != 4 {
		t.Fatalf("unexpected CONNECT layout % x", b)
	}
	b[8] = 0x84
	br.send(b)
	if h, _ := br.next(2 * time.Second); h.Type != packet.CONNACK {
		t.Fatalf("got %v, want CONNACK", h.Type)
	}
	br.subscribe(1, packet.Subscription{Filter: []byte("b/#"), QoS: 1})
	own := packet.Publish{Topic: []byte("b/own"), QoS: 1, PacketID: 1, Payload: []byte("mine")}
	br.send(own.Append(nil, packet.V311))
	br.expectAck(packet.PUBACK)
	other := dialRaw(t, tb.addr, packet.V311)
	other.connect(packet.Connect{ClientID: []byte("local"), CleanStart: true})
	r := packet.Publish{Topic: []byte("b/other"), Retain: true, Payload: []byte("theirs")}
	other.send(r.Append(nil, packet.V311))
	m := br.expectPublish(2 * time.Second)
	if string(m.Payload) != "theirs" || !m.Retain {
		t.Fatalf("bridge got %q retain=%v; want only the other client's message, retain kept", m.Payload, m.Retain)
	}
}
