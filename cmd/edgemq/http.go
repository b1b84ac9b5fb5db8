package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/config"
	"github.com/edgemq/edgemq/monitor"
	"github.com/edgemq/edgemq/storage"
	"github.com/edgemq/edgemq/transport"
)

// startHTTP starts the metrics, health and status server when http.address
// is set, and returns the function that stops it. listeners are the MQTT
// listeners already open, in the order of cfg.Listeners.
//
// Components not merged yet plug in here: a bridge manager as a
// monitor.Collector, Options.Bridges (its Stats mapped onto
// monitor.BridgeStatus) and, if wanted, a readiness Check; the MQTT-SN
// gateway likewise with Options.Serial. See docs/internals.md, "Metrics".
func startHTTP(cfg *config.Config, srv *broker.Server, store *storage.Store, listeners []transport.Listener, log *slog.Logger) (stop func(), err error) {
	if cfg.HTTP.Address == "" {
		return func() {}, nil
	}
	if cfg.HTTP.Auth {
		// The password file is not supported by this build yet (see
		// unsupported); serving without the auth asked for is not an option.
		return nil, errors.New("http.auth: basic auth needs the password file support, which this build does not have yet")
	}
	ring, limiter := warningsOf(log)
	opts := monitor.Options{
		Address: cfg.HTTP.Address,
		Version: versionString(),
		Broker:  srv,
		Store:   store,
		DataDir: cfg.DataDir,
		Logs:    ring,
		Logger:  log,
	}
	if ring != nil {
		opts.Collectors = append(opts.Collectors, monitor.LogCollector(ring, limiter))
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
	log.Info("http server listening: /metrics, /healthz, /readyz, status page at /", "address", hs.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			log.Error("http server shutdown", "err", err)
		}
	}, nil
}
