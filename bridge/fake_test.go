package bridge

import (
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// fakeUpstream is a scripted MQTT 3.1.1 server, one connection at a time,
// for what a real broker cannot be made to do on cue: it records every
// PUBLISH (packet id, DUP flag, payload), acknowledges only when told, and
// can drop the connection after a number of publishes.
type fakeUpstream struct {
	t  testing.TB
	ln net.Listener

	mu        sync.Mutex
	pubs      []fakePub
	connects  []fakeConnect
	ack       bool        // acknowledge publishes as they come
	dropAfter int         // close a connection after this many publishes on it (0: never)
	dropped   []time.Time // when dropAfter closed a connection
	// dropOnPubrel closes the connection on a PUBREL, without PUBCOMP (the
	// exchange is complete here, and the sender does not know it), and
	// sets refuse.
	dropOnPubrel bool
	refuse       bool      // close new connections at once
	rels         []fakePub // PUBRELs received (conn and id)
	conn         net.Conn
	unacked      []packet.Publish // received and not acknowledged on the current connection
	done         chan struct{}
}

type fakePub struct {
	conn    int // 1 for the first connection
	id      uint16
	dup     bool
	qos     byte
	payload string
}

type fakeConnect struct {
	clean   bool
	version packet.Version
	at      time.Time
}

func newFakeUpstream(t testing.TB) *fakeUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeUpstream{t: t, ln: ln, done: make(chan struct{})}
	go f.serve()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		if f.conn != nil {
			f.conn.Close()
		}
		f.mu.Unlock()
		<-f.done
	})
	return f
}

func (f *fakeUpstream) addr() string { return f.ln.Addr().String() }

func (f *fakeUpstream) serve() {
	defer close(f.done)
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		refuse := f.refuse
		if !refuse {
			f.conn = nc
			f.unacked = nil
		}
		f.mu.Unlock()
		if refuse {
			nc.Close()
			continue
		}
		f.serveConn(nc)
		nc.Close()
	}
}

func (f *fakeUpstream) write(nc net.Conn, b []byte) {
	nc.Write(b)
}

func (f *fakeUpstream) serveConn(nc net.Conn) {
	rd := packet.NewReader(nc, 1<<20)
	n := 0 // publishes on this connection
	conn := 0
	for {
		h, body, err := rd.Next()
		if err != nil {
			return
		}
		switch h.Type {
		case packet.CONNECT:
			var c packet.Connect
			err := c.Decode(h, body)
			var pe *packet.Error
			if errors.As(err, &pe) && pe.Code == packet.UnsupportedProtocolVersion {
				ack := packet.Connack{Code: packet.V3UnacceptableVersion}
				f.write(nc, ack.Append(nil, packet.V311))
				return
			}
			if err != nil {
				return
			}
			f.mu.Lock()
			f.connects = append(f.connects, fakeConnect{clean: c.CleanStart, version: c.Version, at: time.Now()})
			conn = len(f.connects)
			f.mu.Unlock()
			ack := packet.Connack{SessionPresent: !c.CleanStart && conn > 1}
			f.write(nc, ack.Append(nil, packet.V311))
		case packet.PUBLISH:
			var p packet.Publish
			if err := p.Decode(h, body, packet.V311); err != nil {
				return
			}
			n++
			f.mu.Lock()
			f.pubs = append(f.pubs, fakePub{conn: conn, id: p.PacketID, dup: p.Dup, qos: p.QoS, payload: string(p.Payload)})
			ack, drop := f.ack, f.dropAfter > 0 && n >= f.dropAfter
			if !ack && p.QoS > 0 {
				f.unacked = append(f.unacked, packet.Publish{QoS: p.QoS, PacketID: p.PacketID})
			}
			f.mu.Unlock()
			if ack {
				f.write(nc, ackFor(p.QoS, p.PacketID))
			}
			if drop {
				f.mu.Lock()
				f.dropped = append(f.dropped, time.Now())
				f.mu.Unlock()
				return
			}
		case packet.PUBREL:
			var a packet.Ack
			if a.Decode(h, body, packet.V311) == nil {
				f.mu.Lock()
				f.rels = append(f.rels, fakePub{conn: conn, id: a.PacketID})
				drop := f.dropOnPubrel
				f.refuse = f.refuse || drop
				f.mu.Unlock()
				if drop {
					return
				}
				a = packet.Ack{Type: packet.PUBCOMP, PacketID: a.PacketID}
				f.write(nc, a.Append(nil, packet.V311))
			}
		case packet.SUBSCRIBE:
			var s packet.Subscribe
			if s.Decode(h, body, packet.V311) != nil {
				return
			}
			sa := packet.Suback{PacketID: s.PacketID}
			for _, sub := range s.Subs {
				sa.Codes = append(sa.Codes, packet.ReasonCode(sub.QoS))
			}
			f.write(nc, sa.Append(nil, packet.V311))
		case packet.PINGREQ:
			f.write(nc, packet.AppendPingresp(nil))
		case packet.DISCONNECT:
			return
		}
	}
}

// ackFor returns the PUBACK or PUBREC of a publish.
func ackFor(qos byte, id uint16) []byte {
	switch qos {
	case 1:
		a := packet.Ack{Type: packet.PUBACK, PacketID: id}
		return a.Append(nil, packet.V311)
	case 2:
		a := packet.Ack{Type: packet.PUBREC, PacketID: id}
		return a.Append(nil, packet.V311)
	}
	return nil
}

// setAck makes the server acknowledge from now on, and acknowledges what
// it held back on the current connection.
func (f *fakeUpstream) setAck(ack bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ack = ack
	if !ack || f.conn == nil {
		return
	}
	for _, p := range f.unacked {
		f.write(f.conn, ackFor(p.QoS, p.PacketID))
	}
	f.unacked = nil
}

func (f *fakeUpstream) setDropAfter(n int) {
	f.mu.Lock()
	f.dropAfter = n
	f.mu.Unlock()
}

// received returns the publishes received so far.
func (f *fakeUpstream) received() []fakePub {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.pubs)
}

// waitPubs waits until n publishes have been received.
func (f *fakeUpstream) waitPubs(t testing.TB, n int) []fakePub {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := f.received()
		if len(p) >= n {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fake upstream received %d publishes, want %d", len(p), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
