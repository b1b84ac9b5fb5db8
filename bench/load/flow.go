package load

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// MinPayload is the smallest payload a flow sends: the publisher index
// (4 bytes), its sequence number (8) and the send time (8), big-endian.
const MinPayload = 20

var errAckTimeout = errors.New("no PUBACK for " + ackTimeout.String() + ": the broker stopped acknowledging")

// Flow describes traffic from publishers to subscribers.
type Flow struct {
	Addr        string
	Name        string // prefix of client ids
	Publishers  int
	Subscribers int
	// Topic is the prefix of the publishers' topics: publisher i publishes
	// on Topic + "/" + i.
	Topic string
	// Filter is what every subscriber subscribes to; it must match the
	// topic of every publisher (each delivery is counted against all of them).
	Filter string
	QoS    byte // of the PUBLISHes and of the subscriptions
	// Window is the closed loop: how many messages in all the publishers
	// may be ahead of the slowest subscriber (Window/Publishers each).
	Window int
	// Inflight bounds unacknowledged QoS 1 messages per publisher.
	Inflight int
	// Batch bounds the messages encoded into one write.
	Batch       int
	PayloadSize int // at least MinPayload
	// Rate, when > 0, paces the publishers at Rate messages per second in
	// all (open loop within the window), one message per write.
	Rate float64
	// PersistentSubscribers connects the subscribers with CleanSession false.
	PersistentSubscribers bool

	Duration time.Duration // publishing time, warm-up included
	Warmup   time.Duration // not measured
	Drain    time.Duration // longest wait for the last deliveries after publishing stops

	// OnMeasure is called when the measured interval starts (start true)
	// and when it ends, so that the caller samples the broker at the same
	// moments as the flow samples its own counters.
	OnMeasure func(start bool)
}

// FlowResult is what a Flow measured. Deliveries count one message reaching
// one subscriber.
type FlowResult struct {
	Measured  time.Duration // length of the measured interval
	Sent      uint64        // messages published, whole run
	Acked     uint64        // PUBACKs received by the publishers (QoS 1)
	Expected  uint64        // deliveries expected: Sent * Subscribers
	Received  uint64        // deliveries, whole run, drain included
	Reordered uint64        // deliveries not newer than the last from the same publisher
	Stalls    uint64        // closed-loop waits given up: newest messages presumed lost

	MeasuredSent     uint64 // messages published in the measured interval
	MeasuredReceived uint64 // deliveries in the measured interval
	Latency          Histogram
	LoadCPU          time.Duration // this process's CPU in the measured interval
}

// Lost returns the deliveries that never arrived.
func (r *FlowResult) Lost() uint64 { return r.Expected - min(r.Received, r.Expected) }

// DeliveryRate returns deliveries per second in the measured interval.
func (r *FlowResult) DeliveryRate() float64 {
	return float64(r.MeasuredReceived) / r.Measured.Seconds()
}

// flow is one running Flow.
type flow struct {
	cfg       Flow
	win       *window
	base      time.Time
	measuring atomic.Bool
	stop      chan struct{}
	closing   atomic.Bool

	sent  []atomic.Uint64 // [p]
	recv  []atomic.Uint64 // [s]
	reord atomic.Uint64
	hists []Histogram // [s], owned by subscriber s until it returns

	errMu sync.Mutex
	err   error
}

func (f *flow) fail(err error) {
	f.errMu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.errMu.Unlock()
}

// now returns nanoseconds on the monotonic clock since the flow started.
func (f *flow) now() int64 { return int64(time.Since(f.base)) }

