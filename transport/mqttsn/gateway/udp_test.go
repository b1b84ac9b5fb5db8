package gateway_test

import (
	"testing"

	snclient "github.com/energomonitor/bisquitt/client"
	snutil "github.com/energomonitor/bisquitt/util"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/transport/mqttsn/gateway"
)

// These tests drive the gateway over UDP with bisquitt's MQTT-SN client
// (github.com/energomonitor/bisquitt, written by others from the same
// specification), with paho.mqtt.golang on the broker's TCP side.

var predefined = map[uint16]string{7: "sensors/predefined", 8: "cmd/predefined"}

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
