package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

// conn is one network connection. Its reader goroutine (serve) decodes and
// handles packets; its writer goroutine (writeLoop) sends control packets
// and the session's deliveries. Everything the reader alone touches is
// unsynchronized; what both touch is under outMu or the session's lock.
type conn struct {
	srv      *Server
	nc       net.Conn
	listener string
	r        *packet.Reader
	stats    connStats

	// Set while handling CONNECT, before the writer starts; read-only after.
	version   packet.Version
	sess      *session
	info      ClientInfo
	keepAlive time.Duration // read deadline: 1.5x the keep alive, 0 = none
	will      *will
	// What the client told us about itself (v5 CONNECT properties).
	clientMaxPacket  int // 0: no limit beyond the protocol's
	clientReceiveMax int // outbound QoS 1/2 window
	clientAliasMax   int // topic aliases we may send
	problemInfo      bool
	bridge           bool // a mosquitto-style bridge (CONNECT level 0x84): No Local and Retain As Published on all its subscriptions
	connected        atomic.Bool

	// Reader state. The PUBLISH decoder is allocated on the first PUBLISH
	// (subscribers that never publish do without); others are pooled.
	pub          *packet.Publish
	match        matches
	batch        storage.Batch
	aliasIn      [][]byte // inbound topic aliases, index alias-1
	normalExit   bool     // DISCONNECT received without 0x04: no will
	disconnected bool     // DISCONNECT received

	// Output shared by reader, committer callbacks and writer.
	outMu   sync.Mutex
	outCond sync.Cond
	ctrl    []byte        // encoded control packets ready to write
	pending []pendingCtrl // control packets waiting for a storage commit, in order
	closing bool          // no more output; the writer flushes and closes

	// The writer goroutine runs only while there is something to write, so
	// an idle connection costs one goroutine, not two. wmu guards its state.
	wmu      sync.Mutex
	wcond    sync.Cond
	wrunning bool          // a writer goroutine is running
	wagain   bool          // signalled while running: look again before stopping
	wstopped bool          // no writer may start any more (closed, or failed)
	wstarted bool          // CONNACK is queued: deliveries may flow
	wkick    chan struct{} // the lingering writer's wake-up, while it lingers

	// Writer state.
	ws       *writeState // while a writer runs; pooled between runs
	wruns    int         // writer runs so far
	aliasOut map[string]uint16
	pidBatch storage.Batch

	inQoS1Pending atomic.Int32 // inbound QoS 1 publishes waiting for a commit before PUBACK

	rs readState // the read loop's, see readLoop

	shut         atomic.Bool // closeWith ran: the reader must stop
	takenOver    atomic.Bool // another connection took the session over
	resumedByNew atomic.Bool // ... and resumed it (clean start 0)
	closeOnce    sync.Once
}

// pendingCtrl is an encoded control packet waiting for a commit.
type pendingCtrl struct {
	buf   []byte
	ready bool
}

// maxCtrlBytes bounds a connection's unsent control packets. A client that
// floods requests without reading its replies is not read from until its
// writer catches up: back-pressure on that client alone.
const maxCtrlBytes = 64 << 10

func newConn(s *Server, nc net.Conn, listener string) *conn {
	c := &conn{
		srv:      s,
		nc:       nc,
		listener: listener,
		r:        packet.NewPooledReader(nc, s.limits.MaxPacketSize, readBufferSize, &s.readPool),
	}
	c.outCond.L = &c.outMu
	c.wcond.L = &c.wmu
	c.info = ClientInfo{Listener: listener, RemoteAddr: nc.RemoteAddr()}
	return c
}

// readBufferSize is a connection's read buffer while idle; it grows to
// 64 KiB while the client sends faster than we read.
const readBufferSize = 512

// idleWait is how long a wait for input must have lasted for the next one
// to move to a fresh goroutine and park from a shallow stack (see readLoop
// and waitReadable), which costs a goroutine start and a system call. A
// connection whose packets come faster than this does not pay it; one
// whose packets come further apart pays it once per packet, which is
// little next to the wait.
const idleWait = time.Second