func (c *Flow) validate() error {
	switch {
	case c.Publishers < 1 || c.Subscribers < 1:
		return fmt.Errorf("flow %s: need at least one publisher and one subscriber", c.Name)
	case c.PayloadSize < MinPayload:
		return fmt.Errorf("flow %s: payload of %d bytes is below the minimum of %d", c.Name, c.PayloadSize, MinPayload)
	case c.QoS > 1:
		return fmt.Errorf("flow %s: QoS %d is not supported (0 or 1)", c.Name, c.QoS)
	case c.Window < c.Publishers:
		return fmt.Errorf("flow %s: window %d is smaller than the %d publishers", c.Name, c.Window, c.Publishers)
	case c.Batch < 1:
		return fmt.Errorf("flow %s: batch must be at least 1", c.Name)
	case c.Duration <= c.Warmup:
		return fmt.Errorf("flow %s: duration %v must exceed the warm-up %v", c.Name, c.Duration, c.Warmup)
	}
	return nil
}

// Run connects the subscribers, then the publishers, publishes for
// c.Duration, waits for the last deliveries and disconnects everyone.
func (c Flow) Run(ctx context.Context) (*FlowResult, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	f := &flow{
		cfg:   c,
		win:   newWindow(c.Publishers, c.Subscribers, c.Window, inflightOf(c)),
		stop:  make(chan struct{}),
		sent:  make([]atomic.Uint64, c.Publishers),
		recv:  make([]atomic.Uint64, c.Subscribers),
		hists: make([]Histogram, c.Subscribers),
	}
	subs := make([]*Client, 0, c.Subscribers)
	pubs := make([]*Client, 0, c.Publishers)
	defer func() {
		for _, cl := range append(subs, pubs...) {
			cl.Close()
		}
	}()
	for s := range c.Subscribers {
		cl, err := Dial(ctx, c.Addr, ConnectOptions{ClientID: c.Name + "-sub-" + strconv.Itoa(s), CleanSession: !c.PersistentSubscribers})
		if err != nil {
			return nil, err
		}
		subs = append(subs, cl)
		if err := cl.Subscribe(c.Filter, c.QoS); err != nil {
			return nil, err
		}
	}
	for p := range c.Publishers {
		cl, err := Dial(ctx, c.Addr, ConnectOptions{ClientID: c.Name + "-pub-" + strconv.Itoa(p), CleanSession: true})
		if err != nil {
			return nil, err
		}
		pubs = append(pubs, cl)
	}

	f.base = time.Now()
	var readers sync.WaitGroup
	for s, cl := range subs {
		readers.Go(func() { f.subscriber(s, cl) })
	}
	if c.QoS > 0 {
		for p, cl := range pubs {
			readers.Go(func() { f.ackReader(p, cl) })
		}
	}
	var writers sync.WaitGroup
	for p, cl := range pubs {
		writers.Go(func() { f.publisher(p, cl) })
	}

	res := &FlowResult{}
	f.measureInterval(ctx, res)
	close(f.stop)
	if !waitTimeout(&writers, 10*time.Second) {
		f.fail(errors.New("publishers still blocked in write 10s after the end: the broker stopped reading"))
		for _, cl := range pubs {
			cl.interrupt()
		}
		writers.Wait()
	}
	for p := range f.sent {
		res.Sent += f.sent[p].Load()
	}
	res.Expected = res.Sent * uint64(c.Subscribers)
	f.drain(res)

	f.closing.Store(true)
	for _, cl := range append(subs, pubs...) {
		cl.interrupt()
	}
	readers.Wait()
	for _, cl := range append(subs, pubs...) {
		cl.Disconnect()
	}
	subs, pubs = nil, nil

	res.Received = f.received()
	for p := range f.win.acked {
		res.Acked += f.win.acked[p].Load()
	}
	res.Reordered = f.reord.Load()
	res.Stalls = f.win.stalls.Load()
	for s := range f.hists {
		res.Latency.Merge(&f.hists[s])
	}
	return res, f.err
}

func inflightOf(c Flow) int {
	if c.QoS == 0 {
		return 0
	}
	return c.Inflight
}

