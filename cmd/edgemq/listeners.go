package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgemq/edgemq/config"
	"github.com/edgemq/edgemq/transport"
)

// startListeners starts every configured listener, handing connections to
// h, and registers a reload step for the certificates of each tls and wss
// listener. On error it closes those it started.
func startListeners(cfg *config.Config, h transport.Handler, log *slog.Logger, rl *reloader) ([]transport.Listener, error) {
	var started []transport.Listener
	for i, lc := range cfg.Listeners {
		l, err := startListener(i, lc, h, log, rl)
		if err != nil {
			for _, s := range started {
				s.Close()
			}
			return nil, err
		}
		started = append(started, l)
	}
	return started, nil
}

func startListener(i int, lc config.Listener, h transport.Handler, log *slog.Logger, rl *reloader) (transport.Listener, error) {
	key := fmt.Sprintf("listeners[%d]", i)
	var certs *transport.Certificates
	if lc.Type.TLS() {
		var err error
		certs, err = transport.LoadCertificates(transport.TLSFiles{
			CertFile: lc.CertFile, KeyFile: lc.KeyFile, ClientCAFile: lc.ClientCAFile})
		if err != nil {
			var fe *transport.FileError
			if errors.As(err, &fe) {
				return nil, fmt.Errorf("%s.%s: %q: %w", key, fe.Field, fe.Path, fe.Err)
			}
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		warnExpiry(log, lc.Name, certs)
		rl.add(key+" ("+lc.Name+") certificates", func() error {
			if err := certs.Reload(); err != nil {
				return err
			}
			warnExpiry(log, lc.Name, certs)
			return nil
		})
	}
	var l transport.Listener
	var err error
	switch lc.Type {
	case config.ListenerTCP:
		l, err = transport.ListenTCP(lc.Name, lc.Address, h, log)
	case config.ListenerTLS:
		l, err = transport.ListenTLS(lc.Name, lc.Address, certs, h, log)
	case config.ListenerWS, config.ListenerWSS:
		l, err = transport.ListenWS(lc.Name, lc.Address, lc.Path, certs, h, log)
	default:
		err = fmt.Errorf("unknown listener type %q", lc.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", key, lc.Name, err)
	}
	attrs := []any{"listener", l.Name(), "address", l.Addr().String(), "type", string(lc.Type)}
	if lc.Type.WebSocket() {
		attrs = append(attrs, "path", lc.Path)
	}
	if lc.ClientCAFile != "" {
		attrs = append(attrs, "client_certificates", "required")
	}
	log.Info("listening", attrs...)
	return l, nil
}

// warnExpiry warns about a server certificate that has expired or will
// within a week: clients would refuse it.
func warnExpiry(log *slog.Logger, listener string, c *transport.Certificates) {
	leaf := c.Leaf()
	if leaf == nil {
		return
	}
	switch left := time.Until(leaf.NotAfter); {
	case left <= 0:
		log.Error("server certificate has expired: clients will refuse it", "listener", listener, "not_after", leaf.NotAfter)
	case left < 7*24*time.Hour:
		log.Warn("server certificate expires soon", "listener", listener, "not_after", leaf.NotAfter)
	}
}
