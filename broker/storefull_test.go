package broker_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

// TestStoreFullRefusesBeforeRouting: while the store is full, a QoS 1/2
// message that a persistent session would have to keep is refused (v5:
// PUBACK/PUBREC 0x97; 3.1.1: the connection closes without a PUBACK) and
// is not delivered to anyone, not even later to that session: its
// publisher was told it was not accepted. QoS 0 still flows, $SYS says
// why, and once the store has room again publishes are accepted without
// a restart. (Found by faults/TestFlashFull: refused messages were routed
// into the offline session's queue before the failing commit and
// delivered when it reconnected.)
func TestStoreFullRefusesBeforeRouting(t *testing.T) {
	dir := t.TempDir()
	eng, err := storage.OpenEngine(storage.Options{Dir: dir, Engine: storage.EngineBolt})
	if err != nil {
		t.Fatal(err)
	}
	base, err := eng.Size()
	if err != nil {
		t.Fatal(err)
	}
	store := storage.NewStore(eng, storage.Options{Dir: dir, Sync: storage.SyncBatch, MaxDiskBytes: base + 256<<10})
	tb := startBroker(t, broker.Options{Store: store})
	t.Cleanup(func() { store.Close() })

	// The offline persistent session, and an online QoS 0 subscriber.
	keeper := func() *rawClient {
		c := dialRaw(t, tb.addr, packet.V5)
		cp := packet.Connect{ClientID: []byte("keeper"), KeepAlive: 60}
		cp.Props.SessionExpiry = 3600
		cp.Props.Set(packet.PropSessionExpiry)
		c.connect(cp)
		return c
	}
	k := keeper()
	k.subscribe(1, packet.Subscription{Filter: []byte("full/#"), QoS: 2})
	k.nc.Close()
	live := dialRaw(t, tb.addr, packet.V311)
	live.connect(packet.Connect{ClientID: []byte("live"), CleanStart: true, KeepAlive: 60})
	live.subscribe(1, packet.Subscription{Filter: []byte("full/#"), QoS: 0})

	// Fill the store past max_disk_bytes with other data.
	var n int
	for {
		var b storage.Batch
		for range 16 {
			n++
			b.Put("ballast", []byte(strconv.Itoa(n)), make([]byte, 4096))
		}
		err := store.Write(&b)
		if errors.Is(err, storage.ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 2*time.Second, "the store to be full", func() bool { return store.Full() != nil })

	pub := dialRaw(t, tb.addr, packet.V5)
	pub.connect(packet.Connect{ClientID: []byte("pub5"), CleanStart: true, KeepAlive: 60})
	publish := func(qos byte, pid uint16, payload string) {
		m := packet.Publish{Topic: []byte("full/x"), QoS: qos, PacketID: pid, Payload: []byte(payload)}
		pub.send(m.Append(nil, packet.V5))
	}
	publish(1, 1, "refused-1")
	if a := pub.expectAck(packet.PUBACK); a.Code != packet.QuotaExceeded {
		t.Fatalf("QoS 1 on a full store: PUBACK %v, want quota exceeded", a.Code)
	}
	publish(2, 2, "refused-2")
	if a := pub.expectAck(packet.PUBREC); a.Code != packet.QuotaExceeded {
		t.Fatalf("QoS 2 on a full store: PUBREC %v, want quota exceeded", a.Code)
	}
	publish(0, 0, "qos0")
	if p := live.expectPublish(2 * time.Second); string(p.Payload) != "qos0" {
		t.Fatalf("the online subscriber got %q, want the QoS 0 message only", p.Payload)
	}

	pub3 := dialRaw(t, tb.addr, packet.V311)
	pub3.connect(packet.Connect{ClientID: []byte("pub3"), CleanStart: true, KeepAlive: 60})
	m := packet.Publish{Topic: []byte("full/x"), QoS: 1, PacketID: 1, Payload: []byte("refused-3")}
	pub3.send(m.Append(nil, packet.V311))
	if h, _, err := pub3.tryNext(2 * time.Second); err == nil {
		t.Fatalf("3.1.1 publisher on a full store got %v, want the connection closed", h.Type)
	}
	if !tb.logs.hasLine("not acknowledging it", "client=pub3", "max_disk_bytes") {
		t.Error("the refused 3.1.1 publish was not logged with the reason")
	}
	if st := tb.srv.Stats(); st.RefusedStoreFull != 3 {
		t.Errorf("RefusedStoreFull = %d, want 3", st.RefusedStoreFull)
	}
	if s := tb.srv.SysTopics()["$SYS/broker/storage/status"]; !strings.HasPrefix(s, "full: ") || !strings.Contains(s, "max_disk_bytes") {
		t.Errorf("$SYS/broker/storage/status = %q while full", s)
	}

	// Room again: accepted without a restart.
	for i := 1; i <= n; i += 256 {
		var b storage.Batch
		for j := i; j < i+256 && j <= n; j++ {
			b.Delete("ballast", []byte(strconv.Itoa(j)))
		}
		if err := store.Write(&b); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 3*time.Second, "the store to have room", func() bool { return store.Full() == nil })
	publish(1, 3, "accepted")
	if a := pub.expectAck(packet.PUBACK); a.Code != packet.Success {
		t.Fatalf("QoS 1 once the store has room: PUBACK %v", a.Code)
	}
	if s := tb.srv.SysTopics()["$SYS/broker/storage/status"]; s != "ok" {
		t.Errorf("$SYS/broker/storage/status = %q after recovery", s)
	}

	// The keeper gets the QoS 0 message (queued in memory) and the
	// accepted one, and nothing that was refused.
	k = keeper()
	var got []string
	for {
		h, body, err := k.tryNext(300 * time.Millisecond)
		if err != nil {
			break
		}
		var p packet.Publish
		if h.Type != packet.PUBLISH || p.Decode(h, body, packet.V5) != nil {
			t.Fatalf("the keeper got %v", h.Type)
		}
		got = append(got, string(p.Payload))
		if p.QoS == 1 {
			a := packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID}
			k.send(a.Append(nil, packet.V5))
		}
	}
	if strings.Join(got, ",") != "qos0,accepted" {
		t.Fatalf("the keeper got %q, want the QoS 0 and the accepted message only", got)
	}
}
