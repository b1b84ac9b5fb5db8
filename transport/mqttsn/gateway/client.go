package gateway

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/transport/mqttsn"
)

// clientState is where a client is in its life [MQTT-SN 6.14].
type clientState uint32

const (
	stateNew        clientState = iota // CONNECT received
	stateWillTopic                     // WILLTOPICREQ sent
	stateWillMsg                       // WILLMSGREQ sent
	stateConnecting                    // CONNECT sent to the broker, CONNACK awaited
	stateActive
	stateAsleep // DISCONNECT with a duration: deliveries are buffered
	stateAwake  // PINGREQ while asleep: buffered deliveries go out, then PINGRESP
	stateGone
)

// endReason is why a client ends.
type endReason uint8

const (
	endDisconnect     endReason = iota + 1 // DISCONNECT from the client: no will
	endLost                                // keep-alive (or sleep) timer expired
	endRetries                             // no answer after Nretry retransmissions
	endPolls                               // an RS-485 node stopped answering polls
	endTakenOver                           // the same ClientId connected again elsewhere
	endRefused                             // the broker refused the CONNECT
	endConnectTimeout                      // the CONNECT exchange did not complete in time
	endBroker                              // the broker closed the connection
	endShutdown                            // the gateway is closing
)

var endNames = [...]string{endDisconnect: "disconnect", endLost: "keep-alive expired", endRetries: "no answer to retransmissions",
	endPolls: "node stopped answering polls", endTakenOver: "client id connected elsewhere", endRefused: "broker refused the connection",
	endConnectTimeout: "connect not completed in time", endBroker: "broker closed the connection", endShutdown: "gateway closing"}

func (r endReason) String() string { return endNames[r] }

// lost reports whether the client disappeared without DISCONNECT, which
// publishes its will.
func (r endReason) lost() bool {
	return r == endLost || r == endRetries || r == endPolls || r == endTakenOver
}

// will is the client's will, held by the gateway: MQTT cannot change a
// will on an open connection, and MQTT-SN can (WILLTOPICUPD, WILLMSGUPD).
// When the gateway declares the client lost, it publishes the will on the
// client's own MQTT connection (so the broker's ACLs and retained rules
// apply as to any publish of that client), waits for the broker's
// acknowledgement for QoS 1/2, then closes the connection.
type will struct {
	topic  []byte // nil: no will
	msg    []byte
	qos    byte
	retain bool
}

// subReq is a SUBSCRIBE or UNSUBSCRIBE passed to the broker.
type subReq struct {
	msgID   uint16
	topicID uint16
	tt      mqttsn.TopicIDType
	unsub   bool
}

// client is one MQTT-SN client: an address on a UDP socket or a node on a
// serial line. One goroutine (run) owns all its state; the transport hands
// it packets through in, the MQTT reader wakes it through wake.
type client struct {
	g    *Gateway
	t    *table
	key  clientKey
	link link
	log  *slog.Logger

	in   chan *[]byte
	kill chan endReason
	wake chan struct{}
	done chan struct{}
	st   atomic.Uint32 // clientState, for Stats

	// Loop state.
	dec       mqttsn.Decoder
	obuf      []byte
	evs       []mqttEvent
	state     clientState
	id        string
	clean     bool
	keepAlive time.Duration // 1.5 x CONNECT Duration
	sleepFor  time.Duration // 1.5 x DISCONNECT Duration
	lastHeard time.Time
	connectBy time.Time
	resuming  bool // the will exchange belongs to a CONNECT that resumes a connection
	sinceAck  int  // packets since CONNACK: 0 means a CONNECT repeats the one acknowledged
	will      will
	reg       registry
	mq        *mqttConn
	inPub     map[uint16]uint16 // client PUBLISH QoS 1/2 awaiting the broker: MsgId -> TopicId
	subs      map[uint16]subReq // by MQTT packet id
	nextPID   uint16
	fl        flight
	regMsgID  uint16
	short     [2]byte
	timer     *time.Timer
	armed     time.Time
	ended     bool
}

