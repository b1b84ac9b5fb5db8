package broker

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

var sysPrefix = []byte("$SYS/")

// handlePublish handles a PUBLISH from the client: it resolves the topic
// alias, checks limits and the ACL, routes the message and acknowledges it
// once whatever must persist is durable.
func (c *conn) handlePublish(h packet.Header, body []byte) error {
	p := c.pub
	if p == nil {
		p = new(packet.Publish)
		c.pub = p
	}
	if err := p.Decode(h, body, c.version); err != nil {
		return err
	}
	c.stats.countIn(p.QoS, len(p.Payload))
	s := c.srv
	sess := c.sess

	topic, err := c.resolveAlias(p)
	if err != nil {
		return err
	}
	if c.version == packet.V5 && p.Props.Has(packet.PropSubscriptionID) {
		// [MQTT-3.3.4-6]
		return &packet.Error{Code: packet.ProtocolError, Packet: packet.PUBLISH, Field: "properties",
			Msg: "subscription identifier in a PUBLISH from a client"}
	}

	if p.QoS > 0 && c.version == packet.V5 {
		// Inbound flow control [MQTT-3.3.4-7]: count what we have not yet
		// acknowledged (QoS 1 waiting for a commit, QoS 2 waiting for PUBREL).
		sess.mu.Lock()
		n := len(sess.inQoS2)
		sess.mu.Unlock()
		if n+int(c.inQoS1Pending.Load()) >= s.limits.ReceiveMaximum && !(p.QoS == 2 && c.hasInQoS2(p.PacketID)) {
			return &packet.Error{Code: packet.ReceiveMaximumExceeded, Packet: packet.PUBLISH,
				Msg: "more unacknowledged QoS 1/2 publishes than the receive maximum"}
		}
	}

	if p.QoS == 2 {
		// A retransmitted QoS 2 PUBLISH whose PUBREC was sent is not routed
		// again [MQTT-4.3.3-10].
		sess.mu.Lock()
		dup := sess.hasInQoS2(p.PacketID)
		if !dup {
			sess.inQoS2 = append(sess.inQoS2, p.PacketID)
		}
		sess.mu.Unlock()
		if dup {
			pid := p.PacketID
			return c.appendCtrl(func(dst []byte) []byte {
				a := packet.Ack{Type: packet.PUBREC, PacketID: pid}
				return a.Append(dst, c.version)
			})
		}
	}

	allowed := !bytes.HasPrefix(topic, sysPrefix) &&
		(s.opts.ACL == nil || s.opts.ACL.CanPublish(&c.info, topic))
	code := packet.Success
	if allowed && p.QoS > 0 {
		if err := s.storeFullFor(topic, p.QoS, p.Retain && len(p.Payload) > 0, &c.match); err != nil {
			// Refused before routing, so that nobody receives a message
			// its publisher is told was not accepted.
			s.stats.refusedStoreFull.Add(1)
			c.logError("could not store a message; not acknowledging it", "packet_id", p.PacketID, "topic", string(topic), "err", err)
			if c.version != packet.V5 {
				return errClose // 3.1.1 has no way to say it: the connection closes
			}
			if p.QoS == 2 {
				sess.mu.Lock()
				sess.removeInQoS2(p.PacketID)
				sess.mu.Unlock()
			}
			return c.acknowledge(p.QoS, p.PacketID, packet.QuotaExceeded)
		}
	}
	if !allowed {
		s.stats.droppedNotAllowed.Add(1)
		c.logWarn("publish refused by the ACL", "topic", string(topic))
		code = packet.NotAuthorized
		if p.QoS == 2 && c.version == packet.V5 {
			// A PUBREC with an error ends the exchange: no PUBREL follows.
			sess.mu.Lock()
			sess.removeInQoS2(p.PacketID)
			sess.mu.Unlock()
		}
	} else {
		m := s.msgs.get()
		m.Hold()
		m.fill(p, topic)
		m.from = sess.uid
		n, retained := 0, false
		if p.Retain {
			n, retained = s.retainAndRoute(m, &c.match, &c.batch)
		}
		switch {
		case p.Retain && !retained && c.version == packet.V5 && p.QoS > 0:
			// retained_max is reached: a v5 publisher is told 0x97 and
			// the message is not routed (an error code means "not
			// accepted"). 3.1.1 and QoS 0 publishers cannot be told:
			// their message is routed without being retained.
			code = packet.QuotaExceeded
			if p.QoS == 2 {
				sess.mu.Lock()
				sess.removeInQoS2(p.PacketID)
				sess.mu.Unlock()
			}
		case !retained:
			n = s.route(m, &c.match, &c.batch)
		}
		if n == 0 && code == packet.Success && c.version == packet.V5 {
			code = packet.NoMatchingSubscribers
		}
		m.Release()
	}
	return c.acknowledge(p.QoS, p.PacketID, code)
}

