package rig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// defaultVersion is the protocol of the rig's clients unless told
// otherwise: MQTT 3.1.1, which edgemq, mosquitto and the bridge all speak.
const defaultVersion = packet.V311

// ClientOptions are the CONNECT fields and handlers of a Client.
type ClientOptions struct {
	ID        string
	Clean     bool   // clean session
	KeepAlive uint16 // seconds; 0: none (the client pings at half of it otherwise)
	Will      *packet.Publish
	// OnPublish handles each PUBLISH, on the read goroutine; p is valid
	// during the call only. The client acknowledges it: QoS 1 after the
	// call, QoS 2 with PUBREC after the call and PUBCOMP on PUBREL.
	OnPublish func(p *packet.Publish)
	// OnAck handles PUBACK, PUBREC and PUBCOMP of the client's publishes,
	// on the read goroutine (the client answers PUBREC with PUBREL first).
	OnAck func(a *packet.Ack)
	// Received2 holds the packet ids of QoS 2 messages received and not
	// yet released; pass the same one to each connection of a persistent
	// session, so that a resent QoS 2 message is handled once. nil: the
	// client keeps its own.
	Received2 *Received2
	// Version is the protocol (0: MQTT 3.1.1).
	Version packet.Version
	// Connect, if set, edits the CONNECT before it is sent (MQTT 5
	// properties: session expiry, will delay).
	Connect func(*packet.Connect)
}

// Received2 is the QoS 2 receiver state of a session: packet ids whose
// PUBLISH was handled and whose PUBREL has not come yet [MQTT-4.3.3].
type Received2 struct {
	mu  sync.Mutex
	ids map[uint16]bool
}

// first records pid and reports whether it was not pending already.
func (r *Received2) first(pid uint16) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[uint16]bool{}
	}
	if r.ids[pid] {
		return false
	}
	r.ids[pid] = true
	return true
}

func (r *Received2) release(pid uint16) {
	r.mu.Lock()
	delete(r.ids, pid)
	r.mu.Unlock()
}

// Client is one MQTT 3.1.1 connection on edgemq's codec. Writes are safe
// from any goroutine; one goroutine reads and calls the handlers.
type Client struct {
	o  ClientOptions
	v  packet.Version
	nc net.Conn
	rd *packet.Reader

	wmu  sync.Mutex
	wbuf []byte

	subacks chan packet.Suback
	done    chan struct{}
	err     error // why the read loop ended, once done is closed
}

// ErrClosed is returned by a Client closed on purpose.
var ErrClosed = errors.New("client closed")

// Dial connects with dial, sends CONNECT and waits for CONNACK (10 s at
// most). It returns whether the broker had a session.
func Dial(dial func() (net.Conn, error), o ClientOptions) (*Client, bool, error) {
	nc, err := dial()
	if err != nil {
		return nil, false, err
	}
	if o.Version == 0 {
		o.Version = defaultVersion
	}
	c := &Client{o: o, v: o.Version, nc: nc, rd: packet.NewReaderSize(nc, 0, 16<<10),
		subacks: make(chan packet.Suback, 1), done: make(chan struct{})}
	cp := packet.Connect{ClientID: []byte(o.ID), CleanStart: o.Clean, KeepAlive: o.KeepAlive}
	if w := o.Will; w != nil {
		cp.WillFlag, cp.WillQoS, cp.WillRetain, cp.WillTopic, cp.WillPayload = true, w.QoS, w.Retain, w.Topic, w.Payload
	}
	if o.Connect != nil {
		o.Connect(&cp)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(cp.Append(nil, o.Version)); err != nil {
		nc.Close()
		return nil, false, fmt.Errorf("client %s: CONNECT: %w", o.ID, err)
	}
	h, body, err := c.rd.Next()
	if err != nil {
		nc.Close()
		return nil, false, fmt.Errorf("client %s: reading CONNACK: %w", o.ID, err)
	}
	var ack packet.Connack
	if h.Type != packet.CONNACK || ack.Decode(h, body, o.Version) != nil || ack.Code != 0 {
		nc.Close()
		return nil, false, fmt.Errorf("client %s: got %v (code %v), want an accepting CONNACK", o.ID, h.Type, ack.Code)
	}
	nc.SetDeadline(time.Time{})
	if c.o.Received2 == nil {
		c.o.Received2 = &Received2{}
	}
	go c.readLoop()
	if o.KeepAlive > 0 {
		go c.ping(time.Duration(o.KeepAlive) * time.Second / 2)
	}
	return c, ack.SessionPresent, nil
}

// TCP returns a dial function for addr.
func TCP(addr string) func() (net.Conn, error) {
	return func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 10*time.Second) }
}

