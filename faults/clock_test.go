package faults

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/faults/rig"
	"github.com/edgemq/edgemq/storage"
	"github.com/edgemq/edgemq/transport"
)

// TestClockJump: a gateway without a real-time clock boots in 1970 and
// jumps 56 years when NTP answers; some jump back. The broker runs in
// process with a fake wall clock (broker.Options.Clock), since the real
// one cannot be moved for one process.
//
// Running: while the wall clock jumps years forward and back every half
// second, a client that pings stays connected, a silent one is dropped
// after 1.5 times its keep-alive, a will with a delay arrives after the
// delay, a session expires after its expiry (not at once, not never), and
// a queued message's expiry counts down and then drops it.
//
// Restart: sessions, queued and retained messages with expiry are stored,
// the broker stops, the wall clock jumps, the broker starts again on the
// same store (both engines). The downtime counts only when the clock is
// trustworthy at both ends (record version 2 and its clock floor): nothing
// expires at once, and what had seconds left still expires.
//
// Not covered here: the bridge takes no clock; its retry and backoff run on
// Go timers (monotonic), whose spacing TestFaultUplinkCuts measures. Its
// queue records carry wall-clock times that feed only the oldest-age
// metric, which reads decades off after a restart across a jump.
func TestClockJump(t *testing.T) {
	var fig Figures
	defer func() { Report(t, "clock-jump", fig.List()...) }()
	t.Run("running", func(t *testing.T) { clockJumpRunning(t, &fig) })
	var restarts atomic.Int64
	t.Run("restart", func(t *testing.T) {
		// Every case is stored and restarted first, then all wait once for
		// the short expiries to pass, then each is checked.
		var cases []*restarted
		for _, engine := range []string{storage.EngineBolt, storage.EngineBadger} {
			for _, c := range restartJumps() {
				cases = append(cases, restartAcross(t, engine, c))
			}
		}
		sleepUntil(cases[len(cases)-1].at.Add((restartShort + 1) * time.Second))
		for _, r := range cases {
			t.Run(r.engine+"/"+r.jump.name, func(t *testing.T) {
				r.check(t)
				if !t.Failed() {
					restarts.Add(1)
				}
			})
		}
	})
	fig.Set("restart_cases_ok", fmt.Sprintf("%d/%d", restarts.Load(), 2*len(restartJumps())))
}

// wallClock is a settable wall clock.
type wallClock struct{ ns atomic.Int64 }

func (w *wallClock) set(t time.Time) { w.ns.Store(t.UnixNano()) }
func (w *wallClock) now() time.Time  { return time.Unix(0, w.ns.Load()).UTC() }

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// inprocBroker is a broker in this process on a store in dir.
type inprocBroker struct {
	srv   *broker.Server
	ln    transport.Listener
	store *storage.Store
	addr  string
	logs  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startInproc(t *testing.T, dir, engine string, clock func() time.Time) *inprocBroker {
	t.Helper()
	b := &inprocBroker{logs: &lockedBuffer{}}
	log := slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := storage.Options{Dir: dir, Engine: engine, Sync: storage.SyncBatch}
	eng, err := storage.OpenEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
	b.store = storage.NewStore(eng, opts)
	b.srv, err = broker.New(broker.Options{Logger: log, Store: b.store, Clock: clock})
	if err != nil {
		b.store.Close()
		t.Fatal(err)
	}
	b.ln, err = transport.ListenTCP("tcp", "127.0.0.1:0", b.srv.ServeConn, log)
	if err != nil {
		t.Fatal(err)
	}
	b.addr = b.ln.Addr().String()
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("broker log:\n%s", b.logs.String())
		}
	})
	return b
}

// stop shuts the broker down and closes its store (again: a no-op).
func (b *inprocBroker) stop() {
	if b.ln == nil {
		return
	}
	b.ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.srv.Shutdown(ctx)
	b.store.Close()
	b.ln = nil
}

