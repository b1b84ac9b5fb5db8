package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
)

// open dials the remote broker for paho, with a context that stop cancels,
// and remembers the connection so that stop can close it.
func (l *link) open(uri *url.URL, v *view) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(l.ctx, l.cfg.ConnectTimeout)
	defer cancel()
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	var nc net.Conn
	var err error
	switch uri.Scheme {
	case "tcp":
		nc, err = d.DialContext(ctx, "tcp", uri.Host)
	case "tls":
		td := &tls.Dialer{NetDialer: d, Config: l.tls}
		nc, err = td.DialContext(ctx, "tcp", uri.Host)
	case "ws", "wss":
		nc, err = mqtt.NewWebsocket(uri.String(), l.tls, l.cfg.ConnectTimeout, nil, nil)
	default:
		err = fmt.Errorf("scheme %q: want tcp, tls, ws or wss", uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx.Err() != nil {
		nc.Close()
		return nil, errStopped
	}
	bc := newBridgeConn(nc)
	bc.onPubrel = v.release
	l.conn = bc
	return bc, nil
}

// closeConn closes the current network connection, which ends a dial, a
// handshake or a connection in progress.
func (l *link) closeConn() {
	l.mu.Lock()
	nc := l.conn
	l.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
}

// subscribe makes the remote subscriptions of the inbound rules, on every
// connection (the remote may have forgotten them).
func (l *link) subscribe(c mqtt.Client) error {
	filters := make(map[string]byte)
	for _, r := range l.rules {
		if r.in() {
			filters[r.remoteFilter] = max(filters[r.remoteFilter], r.QoS)
		}
	}
	if len(filters) == 0 {
		return nil
	}
	tok := c.SubscribeMultiple(filters, nil)
	select {
	case <-tok.Done():
	case <-l.ctx.Done():
		return errStopped
	case <-time.After(l.cfg.ConnectTimeout):
		return fmt.Errorf("no SUBACK from %s within %s", l.cfg.Address, l.cfg.ConnectTimeout)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("subscribe on %s: %w", l.cfg.Address, err)
	}
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code == 0x80 {
				l.log.Error("the remote broker refused a subscription (check its ACL or policy)",
					"bridge", l.cfg.Name, "filter", f)
			}
		}
	}
	return nil
}

// serve sends the queue over a connected client until the connection
// breaks or the link stops. v is the client's view of the session.
func (l *link) serve(c mqtt.Client, v *view, lost <-chan error) error {
	snd := l.startSender(c, v)
	defer snd.stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var (
		fs   []*flight
		seqs []uint64
		ring [][]byte
		jobs []sendJob
	)
	p := progress{acked: l.q.c.acked.Load(), at: time.Now(), logged: time.Now()}
	for {
		seqs = l.sess.takeAcked(seqs[:0])
		l.q.ack(seqs)
		if err := l.sess.takeErr(); err != nil {
			return err
		}
		hold := l.sess.holdNew()
		jobs = jobs[:0]
		if !hold {
			// Flights without a packet id first: after a clean-session
			// connection, or a Publish that found the connection closed.
			jobs = l.flightJobs(l.sess.unsent(fs[:0]), jobs)
		}
		ring = l.q.takeRing(ringBurst, ring[:0])
		for _, rec := range ring {
			r, err := decodeRecord(rec)
			if err != nil {
				continue
			}
			jobs = append(jobs, sendJob{topic: string(r.topic), retain: r.retain, payload: r.payload})
		}
		if room := l.cfg.Inflight - l.sess.inflight(); room > 0 && !hold {
			fs = l.q.take(room, fs[:0])
			l.sess.add(fs)
			jobs = l.flightJobs(fs, jobs)
		}
		// jobs is reused for the next batch: the sender is done with it
		// once send returns nil.
		if err := l.send(snd, jobs, lost); err != nil {
			return err
		}
		if len(ring) == ringBurst {
			select {
			case err := <-lost:
				return fmt.Errorf("connection lost: %w", err)
			case <-l.ctx.Done():
				return errStopped
			default:
				continue
			}
		}
		select {
		case <-l.q.wake:
		case err := <-lost:
			return fmt.Errorf("connection lost: %w", err)
		case err := <-l.kick:
			return err
		case <-l.ctx.Done():
			return errStopped
		case now := <-tick.C:
			l.tick(now, &p)
		}
	}
}

