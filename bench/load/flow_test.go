package load

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/transport"
)

// startBroker runs an in-memory edgemq broker on a loopback port.
func startBroker(t *testing.T) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	srv, err := broker.New(broker.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP("test", "127.0.0.1:0", srv.ServeConn, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

func TestFlow(t *testing.T) {
	addr := startBroker(t)
	tests := []struct {
		name       string
		pubs, subs int
		qos        byte
		rate       float64
	}{
		{"fanin-qos0", 3, 1, 0, 0},
		{"fanin-qos1", 3, 1, 1, 0},
		{"fanout", 1, 4, 0, 0},
		{"paced", 1, 1, 1, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var marks []bool
			f := Flow{
				Addr: addr, Name: tt.name, Publishers: tt.pubs, Subscribers: tt.subs,
				Topic: "t/" + tt.name, Filter: "t/" + tt.name + "/#", QoS: tt.qos,
				Window: 300, Inflight: 50, Batch: 16, PayloadSize: 24, Rate: tt.rate,
				Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond, Drain: 5 * time.Second,
				OnMeasure: func(start bool) { marks = append(marks, start) },
			}
			r, err := f.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(marks) != 2 || !marks[0] || marks[1] {
				t.Errorf("OnMeasure calls %v, want [true false]", marks)
			}
			if r.Sent == 0 || r.Expected != r.Sent*uint64(tt.subs) {
				t.Fatalf("sent %d, expected %d deliveries for %d subscribers", r.Sent, r.Expected, tt.subs)
			}
			// Stalls are not checked: on a loaded machine a 250 ms pause
			// without deliveries can happen without any loss.
			if r.Received != r.Expected || r.Lost() != 0 || r.Reordered != 0 {
				t.Errorf("received %d of %d (lost %d), %d reordered; want all, in order",
					r.Received, r.Expected, r.Lost(), r.Reordered)
			}
			if tt.qos == 1 && r.Acked != r.Sent {
				t.Errorf("%d PUBACKs for %d messages", r.Acked, r.Sent)
			}
			if r.MeasuredReceived == 0 || r.Latency.Count() == 0 || r.Latency.Quantile(0.5) <= 0 || r.DeliveryRate() <= 0 {
				t.Errorf("measured %d deliveries, %d latencies, median %v, rate %.0f: want all positive",
					r.MeasuredReceived, r.Latency.Count(), r.Latency.Quantile(0.5), r.DeliveryRate())
			}
			if tt.rate > 0 {
				// 200 msg/s for 0.5 s: about 100 messages, never a batch.
				if r.Sent < 50 || r.Sent > 110 {
					t.Errorf("paced at %v msg/s for %v: sent %d", tt.rate, f.Duration, r.Sent)
				}
			}
		})
	}
}

func TestConnRateAndIdleConns(t *testing.T) {
	addr := startBroker(t)
	r, err := ConnRate{Addr: addr, Name: "cr", Dialers: 2, Duration: 300 * time.Millisecond}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Cycles == 0 || r.Handshake.Count() < r.Cycles || r.Rate() <= 0 {
		t.Errorf("conn rate: %d cycles, %d handshakes, %.0f/s", r.Cycles, r.Handshake.Count(), r.Rate())
	}

	idle, err := IdleConns{Addr: addr, Name: "idle", N: 40, Dialers: 3}.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if idle.Opened != 40 {
		t.Errorf("opened %d idle connections, want 40", idle.Opened)
	}
	idle.Close()

	// A connection that cannot be opened is an error, not a short count.
	if _, err := (IdleConns{Addr: "127.0.0.1:1", Name: "x", N: 1, Dialers: 1}).Open(context.Background()); err == nil {
		t.Error("idle conns to a closed port: no error")
	}
}

func TestTemplateAndReceiver(t *testing.T) {
	f := &flow{cfg: Flow{Topic: "a/b", QoS: 1, PayloadSize: 24}}
	tm := f.template(2)
	buf := tm.appendBatch(nil, 0xfffe, 2, 12345)

	// The batch decodes with the codec into two PUBLISHes with the
	// fields the template patched.
	rd := packet.NewReader(bytes.NewReader(buf), 0)
	r := &receiver{seen: make([]uint64, 3), hist: &Histogram{}, now: 12345 + 1000, measured: true}
	for i, want := range []struct {
		pid uint16
		seq uint64
	}{{1, 0xffff}, {2, 0x10000}} { // packet ids cycle through 1..65535: seq%65535 + 1
		h, body, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if err := r.handle(h, body); err != nil {
			t.Fatal(err)
		}
		if r.pub.PacketID != want.pid || string(r.pub.Topic) != "a/b/2" || len(r.pub.Payload) != 24 ||
			binary.BigEndian.Uint64(r.pub.Payload[4:]) != want.seq {
			t.Errorf("message %d: id %d topic %q payload % x; want id %d, seq %d", i, r.pub.PacketID, r.pub.Topic, r.pub.Payload, want.pid, want.seq)
		}
	}
	if r.seen[2] != 0x10000 || r.got != 2 || r.hist.Count() != 2 || r.hist.Max() != 1000 {
		t.Errorf("seen %d, got %d, %d latencies, max %v", r.seen[2], r.got, r.hist.Count(), r.hist.Max())
	}
	if want := []byte{0x40, 2, 0, 1, 0x40, 2, 0, 2}; !bytes.Equal(r.acks, want) {
		t.Errorf("PUBACKs % x, want % x", r.acks, want)
	}
}

// TestHotPathAllocs checks that encoding a batch and handling a delivery
// do not allocate once buffers have grown.
func TestHotPathAllocs(t *testing.T) {
	f := &flow{cfg: Flow{Topic: "a/b", QoS: 1, PayloadSize: 32}}
	tm := f.template(0)
	buf := tm.appendBatch(nil, 0, 64, 0)
	if n := testing.AllocsPerRun(100, func() { buf = tm.appendBatch(buf[:0], 1000, 64, 1) }); n != 0 {
		t.Errorf("appendBatch: %v allocs per batch", n)
	}
	h, n, err := packet.ParseHeader(buf)
	if err != nil {
		t.Fatal(err)
	}
	body := buf[n : n+h.Remaining]
	r := &receiver{seen: make([]uint64, 1), hist: &Histogram{}, measured: true, acks: make([]byte, 0, 64)}
	if n := testing.AllocsPerRun(1000, func() {
		r.acks = r.acks[:0]
		if err := r.handle(h, body); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("receiver.handle: %v allocs per delivery", n)
	}
}

func BenchmarkAppendBatch(b *testing.B) {
	b.ReportAllocs()
	f := &flow{cfg: Flow{Topic: "bench/qos0-fanin", QoS: 0, PayloadSize: 32}}
	tm := f.template(3)
	buf := tm.appendBatch(nil, 0, 64, 0)
	var seq uint64
	for b.Loop() {
		buf = tm.appendBatch(buf[:0], seq, 64, 1)
		seq += 64
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkReceive(b *testing.B) {
	b.ReportAllocs()
	f := &flow{cfg: Flow{Topic: "bench/qos0-fanin", QoS: 0, PayloadSize: 32}}
	tm := f.template(0)
	buf := tm.appendBatch(nil, 0, 1, 0)
	h, n, _ := packet.ParseHeader(buf)
	body := buf[n:]
	r := &receiver{seen: make([]uint64, 1), hist: &Histogram{}, measured: true}
	for b.Loop() {
		r.handle(h, body)
	}
}