// v5Client connects an MQTT 5 client; sessionExpiry in seconds (0: the
// session ends with the connection).
func v5Client(t *testing.T, addr, id string, clean bool, sessionExpiry uint32, o rig.ClientOptions) (*rig.Client, bool) {
	t.Helper()
	o.ID, o.Clean, o.Version = id, clean, packet.V5
	edit := o.Connect
	o.Connect = func(cp *packet.Connect) {
		if sessionExpiry > 0 {
			cp.Props.SessionExpiry = sessionExpiry
			cp.Props.Set(packet.PropSessionExpiry)
		}
		if edit != nil {
			edit(cp)
		}
	}
	c, present, err := rig.Dial(rig.TCP(addr), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, present
}

// arrival is a message a v5 client received.
type arrival struct {
	topic, payload string
	expiry         uint32 // message expiry interval left, seconds
	hasExpiry      bool
	at             time.Time
}

// inbox collects what a client receives.
type inbox struct {
	mu   sync.Mutex
	msgs []arrival
}

func (b *inbox) record(p *packet.Publish) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, arrival{string(p.Topic), string(p.Payload), p.Props.MessageExpiry,
		p.Props.Has(packet.PropMessageExpiry), time.Now()})
}

// get returns the arrival on topic, waiting up to d.
func (b *inbox) get(topic string, d time.Duration) (arrival, bool) {
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		b.mu.Lock()
		for _, m := range b.msgs {
			if m.topic == topic {
				b.mu.Unlock()
				return m, true
			}
		}
		b.mu.Unlock()
		if time.Now().After(deadline) {
			return arrival{}, false
		}
	}
}

// publishV5 publishes at QoS 1 with a message expiry (seconds; 0: none)
// and waits for the PUBACK.
func publishV5(t *testing.T, addr, topic string, expiry uint32, retain bool) {
	t.Helper()
	acked := make(chan struct{}, 1)
	c, _ := v5Client(t, addr, "clock-pub-"+topic, true, 0, rig.ClientOptions{OnAck: func(a *packet.Ack) {
		if a.Type == packet.PUBACK {
			acked <- struct{}{}
		}
	}})
	defer c.Disconnect()
	p := packet.Publish{Topic: []byte(topic), QoS: 1, PacketID: 1, Retain: retain, Payload: []byte(topic)}
	if expiry > 0 {
		p.Props.MessageExpiry = expiry
		p.Props.Set(packet.PropMessageExpiry)
	}
	if err := c.PublishPacket(&p); err != nil {
		t.Fatal(err)
	}
	select {
	case <-acked:
	case <-time.After(5 * time.Second):
		t.Fatalf("no PUBACK for %s", topic)
	}
}