// maxInbound bounds a client's QoS 1/2 PUBLISHes awaiting the broker;
// beyond it they are refused with "rejected: congestion".
const maxInbound = 32

// willAckTimeout bounds the wait for the broker to acknowledge a QoS 1/2
// will before the connection closes.
const willAckTimeout = 2 * time.Second

// takeoverWait bounds how long a CONNECT waits for the client it takes an
// id over from to publish its will and end.
const takeoverWait = 5 * time.Second

func newClient(t *table, key clientKey, l link) *client {
	c := &client{
		g: t.g, t: t, key: key, link: l,
		in:   make(chan *[]byte, inQueue),
		kill: make(chan endReason, 1),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	c.reg.max = t.g.opts.MaxTopics
	c.log = t.g.log.With("transport", t.name, "remote", l.remote().String())
	return c
}

// inQueue is the number of packets a client's loop may be behind its
// transport; more are refused with "rejected: congestion".
const inQueue = 64

// push hands a packet to the client's loop without blocking. It reports
// false when the loop is too far behind.
func (c *client) push(pkt []byte) bool {
	bp := c.g.getBuf()
	*bp = append((*bp)[:0], pkt...)
	select {
	case c.in <- bp:
		return true
	default:
		c.g.putBuf(bp)
		return false
	}
}

// stop asks the client to end for r, without blocking.
func (c *client) stop(r endReason) {
	select {
	case c.kill <- r:
	default:
	}
}

// run is the client's loop. first is the CONNECT that created it.
func (c *client) run(first *[]byte) {
	defer c.g.clients.Done()
	defer close(c.done)
	c.timer = time.NewTimer(time.Hour)
	c.timer.Stop()
	defer c.timer.Stop()
	now := time.Now()
	c.lastHeard = now
	c.connectBy = now.Add(c.g.opts.ConnectTimeout)
	c.input(first)
	for !c.ended {
		c.pump()
		if c.ended {
			break
		}
		c.arm()
		select {
		case b := <-c.in:
			c.input(b)
		case <-c.wake:
			c.brokerEvents()
		case <-c.timer.C:
			c.armed = time.Time{}
			c.tick(time.Now())
		case r := <-c.kill:
			c.killed(r)
		case <-c.g.quit:
			c.end(endShutdown)
		}
	}
}

func (c *client) input(b *[]byte) {
	c.lastHeard = time.Now()
	c.handle(*b)
	c.g.putBuf(b)
}

func (c *client) setState(s clientState) {
	c.state = s
	c.st.Store(uint32(s))
}

func (c *client) connected() bool {
	return c.state == stateActive || c.state == stateAsleep || c.state == stateAwake
}

// killed handles a stop request from outside the loop.
func (c *client) killed(r endReason) {
	if r == endPolls && (c.state == stateAsleep || !c.connected()) {
		return // an asleep node does not answer polls; its sleep timer decides
	}
	c.end(r)
}

// deadline returns when the loop must next look at its timers.
func (c *client) deadline() time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	switch c.state {
	case stateActive:
		if c.keepAlive > 0 {
			earliest(c.lastHeard.Add(c.keepAlive))
		}
		earliest(c.fl.due)
	case stateAwake:
		earliest(c.lastHeard.Add(c.sleepFor))
		earliest(c.fl.due)
	case stateAsleep:
		earliest(c.lastHeard.Add(c.sleepFor))
	default:
		earliest(c.connectBy)
	}
	return next
}

// arm makes the timer fire by the next deadline. Keep-alive deadlines only
// move later, so a timer that fires early is simply re-armed by tick.
func (c *client) arm() {
	next := c.deadline()
	if next.IsZero() || (!c.armed.IsZero() && !next.Before(c.armed)) {
		return
	}
	c.timer.Reset(time.Until(next))
	c.armed = next
}

func (c *client) tick(now time.Time) {
	switch c.state {
	case stateActive:
		if c.keepAlive > 0 && !now.Before(c.lastHeard.Add(c.keepAlive)) {
			c.end(endLost)
			return
		}
	case stateAsleep, stateAwake:
		if !now.Before(c.lastHeard.Add(c.sleepFor)) {
			c.end(endLost)
			return
		}
	default:
		if !now.Before(c.connectBy) {
			c.end(endConnectTimeout)
			return
		}
	}
	if (c.state == stateActive || c.state == stateAwake) && !c.fl.due.IsZero() && !now.Before(c.fl.due) {
		c.retransmit(now)
	}
}

