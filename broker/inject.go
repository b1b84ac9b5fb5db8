package broker

import (
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

// publishWill publishes a will message of sess and releases it. The ACL
// decides who may receive it, as for any message.
func (s *Server) publishWill(sess *session, w *will) {
	m := w.msg
	if w.hasExpiry {
		m.Expiry = time.Now().Add(time.Duration(w.expiry) * time.Second)
	}
	m.from = sess.uid
	s.log.Info("publishing will", "client", sess.id, "topic", string(m.Topic))
	var b storage.Batch
	var ms matches
	s.routeRetaining(m, &ms, &b)
	s.commitAsync(&b)
	m.Release()
}

// routeRetaining records m as the retained message of its topic when it
// has the retain flag, and routes it; it returns the number of sessions m
// was queued for. A message that retained_max refuses to retain is routed
// all the same: its publisher (a will, an in-process component) cannot be
// told.
func (s *Server) routeRetaining(m *Message, ms *matches, b *storage.Batch) int {
	if m.Retain {
		if n, retained := s.retainAndRoute(m, ms, b); retained {
			return n
		}
	}
	return s.route(m, ms, b)
}

// PublishOptions describe a message published by the broker itself or by
// an in-process component (a bridge, the MQTT-SN gateway, $SYS).
type PublishOptions struct {
	QoS    byte
	Retain bool
	// Props carries MQTT 5.0 properties to pass on (payload format, message
	// expiry, content type, response topic, correlation data, user
	// properties); other fields are ignored.
	Props packet.Properties
	// Bridge names the bridge the message came in over, so that the same
	// bridge does not forward it back (loop prevention); "" otherwise.
	Bridge string
}

// Publish routes a message from inside the process as if a client had
// published it, and returns once everything that must persist is durable
// (for QoS 1/2), so the caller may then acknowledge its own source. It
// returns the number of sessions the message was queued for.
func (s *Server) Publish(topic []byte, payload []byte, o PublishOptions) (int, error) {
	if err := packet.ValidTopicName(topic); err != nil {
		return 0, err
	}
	var ms matches
	if o.QoS > 0 {
		if err := s.storeFullFor(topic, o.QoS, o.Retain && len(payload) > 0, &ms); err != nil {
			s.stats.refusedStoreFull.Add(1)
			return 0, err
		}
	}
	p := packet.Publish{QoS: o.QoS, Retain: o.Retain, Topic: topic, Payload: payload, Props: o.Props}
	m := s.msgs.get()
	m.Hold()
	m.fill(&p, topic)
	m.bridged = o.Bridge
	var b storage.Batch
	n := s.routeRetaining(m, &ms, &b)
	m.Release()
	if s.store == nil || b.Len() == 0 {
		return n, nil
	}
	if o.QoS == 0 {
		s.commitAsync(&b)
		return n, nil
	}
	return n, s.store.Write(&b)
}
