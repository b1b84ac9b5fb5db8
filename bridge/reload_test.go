package bridge

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestEdgemqUpstream: a second edgemq is the upstream. It accepts the
// bridge protocol flag that a "both" rule asks for (No Local for the
// bridge), so nothing the bridge sends comes back; out, in and both rules
// work.
func TestEdgemqUpstream(t *testing.T) {
	upstream := startEdge(t, "")
	e := startEdge(t, t.TempDir(), testConfig("hub", upstream.addr,
		Rule{Pattern: "a/#", Direction: Out, QoS: 1, RemotePrefix: "gw1/"},
		Rule{Pattern: "c/#", Direction: In, QoS: 1, RemotePrefix: "gw1/"},
		Rule{Pattern: "b/#", Direction: Both, QoS: 2},
	))
	e.waitStats(t, "hub", 10*time.Second, "link up", func(s Stats) bool { return s.State == LinkUp })
	if strings.Contains(e.log.String(), "refuses the bridge protocol flag") {
		t.Error("the bridge fell back from the bridge protocol flag: edgemq accepts it")
	}
	remote := newSink(t, upstream.addr, "remote", "#", 2)
	local := newSink(t, e.addr, "local", "#", 2)
	publishSeq(t, client(t, e.addr, "lp"), "a/x", "a", 1, 0, 100, 20, nil)
	publishSeq(t, client(t, e.addr, "lp2"), "b/x", "bl", 2, 0, 10, 5, nil)
	publishSeq(t, client(t, upstream.addr, "rp"), "gw1/c/y", "c", 1, 0, 100, 20, nil)
	publishSeq(t, client(t, upstream.addr, "rp2"), "b/y", "br", 2, 0, 10, 5, nil)
	remote.waitUnique(t, 220, 10*time.Second) // a, bl, c, br
	local.waitUnique(t, 220, 10*time.Second)  // a, bl, c, br
	time.Sleep(200 * time.Millisecond)
	remote.mu.Lock()
	defer remote.mu.Unlock()
	for p, n := range remote.seen {
		if n != 1 {
			t.Errorf("upstream: %s arrived %d times, want once", p, n)
		}
		if strings.HasPrefix(p, "a-") && remote.topics[p] != "gw1/a/x" {
			t.Errorf("upstream: %s on %q, want gw1/a/x", p, remote.topics[p])
		}
	}
	checkOrder(t, remote.firsts)
	local.mu.Lock()
	defer local.mu.Unlock()
	for p, n := range local.seen {
		if strings.HasPrefix(p, "c-") && (n != 1 || local.topics[p] != "c/y") {
			t.Errorf("local: %s arrived %d times on %q, want once on c/y", p, n, local.topics[p])
		}
		// Sent out over "both" and not echoed back by the upstream.
		if strings.HasPrefix(p, "bl-") && n != 1 {
			t.Errorf("local: %s arrived %d times, want once (no echo through the upstream)", p, n)
		}
	}
}

