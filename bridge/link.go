package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/edgemq/edgemq/broker"
)

// LinkState is the state of a bridge's connection to its remote broker.
type LinkState int32

// Link states.
const (
	LinkDown       LinkState = iota // not connected; waiting before the next attempt
	LinkConnecting                  // dialling, TLS, CONNECT, resending, subscribing
	LinkUp                          // connected: messages flow
)

func (s LinkState) String() string {
	switch s {
	case LinkDown:
		return "down"
	case LinkConnecting:
		return "connecting"
	case LinkUp:
		return "up"
	}
	return fmt.Sprintf("LinkState(%d)", int32(s))
}

// Timings of a link.
const (
	// stableAfter is how long a connection must have lasted for the next
	// reconnection to start again from the shortest backoff.
	stableAfter = 10 * time.Second
	// progressEvery is the period of the "draining" log line.
	progressEvery = 5 * time.Second
	// progressMin is the backlog under which no progress is logged.
	progressMin = 1000
	// ringBurst is how many QoS 0 messages are sent between two looks at
	// the rest.
	ringBurst = 256
)

var errStopped = errors.New("bridge stopped")

// link is one bridge's connection to its remote broker: a goroutine that
// connects with paho (its automatic reconnection off), resends what is in
// flight, subscribes the inbound rules, then sends the queue through an
// inflight window until the connection breaks; then it waits (exponential
// backoff with jitter, capped) and starts again. It owns retries and
// order; paho only carries packets.
type link struct {
	cfg   Config
	rules []*rule
	tls   *tls.Config
	srv   *broker.Server
	q     *queue
	sess  *session
	log   *slog.Logger
	proto uint // 4, or 0x84 (bridge flag) when a rule is "both"

	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	senders sync.WaitGroup // see sender
	kick    chan error     // the inbound side asks for a reconnection

	mu   sync.Mutex
	conn net.Conn // the current network connection, closed on stop
	err  string   // last connection error

	state    atomic.Int32
	upSince  atomic.Int64  // Unix nanoseconds of the last LinkUp
	rate     atomic.Uint64 // float64 bits: messages acknowledged per second
	counters *linkCounters // shared by the links of one bridge across reloads
	inErrs   rateLog
}

// linkCounters count since the link was created.
type linkCounters struct {
	connects, failures, sent, resent, received, inDropped atomic.Uint64
}

