package gateway

import (
	"bytes"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/transport/mqttsn"
)

// handle handles one packet from the client.
func (c *client) handle(b []byte) {
	m, err := c.dec.Decode(b)
	if err != nil {
		c.t.cnt.malformed.Add(1)
		c.log.Debug("mqttsn gateway: malformed packet", "err", err)
		return
	}
	if c.state == stateActive {
		c.sinceAck++
	}
	switch m := m.(type) {
	case *mqttsn.Connect:
		c.onConnect(m)
	case *mqttsn.WillTopic:
		c.onWillTopic(m)
	case *mqttsn.WillMsg:
		c.onWillMsg(m)
	case *mqttsn.Disconnect:
		c.onDisconnect(m)
	case *mqttsn.PingReq:
		c.onPingReq()
	case *mqttsn.SearchGW:
		c.t.searchGW(c.link)
	case *mqttsn.Advertise, *mqttsn.GwInfo:
		// another gateway's announcements
	default:
		if !c.connected() {
			c.t.cnt.unknownClient.Add(1)
			return
		}
		c.handleConnected(m)
	}
}

func (c *client) handleConnected(m mqttsn.Message) {
	switch m := m.(type) {
	case *mqttsn.Register:
		c.onRegister(m)
	case *mqttsn.RegAck:
		c.onRegAck(m)
	case *mqttsn.Publish:
		c.onPublish(m)
	case *mqttsn.PubAck:
		c.onPubAck(m)
	case *mqttsn.PubRec:
		c.onPubRec(m)
	case *mqttsn.PubRel:
		c.onPubRel(m)
	case *mqttsn.PubComp:
		c.onPubComp(m)
	case *mqttsn.Subscribe:
		c.onSubscribe(m)
	case *mqttsn.Unsubscribe:
		c.onUnsubscribe(m)
	case *mqttsn.WillTopicUpd:
		c.onWillTopicUpd(m)
	case *mqttsn.WillMsgUpd:
		c.will.msg = append([]byte{}, m.WillMsg...)
		c.send(&mqttsn.WillMsgResp{ReturnCode: mqttsn.Accepted})
	default:
		c.t.cnt.notSupported.Add(1)
		c.log.Debug("mqttsn gateway: unexpected message", "type", m.Type().String())
	}
}

// keepAliveOf turns a CONNECT Duration into the keep-alive timeout: 1.5
// times the duration, as MQTT does, with 0 or a duration above
// MaxKeepAlive taken as MaxKeepAlive, so that no client entry can live for
// ever without a word.
func (c *client) keepAliveOf(d uint16) time.Duration {
	k := time.Duration(d) * time.Second
	if k == 0 || k > c.g.opts.MaxKeepAlive {
		k = c.g.opts.MaxKeepAlive
	}
	return k * 3 / 2
}

func (c *client) onConnect(m *mqttsn.Connect) {
	id := string(m.ClientID)
	switch {
	case c.state == stateActive && c.sinceAck <= 1 && id == c.id && m.CleanSession == c.clean && !m.Will:
		// The same CONNECT again: our CONNACK was lost [6.13].
		c.send(&mqttsn.ConnAck{ReturnCode: mqttsn.Accepted})
		return
	case c.state == stateConnecting && id == c.id:
		return // the broker has not answered yet
	case c.connected() && id == c.id && !m.CleanSession:
		// Back from sleep, or a restart that keeps its session: the MQTT
		// connection and its subscriptions stay; topic ids the client
		// knew are forgotten, so that each is REGISTERed again.
		c.resuming = true
		c.keepAlive = c.keepAliveOf(m.Duration)
		c.reg.forgetKnown()
		if c.fl.kind == flightPublish || c.fl.kind == flightRegister {
			if c.fl.kind == flightPublish {
				c.mq.putBack(c.fl.d)
			}
			c.fl = flight{}
		}
		c.startWill(m.Will)
		return
	}
	if c.mq != nil {
		// A new session on the same address: the old one ends cleanly.
		_ = c.mq.disconnect()
		c.mq.close()
		c.mq = nil
	}
	if c.id != "" && c.id != id {
		c.g.release(c.id, c)
	}
	c.resetSession()
	c.resuming = false
	c.id, c.clean = id, m.CleanSession
	c.keepAlive = c.keepAliveOf(m.Duration)
	c.log = c.t.g.log.With("transport", c.t.name, "remote", c.link.remote().String(), "client", id)
	c.connectBy = time.Now().Add(c.g.opts.ConnectTimeout)
	c.setState(stateNew)
	c.startWill(m.Will)
}

