package bridge

import (
	"strconv"
	"strings"
	"sync"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// session is the bridge's side of the MQTT session with the remote broker:
// the messages in flight and the packet ids they were sent with. It
// outlives paho clients: the bridge makes one paho client per connection,
// with paho's own reconnection off, and hands each one a view of the
// session as its paho Store. That is how the bridge, not paho, owns
// retries and order:
//
//   - paho calls Put("o.<id>", PUBLISH) inside Client.Publish, before
//     sending: the session records which flight got which packet id.
//   - paho calls Del("o.<id>") when the PUBACK or PUBCOMP arrives: the
//     flight is acknowledged and its entry can leave the queue.
//   - On Connect with clean_session false, paho resends what All/Get
//     return, with DUP set and the original packet ids [MQTT-4.4.0-1]:
//     the flights that were sent and not acknowledged, in queue order.
//     With clean_session true paho calls Reset instead: the remote has
//     forgotten the session, so every flight is published again, in order,
//     as a new message.
//   - paho neither stores nor resends an outbound PUBREL: on its own it
//     would resend the PUBLISH of a QoS 2 message whose PUBREC had come,
//     and a remote that had completed the exchange (its PUBCOMP lost in
//     a broken connection) delivers it a second time. So the bridge's
//     connection tells the session of each PUBREL it writes (release),
//     the queue stores that, and Get hands paho a PUBREL to resend for
//     such a flight [MQTT-4.3.3-1] [MQTT-4.4.0-1].
//   - Inbound QoS 2 state ("i.<id>") is kept the same way so a PUBREL
//     that arrives after a reconnect is still completed.
//
// Views of earlier clients are dead: a paho goroutine still winding down
// cannot acknowledge a flight of the next connection that reuses its
// packet id.
type session struct {
	q *queue

	mu      sync.Mutex
	gen     uint64
	flights []*flight // taken from the queue, in seq order, not acknowledged
	byID    map[uint16]*flight
	staging *flight // the flight inside Client.Publish now (of the live view)
	inbound map[uint16]packets.ControlPacket
	acked   []uint64
	idErr   error // storing a QoS 2 packet id failed
	resumed int   // flights All handed to paho to resend
}

func newSession(q *queue) *session {
	return &session{q: q, byID: make(map[uint16]*flight), inbound: make(map[uint16]packets.ControlPacket)}
}

// view returns a Store for a new paho client; earlier views go dead.
func (s *session) view() *view {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.staging = nil
	return &view{s: s, gen: s.gen}
}

// add appends flights taken from the queue.
func (s *session) add(fs []*flight) {
	s.mu.Lock()
	for _, f := range fs {
		s.flights = append(s.flights, f)
		if f.id != 0 {
			s.byID[f.id] = f
		}
	}
	s.mu.Unlock()
}

// takeAcked returns the seqs acknowledged since the last call and removes
// their flights.
func (s *session) takeAcked(dst []uint64) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.acked) == 0 {
		return dst
	}
	dst = append(dst, s.acked...)
	s.acked = s.acked[:0]
	live := s.flights[:0]
	for _, f := range s.flights {
		if f.rec != nil {
			live = append(live, f)
		}
	}
	clear(s.flights[len(live):])
	s.flights = live
	return dst
}

// unsent appends the flights that have no packet id yet, in order.
func (s *session) unsent(dst []*flight) []*flight {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.flights {
		if f.id == 0 && f.rec != nil {
			dst = append(dst, f)
		}
	}
	return dst
}

// inflight returns how many flights are not acknowledged.
func (s *session) inflight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.flights) - len(s.acked)
}

// ackNow acknowledges f without the remote (a QoS 0 entry).
func (s *session) ackNow(f *flight) {
	s.mu.Lock()
	if f.rec != nil {
		if f.id != 0 {
			delete(s.byID, f.id)
		}
		s.acked = append(s.acked, f.seq)
		f.rec = nil
	}
	s.mu.Unlock()
}

// takeErr returns, once, an error of storing a QoS 2 packet id: the
// connection must be dropped, since the id may be reused after a restart.
func (s *session) takeErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.idErr
	s.idErr = nil
	return err
}

// takeResumed returns how many flights paho was given to resend since the
// last call.
func (s *session) takeResumed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.resumed
	s.resumed = 0
	return n
}

// release records that the PUBREL of the flight sent with id is being
// written: from now on that flight is completed with PUBREL, also after a
// reconnection or a restart. It is called from the connection's Write,
// before the PUBREL is buffered.
func (v *view) release(id uint16) {
	s := v.s
	s.mu.Lock()
	f := s.byID[id]
	if !v.live() || f == nil || f.rec == nil || f.released {
		s.mu.Unlock()
		return
	}
	f.released = true
	seq := f.seq
	s.mu.Unlock()
	if err := s.q.storeReleased(seq, id); err != nil {
		s.mu.Lock()
		s.idErr = err
		s.mu.Unlock()
	}
}

