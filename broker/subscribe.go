package broker

import (
	"errors"
	"strings"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

// parseShared splits "$share/group/filter" [MQTT-4.8.2-1..2]. For other
// filters it returns the filter itself and an empty group.
func parseShared(filter string) (group, topicFilter string, err error) {
	rest, ok := strings.CutPrefix(filter, "$share/")
	if !ok {
		return "", filter, nil
	}
	group, topicFilter, ok = strings.Cut(rest, "/")
	if !ok || group == "" || topicFilter == "" || strings.ContainsAny(group, "+#") {
		return "", "", errors.New("shared subscription must be $share/{group}/{filter} with a group name without wildcards")
	}
	return group, topicFilter, nil
}

// handleSubscribe handles SUBSCRIBE: each filter is checked and granted or
// refused on its own; retained messages follow; SUBACK is sent once the
// subscriptions of a persistent session are stored.
func (c *conn) handleSubscribe(p *packet.Subscribe) error {
	s := c.srv
	sess := c.sess
	v := c.version
	codes := make([]packet.ReasonCode, len(p.Subs))
	var subID uint32
	if len(p.Props.SubscriptionIDs) > 0 {
		subID = p.Props.SubscriptionIDs[0]
	}
	var b storage.Batch
	// Subscriptions that get retained messages, and those messages (held).
	type retainedFor struct {
		sub  *subscription
		msgs []*Message
	}
	var retained []retainedFor
	for i := range p.Subs {
		f := &p.Subs[i]
		filter := string(f.Filter)
		fail := func(code packet.ReasonCode, why string) {
			if v != packet.V5 {
				code = packet.V3SubackFailure
			}
			codes[i] = code
			c.logInfo("subscription refused", "filter", filter, "reason", why)
		}
		if err := packet.ValidFilter(f.Filter); err != nil {
			fail(packet.TopicFilterInvalid, err.Error())
			continue
		}
		group, topicFilter, err := parseShared(filter)
		if err != nil {
			fail(packet.TopicFilterInvalid, err.Error())
			continue
		}
		if group != "" && f.NoLocal {
			// [MQTT-3.8.3-4]
			return &packet.Error{Code: packet.ProtocolError, Packet: packet.SUBSCRIBE, Field: "options",
				Msg: "No Local on shared subscription " + filter}
		}
		if s.opts.ACL != nil && !s.opts.ACL.CanSubscribe(&c.info, topicFilter) {
			s.stats.droppedNotAllowed.Add(1)
			fail(packet.NotAuthorized, "not allowed by the ACL")
			continue
		}
		sub := &subscription{
			sess: sess, filter: filter, topicFilter: topicFilter, group: group,
			qos: min(f.QoS, 2), noLocal: f.NoLocal, retainAsPublished: f.RetainAsPublished,
			retainHandling: f.RetainHandling, id: subID,
		}
		if c.bridge && group == "" {
			// A bridge must not get its own messages back (they would loop)
			// and forwards the retain flag as published, as mosquitto
			// treats bridges.
			sub.noLocal, sub.retainAsPublished = true, true
		}
		// Retained messages [MQTT-3.3.1-9..11], never for shared
		// subscriptions (MQTT 5.0 section 4.8.2).
		want := func(existed bool) bool {
			return group == "" && (sub.retainHandling == 0 || sub.retainHandling == 1 && !existed)
		}
		_, msgs := s.addSubscription(sess, sub, &b, want)
		if len(msgs) > 0 {
			retained = append(retained, retainedFor{sub, msgs})
		}
		codes[i] = packet.ReasonCode(sub.qos)
		c.debug("subscribed", "filter", filter, "qos", sub.qos)
	}
	release := func() {
		for _, r := range retained {
			for _, m := range r.msgs {
				m.Release()
			}
		}
	}
	// A persistent session's subscriptions are stored before the SUBACK.
	// SUBSCRIBE is rare, so the reader simply waits for the commit.
	if s.store != nil && b.Len() > 0 {
		if err := s.store.Write(&b); err != nil {
			c.logError("could not store subscriptions", "err", err)
			release()
			if v != packet.V5 {
				return errClose // 3.1.1 cannot say it: close rather than pretend
			}
			for i := range codes {
				if !codes[i].IsError() {
					codes[i] = packet.ImplementationSpecific
				}
			}
			retained = nil
		}
	}
	pid := p.PacketID
	if err := c.appendCtrl(func(dst []byte) []byte {
		a := packet.Suback{PacketID: pid, Codes: codes}
		return a.Append(dst, v)
	}); err != nil {
		release()
		return err
	}
	// Retained messages go after the SUBACK.
	var rb storage.Batch
	for _, r := range retained {
		s.sendRetained(sess, r.sub, r.msgs, &rb)
	}
	s.commitAsync(&rb)
	return nil
}

// addSubscription records sub in the session and the trie and, for a
// persistent session, in b. It reports whether it replaced one. When
// wantRetained(existed) is true it also returns the retained messages
// matching sub (held), taken under the same trie lock as the insertion, so
// that a retained message published meanwhile reaches the subscriber once
// (see retainAndRoute).
func (s *Server) addSubscription(sess *session, sub *subscription, b *storage.Batch, wantRetained func(existed bool) bool) (bool, []*Message) {
	sess.mu.Lock()
	_, existed := sess.subs[sub.filter]
	if sess.subs == nil {
		sess.subs = make(map[string]*subscription)
	}
	sess.subs[sub.filter] = sub
	persistent := sess.persistent
	sess.mu.Unlock()
	if !existed {
		sess.nsubs.Add(1)
	}
	var retained []*Message
	s.trie.mu.Lock()
	s.trie.addLocked(sub)
	if wantRetained != nil && wantRetained(existed) {
		retained = s.retainedMatching(sub.topicFilter)
	}
	s.trie.mu.Unlock()
	if persistent {
		b.Put(bucketSubs, subKey(sess.id, sub.filter), encodeSub(sub))
	}
	return existed, retained
}

// handleUnsubscribe handles UNSUBSCRIBE.
func (c *conn) handleUnsubscribe(p *packet.Unsubscribe) error {
	s := c.srv
	sess := c.sess
	v := c.version
	codes := make([]packet.ReasonCode, len(p.Filters))
	var b storage.Batch
	for i, f := range p.Filters {
		filter := string(f)
		sess.mu.Lock()
		sub, ok := sess.subs[filter]
		if ok {
			delete(sess.subs, filter)
		}
		persistent := sess.persistent
		sess.mu.Unlock()
		if !ok {
			codes[i] = packet.NoSubscriptionExisted
			continue
		}
		sess.nsubs.Add(-1)
		s.trie.remove(sess, sub.topicFilter, sub.group)
		if persistent {
			b.Delete(bucketSubs, subKey(sess.id, filter))
		}
	}
	if s.store != nil && b.Len() > 0 {
		if err := s.store.Write(&b); err != nil {
			// The subscriptions are gone in memory; at worst they come
			// back after a restart. Say so and carry on.
			c.logError("could not store unsubscription", "err", err)
		}
	}
	pid := p.PacketID
	return c.appendCtrl(func(dst []byte) []byte {
		a := packet.Unsuback{PacketID: pid}
		if v == packet.V5 {
			a.Codes = codes
		}
		return a.Append(dst, v)
	})
}
