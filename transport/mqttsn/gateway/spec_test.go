package gateway_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/transport/mqttsn/gateway"
)

// Octet-exact exchanges from the specification's message layouts
// (MQTT-SN v1.2 section 5.4; section numbers in comments).

// denySecret is an ACL that refuses subscriptions under secret/.
type denySecret struct{}

func (denySecret) CanPublish(*broker.ClientInfo, []byte) bool { return true }
func (denySecret) CanSubscribe(_ *broker.ClientInfo, filter string) bool {
	return !strings.HasPrefix(filter, "secret/")
}
func (denySecret) CanReceive(*broker.ClientInfo, []byte) bool { return true }

func TestRawReturnCodes(t *testing.T) {
	e := newEnv(t, gateway.Options{PredefinedTopics: predefined}, broker.Options{ACL: denySecret{}}, "")
	c := dialRaw(t, e.udp)
	c.connect("codes", 30)

	// REGISTER t/1 [5.4.10] -> REGACK id 1, accepted [5.4.11].
	c.send(h("09 0A 00 00 00 01 't/1'"))
	c.expect(h("07 0B 00 01 00 01 00"))
	// REGISTER of a wildcard name: invalid topic id.
	c.send(h("09 0A 00 00 00 02 'a/+'"))
	c.expect(h("07 0B 00 00 00 02 02"))
	// PUBLISH QoS 1 to normal id 0x0063, never registered [5.4.12]:
	// PUBACK "rejected: invalid topic ID" [5.4.13].
	c.send(h("0C 0C 20 00 63 00 03 'hello'"))
	c.expect(h("07 0D 00 63 00 03 02"))
	// Even at QoS 0 the gateway says so [6.7].
	c.send(h("0C 0C 01 03 E7 00 00 'hello'"))
	c.expect(h("07 0D 03 E7 00 00 02"))
	// SUBSCRIBE QoS 1 to predefined id 999, not configured [5.4.15]:
	// SUBACK "rejected: invalid topic ID" [5.4.16].
	c.send(h("07 12 21 00 04 03 E7"))
	c.expect(h("08 13 00 03 E7 00 04 02"))
	// SUBSCRIBE with a malformed filter.
	c.send(h("07 12 20 00 05 'a#'"))
	c.expect(h("08 13 00 00 00 00 05 02"))
	// SUBSCRIBE the ACL refuses: MQTT-SN has no "not authorized", so
	// "rejected: not supported".
	c.send(h("0D 12 20 00 06 'secret/x'"))
	c.expect(h("08 13 00 00 00 00 06 03"))
	// SUBSCRIBE allowed, no wildcard: QoS 1 granted and the topic id
	// assigned [5.4.16]: t/1 is already id 1.
	c.send(h("08 12 20 00 07 't/1'"))
	c.expect(h("08 13 20 00 01 00 07 00"))
	// PUBLISH QoS 1 to id 1 -> PUBACK accepted once the broker has it.
	// It also comes back to the subscriber, with the same id; MQTT does
	// not order the two.
	c.send(h("0B 0C 20 00 01 00 08 'ping'"))
	c.expectSet(h("07 0D 00 01 00 08 00"), h("0B 0C 20 00 01 00 01 'ping'"))
	c.send(h("07 0D 00 01 00 01 00"))
	// PINGREQ -> PINGRESP [5.4.19, 5.4.20]; DISCONNECT -> DISCONNECT [5.4.21].
	c.send(h("02 16"))
	c.expect(h("02 17"))
	c.send(h("02 18"))
	c.expect(h("02 18"))

	st := e.stats()
	if st.Drops.InvalidTopic != 5 || st.Drops.Rejected != 1 {
		t.Errorf("drops %+v", st.Drops)
	}
	// A packet from a client that is not connected: DISCONNECT.
	c.send(h("0B 0C 20 00 01 00 09 'ping'"))
	c.expect(h("02 18"))
	if st := e.stats(); st.Drops.UnknownClient != 1 {
		t.Errorf("drops %+v", st.Drops)
	}
}

