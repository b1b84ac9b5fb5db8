package broker

import (
	"strings"
	"sync"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

// retainedStore holds the last retained message of each topic.
type retainedStore struct {
	mu sync.RWMutex
	m  map[string]*Message // each held
}

func (r *retainedStore) init() { r.m = make(map[string]*Message) }

func (r *retainedStore) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.m)
}

// retain records m as the retained message of its topic; an empty payload
// clears it [MQTT-3.3.1-10]. Beyond retained_max topics, new topics are
// refused (counted and logged) and retain returns false; existing ones are
// still replaced.
func (s *Server) retain(m *Message, b *storage.Batch) bool {
	topic := string(m.Topic)
	r := &s.retained
	r.mu.Lock()
	old := r.m[topic]
	if len(m.Payload) == 0 {
		delete(r.m, topic)
		r.mu.Unlock()
		if old != nil {
			old.Release()
			if s.store != nil {
				b.Delete(bucketRetained, []byte(topic))
			}
		}
		return true
	}
	if old == nil && len(r.m) >= s.limits.RetainedMax {
		r.mu.Unlock()
		s.stats.retainedRefused.Add(1)
		s.log.Warn("retained message refused: retained_max reached", "topic", topic, "retained_max", s.limits.RetainedMax)
		return false
	}
	m.Hold()
	r.m[topic] = m
	r.mu.Unlock()
	if old != nil {
		old.Release()
	}
	// $SYS topics are regenerated at start: not worth flash writes.
	if s.store != nil && !strings.HasPrefix(topic, "$SYS/") {
		b.Put(bucketRetained, []byte(topic), encodeMessage(m, s.wall()))
	}
	return true
}

// retainedMatching returns the retained messages matching filter, held.
func (s *Server) retainedMatching(filter string) []*Message {
	var msgs []*Message
	r := &s.retained
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !strings.ContainsAny(filter, "+#") {
		if m := r.m[filter]; m != nil {
			m.Hold()
			msgs = append(msgs, m)
		}
		return msgs
	}
	for topic, m := range r.m {
		if packet.Match(filter, topic) {
			m.Hold()
			msgs = append(msgs, m)
		}
	}
	return msgs
}

// sendRetained queues msgs (retained messages matching sub, held) for the
// session with RETAIN set [MQTT-3.3.1-8], and releases them.
func (s *Server) sendRetained(sess *session, sub *subscription, msgs []*Message, b *storage.Batch) {
	now := time.Now()
	for _, m := range msgs {
		if m.expired(now) {
			s.stats.droppedExpired.Add(1)
		} else {
			sess.enqueue(delivery{msg: m, qos: min(m.QoS, sub.qos), retain: true, subID: sub.id}, b)
		}
		m.Release()
	}
}
