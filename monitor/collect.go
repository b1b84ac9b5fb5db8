package monitor

import (
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/logs"
	"github.com/edgemq/edgemq/storage"
)

// Collector writes metric families at scrape time, from a snapshot of its
// component's Stats. A component that exposes metrics (bridge, MQTT-SN
// gateway) keeps its numbers in its own Stats struct; its Collector only
// names them. See docs/internals.md, "Metrics".
type Collector interface {
	Collect(w *Writer)
}

// CollectorFunc adapts a function to Collector.
type CollectorFunc func(w *Writer)

// Collect calls f(w).
func (f CollectorFunc) Collect(w *Writer) { f(w) }

// BrokerCollector writes the broker's counters and gauges.
func BrokerCollector(srv *broker.Server) Collector {
	return CollectorFunc(func(w *Writer) { WriteBrokerStats(w, srv.Stats()) })
}

// WriteBrokerStats writes the families of a broker.Stats snapshot.
func WriteBrokerStats(w *Writer, st broker.Stats) {
	w.Gauge("edgemq_uptime_seconds", "Seconds since the broker started.", st.Uptime.Seconds())
	w.Gauge("edgemq_clients_connected", "MQTT clients connected (CONNECT accepted), all listeners.", float64(st.ClientsConnected))
	w.Family("edgemq_connections", Gauge, "MQTT clients connected, by listener, protocol and protocol version.")
	for _, c := range st.Connections {
		w.Sample(float64(c.Count), "listener", c.Listener, "protocol", "mqtt", "version", c.Version)
	}
	w.Counter("edgemq_connects_total", "CONNECT packets received, accepted or not.", float64(st.ConnectsTotal))
	w.Counter("edgemq_connects_refused_total", "Connections refused: bad credentials, ACL, limits, max_connections.", float64(st.ConnectsRefused))
	w.Counter("edgemq_protocol_errors_total", "Connections closed for malformed packets or protocol violations.", float64(st.ProtocolErrors))
	w.Gauge("edgemq_sessions", "Sessions, connected and persisted.", float64(st.Sessions))
	w.Gauge("edgemq_subscriptions", "Subscriptions, all sessions.", float64(st.Subscriptions))
	w.Gauge("edgemq_retained_messages", "Retained messages kept.", float64(st.Retained))

	qosLabels := [3]string{"0", "1", "2"}
	perQoS := func(name, help string, v [3]uint64) {
		w.Family(name, Counter, help)
		for q, n := range v {
			w.Sample(float64(n), "qos", qosLabels[q])
		}
	}
	perQoS("edgemq_messages_received_total", "PUBLISH packets received from clients, by QoS.", st.MessagesReceivedByQoS)
	perQoS("edgemq_messages_sent_total", "PUBLISH packets sent to clients, by the QoS they were sent with.", st.MessagesSentByQoS)
	perQoS("edgemq_payload_received_bytes_total", "Payload bytes of the PUBLISH packets received, by QoS.", st.PayloadBytesReceivedByQoS)
	perQoS("edgemq_payload_sent_bytes_total", "Payload bytes of the PUBLISH packets sent, by QoS.", st.PayloadBytesSentByQoS)
	w.Counter("edgemq_network_received_bytes_total", "Bytes of all MQTT packets received.", float64(st.BytesReceived))
	w.Counter("edgemq_network_sent_bytes_total", "Bytes of all MQTT packets sent.", float64(st.BytesSent))

	w.Family("edgemq_messages_dropped_total", Counter, "Deliveries dropped, by reason: queue_full (a client's queue was at max_queued_messages or max_queued_bytes), memory (all queues together held max_total_queued_bytes), expired (message expiry passed), not_authorized (ACL), too_large (above the client's maximum packet size).")
	w.Sample(float64(st.DroppedQueueFull), "reason", "queue_full")
	w.Sample(float64(st.DroppedMemory), "reason", "memory")
	w.Sample(float64(st.DroppedExpired), "reason", "expired")
	w.Sample(float64(st.DroppedNotAllowed), "reason", "not_authorized")
	w.Sample(float64(st.DroppedTooLarge), "reason", "too_large")
	w.Counter("edgemq_retained_refused_total", "Retained messages refused because retained_max was reached.", float64(st.RetainedRefused))
	w.Counter("edgemq_publishes_refused_storage_full_total", "QoS 1/2 publishes refused because the store was full and a persistent session or the retained store would have had to keep them.", float64(st.RefusedStoreFull))

	w.Gauge("edgemq_queued_messages", "Messages queued for sessions, beyond the inflight window.", float64(st.QueuedMessages))
	w.Gauge("edgemq_queued_bytes", "Size of the queued messages (topic, payload, properties, overhead).", float64(st.QueuedBytes))
	w.Gauge("edgemq_queue_max_messages", "Messages in the deepest session queue.", float64(st.QueueMaxMessages))
	w.Gauge("edgemq_queue_max_bytes", "Bytes in the largest session queue.", float64(st.QueueMaxBytes))
	w.Gauge("edgemq_queue_memory_bytes", "Estimated memory all queues hold together (an entry per delivery, one copy per message); bounded by max_total_queued_bytes.", float64(st.QueueMemory))
	w.Gauge("edgemq_inflight_messages", "QoS 1 and 2 messages sent and not yet acknowledged, all sessions.", float64(st.Inflight))
}

