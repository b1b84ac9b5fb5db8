package broker

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

const (
	// maxBatch is how many deliveries the writer takes off the queue under
	// one lock: enough to fill a large write, short enough that publishers
	// routing to this session are not held up.
	maxBatch = 128
	// maxBatchBytes bounds the message bytes (Message.size) of one batch.
	// A batch leaves the queue, and max_total_queued_bytes, when the writer
	// takes it, and stays in the writer's buffer while the client does not
	// read: this bounds what each stalled client holds outside the queues
	// (128 messages of 4 KiB were half a MiB per client). Small messages
	// still go 128 to a write.
	maxBatchBytes = 32 << 10
	// vectorMin is the payload size from which a payload is written from
	// the message itself (writev) instead of being copied.
	vectorMin = 4 << 10
	// keepWbuf is the write buffer capacity kept between bursts.
	keepWbuf = 4 << 10
	// minWriteTimeout is the least time a client is given to take one
	// batch of output before it is considered stalled and disconnected.
	minWriteTimeout = 60 * time.Second
)

// outgoing is one packet the writer took from the session.
type outgoing struct {
	d   delivery // the message, held for the writer
	pid uint16
	dup bool // a resend after reconnect [MQTT-4.4.0-1]
	rel bool // QoS 2 past PUBREC: resend PUBREL, not PUBLISH
}

// vecSeg marks a payload written from its message rather than from wbuf.
type vecSeg struct {
	off int // position in wbuf where the payload goes
	msg *Message
}

// writeState is what a writer run works with. It is pooled, so that an
// idle connection holds none of it and a new run does not regrow it.
type writeState struct {
	buf    []byte
	out    []outgoing
	segs   []vecSeg
	pub    packet.Publish
	subIDs []uint32
	vec    net.Buffers
	sent   outCount // PUBLISH counts of one write, folded after it
	kick   chan struct{}
	timer  *time.Timer
}

// writeStatePool recycles writeStates; buffers grown beyond maxKeptWbuf are
// dropped so that one burst does not pin memory.
type writeStatePool struct {
	p sync.Pool
}

const maxKeptWbuf = 256 << 10

func (wp *writeStatePool) get() *writeState {
	if w, ok := wp.p.Get().(*writeState); ok {
		return w
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &writeState{buf: make([]byte, 0, keepWbuf), kick: make(chan struct{}, 1), timer: t}
}

func (wp *writeStatePool) put(w *writeState) {
	if cap(w.buf) > maxKeptWbuf {
		w.buf = make([]byte, 0, keepWbuf)
	}
	w.buf = w.buf[:0]
	w.pub = packet.Publish{}
	wp.p.Put(w)
}

// writeLoop is the connection's writer: it sends control packets and the
// session's queued messages in large writes, and respects the inflight
// window. It runs while there is work (see signal) and stops when the
// connection is closing. Its writeState goes back to the pool before it
// declares itself idle, so that the next run may take it at once.
func (c *conn) writeLoop() {
	for {
		w := c.srv.writeStates.get()
		c.ws = w
		failed := c.writeRun(w)
		// A connection's first run (what was queued at CONNECT) does not
		// linger: a fresh connection is often about to idle.
		c.wruns++
		for !failed && c.wruns > 1 && c.linger(w) {
			failed = c.writeRun(w)
		}
		c.ws = nil
		c.srv.writeStates.put(w)
		if !c.writerIdle(failed) {
			return
		}
	}
}

// writerLinger is how long a writer with nothing to send waits for more
// before its goroutine ends. A client receiving steadily (a message every
// few milliseconds) keeps one writer instead of starting one per message,
// which would cost latency and garbage; an idle client holds none.
const writerLinger = 50 * time.Millisecond

// linger waits up to writerLinger for a signal. It reports whether to run
// again: there is work, or the writer is being stopped, which happens only
// once the connection is closing, so that the run flushes the last packets
// (a DISCONNECT) and ends.
func (c *conn) linger(w *writeState) bool {
	select {
	case <-w.kick: // a stale wake-up from an earlier linger
	default:
	}
	c.wmu.Lock()
	if c.wagain || c.wstopped {
		c.wagain = false
		c.wmu.Unlock()
		return true
	}
	c.wkick = w.kick
	c.wmu.Unlock()
	w.timer.Reset(writerLinger)
	select {
	case <-w.kick:
	case <-w.timer.C:
	}
	w.timer.Stop()
	c.wmu.Lock()
	c.wkick = nil
	again := c.wagain || c.wstopped
	c.wagain = false
	c.wmu.Unlock()
	return again
}

// writeRun writes until there is nothing more to send. It reports whether
// the writer must stop for good (the connection is closing or broken).
func (c *conn) writeRun(w *writeState) (stop bool) {
	for {
		var closing, more bool
		closing, more, w.out = c.fill(w.out[:0])
		now := time.Now()
		for i := range w.out {
			w.segs = c.encode(&w.out[i], w.segs, now, &w.sent)
			w.out[i] = outgoing{}
		}
		err := c.flush(w.segs)
		w.sent.foldInto(&c.stats)
		for i := range w.segs {
			w.segs[i].msg.Release()
			w.segs[i] = vecSeg{}
		}
		w.segs = w.segs[:0]
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !closing {
				c.logWarn("client is not reading: write timed out, closing")
			}
			c.nc.Close() // unblocks the reader
			return true
		}
		if closing {
			return true
		}
		if !more {
			return false
		}
	}
}

