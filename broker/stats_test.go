package broker_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/transport"
)

// TestStatsByQoSAndListener runs a scripted workload over two listeners
// with raw clients and checks the exact per-QoS counts, the connection
// gauge by listener and version, and the queue depth gauges; the counts
// survive the clients' disconnection (folded into the totals).
func TestStatsByQoSAndListener(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	other, err := transport.ListenTCP("other", "127.0.0.1:0", tb.srv.ServeConn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	sub := dialRaw(t, tb.addr, packet.V5)
	sub.connect(packet.Connect{ClientID: []byte("sub"), CleanStart: true, KeepAlive: 60})
	sub.subscribe(1, packet.Subscription{Filter: []byte("s/#"), QoS: 2})
	// An offline persistent session with a QoS 1 subscription: its queue
	// fills while it is away.
	away := dialRaw(t, other.Addr().String(), packet.V311)
	away.connect(packet.Connect{ClientID: []byte("away"), KeepAlive: 60})
	away.subscribe(1, packet.Subscription{Filter: []byte("s/q1"), QoS: 1})
	away.send((&packet.Disconnect{}).Append(nil, packet.V311))
	away.expectClosed(2 * time.Second)

	pub := dialRaw(t, other.Addr().String(), packet.V311)
	pub.connect(packet.Connect{ClientID: []byte("pub"), CleanStart: true, KeepAlive: 60})
	var buf []byte
	for range 3 {
		m := packet.Publish{Topic: []byte("s/q0"), Payload: []byte("0123456789")}
		buf = m.Append(buf, packet.V311)
	}
	pub.send(buf)
	for i := range 2 {
		m := packet.Publish{Topic: []byte("s/q1"), QoS: 1, PacketID: uint16(10 + i), Payload: []byte("abcde")}
		pub.send(m.Append(nil, packet.V311))
		pub.expectAck(packet.PUBACK)
	}
	m := packet.Publish{Topic: []byte("s/q2"), QoS: 2, PacketID: 20, Payload: []byte("1234567")}
	pub.send(m.Append(nil, packet.V311))
	pub.expectAck(packet.PUBREC)
	pub.send((&packet.Ack{Type: packet.PUBREL, PacketID: 20}).Append(nil, packet.V311))
	pub.expectAck(packet.PUBCOMP)

	// The subscriber gets 3 + 2 + 1 and completes the exchanges.
	for range 6 {
		p := sub.expectPublish(2 * time.Second)
		switch p.QoS {
		case 1:
			sub.send((&packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID}).Append(nil, packet.V5))
		case 2:
			sub.send((&packet.Ack{Type: packet.PUBREC, PacketID: p.PacketID}).Append(nil, packet.V5))
			sub.expectAck(packet.PUBREL)
			sub.send((&packet.Ack{Type: packet.PUBCOMP, PacketID: p.PacketID}).Append(nil, packet.V5))
		}
	}
	// A PINGREQ round trip: the broker has handled everything before it.
	sub.send(packet.AppendPingreq(nil))
	if h, _ := sub.next(2 * time.Second); h.Type != packet.PINGRESP {
		t.Fatalf("got %v, want PINGRESP", h.Type)
	}

	st := tb.srv.Stats()
	want := struct{ in, out, pin, pout [3]uint64 }{
		in: [3]uint64{3, 2, 1}, pin: [3]uint64{30, 10, 7},
		out: [3]uint64{3, 2, 1}, pout: [3]uint64{30, 10, 7},
	}
	check := func(st broker.Stats) {
		t.Helper()
		if st.MessagesReceivedByQoS != want.in || st.PayloadBytesReceivedByQoS != want.pin {
			t.Errorf("received by QoS %v, payload bytes %v; want %v, %v", st.MessagesReceivedByQoS, st.PayloadBytesReceivedByQoS, want.in, want.pin)
		}
		if st.MessagesSentByQoS != want.out || st.PayloadBytesSentByQoS != want.pout {
			t.Errorf("sent by QoS %v, payload bytes %v; want %v, %v", st.MessagesSentByQoS, st.PayloadBytesSentByQoS, want.out, want.pout)
		}
		if st.MessagesReceived != 6 || st.MessagesSent != 6 {
			t.Errorf("totals received %d sent %d, want 6 and 6", st.MessagesReceived, st.MessagesSent)
		}
	}
	check(st)
	wantConns := []broker.ListenerConnections{
		{Listener: "other", Version: "3.1.1", Count: 1},
		{Listener: "tcp", Version: "5.0", Count: 1},
	}
	if !reflect.DeepEqual(st.Connections, wantConns) {
		t.Errorf("Connections = %+v, want %+v", st.Connections, wantConns)
	}
	// "away" holds the two QoS 1 messages on s/q1; nobody else queues.
	if st.QueueMaxMessages != 2 || st.QueuedMessages != 2 || st.QueueMaxBytes != st.QueuedBytes || st.QueuedBytes <= 10 {
		t.Errorf("queue gauges: max %d msgs %d bytes, total %d msgs %d bytes; want max 2 = total 2, bytes equal and > 10",
			st.QueueMaxMessages, st.QueueMaxBytes, st.QueuedMessages, st.QueuedBytes)
	}

	sub.nc.Close()
	pub.nc.Close()
	waitFor(t, 5*time.Second, "clients gone", func() bool { return tb.srv.Stats().ClientsConnected == 0 })
	st = tb.srv.Stats()
	check(st)
	if len(st.Connections) != 0 {
		t.Errorf("Connections after disconnect = %+v, want none", st.Connections)
	}
}

// TestConnectionLogLines checks the one line per connection event: client
// id, address, listener, protocol and version, and a reason on disconnect.
func TestConnectionLogLines(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	c := dialRaw(t, tb.addr, packet.V5)
	c.connect(packet.Connect{ClientID: []byte("logme"), CleanStart: true, KeepAlive: 60})
	c.send((&packet.Disconnect{}).Append(nil, packet.V5))
	c.expectClosed(2 * time.Second)
	d := dialRaw(t, tb.addr, packet.V311)
	d.connect(packet.Connect{ClientID: []byte("dropper"), CleanStart: true, KeepAlive: 60})
	d.nc.Close()
	remote := "remote=" + c.nc.LocalAddr().String()
	waitFor(t, 2*time.Second, "disconnect lines", func() bool {
		return strings.Contains(tb.logs.String(), "client=dropper") &&
			tb.logs.hasLine("client disconnected", "client=dropper")
	})
	for _, want := range [][]string{
		{`msg="client connected"`, "client=logme", remote, "listener=tcp", "protocol=mqtt", "version=5.0"},
		{`msg="client disconnected"`, "client=logme", remote, "protocol=mqtt", "version=5.0", "reason=DISCONNECT"},
		{`msg="client disconnected"`, "client=dropper", "protocol=mqtt", "version=3.1.1", `reason="connection closed without DISCONNECT"`},
	} {
		if !tb.logs.hasLine(want...) {
			t.Errorf("no log line with %q in:\n%s", want, tb.logs.String())
		}
	}
}