// ID is the client id.
func (c *Client) ID() string { return c.o.ID }

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (nil while it runs).
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close closes the connection without DISCONNECT (the will is published).
func (c *Client) Close() error { return c.nc.Close() }

// Disconnect sends DISCONNECT and closes.
func (c *Client) Disconnect() error {
	var d packet.Disconnect
	err := c.send(d.Append(nil, c.v))
	return errors.Join(err, c.nc.Close())
}

// Subscribe subscribes to filter at qos and waits for the SUBACK.
func (c *Client) Subscribe(filter string, qos byte) error {
	s := packet.Subscribe{PacketID: 1, Subs: []packet.Subscription{{Filter: []byte(filter), QoS: qos}}}
	if err := c.send(s.Append(nil, c.v)); err != nil {
		return err
	}
	select {
	case a := <-c.subacks:
		if len(a.Codes) != 1 || byte(a.Codes[0]) > 2 {
			return fmt.Errorf("client %s: SUBACK for %q refused: %v", c.o.ID, filter, a.Codes)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("client %s: connection ended before SUBACK: %w", c.o.ID, c.err)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("client %s: no SUBACK for %q within 10s", c.o.ID, filter)
	}
}

// Publish sends one PUBLISH (packet id pid for QoS 1 and 2).
func (c *Client) Publish(topic string, payload []byte, qos byte, retain bool, pid uint16) error {
	p := packet.Publish{Topic: []byte(topic), QoS: qos, Retain: retain, PacketID: pid, Payload: payload}
	c.wmu.Lock()
	c.wbuf = p.Append(c.wbuf[:0], c.v)
	err := c.writeLocked(c.wbuf)
	c.wmu.Unlock()
	return err
}

// PublishPacket sends p as it is (MQTT 5 properties included).
func (c *Client) PublishPacket(p *packet.Publish) error {
	c.wmu.Lock()
	c.wbuf = p.Append(c.wbuf[:0], c.v)
	err := c.writeLocked(c.wbuf)
	c.wmu.Unlock()
	return err
}

func (c *Client) send(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(b)
}

func (c *Client) writeLocked(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

func (c *Client) ack(t packet.Type, pid uint16) error {
	a := packet.Ack{Type: t, PacketID: pid}
	var buf [4]byte
	return c.send(a.Append(buf[:0], c.v))
}

func (c *Client) ping(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if c.send([]byte{0xC0, 0}) != nil {
				return
			}
		}
	}
}

func (c *Client) readLoop() {
	err := c.readPackets()
	c.nc.Close()
	c.err = err
	close(c.done)
}

func (c *Client) readPackets() error {
	var p packet.Publish
	var a packet.Ack
	for {
		h, body, err := c.rd.Next()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return ErrClosed
			}
			return err
		}
		switch h.Type {
		case packet.PUBLISH:
			if err := p.Decode(h, body, c.v); err != nil {
				return err
			}
			if c.o.OnPublish != nil && (p.QoS < 2 || c.o.Received2.first(p.PacketID)) {
				c.o.OnPublish(&p)
			}
			switch p.QoS {
			case 1:
				err = c.ack(packet.PUBACK, p.PacketID)
			case 2:
				err = c.ack(packet.PUBREC, p.PacketID)
			}
		case packet.PUBREL:
			if err := a.Decode(h, body, c.v); err != nil {
				return err
			}
			c.o.Received2.release(a.PacketID)
			err = c.ack(packet.PUBCOMP, a.PacketID)
		case packet.PUBACK, packet.PUBREC, packet.PUBCOMP:
			if err := a.Decode(h, body, c.v); err != nil {
				return err
			}
			if h.Type == packet.PUBREC {
				err = c.ack(packet.PUBREL, a.PacketID)
			}
			if c.o.OnAck != nil {
				c.o.OnAck(&a)
			}
		case packet.SUBACK:
			var s packet.Suback
			if err := s.Decode(h, body, c.v); err != nil {
				return err
			}
			s.Codes = append([]packet.ReasonCode(nil), s.Codes...)
			select {
			case c.subacks <- s:
			default:
			}
		}
		if err != nil {
			return err
		}
	}
}

