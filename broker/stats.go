package broker

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// stats holds the broker's counters. Hot counters live per connection (see
// connStats) and are folded in when a connection closes, so that
// publishers on different cores do not fight over one cache line.
type stats struct {
	closed connStats // totals of closed connections

	connectsTotal     atomic.Uint64
	connectsRefused   atomic.Uint64
	droppedQueueFull  atomic.Uint64 // deliveries dropped because a client's queue was full
	droppedMemory     atomic.Uint64 // deliveries dropped because all queues held max_total_queued_bytes
	droppedExpired    atomic.Uint64 // deliveries dropped because the message expired
	droppedTooLarge   atomic.Uint64 // deliveries larger than the client's Maximum Packet Size
	droppedNotAllowed atomic.Uint64 // publishes or deliveries refused by the ACL
	retainedRefused   atomic.Uint64 // retained messages refused because retained_max was reached
	refusedStoreFull  atomic.Uint64 // QoS 1/2 publishes refused because the store was full
	protocolErrors    atomic.Uint64 // connections closed for bad input
}

// connStats are one connection's counters, written by its own goroutines:
// the In counters by the reader, the Out counters by the writer (which
// folds a whole write's worth at once, see outCount).
type connStats struct {
	msgsIn, msgsOut       [3]atomic.Uint64 // PUBLISH packets by QoS
	payloadIn, payloadOut [3]atomic.Uint64 // their payload bytes by QoS
	bytesIn, bytesOut     atomic.Uint64    // every packet, approximate headers in
}

func (a *connStats) add(b *connStats) {
	for q := range a.msgsIn {
		a.msgsIn[q].Add(b.msgsIn[q].Load())
		a.msgsOut[q].Add(b.msgsOut[q].Load())
		a.payloadIn[q].Add(b.payloadIn[q].Load())
		a.payloadOut[q].Add(b.payloadOut[q].Load())
	}
	a.bytesIn.Add(b.bytesIn.Load())
	a.bytesOut.Add(b.bytesOut.Load())
}

// countIn counts one PUBLISH received, on the reader's path.
func (a *connStats) countIn(qos byte, payload int) {
	a.msgsIn[min(qos, 2)].Add(1)
	a.payloadIn[min(qos, 2)].Add(uint64(payload))
}

// outCount accumulates the writer's PUBLISH counts for one write in plain
// fields (a local of the writer goroutine, so idle connections do not pay
// for it): a batch of 128 messages costs at most 6 atomic adds, not 256.
type outCount struct {
	msgs, payload [3]uint64
}

func (o *outCount) count(qos byte, payload int) {
	o.msgs[min(qos, 2)]++
	o.payload[min(qos, 2)] += uint64(payload)
}

// foldInto adds the accumulated counts to st and zeroes them.
func (o *outCount) foldInto(st *connStats) {
	for q := range o.msgs {
		if o.msgs[q] != 0 {
			st.msgsOut[q].Add(o.msgs[q])
			st.payloadOut[q].Add(o.payload[q])
		}
	}
	*o = outCount{}
}

// Stats is a snapshot of the broker's counters and gauges.
type Stats struct {
	Uptime           time.Duration
	ClientsConnected int
	Sessions         int // connected and persisted
	Subscriptions    int
	Retained         int
	MessagesReceived uint64 // PUBLISH packets from clients
	MessagesSent     uint64 // PUBLISH packets to clients
	// By QoS: index 0, 1, 2. The Messages* totals are their sums.
	MessagesReceivedByQoS     [3]uint64
	MessagesSentByQoS         [3]uint64
	PayloadBytesReceivedByQoS [3]uint64 // payload bytes of the PUBLISH packets received
	PayloadBytesSentByQoS     [3]uint64 // payload bytes of the PUBLISH packets sent
	BytesReceived             uint64    // every MQTT packet received
	BytesSent                 uint64    // every MQTT packet sent
	DroppedQueueFull          uint64
	DroppedMemory             uint64 // all queues held max_total_queued_bytes
	QueueMemory               int64  // estimated bytes all queues hold
	DroppedExpired            uint64
	DroppedTooLarge           uint64
	DroppedNotAllowed         uint64
	RetainedRefused           uint64
	RefusedStoreFull          uint64 // QoS 1/2 publishes refused before routing: the store was full
	ConnectsTotal             uint64
	ConnectsRefused           uint64
	ProtocolErrors            uint64
	QueuedMessages            int // across all sessions, not yet sent
	QueuedBytes               int // their message sizes (topic, payload, properties)
	QueueMaxMessages          int // the deepest session queue, in messages
	QueueMaxBytes             int // the largest session queue, in bytes
	Inflight                  int // across all sessions, sent and not yet acknowledged
	// Connections counts connected clients (CONNECT accepted) by listener
	// and protocol version, sorted by listener then version. Listeners
	// without connected clients are absent.
	Connections []ListenerConnections
}

