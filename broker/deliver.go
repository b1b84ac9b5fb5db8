package broker

import (
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

// enqueue puts d on the session's queue, taking a hold on its message.
// Persistent sessions add a record of QoS 1/2 deliveries to b.
//
// The queue holds at most max_queued_messages and max_queued_bytes beyond
// the inflight window. When it is full the oldest queued QoS 0 deliveries
// are dropped to make room; if there are none, the new delivery is dropped,
// whatever its QoS. Every drop is counted (dropped_queue_full) and logged
// at most once a minute per session. It returns false when d was not queued.
func (sess *session) enqueue(d delivery, b *storage.Batch) bool {
	s := sess.srv
	size := d.msg.size()
	sess.mu.Lock()
	if s.opts.ACL != nil && !s.opts.ACL.CanReceive(&sess.info, d.msg.Topic) {
		sess.mu.Unlock()
		s.stats.droppedNotAllowed.Add(1)
		return false
	}
	if s.queueMem.bytes.Load() > s.limits.MaxTotalQueuedBytes {
		// All queues together hold max_total_queued_bytes: nothing more
		// is queued, whatever its QoS, until writers drain some.
		sess.mu.Unlock()
		s.dropForMemory()
		return false
	}
	for sess.q.len() >= s.limits.MaxQueuedMessages || sess.q.bytes+size > s.limits.MaxQueuedBytes {
		old, ok := sess.q.removeFirstQoS0()
		if !ok {
			sess.dropLocked(1)
			sess.mu.Unlock()
			return false
		}
		old.msg.Release()
		sess.dropLocked(1)
	}
	if d.qos > 0 && sess.persistent {
		d.seq = s.seq.Add(1)
		b.Put(bucketQueue, queueKey(sess.id, d.seq), encodeDelivery(&d, 0, false, s.wall()))
	}
	d.msg.Hold()
	sess.q.push(d)
	c := sess.conn
	sess.mu.Unlock()
	if c != nil {
		c.signal()
	}
	return true
}

// dropForMemory counts a delivery dropped because all queues together hold
// max_total_queued_bytes, and logs it at most once a minute.
func (s *Server) dropForMemory() {
	n := s.stats.droppedMemory.Add(1)
	now := time.Now().UnixNano()
	last := s.memWarned.Load()
	if now-last > int64(time.Minute) && s.memWarned.CompareAndSwap(last, now) {
		s.log.Warn("queues hold max_total_queued_bytes: dropping new deliveries",
			"max_total_queued_bytes", s.limits.MaxTotalQueuedBytes, "dropped_memory_total", n)
	}
}

// dropLocked counts n dropped deliveries and logs, rate-limited.
func (sess *session) dropLocked(n int) {
	sess.srv.stats.droppedQueueFull.Add(uint64(n))
	sess.droppedQ += uint64(n)
	if now := time.Now(); now.Sub(sess.lastWarn) > time.Minute {
		sess.lastWarn = now
		sess.srv.log.Warn("client queue full: dropping messages",
			"client", sess.id, "dropped_total", sess.droppedQ,
			"max_queued_messages", sess.srv.limits.MaxQueuedMessages,
			"max_queued_bytes", sess.srv.limits.MaxQueuedBytes)
	}
}

// handleAck handles PUBACK, PUBREC and PUBCOMP for messages we sent, and
// PUBREL for QoS 2 messages we received.
func (c *conn) handleAck(a *packet.Ack) error {
	sess := c.sess
	v := c.version
	switch a.Type {
	case packet.PUBREL:
		sess.mu.Lock()
		found := sess.removeInQoS2(a.PacketID)
		sess.mu.Unlock()
		code := packet.Success
		if !found && v == packet.V5 {
			code = packet.PacketIDNotFound
		}
		pid := a.PacketID
		return c.appendCtrl(func(dst []byte) []byte {
			r := packet.Ack{Type: packet.PUBCOMP, PacketID: pid, Code: code}
			return r.Append(dst, v)
		})

	case packet.PUBACK, packet.PUBCOMP:
		sess.mu.Lock()
		i := sess.findInflight(a.PacketID)
		want := byte(1)
		if a.Type == packet.PUBCOMP {
			want = 2
		}
		if i < 0 || sess.inflight[i].d.qos != want || (want == 2 && !sess.inflight[i].relSent) {
			sess.mu.Unlock()
			c.debug("acknowledgement for an unknown packet id", "packet", a.Type.String(), "packet_id", a.PacketID)
			return nil
		}
		d := sess.inflight[i].d
		sess.inflight = deleteAt(sess.inflight, i)
		sess.mu.Unlock()
		c.srv.completed(sess, &d)
		c.signal() // the window has room
		return nil

	case packet.PUBREC:
		sess.mu.Lock()
		i := sess.findInflight(a.PacketID)
		if i < 0 || sess.inflight[i].d.qos != 2 {
			sess.mu.Unlock()
			// [MQTT-4.3.3] answer an unknown id so the client can finish.
			code := packet.Success
			if v == packet.V5 {
				code = packet.PacketIDNotFound
			}
			pid := a.PacketID
			return c.appendCtrl(func(dst []byte) []byte {
				r := packet.Ack{Type: packet.PUBREL, PacketID: pid, Code: code}
				return r.Append(dst, v)
			})
		}
		if a.Code.IsError() {
			// A PUBREC with an error ends the exchange [MQTT-4.3.3-4].
			d := sess.inflight[i].d
			sess.inflight = deleteAt(sess.inflight, i)
			sess.mu.Unlock()
			c.srv.completed(sess, &d)
			c.signal()
			return nil
		}
		in := &sess.inflight[i]
		first := !in.relSent
		in.relSent = true
		seq := in.d.seq
		var rec []byte
		if first && seq != 0 {
			rec = encodeDelivery(&in.d, in.pid, true, c.srv.wall())
		}
		sess.mu.Unlock()
		if rec != nil {
			var b storage.Batch
			b.Put(bucketQueue, queueKey(sess.id, seq), rec)
			c.srv.commitAsync(&b)
		}
		pid := a.PacketID
		return c.appendCtrl(func(dst []byte) []byte {
			r := packet.Ack{Type: packet.PUBREL, PacketID: pid}
			return r.Append(dst, v)
		})
	}
	return nil
}

// completed releases a delivery the client has acknowledged and deletes
// its stored record.
func (s *Server) completed(sess *session, d *delivery) {
	if d.seq != 0 && s.store != nil {
		var b storage.Batch
		b.Delete(bucketQueue, queueKey(sess.id, d.seq))
		s.commitAsync(&b)
	}
	d.msg.Release()
}

// commitAsync writes b without waiting; a failure is logged. Used for
// writes whose loss costs at most a duplicate delivery (QoS 1 allows it).
func (s *Server) commitAsync(b *storage.Batch) {
	if s.store == nil || b.Len() == 0 {
		return
	}
	s.store.Commit(b, func(err error) {
		if err != nil {
			s.log.Warn("storage write failed", "err", err)
		}
	})
}