// startWill begins the will exchange [6.3] when the CONNECT has the Will
// flag, or finishes the connection.
func (c *client) startWill(flag bool) {
	if !flag {
		c.finishConnect()
		return
	}
	c.will = will{}
	c.connectBy = time.Now().Add(c.g.opts.ConnectTimeout)
	c.setState(stateWillTopic)
	c.send(&mqttsn.WillTopicReq{})
}

func (c *client) onWillTopic(m *mqttsn.WillTopic) {
	if c.state != stateWillTopic {
		return
	}
	if len(m.WillTopic) == 0 {
		c.will = will{} // an empty WILLTOPIC: no will
		c.finishConnect()
		return
	}
	if packet.ValidTopicName(m.WillTopic) != nil {
		c.t.cnt.invalidTopic.Add(1)
		c.send(&mqttsn.ConnAck{ReturnCode: mqttsn.NotSupported})
		c.end(endRefused)
		return
	}
	c.will = will{topic: append([]byte{}, m.WillTopic...), qos: byte(m.QoS), retain: m.Retain}
	c.setState(stateWillMsg)
	c.send(&mqttsn.WillMsgReq{})
}

func (c *client) onWillMsg(m *mqttsn.WillMsg) {
	if c.state != stateWillMsg {
		return
	}
	c.will.msg = append([]byte{}, m.WillMsg...)
	c.finishConnect()
}

// finishConnect connects to the broker, or, for a CONNECT that resumes an
// open connection, answers CONNACK at once.
func (c *client) finishConnect() {
	if c.resuming {
		c.resuming = false
		c.setState(stateActive)
		c.sinceAck = 0
		c.send(&mqttsn.ConnAck{ReturnCode: mqttsn.Accepted})
		return
	}
	if old := c.g.claim(c.id, c); old != nil {
		// [MQTT-3.1.4-2] The other connection with this ClientId ends,
		// and its will is published, before this one connects.
		old.stop(endTakenOver)
		select {
		case <-old.done:
		case <-time.After(takeoverWait):
			c.log.Warn("mqttsn gateway: the client this id was taken over from did not end in time")
		}
	}
	mq, err := dialBroker(c.g.opts.Serve, c.t.listener, c.link.remote(), c.wake, c.g.opts.SleepQueue, c.t.cnt)
	if err != nil {
		c.log.Warn("mqttsn gateway: cannot reach the broker", "err", err)
		c.send(&mqttsn.ConnAck{ReturnCode: mqttsn.Congestion})
		c.end(endRefused)
		return
	}
	c.mq = mq
	if err := mq.connect(c.id, c.clean); err != nil {
		c.send(&mqttsn.ConnAck{ReturnCode: mqttsn.Congestion})
		c.end(endRefused)
		return
	}
	c.setState(stateConnecting)
}

// onConnAck handles the broker's CONNACK.
func (c *client) onConnAck(code packet.ReasonCode) {
	if c.state != stateConnecting {
		return
	}
	if code != packet.V3Accepted {
		rc := mqttsn.NotSupported
		if code == packet.V3ServerUnavailable {
			rc = mqttsn.Congestion // max_connections reached, or shutting down
		}
		c.t.cnt.rejected.Add(1)
		c.log.Info("mqttsn gateway: the broker refused the client", "code", uint8(code))
		c.send(&mqttsn.ConnAck{ReturnCode: rc})
		c.end(endRefused)
		return
	}
	c.setState(stateActive)
	c.sinceAck = 0
	c.t.cnt.connects.Add(1)
	c.send(&mqttsn.ConnAck{ReturnCode: mqttsn.Accepted})
	c.log.Debug("mqttsn client connected", "clean_session", c.clean, "keepalive", c.keepAlive*2/3)
}