func TestRawWillExchangeAndUpdates(t *testing.T) {
	e := newEnv(t, gateway.Options{}, broker.Options{}, "")
	watcher := e.mqttClient("watcher")
	wills := e.subscribe(watcher, "w/#", 1)
	c := dialRaw(t, e.udp)

	// CONNECT with Will and CleanSession, Duration 1 s [5.4.4].
	c.send(h("0C 04 0C 01 00 01 'willer'"))
	c.expect(h("02 06"))        // WILLTOPICREQ [5.4.6]
	c.send(h("06 07 20 'w/a'")) // WILLTOPIC QoS 1 [5.4.7]
	c.expect(h("02 08"))        // WILLMSGREQ [5.4.8]
	c.send(h("04 09 'm1'"))     // WILLMSG [5.4.9]
	c.expect(h("03 05 00"))     // CONNACK accepted
	c.send(h("06 1A 00 'w/b'")) // WILLTOPICUPD QoS 0 [5.4.22]
	c.expect(h("03 1B 00"))     // WILLTOPICRESP accepted [5.4.24]
	c.send(h("04 1C 'm2'"))     // WILLMSGUPD [5.4.23]
	c.expect(h("03 1D 00"))     // WILLMSGRESP accepted [5.4.25]
	// Silence: after 1.5 s the client is lost and the updated will goes.
	expect(t, wills, received{"w/b", "m2", 0, false})
	expectNone(t, wills, 500*time.Millisecond)

	// An empty WILLTOPICUPD deletes the will.
	c2 := dialRaw(t, e.udp)
	c2.send(h("0D 04 0C 01 00 01 'willer2'"))
	c2.expect(h("02 06"))
	c2.send(h("06 07 00 'w/c'"))
	c2.expect(h("02 08"))
	c2.send(h("04 09 'm3'"))
	c2.expect(h("03 05 00"))
	c2.send(h("02 1A"))
	c2.expect(h("03 1B 00"))
	expectNone(t, wills, 2500*time.Millisecond)
	if st := e.stats(); st.Lost != 2 {
		t.Errorf("lost %d, want 2", st.Lost)
	}
}

func TestRawSleepOrderAndRetransmission(t *testing.T) {
	e := newEnv(t, gateway.Options{RetryInterval: 300 * time.Millisecond, RetryCount: 2}, broker.Options{}, "")
	pub := e.mqttClient("publisher")
	c := dialRaw(t, e.udp)
	c.connect("sleeper", 30)
	c.send(h("08 12 20 00 01 's/#'")) // SUBSCRIBE QoS 1, no topic id for a wildcard
	c.expect(h("08 13 20 00 00 00 01 00"))
	c.send(h("04 18 00 05")) // DISCONNECT, sleep 5 s [6.14]
	c.expect(h("02 18"))
	e.publish(pub, "s/a", 1, false, "x")
	e.publish(pub, "s/b", 0, false, "y")
	if b := c.read(300 * time.Millisecond); b != nil {
		t.Fatalf("sent to an asleep client: % X", b)
	}
	// Wake-up: PINGREQ with the ClientId; the buffered messages, each
	// topic REGISTERed first, then PINGRESP.
	c.send(h("09 16 'sleeper'"))
	c.expect(h("09 0A 00 01 00 01 's/a'"))
	c.send(h("07 0B 00 01 00 01 00"))
	c.expect(h("08 0C 20 00 01 00 01 'x'"))
	c.send(h("07 0D 00 01 00 01 00"))
	c.expect(h("09 0A 00 02 00 02 's/b'"))
	c.send(h("07 0B 00 02 00 02 00"))
	c.expect(h("08 0C 00 00 02 00 00 'y'"))
	c.expect(h("02 17"))

	// Back to sleep. Wake again and leave a QoS 1 PUBLISH unanswered: it
	// is resent with DUP after Tretry, and after Nretry the client is lost.
	e.publish(pub, "s/a", 1, false, "z")
	c.send(h("09 16 'sleeper'"))
	c.expect(h("08 0C 20 00 01 00 02 'z'"))
	c.expect(h("08 0C A0 00 01 00 02 'z'"))
	c.expect(h("08 0C A0 00 01 00 02 'z'"))
	waitFor(t, 2*time.Second, "the client lost", func() bool { return e.stats().Lost == 1 })
}