// ListenerConnections is the number of connected clients of one listener
// speaking one protocol version.
type ListenerConnections struct {
	Listener string // the name given to ServeConn
	Version  string // "3.1", "3.1.1" or "5.0"
	Count    int
}

// Stats returns a snapshot of the broker's counters.
func (s *Server) Stats() Stats {
	var st Stats
	var live connStats
	live.add(&s.stats.closed)
	type lv struct {
		listener string
		version  packet.Version
	}
	var byListener map[lv]int
	s.mu.Lock()
	for c := range s.conns {
		live.add(&c.stats)
		// A connection being closed is no longer counted: once a client
		// sees its socket close, the figures agree.
		if c.connected.Load() && !c.shut.Load() {
			st.ClientsConnected++
			if byListener == nil {
				byListener = make(map[lv]int)
			}
			byListener[lv{c.listener, c.version}]++
		}
	}
	sessions := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for k, n := range byListener {
		st.Connections = append(st.Connections, ListenerConnections{Listener: k.listener, Version: k.version.String(), Count: n})
	}
	sort.Slice(st.Connections, func(i, j int) bool {
		a, b := st.Connections[i], st.Connections[j]
		return a.Listener < b.Listener || a.Listener == b.Listener && a.Version < b.Version
	})
	for _, sess := range sessions {
		sess.mu.Lock()
		n, b := sess.q.len(), sess.q.bytes
		st.Inflight += len(sess.inflight)
		sess.mu.Unlock()
		st.QueuedMessages += n
		st.QueuedBytes += b
		st.QueueMaxMessages = max(st.QueueMaxMessages, n)
		st.QueueMaxBytes = max(st.QueueMaxBytes, b)
	}
	st.Sessions = len(sessions)
	st.Uptime = time.Since(s.started)
	s.trie.mu.RLock()
	st.Subscriptions = s.trie.count
	s.trie.mu.RUnlock()
	st.Retained = s.retained.len()
	for q := range live.msgsIn {
		st.MessagesReceivedByQoS[q] = live.msgsIn[q].Load()
		st.MessagesSentByQoS[q] = live.msgsOut[q].Load()
		st.PayloadBytesReceivedByQoS[q] = live.payloadIn[q].Load()
		st.PayloadBytesSentByQoS[q] = live.payloadOut[q].Load()
		st.MessagesReceived += st.MessagesReceivedByQoS[q]
		st.MessagesSent += st.MessagesSentByQoS[q]
	}
	st.BytesReceived = live.bytesIn.Load()
	st.BytesSent = live.bytesOut.Load()
	st.DroppedQueueFull = s.stats.droppedQueueFull.Load()
	st.DroppedMemory = s.stats.droppedMemory.Load()
	st.QueueMemory = s.queueMem.bytes.Load()
	st.DroppedExpired = s.stats.droppedExpired.Load()
	st.DroppedTooLarge = s.stats.droppedTooLarge.Load()
	st.DroppedNotAllowed = s.stats.droppedNotAllowed.Load()
	st.RetainedRefused = s.stats.retainedRefused.Load()
	st.RefusedStoreFull = s.stats.refusedStoreFull.Load()
	st.ConnectsTotal = s.stats.connectsTotal.Load()
	st.ConnectsRefused = s.stats.connectsRefused.Load()
	st.ProtocolErrors = s.stats.protocolErrors.Load()
	return st
}
