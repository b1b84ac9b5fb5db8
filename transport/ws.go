package transport

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/edgemq/edgemq/internal/ratelog"
)

// Subprotocol is the WebSocket subprotocol of MQTT [MQTT-6.0.0-3]; an
// upgrade request that does not offer it is refused.
const Subprotocol = "mqtt"

// wsListener serves MQTT over WebSocket: an HTTP server whose one path
// upgrades to WebSocket and hands the connection, adapted to net.Conn, to
// the Handler.
type wsListener struct {
	name     string
	path     string
	ln       net.Listener
	srv      *http.Server
	h        Handler
	log      *slog.Logger
	upgrader websocket.Upgrader
	refused  *ratelog.Logger

	done chan struct{} // closed when Serve returns
	once sync.Once
}

// ListenWS listens on a TCP address and serves MQTT over WebSocket on
// path until Close: ws when certs is nil, wss (TLS as ListenTLS) when not.
// name "" becomes "ws:" or "wss:" + address.
//
// An upgrade must offer the "mqtt" subprotocol (else 400 Bad Request and a
// log line); other paths get 404. Any origin is accepted: MQTT credentials,
// not the browser's origin, decide who may connect. The connection carries
// MQTT in binary frames only; a text frame closes it [MQTT-6.0.0-1].
func ListenWS(name, address, path string, certs *Certificates, h Handler, log *slog.Logger) (Listener, error) {
	ln, err := listenTCP(address)
	if err != nil {
		return nil, err
	}
	scheme := "ws"
	if certs != nil {
		scheme = "wss"
		ln = tls.NewListener(ln, certs.Config())
	}
	if name == "" {
		name = scheme + ":" + address
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &wsListener{name: name, path: path, ln: ln, h: h, log: log, done: make(chan struct{})}
	w.refused = &ratelog.Logger{Log: log, Msg: "WebSocket upgrade refused", Every: time.Second}
	w.upgrader = websocket.Upgrader{
		HandshakeTimeout: HandshakeTimeout,
		Subprotocols:     []string{Subprotocol},
		// Reuse the HTTP server's 4 KiB buffers for reading, and share
		// write buffers between connections: an idle connection then
		// holds no write buffer.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true },
		Error:           w.upgradeError,
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, w.serveHTTP)
	w.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: HandshakeTimeout, // also bounds the TLS handshake of wss
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.With("listener", name).Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(w.done)
		if err := w.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("WebSocket listener stopped", "listener", name, "err", err)
		}
	}()
	return w, nil
}

func (w *wsListener) Name() string   { return w.name }
func (w *wsListener) Addr() net.Addr { return w.ln.Addr() }

// Close stops the HTTP server (and connections still in the HTTP
// handshake) and waits for it. Upgraded connections belong to the Handler
// and stay open.
func (w *wsListener) Close() error {
	var err error
	w.once.Do(func() { err = w.srv.Close() })
	<-w.done
	return err
}

func (w *wsListener) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	if !slices.Contains(websocket.Subprotocols(r), Subprotocol) {
		w.refused.Warn("listener", w.name, "remote", r.RemoteAddr, "reason", "no mqtt subprotocol",
			"subprotocols", r.Header.Get("Sec-WebSocket-Protocol"))
		http.Error(rw, "MQTT over WebSocket needs the subprotocol \"mqtt\"", http.StatusBadRequest)
		return
	}
	ws, err := w.upgrader.Upgrade(rw, r, nil)
	if err != nil {
		return // upgradeError answered and logged
	}
	nc := ws.NetConn()
	// The HTTP server's read and write deadlines must not outlive the
	// upgrade: the broker sets its own.
	nc.SetDeadline(time.Time{})
	c := newWSConn(ws, r.TLS)
	// An error means the broker is shutting down; it closed the connection.
	w.h(c, w.name)
}

func (w *wsListener) upgradeError(rw http.ResponseWriter, r *http.Request, status int, reason error) {
	w.refused.Warn("listener", w.name, "remote", r.RemoteAddr, "reason", reason.Error(), "status", status)
	http.Error(rw, http.StatusText(status), status)
}
