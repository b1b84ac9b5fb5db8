package gateway

import (
	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/transport/mqttsn"
)

// registry is one client's table of normal topic ids [MQTT-SN 6.5, 6.10]:
// the ids it asked for with REGISTER, the ids the gateway assigned in
// SUBACK for topic names without wildcards, and the ids the gateway
// REGISTERed itself before publishing a topic to the client. Ids count up
// from 1 and are never reused while the client is connected; the table is
// emptied when the client connects again (a client that restarted has lost
// its own copy). Its size is bounded by max: a REGISTER beyond it is
// refused with "rejected: congestion".
//
// known marks the ids the client has been told about (REGACK, SUBACK or a
// REGACK to the gateway's REGISTER): a delivery on a topic whose id the
// client does not know is preceded by a REGISTER.
type registry struct {
	names map[uint16][]byte // id -> topic name
	ids   map[string]uint16 // topic name -> id
	known map[uint16]bool
	next  uint16
	max   int
}

// id returns the id of name, if it has one.
func (r *registry) id(name []byte) (uint16, bool) {
	id, ok := r.ids[string(name)]
	return id, ok
}

// name returns the topic name of id.
func (r *registry) name(id uint16) ([]byte, bool) {
	n, ok := r.names[id]
	return n, ok
}

// assign returns the id of name, giving it a new one when it has none. ok
// is false when the table is full or ids are exhausted.
func (r *registry) assign(name []byte) (id uint16, ok bool) {
	if id, ok := r.ids[string(name)]; ok {
		return id, true
	}
	if len(r.names) >= r.max || r.next == 0xFFFF {
		return 0, false
	}
	if r.names == nil {
		r.names, r.ids, r.known = make(map[uint16][]byte), make(map[string]uint16), make(map[uint16]bool)
	}
	r.next++
	id = r.next
	n := append([]byte(nil), name...)
	r.names[id] = n
	r.ids[string(n)] = id
	return id, true
}

func (r *registry) isKnown(id uint16) bool { return r.known[id] }

func (r *registry) setKnown(id uint16, known bool) {
	switch {
	case known && r.known == nil:
		r.known = map[uint16]bool{id: true}
	case known:
		r.known[id] = true
	default:
		delete(r.known, id)
	}
}

// forgetKnown marks every id unknown to the client, which lost its table.
func (r *registry) forgetKnown() { r.known = nil }

// reset empties the table.
func (r *registry) reset() {
	r.names, r.ids, r.known, r.next = nil, nil, nil, 0
}

// shortName returns the two-character topic name of a short topic id
// [MQTT-SN 3, "short topic name"].
func shortName(id uint16) [2]byte { return [2]byte{byte(id >> 8), byte(id)} }

// predefined holds the topic ids of the config (mqttsn.predefined_topics),
// shared read-only by every client.
type predefined struct {
	names map[uint16][]byte
	ids   map[string]uint16
}

func newPredefined(topics map[uint16]string) (predefined, error) {
	p := predefined{names: make(map[uint16][]byte, len(topics)), ids: make(map[string]uint16, len(topics))}
	for id, name := range topics {
		if id == 0 {
			return p, errorf("predefined topic id 0 is reserved")
		}
		if err := packet.ValidTopicName([]byte(name)); err != nil {
			return p, errorf("predefined topic %d %q: %v", id, name, err)
		}
		p.names[id] = []byte(name)
		p.ids[name] = id
	}
	return p, nil
}

// topicName resolves the topic of a PUBLISH from a client: a predefined id,
// a short name, or a normal id from reg. ok is false for an unknown id or
// a short name that is not a valid topic name (wildcards).
func (p *predefined) topicName(tt mqttsn.TopicIDType, id uint16, reg *registry, short *[2]byte) ([]byte, bool) {
	switch tt {
	case mqttsn.TopicPredefined:
		n, ok := p.names[id]
		return n, ok
	case mqttsn.TopicShort:
		*short = shortName(id)
		if packet.ValidTopicName(short[:]) != nil {
			return nil, false
		}
		return short[:], true
	case mqttsn.TopicNormal:
		if reg == nil {
			return nil, false
		}
		return reg.name(id)
	}
	return nil, false
}
