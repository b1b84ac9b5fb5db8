package gateway_test

import (
	"io"
	"sync"
	"testing"
	"time"

	"github.com/edgemq/edgemq/transport/mqttsn/gateway"
	"github.com/edgemq/edgemq/transport/serial"
)

// busSim plays the nodes of an RS-485 bus on the far end of a pty: each
// answers the gateway's polls to its address with one queued packet or an
// empty frame, as the rs485 framing says.
type busSim struct {
	t     *testing.T
	rw    io.ReadWriteCloser
	mu    sync.Mutex
	nodes map[uint16]*simNode
	log   []busEvent // every gateway frame and every reply, in time order
}

type simNode struct {
	id      []byte
	out     [][]byte    // packets to answer polls with, oldest first
	in      chan []byte // packets the gateway sent to the node
	silent  bool        // does not answer polls
	delay   time.Duration
	corrupt bool // precede the next reply with line noise and a bad-CRC copy
}

type busEvent struct {
	at    time.Time
	addr  uint16
	reply bool // written by the simulator, not read from the gateway
}

func newBusSim(t *testing.T, rw io.ReadWriteCloser, addrs ...uint16) *busSim {
	s := &busSim{t: t, rw: rw, nodes: make(map[uint16]*simNode)}
	for _, a := range addrs {
		id := []byte{byte(a)}
		if a > 0xFF {
			id = []byte{byte(a >> 8), byte(a)}
		}
		s.nodes[a] = &simNode{id: id, in: make(chan []byte, 64)}
	}
	// The reader timestamps frames as they arrive, so that a frame sent
	// while a node is still "thinking" shows in the log at its time.
	frames := make(chan serial.RS485Frame, 64)
	go func() {
		defer close(frames)
		rd := serial.NewRS485Reader(rw, 0)
		for {
			f, err := rd.ReadFrame()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.log = append(s.log, busEvent{at: time.Now(), addr: f.Addr()})
			s.mu.Unlock()
			f.NodeID = append([]byte(nil), f.NodeID...)
			f.Packet = append([]byte(nil), f.Packet...)
			frames <- f
		}
	}()
	go func() {
		for f := range frames {
			s.answer(f)
		}
	}()
	return s
}

func (s *busSim) answer(f serial.RS485Frame) {
	s.mu.Lock()
	n := s.nodes[f.Addr()]
	if n == nil {
		s.mu.Unlock()
		return
	}
	if len(f.Packet) > 0 {
		n.in <- f.Packet
	}
	if n.silent {
		s.mu.Unlock()
		return
	}
	var pkt []byte
	if len(n.out) > 0 {
		pkt, n.out = n.out[0], n.out[1:]
	}
	delay, corrupt := n.delay, n.corrupt && pkt != nil
	if corrupt {
		n.corrupt = false
	}
	s.mu.Unlock()
	time.Sleep(delay)
	var b []byte
	if corrupt {
		b = append(b, h("55 AA 00 FF 13 37 55 AA 00 FF 13 37 55 AA 00 FF 13 37 55 AA")...) // 20 octets of noise
		bad, _ := serial.AppendRS485(nil, n.id, 0, pkt)
		bad[len(bad)-2] ^= 0x5A // a bit error in the CRC
		b = append(b, bad...)
	}
	b, _ = serial.AppendRS485(b, n.id, 0, pkt)
	s.mu.Lock()
	s.log = append(s.log, busEvent{at: time.Now(), addr: f.Addr(), reply: true})
	s.mu.Unlock()
	if _, err := s.rw.Write(b); err != nil {
		return
	}
}

func (s *busSim) send(addr uint16, pkt []byte) {
	s.mu.Lock()
	s.nodes[addr].out = append(s.nodes[addr].out, pkt)
	s.mu.Unlock()
}

func (s *busSim) set(addr uint16, f func(n *simNode)) {
	s.mu.Lock()
	f(s.nodes[addr])
	s.mu.Unlock()
}

// expect waits for the gateway to send pkt to the node at addr.
func (s *busSim) expect(addr uint16, pkt []byte) {
	s.t.Helper()
	select {
	case got := <-s.nodes[addr].in:
		if string(got) != string(pkt) {
			s.t.Fatalf("node %d got % X, want % X", addr, got, pkt)
		}
	case <-time.After(5 * time.Second):
		s.t.Fatalf("node %d: timed out waiting for % X", addr, pkt)
	}
}

func (s *busSim) events() []busEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]busEvent(nil), s.log...)
}

