package gateway

import (
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/transport/mqttsn"
)

// flightKind is what the gateway awaits from the client for the one
// message it has in flight to it. The gateway sends one QoS 1/2 PUBLISH,
// PUBREL or REGISTER at a time and waits for its answer, as MQTT-SN
// clients expect [6.13]; QoS 0 deliveries go out whenever nothing is in
// flight.
type flightKind uint8

const (
	flightNone      flightKind = iota
	flightRegister             // REGISTER sent; REGACK awaited, the delivery stays queued
	flightPublish              // PUBLISH QoS 1/2 sent; PUBACK or PUBREC awaited
	flightBrokerRel            // the client's PUBREC passed on; the broker's PUBREL awaited
	flightPubrel               // PUBREL sent; PUBCOMP awaited
)

type flight struct {
	kind    flightKind
	msgID   uint16
	topicID uint16
	tt      mqttsn.TopicIDType
	d       delivery // flightPublish and later: the message
	tries   int
	due     time.Time // next retransmission; zero: none
}

// brokerEvents handles what the MQTT reader queued.
func (c *client) brokerEvents() {
	if c.mq == nil {
		return
	}
	evs, err := c.mq.events(c.evs)
	c.evs = evs
	for _, ev := range evs {
		if c.ended {
			return
		}
		c.brokerEvent(ev)
	}
	if err != nil && !c.ended {
		c.log.Info("mqttsn gateway: the broker closed the client's connection", "err", err)
		c.end(endBroker)
	}
}

func (c *client) brokerEvent(ev mqttEvent) {
	switch ev.typ {
	case packet.CONNACK:
		c.onConnAck(ev.code)
	case packet.PUBACK:
		if topicID, ok := c.inPub[ev.pid]; ok {
			delete(c.inPub, ev.pid)
			c.send(&mqttsn.PubAck{TopicID: topicID, MsgID: ev.pid, ReturnCode: mqttsn.Accepted})
		}
	case packet.PUBREC:
		if _, ok := c.inPub[ev.pid]; ok {
			c.send(&mqttsn.PubRec{MsgID: ev.pid})
		}
	case packet.PUBCOMP:
		if _, ok := c.inPub[ev.pid]; ok {
			delete(c.inPub, ev.pid)
			c.send(&mqttsn.PubComp{MsgID: ev.pid})
		}
	case packet.PUBREL:
		if c.fl.kind == flightBrokerRel && c.fl.d.pid == ev.pid {
			c.fl.kind, c.fl.tries = flightPubrel, 0
			c.fl.due = time.Now().Add(c.g.opts.RetryInterval)
			c.send(&mqttsn.PubRel{MsgID: c.fl.msgID})
			return
		}
		// A QoS 2 delivery the gateway dropped or already completed.
		c.brokerAck(packet.PUBCOMP, ev.pid)
	case packet.SUBACK, packet.UNSUBACK:
		r, ok := c.subs[ev.pid]
		if !ok {
			return
		}
		delete(c.subs, ev.pid)
		if r.unsub {
			c.send(&mqttsn.UnsubAck{MsgID: r.msgID})
			return
		}
		if ev.code == packet.V3SubackFailure {
			// Refused by the broker (ACL): MQTT-SN has no "not
			// authorized", "not supported" is the nearest [5.3.10].
			c.t.cnt.rejected.Add(1)
			c.send(&mqttsn.SubAck{MsgID: r.msgID, ReturnCode: mqttsn.NotSupported})
			return
		}
		if r.tt == mqttsn.TopicNormal && r.topicID != 0 {
			c.reg.setKnown(r.topicID, true)
		}
		c.send(&mqttsn.SubAck{QoS: mqttsn.QoS(ev.code & 3), TopicID: r.topicID, MsgID: r.msgID, ReturnCode: mqttsn.Accepted})
	}
}

func (c *client) brokerAck(t packet.Type, pid uint16) {
	if c.mq == nil {
		return
	}
	if err := c.mq.ack(t, pid); err != nil {
		c.end(endBroker)
	}
}

// pump sends queued deliveries while the client is awake and nothing is
// in flight; an awake client that has been given everything gets its
// PINGRESP and goes back to sleep.
func (c *client) pump() {
	for c.mq != nil && (c.state == stateActive || c.state == stateAwake) && c.fl.kind == flightNone && !c.ended {
		d, st := c.mq.next()
		if st == nextLater {
			return
		}
		if st == nextEmpty {
			if c.state == stateAwake {
				c.send(&mqttsn.PingResp{})
				c.setState(stateAsleep)
				c.lastHeard = time.Now()
			}
			return
		}
		if (&mqttsn.Publish{Data: d.payload()}).Size() > c.link.maxPacket() ||
			(&mqttsn.Register{TopicName: d.topic()}).Size() > c.link.maxPacket() {
			c.mq.take()
			c.t.cnt.tooLarge.Add(1)
			c.dropDelivery(d)
			continue
		}
		tt, id, register, ok := c.topicFor(d.topic())
		if !ok {
			c.mq.take()
			c.t.cnt.congestion.Add(1)
			c.dropDelivery(d)
			continue
		}
		if register {
			c.regMsgID++
			if c.regMsgID == 0 {
				c.regMsgID = 1
			}
			c.fl = flight{kind: flightRegister, msgID: c.regMsgID, topicID: id, due: time.Now().Add(c.g.opts.RetryInterval)}
			c.send(&mqttsn.Register{TopicID: id, MsgID: c.regMsgID, TopicName: d.topic()})
			return
		}
		c.mq.take()
		c.sendPublish(d, tt, id, false)
		c.t.cnt.msgsOut.Add(1)
		if d.qos > 0 {
			c.fl = flight{kind: flightPublish, msgID: d.pid, topicID: id, tt: tt, d: d, due: time.Now().Add(c.g.opts.RetryInterval)}
			return
		}
	}
}