func (c *client) onDisconnect(m *mqttsn.Disconnect) {
	if m.HasDuration && m.Duration > 0 && c.connected() {
		// Sleep [6.14]: deliveries are buffered until the client wakes.
		c.sleepFor = time.Duration(m.Duration) * time.Second * 3 / 2
		c.setState(stateAsleep)
		c.send(&mqttsn.Disconnect{})
		return
	}
	c.end(endDisconnect) // answers DISCONNECT once out of the table
}

func (c *client) onPingReq() {
	switch c.state {
	case stateActive:
		c.send(&mqttsn.PingResp{})
	case stateAsleep:
		// Wake-up: pump sends what was buffered, then PINGRESP [6.14].
		c.setState(stateAwake)
		if c.fl.kind != flightNone && c.fl.kind != flightBrokerRel {
			c.fl.due = time.Now()
		}
	}
}

func (c *client) onRegister(m *mqttsn.Register) {
	if packet.ValidTopicName(m.TopicName) != nil {
		c.t.cnt.invalidTopic.Add(1)
		c.send(&mqttsn.RegAck{MsgID: m.MsgID, ReturnCode: mqttsn.InvalidTopicID})
		return
	}
	id, ok := c.reg.assign(m.TopicName)
	if !ok {
		c.t.cnt.congestion.Add(1)
		c.send(&mqttsn.RegAck{MsgID: m.MsgID, ReturnCode: mqttsn.Congestion})
		return
	}
	c.reg.setKnown(id, true)
	c.send(&mqttsn.RegAck{TopicID: id, MsgID: m.MsgID, ReturnCode: mqttsn.Accepted})
}

func (c *client) onPublish(m *mqttsn.Publish) {
	qos := m.QoS
	if qos == mqttsn.QoSMinus1 {
		qos = mqttsn.QoS0 // a connected client's QoS -1 goes out on its connection
	}
	name, ok := c.g.pre.topicName(m.TopicIDType, m.TopicID, &c.reg, &c.short)
	if !ok {
		c.t.cnt.invalidTopic.Add(1)
		c.send(&mqttsn.PubAck{TopicID: m.TopicID, MsgID: m.MsgID, ReturnCode: mqttsn.InvalidTopicID})
		return
	}
	if qos > 0 {
		if m.MsgID == 0 {
			c.t.cnt.notSupported.Add(1)
			c.send(&mqttsn.PubAck{TopicID: m.TopicID, ReturnCode: mqttsn.NotSupported})
			return
		}
		if _, again := c.inPub[m.MsgID]; !again && len(c.inPub) >= maxInbound {
			c.t.cnt.congestion.Add(1)
			c.send(&mqttsn.PubAck{TopicID: m.TopicID, MsgID: m.MsgID, ReturnCode: mqttsn.Congestion})
			return
		}
	}
	if err := c.mq.publish(name, m.Data, byte(qos), m.Retain, m.Dup, m.MsgID); err != nil {
		c.end(endBroker)
		return
	}
	c.t.cnt.msgsIn.Add(1)
	if qos > 0 {
		if c.inPub == nil {
			c.inPub = make(map[uint16]uint16)
		}
		c.inPub[m.MsgID] = m.TopicID
	}
}

// onPubRel: the client releases its QoS 2 PUBLISH.
func (c *client) onPubRel(m *mqttsn.PubRel) {
	if _, ok := c.inPub[m.MsgID]; !ok {
		c.send(&mqttsn.PubComp{MsgID: m.MsgID}) // already completed: PUBCOMP was lost
		return
	}
	if err := c.mq.ack(packet.PUBREL, m.MsgID); err != nil {
		c.end(endBroker)
	}
}