// send encodes m and sends it over the client's link.
func (c *client) send(m mqttsn.Message) {
	b, err := m.Append(c.obuf[:0])
	if err != nil {
		c.log.Error("mqttsn gateway: encoding "+m.Type().String(), "err", err)
		return
	}
	c.obuf = b
	if err := c.link.send(b); err != nil {
		c.log.Debug("mqttsn gateway: send failed", "type", m.Type().String(), "err", err)
		return
	}
	c.t.cnt.packetsOut.Add(1)
}

// end ends the client for r: the will is published when r says it was
// lost, the MQTT connection closes (with DISCONNECT when the client asked
// for it), and the client leaves its table.
func (c *client) end(r endReason) {
	if c.ended {
		return
	}
	c.ended = true
	// Out of the table first: a packet from the same address from now on
	// finds no client (and a CONNECT makes a new one).
	c.t.remove(c.key, c)
	wasConnected := c.connected()
	switch {
	case r.lost():
		c.t.cnt.lost.Add(1)
		c.publishWill()
		if r == endTakenOver && wasConnected {
			c.send(&mqttsn.Disconnect{})
		}
	case r == endDisconnect:
		c.send(&mqttsn.Disconnect{})
		if c.mq != nil {
			_ = c.mq.disconnect()
		}
	case r == endShutdown:
		if wasConnected {
			c.send(&mqttsn.Disconnect{})
		}
		if c.mq != nil {
			_ = c.mq.disconnect()
		}
	case r == endBroker:
		if wasConnected {
			c.send(&mqttsn.Disconnect{})
		}
	}
	if c.mq != nil {
		c.mq.close()
		c.mq = nil
	}
	c.setState(stateGone)
	if c.id != "" {
		c.g.release(c.id, c)
	}
	level := slog.LevelInfo
	if r == endShutdown || r == endDisconnect {
		level = slog.LevelDebug
	}
	c.log.Log(context.Background(), level, "mqttsn client ended", "reason", r.String())
}

// publishWill publishes the will on the client's MQTT connection, if it
// has one, and for QoS 1/2 waits a little for the broker's answer, so that
// the broker has routed it before the connection closes.
func (c *client) publishWill() {
	w := c.will
	if w.topic == nil || c.mq == nil || !c.connected() {
		return
	}
	pid := uint16(0)
	if w.qos > 0 {
		pid = c.freePID()
	}
	if err := c.mq.publish(w.topic, w.msg, w.qos, w.retain, false, pid); err != nil {
		c.log.Warn("mqttsn gateway: will not published: the broker connection is gone", "err", err)
		return
	}
	c.t.cnt.msgsIn.Add(1)
	c.log.Info("mqttsn client lost: will published", "topic", string(w.topic))
	if w.qos == 0 {
		return
	}
	want := packet.PUBACK
	if w.qos == 2 {
		want = packet.PUBREC
	}
	t := time.NewTimer(willAckTimeout)
	defer t.Stop()
	for {
		select {
		case <-c.wake:
			evs, err := c.mq.events(c.evs)
			c.evs = evs
			for _, ev := range evs {
				if ev.typ == want && ev.pid == pid {
					return
				}
			}
			if err != nil {
				return
			}
		case <-t.C:
			c.log.Warn("mqttsn gateway: the broker did not acknowledge the will in time")
			return
		}
	}
}

// freePID returns a packet id that no PUBLISH from the client is using.
func (c *client) freePID() uint16 {
	for id := uint16(0xFFFF); id > 0; id-- {
		if _, busy := c.inPub[id]; !busy {
			return id
		}
	}
	return 1
}

// resetSession forgets what belonged to the client's previous MQTT
// connection.
func (c *client) resetSession() {
	c.reg.reset()
	c.inPub, c.subs, c.fl = nil, nil, flight{}
}
