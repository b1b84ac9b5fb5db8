package broker

import (
	"sync/atomic"
	"time"
)

// stats holds the broker's counters. Hot counters live per connection (see
// connStats) and are folded in when a connection closes, so that
// publishers on different cores do not fight over one cache line.
type stats struct {
	closed connStats // totals of closed connections

	connectsTotal     atomic.Uint64
	connectsRefused   atomic.Uint64
	droppedQueueFull  atomic.Uint64 // deliveries dropped because a client's queue was full
	droppedExpired    atomic.Uint64 // deliveries dropped because the message expired
	droppedTooLarge   atomic.Uint64 // deliveries larger than the client's Maximum Packet Size
	droppedNotAllowed atomic.Uint64 // publishes or deliveries refused by the ACL
	retainedRefused   atomic.Uint64 // retained messages refused because retained_max was reached
	protocolErrors    atomic.Uint64 // connections closed for bad input
}

// connStats are one connection's counters, written by its own goroutines.
type connStats struct {
	msgsIn, msgsOut   atomic.Uint64
	bytesIn, bytesOut atomic.Uint64
}

func (a *connStats) add(b *connStats) {
	a.msgsIn.Add(b.msgsIn.Load())
	a.msgsOut.Add(b.msgsOut.Load())
	a.bytesIn.Add(b.bytesIn.Load())
	a.bytesOut.Add(b.bytesOut.Load())
}

// Stats is a snapshot of the broker's counters and gauges.
type Stats struct {
	Uptime            time.Duration
	ClientsConnected  int
	Sessions          int // connected and persisted
	Subscriptions     int
	Retained          int
	MessagesReceived  uint64 // PUBLISH packets from clients
	MessagesSent      uint64 // PUBLISH packets to clients
	BytesReceived     uint64
	BytesSent         uint64
	DroppedQueueFull  uint64
	DroppedExpired    uint64
	DroppedTooLarge   uint64
	DroppedNotAllowed uint64
	RetainedRefused   uint64
	ConnectsTotal     uint64
	ConnectsRefused   uint64
	ProtocolErrors    uint64
	QueuedMessages    int // across all sessions, not yet sent
	Inflight          int // across all sessions, sent and not yet acknowledged
}

// Stats returns a snapshot of the broker's counters.
func (s *Server) Stats() Stats {
	var st Stats
	var live connStats
	live.add(&s.stats.closed)
	s.mu.Lock()
	for c := range s.conns {
		live.add(&c.stats)
		if c.connected.Load() {
			st.ClientsConnected++
		}
	}
	sessions := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.mu.Lock()
		st.QueuedMessages += sess.q.len()
		st.Inflight += len(sess.inflight)
		sess.mu.Unlock()
	}
	st.Sessions = len(sessions)
	st.Uptime = time.Since(s.started)
	s.trie.mu.RLock()
	st.Subscriptions = s.trie.count
	s.trie.mu.RUnlock()
	st.Retained = s.retained.len()
	st.MessagesReceived = live.msgsIn.Load()
	st.MessagesSent = live.msgsOut.Load()
	st.BytesReceived = live.bytesIn.Load()
	st.BytesSent = live.bytesOut.Load()
	st.DroppedQueueFull = s.stats.droppedQueueFull.Load()
	st.DroppedExpired = s.stats.droppedExpired.Load()
	st.DroppedTooLarge = s.stats.droppedTooLarge.Load()
	st.DroppedNotAllowed = s.stats.droppedNotAllowed.Load()
	st.RetainedRefused = s.stats.retainedRefused.Load()
	st.ConnectsTotal = s.stats.connectsTotal.Load()
	st.ConnectsRefused = s.stats.connectsRefused.Load()
	st.ProtocolErrors = s.stats.protocolErrors.Load()
	return st
}
