package gateway

// delivery is one message the broker sent for a client, waiting to go out
// over MQTT-SN. buf holds the topic then the payload, copied out of the
// MQTT reader's buffer.
type delivery struct {
	buf    []byte
	tlen   int
	qos    byte
	retain bool
	dup    bool
	pid    uint16 // MQTT packet identifier, QoS 1 and 2 only

	reregistered bool // refused with "invalid topic ID" once and REGISTERed again
}

func (d *delivery) topic() []byte   { return d.buf[:d.tlen] }
func (d *delivery) payload() []byte { return d.buf[d.tlen:] }

// outQueue is a client's FIFO of deliveries, bounded by policy:
//
//   - at most max deliveries are queued when a QoS 0 one arrives; when full,
//     the oldest QoS 0 delivery is dropped to make room, and when none is
//     QoS 0 the newcomer is dropped;
//   - a QoS 1 or 2 delivery is always queued: the broker never has more
//     than limits.max_inflight of those unacknowledged for one connection,
//     so they are bounded there, and dropping one would lose a message the
//     broker believes in flight.
//
// So the queue never holds more than max + max_inflight deliveries. It is
// not safe for concurrent use; mqttConn guards it.
type outQueue struct {
	items []delivery // items[head:] are queued, oldest first
	head  int
	max   int
}

func (q *outQueue) len() int { return len(q.items) - q.head }

// push queues d and reports how many QoS 0 deliveries it dropped (0 or 1).
func (q *outQueue) push(d delivery) (dropped int) {
	if q.len() >= q.max {
		i := q.oldestQoS0()
		switch {
		case i >= 0:
			q.remove(i)
			dropped = 1
		case d.qos == 0:
			return 1
		}
	}
	if q.head > 0 && len(q.items) == cap(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, d)
	return dropped
}

// peek returns the oldest delivery, or nil.
func (q *outQueue) peek() *delivery {
	if q.len() == 0 {
		return nil
	}
	return &q.items[q.head]
}

// pop removes the oldest delivery.
func (q *outQueue) pop() (delivery, bool) {
	if q.len() == 0 {
		return delivery{}, false
	}
	d := q.items[q.head]
	q.items[q.head] = delivery{}
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return d, true
}

// pushFront puts d back at the head, where it was popped from.
func (q *outQueue) pushFront(d delivery) {
	if q.head > 0 {
		q.head--
		q.items[q.head] = d
		return
	}
	q.items = append(q.items, delivery{})
	copy(q.items[1:], q.items)
	q.items[0] = d
}

func (q *outQueue) oldestQoS0() int {
	for i := q.head; i < len(q.items); i++ {
		if q.items[i].qos == 0 {
			return i
		}
	}
	return -1
}

func (q *outQueue) remove(i int) {
	copy(q.items[i:], q.items[i+1:])
	q.items[len(q.items)-1] = delivery{}
	q.items = q.items[:len(q.items)-1]
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
}

// drain empties the queue and returns the QoS 1 and 2 deliveries it held,
// which the caller must still acknowledge or leave to the broker.
func (q *outQueue) drain() []delivery {
	var keep []delivery
	for _, d := range q.items[q.head:] {
		if d.qos > 0 {
			keep = append(keep, d)
		}
	}
	clear(q.items)
	q.items, q.head = q.items[:0], 0
	return keep
}