// measureInterval waits out the warm-up, samples, waits to the end of the
// publishing time and samples again.
func (f *flow) measureInterval(ctx context.Context, res *FlowResult) {
	c := &f.cfg
	sleepCtx(ctx, c.Warmup)
	if c.OnMeasure != nil {
		c.OnMeasure(true)
	}
	t0, cpu0, sent0, recv0 := time.Now(), ProcessCPU(), f.totalSent(), f.received()
	f.measuring.Store(true)
	sleepCtx(ctx, c.Duration-c.Warmup)
	f.measuring.Store(false)
	res.Measured = time.Since(t0)
	res.LoadCPU = ProcessCPU() - cpu0
	res.MeasuredSent = f.totalSent() - sent0
	res.MeasuredReceived = f.received() - recv0
	if c.OnMeasure != nil {
		c.OnMeasure(false)
	}
}

// drain waits until every expected delivery (and PUBACK) has arrived, the
// counts stop moving for a while, or c.Drain has passed.
func (f *flow) drain(res *FlowResult) {
	const quiet = 500 * time.Millisecond
	deadline := time.Now().Add(f.cfg.Drain)
	last, lastChange := uint64(0), time.Now()
	for time.Now().Before(deadline) {
		got := f.received()
		var acked uint64
		for p := range f.win.acked {
			acked += f.win.acked[p].Load()
		}
		if got >= res.Expected && (f.cfg.QoS == 0 || acked >= res.Sent) {
			return
		}
		if got+acked != last {
			last, lastChange = got+acked, time.Now()
		} else if time.Since(lastChange) >= quiet {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *flow) totalSent() (n uint64) {
	for p := range f.sent {
		n += f.sent[p].Load()
	}
	return n
}

func (f *flow) received() (n uint64) {
	for s := range f.recv {
		n += f.recv[s].Load()
	}
	return n
}

// template is one publisher's PUBLISH, encoded once with the codec, with
// the offsets of the fields that change from message to message.
type template struct {
	pkt   []byte
	pidAt int // packet identifier; -1 at QoS 0
	payAt int // payload
}

// template returns publisher p's template.
func (f *flow) template(p int) template {
	c := &f.cfg
	pub := packet.Publish{QoS: c.QoS, Topic: []byte(c.Topic + "/" + strconv.Itoa(p)), Payload: make([]byte, c.PayloadSize)}
	if c.QoS > 0 {
		pub.PacketID = 0xffff
	}
	tm := template{pkt: pub.Append(nil, version), pidAt: -1}
	tm.payAt = len(tm.pkt) - c.PayloadSize
	if c.QoS > 0 {
		tm.pidAt = tm.payAt - 2
	}
	binary.BigEndian.PutUint32(tm.pkt[tm.payAt:], uint32(p))
	return tm
}

// appendBatch appends n messages numbered last+1 .. last+n, all stamped
// with the send time now, to buf.
func (tm *template) appendBatch(buf []byte, last uint64, n int, now int64) []byte {
	for seq := last + 1; seq <= last+uint64(n); seq++ {
		at := len(buf)
		buf = append(buf, tm.pkt...)
		m := buf[at:]
		if tm.pidAt >= 0 {
			binary.BigEndian.PutUint16(m[tm.pidAt:], uint16(seq%0xffff)+1)
		}
		binary.BigEndian.PutUint64(m[tm.payAt+4:], seq)
		binary.BigEndian.PutUint64(m[tm.payAt+12:], uint64(now))
	}
	return buf
}

// publisher sends publisher p's messages in batches, as the window allows.
func (f *flow) publisher(p int, cl *Client) {
	c := &f.cfg
	tm := f.template(p)
	limit := c.Batch
	least := max(1, min(limit, int(f.win.perPub/4)))
	if f.win.inflight > 0 {
		least = max(1, min(least, int(f.win.inflight/4)))
	}
	var interval time.Duration
	if c.Rate > 0 {
		limit, least = 1, 1
		interval = time.Duration(float64(time.Second) * float64(c.Publishers) / c.Rate)
	}
	buf := make([]byte, 0, limit*len(tm.pkt))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var seq uint64
	start := time.Now()
	for {
		n, err := f.win.acquire(p, seq, least, limit, f.stop, timer)
		if err != nil {
			f.fail(fmt.Errorf("publisher %d: %w", p, err))
			return
		}
		if n == 0 {
			return
		}
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(seq) * interval)); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-f.stop:
					return
				}
			}
		}
		buf = tm.appendBatch(buf[:0], seq, n, f.now())
		seq += uint64(n)
		f.sent[p].Store(seq) // before the write: a delivery never outruns sent
		if err := cl.Write(buf); err != nil {
			if !isClosed(err) {
				f.fail(fmt.Errorf("publisher %d: writing PUBLISH: %w", p, err))
			}
			return
		}
	}
}