// storeFullFor returns why a QoS 1/2 message to topic cannot be accepted
// now, or nil: the store is full (storage.Store.Full) and the message
// would have to be kept, for a persistent session subscribed with QoS 1
// or 2 or, when retain is set, as the topic's retained message. ms is
// scratch space for the match.
//
// Checking before routing keeps a refused message from reaching anybody
// (routing queues it in memory before the commit that would fail). An
// in-process subscriber (a bridge) is not counted: it withdraws what it
// queued when the commit fails (storage.Batch.OnDone), and refusing every
// message a broad bridge filter matches would refuse traffic the bridge
// does not forward. The store can also become full between this check and
// the commit; the commit then fails and the publisher is refused all the
// same (acknowledge).
func (s *Server) storeFullFor(topic []byte, qos byte, retain bool, ms *matches) error {
	if s.store == nil || !s.store.Refusing() {
		return nil
	}
	full := s.store.Full()
	if full == nil {
		return nil
	}
	if retain {
		return full
	}
	ms.reset()
	s.trie.match(topic, ms)
	for _, sub := range ms.subs {
		if sub == nil || sub.handler != nil || min(qos, sub.qos) == 0 {
			continue
		}
		sub.sess.mu.Lock()
		persistent := sub.sess.persistent
		sub.sess.mu.Unlock()
		if persistent {
			return full
		}
	}
	return nil
}

// resolveAlias returns the topic of p, applying and recording v5 topic
// aliases [MQTT-3.3.2-7..12].
func (c *conn) resolveAlias(p *packet.Publish) ([]byte, error) {
	if !p.Props.Has(packet.PropTopicAlias) {
		if len(p.Topic) == 0 {
			return nil, &packet.Error{Code: packet.ProtocolError, Packet: packet.PUBLISH, Field: "topic", Msg: "empty topic without a topic alias"}
		}
		return p.Topic, nil
	}
	a := int(p.Props.TopicAlias)
	if a == 0 || a > len(c.aliasIn) {
		return nil, &packet.Error{Code: packet.TopicAliasInvalid, Packet: packet.PUBLISH, Field: "topic alias",
			Msg: "topic alias out of range (topic_alias_maximum " + strconv.Itoa(len(c.aliasIn)) + ")"}
	}
	if len(p.Topic) > 0 {
		c.aliasIn[a-1] = append(c.aliasIn[a-1][:0], p.Topic...)
		return p.Topic, nil
	}
	if len(c.aliasIn[a-1]) == 0 {
		return nil, &packet.Error{Code: packet.ProtocolError, Packet: packet.PUBLISH, Field: "topic alias", Msg: "topic alias " + strconv.Itoa(a) + " was never set"}
	}
	return c.aliasIn[a-1], nil
}