func TestRawTableFullAndStaleEntriesExpire(t *testing.T) {
	e := newEnv(t, gateway.Options{MaxClients: 3, ConnectTimeout: 300 * time.Millisecond}, broker.Options{}, "")
	// A flood of CONNECTs with the Will flag from 40 source ports, none
	// of which ever answers WILLTOPICREQ.
	var flood []*rawClient
	accepted, refused := 0, 0
	for range 40 {
		c := dialRaw(t, e.udp)
		c.send(h("0B 04 0C 01 00 3C 'flood'"))
		flood = append(flood, c)
	}
	for _, c := range flood {
		switch b := c.read(2 * time.Second); string(b) {
		case string(h("02 06")):
			accepted++
		case string(h("03 05 01")): // CONNACK "rejected: congestion"
			refused++
		default:
			t.Fatalf("answer % X after %d accepted, %d refused: %+v", b, accepted, refused, e.stats())
		}
	}
	if accepted != 3 || refused != 37 || e.stats().Drops.TableFull != 37 {
		t.Fatalf("accepted %d refused %d, stats %+v", accepted, refused, e.stats())
	}
	// The three half-open entries expire, and the table has room again.
	waitFor(t, 3*time.Second, "stale entries expired", func() bool { return e.stats().Clients == 0 })
	dialRaw(t, e.udp).connect("after-flood", 30)
}