// flightJobs appends the PUBLISH of each flight to jobs. paho's Publish
// calls the session's Put (which records the packet id) before the packet
// leaves.
func (l *link) flightJobs(fs []*flight, jobs []sendJob) []sendJob {
	for _, f := range fs {
		r, err := decodeRecord(f.rec)
		if err != nil {
			// Records are checked when read from disk; this is a bug.
			l.log.Error("bridge: dropping an undecodable record", "bridge", l.cfg.Name, "seq", f.seq, "err", err)
			l.sess.ackNow(f)
			continue
		}
		jobs = append(jobs, sendJob{f: f, topic: string(r.topic), qos: r.qos, retain: r.retain, payload: r.payload})
	}
	return jobs
}

// doneErr returns the error of a token that has already failed, without
// waiting for one that has not completed.
func doneErr(tok mqtt.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	default:
		return nil
	}
}

// progress is the state of the drain rate and the progress log.
type progress struct {
	acked  uint64
	at     time.Time
	logged time.Time
}

// tick runs every second while connected.
func (l *link) tick(now time.Time, p *progress) {
	l.q.resolveStuck(now, stuckTimeout)
	acked := l.q.c.acked.Load()
	rate := float64(acked-p.acked) / now.Sub(p.at).Seconds()
	l.rate.Store(math.Float64bits(rate))
	p.acked, p.at = acked, now
	if now.Sub(p.logged) < progressEvery {
		return
	}
	p.logged = now
	st := l.q.state()
	if st.messages < progressMin || rate <= 0 {
		return
	}
	l.log.Info("bridge draining backlog", "bridge", l.cfg.Name, "remaining", st.messages,
		"remaining_bytes", st.bytes, "rate_msg_s", int(rate),
		"eta", (time.Duration(float64(st.messages)/rate) * time.Second).Round(time.Second))
}

// onMessage publishes a message from the remote broker into the local one
// and acknowledges the remote once Publish returns, that is once the
// message is as durable as its QoS asks. It is called by paho in order.
func (l *link) onMessage(_ mqtt.Client, m mqtt.Message) {
	topic := m.Topic()
	var r *rule
	for _, c := range l.rules {
		if c.in() && packet.Match(c.remoteFilter, topic) {
			r = c
			break
		}
	}
	if r == nil {
		m.Ack() // a subscription of an earlier configuration, still in the remote session
		return
	}
	if l.ctx.Err() != nil {
		return // stopping: the remote sends it again
	}
	local := r.mapIn(topic)
	_, err := l.srv.Publish([]byte(local), m.Payload(), broker.PublishOptions{
		QoS: r.QoS, Retain: r.retain(m.Retained()), Bridge: l.cfg.Name})
	var pe *packet.Error
	switch {
	case err == nil:
		l.counters.received.Add(1)
		m.Ack()
	case errors.As(err, &pe):
		// The mapped topic is not a valid topic name: retrying cannot help.
		l.counters.inDropped.Add(1)
		if n, ok := l.inErrs.note(1); ok {
			l.log.Warn("bridge: dropping inbound messages the local broker refuses", "bridge", l.cfg.Name,
				"topic", local, "err", err, "dropped_since_last_log", n)
		}
		m.Ack()
	default:
		// Not stored locally: do not acknowledge; reconnect so that the
		// remote sends it again.
		l.log.Error("bridge: could not publish an inbound message locally; reconnecting", "bridge", l.cfg.Name,
			"topic", local, "err", err)
		select {
		case l.kick <- fmt.Errorf("inbound publish on %q failed: %w", local, err):
		default:
		}
	}
}