// ackReader counts publisher p's PUBACKs.
func (f *flow) ackReader(p int, cl *Client) {
	var n uint64
	for {
		h, _, err := cl.Next()
		if err != nil {
			if !(f.closing.Load() && isClosed(err)) {
				f.fail(fmt.Errorf("publisher %d: reading PUBACK: %w", p, err))
			}
			return
		}
		if h.Type == packet.PUBACK {
			n++
		}
		if cl.Buffered() == 0 {
			f.win.acked[p].Add(n)
			n = 0
			f.win.notifyOne(p)
		}
	}
}

// receiver is one subscriber's per-delivery state.
type receiver struct {
	pub      packet.Publish
	seen     []uint64 // [p]: highest sequence number seen from publisher p
	acks     []byte   // PUBACKs to send after this read
	got      uint64   // deliveries since the last flush
	reord    uint64
	hist     *Histogram
	now      int64 // arrival time of the current read
	measured bool  // record latency for the current read
}

// handle processes one PUBLISH delivery.
func (r *receiver) handle(h packet.Header, body []byte) error {
	if err := r.pub.Decode(h, body, version); err != nil {
		return err
	}
	pl := r.pub.Payload
	if len(pl) < MinPayload {
		return fmt.Errorf("payload of %d bytes on %q is not ours", len(pl), r.pub.Topic)
	}
	p := binary.BigEndian.Uint32(pl)
	if int(p) >= len(r.seen) {
		return fmt.Errorf("publisher index %d out of range", p)
	}
	if seq := binary.BigEndian.Uint64(pl[4:]); seq > r.seen[p] {
		r.seen[p] = seq
	} else {
		r.reord++
	}
	if r.measured {
		r.hist.Record(r.now - int64(binary.BigEndian.Uint64(pl[12:])))
	}
	r.got++
	if r.pub.QoS > 0 {
		a := packet.Ack{Type: packet.PUBACK, PacketID: r.pub.PacketID}
		r.acks = a.Append(r.acks, version)
	}
	return nil
}

// subscriber receives subscriber s's deliveries, acknowledges QoS 1 ones in
// one write per read, and publishes its counts once per read.
func (f *flow) subscriber(s int, cl *Client) {
	pubs := f.cfg.Publishers
	r := &receiver{seen: make([]uint64, pubs), hist: &f.hists[s]}
	fresh := true
	for {
		h, body, err := cl.Next()
		if err != nil {
			if !(f.closing.Load() && isClosed(err)) {
				f.fail(fmt.Errorf("subscriber %d: %w", s, err))
			}
			return
		}
		if fresh { // the first packet of a read: stamp the arrival time once
			r.now, r.measured, fresh = f.now(), f.measuring.Load(), false
		}
		if h.Type == packet.PUBLISH {
			if err := r.handle(h, body); err != nil {
				f.fail(fmt.Errorf("subscriber %d: %w", s, err))
				return
			}
		}
		if cl.Buffered() > 0 {
			continue
		}
		if len(r.acks) > 0 {
			if err := cl.Write(r.acks); err != nil {
				if !(f.closing.Load() && isClosed(err)) {
					f.fail(fmt.Errorf("subscriber %d: writing PUBACK: %w", s, err))
				}
				return
			}
			r.acks = r.acks[:0]
		}
		for p, v := range r.seen {
			f.win.seen[s*pubs+p].Store(v)
		}
		f.recv[s].Add(r.got)
		f.reord.Add(r.reord)
		r.got, r.reord = 0, 0
		f.win.notify()
		fresh = true
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
