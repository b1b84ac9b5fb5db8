package gateway

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/transport/mqttsn"
)

// Options configure a Gateway. Zero fields take the defaults named.
type Options struct {
	// Serve hands an MQTT connection to the broker: (*broker.Server).ServeConn.
	Serve Handler
	// Logger receives the gateway's log; nil discards it.
	Logger *slog.Logger
	// GatewayID is sent in ADVERTISE and GWINFO (mqttsn.gateway_id); 0 means 1.
	GatewayID uint8
	// AdvertiseInterval is the period of ADVERTISE on UDP sockets with a
	// broadcast address (mqttsn.advertise_interval); 0 sends none.
	AdvertiseInterval time.Duration
	// PredefinedTopics are the topic ids every client knows
	// (mqttsn.predefined_topics).
	PredefinedTopics map[uint16]string
	// MaxClients bounds the clients of all UDP sockets together, and of
	// each serial line (mqttsn.max_clients); default 256.
	MaxClients int
	// SleepQueue bounds the QoS 0 deliveries queued per client, asleep or
	// slow (mqttsn.sleep_queue); default 100.
	SleepQueue int
	// MaxKeepAlive caps the keep alive a client asks for, and stands for
	// a Duration of 0 (limits.max_keepalive); default 600 s.
	MaxKeepAlive time.Duration
	// RetryInterval and RetryCount are the specification's Tretry and
	// Nretry: a QoS 1/2 PUBLISH, PUBREL or REGISTER to a client is resent
	// after RetryInterval, and the client is lost after RetryCount resends.
	// Defaults 10 s and 3.
	RetryInterval time.Duration
	RetryCount    int
	// ConnectTimeout bounds the CONNECT exchange (will topic and message,
	// the broker's answer); a client that does not finish is forgotten.
	// Default 30 s.
	ConnectTimeout time.Duration
	// MaxTopics bounds each client's table of normal topic ids; default 1024.
	MaxTopics int
}

func (o *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.GatewayID == 0 {
		o.GatewayID = 1
	}
	def(&o.MaxClients, 256)
	def(&o.SleepQueue, 100)
	def(&o.RetryCount, 3)
	def(&o.MaxTopics, 1024)
	defDur(&o.MaxKeepAlive, 600*time.Second)
	defDur(&o.RetryInterval, 10*time.Second)
	defDur(&o.ConnectTimeout, 30*time.Second)
}

// Gateway is the MQTT-SN gateway: UDP sockets and serial lines whose
// clients it maps onto broker connections. Create it with New, add
// transports with ListenUDP and OpenSerial, read Stats, stop it with
// Close.
type Gateway struct {
	opts Options
	log  *slog.Logger
	pre  predefined
	udp  slots // shared by every UDP socket
	bufs sync.Pool
	anon anonPublisher

	mu         sync.Mutex
	closed     bool
	transports []transport
	ids        map[string]*client // connected ClientIds, for takeover

	minus1     atomic.Uint64
	quit       chan struct{}
	clients    sync.WaitGroup // client loops
	transportW sync.WaitGroup // transport goroutines
}

// transport is a UDP socket or a serial line.
type transport interface {
	stats() TransportStats
	// close stops reading and sending and waits for the transport's own
	// goroutines; its clients have ended before.
	close()
}

// New returns a gateway with no transport yet.
func New(opts Options) (*Gateway, error) {
	if opts.Serve == nil {
		return nil, errors.New("mqttsn gateway: Options.Serve is nil: nothing to hand connections to")
	}
	opts.setDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pre, err := newPredefined(opts.PredefinedTopics)
	if err != nil {
		return nil, err
	}
	g := &Gateway{opts: opts, log: opts.Logger, pre: pre, ids: make(map[string]*client), quit: make(chan struct{})}
	g.udp.max = int64(opts.MaxClients)
	g.bufs.New = func() any {
		b := make([]byte, 0, 256)
		return &b
	}
	g.anon.init(g)
	return g, nil
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("mqttsn gateway: "+format, args...)
}

func (g *Gateway) getBuf() *[]byte { return g.bufs.Get().(*[]byte) }

func (g *Gateway) putBuf(b *[]byte) {
	if cap(*b) <= 4096 {
		g.bufs.Put(b)
	}
}

// addTransport registers t unless the gateway is closed.
func (g *Gateway) addTransport(t transport) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.transports = append(g.transports, t)
	return true
}

