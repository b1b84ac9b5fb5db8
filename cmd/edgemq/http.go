package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/edgemq/edgemq/auth"
	"github.com/edgemq/edgemq/bridge"
	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/config"
	"github.com/edgemq/edgemq/monitor"
	"github.com/edgemq/edgemq/storage"
	"github.com/edgemq/edgemq/transport"
)

// The password file's Authenticator checks HTTP basic auth.
var _ monitor.PasswordChecker = (*auth.Authenticator)(nil)

// startHTTP starts the metrics, health and status server when http.address
// is set, and returns the function that stops it. listeners are the MQTT
// listeners already open, in the order of cfg.Listeners; authn is the
// broker's Authenticator, whose password file http.auth checks against;
// bridges gives the bridge metrics and status (bridges.go).
//
// Components not merged yet plug in here: the MQTT-SN gateway as a
// monitor.Collector and with Options.Serial. See docs/internals.md,
// "Metrics".
func startHTTP(cfg *config.Config, srv *broker.Server, store *storage.Store, listeners []transport.Listener,
	authn broker.Authenticator, bridges *bridge.Manager, log *slog.Logger) (stop func(), err error) {
	if cfg.HTTP.Address == "" {
		return func() {}, nil
	}
	var checker monitor.PasswordChecker
	if cfg.HTTP.Auth {
		pc, ok := authn.(monitor.PasswordChecker)
		if !ok || cfg.Auth.PasswordFile == "" {
			// Config validation requires the password file; never serve
			// without the authentication asked for.
			return nil, errors.New("http.auth: needs auth.password_file")
		}
		checker = pc
	}
	ring, limiter := warningsOf(log)
	opts := monitor.Options{
		Address: cfg.HTTP.Address,
		Version: versionString(),
		Broker:  srv,
		Store:   store,
		DataDir: cfg.DataDir,
		Auth:    checker,
		Logs:    ring,
		Logger:  log,
	}
	if ring != nil {
		opts.Collectors = append(opts.Collectors, monitor.LogCollector(ring, limiter))
	}
	if bridges != nil {
		opts.Collectors = append(opts.Collectors, bridgeCollector(bridges))
		opts.Bridges = func() []monitor.BridgeStatus { return bridgeStatuses(bridges) }
	}
	for i, l := range listeners {
		opts.Listeners = append(opts.Listeners, monitor.Listener{
			Name: l.Name(), Type: string(cfg.Listeners[i].Type), Address: l.Addr().String(),
		})
	}
	hs, err := monitor.New(opts)
	if err != nil {
		return nil, err
	}
	if err := hs.Start(); err != nil {
		return nil, fmt.Errorf("http.address %s: %w", cfg.HTTP.Address, err)
	}
	log.Info("http server listening: /metrics, /healthz, /readyz, status page at /", "address", hs.Addr().String(),
		"basic_auth", checker != nil)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			log.Error("http server shutdown", "err", err)
		}
	}, nil
}
