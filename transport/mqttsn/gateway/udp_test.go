//go:build !race

// The race detector reports data races inside bisquitt's own client
// (between its transaction timers and its receive loop), not in the
// gateway; these interop tests therefore run without -race, and the
// octet-exact tests (spec_test.go) and serial tests cover the gateway
// under the race detector.

package gateway_test

import (
	"slices"
	"testing"
	"time"

	snclient "github.com/energomonitor/bisquitt/client"
	snutil "github.com/energomonitor/bisquitt/util"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/transport/mqttsn/gateway"
)

// These tests drive the gateway over UDP with bisquitt's MQTT-SN client
// (github.com/energomonitor/bisquitt, written by others from the same
// specification), with paho.mqtt.golang on the broker's TCP side.

func TestUDPPublishEveryQoSAndTopicType(t *testing.T) {
	e := newEnv(t, gateway.Options{PredefinedTopics: predefined}, broker.Options{}, "")
	sub := e.mqttClient("watcher")
	all := e.subscribe(sub, "#", 2)

	c := e.snConnect(snConfig("sensor-1"), "")
	defer c.Close()
	if err := c.Register("sensors/normal"); err != nil {
		t.Fatal(err)
	}
	for qos := uint8(0); qos <= 2; qos++ {
		if err := c.Publish("sensors/normal", []byte{'n', '0' + qos}, qos, false); err != nil {
			t.Fatalf("QoS %d: %v", qos, err)
		}
		expect(t, all, received{"sensors/normal", string([]byte{'n', '0' + qos}), qos, false})
	}
	// A two-character name goes as a short topic, without REGISTER.
	for qos := uint8(0); qos <= 2; qos++ {
		if err := c.Publish("ab", []byte{'s', '0' + qos}, qos, false); err != nil {
			t.Fatal(err)
		}
		expect(t, all, received{"ab", string([]byte{'s', '0' + qos}), qos, false})
	}
	for qos := uint8(0); qos <= 2; qos++ {
		if err := c.PublishPredefined(7, []byte{'p', '0' + qos}, qos, false); err != nil {
			t.Fatal(err)
		}
		expect(t, all, received{"sensors/predefined", string([]byte{'p', '0' + qos}), qos, false})
	}

	// QoS -1: a client that never connects publishes to a predefined id
	// and to a short name.
	anon := snclient.NewClient(snutil.NoOpLogger{}, snConfig("never-connected"))
	if err := anon.Dial(e.udp); err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if err := anon.PublishPredefined(7, []byte("minus1"), 3, false); err != nil {
		t.Fatal(err)
	}
	expect(t, all, received{"sensors/predefined", "minus1", 0, false})
	if err := anon.Publish("xy", []byte("minus1-short"), 3, false); err != nil {
		t.Fatal(err)
	}
	expect(t, all, received{"xy", "minus1-short", 0, false})

	st := e.stats()
	if st.MessagesIn != 11 || st.Connects != 1 || st.Clients != 1 || e.gw.Stats().QoSMinus1 != 2 {
		t.Errorf("stats %+v, QoS -1 %d", st, e.gw.Stats().QoSMinus1)
	}
}