// fill moves pending control packets into wbuf and takes a batch of
// deliveries off the session's queue into out, placing QoS 1/2 ones in
// the inflight window.
func (c *conn) fill(out []outgoing) (closing, more bool, _ []outgoing) {
	c.outMu.Lock()
	if len(c.ctrl) > 0 {
		c.ws.buf = append(c.ws.buf, c.ctrl...)
		c.ctrl = c.ctrl[:0]
		if cap(c.ctrl) > maxCtrlBytes {
			c.ctrl = nil
		}
		c.outCond.Broadcast()
	}
	closing = c.closing
	c.outMu.Unlock()
	if closing {
		return true, false, out
	}
	sess := c.sess
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.conn != c {
		return false, false, out
	}
	if sess.resend {
		sess.resend = false
		for i := range sess.inflight {
			in := &sess.inflight[i]
			in.d.msg.Hold()
			out = append(out, outgoing{d: in.d, pid: in.pid, dup: true, rel: in.relSent})
		}
	}
	quota := min(c.srv.limits.MaxInflight, c.clientReceiveMax)
	var now time.Time
	bytes := 0
	for len(out) < maxBatch && sess.q.len() > 0 && bytes < maxBatchBytes {
		d := sess.q.peek()
		if d.qos > 0 && len(sess.inflight) >= quota {
			break
		}
		bytes += d.msg.size()
		dd := sess.q.pop()
		if !dd.msg.Expiry.IsZero() {
			if now.IsZero() {
				now = time.Now()
			}
			if dd.msg.expired(now) {
				// [MQTT-3.3.2-5] An expired message is not sent.
				c.srv.stats.droppedExpired.Add(1)
				c.srv.completed(sess, &dd)
				continue
			}
		}
		var pid uint16
		if dd.qos > 0 {
			pid = sess.allocPID()
			sess.inflight = append(sess.inflight, inflight{pid: pid, d: dd})
			dd.msg.Hold()
			if dd.qos == 2 && dd.seq != 0 {
				// Record the packet id, so that after a restart the
				// exchange resumes on it and is not delivered twice.
				c.pidBatch.Put(bucketQueue, queueKey(sess.id, dd.seq), encodeDelivery(&dd, pid, false, c.srv.wall()))
			}
		}
		out = append(out, outgoing{d: dd, pid: pid})
	}
	more = sess.q.len() > 0 && (sess.q.peek().qos == 0 || len(sess.inflight) < quota)
	if c.pidBatch.Len() > 0 {
		b := c.pidBatch
		c.pidBatch = storage.Batch{}
		c.srv.commitAsync(&b)
	}
	return false, more, out
}