// clockJumpRunning: see TestClockJump. u is the time unit: keep-alive
// 2u, will delay 3u, session expiry 4u, message expiry 4u.
func clockJumpRunning(t *testing.T, fig *Figures) {
	u := pick(time.Second, 3*time.Second)
	secs := func(n int) uint32 { return uint32(n * int(u/time.Second)) }
	var clock wallClock
	clock.set(date("1970-01-01T00:00:05Z")) // booted without a real-time clock
	b := startInproc(t, t.TempDir(), storage.EngineBolt, clock.now)

	// The wall clock jumps every half second until the end.
	jumps := []time.Time{date("2026-11-24T08:00:00Z"), date("2026-10-24T08:00:00Z"), date("2126-11-24T08:00:00Z"),
		date("1970-01-01T00:01:00Z"), date("2026-11-24T08:00:05Z")}
	var njumps atomic.Int64
	stop := make(chan struct{})
	jumped := make(chan struct{})
	go func() {
		defer close(jumped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			clock.set(jumps[i%len(jumps)])
			njumps.Add(1)
		}
	}()
	defer func() {
		close(stop)
		<-jumped
		fig.Set("jumps", njumps.Load())
	}()

	var wills inbox
	watch, _ := v5Client(t, b.addr, "clock-watch", true, 0, rig.ClientOptions{OnPublish: wills.record})
	if err := watch.Subscribe("clk/will/#", 1); err != nil {
		t.Fatal(err)
	}
	pinger, _ := v5Client(t, b.addr, "clock-pinger", true, 0, rig.ClientOptions{KeepAlive: uint16(secs(2))})
	silentAt := time.Now()
	silent, _ := v5Client(t, b.addr, "clock-silent", true, 0, rig.ClientOptions{
		Connect: func(cp *packet.Connect) { cp.KeepAlive = uint16(secs(2)) }}) // and never pings
	silentDropped := make(chan time.Duration, 1)
	go func() {
		select {
		case <-silent.Done():
			silentDropped <- time.Since(silentAt)
		case <-stop:
		}
	}()
	will, _ := v5Client(t, b.addr, "clock-will", true, secs(60), rig.ClientOptions{
		Will: &packet.Publish{Topic: []byte("clk/will/1"), QoS: 1, Payload: []byte("gone")},
		Connect: func(cp *packet.Connect) {
			cp.WillProps.WillDelay = secs(3)
			cp.WillProps.Set(packet.PropWillDelay)
		}})
	for _, id := range []string{"clock-e1", "clock-e2"} {
		c, _ := v5Client(t, b.addr, id, true, secs(4), rig.ClientOptions{})
		if err := c.Subscribe("clk/e/#", 1); err != nil {
			t.Fatal(err)
		}
		c.Disconnect()
	}
	q, _ := v5Client(t, b.addr, "clock-q", true, 300, rig.ClientOptions{})
	if err := q.Subscribe("clk/m/#", 1); err != nil {
		t.Fatal(err)
	}
	q.Disconnect()
	publishV5(t, b.addr, "clk/m/1", secs(4), false)
	will.Close() // killed: the will is due after its delay
	t0 := time.Now()

	sleepUntil(t0.Add(2 * u))
	if _, present := v5Client(t, b.addr, "clock-e1", false, secs(4), rig.ClientOptions{}); !present {
		t.Errorf("a session with %v of expiry was gone after %v of jumps", 4*u, 2*u)
	}
	var qin inbox
	q, _ = v5Client(t, b.addr, "clock-q", false, 300, rig.ClientOptions{OnPublish: qin.record})
	m, ok := qin.get("clk/m/1", 2*time.Second)
	switch {
	case !ok:
		t.Errorf("a message with %v of expiry was gone after %v of jumps", 4*u, 2*u)
	case !m.hasExpiry || m.expiry < secs(1) || m.expiry > secs(2):
		t.Errorf("a message with %v of expiry, %v later: %d s left, want %d..%d", 4*u, 2*u, m.expiry, secs(1), secs(2))
	}
	fig.Set("msg_expiry_left_s", m.expiry)
	q.Disconnect()
	publishV5(t, b.addr, "clk/m/2", secs(2), false)

	sleepUntil(t0.Add(5 * u))
	if _, present := v5Client(t, b.addr, "clock-e2", false, secs(4), rig.ClientOptions{}); present {
		t.Errorf("a session with %v of expiry was still there after %v", 4*u, 5*u)
	}
	var qin2 inbox
	q, _ = v5Client(t, b.addr, "clock-q", false, 300, rig.ClientOptions{OnPublish: qin2.record})
	if m, ok := qin2.get("clk/m/2", time.Second); ok {
		t.Errorf("a message with %v of expiry was delivered %v later (%d s left)", 2*u, 3*u, m.expiry)
	}
	q.Disconnect()

	select {
	case d := <-silentDropped:
		fig.Set("silent_dropped_after", d)
		// The broker's keep-alive check has its own granularity: allow
		// half the keep-alive beyond 1.5 times it.
		if d < 3*u-100*time.Millisecond || d > 4*u {
			t.Errorf("a client silent for a %v keep-alive was dropped after %v, want %v..%v", 2*u, d, 3*u, 4*u)
		}
	default:
		t.Errorf("a client silent for a %v keep-alive was still connected after %v", 2*u, time.Since(silentAt))
	}
	select {
	case <-pinger.Done():
		t.Errorf("a client that pings was dropped: %v", pinger.Err())
	default:
	}
	if w, ok := wills.get("clk/will/1", 0); !ok {
		t.Errorf("the will (delay %v) of a client killed %v ago never came", 3*u, time.Since(t0))
	} else {
		d := w.at.Sub(t0)
		fig.Set("will_after", d)
		if d < 3*u-100*time.Millisecond || d > 3*u+u/2 {
			t.Errorf("the will with a %v delay came %v after its client was killed", 3*u, d)
		}
	}
}

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// restartJump is a wall-clock jump across a restart.
type restartJump struct {
	name          string
	before, after time.Time
	downtime      time.Duration // what the broker should count
}