func TestUDPSubscribeWildcardGatewayRegisters(t *testing.T) {
	e := newEnv(t, gateway.Options{PredefinedTopics: predefined}, broker.Options{}, "")
	pub := e.mqttClient("publisher")

	got := make(chan snMessage, 100)
	c := e.snConnect(snConfig("actuator-1"), "")
	defer c.Close()
	if err := c.Subscribe("dev/+/temp", 2, snHandler(got)); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("dev/x/hum", 1, snHandler(got)); err != nil {
		t.Fatal(err)
	}
	if err := c.SubscribePredefined(8, 1, snHandler(got)); err != nil {
		t.Fatal(err)
	}
	// An MQTT client publishes; each topic the client has no id for is
	// REGISTERed by the gateway before its first PUBLISH, which bisquitt
	// needs to name the topic at all.
	for qos := byte(0); qos <= 2; qos++ {
		e.publish(pub, "dev/a/temp", qos, false, "a"+string('0'+qos))
		e.publish(pub, "dev/b/temp", qos, false, "b"+string('0'+qos))
	}
	e.publish(pub, "dev/x/hum", 1, false, "hum")
	e.publish(pub, "cmd/predefined", 2, false, "pre")
	want := map[snMessage]bool{}
	for qos := uint8(0); qos <= 2; qos++ {
		want[snMessage{"dev/a/temp", "a" + string('0'+qos), qos, false}] = true
		want[snMessage{"dev/b/temp", "b" + string('0'+qos), qos, false}] = true
	}
	want[snMessage{"dev/x/hum", "hum", 1, false}] = true
	want[snMessage{"cmd/predefined", "pre", 1, false}] = true
	for len(want) > 0 {
		select {
		case m := <-got:
			if !want[m] {
				t.Fatalf("unexpected %+v", m)
			}
			delete(want, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("missing %v", want)
		}
	}
	if st := e.stats(); st.MessagesOut != 8 {
		t.Errorf("MessagesOut %d, want 8", st.MessagesOut)
	}
}

func TestUDPRetained(t *testing.T) {
	e := newEnv(t, gateway.Options{}, broker.Options{}, "")
	pub := e.mqttClient("publisher")
	e.publish(pub, "status/a", 1, true, "on")

	got := make(chan snMessage, 10)
	c := e.snConnect(snConfig("panel"), "")
	defer c.Close()
	if err := c.Subscribe("status/+", 1, snHandler(got)); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != (snMessage{"status/a", "on", 1, true}) {
			t.Fatalf("retained: %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("retained message not delivered to the MQTT-SN subscriber")
	}

	if err := c.Register("status/b"); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish("status/b", []byte("off"), 1, true); err != nil {
		t.Fatal(err)
	}
	late := e.mqttClient("late")
	expect(t, e.subscribe(late, "status/b", 1), received{"status/b", "off", 1, true})
}

func TestUDPWillOnKeepAliveLossNotOnDisconnect(t *testing.T) {
	e := newEnv(t, gateway.Options{}, broker.Options{}, "")
	watcher := e.mqttClient("watcher")
	wills := e.subscribe(watcher, "will/#", 1)

	// A client that DISCONNECTs: no will.
	cfg := snConfig("polite")
	cfg.WillTopic, cfg.WillPayload, cfg.WillQOS = "will/polite", []byte("gone"), 1
	cfg.KeepAlive = time.Second
	polite := e.snConnect(cfg, "")
	if err := polite.Disconnect(); err != nil {
		t.Fatal(err)
	}

	// A client whose network disappears: its will once 1.5 x keep alive
	// has passed.
	p := newUDPProxy(t, e.udp)
	cfg = snConfig("rude")
	cfg.WillTopic, cfg.WillPayload, cfg.WillQOS, cfg.WillRetained = "will/rude", []byte("lost"), 1, true
	cfg.KeepAlive = time.Second
	cfg.RetryDelay = 200 * time.Millisecond // its Close gives up quickly behind the cut
	rude := e.snConnect(cfg, p.addr())
	defer rude.Close()
	waitFor(t, 5*time.Second, "both clients connected", func() bool { return e.stats().Connects == 2 })
	start := time.Now()
	p.cutOff()
	expect(t, wills, received{"will/rude", "lost", 1, false})
	if d := time.Since(start); d < time.Second || d > 4*time.Second {
		t.Errorf("will after %v, want about 1.5 s", d)
	}
	expectNone(t, wills, 2*time.Second)
	// The will was retained, as asked.
	late := e.mqttClient("late")
	expect(t, e.subscribe(late, "will/rude", 1), received{"will/rude", "lost", 1, true})
	waitFor(t, 2*time.Second, "the lost client gone", func() bool { return e.stats().Clients == 0 })
	if st := e.stats(); st.Lost != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestUDPSleepingClientGetsBufferedMessages(t *testing.T) {
	e := newEnv(t, gateway.Options{SleepQueue: 5}, broker.Options{}, "")
	pub := e.mqttClient("publisher")

	got := make(chan snMessage, 100)
	c := e.snConnect(snConfig("sleepy"), "")
	defer c.Close()
	if err := c.Subscribe("inbox/#", 1, snHandler(got)); err != nil {
		t.Fatal(err)
	}
	slept := make(chan error, 1)
	go func() { slept <- c.Sleep(2 * time.Second) }()
	waitFor(t, 5*time.Second, "the client asleep", func() bool { return e.stats().Asleep == 1 })

	// While it sleeps: 2 QoS 1 messages (never dropped), then 8 QoS 0
	// messages, of which the queue of 5 keeps the last 3 beside them.
	e.publish(pub, "inbox/a", 1, false, "q1-first")
	e.publish(pub, "inbox/a", 1, false, "q1-second")
	for i := range 8 {
		e.publish(pub, "inbox/b", 0, false, "q0-"+string('0'+byte(i)))
	}
	expectNone(t, got, 500*time.Millisecond)

	select {
	case err := <-slept:
		if err != nil {
			t.Fatalf("Sleep: %v", err) // returns after PINGRESP, which follows the buffered messages
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no PINGRESP after the wake-up PINGREQ")
	}
	// bisquitt runs message callbacks on goroutines of their own, so the
	// order is checked octet by octet in TestRawSleepOrder; here, the set.
	var delivered []string
	for len(delivered) < 5 {
		select {
		case m := <-got:
			delivered = append(delivered, m.payload)
		case <-time.After(5 * time.Second):
			t.Fatalf("delivered after wake-up: %v; %+v", delivered, e.stats())
		}
	}
	slices.Sort(delivered)
	if want := []string{"q0-5", "q0-6", "q0-7", "q1-first", "q1-second"}; !slices.Equal(delivered, want) {
		t.Fatalf("delivered after wake-up: %v, want %v", delivered, want)
	}
	if st := e.stats(); st.Drops.QueueFull != 5 {
		t.Errorf("QueueFull %d, want 5", st.Drops.QueueFull)
	}
}
