// Package monitor is edgemq's HTTP server for operators: /metrics in the
// Prometheus text format, /healthz and /readyz, and a live status page at
// / (one embedded HTML file polling /api/status). It reads the other
// components' Stats snapshots; it owns no counters of its own beyond its
// readiness probe.
package monitor

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/logs"
	"github.com/edgemq/edgemq/storage"
)

//go:embed status.html
var statusPage []byte

// PasswordChecker verifies HTTP basic auth credentials against the
// password file (auth.Authenticator implements it). Verify is called for
// every request that carries credentials, so it should remember recent
// successes rather than run a slow hash each time.
type PasswordChecker interface {
	Verify(user string, password []byte) bool
}

// Options configure a Server.
type Options struct {
	// Address is host:port; an empty host means loopback (127.0.0.1).
	Address string
	// Version is shown on the status page and in edgemq_build_info.
	Version string
	Broker  *broker.Server
	// Store is nil when nothing is persisted.
	Store *storage.Store
	// DataDir, when set, is probed for writability with a small file.
	DataDir string
	// Listeners are the MQTT listeners, shown on the status page.
	Listeners []Listener
	// Auth, when set, requires HTTP basic auth on everything but /healthz.
	Auth PasswordChecker
	// Logs holds the warnings shown on the status page; nil shows none.
	Logs *logs.Ring
	// Collectors write more metric families after the built-in ones
	// (broker, storage, runtime, readiness).
	Collectors []Collector
	// Checks are more readiness conditions (for example bridges
	// connected), after the built-in "broker" and "storage".
	Checks []Check
	// Bridges and Serial give the status page its bridge and serial
	// sections; nil shows "none configured".
	Bridges func() []BridgeStatus
	Serial  func() []SerialStatus
	// ProbeTTL is how long a storage probe result is trusted (2 s).
	ProbeTTL time.Duration
	Logger   *slog.Logger
}

// maxHTTPConns bounds the concurrent HTTP connections: the server is for
// a few operators and one Prometheus, not for the public.
const maxHTTPConns = 16

// Server is the HTTP server. New creates it without listening; Start
// listens; Shutdown stops it.
type Server struct {
	opts         Options
	log          *slog.Logger
	probe        *StorageProbe
	checks       []Check // for /readyz and metrics
	statusChecks []Check // for the status page: storage results up to 10 s old
	collectors   []Collector
	started      time.Time
	handler      http.Handler

	hs *http.Server
	ln net.Listener
	wg sync.WaitGroup

	aliveMu  sync.Mutex
	aliveRun chan struct{} // closed when the running liveness probe ends
}

// New returns a Server for opts. It does not listen.
func New(opts Options) (*Server, error) {
	if opts.Broker == nil {
		return nil, errors.New("monitor: Options.Broker is nil")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: opts.Logger, started: time.Now()}
	s.probe = NewStorageProbe(opts.Store, opts.DataDir, opts.ProbeTTL, opts.Logger)
	brokerCheck := Check{Name: "broker", Func: func(context.Context) error {
		select {
		case <-opts.Broker.Done():
			return errors.New("the broker is shutting down")
		default:
			return nil
		}
	}}
	s.checks = append([]Check{brokerCheck, {Name: "storage", Func: s.probe.Check}}, opts.Checks...)
	s.statusChecks = append([]Check{brokerCheck, {Name: "storage", Func: func(ctx context.Context) error {
		return s.probe.CheckCached(ctx, 10*time.Second)
	}}}, opts.Checks...)

	s.collectors = []Collector{CollectorFunc(s.writeInfo), BrokerCollector(opts.Broker)}
	if opts.Store != nil {
		s.collectors = append(s.collectors, StoreCollector(opts.Store))
	}
	s.collectors = append(s.collectors, RuntimeCollector(s.started), CollectorFunc(s.writeReady))
	s.collectors = append(s.collectors, opts.Collectors...)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.serveStatusPage)
	mux.HandleFunc("GET /api/status", s.serveStatus)
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.HandleFunc("GET /readyz", s.serveReady)
	s.handler = s.withAuth(mux)
	return s, nil
}

// Handler returns the server's handler (routes and auth), for tests and
// for serving on a listener of the caller's.
func (s *Server) Handler() http.Handler { return s.handler }

// ListenAddress returns addr with an empty host replaced by 127.0.0.1: the
// HTTP server is on loopback unless a host is named.
func ListenAddress(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// Start listens on Options.Address and serves until Shutdown.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", ListenAddress(s.opts.Address))
	if err != nil {
		return err
	}
	s.ln = newLimitListener(ln, maxHTTPConns)
	s.hs = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.hs.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "address", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}

// Addr returns the address Start listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting, waits for requests in progress until ctx is
// done, and waits for the server's goroutines.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	if s.hs != nil {
		err = s.hs.Shutdown(ctx)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		s.probe.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	return err
}

// withAuth requires basic auth, when configured, on all but /healthz.
func (s *Server) withAuth(next http.Handler) http.Handler {
	if s.opts.Auth == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		user, pw, ok := r.BasicAuth()
		if ok && s.opts.Auth.Verify(user, []byte(pw)) {
			next.ServeHTTP(w, r)
			return
		}
		if ok {
			s.log.Warn("http: wrong username or password", "remote", r.RemoteAddr, "username", user)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="edgemq", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
	})
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	mw := NewWriter()
	for _, c := range s.collectors {
		c.Collect(mw)
	}
	if err := mw.Err(); err != nil {
		s.log.Error("http: metrics: a collector misbehaved; its family is left out", "err", err)
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(mw.Bytes())
}

// writeInfo writes edgemq_build_info.
func (s *Server) writeInfo(w *Writer) {
	w.Family("edgemq_build_info", Gauge, "The edgemq version running (value 1).")
	w.Sample(1, "version", s.opts.Version)
}

// writeReady writes edgemq_ready, one sample per readiness check.
func (s *Server) writeReady(w *Writer) {
	rd := runChecks(context.Background(), s.checks, 5*time.Second)
	w.Family("edgemq_ready", Gauge, "1 when the readiness check passes, 0 when not (see /readyz for why).")
	for _, c := range rd.Checks {
		v := 0.0
		if c.OK {
			v = 1
		}
		w.Sample(v, "check", c.Name)
	}
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if err := s.alive(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// alive checks that the broker answers: its Stats takes the locks every
// client needs, so a broker locked up fails it. At most one such call is
// outstanding, however many /healthz requests wait.
func (s *Server) alive(ctx context.Context) error {
	s.aliveMu.Lock()
	done := s.aliveRun
	if done == nil {
		done = make(chan struct{})
		s.aliveRun = done
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.opts.Broker.Stats()
			s.aliveMu.Lock()
			s.aliveRun = nil
			s.aliveMu.Unlock()
			close(done)
		}()
	}
	s.aliveMu.Unlock()
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return errors.New("the broker did not answer within 2s")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	rd := runChecks(r.Context(), s.checks, 5*time.Second)
	code := http.StatusOK
	if !rd.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rd)
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.status(r.Context()))
}

func (s *Server) serveStatusPage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Everything is inline; nothing may be loaded from elsewhere.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	w.Write(statusPage)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// limitListener accepts at most n connections at once; Accept waits for
// one to close beyond that.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
