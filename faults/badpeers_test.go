package faults

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/transport/mqttsn"
)

// TestBadPeers replays mutated client sessions against the real edgemq:
// MQTT 3.1, 3.1.1 and 5.0 sessions over TCP and MQTT-SN sessions over
// UDP, each the client side of a typical session (encoded by the codecs,
// see mqttSessions and snSessions) with bits flipped, bytes inserted,
// deleted, overwritten or duplicated, packets dropped, repeated or
// swapped, cut at random points and written in random pieces. Meanwhile
// a well-behaved MQTT client publishes QoS 1 messages to itself through
// edgemq: each must come back within 5 s, none may be lost. At the end
// edgemq must still run, a new MQTT-SN client must get its CONNACK, and
// the file descriptors of the closed sessions must be released.
func TestBadPeers(t *testing.T) {
	bin := edgemqBinary(t)
	var f Figures
	defer func() { Report(t, "bad_peers", f.List()...) }()
	run := 8 * time.Second
	if Full() {
		run = 2 * time.Minute
	}
	seed := mrand.Uint64()
	t.Logf("seed %d", seed)
	f.Set("seed", seed)

	dir := t.TempDir()
	snAddr := loopbackUDP(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
data_dir: %s/data
storage: {engine: bolt, sync: none}
listeners:
  - {name: mqtt, type: tcp, address: "127.0.0.1:0"}
mqttsn:
  udp: [{address: "%s"}]
  predefined_topics: {1: "sn/predefined"}
  max_clients: %d
auth: {allow_anonymous: true}
limits: {max_connections: 2000, connect_timeout: 2s, max_packet_size: 65536}
http: {address: "127.0.0.1:0"}
sys_interval: 0s
log: {level: info}
`, dir, snAddr, snMaxClients))
	p := startBroker(t, bin, cfg, procOpts{}, "mqtt")
	addr, httpAddr := p.addr("mqtt"), p.httpAddr()
	fds0 := openFDs(p.pid())
	m0, err := metrics(httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	goroutines0 := m0["go_goroutines"]
	f.Set("goroutines_before", goroutines0)

	g := &goodClient{addr: addr, token: randomToken()}
	g.start()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var tcpSessions, snSessions, answered atomic.Int64
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(seed, uint64(w)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if w < 4 {
					if replayTCP(rng, addr) {
						answered.Add(1)
					}
					tcpSessions.Add(1)
				} else {
					replayUDP(rng, snAddr)
					snSessions.Add(1)
				}
			}
		}()
	}
	var rssPeak int64
	for deadline := time.Now().Add(run); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		rssPeak = max(rssPeak, procStatus(p.pid(), "VmRSS"))
		if !p.alive() {
			break
		}
	}
	close(stop)
	wg.Wait()
	good := g.stop()

	f.Set("tcp_sessions", tcpSessions.Load())
	f.Set("tcp_answered", answered.Load())
	f.Set("sn_sessions", snSessions.Load())
	f.Set("good_delivered", good.delivered)
	f.Set("good_lost", good.lost)
	f.Set("good_max_rtt", good.maxRTT)
	f.Set("rss_peak_mib", rssPeak>>20)
	if !p.alive() {
		t.Fatalf("edgemq died:\n%s", logExcerpt(p.logText()))
	}
	if good.delivered == 0 {
		t.Errorf("the well-behaved client got nothing through: %v", good.err)
	}
	if good.lost > 0 {
		t.Errorf("the well-behaved client lost %d of %d messages (%v)", good.lost, good.lost+good.delivered, good.err)
	}
	if good.maxRTT > 5*time.Second {
		t.Errorf("a round trip of the well-behaved client took %v", good.maxRTT)
	}
	if err := snConnect(snAddr); err != nil {
		t.Errorf("a well-behaved MQTT-SN client after the replays: %v", err)
	}

	// The replayed sessions are closed; their descriptors must go (those
	// still in connect_timeout within 2 s).
	deadline := time.Now().Add(10 * time.Second)
	fds := openFDs(p.pid())
	for fds > fds0+5 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		fds = openFDs(p.pid())
	}
	f.Set("fds_before_after", fmt.Sprintf("%d/%d", fds0, fds))
	if fds > fds0+5 {
		t.Errorf("edgemq holds %d file descriptors after the replays, %d before", fds, fds0)
	}
	// Goroutines: those of the clients still connected (a mutated CONNECT
	// may ask for a keep alive of hours) and of the MQTT-SN clients the
	// gateway still knows (one each, at most mqttsn.max_clients: asleep
	// for a mutated duration, or within the gateway's CONNECT timeout of
	// 30 s, which limits.connect_timeout does not set), no more.
	m, err := metrics(httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	gr, clients := m["go_goroutines"], m["edgemq_clients_connected"]
	f.Set("goroutines_after", gr)
	f.Set("clients_left", clients)
	if limit := goroutines0 + 16*clients + snMaxClients + 20; gr > limit {
		t.Errorf("%v goroutines after the replays for %v clients still connected (%v before): a leak", gr, clients, goroutines0)
	}
}

// snMaxClients bounds the MQTT-SN clients the gateway keeps at once.
const snMaxClients = 256

// loopbackUDP returns a 127.0.0.1 UDP address whose port is free now.
func loopbackUDP(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func randomToken() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// mqttSessions are the client sides of typical MQTT sessions, one slice
// of packets each.
func mqttSessions() [][][]byte {
	bs := func(s string) []byte { return []byte(s) }
	var out [][][]byte

	// 3.1.1: will, credentials, subscriptions, QoS 0/1/2, retained, ping,
	// unsubscribe, disconnect.
	c := packet.Connect{ClientID: bs("sensor-1"), CleanStart: true, KeepAlive: 30,
		WillFlag: true, WillQoS: 1, WillTopic: bs("sensors/1/state"), WillPayload: bs("offline"),
		UsernameFlag: true, Username: bs("user"), PasswordFlag: true, Password: bs("secret")}
	s := [][]byte{c.Append(nil, packet.V311)}
	sub := packet.Subscribe{PacketID: 1, Subs: []packet.Subscription{{Filter: bs("cmd/+"), QoS: 1}, {Filter: bs("cfg/#"), QoS: 2}}}
	s = append(s, sub.Append(nil, packet.V311))
	for i, q := range []byte{0, 1, 2} {
		m := packet.Publish{QoS: q, Retain: i == 0, Topic: bs("sensors/1/temp"), PacketID: uint16(i + 2), Payload: bs("21.5")}
		s = append(s, m.Append(nil, packet.V311))
	}
	rel := packet.Ack{Type: packet.PUBREL, PacketID: 4}
	s = append(s, rel.Append(nil, packet.V311), packet.AppendPingreq(nil))
	un := packet.Unsubscribe{PacketID: 5, Filters: [][]byte{bs("cmd/+")}}
	var d packet.Disconnect
	s = append(s, un.Append(nil, packet.V311), d.Append(nil, packet.V311))
	out = append(out, s)

	// 5.0: properties everywhere, topic aliases, acknowledgements of
	// what it receives.
	c = packet.Connect{ClientID: bs("dash-5"), Version: packet.V5, KeepAlive: 60,
		WillFlag: true, WillTopic: bs("dash/state"), WillPayload: bs("gone")}
	c.Props.SessionExpiry, c.Props.ReceiveMaximum, c.Props.TopicAliasMaximum = 300, 10, 5
	c.Props.User = []packet.UserProperty{{Key: bs("site"), Value: bs("north")}}
	c.Props.Set(packet.PropSessionExpiry)
	c.Props.Set(packet.PropReceiveMaximum)
	c.Props.Set(packet.PropTopicAliasMaximum)
	c.WillProps.WillDelay = 5
	c.WillProps.Set(packet.PropWillDelay)
	s = [][]byte{c.Append(nil, packet.V5)}
	sub = packet.Subscribe{PacketID: 7, Subs: []packet.Subscription{{Filter: bs("dash/#"), QoS: 1, NoLocal: true, RetainHandling: 1}}}
	sub.Props.SubscriptionIDs = []uint32{42}
	sub.Props.Set(packet.PropSubscriptionID)
	s = append(s, sub.Append(nil, packet.V5))
	m := packet.Publish{QoS: 1, Topic: bs("dash/cmd"), PacketID: 8, Payload: bs(`{"on":true}`)}
	m.Props.TopicAlias, m.Props.MessageExpiry = 1, 60
	m.Props.ContentType, m.Props.ResponseTopic, m.Props.CorrelationData = bs("application/json"), bs("dash/reply"), bs("c1")
	m.Props.Set(packet.PropTopicAlias)
	m.Props.Set(packet.PropMessageExpiry)
	s = append(s, m.Append(nil, packet.V5))
	m = packet.Publish{QoS: 2, PacketID: 9, Payload: bs("aliased")}
	m.Props.TopicAlias = 1
	m.Props.Set(packet.PropTopicAlias)
	s = append(s, m.Append(nil, packet.V5))
	rel = packet.Ack{Type: packet.PUBREL, PacketID: 9}
	ack := packet.Ack{Type: packet.PUBACK, PacketID: 1}
	s = append(s, rel.Append(nil, packet.V5), ack.Append(nil, packet.V5), packet.AppendPingreq(nil))
	d = packet.Disconnect{Code: packet.DisconnectWithWill}
	d.Props.SessionExpiry = 0
	d.Props.Set(packet.PropSessionExpiry)
	s = append(s, d.Append(nil, packet.V5))
	out = append(out, s)

	// 3.1 (MQIsdp), a burst of QoS 1 publishes.
	c = packet.Connect{ProtocolName: bs("MQIsdp"), Version: packet.V31, ClientID: bs("old-31"), CleanStart: true, KeepAlive: 10}
	s = [][]byte{c.Append(nil, packet.V31)}
	for i := range 20 {
		m := packet.Publish{QoS: 1, Topic: bs("old/" + strconv.Itoa(i%3)), PacketID: uint16(i + 1), Payload: bs("v" + strconv.Itoa(i))}
		s = append(s, m.Append(nil, packet.V31))
	}
	out = append(out, s)
	return out
}

// snSessions are the client sides of typical MQTT-SN sessions, one
// datagram each message.
func snSessions() [][][]byte {
	enc := func(ms ...mqttsn.Message) [][]byte {
		var out [][]byte
		for _, m := range ms {
			b, err := m.Append(nil)
			if err != nil {
				panic(fmt.Sprintf("encoding %T: %v", m, err))
			}
			out = append(out, b)
		}
		return out
	}
	bs := func(s string) []byte { return []byte(s) }
	return [][][]byte{
		enc(&mqttsn.SearchGW{Radius: 1},
			&mqttsn.Connect{CleanSession: true, Duration: 30, ClientID: bs("sn-1")},
			&mqttsn.Register{MsgID: 1, TopicName: bs("sn/temp")},
			&mqttsn.Publish{QoS: mqttsn.QoS1, TopicIDType: mqttsn.TopicNormal, TopicID: 1, MsgID: 2, Data: bs("20.1")},
			&mqttsn.Subscribe{QoS: mqttsn.QoS1, TopicIDType: mqttsn.TopicNormal, MsgID: 3, TopicName: bs("sn/#")},
			&mqttsn.PingReq{ClientID: bs("sn-1")},
			&mqttsn.Disconnect{}),
		enc(&mqttsn.Connect{Will: true, CleanSession: true, Duration: 60, ClientID: bs("sn-will")},
			&mqttsn.WillTopic{QoS: mqttsn.QoS1, WillTopic: bs("sn/will")},
			&mqttsn.WillMsg{WillMsg: bs("bye")},
			&mqttsn.Publish{QoS: mqttsn.QoS0, TopicIDType: mqttsn.TopicShort, TopicID: mqttsn.ShortTopicID([2]byte{'a', 'b'}), Data: bs("x")},
			&mqttsn.Subscribe{QoS: mqttsn.QoS0, TopicIDType: mqttsn.TopicPredefined, MsgID: 4, TopicID: 1},
			&mqttsn.PubRec{MsgID: 5},
			&mqttsn.Disconnect{HasDuration: true, Duration: 10}),
		enc(&mqttsn.Publish{QoS: mqttsn.QoSMinus1, TopicIDType: mqttsn.TopicPredefined, TopicID: 1, Data: bs("fire and forget")}),
	}
}

// mutate returns a mutated copy of session: packets dropped, repeated or
// swapped, then the bytes of the whole flipped, overwritten, inserted,
// deleted or duplicated, a few times over. Datagram sessions (split)
// keep their packet boundaries.
func mutate(rng *mrand.Rand, session [][]byte) [][]byte {
	s := make([][]byte, 0, len(session)+2)
	for _, p := range session {
		s = append(s, append([]byte(nil), p...))
	}
	for range 1 + rng.IntN(3) {
		i := rng.IntN(len(s))
		switch rng.IntN(9) {
		case 0: // drop a packet
			if len(s) > 1 {
				s = append(s[:i], s[i+1:]...)
			}
		case 1: // repeat one
			s = append(s[:i+1], s[i:]...)
		case 2: // swap two
			j := rng.IntN(len(s))
			s[i], s[j] = s[j], s[i]
		case 3: // flip bits
			p := s[i]
			for range 1 + rng.IntN(4) {
				if len(p) > 0 {
					p[rng.IntN(len(p))] ^= 1 << rng.IntN(8)
				}
			}
		case 4: // an interesting byte
			if p := s[i]; len(p) > 0 {
				p[rng.IntN(len(p))] = []byte{0x00, 0xff, 0x7f, 0x80, 0x01, 0xc0}[rng.IntN(6)]
			}
		case 5: // insert random bytes
			p := s[i]
			at := rng.IntN(len(p) + 1)
			ins := make([]byte, 1+rng.IntN(8))
			for k := range ins {
				ins[k] = byte(rng.Uint32())
			}
			s[i] = append(p[:at:at], append(ins, p[at:]...)...)
		case 6: // delete a range
			if p := s[i]; len(p) > 1 {
				a := rng.IntN(len(p))
				b := a + 1 + rng.IntN(len(p)-a)
				s[i] = append(p[:a:a], p[b:]...)
			}
		case 7: // duplicate a range
			if p := s[i]; len(p) > 1 {
				a := rng.IntN(len(p))
				b := a + 1 + rng.IntN(len(p)-a)
				s[i] = append(p[:b:b], p[a:]...)
			}
		case 8: // cut the session short
			if p := s[i]; len(p) > 0 {
				s = append(s[:i], p[:rng.IntN(len(p))])
			}
		}
	}
	return s
}

// replayTCP replays one mutated MQTT session on a new connection, in
// random pieces, reads what edgemq answers for a moment, and closes. It
// reports whether edgemq answered anything.
func replayTCP(rng *mrand.Rand, addr string) bool {
	all := mqttSessions()
	s := mutate(rng, all[rng.IntN(len(all))])
	var stream []byte
	for _, p := range s {
		stream = append(stream, p...)
	}
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	for len(stream) > 0 {
		n := min(len(stream), 1+rng.IntN(64))
		if _, err := nc.Write(stream[:n]); err != nil {
			break
		}
		stream = stream[n:]
		if rng.IntN(8) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	nc.SetReadDeadline(time.Now().Add(time.Duration(5+rng.IntN(50)) * time.Millisecond))
	var b [4096]byte
	got := false
	for {
		n, err := nc.Read(b[:])
		got = got || n > 0
		if err != nil {
			return got
		}
	}
}

// replayUDP sends a mutated MQTT-SN session from a new UDP socket, one
// datagram per message, reading answers briefly after each.
func replayUDP(rng *mrand.Rand, addr string) {
	all := snSessions()
	s := mutate(rng, all[rng.IntN(len(all))])
	c, err := net.Dial("udp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	var b [1500]byte
	for _, d := range s {
		c.Write(d)
		c.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
		c.Read(b[:])
	}
}

// snConnect connects a fresh MQTT-SN client and waits for its CONNACK.
func snConnect(addr string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	conn, _ := (&mqttsn.Connect{CleanSession: true, Duration: 30, ClientID: []byte("sn-good")}).Append(nil)
	var b [1500]byte
	for range 3 {
		c.Write(conn)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(b[:])
		if err != nil {
			continue
		}
		var d mqttsn.Decoder
		m, err := d.Decode(b[:n])
		if err != nil {
			return fmt.Errorf("answer % x: %v", b[:n], err)
		}
		ack, ok := m.(*mqttsn.ConnAck)
		if !ok || ack.ReturnCode != 0 {
			return fmt.Errorf("answer %T %+v, want CONNACK accepted", m, m)
		}
		return nil
	}
	return fmt.Errorf("no CONNACK in 6 s")
}

// goodClient publishes QoS 1 messages to its own subscription, one at a
// time, until stopped, reconnecting if its connection drops.
type goodClient struct {
	addr, token string

	stopCh chan struct{}
	done   chan goodResult
}

// goodResult is what the well-behaved client saw.
type goodResult struct {
	delivered, lost int
	maxRTT          time.Duration
	err             error // the last error
}

func (g *goodClient) start() {
	g.stopCh, g.done = make(chan struct{}), make(chan goodResult, 1)
	go func() {
		var r goodResult
		defer func() { g.done <- r }()
		topic := []byte("good/" + g.token)
		seq := 0
		for {
			select {
			case <-g.stopCh:
				return
			default:
			}
			cl, _, err := dialMQTT(g.addr, packet.Connect{ClientID: []byte("good-" + g.token), CleanStart: true, KeepAlive: 30})
			if err != nil {
				r.err = err
				r.lost++ // a failed connect counts as a lost message
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if _, err := cl.subscribe(string(topic), 1); err != nil {
				r.err = err
				cl.close()
				continue
			}
			for {
				select {
				case <-g.stopCh:
					cl.close()
					return
				default:
				}
				seq++
				want := "good:" + strconv.Itoa(seq)
				start := time.Now()
				if err := g.roundTrip(cl, topic, want); err != nil {
					r.err = err
					r.lost++
					cl.close()
					break
				}
				r.delivered++
				r.maxRTT = max(r.maxRTT, time.Since(start))
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
}

// roundTrip publishes want at QoS 1 and waits for its PUBACK and for its
// delivery back, within 10 s.
func (g *goodClient) roundTrip(cl *mqttClient, topic []byte, want string) error {
	m := packet.Publish{QoS: 1, Topic: topic, PacketID: 1, Payload: []byte(want)}
	if err := cl.send(m.Append(nil, packet.V311)); err != nil {
		return err
	}
	acked, delivered := false, false
	deadline := time.Now().Add(10 * time.Second)
	for !acked || !delivered {
		h, body, err := cl.next(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("%s: acked %v delivered %v: %w", want, acked, delivered, err)
		}
		switch h.Type {
		case packet.PUBACK:
			acked = true
		case packet.PUBLISH:
			var p packet.Publish
			if err := p.Decode(h, body, packet.V311); err != nil {
				return err
			}
			if err := cl.ack(&p); err != nil {
				return err
			}
			if string(p.Payload) != want {
				return fmt.Errorf("received %q, want %q", p.Payload, want)
			}
			delivered = true
		}
	}
	return nil
}

func (g *goodClient) stop() goodResult {
	close(g.stopCh)
	return <-g.done
}