// TestReload: Apply changes the running bridges like a SIGHUP: a changed
// bridge reconnects to its new upstream and keeps its queue and counters,
// nothing published meanwhile is lost, a removed bridge stops, an added
// one starts, an unchanged one is left alone, and an invalid set of
// configurations changes nothing.
func TestReload(t *testing.T) {
	a, b := newMosquitto(t, nil), newMosquitto(t, nil)
	a.start()
	b.start()
	sa := newSink(t, a.addr, "sink", "#", 1)
	sb := newSink(t, b.addr, "sink", "#", 1)
	x := testConfig("x", a.addr, Rule{Pattern: "r/#", Direction: Out, QoS: 1})
	gone := testConfig("gone", a.addr, Rule{Pattern: "g/#", Direction: Out, QoS: 1})
	keep := testConfig("keep", b.addr, Rule{Pattern: "k/#", Direction: Out, QoS: 1})
	e := startEdge(t, t.TempDir(), x, gone, keep)
	for _, n := range []string{"x", "gone", "keep"} {
		e.waitStats(t, n, 10*time.Second, "link up", func(s Stats) bool { return s.State == LinkUp })
	}

	const n = 3000
	c := client(t, e.addr, "pub")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		publishSeq(t, c, "r/m", "r", 1, 0, n, 50, nil)
	}()
	for e.stats(t, "x").Enqueued < n/3 {
		time.Sleep(time.Millisecond)
	}
	x2 := x
	x2.Address = "tcp://" + b.addr
	y := testConfig("y", a.addr, Rule{Pattern: "y/#", Direction: Out, QoS: 1})
	bad := testConfig("bad", a.addr, Rule{Pattern: "y/#+", Direction: Out})
	if err := e.mgr.Apply([]Config{x2, y, keep, bad}); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("Apply with an invalid bridge: %v, want an error naming it", err)
	}
	if names := statNames(e.mgr.Stats()); names != "gone keep x" {
		t.Fatalf("after a refused Apply the bridges are %q, want them unchanged", names)
	}
	keepConnects := e.stats(t, "keep").Connects
	if err := e.mgr.Apply([]Config{x2, y, keep}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if names := statNames(e.mgr.Stats()); names != "keep x y" {
		t.Fatalf("bridges %q after Apply, want keep x y", names)
	}
	e.waitStats(t, "x", 30*time.Second, "drained to the new upstream", func(s Stats) bool {
		return s.State == LinkUp && s.Queued == 0 && s.Inflight == 0 && s.Enqueued == n
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		missing := 0
		sa.mu.Lock()
		sb.mu.Lock()
		for i := range n {
			p := fmt.Sprintf("r-%d", i)
			if sa.seen[p]+sb.seen[p] == 0 {
				missing++
			}
		}
		fromA, fromB := len(sa.firsts), len(sb.firsts)
		sb.mu.Unlock()
		sa.mu.Unlock()
		if missing == 0 {
			t.Logf("%d messages: %d reached the old upstream, %d the new one", n, fromA, fromB)
			if fromB == 0 {
				t.Error("nothing reached the new upstream")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages reached neither upstream", missing, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := e.stats(t, "keep").Connects; got != keepConnects {
		t.Errorf("the unchanged bridge reconnected (%d connects, was %d)", got, keepConnects)
	}
	e.waitStats(t, "y", 10*time.Second, "link up", func(s Stats) bool { return s.State == LinkUp })
	before, _ := sa.counts()
	publishSeq(t, client(t, e.addr, "ypub"), "y/1", "y", 1, 0, 1, 1, nil)
	publishSeq(t, client(t, e.addr, "gpub"), "g/1", "g", 1, 0, 1, 1, nil)
	sa.waitUnique(t, before+1, 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	sa.mu.Lock()
	defer sa.mu.Unlock()
	if sa.seen["y-0"] != 1 || sa.seen["g-0"] != 0 {
		t.Errorf("added bridge forwarded y-0 %d times (want 1), removed bridge g-0 %d times (want 0)", sa.seen["y-0"], sa.seen["g-0"])
	}
}

func statNames(st []Stats) string {
	var names []string
	for _, s := range st {
		names = append(names, s.Name)
	}
	return strings.Join(names, " ")
}

// TestStatsDuringReload: Stats may be called while Apply reconfigures.
func TestStatsDuringReload(t *testing.T) {
	f := newFakeUpstream(t)
	f.setAck(true)
	cfg := testConfig("s", f.addr(), Rule{Pattern: "r/#", Direction: Out, QoS: 1})
	e := startEdge(t, t.TempDir(), cfg)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				e.mgr.Stats()
				e.mgr.SysTopics()
			}
		}
	}()
	for i := range 5 {
		cfg.Keepalive = time.Duration(10+i) * time.Second
		if err := e.mgr.Apply([]Config{cfg}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
	topics := e.mgr.SysTopics()
	if topics["$SYS/bridge/s/state"] == "" || topics["$SYS/bridge/s/queue/messages"] != "0" {
		t.Fatalf("$SYS topics: %v", topics)
	}
}

// TestSysTopics: the bridge's gauges and counters are published retained
// under $SYS/bridge/<name>/, and cleared when the bridge is removed.
func TestSysTopics(t *testing.T) {
	f := newFakeUpstream(t)
	f.setAck(true)
	e := startEdge(t, "")
	mgr, err := NewManager(Options{Server: e.srv, SysInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	if err := mgr.Apply([]Config{testConfig("sys", f.addr(), Rule{Pattern: "r/#", Direction: Out, QoS: 1})}); err != nil {
		t.Fatal(err)
	}
	publishSeq(t, client(t, e.addr, "pub"), "r/m", "m", 1, 0, 7, 7, nil)
	got := make(chan [2]string, 100)
	c := client(t, e.addr, "sys")
	c.Subscribe("$SYS/bridge/sys/#", 0, func(_ mqtt.Client, m mqtt.Message) {
		got <- [2]string{m.Topic(), string(m.Payload())}
	}).Wait()
	want := map[string]string{"$SYS/bridge/sys/state": "up", "$SYS/bridge/sys/messages/acked": "7",
		"$SYS/bridge/sys/messages/enqueued": "7", "$SYS/bridge/sys/queue/messages": "0"}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case m := <-got:
			if want[m[0]] == m[1] {
				delete(want, m[0])
			}
		case <-deadline:
			t.Fatalf("never saw %v", want)
		}
	}
	if err := mgr.Apply(nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the sys loop clears them at its next tick
	late := make(chan string, 100)
	c2 := client(t, e.addr, "late")
	c2.Subscribe("$SYS/bridge/#", 0, func(_ mqtt.Client, m mqtt.Message) { late <- m.Topic() }).Wait()
	select {
	case topic := <-late:
		t.Fatalf("retained %s is still there after the bridge was removed", topic)
	case <-time.After(200 * time.Millisecond):
	}
}
