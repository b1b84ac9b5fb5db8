package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// Message is an application message inside the broker: a copy of a PUBLISH
// that outlives the publisher's read buffer. A Message is immutable once
// routed and shared by every queue that holds it; it counts its holders and
// returns to its pool when the last one releases it.
type Message struct {
	refs   atomic.Int32
	queued atomic.Int32 // queues holding it, for queueMemory
	pool   *messagePool

	buf []byte // backing store of every byte-slice field below

	Topic   []byte
	Payload []byte
	QoS     byte
	Retain  bool

	// MQTT 5.0 properties passed through to subscribers.
	HasPayloadFormat bool
	PayloadFormat    byte
	ContentType      []byte
	ResponseTopic    []byte
	CorrelationData  []byte
	User             []packet.UserProperty

	// Expiry is when the message expires (zero: never). It carries Go's
	// monotonic clock reading, so wall-clock jumps do not move it.
	Expiry time.Time

	// from identifies the publishing session for No Local; 0 for messages
	// the broker makes itself (wills are published "from" their session).
	from uint64
	// bridged names the bridge a message came in over ("" otherwise), so
	// that a bridge does not send it back out (loop prevention).
	bridged string
}

// messagePool recycles Messages and their buffers. Buffers above maxPooled
// bytes are left to the garbage collector so that one big message does not
// pin memory for ever.
type messagePool struct {
	p sync.Pool
}

const maxPooledMessage = 16 << 10

func (mp *messagePool) get() *Message {
	if m, ok := mp.p.Get().(*Message); ok {
		return m
	}
	return &Message{pool: mp}
}

// Hold adds a holder. Every Hold is matched by one Release.
func (m *Message) Hold() { m.refs.Add(1) }

// Release drops a holder; the last one recycles the message.
func (m *Message) Release() {
	n := m.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("broker: Message released more often than held")
	}
	if m.pool == nil || cap(m.buf) > maxPooledMessage {
		return
	}
	buf, user := m.buf[:0], m.User[:0]
	clear(m.User[:cap(m.User)])
	pool := m.pool
	*m = Message{buf: buf, User: user, pool: pool}
	pool.p.Put(m)
}

// fill copies a decoded PUBLISH into m. topic is the resolved topic name
// (the PUBLISH may have carried only a topic alias).
func (m *Message) fill(p *packet.Publish, topic []byte) {
	size := len(topic) + len(p.Payload) + len(p.Props.ContentType) +
		len(p.Props.ResponseTopic) + len(p.Props.CorrelationData)
	for _, u := range p.Props.User {
		size += len(u.Key) + len(u.Value)
	}
	if cap(m.buf) < size {
		m.buf = make([]byte, 0, size)
	}
	b := m.buf[:0]
	m.Topic, b = appendView(b, topic)
	m.Payload, b = appendView(b, p.Payload)
	m.QoS = p.QoS
	m.Retain = p.Retain
	if p.Props.Has(packet.PropPayloadFormat) {
		m.HasPayloadFormat = true
		m.PayloadFormat = p.Props.PayloadFormat
	}
	if p.Props.ContentType != nil {
		m.ContentType, b = appendView(b, p.Props.ContentType)
	}
	if p.Props.ResponseTopic != nil {
		m.ResponseTopic, b = appendView(b, p.Props.ResponseTopic)
	}
	if p.Props.CorrelationData != nil {
		m.CorrelationData, b = appendView(b, p.Props.CorrelationData)
	}
	for _, u := range p.Props.User {
		var k, v []byte
		k, b = appendView(b, u.Key)
		v, b = appendView(b, u.Value)
		m.User = append(m.User, packet.UserProperty{Key: k, Value: v})
	}
	if p.Props.Has(packet.PropMessageExpiry) {
		m.Expiry = time.Now().Add(time.Duration(p.Props.MessageExpiry) * time.Second)
	}
	m.buf = b
}

// appendView appends src to b, which has room, and returns the appended
// part as its own slice.
func appendView(b, src []byte) (view, out []byte) {
	n := len(b)
	b = append(b, src...)
	return b[n:len(b):len(b)], b
}

// expired reports whether m has expired at now.
func (m *Message) expired(now time.Time) bool {
	return !m.Expiry.IsZero() && !now.Before(m.Expiry)
}

// remainingExpiry returns the Message Expiry Interval to send on, in whole
// seconds rounded up, and whether the message has one [MQTT-3.3.2-6].
func (m *Message) remainingExpiry(now time.Time) (uint32, bool) {
	if m.Expiry.IsZero() {
		return 0, false
	}
	d := m.Expiry.Sub(now)
	if d <= 0 {
		return 0, true
	}
	return uint32((d + time.Second - 1) / time.Second), true
}

// size is what the message costs a queue, for max_queued_bytes.
func (m *Message) size() int { return len(m.buf) + 64 }