func TestSerialRS485ThreeNodes(t *testing.T) {
	line := newPTYLine(t)
	// Generous windows: other processes may share the two cores.
	const replyTimeout = 150 * time.Millisecond
	cfg := gateway.SerialConfig{Device: line.gw, Baud: 9600, Framing: gateway.FramingRS485,
		RS485: gateway.RS485Config{Nodes: []uint16{1, 2, 3}, PollInterval: 30 * time.Millisecond,
			ReplyTimeout: replyTimeout, LostAfter: 4}}
	e := newSerialEnv(t, gateway.Options{}, cfg)
	sub := e.subscribe(e.mqttClient("watcher"), "#", 1)
	bus := newBusSim(t, line.openNode(), 1, 2, 3)
	bus.set(2, func(n *simNode) { n.delay = replyTimeout / 3 }) // a slow node

	// Every node connects and publishes; its packets ride in its answers
	// to polls, the gateway's in its polls.
	bus.send(1, h("0C 04 04 01 00 3C 'node-1'"))
	bus.expect(1, h("03 05 00"))
	bus.send(2, h("0C 04 04 01 00 3C 'node-2'"))
	bus.expect(2, h("03 05 00"))
	// Node 3 has a will.
	bus.send(3, h("0C 04 0C 01 00 3C 'node-3'"))
	bus.expect(3, h("02 06"))
	bus.send(3, h("0B 07 20 'bus/will'"))
	bus.expect(3, h("02 08"))
	bus.send(3, h("06 09 'gone'"))
	bus.expect(3, h("03 05 00"))

	// Node 1's PUBLISH comes after a burst of line noise and a copy of
	// itself with a bad CRC: both are dropped, the good frame is read.
	bus.set(1, func(n *simNode) { n.corrupt = true })
	bus.send(1, h("08 0C 22 'b1' 00 01 'x'"))
	bus.expect(1, h("07 0D 'b1' 00 01 00"))
	expect(t, sub, received{"b1", "x", 1, false})
	bus.send(2, h("08 0C 22 'b2' 00 01 'y'"))
	bus.expect(2, h("07 0D 'b2' 00 01 00"))
	expect(t, sub, received{"b2", "y", 1, false})
	bus.send(3, h("08 0C 22 'b3' 00 01 'z'"))
	bus.expect(3, h("07 0D 'b3' 00 01 00"))
	expect(t, sub, received{"b3", "z", 1, false})
	st := e.serial()
	if st.BadFrames != 1 || st.SkippedBytes < 20 || st.Clients != 3 || st.Lost != 0 || st.LineControl != "none" {
		t.Errorf("stats %+v", st)
	}

	// Node 3 stops answering: after 4 unanswered polls it is lost and its
	// will is published.
	bus.set(3, func(n *simNode) { n.silent = true })
	expect(t, sub, received{"bus/will", "gone", 1, false})
	waitFor(t, 2*time.Second, "node 3 gone from the table", func() bool { return e.serial().Clients == 2 })
	if st := e.serial(); st.PollsUnanswered < 4 || st.Lost != 1 {
		t.Errorf("stats %+v", st)
	}
	checkBusTiming(t, bus.events(), replyTimeout, 9600)
}

// checkBusTiming checks the master's manners in the simulator's log: no
// gateway frame while a polled node is still answering, none sooner than
// the reply timeout after a poll that got no answer, and at least 3.5
// character times after a node's answer.
func checkBusTiming(t *testing.T, ev []busEvent, replyTimeout time.Duration, baud int) {
	t.Helper()
	gap := time.Duration(35) * time.Second / time.Duration(baud*10)
	checked := 0
	for i := 0; i+1 < len(ev); i++ {
		cur, next := ev[i], ev[i+1]
		switch {
		case !cur.reply && next.reply:
			// a poll, then its answer: nothing in between by construction
		case !cur.reply && !next.reply:
			// a poll with no answer: the next poll waited the reply timeout
			// (less a little for the frame's own transmission estimate)
			if d := next.at.Sub(cur.at); d < replyTimeout-15*time.Millisecond {
				t.Errorf("poll of node %d after %v of silence from node %d, want >= %v", next.addr, d, cur.addr, replyTimeout)
			}
			checked++
		case cur.reply && !next.reply:
			if d := next.at.Sub(cur.at); d < gap {
				t.Errorf("frame %v after node %d's answer, want >= %v (3.5 characters)", d, cur.addr, gap)
			}
			checked++
		}
		if !cur.reply && next.reply && cur.addr != next.addr {
			t.Errorf("node %d answered a poll of node %d", next.addr, cur.addr)
		}
	}
	// A gateway frame between a slow node's poll and its answer shows as
	// poll(2), poll(x), reply(2): caught by the answered-other-node check.
	if checked < 10 {
		t.Errorf("only %d gaps checked in %d events", checked, len(ev))
	}
}

// TestSerialRS485DriverEnableFallback asks for RTS driver enable on a
// pseudo-terminal, which has neither the kernel's RS-485 mode nor modem
// lines: the gateway falls back (kernel -> RTS toggling -> none), says so
// in its stats, and the bus still works.
func TestSerialRS485DriverEnableFallback(t *testing.T) {
	line := newPTYLine(t)
	cfg := gateway.SerialConfig{Device: line.gw, Baud: 115200, Framing: gateway.FramingRS485,
		RS485: gateway.RS485Config{Nodes: []uint16{300}, PollInterval: 20 * time.Millisecond,
			ReplyTimeout: 100 * time.Millisecond, LostAfter: 100, // not about loss: generous on a busy machine
			RTSOnSend: true, DelayBeforeSend: time.Millisecond, DelayAfterSend: time.Millisecond}}
	e := newSerialEnv(t, gateway.Options{}, cfg)
	bus := newBusSim(t, line.openNode(), 300) // a 2-octet address
	bus.send(300, h("0C 04 04 01 00 3C 'node-x'"))
	bus.expect(300, h("03 05 00"))
	if st := e.serial(); st.LineControl != "none" {
		t.Errorf("line control %q, want none on a pty", st.LineControl)
	}
}
