package bridge

import (
	"math"
	"strconv"
	"time"

	"github.com/edgemq/edgemq/broker"
)

// sysTopics returns the $SYS/bridge/<name>/... topics of one bridge,
// topic -> payload.
func sysTopics(s Stats) map[string]string {
	p := "$SYS/bridge/" + s.Name + "/"
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	return map[string]string{
		p + "state":                     s.State.String(),
		p + "connects":                  u(s.Connects),
		p + "connect_failures":          u(s.ConnectFailures),
		p + "queue/messages":            strconv.Itoa(s.Queued + s.RingQueued),
		p + "queue/bytes":               strconv.FormatInt(s.QueuedBytes+int64(s.RingBytes), 10),
		p + "queue/inflight":            strconv.Itoa(s.Inflight),
		p + "queue/oldest_age_seconds":  strconv.FormatFloat(s.OldestAge.Seconds(), 'f', 0, 64),
		p + "queue/drain_rate":          strconv.FormatFloat(s.DrainRate, 'f', 0, 64),
		p + "messages/enqueued":         u(s.Enqueued),
		p + "messages/sent":             u(s.Sent),
		p + "messages/resent":           u(s.Resent),
		p + "messages/acked":            u(s.Acked),
		p + "messages/dropped":          u(s.Dropped),
		p + "messages/dropped/overflow": u(s.DroppedQueue),
		p + "messages/dropped/ring":     u(s.DroppedRing),
		p + "messages/received":         u(s.Received),
	}
}

// SysTopics returns the current $SYS/bridge/... values of every bridge,
// topic -> payload.
func (m *Manager) SysTopics() map[string]string {
	out := make(map[string]string)
	for _, s := range m.Stats() {
		for k, v := range sysTopics(s) {
			out[k] = v
		}
	}
	return out
}

// sysLoop publishes the $SYS/bridge topics, retained, every interval.
func (m *Manager) sysLoop(interval time.Duration) {
	defer m.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-t.C:
		}
		m.publishSys()
	}
}

// publishSys publishes the $SYS topics of every bridge, and clears those of
// removed bridges (an empty retained message), from the sys loop only, so
// that a clear is never overtaken by an older update.
func (m *Manager) publishSys() {
	m.mu.Lock()
	removed := m.removed
	m.removed = nil
	m.mu.Unlock()
	topics := m.SysTopics()
	for _, name := range removed {
		for topic := range sysTopics(Stats{Name: name}) {
			if _, active := topics[topic]; !active {
				topics[topic] = ""
			}
		}
	}
	for topic, payload := range topics {
		if _, err := m.srv.Publish([]byte(topic), []byte(payload), broker.PublishOptions{Retain: true}); err != nil {
			m.log.Warn("could not publish a $SYS topic", "topic", topic, "err", err)
		}
	}
}

func (l *link) drainRate() float64 { return math.Float64frombits(l.rate.Load()) }
