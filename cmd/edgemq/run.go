package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/config"
	"github.com/edgemq/edgemq/storage"
	"github.com/edgemq/edgemq/transport"
)

// shutdownTimeout bounds how long a clean shutdown may take before edgemq
// gives up waiting for connections and closes the store anyway.
const shutdownTimeout = 10 * time.Second

// run serves cfg until ctx is cancelled, then shuts down cleanly.
func run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	hw := newHardware(cfg, log) // board, memory-sized limits, LED, watchdog
	defer hw.stop()
	rl := newReloader(log) // SIGHUP: see reload.go
	defer rl.watch(ctx)()
	var store *storage.Store
	if cfg.DataDir != "" {
		st, err := openStore(cfg, hw.badgerOptions(), log)
		if err != nil {
			return err
		}
		store = st
		defer func() {
			if err := store.Close(); err != nil {
				log.Error("closing storage", "err", err)
			}
		}()
	} else {
		log.Warn("data_dir is empty: nothing is persisted; sessions and retained messages are lost on restart")
	}

	authn, authz, err := newSecurity(cfg, log, rl)
	if err != nil {
		return err
	}
	srv, err := broker.New(broker.Options{
		Logger:      log,
		Store:       store,
		Limits:      brokerLimits(cfg.Limits),
		SysInterval: cfg.SysInterval,
		Version:     versionString(),
		Board:       hw.info.String(),
		Auth:        authn,
		ACL:         authz,
	})
	if err != nil {
		return err
	}
	bridges, err := startBridges(srv, store, cfg, log, rl)
	if err != nil {
		shutdownBroker(srv, log)
		return err
	}
	defer bridges.Close() // on error paths; before the store closes

	var listeners []transport.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	if listeners, err = startListeners(cfg, srv.ServeConn, log, rl); err != nil {
		shutdownBroker(srv, log)
		return err
	}
	_, stopMQTTSN, err := startMQTTSN(cfg, srv, log)
	if err != nil {
		shutdownBroker(srv, log)
		return err
	}
	defer stopMQTTSN() // on early returns; idempotent

	stopHTTP, err := startHTTP(cfg, srv, store, listeners, authn, bridges, log)
	if err != nil {
		shutdownBroker(srv, log)
		return err
	}
	defer stopHTTP()

	hw.serve(cfg.Board, healthCheck(srv.Health, cfg.DataDir), bridgeLinks(bridges))

	<-ctx.Done()
	log.Info("shutting down")
	hw.stop()
	for _, l := range listeners {
		l.Close()
	}
	listeners = nil
	stopMQTTSN()
	shutdownBroker(srv, log)
	// After the broker: every message it accepted was queued.
	bridges.Close()
	log.Info("stopped")
	return nil
}

func shutdownBroker(srv *broker.Server, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown did not finish in time", "timeout", shutdownTimeout, "err", err)
	}
}

func openStore(cfg *config.Config, badger storage.BadgerOptions, log *slog.Logger) (*storage.Store, error) {
	sync, err := storage.ParseSyncMode(string(cfg.Storage.Sync))
	if err != nil {
		return nil, err
	}
	opts := storage.Options{
		Dir:          cfg.DataDir,
		Engine:       string(cfg.Storage.Engine),
		Sync:         sync,
		MaxDiskBytes: int64(cfg.Storage.MaxDiskBytes),
		Logger:       log,
		Badger:       badger,
	}
	eng, err := storage.OpenEngine(opts)
	if err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	log.Info("storage open", "engine", eng.Name(), "data_dir", cfg.DataDir, "sync", string(cfg.Storage.Sync))
	return storage.NewStore(eng, opts), nil
}

func brokerLimits(l config.Limits) broker.Limits {
	return broker.Limits{
		MaxConnections:      l.MaxConnections,
		MaxPacketSize:       int(l.MaxPacketSize),
		MaxInflight:         l.MaxInflight,
		ReceiveMaximum:      l.ReceiveMaximum,
		MaxKeepAlive:        l.MaxKeepalive,
		MaxQueuedMessages:   l.MaxQueuedMessages,
		MaxQueuedBytes:      int(l.MaxQueuedBytes),
		MaxTopicAlias:       l.MaxTopicAlias,
		RetainedMax:         l.RetainedMax,
		MaxTotalQueuedBytes: int64(l.MaxTotalQueuedBytes),
		ConnectTimeout:      l.ConnectTimeout,
	}
}
