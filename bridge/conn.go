package bridge

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"
)

// Bounds of a bridgeConn's buffers.
const (
	connReadBuffer  = 16 << 10
	connWriteBuffer = 64 << 10 // Write blocks while this much waits
	closeFlushWait  = time.Second
)

var errConnClosed = errors.New("bridge connection closed")

// bridgeConn wraps the network connection paho uses. paho reads each
// packet's header a few bytes at a time and writes each packet with its own
// Write: one system call each, and one TCP segment per PUBLISH on the
// uplink (Go sets TCP_NODELAY). bridgeConn buffers reads, and hands writes
// to a flusher goroutine that writes whatever has accumulated while its
// previous write was in progress: packets are coalesced under load and sent
// at once when idle, without a timer.
//
// A Write returns once its bytes are buffered; an error of the flusher is
// returned by the following Writes. Nothing is lost by that: the bridge
// forgets a message only when the remote acknowledges it. Close flushes
// what is buffered (for a DISCONNECT), for up to a second.
type bridgeConn struct {
	net.Conn
	r *bufio.Reader
	// onPubrel, if set, is called with the packet id of each PUBREL
	// before it is buffered. paho writes each packet with one Write, and
	// a PUBREL is the only 4-byte packet starting 0x62 0x02.
	onPubrel func(id uint16)

	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte // waiting to be written
	spare    []byte
	deadline time.Time // write deadline, applied by the flusher
	err      error
	closed   bool
	done     chan struct{} // closed when the flusher returns
}

func newBridgeConn(nc net.Conn) *bridgeConn {
	c := &bridgeConn{Conn: nc, r: bufio.NewReaderSize(nc, connReadBuffer), done: make(chan struct{})}
	c.cond.L = &c.mu
	go c.flush()
	return c
}

func (c *bridgeConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bridgeConn) Write(p []byte) (int, error) {
	if len(p) == 4 && p[0] == 0x62 && p[1] == 2 && c.onPubrel != nil {
		c.onPubrel(uint16(p[2])<<8 | uint16(p[3]))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closed && len(c.buf) > 0 && len(c.buf)+len(p) > connWriteBuffer {
		c.cond.Wait()
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closed:
		return 0, errConnClosed
	}
	c.buf = append(c.buf, p...)
	c.cond.Broadcast()
	return len(p), nil
}

// SetWriteDeadline sets the deadline of the flusher's writes. Only the
// flusher touches the connection's write side: a WebSocket connection
// allows a single writer, SetWriteDeadline included.
func (c *bridgeConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

// SetDeadline sets the read deadline and the flusher's write deadline.
func (c *bridgeConn) SetDeadline(t time.Time) error {
	c.SetWriteDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

// flush writes what Write buffered until the connection is closed or a
// write fails.
func (c *bridgeConn) flush() {
	defer close(c.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.buf) == 0 && !c.closed {
			c.cond.Wait()
		}
		if len(c.buf) == 0 {
			return // closed and flushed
		}
		out, dl := c.buf, c.deadline
		c.buf, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		err := c.Conn.SetWriteDeadline(dl)
		if err == nil {
			_, err = c.Conn.Write(out)
		}
		c.mu.Lock()
		c.spare = out
		c.cond.Broadcast()
		if err != nil {
			c.err = err
			c.buf = nil
			return
		}
	}
}

// Close flushes what is buffered, for up to a second, and closes the
// connection.
func (c *bridgeConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errConnClosed
	}
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	select {
	case <-c.done:
	case <-time.After(closeFlushWait):
	}
	err := c.Conn.Close()
	<-c.done
	return err
}
