package gateway

import (
	"errors"
	"net"
	"sync"

	"github.com/edgemq/edgemq/broker/packet"
)

// Handler serves one MQTT connection: the broker's ServeConn. listener
// names the listener in the broker's logs, metrics and ACL hooks
// (ClientInfo.Listener).
type Handler func(nc net.Conn, listener string) error

// mqttVersion is what the gateway speaks to the broker: 3.1.1, whose clean
// session, keep alive 0 (no broker-side timeout: the gateway enforces the
// MQTT-SN keep alive) and session semantics match MQTT-SN's.
const mqttVersion = packet.V311

// pipeConn is the broker's end of a client's in-process pipe. It reports
// the MQTT-SN client's address as the remote address, for the broker's
// logs and ACL hooks.
type pipeConn struct {
	net.Conn
	remote net.Addr
}

// RemoteAddr returns the MQTT-SN client's address.
func (p pipeConn) RemoteAddr() net.Addr { return p.remote }

// mqttEvent is a control packet from the broker, in arrival order.
type mqttEvent struct {
	typ  packet.Type
	pid  uint16
	code packet.ReasonCode // CONNACK return code, SUBACK return code
}

// mqttConn is one MQTT connection to the broker over net.Pipe. Its reader
// goroutine never blocks on the client: it decodes every packet at once,
// queues PUBLISHes in the bounded outQueue (so the broker's writer for
// this connection is never held up by a slow or asleep MQTT-SN client) and
// control packets in ctrl, then wakes the client's loop. ctrl is bounded by
// the requests the loop sent, which it sends only as fast as it handles
// replies.
//
// Writes happen on the client's loop only. net.Pipe is synchronous, but
// the broker's reader always comes back to read: it waits only on its own
// writer, whose writes this reader always takes.
type mqttConn struct {
	nc   net.Conn // the gateway's end
	wbuf []byte
	cnt  *counters

	mu   sync.Mutex
	ctrl []mqttEvent
	q    outQueue
	err  error // why the reader ended; nil while it runs

	wake chan struct{} // cap 1: the client's loop has something to do
	done chan struct{} // closed when the reader ends
}

// errQueueOverflow ends a connection whose broker sent more control
// packets than the gateway asked for.
var errQueueOverflow = errors.New("mqttsn gateway: the broker sent control packets faster than they were handled")

// maxCtrlEvents bounds the control packets waiting for the loop.
const maxCtrlEvents = 4096

// dialBroker opens an MQTT connection to the broker through serve and
// starts its reader. It does not send CONNECT.
func dialBroker(serve Handler, listener string, remote net.Addr, wake chan struct{}, queueMax int, cnt *counters) (*mqttConn, error) {
	gwEnd, brokerEnd := net.Pipe()
	if err := serve(pipeConn{Conn: brokerEnd, remote: remote}, listener); err != nil {
		gwEnd.Close()
		brokerEnd.Close()
		return nil, err
	}
	m := &mqttConn{nc: gwEnd, cnt: cnt, wake: wake, done: make(chan struct{}), q: outQueue{max: queueMax}}
	go m.readLoop()
	return m, nil
}

func (m *mqttConn) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *mqttConn) readLoop() {
	defer close(m.done)
	rd := packet.NewReader(m.nc, 0)
	var (
		pub    packet.Publish
		ack    packet.Ack
		suback packet.Suback
		unsub  packet.Unsuback
		cack   packet.Connack
	)
	for {
		h, body, err := rd.Next()
		if err == nil {
			err = m.decode(h, body, &pub, &ack, &suback, &unsub, &cack)
		}
		if err != nil {
			m.mu.Lock()
			m.err = err
			m.mu.Unlock()
			m.signal()
			return
		}
	}
}