func (c *client) onSubscribe(m *mqttsn.Subscribe) {
	var filter []byte
	topicID := m.TopicID
	switch m.TopicIDType {
	case mqttsn.TopicNormal:
		filter = m.TopicName
		if packet.ValidFilter(filter) != nil {
			c.refuseSub(m, mqttsn.InvalidTopicID)
			return
		}
		topicID = 0
		if !bytes.ContainsAny(filter, "+#") {
			id, ok := c.reg.assign(filter)
			if !ok {
				c.t.cnt.congestion.Add(1)
				c.send(&mqttsn.SubAck{MsgID: m.MsgID, ReturnCode: mqttsn.Congestion})
				return
			}
			topicID = id
		}
	case mqttsn.TopicPredefined:
		name, ok := c.g.pre.names[m.TopicID]
		if !ok {
			c.refuseSub(m, mqttsn.InvalidTopicID)
			return
		}
		filter = name
	case mqttsn.TopicShort:
		s := shortName(m.TopicID)
		filter = s[:]
		if packet.ValidFilter(filter) != nil {
			c.refuseSub(m, mqttsn.InvalidTopicID)
			return
		}
	}
	pid := c.newSubReq(subReq{msgID: m.MsgID, topicID: topicID, tt: m.TopicIDType})
	if err := c.mq.subscribe(pid, filter, byte(m.QoS)); err != nil {
		c.end(endBroker)
	}
}

func (c *client) refuseSub(m *mqttsn.Subscribe, rc mqttsn.ReturnCode) {
	c.t.cnt.invalidTopic.Add(1)
	c.send(&mqttsn.SubAck{TopicID: m.TopicID, MsgID: m.MsgID, ReturnCode: rc})
}

func (c *client) onUnsubscribe(m *mqttsn.Unsubscribe) {
	var filter []byte
	switch m.TopicIDType {
	case mqttsn.TopicNormal:
		filter = m.TopicName
	case mqttsn.TopicPredefined:
		filter = c.g.pre.names[m.TopicID]
	case mqttsn.TopicShort:
		s := shortName(m.TopicID)
		filter = s[:]
	}
	if filter == nil || packet.ValidFilter(filter) != nil {
		// Nothing can be subscribed under that name: done [5.4.18].
		c.t.cnt.invalidTopic.Add(1)
		c.send(&mqttsn.UnsubAck{MsgID: m.MsgID})
		return
	}
	pid := c.newSubReq(subReq{msgID: m.MsgID, unsub: true})
	if err := c.mq.unsubscribe(pid, filter); err != nil {
		c.end(endBroker)
	}
}

// newSubReq records a SUBSCRIBE or UNSUBSCRIBE and returns the MQTT packet
// id it goes out with: the gateway's own, since MQTT forbids 0 and the
// client's MsgIds may collide with its PUBLISHes in flight.
func (c *client) newSubReq(r subReq) uint16 {
	if c.subs == nil {
		c.subs = make(map[uint16]subReq)
	}
	for {
		c.nextPID++
		if c.nextPID == 0 {
			continue
		}
		if _, busy := c.subs[c.nextPID]; !busy {
			break
		}
	}
	c.subs[c.nextPID] = r
	return c.nextPID
}

func (c *client) onWillTopicUpd(m *mqttsn.WillTopicUpd) {
	switch {
	case len(m.WillTopic) == 0:
		c.will = will{} // deletes topic and message [5.4.22]
	case packet.ValidTopicName(m.WillTopic) != nil:
		c.t.cnt.invalidTopic.Add(1)
		c.send(&mqttsn.WillTopicResp{ReturnCode: mqttsn.NotSupported})
		return
	default:
		c.will.topic = append([]byte{}, m.WillTopic...)
		c.will.qos, c.will.retain = byte(m.QoS), m.Retain
	}
	c.send(&mqttsn.WillTopicResp{ReturnCode: mqttsn.Accepted})
}
