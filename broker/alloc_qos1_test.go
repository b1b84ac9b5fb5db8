package broker_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
)

// TestAllocsPerQoS1Message counts heap allocations per QoS 1 message, end
// to end at about 1k msg/s (publisher, broker, subscriber, acks): the
// broker's share is none, the test clients' about 9. Goroutines started per
// message (a writer per delivery, a read loop per packet) cost 5 more and
// fail it; they also cost latency.
func TestAllocsPerQoS1Message(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	sub := dialRaw(t, tb.addr, packet.V311)
	sub.connect(packet.Connect{ClientID: []byte("s"), CleanStart: true})
	sub.subscribe(1, packet.Subscription{Filter: []byte("a/#"), QoS: 1})
	pub := dialRaw(t, tb.addr, packet.V311)
	pub.connect(packet.Connect{ClientID: []byte("p"), CleanStart: true})
	run := func(n int) {
		for i := range n {
			p := packet.Publish{Topic: []byte("a/b"), QoS: 1, PacketID: uint16(i%60000 + 1), Payload: []byte("0123456789")}
			pub.send(p.Append(nil, packet.V311))
			pub.expectAck(packet.PUBACK)
			m := sub.expectPublish(time.Second)
			sub.send((&packet.Ack{Type: packet.PUBACK, PacketID: m.PacketID}).Append(nil, packet.V311))
			time.Sleep(200 * time.Microsecond)
		}
	}
	run(200)
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	run(1000)
	runtime.ReadMemStats(&b)
	per := float64(b.Mallocs-a.Mallocs) / 1000
	t.Logf("%.1f allocs and %.0f bytes per QoS 1 message end to end (test clients included)",
		per, float64(b.TotalAlloc-a.TotalAlloc)/1000)
	if per > 10.5 {
		t.Fatalf("%.1f allocations per QoS 1 message, more than the test clients' 9 and a half", per)
	}
}
