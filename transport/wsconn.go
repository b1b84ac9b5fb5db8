package transport

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ErrTextFrame is returned by a WebSocket connection's Read when the peer
// sent a text (or any other non-binary) data frame; the connection is then
// closed [MQTT-6.0.0-1].
var ErrTextFrame = errors.New("websocket: MQTT needs binary frames; got a text frame")

// wsConn adapts a WebSocket connection to net.Conn: the bytes of
// consecutive binary messages form the stream (an MQTT packet may span
// messages and a message may hold several packets [MQTT-6.0.0-2]); each
// Write sends one binary message.
//
// gorilla/websocket allows one concurrent reader and one concurrent
// writer. The broker has one reader, but may write from more than one
// goroutine (a refused CONNECT, a shutdown), so writes are serialized here.
// Write deadlines are kept here and applied under that lock, and also set
// on the socket at once, so that a deadline set to abort a stalled write
// takes effect while the write blocks.
type wsConn struct {
	ws *websocket.Conn
	nc net.Conn

	r       io.Reader // current message
	readErr error     // sticky: gorilla must not be read again after an error

	wmu       sync.Mutex
	dmu       sync.Mutex
	wdeadline time.Time
	closeOnce sync.Once
}

// newWSConn adapts ws; st is the TLS state of a wss connection, nil for ws.
func newWSConn(ws *websocket.Conn, st *tls.ConnectionState) net.Conn {
	c := &wsConn{ws: ws, nc: ws.NetConn()}
	if st != nil {
		return &wssConn{wsConn: c, st: *st}
	}
	return c
}

// wssConn is a wsConn over TLS. Its ConnectionState lets the broker see
// the client certificate.
type wssConn struct {
	*wsConn
	st tls.ConnectionState
}

// ConnectionState returns the TLS state of the connection.
func (c *wssConn) ConnectionState() tls.ConnectionState { return c.st }

// Read reads the payload of binary messages. Close frames end the stream
// with io.EOF.
func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.readErr != nil {
			return 0, c.readErr
		}
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					err = io.EOF
				}
				c.readErr = err
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				c.readErr = ErrTextFrame
				c.closeWith(websocket.CloseUnsupportedData, "MQTT needs binary frames")
				return 0, ErrTextFrame
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			c.readErr = err
		}
		return n, err
	}
}

// Write sends p as one binary message.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.dmu.Lock()
	d := c.wdeadline
	c.dmu.Unlock()
	c.ws.SetWriteDeadline(d)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a close frame (waiting at most a second) and closes the
// socket.
func (c *wsConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		err = c.ws.Close()
	})
	return err
}

func (c *wsConn) closeWith(code int, text string) {
	c.closeOnce.Do(func() {
		c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
		c.ws.Close()
	})
}

func (c *wsConn) LocalAddr() net.Addr  { return c.nc.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

func (c *wsConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.dmu.Lock()
	c.wdeadline = t
	c.dmu.Unlock()
	return c.nc.SetWriteDeadline(t)
}