// holdNew reports whether new PUBLISH packets must wait: a PUBREL that
// paho resent on this connection has not been completed, and its id is
// not reserved in paho.
func (s *session) holdNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.flights {
		if f.relResumed && f.rec != nil {
			return true
		}
	}
	return false
}

// stage marks f as the flight the next Put of v is for. A dead view (a
// sender left behind by a broken connection) stages nothing.
func (v *view) stage(f *flight) {
	s := v.s
	s.mu.Lock()
	if v.live() {
		s.staging = f
	}
	s.mu.Unlock()
}

// assignIDs gives a packet id to every flight without one, avoiding the
// ids in use, so that the next Connect resends them all (with DUP) in
// order. It is used after a restart, when the first flights include QoS 2
// entries with stored ids: the flights before them must not be overtaken.
func (s *session) assignIDs(used map[uint16]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := uint16(0)
	for _, f := range s.flights {
		if f.id != 0 {
			continue
		}
		for {
			next++
			if next != 0 && !used[next] && s.byID[next] == nil {
				break
			}
		}
		f.id = next
		s.byID[next] = f
	}
}

// forget drops every flight (the queue takes them back) and the inbound
// state.
func (s *session) forget() {
	s.mu.Lock()
	s.gen++
	clear(s.flights)
	s.flights = s.flights[:0]
	clear(s.byID)
	clear(s.inbound)
	s.staging = nil
	s.acked = s.acked[:0]
	s.mu.Unlock()
}

// view is the paho Store of one paho client.
type view struct {
	s   *session
	gen uint64
}

func (v *view) live() bool { return v.gen == v.s.gen }

func (v *view) Open()  {}
func (v *view) Close() {}

func parseKey(key string) (outbound bool, id uint16, ok bool) {
	dir, num, found := strings.Cut(key, ".")
	n, err := strconv.ParseUint(num, 10, 16)
	if !found || err != nil || n == 0 || (dir != "o" && dir != "i") {
		return false, 0, false
	}
	return dir == "o", uint16(n), true
}

func (v *view) Put(key string, p packets.ControlPacket) {
	out, id, ok := parseKey(key)
	if !ok {
		return
	}
	s := v.s
	s.mu.Lock()
	if !v.live() {
		s.mu.Unlock()
		return
	}
	if !out {
		s.inbound[id] = p
		s.mu.Unlock()
		return
	}
	pub, isPub := p.(*packets.PublishPacket)
	f := s.staging
	if !isPub || f == nil {
		// SUBSCRIBE packets: the bridge subscribes again on every
		// connection, they need no keeping.
		s.mu.Unlock()
		return
	}
	s.staging = nil
	f.id = id
	s.byID[id] = f
	s.mu.Unlock()
	if pub.Qos == 2 {
		if err := s.q.storeID(f.seq, id); err != nil {
			s.mu.Lock()
			s.idErr = err
			s.mu.Unlock()
		}
	}
}

func (v *view) Get(key string) packets.ControlPacket {
	out, id, ok := parseKey(key)
	if !ok {
		return nil
	}
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !v.live() {
		return nil
	}
	if !out {
		return s.inbound[id]
	}
	f := s.byID[id]
	if f == nil || f.rec == nil {
		return nil
	}
	if f.released {
		// Only paho's resume asks: it resends this PUBREL without
		// reserving its id (see flight.relResumed).
		f.relResumed = true
		rel := packets.NewControlPacket(packets.Pubrel).(*packets.PubrelPacket)
		rel.MessageID = id
		return rel
	}
	r, err := decodeRecord(f.rec)
	if err != nil {
		return nil
	}
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.Qos, p.Retain = r.qos, r.retain
	p.TopicName = string(r.topic)
	p.Payload = r.payload
	p.MessageID = id
	return p
}

// All returns the flights that were sent, in queue order, then the
// inbound PUBRELs waiting for a PUBCOMP.
func (v *view) All() []string {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !v.live() {
		return nil
	}
	keys := make([]string, 0, len(s.flights)+len(s.inbound))
	for _, f := range s.flights {
		if f.id != 0 && f.rec != nil {
			keys = append(keys, "o."+strconv.Itoa(int(f.id)))
		}
	}
	s.resumed += len(keys)
	for id, p := range s.inbound {
		if _, ok := p.(*packets.PubrelPacket); ok {
			keys = append(keys, "i."+strconv.Itoa(int(id)))
		}
	}
	return keys
}

func (v *view) Del(key string) {
	out, id, ok := parseKey(key)
	if !ok {
		return
	}
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !v.live() {
		return
	}
	if !out {
		delete(s.inbound, id)
		return
	}
	f := s.byID[id]
	if f == nil {
		return // a SUBACK
	}
	delete(s.byID, id)
	s.acked = append(s.acked, f.seq)
	f.rec = nil
	select {
	case s.q.wake <- struct{}{}:
	default:
	}
}

// Reset is called on a clean-session connect: the remote has no state, so
// every flight is published again as a new message.
func (v *view) Reset() {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !v.live() {
		return
	}
	for _, f := range s.flights {
		f.id = 0
		f.released, f.relResumed = false, false
	}
	clear(s.byID)
	clear(s.inbound)
}