// encode appends o to wbuf and releases the writer's hold on its message,
// except for large payloads, whose message stays held in segs until the
// write is done. A PUBLISH is counted in sent.
func (c *conn) encode(o *outgoing, segs []vecSeg, now time.Time, sent *outCount) []vecSeg {
	v := c.version
	if o.rel {
		a := packet.Ack{Type: packet.PUBREL, PacketID: o.pid}
		c.ws.buf = a.Append(c.ws.buf, v)
		o.d.msg.Release()
		return segs
	}
	m := o.d.msg
	p := &c.ws.pub
	*p = packet.Publish{Dup: o.dup, QoS: o.d.qos, Retain: o.d.retain, Topic: m.Topic, PacketID: o.pid, Payload: m.Payload}
	if v == packet.V5 {
		pr := &p.Props
		if m.HasPayloadFormat {
			pr.PayloadFormat = m.PayloadFormat
			pr.Set(packet.PropPayloadFormat)
		}
		if exp, ok := m.remainingExpiry(now); ok {
			pr.MessageExpiry = exp
			pr.Set(packet.PropMessageExpiry)
		}
		pr.ContentType = m.ContentType
		pr.ResponseTopic = m.ResponseTopic
		pr.CorrelationData = m.CorrelationData
		pr.User = m.User
		if o.d.subID != 0 {
			c.ws.subIDs = append(append(c.ws.subIDs[:0], o.d.subID), o.d.moreIDs...)
			pr.SubscriptionIDs = c.ws.subIDs
		}
	}
	// [MQTT-3.1.2-24] Never send more than the client's Maximum Packet Size;
	// such a message is dropped as if delivered [MQTT-3.1.2-25].
	if c.clientMaxPacket > 0 && p.Size(v) > c.clientMaxPacket {
		c.srv.stats.droppedTooLarge.Add(1)
		c.logWarn("message larger than the client's maximum packet size: not sent",
			"topic", string(m.Topic), "size", p.Size(v), "maximum_packet_size", c.clientMaxPacket)
		if o.pid != 0 {
			c.abandon(o.pid)
		}
		m.Release()
		return segs
	}
	if c.clientAliasMax > 0 {
		c.applyAlias(p)
	}
	if len(m.Payload) >= vectorMin {
		c.ws.buf = p.AppendHeader(c.ws.buf, v)
		segs = append(segs, vecSeg{off: len(c.ws.buf), msg: m}) // released after the write
	} else {
		c.ws.buf = p.Append(c.ws.buf, v)
		m.Release()
	}
	p.Props.User, p.Props.SubscriptionIDs = nil, nil
	sent.count(o.d.qos, len(p.Payload)) // m may be released: its length, read from p
	return segs
}

// applyAlias gives p's topic an outbound topic alias: the first
// topic_alias_maximum distinct topics get one, later ones go in full.
func (c *conn) applyAlias(p *packet.Publish) {
	if a, ok := c.aliasOut[string(p.Topic)]; ok {
		p.Props.TopicAlias = a
		p.Props.Set(packet.PropTopicAlias)
		p.Topic = nil
		return
	}
	if len(c.aliasOut) < c.clientAliasMax {
		if c.aliasOut == nil {
			c.aliasOut = make(map[string]uint16)
		}
		a := uint16(len(c.aliasOut) + 1)
		c.aliasOut[string(p.Topic)] = a
		p.Props.TopicAlias = a
		p.Props.Set(packet.PropTopicAlias)
	}
}

// abandon completes an inflight delivery that will never be sent.
func (c *conn) abandon(pid uint16) {
	sess := c.sess
	sess.mu.Lock()
	i := sess.findInflight(pid)
	if i < 0 {
		sess.mu.Unlock()
		return
	}
	d := sess.inflight[i].d
	sess.inflight = deleteAt(sess.inflight, i)
	sess.mu.Unlock()
	c.srv.completed(sess, &d)
}

// flush writes wbuf, with the payloads of segs spliced in, in one writev.
func (c *conn) flush(segs []vecSeg) error {
	if len(c.ws.buf) == 0 {
		return nil
	}
	timeout := max(minWriteTimeout, c.keepAlive)
	c.nc.SetWriteDeadline(time.Now().Add(timeout))
	var n int64
	var err error
	if len(segs) == 0 {
		var k int
		k, err = c.nc.Write(c.ws.buf)
		n = int64(k)
	} else {
		vec := c.ws.vec[:0]
		prev := 0
		for _, s := range segs {
			vec = append(vec, c.ws.buf[prev:s.off], s.msg.Payload)
			prev = s.off
		}
		vec = append(vec, c.ws.buf[prev:])
		c.ws.vec = vec
		n, err = vec.WriteTo(c.nc)
		clear(c.ws.vec[:cap(c.ws.vec)])
	}
	c.stats.bytesOut.Add(uint64(n))
	c.ws.buf = c.ws.buf[:0]
	return err
}