func restartJumps() []restartJump {
	ntp := date("2026-11-24T08:00:00Z")
	return []restartJump{
		{"booted-1970-then-ntp", date("1970-01-01T00:10:00Z"), ntp, 0},
		{"rtc-lost-back-to-1970", ntp, date("1970-01-01T00:00:30Z"), 0},
		{"set-back-a-month", ntp, ntp.AddDate(0, -1, 0), 0},
		{"ntp-to-2126", date("1970-01-01T00:10:00Z"), date("2126-11-24T08:00:00Z"), 0},
		{"down-20s-trusted", ntp, ntp.Add(20 * time.Second), 20 * time.Second},
	}
}

// Message and session expiries of the restart cases, in seconds.
const restartLong, restartShort = 600, 3

// restarted is a broker restarted across a wall-clock jump.
type restarted struct {
	engine string
	jump   restartJump
	b      *inprocBroker
	at     time.Time // when it started again
}

// restartAcross stores a session with a long expiry (holding a message
// with a long and one with a short expiry), a session with a short
// expiry, and retained messages with long and short expiry; then restarts
// the broker across the jump.
func restartAcross(t *testing.T, engine string, c restartJump) *restarted {
	var clock wallClock
	clock.set(c.before)
	dir := t.TempDir()
	b := startInproc(t, dir, engine, clock.now)
	q, _ := v5Client(t, b.addr, "clock-q", true, 3600, rig.ClientOptions{})
	if err := q.Subscribe("clk/m/#", 1); err != nil {
		t.Fatal(err)
	}
	q.Disconnect()
	s, _ := v5Client(t, b.addr, "clock-s", true, restartShort, rig.ClientOptions{})
	s.Disconnect()
	publishV5(t, b.addr, "clk/m/long", restartLong, false)
	publishV5(t, b.addr, "clk/m/short", restartShort, false)
	publishV5(t, b.addr, "clk/r/long", restartLong, true)
	publishV5(t, b.addr, "clk/r/short", restartShort, true)
	b.stop()

	clock.set(c.after)
	return &restarted{engine: engine, jump: c, b: startInproc(t, dir, engine, clock.now), at: time.Now()}
}

// check checks, once the short expiries have passed since the restart,
// that the long ones are there with their time left less the counted
// downtime and the short ones gone.
func (r *restarted) check(t *testing.T) {
	waited := time.Since(r.at)
	down := r.jump.downtime.Seconds()
	wantLeft := func(m arrival, what string) {
		hi := restartLong - down
		lo := hi - waited.Seconds() - 3 // the time stored before the stop, rounding
		if !m.hasExpiry || float64(m.expiry) < lo || float64(m.expiry) > hi {
			t.Errorf("%s: %d s of expiry left, want %.0f..%.0f", what, m.expiry, lo, hi)
		}
	}
	addr := r.b.addr
	var qin inbox
	if _, present := v5Client(t, addr, "clock-q", false, 3600, rig.ClientOptions{OnPublish: qin.record}); !present {
		t.Fatal("a session with an hour of expiry is gone after the restart")
	}
	if m, ok := qin.get("clk/m/long", 2*time.Second); !ok {
		t.Error("a queued message with 10 minutes of expiry is gone after the restart")
	} else {
		wantLeft(m, "queued message")
	}
	if _, ok := qin.get("clk/m/short", 200*time.Millisecond); ok {
		t.Errorf("a queued message with %d s of expiry was delivered %v after the restart: it lives for ever", restartShort, waited)
	}
	if _, present := v5Client(t, addr, "clock-s", false, restartShort, rig.ClientOptions{}); present {
		t.Errorf("a session with %d s of expiry is there %v after the restart: it lives for ever", restartShort, waited)
	}
	var rin inbox
	c, _ := v5Client(t, addr, "clock-r", true, 0, rig.ClientOptions{OnPublish: rin.record})
	if err := c.Subscribe("clk/r/#", 1); err != nil {
		t.Fatal(err)
	}
	if m, ok := rin.get("clk/r/long", 2*time.Second); !ok {
		t.Error("a retained message with 10 minutes of expiry is gone after the restart")
	} else {
		wantLeft(m, "retained message")
	}
	if _, ok := rin.get("clk/r/short", 200*time.Millisecond); ok {
		t.Errorf("a retained message with %d s of expiry was delivered %v after the restart: it lives for ever", restartShort, waited)
	}
}
