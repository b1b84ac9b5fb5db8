package main

import (
	"log/slog"

	"github.com/edgemq/edgemq/bridge"
	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/config"
	"github.com/edgemq/edgemq/monitor"
	"github.com/edgemq/edgemq/storage"
)

// startBridges starts the bridges of cfg on srv. store must be the one srv
// was created with (nil without data_dir). On SIGHUP (rl) the bridges are
// read again from the config file.
func startBridges(srv *broker.Server, store *storage.Store, cfg *config.Config, log *slog.Logger, rl *reloader) (*bridge.Manager, error) {
	m, err := bridge.NewManager(bridge.Options{
		Server:      srv,
		Store:       store,
		Logger:      log,
		SysInterval: cfg.SysInterval,
	})
	if err != nil {
		return nil, err
	}
	if err := m.Apply(bridgeConfigs(cfg)); err != nil {
		m.Close()
		return nil, err
	}
	if file := cfg.File(); file != "" {
		rl.add("bridges", func() error {
			nc, err := config.Load(file)
			if err != nil {
				return err
			}
			return reloadBridges(m, nc)
		})
	}
	return m, nil
}

// reloadBridges applies the bridges of a reloaded config (SIGHUP): added,
// removed and changed bridges are (re)connected, the others keep running,
// and a bridge that keeps its name keeps its queue. On error nothing
// changed.
func reloadBridges(m *bridge.Manager, cfg *config.Config) error {
	return m.Apply(bridgeConfigs(cfg))
}

// bridgeConfigs turns the bridges section of cfg into bridge.Configs.
func bridgeConfigs(cfg *config.Config) []bridge.Config {
	out := make([]bridge.Config, 0, len(cfg.Bridges))
	for _, b := range cfg.Bridges {
		c := bridge.Config{
			Name:               b.Name,
			Address:            b.Address,
			ClientID:           b.ClientID,
			Username:           b.Username,
			Password:           b.Password,
			CAFile:             b.CAFile,
			CertFile:           b.CertFile,
			KeyFile:            b.KeyFile,
			ALPN:               b.ALPN,
			InsecureSkipVerify: b.InsecureSkipVerify,
			CleanSession:       b.CleanSession,
			Keepalive:          b.Keepalive,
			MaxBytes:           int64(b.Queue.MaxBytes),
			Overflow:           bridge.Overflow(b.Queue.Overflow),
			BackoffMin:         b.Backoff.Min,
			BackoffMax:         b.Backoff.Max,
		}
		for _, t := range b.Topics {
			c.Rules = append(c.Rules, bridge.Rule{
				Pattern:      t.Pattern,
				Direction:    bridge.Direction(t.Direction),
				QoS:          byte(t.QoS),
				LocalPrefix:  t.LocalPrefix,
				RemotePrefix: t.RemotePrefix,
				Rewrite:      t.Rewrite,
				Retain:       bridge.RetainMode(t.Retain),
			})
		}
		out = append(out, c)
	}
	return out
}