func (m *mqttConn) decode(h packet.Header, body []byte, pub *packet.Publish, ack *packet.Ack,
	suback *packet.Suback, unsub *packet.Unsuback, cack *packet.Connack) error {
	ev := mqttEvent{typ: h.Type}
	switch h.Type {
	case packet.PUBLISH:
		if err := pub.Decode(h, body, mqttVersion); err != nil {
			return err
		}
		d := delivery{qos: pub.QoS, retain: pub.Retain, dup: pub.Dup, pid: pub.PacketID, tlen: len(pub.Topic)}
		d.buf = make([]byte, 0, len(pub.Topic)+len(pub.Payload))
		d.buf = append(append(d.buf, pub.Topic...), pub.Payload...)
		m.mu.Lock()
		dropped := m.q.push(d)
		m.mu.Unlock()
		if dropped > 0 {
			m.cnt.queueFull.Add(uint64(dropped))
		}
		m.signal()
		return nil
	case packet.PUBACK, packet.PUBREC, packet.PUBREL, packet.PUBCOMP:
		if err := ack.Decode(h, body, mqttVersion); err != nil {
			return err
		}
		ev.pid = ack.PacketID
	case packet.SUBACK:
		if err := suback.Decode(h, body, mqttVersion); err != nil {
			return err
		}
		ev.pid = suback.PacketID
		if len(suback.Codes) > 0 {
			ev.code = suback.Codes[0]
		}
	case packet.UNSUBACK:
		if err := unsub.Decode(h, body, mqttVersion); err != nil {
			return err
		}
		ev.pid = unsub.PacketID
	case packet.CONNACK:
		if err := cack.Decode(h, body, mqttVersion); err != nil {
			return err
		}
		ev.code = cack.Code
	case packet.PINGRESP:
	default:
		return &packet.Error{Code: packet.ProtocolError, Packet: h.Type, Msg: h.Type.String() + " is not sent by servers"}
	}
	m.mu.Lock()
	if len(m.ctrl) >= maxCtrlEvents {
		m.mu.Unlock()
		return errQueueOverflow
	}
	m.ctrl = append(m.ctrl, ev)
	m.mu.Unlock()
	m.signal()
	return nil
}

// events moves the pending control packets into dst and returns them with
// the reader's error, if it has ended.
func (m *mqttConn) events(dst []mqttEvent) ([]mqttEvent, error) {
	m.mu.Lock()
	dst = append(dst[:0], m.ctrl...)
	m.ctrl = m.ctrl[:0]
	err := m.err
	m.mu.Unlock()
	return dst, err
}

// nextState says what next found.
type nextState uint8

const (
	nextReady nextState = iota // a delivery
	nextEmpty                  // nothing queued
	nextLater                  // control packets arrived first: handle them before any delivery
)

// next returns the oldest queued delivery without removing it. A SUBACK
// read before a retained PUBLISH must reach the client first, so next
// holds deliveries back while control packets wait (the loop has been
// woken for them).
func (m *mqttConn) next() (delivery, nextState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.ctrl) > 0 {
		return delivery{}, nextLater
	}
	if d := m.q.peek(); d != nil {
		return *d, nextReady
	}
	return delivery{}, nextEmpty
}

// take removes the oldest queued delivery.
func (m *mqttConn) take() (delivery, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.q.pop()
}

// putBack returns a delivery to the head of the queue.
func (m *mqttConn) putBack(d delivery) {
	m.mu.Lock()
	m.q.pushFront(d)
	m.mu.Unlock()
}

// close closes the gateway's end; the broker sees the connection end (with
// no DISCONNECT unless one was written) and the reader ends.
func (m *mqttConn) close() {
	m.nc.Close()
	<-m.done
}

func (m *mqttConn) send(b []byte) error {
	_, err := m.nc.Write(b)
	return err
}

func (m *mqttConn) connect(id string, clean bool) error {
	p := packet.Connect{ClientID: []byte(id), CleanStart: clean}
	m.wbuf = p.Append(m.wbuf[:0], mqttVersion)
	return m.send(m.wbuf)
}

func (m *mqttConn) publish(topic, payload []byte, qos byte, retain, dup bool, pid uint16) error {
	p := packet.Publish{Topic: topic, Payload: payload, QoS: qos, Retain: retain, Dup: dup && qos > 0}
	if qos > 0 {
		p.PacketID = pid
	}
	m.wbuf = p.Append(m.wbuf[:0], mqttVersion)
	return m.send(m.wbuf)
}

func (m *mqttConn) ack(t packet.Type, pid uint16) error {
	a := packet.Ack{Type: t, PacketID: pid}
	m.wbuf = a.Append(m.wbuf[:0], mqttVersion)
	return m.send(m.wbuf)
}

func (m *mqttConn) subscribe(pid uint16, filter []byte, qos byte) error {
	s := packet.Subscribe{PacketID: pid, Subs: []packet.Subscription{{Filter: filter, QoS: qos}}}
	m.wbuf = s.Append(m.wbuf[:0], mqttVersion)
	return m.send(m.wbuf)
}

func (m *mqttConn) unsubscribe(pid uint16, filter []byte) error {
	u := packet.Unsubscribe{PacketID: pid, Filters: [][]byte{filter}}
	m.wbuf = u.Append(m.wbuf[:0], mqttVersion)
	return m.send(m.wbuf)
}

func (m *mqttConn) disconnect() error {
	d := packet.Disconnect{}
	m.wbuf = d.Append(m.wbuf[:0], mqttVersion)
	return m.send(m.wbuf)
}
