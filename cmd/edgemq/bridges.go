package main

import (
	"log/slog"

	"github.com/edgemq/edgemq/bridge"
	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/config"
	"github.com/edgemq/edgemq/storage"
)

// startBridges starts the bridges of cfg on srv. store must be the one srv
// was created with (nil without data_dir).
func startBridges(srv *broker.Server, store *storage.Store, cfg *config.Config, log *slog.Logger) (*bridge.Manager, error) {
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