func newLink(cfg Config, rules []*rule, tlsCfg *tls.Config, srv *broker.Server, q *queue, counters *linkCounters, log *slog.Logger) *link {
	l := &link{cfg: cfg, rules: rules, tls: tlsCfg, srv: srv, q: q, sess: newSession(q), log: log, counters: counters,
		proto: 4, done: make(chan struct{}), kick: make(chan error, 1), inErrs: rateLog{every: 10 * time.Second}}
	for _, r := range rules {
		if r.Direction == Both {
			// mosquitto and EMQX do not echo a bridge's own messages back
			// to it when it connects with the bridge flag (try_private).
			l.proto = 0x84
		}
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l
}

func (l *link) start() { go l.run() }

// stop ends the link and waits for its goroutine; entries in flight go back
// to the queue.
func (l *link) stop() {
	l.cancel()
	l.closeConn()
	<-l.done
	l.sess.forget()
	l.q.requeue()
}

func (l *link) run() {
	defer close(l.done)
	defer l.waitSenders()
	attempt := 0
	l.prepareResume()
	for {
		l.state.Store(int32(LinkConnecting))
		c, v, lost, err := l.connect()
		if err == nil {
			l.counters.connects.Add(1)
			l.counters.resent.Add(uint64(l.sess.takeResumed()))
			l.upSince.Store(time.Now().UnixNano())
			l.state.Store(int32(LinkUp))
			l.log.Info("bridge connected", "bridge", l.cfg.Name, "address", l.cfg.Address)
			start := time.Now()
			err = l.serve(c, v, lost)
			c.Disconnect(100)
			if time.Since(start) >= stableAfter {
				attempt = 0
			}
		}
		l.state.Store(int32(LinkDown))
		l.rate.Store(0)
		if l.ctx.Err() != nil {
			return
		}
		l.counters.failures.Add(1)
		l.mu.Lock()
		l.err = err.Error()
		l.mu.Unlock()
		attempt++
		d := backoff(attempt, l.cfg.BackoffMin, l.cfg.BackoffMax)
		l.log.Warn("bridge link down; retrying", "bridge", l.cfg.Name, "address", l.cfg.Address,
			"err", err, "retry_in", d.Round(time.Millisecond), "attempt", attempt)
		select {
		case <-l.ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

// senderGrace bounds how long a stopping link waits for the senders of
// broken connections (see sender).
const senderGrace = 2 * time.Second

// waitSenders waits for the senders of earlier connections, at most
// senderGrace. One stuck in paho's Publish ends by itself within the
// write timeout (30 s or more) and touches nothing but its dead view of
// the session by then, so a stop (SIGTERM, where procd kills after 5 s;
// a reload) does not wait that long for it.
func (l *link) waitSenders() {
	done := make(chan struct{})
	go func() {
		l.senders.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(senderGrace):
		l.log.Warn("bridge stopping with a publish to a broken connection still pending in the MQTT library; it ends by itself",
			"bridge", l.cfg.Name, "write_timeout", l.cfg.WriteTimeout)
	}
}

// backoff returns the delay before attempt n (1, 2, ...): min doubled n-1
// times, capped at max, then a random point in its upper half (jitter, so
// that gateways cut off together do not all come back at once).
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := hi
	if n < 63 && lo<<(n-1) > 0 && lo<<(n-1) < hi {
		d = lo << (n - 1)
	}
	return d/2 + rand.N(d/2+1)
}

// prepareResume takes, before the first connection, the entries that were
// sent with a stored packet id (QoS 2 after a restart) and those before
// them, and gives the latter ids too, so that a clean_session false
// reconnection resends them all, in order, with DUP and their ids.
func (l *link) prepareResume() {
	last, ok := l.q.lastStoredID()
	if !ok || l.cfg.CleanSession {
		return
	}
	var fs []*flight
	for {
		n := len(fs)
		fs = l.q.take(1, fs)
		if len(fs) == n || fs[len(fs)-1].seq >= last {
			break
		}
	}
	l.sess.add(fs)
	l.sess.assignIDs(l.q.storedIDs())
}

// connect makes a paho client for one connection, connects it and makes
// the inbound subscriptions. v is the client's view of the session; lost
// receives the reason when the connection breaks.
func (l *link) connect() (c mqtt.Client, v *view, lost chan error, err error) {
	lost = make(chan error, 1)
	v = l.sess.view()
	o := mqtt.NewClientOptions().
		AddBroker(l.cfg.Address).
		SetClientID(l.cfg.ClientID).
		SetUsername(l.cfg.Username).
		SetPassword(l.cfg.Password).
		SetCleanSession(l.cfg.CleanSession).
		SetKeepAlive(l.cfg.Keepalive).
		SetConnectTimeout(l.cfg.ConnectTimeout).
		SetWriteTimeout(l.cfg.WriteTimeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetOrderMatters(true).
		SetAutoAckDisabled(true).
		SetMaxResumePubInFlight(0).
		SetStore(v).
		SetProtocolVersion(l.proto).
		SetTLSConfig(l.tls).
		SetDefaultPublishHandler(l.onMessage).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) { return l.open(u, v) }).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	c = mqtt.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-l.ctx.Done():
		l.closeConn()
		<-tok.Done()
		c.Disconnect(0)
		return nil, nil, nil, errStopped
	}
	if err := tok.Error(); err != nil {
		ct, _ := tok.(*mqtt.ConnectToken)
		if ct != nil && ct.ReturnCode() == packets.ErrRefusedBadProtocolVersion && l.proto != 4 {
			l.log.Info("the remote broker refuses the bridge protocol flag; connecting as a plain MQTT 3.1.1 client",
				"bridge", l.cfg.Name, "address", l.cfg.Address)
			l.proto = 4
		}
		return nil, nil, nil, fmt.Errorf("connect to %s: %w", l.cfg.Address, err)
	}
	if err := l.subscribe(c); err != nil {
		c.Disconnect(0)
		return nil, nil, nil, err
	}
	return c, v, lost, nil
}
