package bridge

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestDirections: out rules with a wildcard rewrite, in rules with
// prefixes and a rewrite, a both rule with loop prevention (a message that
// came in over the bridge is not sent back, and mosquitto does not echo
// what the bridge sent), and the retain modes.
func TestDirections(t *testing.T) {
	up := newMosquitto(t, nil)
	up.start()
	e := startEdge(t, t.TempDir(), testConfig("cloud", up.addr,
		Rule{Pattern: "sensors/+/temp", Direction: Out, QoS: 1, Rewrite: "site1/{1}/temperature"},
		Rule{Pattern: "cmd/#", Direction: In, QoS: 1, LocalPrefix: "local/", RemotePrefix: "site1/"},
		Rule{Pattern: "chat/#", Direction: Both, QoS: 1, RemotePrefix: "site1/"},
		Rule{Pattern: "fw/+/version", Direction: In, QoS: 0, Rewrite: "firmware/{1}"},
		Rule{Pattern: "cfg/#", Direction: Out, QoS: 1, Retain: RetainAsPublished},
		Rule{Pattern: "state/#", Direction: Out, QoS: 1, Retain: RetainClear},
	))
	e.waitStats(t, "cloud", 10*time.Second, "link up", func(s Stats) bool { return s.State == LinkUp })
	remote := newSink(t, up.addr, "remote-all", "#", 1)
	local := newSink(t, e.addr, "local-all", "#", 1)
	rc := client(t, up.addr, "remote-pub")
	lc := client(t, e.addr, "local-pub")
	pub := func(c mqtt.Client, topic, payload string, retain bool) {
		t.Helper()
		if tok := c.Publish(topic, 1, retain, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	pub(lc, "sensors/boiler/temp", "p1", false)
	pub(rc, "site1/cmd/reboot", "p2", false)
	pub(lc, "chat/a", "p3", false)
	pub(rc, "site1/chat/b", "p4", false)
	pub(rc, "fw/gw7/version", "p5", false)
	pub(lc, "cfg/x", "p6", true)
	pub(lc, "state/x", "p7", true)
	pub(lc, "sensors/boiler/humidity", "p8", false) // matches no rule

	remote.waitUnique(t, 7, 10*time.Second) // p1..p7 but p8
	local.waitUnique(t, 8, 10*time.Second)  // p1..p8
	time.Sleep(300 * time.Millisecond)      // room for an echo or a loop to show

	want := []struct {
		s       *sink
		side    string
		payload string
		topic   string // "" when it must not arrive
	}{
		{remote, "remote", "p1", "site1/boiler/temperature"},
		{local, "local", "p2", "local/cmd/reboot"},
		{remote, "remote", "p2", "site1/cmd/reboot"},
		{remote, "remote", "p3", "site1/chat/a"},
		{local, "local", "p3", "chat/a"},
		{local, "local", "p4", "chat/b"},
		{remote, "remote", "p4", "site1/chat/b"},
		{local, "local", "p5", "firmware/gw7"},
		{remote, "remote", "p6", "cfg/x"},
		{remote, "remote", "p7", "state/x"},
		{remote, "remote", "p8", ""},
	}
	for _, w := range want {
		w.s.mu.Lock()
		n, topic := w.s.seen[w.payload], w.s.topics[w.payload]
		w.s.mu.Unlock()
		switch {
		case w.topic == "" && n != 0:
			t.Errorf("%s: %s arrived on %q; no rule selects it", w.side, w.payload, topic)
		case w.topic != "" && (n != 1 || topic != w.topic):
			t.Errorf("%s: %s arrived %d times on %q, want once on %q", w.side, w.payload, n, topic, w.topic)
		}
	}

	// Retained upstream: cfg/x as published, state/x cleared.
	late := newSink(t, up.addr, "late", "+/x", 1)
	time.Sleep(300 * time.Millisecond)
	late.mu.Lock()
	cfg, state := late.seen["p6"], late.seen["p7"]
	late.mu.Unlock()
	if cfg != 1 || state != 0 {
		t.Errorf("retained upstream: cfg/x %d (want 1, as published), state/x %d (want 0, cleared)", cfg, state)
	}
	st := e.stats(t, "cloud")
	if st.Received != 3 {
		t.Errorf("received counter %d, want 3 (p2, p4, p5)", st.Received)
	}
}
