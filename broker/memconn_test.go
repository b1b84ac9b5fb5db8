package broker_test

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
)

// TestIdleConnectionMemory reports the Go memory (heap and stacks) one idle
// connection costs the broker: connected, one subscription, silent. It
// measures with EDGEMQ_IDLE_CONNS connections (default 500) and fails above
// 12 KiB: the figure includes the test's own client sockets and log buffer
// (about 1 KiB), and the allocator's size classes move it by a few hundred
// bytes; about 8 KiB is measured. EDGEMQ_HEAP_PROFILE=file writes a heap
// profile with the connections open.
func TestIdleConnectionMemory(t *testing.T) {
	n := 500
	if v, err := strconv.Atoi(os.Getenv("EDGEMQ_IDLE_CONNS")); err == nil {
		n = v
	}
	if os.Getenv("EDGEMQ_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	tb := startBroker(t, broker.Options{Limits: broker.Limits{MaxConnections: n + 10}})
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var heap, stack uint64
	mem := func() uint64 {
		for range 4 { // stacks shrink by half at most once per cycle
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap, stack = ms.HeapInuse-heap, ms.StackInuse-stack
		return ms.HeapInuse + ms.StackInuse
	}
	// Client side buffers are in this process too: measure them alone.
	before := mem()
	for i := range n {
		nc, err := net.Dial("tcp", tb.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
		p := packet.Connect{ClientID: []byte(fmt.Sprint("idle", i)), CleanStart: true, KeepAlive: 600}
		b := p.Append(nil, packet.V311)
		if i%2 == 0 {
			// Half subscribe; half only connect, the case where the
			// read loop must still move off the stack CONNECT grew.
			s := packet.Subscribe{PacketID: 1, Subs: []packet.Subscription{{Filter: []byte(fmt.Sprintf("idle/%d/#", i)), QoS: 1}}}
			b = s.Append(b, packet.V311)
		}
		nc.Write(b)
	}
	var buf [64]byte
	for _, nc := range conns {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Read(buf[:]); err != nil { // CONNACK (+ SUBACK)
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "all connected", func() bool { return tb.srv.Stats().Subscriptions == n/2 })
	time.Sleep(200 * time.Millisecond)
	after := mem()
	if path := os.Getenv("EDGEMQ_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	per := float64(after-before) / float64(n)
	t.Logf("%d idle connections: %.0f bytes of heap+stack each (broker and test client sockets together): heap %d, stack %d",
		n, per, heap/uint64(n), stack/uint64(n))
	if per > 12<<10 {
		t.Fatalf("idle connection costs %.1f KiB, more than 12 KiB", per/1024)
	}
}
