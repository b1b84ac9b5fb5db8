package broker

import (
	"strconv"
	"time"
)

// sysLoop publishes $SYS/broker/... topics, retained, every interval.
func (s *Server) sysLoop(interval time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	s.publishSys()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			s.publishSys()
		}
	}
}

// SysTopics returns the current $SYS/broker values, topic -> payload.
func (s *Server) SysTopics() map[string]string {
	st := s.Stats()
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int) string { return strconv.Itoa(v) }
	m := map[string]string{
		"$SYS/broker/version":                         "edgemq " + s.opts.Version,
		"$SYS/broker/uptime":                          strconv.FormatInt(int64(st.Uptime/time.Second), 10) + " seconds",
		"$SYS/broker/clients/connected":               i(st.ClientsConnected),
		"$SYS/broker/clients/total":                   i(st.Sessions),
		"$SYS/broker/messages/received":               u(st.MessagesReceived),
		"$SYS/broker/messages/sent":                   u(st.MessagesSent),
		"$SYS/broker/messages/dropped":                u(st.DroppedQueueFull + st.DroppedMemory + st.DroppedExpired + st.DroppedTooLarge + st.DroppedNotAllowed),
		"$SYS/broker/messages/dropped/queue_full":     u(st.DroppedQueueFull),
		"$SYS/broker/messages/dropped/memory":         u(st.DroppedMemory),
		"$SYS/broker/queues/memory_bytes":             strconv.FormatInt(st.QueueMemory, 10),
		"$SYS/broker/messages/dropped/expired":        u(st.DroppedExpired),
		"$SYS/broker/messages/dropped/too_large":      u(st.DroppedTooLarge),
		"$SYS/broker/messages/dropped/not_authorized": u(st.DroppedNotAllowed),
		"$SYS/broker/messages/queued":                 i(st.QueuedMessages),
		"$SYS/broker/messages/inflight":               i(st.Inflight),
		"$SYS/broker/bytes/received":                  u(st.BytesReceived),
		"$SYS/broker/bytes/sent":                      u(st.BytesSent),
		"$SYS/broker/retained messages/count":         i(st.Retained),
		"$SYS/broker/subscriptions/count":             i(st.Subscriptions),
	}
	if s.opts.Board != "" {
		m["$SYS/broker/board"] = s.opts.Board
	}
	if s.store != nil {
		ss := s.store.Stats()
		m["$SYS/broker/storage/status"] = "ok"
		if ss.FullReason != "" {
			// A full store refuses QoS 1/2 messages it would have to keep.
			m["$SYS/broker/storage/status"] = "full: " + ss.FullReason
		}
		m["$SYS/broker/storage/size_bytes"] = strconv.FormatInt(ss.SizeBytes, 10)
		if ss.FreeBytes >= 0 {
			m["$SYS/broker/storage/free_bytes"] = strconv.FormatInt(ss.FreeBytes, 10)
		}
	}
	return m
}

func (s *Server) publishSys() {
	for topic, payload := range s.SysTopics() {
		if _, err := s.Publish([]byte(topic), []byte(payload), PublishOptions{Retain: true}); err != nil {
			s.log.Warn("could not publish $SYS topic", "topic", topic, "err", err)
		}
	}
}