// bridgeCollector writes the bridges' metric families
// (docs/observability.md).
func bridgeCollector(m *bridge.Manager) monitor.Collector {
	return monitor.CollectorFunc(func(w *monitor.Writer) {
		st := m.Stats()
		family := func(name string, kind monitor.Kind, help string, v func(s *bridge.Stats) float64) {
			w.Family(name, kind, help)
			for i := range st {
				w.Sample(v(&st[i]), "bridge", st[i].Name)
			}
		}
		family("edgemq_bridge_up", monitor.Gauge, "1 when the bridge is connected to its remote broker.",
			func(s *bridge.Stats) float64 { return b2f(s.State == bridge.LinkUp) })
		family("edgemq_bridge_backlog_messages", monitor.Gauge, "Messages queued for the remote broker, in flight included (QoS 0 ring too).",
			func(s *bridge.Stats) float64 { return float64(s.Queued + s.RingQueued) })
		family("edgemq_bridge_backlog_bytes", monitor.Gauge, "Bytes of the queued messages (keys and values in storage, and the QoS 0 ring).",
			func(s *bridge.Stats) float64 { return float64(s.QueuedBytes + int64(s.RingBytes)) })
		family("edgemq_bridge_queue_max_bytes", monitor.Gauge, "The bound of the queue (queue.max_bytes).",
			func(s *bridge.Stats) float64 { return float64(s.QueueMaxBytes) })
		family("edgemq_bridge_inflight_messages", monitor.Gauge, "Messages sent and not yet acknowledged by the remote broker.",
			func(s *bridge.Stats) float64 { return float64(s.Inflight) })
		family("edgemq_bridge_oldest_age_seconds", monitor.Gauge, "Age of the oldest queued message.",
			func(s *bridge.Stats) float64 { return s.OldestAge.Seconds() })
		family("edgemq_bridge_drain_rate", monitor.Gauge, "Messages acknowledged by the remote broker per second, over the last second.",
			func(s *bridge.Stats) float64 { return s.DrainRate })
		family("edgemq_bridge_connects_total", monitor.Counter, "Connections established to the remote broker.",
			func(s *bridge.Stats) float64 { return float64(s.Connects) })
		family("edgemq_bridge_connect_failures_total", monitor.Counter, "Connection attempts that failed and connections that broke.",
			func(s *bridge.Stats) float64 { return float64(s.ConnectFailures) })
		family("edgemq_bridge_messages_enqueued_total", monitor.Counter, "Messages accepted into the bridge's queue.",
			func(s *bridge.Stats) float64 { return float64(s.Enqueued) })
		family("edgemq_bridge_messages_sent_total", monitor.Counter, "Messages sent to the remote broker (first sends).",
			func(s *bridge.Stats) float64 { return float64(s.Sent) })
		family("edgemq_bridge_messages_resent_total", monitor.Counter, "Messages sent again after a reconnection.",
			func(s *bridge.Stats) float64 { return float64(s.Resent) })
		family("edgemq_bridge_messages_acked_total", monitor.Counter, "Messages acknowledged by the remote broker and removed from the queue.",
			func(s *bridge.Stats) float64 { return float64(s.Acked) })
		family("edgemq_bridge_messages_received_total", monitor.Counter, "Messages received from the remote broker and published locally.",
			func(s *bridge.Stats) float64 { return float64(s.Received) })
		w.Family("edgemq_bridge_messages_dropped_total", monitor.Counter, "Messages the bridge dropped or could not keep, by reason: "+
			"overflow (queue.max_bytes), ring (QoS 0 memory ring full), not_stored (the publisher's commit failed; it was not acknowledged), "+
			"corrupt (damaged record found in storage), lost (stored entry missing), inbound (refused by the local broker).")
		for _, s := range st {
			for _, r := range []struct {
				reason string
				n      uint64
			}{{"overflow", s.DroppedQueue}, {"ring", s.DroppedRing}, {"not_stored", s.NotStored},
				{"corrupt", s.Corrupt}, {"lost", s.Lost}, {"inbound", s.InboundDropped}} {
				w.Sample(float64(r.n), "bridge", s.Name, "reason", r.reason)
			}
		}
	})
}

// bridgeStatuses maps the bridges' Stats onto the status page; nil (shown
// as "none configured") when there are none.
func bridgeStatuses(m *bridge.Manager) []monitor.BridgeStatus {
	st := m.Stats()
	var out []monitor.BridgeStatus
	for _, s := range st {
		state := s.State.String()
		if s.State == bridge.LinkUp {
			state = "connected"
		}
		out = append(out, monitor.BridgeStatus{
			Name: s.Name, Address: s.Address, State: state, LastError: s.LastError,
			BacklogMessages: int64(s.Queued + s.RingQueued), BacklogBytes: s.QueuedBytes + int64(s.RingBytes),
			QueueMaxBytes: s.QueueMaxBytes, OldestSeconds: s.OldestAge.Seconds(), DrainRate: s.DrainRate,
			Sent: s.Sent, Acked: s.Acked, Dropped: s.Dropped,
		})
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
