package broker

import "sync/atomic"

// delivery is one message on its way to one session.
type delivery struct {
	msg    *Message
	qos    byte   // QoS granted to this subscriber: min(publish, subscription)
	retain bool   // RETAIN flag to send
	subID  uint32 // first subscription identifier (v5), 0 if none
	// moreIDs holds further subscription identifiers when one message
	// matches several subscriptions of the session (rare: allocated then).
	moreIDs []uint32
	seq     uint64 // storage key sequence when persisted, else 0
}

// queue is a FIFO ring of deliveries waiting for a session's inflight
// window. It does not bound itself: the session enforces
// max_queued_messages and max_queued_bytes around it, and the server
// max_total_queued_bytes through mem.
type queue struct {
	buf   []delivery
	head  int
	n     int
	bytes int
	mem   *queueMemory // every queue of the server charges it; nil in unit tests
}

// queueMemory estimates the memory all queues hold: one entry per delivery
// and, once, the buffer of each message held by at least one queue (a
// message delivered to a thousand clients is one copy).
type queueMemory struct {
	bytes atomic.Int64
}

const (
	deliveryCost = 64  // a ring entry, rounded up
	messageCost  = 256 // a Message and its slices, without the buffer
)

func (qm *queueMemory) charge(m *Message) {
	if qm == nil {
		return
	}
	cost := int64(deliveryCost)
	if m.queued.Add(1) == 1 {
		cost += messageCost + int64(cap(m.buf))
	}
	qm.bytes.Add(cost)
}

// refund returns what charge took, to be subtracted (the writer sums a
// batch before one atomic update).
func (qm *queueMemory) refund(m *Message) int64 {
	if qm == nil {
		return 0
	}
	cost := int64(deliveryCost)
	if m.queued.Add(-1) == 0 {
		cost += messageCost + int64(cap(m.buf))
	}
	return cost
}

func (q *queue) len() int { return q.n }

func (q *queue) push(d delivery) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = d
	q.n++
	q.bytes += d.msg.size()
	q.mem.charge(d.msg)
}

func (q *queue) grow() {
	size := 2 * len(q.buf)
	if size == 0 {
		size = 8
	}
	buf := make([]delivery, size)
	for i := 0; i < q.n; i++ {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}

// peek returns the oldest delivery; the queue must not be empty.
func (q *queue) peek() *delivery { return &q.buf[q.head] }

// pop removes and returns the oldest delivery; the queue must not be empty.
func (q *queue) pop() delivery {
	d := q.buf[q.head]
	q.buf[q.head] = delivery{}
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	q.bytes -= d.msg.size()
	if q.mem != nil {
		q.mem.bytes.Add(-q.mem.refund(d.msg))
	}
	if q.n == 0 {
		q.head = 0
		q.shrink()
	}
	return d
}

// removeFirstQoS0 removes the oldest QoS 0 delivery, if any, and returns it.
// Used to make room when the queue is full: QoS 0 is dropped oldest first.
func (q *queue) removeFirstQoS0() (delivery, bool) {
	for i := 0; i < q.n; i++ {
		j := (q.head + i) % len(q.buf)
		if q.buf[j].qos != 0 {
			continue
		}
		d := q.buf[j]
		// Shift the older entries one place towards the tail.
		for k := i; k > 0; k-- {
			q.buf[(q.head+k)%len(q.buf)] = q.buf[(q.head+k-1)%len(q.buf)]
		}
		q.buf[q.head] = delivery{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		q.bytes -= d.msg.size()
		if q.mem != nil {
			q.mem.bytes.Add(-q.mem.refund(d.msg))
		}
		return d, true
	}
	return delivery{}, false
}

// shrink releases a large ring once it is empty, so that one burst does not
// pin memory for the life of the session. Rings up to 256 entries stay, so
// a busy subscriber that empties its queue often does not reallocate.
func (q *queue) shrink() {
	if len(q.buf) > 256 {
		q.buf = nil
	}
}

// drain removes every delivery and calls fn on each, oldest first.
func (q *queue) drain(fn func(d delivery)) {
	for q.n > 0 {
		fn(q.pop())
	}
}