// acknowledge sends PUBACK (QoS 1) or PUBREC (QoS 2) once the batch the
// publish produced is durable; for QoS 0 it just commits the batch.
func (c *conn) acknowledge(qos byte, pid uint16, code packet.ReasonCode) error {
	st := c.srv.store
	if qos == 0 {
		if st != nil && c.batch.Len() > 0 {
			ops := c.batch
			c.batch = storage.Batch{}
			st.Commit(&ops, func(err error) {
				if err != nil {
					c.logWarn("could not store a QoS 0 message (it was delivered to connected clients)", "err", err)
				}
			})
		}
		return nil
	}
	typ := packet.PUBACK
	if qos == 2 {
		typ = packet.PUBREC
	}
	v := c.version
	if st == nil || c.batch.Len() == 0 {
		return c.appendCtrl(func(dst []byte) []byte {
			a := packet.Ack{Type: typ, PacketID: pid, Code: code}
			return a.Append(dst, v)
		})
	}
	if qos == 1 {
		c.inQoS1Pending.Add(1)
	}
	return c.sendAfterCommit(&c.batch, func(dst []byte, err error) []byte {
		if qos == 1 {
			c.inQoS1Pending.Add(-1)
		}
		if err != nil {
			// Never acknowledge a message that was not stored.
			rc := packet.ImplementationSpecific
			if errors.Is(err, storage.ErrFull) {
				rc = packet.QuotaExceeded
			}
			c.logError("could not store a message; not acknowledging it", "packet_id", pid, "err", err)
			if v != packet.V5 {
				return nil // 3.1.1 has no way to say it: the connection closes
			}
			a := packet.Ack{Type: typ, PacketID: pid, Code: rc}
			return a.Append(dst, v)
		}
		a := packet.Ack{Type: typ, PacketID: pid, Code: code}
		return a.Append(dst, v)
	})
}

func (c *conn) hasInQoS2(pid uint16) bool {
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	return c.sess.hasInQoS2(pid)
}

// route delivers m to every matching subscription and returns how many
// sessions it was queued for. Writes for persistent sessions go into b.
// One delivery per session: overlapping subscriptions of one client give
// the highest QoS and all their subscription identifiers.
func (s *Server) route(m *Message, ms *matches, b *storage.Batch) int {
	ms.reset()
	s.trie.match(m.Topic, ms)
	return s.deliver(m, ms, b)
}

// retainAndRoute records m as retained and routes it. Storing it and
// matching its subscribers happen under the trie's read lock, and a
// SUBSCRIBE adds its subscription and takes its retained snapshot under the
// write lock (see subscribe), so a subscriber gets a retained message
// published meanwhile once: live or retained, never both nor neither. It
// reports false, routing nothing, when retained_max refuses the message.
func (s *Server) retainAndRoute(m *Message, ms *matches, b *storage.Batch) (n int, retained bool) {
	ms.reset()
	s.trie.mu.RLock()
	retained = s.retain(m, b)
	if retained {
		s.trie.matchLocked(m.Topic, ms)
	}
	s.trie.mu.RUnlock()
	if !retained {
		return 0, false
	}
	return s.deliver(m, ms, b), true
}

// deliver queues m for the subscriptions in ms.
func (s *Server) deliver(m *Message, ms *matches, b *storage.Batch) int {
	n := 0
	subs := ms.subs
	for i, sub := range subs {
		if sub == nil {
			continue
		}
		if sub.handler != nil {
			if s.store == nil {
				sub.handler.HandleMessage(m, nil)
			} else {
				sub.handler.HandleMessage(m, b)
			}
			continue
		}
		sess := sub.sess
		// [MQTT-3.8.3-3] No Local; it does not apply to shared subscriptions.
		local := sub.group == "" && sub.noLocal && sess.uid == m.from
		d := delivery{msg: m, qos: min(m.QoS, sub.qos), subID: sub.id}
		// [MQTT-3.3.1-12..13] Retain As Published.
		d.retain = sub.retainAsPublished && m.Retain
		if sub.group == "" && sess.nsubs.Load() > 1 {
			for j := i + 1; j < len(subs); j++ {
				o := subs[j]
				if o == nil || o.sess != sess || o.group != "" {
					continue
				}
				subs[j] = nil
				if o.noLocal && sess.uid == m.from {
					continue
				}
				if local {
					// The first match was No Local; this one is not.
					local = false
					d = delivery{msg: m, qos: min(m.QoS, o.qos), subID: o.id, retain: o.retainAsPublished && m.Retain}
					continue
				}
				d.qos = max(d.qos, min(m.QoS, o.qos))
				d.retain = d.retain || o.retainAsPublished && m.Retain
				if o.id != 0 {
					if d.subID == 0 {
						d.subID = o.id
					} else {
						d.moreIDs = append(d.moreIDs, o.id)
					}
				}
			}
		}
		if local {
			continue
		}
		if sess.enqueue(d, b) {
			n++
		}
	}
	return n
}
