package broker_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

// fakeClock is a settable wall clock for broker.Options.Clock.
type fakeClock struct{ ns atomic.Int64 }

func (f *fakeClock) set(t time.Time) { f.ns.Store(t.UnixNano()) }
func (f *fakeClock) now() time.Time  { return time.Unix(0, f.ns.Load()) }

// TestClockJumpsAcrossRestart: stored session expiry and message expiry
// survive a restart across a wall-clock jump. Timers while running use the
// monotonic clock; what is stored counts the downtime only when the wall
// clock can be trusted at both ends.
func TestClockJumpsAcrossRestart(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		name           string
		before, after  time.Time
		present        bool // the session (expiry 3600 s) is still there
		minLeft, maxLe uint32
	}{
		// A board without a real-time clock: booted in 1970, NTP then set
		// 2026. Nothing expires at once, nothing is extended.
		{"booted in 1970, restarted in 2026", at("1970-01-01T00:10:00Z"), at("2026-11-24T08:00:00Z"), true, 590, 600},
		// A trustworthy clock: the downtime counts.
		{"5 minutes down", at("2026-11-24T10:00:00Z"), at("2026-11-24T10:05:00Z"), true, 290, 300},
		{"2 hours down", at("2026-11-24T10:00:00Z"), at("2026-11-24T12:00:00Z"), false, 0, 0},
		// The clock was set back: the downtime is unknown, counted as 0.
		{"clock set back a month", at("2026-11-24T10:00:00Z"), at("2026-10-24T10:00:00Z"), true, 590, 600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var clock fakeClock
			clock.set(tc.before)
			store := openStore(t, dir, storage.EngineBolt)
			tb := startBroker(t, broker.Options{Store: store, Clock: clock.now})
			cp := v5Connect("sleeper")
			cp.CleanStart = false
			cp.Props.SessionExpiry = 3600
			cp.Props.Set(packet.PropSessionExpiry)
			sub := dialRaw(t, tb.addr, packet.V5)
			sub.connect(cp)
			sub.subscribe(1, packet.Subscription{Filter: []byte("c/#"), QoS: 1})
			sub.nc.Close()
			waitFor(t, 2*time.Second, "session offline", func() bool { return tb.srv.Stats().ClientsConnected == 0 })
			pub := dialRaw(t, tb.addr, packet.V5)
			pub.connect(v5Connect("pub"))
			p := packet.Publish{Topic: []byte("c/x"), QoS: 1, PacketID: 1, Payload: []byte("m")}
			p.Props.MessageExpiry = 600
			p.Props.Set(packet.PropMessageExpiry)
			pub.send(p.Append(nil, packet.V5))
			pub.expectAck(packet.PUBACK)
			r := packet.Publish{Topic: []byte("r/x"), QoS: 1, PacketID: 2, Retain: true, Payload: []byte("r")}
			r.Props.MessageExpiry = 600
			r.Props.Set(packet.PropMessageExpiry)
			pub.send(r.Append(nil, packet.V5))
			pub.expectAck(packet.PUBACK)
			tb.stop()
			store.Close()

			clock.set(tc.after)
			store2 := openStore(t, dir, storage.EngineBolt)
			defer store2.Close()
			tb2 := startBroker(t, broker.Options{Store: store2, Clock: clock.now})
			// The retained message (600 s of expiry) is restored with the
			// same time left as the queued one. (A regression: its restore
			// compared its monotonic deadline with the wall clock, so a
			// clock ahead of the real one dropped it, one behind kept it.)
			rs := dialRaw(t, tb2.addr, packet.V5)
			rs.connect(v5Connect("retained-reader"))
			rs.subscribe(1, packet.Subscription{Filter: []byte("r/#"), QoS: 1})
			if !tc.present {
				if h, _, err := rs.tryNext(300 * time.Millisecond); err == nil {
					t.Fatalf("got %v after the downtime expired the retained message", h.Type)
				}
			} else if m := rs.expectPublish(2 * time.Second); m.Props.MessageExpiry < tc.minLeft || m.Props.MessageExpiry > tc.maxLe {
				t.Fatalf("retained message expiry left %d s, want %d..%d", m.Props.MessageExpiry, tc.minLeft, tc.maxLe)
			}
			c := dialRaw(t, tb2.addr, packet.V5)
			ack := c.connect(cp)
			if ack.SessionPresent != tc.present {
				t.Fatalf("session present = %v, want %v", ack.SessionPresent, tc.present)
			}
			if !tc.present {
				return
			}
			m := c.expectPublish(2 * time.Second)
			left := m.Props.MessageExpiry
			if !m.Props.Has(packet.PropMessageExpiry) || left < tc.minLeft || left > tc.maxLe {
				t.Fatalf("message expiry left %d s, want %d..%d", left, tc.minLeft, tc.maxLe)
			}
		})
	}
}

// TestClockJumpWhileRunning: a wall-clock jump of years while clients are
// connected changes nothing: keep alive, session expiry and message
// expiry run on the monotonic clock.
func TestClockJumpWhileRunning(t *testing.T) {
	var clock fakeClock
	clock.set(time.Date(1970, 1, 1, 0, 0, 5, 0, time.UTC))
	store := openStore(t, t.TempDir(), storage.EngineBolt)
	defer store.Close()
	tb := startBroker(t, broker.Options{Store: store, Clock: clock.now})

	alive := dialRaw(t, tb.addr, packet.V311)
	alive.connect(packet.Connect{ClientID: []byte("alive"), CleanStart: true, KeepAlive: 2})
	cp := v5Connect("away")
	cp.CleanStart = false
	cp.Props.SessionExpiry = 30
	cp.Props.Set(packet.PropSessionExpiry)
	away := dialRaw(t, tb.addr, packet.V5)
	away.connect(cp)
	away.subscribe(1, packet.Subscription{Filter: []byte("j/#"), QoS: 1})
	away.nc.Close()
	pub := dialRaw(t, tb.addr, packet.V5)
	pub.connect(v5Connect("jpub"))
	p := packet.Publish{Topic: []byte("j/x"), QoS: 1, PacketID: 1, Payload: []byte("m")}
	p.Props.MessageExpiry = 60
	p.Props.Set(packet.PropMessageExpiry)
	pub.send(p.Append(nil, packet.V5))
	pub.expectAck(packet.PUBACK)

	clock.set(time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)) // NTP answers: +56 years
	for range 3 {
		time.Sleep(time.Second)
		alive.send([]byte{0xC0, 0})
		if h, _ := alive.next(time.Second); h.Type != packet.PINGRESP {
			t.Fatalf("got %v, want PINGRESP", h.Type)
		}
	}
	back := dialRaw(t, tb.addr, packet.V5)
	if ack := back.connect(cp); !ack.SessionPresent {
		t.Fatal("the session expired with the wall-clock jump")
	}
	m := back.expectPublish(2 * time.Second)
	if m.Props.MessageExpiry < 55 || m.Props.MessageExpiry > 60 {
		t.Fatalf("message expiry left %d s after the jump, want 55..60", m.Props.MessageExpiry)
	}
}
