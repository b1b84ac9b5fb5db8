package broker_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

func openStore(t *testing.T, dir, engine string) *storage.Store {
	t.Helper()
	opts := storage.Options{Dir: dir, Engine: engine, Sync: storage.SyncBatch}
	eng, err := storage.OpenEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
	return storage.NewStore(eng, opts)
}

// TestPersistenceAcrossRestart: persistent sessions (subscriptions, queued
// QoS 1/2 messages, a partly acknowledged inflight window), v5 session
// expiry and retained messages survive a restart, on each disk engine.
func TestPersistenceAcrossRestart(t *testing.T) {
	for _, engine := range []string{storage.EngineBolt, storage.EngineBadger} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			store := openStore(t, dir, engine)
			tb := startBroker(t, broker.Options{Store: store})

			// A 3.1.1 persistent session and a v5 session with expiry.
			s1 := dialRaw(t, tb.addr, packet.V311)
			s1.connect(packet.Connect{ClientID: []byte("keeper"), KeepAlive: 60})
			s1.subscribe(1, packet.Subscription{Filter: []byte("p/q1/#"), QoS: 1}, packet.Subscription{Filter: []byte("p/q2"), QoS: 2})
			s5 := dialRaw(t, tb.addr, packet.V5)
			cp := v5Connect("keeper5")
			cp.CleanStart = false
			cp.Props.SessionExpiry = 3600
			cp.Props.Set(packet.PropSessionExpiry)
			s5.connect(cp)
			s5.subscribe(1, packet.Subscription{Filter: []byte("p/+/x"), QoS: 1})
			s5.nc.Close()

			pub := dialRaw(t, tb.addr, packet.V311)
			pub.connect(packet.Connect{ClientID: []byte("pub"), CleanStart: true})
			publish := func(topic string, qos byte, pid uint16, payload string, retain bool) {
				p := packet.Publish{Topic: []byte(topic), QoS: qos, PacketID: pid, Payload: []byte(payload), Retain: retain}
				pub.send(p.Append(nil, packet.V311))
				switch qos {
				case 1:
					pub.expectAck(packet.PUBACK)
				case 2:
					pub.expectAck(packet.PUBREC)
					r := packet.Ack{Type: packet.PUBREL, PacketID: pid}
					pub.send(r.Append(nil, packet.V311))
					pub.expectAck(packet.PUBCOMP)
				}
			}
			// s1 is online: it takes and acknowledges the first 10 QoS 1
			// messages; the broker then goes down with the rest queued.
			for i := range 10 {
				publish("p/q1/x", 1, uint16(i+1), fmt.Sprint("a", i), false)
				m := s1.expectPublish(2 * time.Second)
				a := packet.Ack{Type: packet.PUBACK, PacketID: m.PacketID}
				s1.send(a.Append(nil, packet.V311))
			}
			time.Sleep(100 * time.Millisecond) // let the acks' deletes commit
			s1.nc.Close()
			time.Sleep(50 * time.Millisecond)
			var want1, want2 []string
			for i := range 100 {
				publish("p/q1/x", 1, uint16(100+i), fmt.Sprint("b", i), false)
				want1 = append(want1, fmt.Sprint("b", i))
			}
			for i := range 10 {
				publish("p/q2", 2, uint16(300+i), fmt.Sprint("c", i), false)
				want2 = append(want2, fmt.Sprint("c", i))
			}
			publish("p/retained", 1, 400, "kept", true)

			tb.stop()
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}

			store2 := openStore(t, dir, engine)
			defer store2.Close()
			tb2 := startBroker(t, broker.Options{Store: store2})
			if st := tb2.srv.Stats(); st.Sessions < 2 || st.Subscriptions != 3 || st.Retained != 1 {
				t.Fatalf("after restart: %d sessions, %d subscriptions, %d retained; want >= 2, 3, 1", st.Sessions, st.Subscriptions, st.Retained)
			}
			r1 := dialRaw(t, tb2.addr, packet.V311)
			if ack := r1.connect(packet.Connect{ClientID: []byte("keeper"), KeepAlive: 60}); !ack.SessionPresent {
				t.Fatal("session not present after restart")
			}
			var got1, got2 []string
			for len(got1) < len(want1) || len(got2) < len(want2) {
				h, body := r1.next(3 * time.Second)
				switch h.Type {
				case packet.PUBLISH:
					var p packet.Publish
					if err := p.Decode(h, append([]byte(nil), body...), packet.V311); err != nil {
						t.Fatal(err)
					}
					if p.QoS == 1 {
						got1 = append(got1, string(p.Payload))
						a := packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID}
						r1.send(a.Append(nil, packet.V311))
					} else {
						got2 = append(got2, string(p.Payload))
						a := packet.Ack{Type: packet.PUBREC, PacketID: p.PacketID}
						r1.send(a.Append(nil, packet.V311))
					}
				case packet.PUBREL:
					var a packet.Ack
					a.Decode(h, body, packet.V311)
					c := packet.Ack{Type: packet.PUBCOMP, PacketID: a.PacketID}
					r1.send(c.Append(nil, packet.V311))
				}
			}
			if !slices.Equal(got1, want1) {
				t.Fatalf("QoS 1 after restart: got %d %v", len(got1), got1)
			}
			if !slices.Equal(got2, want2) {
				t.Fatalf("QoS 2 after restart: got %v", got2)
			}
			// The v5 session kept its subscription and its queue.
			r5 := dialRaw(t, tb2.addr, packet.V5)
			cp.CleanStart = false
			if ack := r5.connect(cp); !ack.SessionPresent {
				t.Fatal("v5 session with expiry not present after restart")
			}
			// It was offline throughout, so it also has the first ten.
			want5 := append(seq("a", 10), want1...)
			for i := range want5 {
				p := r5.expectPublish(2 * time.Second)
				if string(p.Payload) != want5[i] {
					t.Fatalf("v5 session: message %d = %q, want %q", i, p.Payload, want5[i])
				}
				a := packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID}
				r5.send(a.Append(nil, packet.V5))
			}
			// The retained message is back.
			n := dialRaw(t, tb2.addr, packet.V311)
			n.connect(packet.Connect{ClientID: []byte("new"), CleanStart: true})
			n.subscribe(1, packet.Subscription{Filter: []byte("p/retained"), QoS: 1})
			if p := n.expectPublish(2 * time.Second); string(p.Payload) != "kept" || !p.Retain {
				t.Fatalf("retained after restart: %q retain=%v", p.Payload, p.Retain)
			}
		})
	}
}
