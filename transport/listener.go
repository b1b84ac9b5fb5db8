// Package transport holds edgemq's listeners. Each accepts connections and
// hands every one, as a net.Conn, to a Handler (the broker's ServeConn).
// TLS and WebSocket listeners adapt their connections to net.Conn, so the
// broker sees one kind of connection whatever the transport.
package transport

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Handler serves one accepted connection; listener is the listener's name.
// It must not block for long: the broker's ServeConn starts goroutines and
// returns.
type Handler func(nc net.Conn, listener string) error

// Listener is a running listener.
type Listener interface {
	// Name identifies the listener in logs and metrics, e.g. "tcp:0.0.0.0:1883".
	Name() string
	// Addr is the address it listens on (with the real port when :0 was asked).
	Addr() net.Addr
	// Close stops accepting and waits for the accept loop to end. It does
	// not close connections already handed to the Handler.
	Close() error
}

// acceptLoop accepts from l until it is closed, handing each connection to
// h. Temporary errors (out of file descriptors, aborted handshakes) are
// logged at most once a second and retried with a backoff from 5 ms to 1 s,
// so that running out of descriptors neither spins the CPU nor stops the
// listener; existing connections are unaffected.
type acceptLoop struct {
	l    net.Listener
	name string
	h    Handler
	log  *slog.Logger
	wrap func(net.Conn) net.Conn // optional, e.g. tls.Server

	done chan struct{}
	once sync.Once
}

func (a *acceptLoop) run() {
	defer close(a.done)
	var delay time.Duration
	var lastLog time.Time
	var failures int // failed accepts since the last line logged
	for {
		nc, err := a.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else {
				delay = min(2*delay, time.Second)
			}
			failures++
			if now := time.Now(); now.Sub(lastLog) >= time.Second {
				// "failures", not "suppressed": edgemq's log rate limiter
				// adds that key to repeated warnings.
				a.log.Warn("accept failed; retrying", "listener", a.name, "err", err, "retry_in", delay, "failures", failures)
				lastLog, failures = now, 0
			}
			time.Sleep(delay)
			continue
		}
		delay = 0
		if a.wrap != nil {
			nc = a.wrap(nc)
		}
		if err := a.h(nc, a.name); err != nil {
			return // the broker is shutting down
		}
	}
}

func (a *acceptLoop) Name() string   { return a.name }
func (a *acceptLoop) Addr() net.Addr { return a.l.Addr() }

func (a *acceptLoop) Close() error {
	var err error
	a.once.Do(func() { err = a.l.Close() })
	<-a.done
	return err
}

// listenTCP listens on a TCP address without the TCP keep-alive Go turns
// on for every accepted connection (four setsockopt calls each): MQTT has
// its own keep-alive, and connection rate matters on a small gateway.
func listenTCP(address string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(context.Background(), "tcp", address)
}

// ListenTCP listens on a TCP address and serves it with h until Close.
// name "" becomes "tcp:" + address.
func ListenTCP(name, address string, h Handler, log *slog.Logger) (Listener, error) {
	l, err := listenTCP(address)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = "tcp:" + address
	}
	return serve(l, name, h, log, nil), nil
}

func serve(l net.Listener, name string, h Handler, log *slog.Logger, wrap func(net.Conn) net.Conn) *acceptLoop {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &acceptLoop{l: l, name: name, h: h, log: log, wrap: wrap, done: make(chan struct{})}
	go a.run()
	return a
}