// startClient accounts for a new client loop, unless the gateway is closed.
func (g *Gateway) startClient() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.clients.Add(1)
	return true
}

// claim makes c the holder of id and returns the client that held it.
func (g *Gateway) claim(id string, c *client) *client {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.ids[id]
	g.ids[id] = c
	if old == c {
		return nil
	}
	return old
}

// release forgets that c holds id.
func (g *Gateway) release(id string, c *client) {
	g.mu.Lock()
	if g.ids[id] == c {
		delete(g.ids, id)
	}
	g.mu.Unlock()
}

// publishMinus1 passes a QoS -1 PUBLISH [6.8] to the broker.
func (g *Gateway) publishMinus1(t *table, m *mqttsn.Publish) {
	var short [2]byte
	name, ok := g.pre.topicName(m.TopicIDType, m.TopicID, nil, &short)
	if !ok {
		t.cnt.invalidTopic.Add(1)
		return
	}
	if err := g.anon.publish(name, m.Data, m.Retain); err != nil {
		t.cnt.rejected.Add(1)
		g.log.Warn("mqttsn gateway: QoS -1 publish not passed to the broker", "transport", t.name, "err", err)
		return
	}
	t.cnt.msgsIn.Add(1)
	g.minus1.Add(1)
}

// Stats returns a snapshot of every transport's counters.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	ts := append([]transport(nil), g.transports...)
	g.mu.Unlock()
	st := Stats{Transports: make([]TransportStats, 0, len(ts)), QoSMinus1: g.minus1.Load()}
	for _, t := range ts {
		st.Transports = append(st.Transports, t.stats())
	}
	return st
}

// Close stops the gateway: every client is sent DISCONNECT and its MQTT
// connection closed with DISCONNECT (no will: the clients did nothing
// wrong), then the sockets and lines close. It waits for every goroutine.
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	ts := g.transports
	g.mu.Unlock()
	close(g.quit)
	g.clients.Wait()
	for _, t := range ts {
		t.close()
	}
	g.transportW.Wait()
	g.anon.close()
	return nil
}

// anonPublisher is the MQTT connection that carries QoS -1 publishes,
// which belong to no client [6.8]. It connects on first use, as client id
// "edgemq-mqttsn-gw<GatewayID>", and reconnects when the broker closed it.
type anonPublisher struct {
	g    *Gateway
	id   string
	mu   sync.Mutex
	mq   *mqttConn
	wake chan struct{}
	cnt  counters
	evs  []mqttEvent
}

func (a *anonPublisher) init(g *Gateway) {
	a.g = g
	a.id = fmt.Sprintf("edgemq-mqttsn-gw%d", g.opts.GatewayID)
	a.wake = make(chan struct{}, 1)
}

func (a *anonPublisher) publish(topic, payload []byte, retain bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if a.mq == nil {
			if err := a.dial(); err != nil {
				return err
			}
		}
		err := a.mq.publish(topic, payload, 0, retain, false, 0)
		if err == nil {
			return nil
		}
		a.mq.close()
		a.mq = nil
		if attempt == 1 {
			return err
		}
	}
}

// anonAddr is the remote address the broker sees for QoS -1 publishes.
type anonAddr struct{}

func (anonAddr) Network() string { return "mqttsn" }
func (anonAddr) String() string  { return "mqttsn-qos-1" }

func (a *anonPublisher) dial() error {
	mq, err := dialBroker(a.g.opts.Serve, "mqttsn", anonAddr{}, a.wake, 1, &a.cnt)
	if err != nil {
		return err
	}
	if err := mq.connect(a.id, true); err != nil {
		mq.close()
		return err
	}
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-a.wake:
			evs, err := mq.events(a.evs)
			a.evs = evs
			for _, ev := range evs {
				if ev.typ != packet.CONNACK {
					continue
				}
				if ev.code != packet.V3Accepted {
					mq.close()
					return errorf("the broker refused %s: CONNACK code %d", a.id, ev.code)
				}
				a.mq = mq
				return nil
			}
			if err != nil {
				mq.close()
				return err
			}
		case <-t.C:
			mq.close()
			return errorf("the broker did not answer CONNECT of %s", a.id)
		case <-a.g.quit:
			mq.close()
			return net.ErrClosed
		}
	}
}

func (a *anonPublisher) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mq != nil {
		_ = a.mq.disconnect()
		a.mq.close()
		a.mq = nil
	}
}
