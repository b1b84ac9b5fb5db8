package gateway

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgemq/edgemq/transport/mqttsn"
)

// link is how a client is reached: an address on a UDP socket, a node on
// a serial line.
type link interface {
	// send sends one encoded MQTT-SN packet; pkt is valid only during the
	// call. It does not block for long: serial links queue.
	send(pkt []byte) error
	// maxPacket is the longest MQTT-SN packet the link carries.
	maxPacket() int
	// remote names the client's address for logs and the broker.
	remote() net.Addr
}

// clientKey identifies a client on its transport: a UDP source address,
// plus the Wireless Node Id when a forwarder encapsulates it; on a serial
// line, the node id alone.
type clientKey struct {
	ap   netip.AddrPort
	node string
}

// slots bounds the clients of one or more tables.
type slots struct {
	n   atomic.Int64
	max int64
}

func (s *slots) take() bool {
	if s.n.Add(1) > s.max {
		s.n.Add(-1)
		return false
	}
	return true
}

func (s *slots) release() { s.n.Add(-1) }

// table holds the clients of one transport (a UDP socket, a serial line)
// by key. Its dispatch methods run on the transport's reader goroutine;
// clients remove themselves when they end.
type table struct {
	g        *Gateway
	name     string // "udp:127.0.0.1:1884", in logs and stats
	kind     string // "udp", "raw", "rs485", "xbee"
	listener string // the listener name the broker sees: "mqttsn-" + name
	cnt      *counters
	slots    *slots
	search   func(l link) // answers SEARCHGW; nil: no answer

	// Reader goroutine only.
	dec     mqttsn.Decoder
	obuf    []byte
	lastLog time.Time

	mu      sync.Mutex
	clients map[clientKey]*client
}

func newTable(g *Gateway, name, kind string, s *slots) *table {
	return &table{g: g, name: name, kind: kind, listener: "mqttsn-" + name, cnt: &counters{}, slots: s,
		clients: make(map[clientKey]*client)}
}

func (t *table) get(k clientKey) *client {
	t.mu.Lock()
	c := t.clients[k]
	t.mu.Unlock()
	return c
}

// deliver hands pkt to the client at k and reports whether there is one.
func (t *table) deliver(k clientKey, pkt []byte) bool {
	c := t.get(k)
	if c == nil {
		return false
	}
	if !c.push(pkt) {
		t.congested(c.link, pkt)
	}
	return true
}

// congested answers a packet that its client's loop had no room for.
func (t *table) congested(l link, pkt []byte) {
	t.cnt.congestion.Add(1)
	m, err := t.dec.Decode(pkt)
	if err != nil {
		return
	}
	switch m := m.(type) {
	case *mqttsn.Publish:
		if m.QoS == mqttsn.QoS1 || m.QoS == mqttsn.QoS2 {
			t.reply(l, &mqttsn.PubAck{TopicID: m.TopicID, MsgID: m.MsgID, ReturnCode: mqttsn.Congestion})
		}
	case *mqttsn.Register:
		t.reply(l, &mqttsn.RegAck{MsgID: m.MsgID, ReturnCode: mqttsn.Congestion})
	case *mqttsn.Subscribe:
		t.reply(l, &mqttsn.SubAck{MsgID: m.MsgID, ReturnCode: mqttsn.Congestion})
	}
}

// unknown handles a packet from an address or node that has no client.
func (t *table) unknown(k clientKey, pkt []byte, l link) {
	m, err := t.dec.Decode(pkt)
	if err != nil {
		t.cnt.malformed.Add(1)
		return
	}
	switch m := m.(type) {
	case *mqttsn.Connect:
		t.newClient(k, pkt, l)
	case *mqttsn.SearchGW:
		t.searchGW(l)
	case *mqttsn.Publish:
		if m.QoS != mqttsn.QoSMinus1 {
			t.cnt.unknownClient.Add(1)
			t.reply(l, &mqttsn.Disconnect{})
			return
		}
		t.g.publishMinus1(t, m)
	case *mqttsn.Advertise, *mqttsn.GwInfo, *mqttsn.Disconnect:
		// not for us, or nothing to end
	default:
		// The client thinks it is connected (the gateway restarted, or
		// it was declared lost): DISCONNECT tells it to connect again.
		t.cnt.unknownClient.Add(1)
		t.reply(l, &mqttsn.Disconnect{})
	}
}

func (t *table) newClient(k clientKey, pkt []byte, l link) {
	if !t.slots.take() {
		t.cnt.tableFull.Add(1)
		if now := time.Now(); now.Sub(t.lastLog) > 10*time.Second {
			t.lastLog = now
			t.g.log.Warn("mqttsn gateway: client table full, CONNECT refused with congestion",
				"transport", t.name, "max_clients", t.slots.max, "refused_so_far", t.cnt.tableFull.Load())
		}
		t.reply(l, &mqttsn.ConnAck{ReturnCode: mqttsn.Congestion})
		return
	}
	c := newClient(t, k, l)
	if !t.g.startClient() {
		t.slots.release()
		return
	}
	t.mu.Lock()
	t.clients[k] = c
	t.mu.Unlock()
	bp := t.g.getBuf()
	*bp = append((*bp)[:0], pkt...)
	go c.run(bp)
}

// remove forgets c, which has ended, and frees its slot.
func (t *table) remove(k clientKey, c *client) {
	t.mu.Lock()
	mine := t.clients[k] == c
	if mine {
		delete(t.clients, k)
	}
	t.mu.Unlock()
	if mine {
		t.slots.release()
	}
}

// stopClient asks the client at k, if any, to end for r.
func (t *table) stopClient(k clientKey, r endReason) {
	if c := t.get(k); c != nil {
		c.stop(r)
	}
}

func (t *table) searchGW(l link) {
	if t.search != nil {
		t.search(l)
	}
}

// reply sends a packet from the reader goroutine.
func (t *table) reply(l link, m mqttsn.Message) {
	b, err := m.Append(t.obuf[:0])
	if err != nil {
		return
	}
	t.obuf = b
	if l.send(b) == nil {
		t.cnt.packetsOut.Add(1)
	}
}

func (t *table) stats() TransportStats {
	st := t.cnt.snapshot(t.name, t.kind)
	t.mu.Lock()
	st.Clients = len(t.clients)
	for _, c := range t.clients {
		if s := clientState(c.st.Load()); s == stateAsleep || s == stateAwake {
			st.Asleep++
		}
	}
	t.mu.Unlock()
	return st
}