func (c *client) sendPublish(d delivery, tt mqttsn.TopicIDType, id uint16, dup bool) {
	var msgID uint16
	if d.qos > 0 {
		msgID = d.pid
	}
	c.send(&mqttsn.Publish{Dup: dup || d.dup, QoS: mqttsn.QoS(d.qos), Retain: d.retain, TopicIDType: tt,
		TopicID: id, MsgID: msgID, Data: d.payload()})
}

// topicFor chooses how a delivery names its topic to the client: a
// predefined id, a normal id the client knows, a short name, or a normal
// id to REGISTER first. ok is false when the client's table is full.
func (c *client) topicFor(topic []byte) (tt mqttsn.TopicIDType, id uint16, register, ok bool) {
	if id, ok := c.g.pre.ids[string(topic)]; ok {
		return mqttsn.TopicPredefined, id, false, true
	}
	if id, ok := c.reg.id(topic); ok && c.reg.isKnown(id) {
		return mqttsn.TopicNormal, id, false, true
	}
	if len(topic) == 2 {
		return mqttsn.TopicShort, uint16(topic[0])<<8 | uint16(topic[1]), false, true
	}
	id, ok = c.reg.assign(topic)
	return mqttsn.TopicNormal, id, true, ok
}

// dropDelivery acknowledges a delivery the client will not get, so that
// the broker does not keep it in flight: PUBACK for QoS 1, PUBREC for QoS
// 2 (its PUBREL is then answered at once).
func (c *client) dropDelivery(d delivery) {
	switch d.qos {
	case 1:
		c.brokerAck(packet.PUBACK, d.pid)
	case 2:
		c.brokerAck(packet.PUBREC, d.pid)
	}
}

// retransmit resends the message in flight with DUP set, or declares the
// client lost after Nretry tries [6.13].
func (c *client) retransmit(now time.Time) {
	c.fl.tries++
	if c.fl.tries > c.g.opts.RetryCount {
		c.end(endRetries)
		return
	}
	c.fl.due = now.Add(c.g.opts.RetryInterval)
	switch c.fl.kind {
	case flightRegister:
		name, _ := c.reg.name(c.fl.topicID)
		c.send(&mqttsn.Register{TopicID: c.fl.topicID, MsgID: c.fl.msgID, TopicName: name})
	case flightPublish:
		c.sendPublish(c.fl.d, c.fl.tt, c.fl.topicID, true)
	case flightPubrel:
		c.send(&mqttsn.PubRel{MsgID: c.fl.msgID})
	}
}

func (c *client) onRegAck(m *mqttsn.RegAck) {
	if c.fl.kind != flightRegister || m.MsgID != c.fl.msgID {
		return
	}
	id := c.fl.topicID
	c.fl = flight{}
	if m.ReturnCode == mqttsn.Accepted {
		c.reg.setKnown(id, true)
		return
	}
	// The client refused the topic: drop the delivery that needed it.
	name, _ := c.reg.name(id)
	if d, st := c.mq.next(); st == nextReady && string(d.topic()) == string(name) {
		c.mq.take()
		c.t.cnt.rejected.Add(1)
		c.dropDelivery(d)
	}
}

func (c *client) onPubAck(m *mqttsn.PubAck) {
	if c.fl.kind != flightPublish || m.MsgID != c.fl.msgID {
		return
	}
	fl := c.fl
	if m.ReturnCode == mqttsn.Accepted {
		if fl.d.qos != 1 {
			return // "accepted" answers a QoS 1 PUBLISH only; QoS 2 wants PUBREC
		}
		c.fl = flight{}
		c.brokerAck(packet.PUBACK, fl.d.pid)
		return
	}
	c.fl = flight{}
	if m.ReturnCode == mqttsn.InvalidTopicID && fl.tt == mqttsn.TopicNormal && !fl.d.reregistered {
		// The client lost the id (restarted?): REGISTER it again and
		// resend once [6.7].
		c.reg.setKnown(fl.topicID, false)
		fl.d.reregistered = true
		c.mq.putBack(fl.d)
		return
	}
	c.t.cnt.rejected.Add(1)
	c.dropDelivery(fl.d)
}

func (c *client) onPubRec(m *mqttsn.PubRec) {
	switch {
	case c.fl.kind == flightPublish && c.fl.d.qos == 2 && m.MsgID == c.fl.msgID:
		c.fl.kind, c.fl.due = flightBrokerRel, time.Time{}
		c.brokerAck(packet.PUBREC, c.fl.d.pid)
	case c.fl.kind == flightPubrel && m.MsgID == c.fl.msgID:
		c.send(&mqttsn.PubRel{MsgID: c.fl.msgID}) // our PUBREL was lost
	}
}

func (c *client) onPubComp(m *mqttsn.PubComp) {
	if c.fl.kind != flightPubrel || m.MsgID != c.fl.msgID {
		return
	}
	pid := c.fl.d.pid
	c.fl = flight{}
	c.brokerAck(packet.PUBCOMP, pid)
}
