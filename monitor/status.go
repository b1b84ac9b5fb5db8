package monitor

import (
	"context"
	"runtime/metrics"
	"time"

	"github.com/edgemq/edgemq/logs"
)

// Status is the body of /api/status, which the status page polls. Counters
// are totals since start; the page computes rates from successive polls.
type Status struct {
	Time          time.Time        `json:"time"`
	Version       string           `json:"version"`
	UptimeSeconds float64          `json:"uptime_seconds"`
	Ready         Readiness        `json:"ready"`
	Clients       int              `json:"clients"`
	Sessions      int              `json:"sessions"`
	Subscriptions int              `json:"subscriptions"`
	Retained      int              `json:"retained"`
	Queued        int              `json:"queued"`
	Inflight      int              `json:"inflight"`
	MessagesIn    uint64           `json:"messages_in"`
	MessagesOut   uint64           `json:"messages_out"`
	BytesIn       uint64           `json:"bytes_in"`
	BytesOut      uint64           `json:"bytes_out"`
	Dropped       uint64           `json:"dropped"`
	Listeners     []ListenerStatus `json:"listeners"`
	Storage       StorageStatus    `json:"storage"`
	Runtime       RuntimeStatus    `json:"runtime"`
	// Bridges and Serial are null when the component is not configured
	// (or not built yet), and then the page says "none configured".
	Bridges  []BridgeStatus `json:"bridges"`
	Serial   []SerialStatus `json:"serial"`
	Warnings []logs.Entry   `json:"warnings"`
}

// Listener describes one MQTT listener for the status page.
type Listener struct {
	Name    string `json:"name"`
	Type    string `json:"type"` // tcp, tls, ws, wss
	Address string `json:"address"`
}

// ListenerStatus is a Listener with its connected clients.
type ListenerStatus struct {
	Listener
	Connections int `json:"connections"`
}

// StorageStatus describes the store.
type StorageStatus struct {
	Engine           string  `json:"engine"` // "memory" without a data dir
	SizeBytes        int64   `json:"size_bytes"`
	SyncLastSeconds  float64 `json:"sync_last_seconds"`
	CommitsTotal     uint64  `json:"commits_total"`
	ErrorsTotal      uint64  `json:"errors_total"`
	WritableError    string  `json:"writable_error,omitempty"`
	Writable         bool    `json:"writable"`
	CommitQueueDepth int     `json:"commit_queue"`
}

// RuntimeStatus is the process's memory and goroutines.
type RuntimeStatus struct {
	HeapBytes     uint64 `json:"heap_bytes"`
	ResidentBytes int64  `json:"resident_bytes"`
	Goroutines    uint64 `json:"goroutines"`
}

// BridgeStatus is one bridge as the status page shows it. The bridge
// package's Stats map onto it in cmd/edgemq.
type BridgeStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// State is "connected", "connecting" or "down".
	State           string  `json:"state"`
	LastError       string  `json:"last_error,omitempty"`
	BacklogMessages int64   `json:"backlog_messages"`
	BacklogBytes    int64   `json:"backlog_bytes"`
	QueueMaxBytes   int64   `json:"queue_max_bytes"`    // the bound of the backlog (queue.max_bytes)
	OldestSeconds   float64 `json:"oldest_age_seconds"` // age of the oldest queued message
	DrainRate       float64 `json:"drain_rate"`         // messages acknowledged by the remote per second, recently
	Sent            uint64  `json:"sent"`
	Acked           uint64  `json:"acked"`
	Dropped         uint64  `json:"dropped"`
}

// SerialStatus is one MQTT-SN serial line and the nodes heard on it.
type SerialStatus struct {
	Device    string       `json:"device"`
	Framing   string       `json:"framing"` // raw, rs485, xbee
	Baud      int          `json:"baud"`
	State     string       `json:"state"` // "open" or "error"
	LastError string       `json:"last_error,omitempty"`
	FramesIn  uint64       `json:"frames_in"`
	FramesOut uint64       `json:"frames_out"`
	Errors    uint64       `json:"errors"` // bad frames, CRC errors, timeouts
	Nodes     []NodeStatus `json:"nodes"`
}

// NodeStatus is one MQTT-SN client on a serial line.
type NodeStatus struct {
	Address  string `json:"address"` // RS-485 node number or XBee address; "" on a point-to-point line
	ClientID string `json:"client_id"`
	// State is the MQTT-SN client state: "active", "asleep", "awake",
	// "lost" (no reply) or "disconnected".
	State           string  `json:"state"`
	LastSeenSeconds float64 `json:"last_seen_seconds"`
}

// status gathers the status page's snapshot.
func (s *Server) status(ctx context.Context) Status {
	st := Status{Time: time.Now(), Version: s.opts.Version}
	st.Ready = runChecks(ctx, s.statusChecks, 2*time.Second)
	if b := s.opts.Broker; b != nil {
		bs := b.Stats()
		st.UptimeSeconds = bs.Uptime.Seconds()
		st.Clients, st.Sessions, st.Subscriptions = bs.ClientsConnected, bs.Sessions, bs.Subscriptions
		st.Retained, st.Queued, st.Inflight = bs.Retained, bs.QueuedMessages, bs.Inflight
		st.MessagesIn, st.MessagesOut = bs.MessagesReceived, bs.MessagesSent
		st.BytesIn, st.BytesOut = bs.BytesReceived, bs.BytesSent
		st.Dropped = bs.DroppedQueueFull + bs.DroppedMemory + bs.DroppedExpired + bs.DroppedNotAllowed + bs.DroppedTooLarge
		for _, l := range s.opts.Listeners {
			ls := ListenerStatus{Listener: l}
			for _, c := range bs.Connections {
				if c.Listener == l.Name {
					ls.Connections += c.Count
				}
			}
			st.Listeners = append(st.Listeners, ls)
		}
	}
	st.Storage = StorageStatus{Engine: "memory", Writable: true}
	if s.opts.Store != nil {
		ss := s.opts.Store.Stats()
		st.Storage = StorageStatus{
			Engine: s.opts.Store.Engine().Name(), SizeBytes: ss.SizeBytes, SyncLastSeconds: ss.SyncLast.Seconds(),
			CommitsTotal: ss.Batches, ErrorsTotal: ss.Errors, CommitQueueDepth: ss.Queued, Writable: true,
		}
	}
	for _, c := range st.Ready.Checks {
		if c.Name == "storage" && !c.OK {
			st.Storage.Writable, st.Storage.WritableError = false, c.Error
		}
	}
	rs := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	metrics.Read(rs)
	st.Runtime.HeapBytes, st.Runtime.Goroutines = rs[0].Value.Uint64(), rs[1].Value.Uint64()
	st.Runtime.ResidentBytes, _ = residentBytes()
	if s.opts.Bridges != nil {
		st.Bridges = nonNil(s.opts.Bridges())
	}
	if s.opts.Serial != nil {
		st.Serial = nonNil(s.opts.Serial())
	}
	st.Warnings = []logs.Entry{}
	if s.opts.Logs != nil {
		st.Warnings = s.opts.Logs.Entries()
	}
	return st
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