// logf logs msg at level with the connection's attributes: client id (once
// known), address, listener, protocol and version, then args. Nothing is
// built when the level is off; no logger is kept per connection (an idle
// connection would pay for it), and no logger is cloned per line (a
// connection storm would).
func (c *conn) logf(level slog.Level, msg string, args ...any) {
	ctx := context.Background()
	if !c.srv.log.Enabled(ctx, level) {
		return
	}
	all := make([]any, 0, 10+len(args))
	if c.connected.Load() {
		all = append(all, "client", c.info.ClientID)
	}
	all = append(all, "remote", c.remote(), "listener", c.listener, "protocol", "mqtt")
	if c.version != 0 {
		all = append(all, "version", c.version.String())
	}
	c.srv.log.Log(ctx, level, msg, append(all, args...)...)
}

func (c *conn) debug(msg string, args ...any)    { c.logf(slog.LevelDebug, msg, args...) }
func (c *conn) logInfo(msg string, args ...any)  { c.logf(slog.LevelInfo, msg, args...) }
func (c *conn) logWarn(msg string, args ...any)  { c.logf(slog.LevelWarn, msg, args...) }
func (c *conn) logError(msg string, args ...any) { c.logf(slog.LevelError, msg, args...) }

// remote is the client's address as text, for logs.
func (c *conn) remote() string {
	if a := c.nc.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// errClose ends the reader loop without a protocol error: a normal
// DISCONNECT, or a takeover.
var errClose = errors.New("connection closed")

func (c *conn) serve() {
	if n := c.srv.nconns.Add(1); n > int64(c.srv.limits.MaxConnections) {
		c.refuseBusy()
		c.srv.nconns.Add(-1)
		c.nc.Close()
		c.srv.removeConn(c)
		c.srv.wg.Done()
		return
	}
	if err := c.handshake(); err != nil {
		c.end(err)
		return
	}
	c.rs.raw = rawConnOf(c.nc)
	c.rs.idle = true
	c.rs.handled = 1 // CONNECT grew this goroutine's stack: idle on a fresh one
	c.readLoop()
}

// end runs once, in the goroutine whose read loop stops: it closes the
// connection and releases what the server counts for it.
func (c *conn) end(err error) {
	c.finish(err)
	c.srv.nconns.Add(-1)
	c.srv.removeConn(c)
	c.srv.wg.Done()
}

// handshake reads and handles CONNECT.
func (c *conn) handshake() error {
	c.nc.SetReadDeadline(time.Now().Add(c.srv.limits.ConnectTimeout))
	h, body, err := c.r.Next()
	if err != nil {
		return c.readErr(err)
	}
	if h.Type != packet.CONNECT {
		// [MQTT-3.1.0-1] The first packet must be CONNECT.
		return &packet.Error{Code: packet.ProtocolError, Packet: h.Type, Msg: "first packet is " + h.Type.String() + ", not CONNECT"}
	}
	c.stats.bytesIn.Add(uint64(len(body)))
	return c.handleConnect(h, body)
}

// readState is the read loop's state, kept in the conn so that the loop
// can move to a new goroutine (see readLoop).
type readState struct {
	raw          syscall.RawConn // the socket, for shallow idle waits; nil if not a socket
	lastDeadline time.Time
	n            int  // packets since the read deadline was last checked
	idle         bool // the last wait for input was long: wait shallowly
	handled      int  // packets handled by this goroutine
}

// readLoop reads and handles packets until the connection ends, then calls
// end.
//
// Memory of idle connections: a goroutine's stack grows while it handles
// packets (to 4 KiB or more) and the runtime practically never shrinks it
// again, and new goroutines start at the average stack size. So before a
// long wait for input, a loop that has handled packets continues on a
// fresh goroutine, which waits from a shallow frame (waitReadable) and
// stays at 2 KiB while the connection idles.
func (c *conn) readLoop() {
	st := &c.rs
	for {
		waiting := c.r.Buffered() == 0
		if c.keepAlive > 0 {
			st.n++
			if st.n >= 64 || waiting {
				st.n = 0
				now := time.Now()
				if now.Sub(st.lastDeadline) > c.keepAlive/6 {
					c.nc.SetReadDeadline(now.Add(c.keepAlive))
					st.lastDeadline = now
					if c.shut.Load() {
						// closeWith's wake-up deadline may just have
						// been overwritten: stop here instead.
						c.end(errClose)
						return
					}
				}
			}
		} else if st.lastDeadline.IsZero() {
			c.nc.SetReadDeadline(time.Time{})
			st.lastDeadline = time.Now()
			if c.shut.Load() {
				c.end(errClose)
				return
			}
		}
		var start time.Time
		if waiting {
			start = time.Now()
			if st.idle && st.raw != nil {
				if st.handled > 0 {
					st.handled = 0
					go c.readLoop()
					return
				}
				if err := waitReadable(st.raw); err != nil {
					c.end(c.readErr(err))
					return
				}
			}
		}
		h, body, err := c.r.Next()
		if err != nil {
			c.end(c.readErr(err))
			return
		}
		if waiting {
			st.idle = time.Since(start) > idleWait
		}
		st.handled++
		c.stats.bytesIn.Add(uint64(len(body)) + 2)
		if err := c.handle(h, body); err != nil {
			c.end(err)
			return
		}
	}
}

func (c *conn) readErr(err error) error {
	c.outMu.Lock()
	closing := c.closing
	c.outMu.Unlock()
	if closing {
		return errClose // we closed it: takeover, shutdown or a failed commit
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		if c.connected.Load() {
			return &packet.Error{Code: packet.KeepAliveTimeout, Msg: "no packet within 1.5x the keep alive"}
		}
		return &packet.Error{Code: packet.MaximumConnectTime, Msg: "no CONNECT within the connect timeout"}
	}
	return err
}

func (c *conn) handle(h packet.Header, body []byte) error {
	switch h.Type {
	case packet.PUBLISH:
		return c.handlePublish(h, body)
	case packet.PUBACK, packet.PUBREC, packet.PUBREL, packet.PUBCOMP:
		var a packet.Ack
		if err := a.Decode(h, body, c.version); err != nil {
			return err
		}
		return c.handleAck(&a)
	case packet.SUBSCRIBE:
		p := c.srv.decoders.subscribe()
		defer c.srv.decoders.putSubscribe(p)
		if err := p.Decode(h, body, c.version); err != nil {
			return err
		}
		return c.handleSubscribe(p)
	case packet.UNSUBSCRIBE:
		p := c.srv.decoders.unsubscribe()
		defer c.srv.decoders.putUnsubscribe(p)
		if err := p.Decode(h, body, c.version); err != nil {
			return err
		}
		return c.handleUnsubscribe(p)
	case packet.PINGREQ:
		if h.Remaining != 0 {
			return &packet.Error{Code: packet.MalformedPacket, Packet: h.Type, Msg: "PINGREQ with a body"}
		}
		return c.appendCtrl(packet.AppendPingresp)
	case packet.DISCONNECT:
		var d packet.Disconnect
		if err := d.Decode(h, body, c.version); err != nil {
			return err
		}
		return c.handleDisconnect(&d)
	case packet.CONNECT:
		// [MQTT-3.1.0-2] A second CONNECT is a protocol violation.
		return &packet.Error{Code: packet.ProtocolError, Packet: h.Type, Msg: "second CONNECT on one connection"}
	case packet.AUTH:
		return &packet.Error{Code: packet.ProtocolError, Packet: h.Type, Msg: "AUTH without an authentication method"}
	default:
		return &packet.Error{Code: packet.ProtocolError, Packet: h.Type, Msg: h.Type.String() + " is not sent by clients"}
	}
}

func (c *conn) handleDisconnect(d *packet.Disconnect) error {
	if c.version == packet.V5 && d.Props.Has(packet.PropSessionExpiry) {
		sess := c.sess
		sess.mu.Lock()
		was := sess.expiry
		if was == 0 && d.Props.SessionExpiry != 0 {
			sess.mu.Unlock()
			// [MQTT-3.14.2-2]
			return &packet.Error{Code: packet.ProtocolError, Packet: packet.DISCONNECT, Msg: "session expiry set at DISCONNECT after 0 at CONNECT"}
		}
		sess.expiry = d.Props.SessionExpiry
		sess.mu.Unlock()
	}
	// [MQTT-3.14.4-3] A normal DISCONNECT discards the will; 0x04 keeps it.
	c.normalExit = d.Code != packet.DisconnectWithWill
	c.disconnected = true
	return errClose
}

// appendCtrl queues a control packet, encoded by enc straight into the
// output buffer, after any that wait for a commit, blocking while the client
// has too many unsent replies.
func (c *conn) appendCtrl(enc func(dst []byte) []byte) error {
	c.outMu.Lock()
	for len(c.ctrl) > maxCtrlBytes && !c.closing {
		c.outCond.Wait()
	}
	if c.closing {
		c.outMu.Unlock()
		return errClose
	}
	if len(c.pending) > 0 {
		c.pending = append(c.pending, pendingCtrl{buf: enc(nil), ready: true})
	} else {
		c.ctrl = enc(c.ctrl)
	}
	c.outMu.Unlock()
	c.signal()
	return nil
}

// sendAfterCommit hands b to the store and queues the control packet that
// enc encodes once the batch is durable (err nil) or has failed (err set),
// keeping replies in order [MQTT-4.6.0-2]. When enc returns nil for a
// failure, nothing is sent and the connection is closed. b is emptied.
func (c *conn) sendAfterCommit(b *storage.Batch, enc func(dst []byte, err error) []byte) error {
	c.outMu.Lock()
	if c.closing {
		c.outMu.Unlock()
		// Nobody will be acknowledged, but what routing added to b
		// (persistent sessions' queues, bridge queues waiting for the
		// batch's OnDone) is in memory already: write it all the same.
		ops := *b
		*b = storage.Batch{}
		c.srv.commitAsync(&ops)
		return errClose
	}
	c.pending = append(c.pending, pendingCtrl{})
	c.outMu.Unlock()
	ops := *b
	*b = storage.Batch{} // the committer owns the ops now
	c.srv.store.Commit(&ops, func(err error) {
		out := enc(nil, err)
		c.outMu.Lock()
		// Commits complete in submission order, so ours is the first
		// entry not yet ready.
		for i := range c.pending {
			if !c.pending[i].ready {
				c.pending[i] = pendingCtrl{buf: out, ready: true}
				break
			}
		}
		c.flushPendingLocked()
		c.outMu.Unlock()
		if err != nil && out == nil {
			c.closeWith(nil)
			return
		}
		c.signal()
	})
	return nil
}

// flushPendingLocked moves the ready prefix of pending into ctrl.
func (c *conn) flushPendingLocked() {
	i := 0
	for ; i < len(c.pending) && c.pending[i].ready; i++ {
		c.ctrl = append(c.ctrl, c.pending[i].buf...)
		c.pending[i] = pendingCtrl{}
	}
	if i > 0 {
		c.pending = append(c.pending[:0], c.pending[i:]...)
	}
}

// signal makes the writer look for work, starting it if it is not running.
func (c *conn) signal() {
	c.wmu.Lock()
	switch {
	case c.wrunning:
		c.wagain = true
		if c.wkick != nil {
			select {
			case c.wkick <- struct{}{}:
			default:
			}
		}
	case c.wstarted && !c.wstopped:
		c.wrunning = true
		go c.writeLoop()
	}
	c.wmu.Unlock()
}

// startWriter lets the writer run (CONNACK is queued) and starts it.
// It starts a writer goroutine only if something waits: a control packet,
// queued messages or an inflight window to resend.
func (c *conn) startWriter() {
	c.wmu.Lock()
	c.wstarted = true
	c.wmu.Unlock()
	c.outMu.Lock()
	pending := len(c.ctrl) > 0 || c.closing
	c.outMu.Unlock()
	sess := c.sess
	sess.mu.Lock()
	pending = pending || sess.q.len() > 0 || sess.resend
	sess.mu.Unlock()
	if pending {
		c.signal()
	}
}

// stopWriter forbids new writer runs and waits for a running one.
func (c *conn) stopWriter() {
	c.wmu.Lock()
	c.wstopped = true
	if c.wkick != nil {
		select {
		case c.wkick <- struct{}{}:
		default:
		}
	}
	for c.wrunning {
		c.wcond.Wait()
	}
	c.wmu.Unlock()
}

// writerIdle ends a writer run unless it was signalled meanwhile; it
// reports whether the writer must look again.
func (c *conn) writerIdle(failed bool) (again bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if failed {
		c.wstopped = true
	} else if c.wagain {
		c.wagain = false
		return true
	}
	c.wrunning = false
	c.wcond.Broadcast()
	return false
}

// refuseBusy answers a connection over MaxConnections with CONNACK
// "server busy" (v5) or "server unavailable" (3.1.1), then closes it.
func (c *conn) refuseBusy() {
	c.srv.stats.connectsRefused.Add(1)
	c.nc.SetDeadline(time.Now().Add(2 * time.Second))
	h, body, err := c.r.Next()
	code, v := packet.ServerUnavailable, packet.V311
	if err == nil && h.Type == packet.CONNECT {
		var p packet.Connect
		if p.Decode(h, body) == nil && p.Version == packet.V5 {
			v, code = packet.V5, packet.ServerBusy
		}
	}
	if v != packet.V5 {
		code = packet.V3ServerUnavailable
	}
	ack := packet.Connack{Code: code}
	c.nc.Write(ack.Append(nil, v))
	c.logWarn("connection refused: max_connections reached", "max_connections", c.srv.limits.MaxConnections)
}

// shutdown is called by Server.Shutdown: v5 clients get DISCONNECT
// "server shutting down", then the connection closes.
func (c *conn) shutdown() {
	if c.connected.Load() && c.version == packet.V5 {
		d := packet.Disconnect{Code: packet.ServerShuttingDown}
		c.closeWith(d.Append(nil, c.version))
		return
	}
	c.closeWith(nil)
}

// closeWith queues last (a DISCONNECT, or nil), stops further output and
// makes the writer flush and close the socket. Safe from any goroutine.
func (c *conn) closeWith(last []byte) {
	c.closeOnce.Do(func() {
		c.outMu.Lock()
		c.flushPendingLocked()
		c.ctrl = append(c.ctrl, last...)
		c.closing = true
		c.outCond.Broadcast()
		c.outMu.Unlock()
		c.shut.Store(true) // before the wake-up deadline below: see readLoop
		c.wmu.Lock()
		started := c.wstarted && !c.wstopped
		c.wmu.Unlock()
		// A stalled client must not hold the close up for long.
		c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if started {
			c.signal()
		} else {
			if len(last) > 0 {
				c.nc.Write(last)
			}
			c.nc.Close()
		}
		// Unblock the reader.
		c.nc.SetReadDeadline(time.Now())
	})
}

// finish runs when the reader ends: it logs why, sends a v5 DISCONNECT for
// protocol errors, detaches from the session (will, expiry) and waits for
// the writer.
func (c *conn) finish(err error) {
	var pe *packet.Error
	var code packet.ReasonCode
	switch {
	case errors.Is(err, errClose):
		if c.normalExit || c.disconnected {
			reason := "DISCONNECT"
			if !c.normalExit {
				reason = "DISCONNECT with will"
			}
			c.logInfo("client disconnected", "reason", reason, "will", !c.normalExit && c.will != nil)
		}
	case errors.As(err, &pe):
		code = pe.Code
		c.srv.stats.protocolErrors.Add(1)
		if code == packet.KeepAliveTimeout || code == packet.MaximumConnectTime {
			c.logInfo("closing connection", "reason", pe.Error())
		} else {
			c.logWarn("closing connection: bad input", "err", pe.Error())
		}
	case errors.As(err, &code):
		c.logWarn("closing connection", "reason", code.String())
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		if c.connected.Load() && !c.takenOver.Load() {
			c.logInfo("client disconnected", "reason", "connection closed without DISCONNECT", "will", c.will != nil)
		}
	default:
		if !c.takenOver.Load() {
			c.logInfo("connection lost", "reason", "network error", "err", err.Error())
		}
	}
	var last []byte
	if code != 0 && c.connected.Load() && c.version == packet.V5 && !c.takenOver.Load() {
		d := packet.Disconnect{Code: code}
		if pe != nil && c.problemInfo {
			d.Props.ReasonString = []byte(pe.Error())
		}
		last = d.Append(nil, c.version)
	}
	c.closeWith(last)
	c.stopWriter()
	c.nc.Close()
	c.r.Release()
	if c.sess != nil {
		c.srv.detach(c)
	}
}

// decoderPool recycles the decoders of packets a connection sends rarely.
type decoderPool struct {
	subs, unsubs sync.Pool
}

func (d *decoderPool) subscribe() *packet.Subscribe {
	if p, ok := d.subs.Get().(*packet.Subscribe); ok {
		return p
	}
	return new(packet.Subscribe)
}

func (d *decoderPool) putSubscribe(p *packet.Subscribe) { d.subs.Put(p) }

func (d *decoderPool) unsubscribe() *packet.Unsubscribe {
	if p, ok := d.unsubs.Get().(*packet.Unsubscribe); ok {
		return p
	}
	return new(packet.Unsubscribe)
}

func (d *decoderPool) putUnsubscribe(p *packet.Unsubscribe) { d.unsubs.Put(p) }
