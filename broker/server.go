// Package broker is the MQTT broker core: sessions, the subscription trie,
// routing, QoS 0/1/2 state, retained messages, wills, shared subscriptions
// and $SYS. It knows no socket type: transports hand it net.Conns through
// ServeConn.
package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

// ErrServerClosed is returned by ServeConn after Shutdown.
var ErrServerClosed = errors.New("broker: server closed")

// Server is an MQTT broker. Create it with New, hand it connections with
// ServeConn, stop it with Shutdown.
type Server struct {
	opts   Options
	limits Limits
	log    *slog.Logger
	store  *storage.Store // nil: memory only

	trie        trie
	retained    retainedStore
	msgs        messagePool
	writeStates writeStatePool
	queueMem    queueMemory  // what all sessions' queues hold, for MaxTotalQueuedBytes
	memWarned   atomic.Int64 // when dropForMemory last logged (Unix ns)
	decoders    decoderPool
	readPool    packet.BufferPool

	mu       sync.Mutex
	sessions map[string]*session
	conns    map[*conn]struct{}
	closed   bool

	nconns  atomic.Int64  // open connections, for MaxConnections
	seq     atomic.Uint64 // storage sequence for queued messages
	uid     atomic.Uint64 // session instance ids, for No Local
	stats   stats
	started time.Time

	quit chan struct{} // closed by Shutdown
	wg   sync.WaitGroup
}

// New creates a Server and loads its persisted state. It starts no
// listener; it starts the $SYS publisher when opts.SysInterval > 0.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		opts:     opts,
		limits:   opts.Limits.withDefaults(),
		log:      opts.Logger,
		store:    opts.Store,
		sessions: make(map[string]*session),
		conns:    make(map[*conn]struct{}),
		started:  time.Now(),
		quit:     make(chan struct{}),
	}
	s.retained.init()
	if s.store != nil {
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	if opts.SysInterval > 0 {
		s.wg.Add(1)
		go s.sysLoop(opts.SysInterval)
	}
	return s, nil
}

// ServeConn serves one MQTT connection (TCP, TLS or WebSocket already
// adapted to a net.Conn). It returns at once; the connection is served by
// goroutines owned by the server until it closes or the server shuts down.
// listener names the listener for logs and metrics.
func (s *Server) ServeConn(nc net.Conn, listener string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return ErrServerClosed
	}
	c := newConn(s, nc, listener)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
	return nil
}

// removeConn forgets a closed connection and folds its counters into the
// totals, under the lock that Stats takes, so nothing is counted twice.
func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.stats.closed.add(&c.stats)
	s.mu.Unlock()
}

// Shutdown stops the broker: it closes every connection (v5 clients get
// DISCONNECT "server shutting down"), waits for their goroutines, writes
// what must persist and returns. It does not close the Store.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	for _, sess := range s.sessions {
		sess.stopTimers()
	}
	s.mu.Unlock()
	return nil
}

// Done is closed when Shutdown begins.
func (s *Server) Done() <-chan struct{} { return s.quit }