func TestRawConnackLostConnectRepeated(t *testing.T) {
	e := newEnv(t, gateway.Options{}, broker.Options{}, "")
	c := dialRaw(t, e.udp)
	c.connect("repeat", 30)
	c.connect("repeat", 30) // the client did not get the first CONNACK
	if st := e.stats(); st.Connects != 1 || st.Clients != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSearchGWAndAdvertise(t *testing.T) {
	bc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	e := newEnv(t, gateway.Options{GatewayID: 42, AdvertiseInterval: time.Second}, broker.Options{}, bc.LocalAddr().String())
	read := func() []byte {
		buf := make([]byte, 64)
		bc.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err := bc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		return buf[:n]
	}
	// ADVERTISE at start: GwId 42, Duration 1 s [5.4.1].
	if got := read(); string(got) != string(h("05 00 2A 00 01")) {
		t.Fatalf("ADVERTISE % X", got)
	}
	// SEARCHGW [5.4.2] -> GWINFO from the gateway, no GwAdd [5.4.3], to the
	// broadcast address.
	dialRaw(t, e.udp).send(h("03 01 00"))
	for {
		got := read()
		if string(got) == string(h("05 00 2A 00 01")) {
			continue // the next ADVERTISE
		}
		if string(got) != string(h("03 02 2A")) {
			t.Fatalf("GWINFO % X", got)
		}
		break
	}
}

func TestRawSleeperReconnectsAndPersistentSession(t *testing.T) {
	e := newEnv(t, gateway.Options{}, broker.Options{}, "")
	pub := e.mqttClient("publisher")
	c := dialRaw(t, e.udp)
	// CONNECT without CleanSession: a persistent session in the broker.
	c.send(h("0C 04 00 01 00 3C 'keeper'"))
	c.expect(h("03 05 00"))
	c.send(h("08 12 20 00 01 'k/1'"))
	c.expect(h("08 13 20 00 01 00 01 00"))
	c.send(h("04 18 00 3C")) // sleep 60 s
	c.expect(h("02 18"))
	e.publish(pub, "k/1", 1, false, "while-asleep")
	// Waking with CONNECT (CleanSession 0) instead of PINGREQ: the
	// connection resumes and what was buffered follows CONNACK. The
	// client's ids are forgotten, so k/1 is REGISTERed again.
	c.send(h("0C 04 00 01 00 3C 'keeper'"))
	c.expect(h("03 05 00"))
	c.expect(h("09 0A 00 01 00 01 'k/1'"))
	c.send(h("07 0B 00 01 00 01 00"))
	c.expect(h("13 0C 20 00 01 00 01 'while-asleep'"))
	c.send(h("07 0D 00 01 00 01 00"))
	if st := e.stats(); st.Connects != 1 || st.Asleep != 0 {
		t.Errorf("stats %+v", st)
	}

	// The client goes away for good (DISCONNECT); a message for it waits
	// in its persistent session in the broker, and a new connection with
	// CleanSession 0 from another port gets it.
	c.send(h("02 18"))
	c.expect(h("02 18"))
	e.publish(pub, "k/1", 1, false, "while-away")
	c2 := dialRaw(t, e.udp)
	c2.send(h("0C 04 00 01 00 3C 'keeper'"))
	c2.expect(h("03 05 00"))
	c2.expect(h("09 0A 00 01 00 01 'k/1'"))
	c2.send(h("07 0B 00 01 00 01 00"))
	// DUP is set when the broker had already sent it on the connection
	// that was closing as it was published.
	c2.expectOneOf(h("11 0C 20 00 01 00 02 'while-away'"), h("11 0C A0 00 01 00 02 'while-away'"))
}

func TestRawBrokerFullIsCongestion(t *testing.T) {
	e := newEnv(t, gateway.Options{}, broker.Options{Limits: broker.Limits{MaxConnections: 1}}, "")
	dialRaw(t, e.udp).connect("first", 30)
	c := dialRaw(t, e.udp)
	c.send(h("0C 04 04 01 00 3C 'second'"))
	c.expect(h("03 05 01")) // the broker said "server unavailable"
	waitFor(t, 2*time.Second, "the refused client gone", func() bool { return e.stats().Clients == 1 })
}

// TestAsleepClientDoesNotHoldUpTheBroker: an asleep MQTT-SN client and an
// MQTT subscriber share a topic; a burst far beyond the sleep queue
// reaches the MQTT subscriber whole, while the gateway keeps only
// sleep_queue messages for the sleeper and counts the rest.
func TestAsleepClientDoesNotHoldUpTheBroker(t *testing.T) {
	e := newEnv(t, gateway.Options{SleepQueue: 10}, broker.Options{}, "")
	pub := e.mqttClient("publisher")
	fast := e.subscribe(e.mqttClient("fast"), "burst", 0)
	c := dialRaw(t, e.udp)
	c.connect("sleeper", 30)
	c.send(h("0A 12 00 00 01 'burst'"))
	c.expect(h("08 13 00 00 01 00 01 00"))
	c.send(h("04 18 00 3C"))
	c.expect(h("02 18"))
	// In batches the MQTT subscriber keeps up with, so that only the
	// gateway's bound is tested.
	const n, batch = 5000, 100
	for b := 0; b < n; b += batch {
		for range batch {
			pub.Publish("burst", 0, false, "x")
		}
		for i := range batch {
			select {
			case <-fast:
			case <-time.After(10 * time.Second):
				t.Fatalf("the MQTT subscriber got %d of %d", b+i, n)
			}
		}
	}
	waitFor(t, 5*time.Second, "drops counted", func() bool { return e.stats().Drops.QueueFull == n-10 })
	if st := e.srv.Stats(); st.DroppedQueueFull != 0 {
		t.Errorf("the broker dropped %d: the gateway held up its writer", st.DroppedQueueFull)
	}
	// Awake: exactly the last 10 come out, then PINGRESP.
	c.send(h("09 16 'sleeper'"))
	for range 10 {
		c.expect(h("08 0C 00 00 01 00 00 'x'"))
	}
	c.expect(h("02 17"))
}
