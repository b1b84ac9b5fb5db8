package bridge

import (
	"fmt"
	"testing"
	"time"
)

// TestResendAfterReconnect: messages in flight when the connection breaks
// are sent again first, in order; with clean_session false they carry DUP
// and their original packet ids [MQTT-4.4.0-1] [MQTT-3.3.1-1], with
// clean_session true they are new publishes (DUP 0).
func TestResendAfterReconnect(t *testing.T) {
	for _, clean := range []bool{false, true} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			f := newFakeUpstream(t)
			f.setDropAfter(5) // first connection: five publishes, no acks, then gone
			cfg := testConfig("f", f.addr(), Rule{Pattern: "r/#", Direction: Out, QoS: 1})
			cfg.CleanSession = clean
			e := startEdge(t, t.TempDir(), cfg)
			publishSeq(t, client(t, e.addr, "pub"), "r/m", "m", 1, 0, 8, 8, nil)
			// The server reads five publishes and goes away; the bridge may
			// have written a few more that nobody read.
			first := f.waitPubs(t, 5)[:5]
			f.setDropAfter(0)
			f.setAck(true)
			second := f.waitPubs(t, 5+8)[5:]
			e.waitStats(t, "f", 10*time.Second, "empty queue", func(s Stats) bool { return s.Queued == 0 })
			for i, p := range first {
				if p.dup || p.conn != 1 || p.payload != fmt.Sprintf("m-%d", i) {
					t.Fatalf("first sends: %+v", first)
				}
			}
			dups := 0
			for i, q := range second {
				if q.conn != 2 || q.payload != fmt.Sprintf("m-%d", i) {
					t.Fatalf("second connection, publish %d: %+v", i, q)
				}
				if q.dup {
					dups++
				}
				if i < len(first) && (q.dup == clean || !clean && q.id != first[i].id) {
					t.Fatalf("resend %d: %+v after %+v (clean_session %v)", i, q, first[i], clean)
				}
			}
			st := e.stats(t, "f")
			if st.Sent != 8 || st.Resent < 5 || !clean && st.Resent != uint64(dups) {
				t.Fatalf("sent %d, resent %d (%d with DUP); want 8 and at least 5", st.Sent, st.Resent, dups)
			}
		})
	}
}

// TestInflightWindow: no more than Inflight messages are unacknowledged at
// once, and the rest follows as acknowledgements come.
func TestInflightWindow(t *testing.T) {
	f := newFakeUpstream(t)
	cfg := testConfig("f", f.addr(), Rule{Pattern: "r/#", Direction: Out, QoS: 1})
	cfg.Inflight = 20
	e := startEdge(t, t.TempDir(), cfg)
	publishSeq(t, client(t, e.addr, "pub"), "r/m", "m", 1, 0, 50, 50, nil)
	f.waitPubs(t, 20)
	time.Sleep(200 * time.Millisecond)
	if n := len(f.received()); n != 20 {
		t.Fatalf("%d publishes without acknowledgements, want the window of 20", n)
	}
	if st := e.stats(t, "f"); st.Inflight != 20 || st.Queued != 50 {
		t.Fatalf("inflight %d, queued %d; want 20 and 50", st.Inflight, st.Queued)
	}
	f.setAck(true)
	got := f.waitPubs(t, 50)
	for i, p := range got {
		if p.payload != fmt.Sprintf("m-%d", i) {
			t.Fatalf("publish %d is %s", i, p.payload)
		}
	}
	e.waitStats(t, "f", 10*time.Second, "empty queue", func(s Stats) bool { return s.Queued == 0 && s.Inflight == 0 })
}

// TestQoS2KeepsPacketIDAcrossRestart: a QoS 2 message sent before edgemq
// stopped is sent again after the restart with DUP and the same packet
// id, so that the remote, which may have it already, delivers it once.
func TestQoS2KeepsPacketIDAcrossRestart(t *testing.T) {
	f := newFakeUpstream(t)
	dir := t.TempDir()
	cfg := testConfig("f", f.addr(), Rule{Pattern: "r/#", Direction: Out, QoS: 2})
	cfg.ClientID = "gw"
	cfg.Inflight = 3 // the fourth message stays queued, unsent
	e := startEdge(t, dir, cfg)
	publishSeq(t, client(t, e.addr, "pub"), "r/m", "m", 1, 0, 4, 4, nil)
	before := f.waitPubs(t, 3)
	e.close()

	f.setAck(true)
	e = startEdge(t, dir, cfg)
	after := f.waitPubs(t, 3+4)[3:]
	e.waitStats(t, "f", 10*time.Second, "empty queue", func(s Stats) bool { return s.Queued == 0 && s.Inflight == 0 })
	for i, p := range before {
		q := after[i]
		if q.payload != p.payload || q.id != p.id || !q.dup || q.qos != 2 {
			t.Fatalf("after the restart, publish %d: %+v; before: %+v", i, q, p)
		}
	}
	if q := after[3]; q.payload != "m-3" || q.dup || q.id == before[0].id || q.id == before[1].id || q.id == before[2].id {
		t.Fatalf("the message queued later: %+v (ids before: %d %d %d)", q, before[0].id, before[1].id, before[2].id)
	}
	// The stored ids are gone with their messages.
	q := e.mgr.entries["f"].q
	q.mu.Lock()
	n := len(q.ids)
	q.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d packet ids still stored after PUBCOMP", n)
	}
}