// StoreCollector writes the storage counters of st.
func StoreCollector(st *storage.Store) Collector {
	engine := st.Engine().Name()
	return CollectorFunc(func(w *Writer) { WriteStoreStats(w, engine, st.Stats()) })
}

// WriteStoreStats writes the families of a storage.Stats snapshot.
func WriteStoreStats(w *Writer, engine string, s storage.Stats) {
	w.Family("edgemq_storage_info", Gauge, "The storage engine in use (value 1).")
	w.Sample(1, "engine", engine)
	w.Gauge("edgemq_storage_size_bytes", "Bytes the storage engine uses on disk, as last measured.", float64(s.SizeBytes))
	w.Counter("edgemq_storage_commits_total", "Batches written successfully (group commit members).", float64(s.Batches))
	w.Counter("edgemq_storage_transactions_total", "Engine transactions (one per commit group).", float64(s.Groups))
	w.Counter("edgemq_storage_ops_total", "Puts and deletes written.", float64(s.Ops))
	w.Counter("edgemq_storage_written_bytes_total", "Key and value bytes written.", float64(s.Bytes))
	w.Counter("edgemq_storage_syncs_total", "Engine writes forced to stable storage.", float64(s.Syncs))
	w.Gauge("edgemq_storage_sync_last_seconds", "Duration of the last synced engine write (write and sync): the commit latency.", s.SyncLast.Seconds())
	w.Gauge("edgemq_storage_sync_max_seconds", "Longest synced engine write since start.", s.SyncMax.Seconds())
	w.Counter("edgemq_storage_errors_total", "Batches that failed with an engine or validation error.", float64(s.Errors))
	w.Counter("edgemq_storage_full_total", "Batches refused because the store is full (max_disk_bytes, or free space below the reserve).", float64(s.Full))
	full := 0.0
	if s.FullReason != "" {
		full = 1
	}
	w.Gauge("edgemq_storage_full", "1 while the store refuses new messages because it is full (see /readyz or $SYS/broker/storage/status for why).", full)
	if s.FreeBytes >= 0 {
		w.Gauge("edgemq_storage_free_bytes", "Free space on the data dir's filesystem, as last measured.", float64(s.FreeBytes))
	}
	if s.ReserveBytes > 0 {
		w.Gauge("edgemq_storage_reserve_bytes", "Free space the store keeps on its filesystem: below it the store is full.", float64(s.ReserveBytes))
	}
	w.Gauge("edgemq_storage_commit_queue", "Batches waiting for the committer.", float64(s.Queued))
}

// LogCollector writes the counts of warnings and errors logged (ring) and
// of repeats held back by the rate limiter (rl, may be nil).
func LogCollector(ring *logs.Ring, rl *logs.RateLimiter) Collector {
	return CollectorFunc(func(w *Writer) {
		warn, errs := ring.Counts()
		w.Family("edgemq_log_messages_total", Counter, "Log records at warning level and above, by level, before rate limiting.")
		w.Sample(float64(warn), "level", "warn")
		w.Sample(float64(errs), "level", "error")
		if rl != nil {
			w.Counter("edgemq_log_suppressed_total", "Repeated warnings held back by the log rate limiter.", float64(rl.Suppressed()))
		}
	})
}

// runtimeSamples are the runtime/metrics read at each scrape. Reading
// them does not stop the world (runtime.ReadMemStats would).
func runtimeSamples() []metrics.Sample {
	return []metrics.Sample{
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/gc/heap/goal:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/sched/gomaxprocs:threads"},
	}
}

// RuntimeCollector writes the Go runtime's and the process's figures: heap,
// goroutines, GC, resident memory, CPU time, file descriptors.
func RuntimeCollector(start time.Time) Collector {
	return CollectorFunc(func(w *Writer) {
		s := runtimeSamples()
		metrics.Read(s)
		v := func(i int) float64 {
			switch s[i].Value.Kind() {
			case metrics.KindUint64:
				return float64(s[i].Value.Uint64())
			case metrics.KindFloat64:
				return s[i].Value.Float64()
			}
			return 0
		}
		w.Family("go_info", Gauge, "The Go version edgemq was built with (value 1).")
		w.Sample(1, "version", runtime.Version())
		w.Gauge("go_goroutines", "Goroutines that currently exist.", v(0))
		w.Gauge("go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects (live and not yet swept).", v(1))
		w.Gauge("go_memstats_sys_bytes", "Bytes of memory mapped by the Go runtime.", v(2))
		w.Gauge("go_gc_heap_goal_bytes", "Heap size target of the next GC cycle.", v(3))
		w.Counter("go_gc_cycles_total", "Completed GC cycles.", v(4))
		w.Counter("go_gc_cpu_seconds_total", "Estimated CPU time spent in the GC.", v(5))
		w.Gauge("go_gomaxprocs", "GOMAXPROCS.", v(6))
		w.Gauge("process_start_time_seconds", "Start time of the process, seconds since the Unix epoch.", float64(start.UnixNano())/1e9)
		writeProcess(w)
	})
}
