package transport

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/edgemq/edgemq/internal/ratelog"
)

// HandshakeTimeout bounds a TLS handshake, counted from the accept.
const HandshakeTimeout = 10 * time.Second

// maxHandshakes bounds the TLS handshakes in progress on one listener.
// Beyond it new connections are closed at once (logged, rate-limited), so
// that a flood of half-open connections costs a bounded number of
// goroutines and descriptors; the accept loop itself never waits.
const maxHandshakes = 256

// tlsListener accepts TCP connections and runs each TLS handshake in a
// goroutine of its own, with a deadline, before handing the connection to
// the Handler. A failed handshake is logged and closed; it affects nobody
// else.
type tlsListener struct {
	*acceptLoop
	certs  *Certificates
	h      Handler
	log    *slog.Logger
	ctx    context.Context // cancelled by Close: aborts handshakes
	cancel context.CancelFunc
	wg     sync.WaitGroup // handshake goroutines
	slots  chan struct{}  // cap maxHandshakes
	fails  *ratelog.Logger
}

// ListenTLS listens on a TCP address and serves TLS with certs (TLS 1.2 or
// newer; client certificates required when certs has client CAs) until
// Close. name "" becomes "tls:" + address. Handshakes run in their own
// goroutines with HandshakeTimeout; the handler gets a *tls.Conn whose
// handshake is complete.
func ListenTLS(name, address string, certs *Certificates, h Handler, log *slog.Logger) (Listener, error) {
	l, err := listenTCP(address)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = "tls:" + address
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &tlsListener{certs: certs, h: h, log: log, slots: make(chan struct{}, maxHandshakes)}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.fails = &ratelog.Logger{Log: log, Msg: "TLS handshake failed", Every: time.Second}
	t.acceptLoop = serve(l, name, t.accept, log, nil)
	return t, nil
}

// accept runs in the accept loop: it must not block.
func (t *tlsListener) accept(nc net.Conn, _ string) error {
	select {
	case t.slots <- struct{}{}:
	default:
		nc.Close()
		t.fails.Warn("listener", t.name, "remote", nc.RemoteAddr().String(),
			"err", "too many TLS handshakes in progress", "max", maxHandshakes)
		return nil
	}
	t.wg.Add(1)
	go t.handshake(nc)
	return nil
}

func (t *tlsListener) handshake(nc net.Conn) {
	defer t.wg.Done()
	defer func() { <-t.slots }()
	tc := tls.Server(nc, t.certs.Config())
	nc.SetDeadline(time.Now().Add(HandshakeTimeout))
	ctx, cancel := context.WithTimeout(t.ctx, HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		nc.Close()
		t.fails.Warn("listener", t.name, "remote", nc.RemoteAddr().String(), "err", err.Error())
		return
	}
	nc.SetDeadline(time.Time{})
	// An error means the broker is shutting down; it closed the connection.
	t.h(tc, t.name)
}

// Close stops accepting, aborts the handshakes in progress and waits for
// their goroutines. Connections already handed to the Handler stay open.
func (t *tlsListener) Close() error {
	err := t.acceptLoop.Close()
	t.cancel()
	t.wg.Wait()
	return err
}