// Publisher publishes numbered messages ("<ID>/<seq>", then padding) at
// QoS 1 or 2 with a window of unacknowledged ones, and records which were
// acknowledged (PUBACK, or PUBCOMP for QoS 2). After a broken connection
// Run can go on over a new Client; what was in flight is then neither
// acknowledged nor resent (a clean session forgets it), so that Acked is
// exactly what the broker promised to keep.
type Publisher struct {
	ID     string
	Topic  string
	QoS    byte
	Retain bool
	Pad    int // bytes of payload after the number

	mu      sync.Mutex
	acked   SeqSet
	seq     uint64
	pending map[uint16]uint64 // packet id -> seq
	nextPID uint16
	room    chan struct{}
}

// OnAck is the Client's OnAck for this publisher.
func (p *Publisher) OnAck(a *packet.Ack) {
	if (p.QoS == 1 && a.Type != packet.PUBACK) || (p.QoS == 2 && a.Type != packet.PUBCOMP) {
		return
	}
	p.mu.Lock()
	if seq, ok := p.pending[a.PacketID]; ok {
		delete(p.pending, a.PacketID)
		p.acked.Add(seq)
	}
	p.mu.Unlock()
	select {
	case p.room <- struct{}{}:
	default:
	}
}

// Acked returns a copy of the acknowledged sequence numbers.
func (p *Publisher) Acked() *SeqSet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked.Clone()
}

// Sent returns the last sequence number sent.
func (p *Publisher) Sent() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// Payload returns the payload of message seq.
func (p *Publisher) Payload(seq uint64) []byte {
	b := fmt.Appendf(nil, "%s/%d", p.ID, seq)
	for range p.Pad {
		b = append(b, '.')
	}
	return b
}

// Run publishes over c until ctx ends, the connection breaks, or limit
// messages were sent (0: no limit), keeping at most window unacknowledged
// and at least every gap between two messages (0: as fast as the window
// allows). It returns nil when ctx ended or the limit was reached and every
// message is acknowledged or the connection is given up.
func (p *Publisher) Run(ctx context.Context, c *Client, window int, gap time.Duration, limit uint64) error {
	p.mu.Lock()
	p.pending = map[uint16]uint64{} // a new connection: the old flights are forgotten
	if p.room == nil {
		p.room = make(chan struct{}, 1)
	}
	p.mu.Unlock()
	var tick <-chan time.Time
	if gap > 0 {
		t := time.NewTicker(gap)
		defer t.Stop()
		tick = t.C
	}
	for {
		p.mu.Lock()
		full := len(p.pending) >= window
		done := limit > 0 && p.seq >= limit
		idle := len(p.pending) == 0
		p.mu.Unlock()
		if done && idle {
			return nil
		}
		if full || done {
			select {
			case <-p.room:
				continue
			case <-c.done:
				return c.err
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
				continue
			}
		}
		if tick != nil {
			select {
			case <-tick:
			case <-c.done:
				return c.err
			case <-ctx.Done():
				return nil
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		p.mu.Lock()
		p.seq++
		seq := p.seq
		var pid uint16
		if p.QoS > 0 {
			for {
				p.nextPID++
				if p.nextPID == 0 {
					p.nextPID = 1
				}
				if _, busy := p.pending[p.nextPID]; !busy {
					break
				}
			}
			pid = p.nextPID
			p.pending[pid] = seq
		} else {
			p.acked.Add(seq) // QoS 0: "acknowledged" means sent; loss is allowed
		}
		p.mu.Unlock()
		if err := c.Publish(p.Topic, p.Payload(seq), p.QoS, p.Retain, pid); err != nil {
			return err
		}
	}
}

// Wait waits until nothing is in flight, or d has passed; it reports
// whether everything sent was acknowledged.
func (p *Publisher) Wait(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		p.mu.Lock()
		n := len(p.pending)
		p.mu.Unlock()
		if n == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
