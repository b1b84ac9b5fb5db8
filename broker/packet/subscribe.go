package packet

// Decode decodes a SUBSCRIBE body. Filters are views into body; p.Subs keeps
// its capacity across calls.
//
// Decode checks the filters' UTF-8 (bad UTF-8 is a Malformed Packet, the
// whole packet fails) but NOT their wildcard syntax: a v5 broker answers an
// invalid filter with 0x8F in that filter's SUBACK slot and serves the
// others, so the broker calls ValidFilter on each Subscription itself.
// Shared subscription rules ($share/, No Local on a shared subscription
// [MQTT-3.8.3-4]) are the broker's too.
func (p *Subscribe) Decode(h Header, body []byte, v Version) error {
	p.Subs = p.Subs[:0]
	id, err := packetID(SUBSCRIBE, body, 0)
	if err != nil {
		return err
	}
	p.PacketID = id
	i := 2
	if v == V5 {
		if i, err = p.Props.decode(SUBSCRIBE, false, maskSubscribe, body, i); err != nil {
			return err
		}
	} else {
		p.Props.Reset()
	}
	if i == len(body) { // [MQTT-3.8.3-3] (3.1.1), [MQTT-3.8.3-2] (5.0)
		return protocolErr(SUBSCRIBE, "payload", "no topic filter")
	}
	for i < len(body) {
		f, j, err := readUTF8(SUBSCRIBE, "topic filter", body, i) // [MQTT-3.8.3-1]
		if err != nil {
			return err
		}
		if j >= len(body) {
			return shortErr(SUBSCRIBE, "subscription options", 1, 0)
		}
		o := body[j]
		if err := checkSubOptions(o, v, body[j:j+1]); err != nil {
			return err
		}
		p.Subs = append(p.Subs, Subscription{
			Filter:            f,
			QoS:               o & 0x03,
			NoLocal:           o&0x04 != 0,
			RetainAsPublished: o&0x08 != 0,
			RetainHandling:    (o >> 4) & 0x03,
		})
		i = j + 1
	}
	return nil
}

// checkSubOptions applies the subscription options rules.
func checkSubOptions(o byte, v Version, raw []byte) error {
	if v != V5 {
		if o&0xfc != 0 || o&0x03 == 3 { // [MQTT-3.8.3-4] (3.1.1)
			return errAt(MalformedPacket, SUBSCRIBE, "subscription options", "reserved bits set or QoS 3", raw, -1)
		}
		return nil
	}
	if o&0xc0 != 0 { // [MQTT-3.8.3-5]
		return errAt(MalformedPacket, SUBSCRIBE, "subscription options", "reserved bits 6-7 set", raw, -1)
	}
	if o&0x03 == 3 { // 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3"
		return errAt(ProtocolError, SUBSCRIBE, "subscription options", "QoS 3", raw, -1)
	}
	if (o>>4)&0x03 == 3 { // 3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3"
		return errAt(ProtocolError, SUBSCRIBE, "subscription options", "retain handling 3", raw, -1)
	}
	return nil
}

// subOptions encodes one subscription's options byte.
func subOptions(s *Subscription, v Version) byte {
	o := s.QoS & 0x03
	if v == V5 {
		o |= boolBit(s.NoLocal, 0x04) | boolBit(s.RetainAsPublished, 0x08) | (s.RetainHandling&0x03)<<4
	}
	return o
}

func (p *Subscribe) remaining(v Version) (n int, w uint64, pn int) {
	n = 2
	if v == V5 {
		w = p.Props.written(maskSubscribe)
		pn = p.Props.listSize(SUBSCRIBE, w)
		n += VarintSize(pn) + pn
	}
	for i := range p.Subs {
		n += fieldSize(p.Subs[i].Filter) + 1
	}
	return n, w, pn
}

// Size returns the encoded size of the whole packet.
func (p *Subscribe) Size(v Version) int {
	n, _, _ := p.remaining(v)
	return packetSize(n)
}

// Append appends the whole packet to dst. A SUBSCRIBE carries at most one
// Subscription Identifier: only Props.SubscriptionIDs[0] is written.
func (p *Subscribe) Append(dst []byte, v Version) []byte {
	n, w, pn := p.remaining(v)
	dst = appendUint16(appendFixed(dst, byte(SUBSCRIBE)<<4|0x02, n), p.PacketID)
	if v == V5 {
		dst = p.Props.appendList(dst, SUBSCRIBE, w, pn)
	}
	for i := range p.Subs {
		dst = append(appendBytes(dst, p.Subs[i].Filter), subOptions(&p.Subs[i], v))
	}
	return dst
}

// Decode decodes a SUBACK body: one reason code per filter of the
// SUBSCRIBE. p.Codes keeps its capacity across calls.
func (p *Suback) Decode(h Header, body []byte, v Version) error {
	p.Codes = p.Codes[:0]
	id, err := packetID(SUBACK, body, 0)
	if err != nil {
		return err
	}
	p.PacketID = id
	i := 2
	if v == V5 {
		if i, err = p.Props.decode(SUBACK, false, maskAck, body, i); err != nil {
			return err
		}
	} else {
		p.Props.Reset()
	}
	if i == len(body) {
		return protocolErr(SUBACK, "payload", "no reason code")
	}
	for _, c := range body[i:] {
		if !validCode(SUBACK, v, ReasonCode(c)) {
			return codeErr(SUBACK, "reason code", ReasonCode(c))
		}
		p.Codes = append(p.Codes, ReasonCode(c))
	}
	return nil
}

func (p *Suback) remaining(v Version) (n int, w uint64, pn int) {
	n = 2 + len(p.Codes)
	if v == V5 {
		w = p.Props.written(maskAck)
		pn = p.Props.listSize(SUBACK, w)
		n += VarintSize(pn) + pn
	}
	return n, w, pn
}

// Size returns the encoded size of the whole packet.
func (p *Suback) Size(v Version) int {
	n, _, _ := p.remaining(v)
	return packetSize(n)
}

// Append appends the whole packet to dst.
func (p *Suback) Append(dst []byte, v Version) []byte {
	n, w, pn := p.remaining(v)
	dst = appendUint16(appendFixed(dst, byte(SUBACK)<<4, n), p.PacketID)
	if v == V5 {
		dst = p.Props.appendList(dst, SUBACK, w, pn)
	}
	for _, c := range p.Codes {
		dst = append(dst, byte(c))
	}
	return dst
}

// Decode decodes an UNSUBSCRIBE body. As for SUBSCRIBE, filters are checked
// for UTF-8 only; the broker calls ValidFilter (v5 UNSUBACK has 0x8F).
func (p *Unsubscribe) Decode(h Header, body []byte, v Version) error {
	p.Filters = p.Filters[:0]
	id, err := packetID(UNSUBSCRIBE, body, 0)
	if err != nil {
		return err
	}
	p.PacketID = id
	i := 2
	if v == V5 {
		if i, err = p.Props.decode(UNSUBSCRIBE, false, maskUnsubscribe, body, i); err != nil {
			return err
		}
	} else {
		p.Props.Reset()
	}
	if i == len(body) { // [MQTT-3.10.3-2]
		return protocolErr(UNSUBSCRIBE, "payload", "no topic filter")
	}
	for i < len(body) {
		var f []byte
		if f, i, err = readUTF8(UNSUBSCRIBE, "topic filter", body, i); err != nil { // [MQTT-3.10.3-1]
			return err
		}
		p.Filters = append(p.Filters, f)
	}
	return nil
}

func (p *Unsubscribe) remaining(v Version) (n int, w uint64, pn int) {
	n = 2
	if v == V5 {
		w = p.Props.written(maskUnsubscribe)
		pn = p.Props.listSize(UNSUBSCRIBE, w)
		n += VarintSize(pn) + pn
	}
	for _, f := range p.Filters {
		n += fieldSize(f)
	}
	return n, w, pn
}

// Size returns the encoded size of the whole packet.
func (p *Unsubscribe) Size(v Version) int {
	n, _, _ := p.remaining(v)
	return packetSize(n)
}

// Append appends the whole packet to dst.
func (p *Unsubscribe) Append(dst []byte, v Version) []byte {
	n, w, pn := p.remaining(v)
	dst = appendUint16(appendFixed(dst, byte(UNSUBSCRIBE)<<4|0x02, n), p.PacketID)
	if v == V5 {
		dst = p.Props.appendList(dst, UNSUBSCRIBE, w, pn)
	}
	for _, f := range p.Filters {
		dst = appendBytes(dst, f)
	}
	return dst
}

// Decode decodes an UNSUBACK body. In 3.1.1 it holds only the packet
// identifier and Codes is left empty.
func (p *Unsuback) Decode(h Header, body []byte, v Version) error {
	p.Codes = p.Codes[:0]
	if v != V5 {
		p.Props.Reset()
		if err := exactLen(UNSUBACK, body, 2); err != nil {
			return err
		}
	}
	id, err := packetID(UNSUBACK, body, 0)
	if err != nil {
		return err
	}
	p.PacketID = id
	if v != V5 {
		return nil
	}
	i, err := p.Props.decode(UNSUBACK, false, maskAck, body, 2)
	if err != nil {
		return err
	}
	if i == len(body) {
		return protocolErr(UNSUBACK, "payload", "no reason code")
	}
	for _, c := range body[i:] {
		if !validCode(UNSUBACK, v, ReasonCode(c)) {
			return codeErr(UNSUBACK, "reason code", ReasonCode(c))
		}
		p.Codes = append(p.Codes, ReasonCode(c))
	}
	return nil
}

func (p *Unsuback) remaining(v Version) (n int, w uint64, pn int) {
	if v != V5 {
		return 2, 0, 0
	}
	w = p.Props.written(maskAck)
	pn = p.Props.listSize(UNSUBACK, w)
	return 2 + VarintSize(pn) + pn + len(p.Codes), w, pn
}

// Size returns the encoded size of the whole packet.
func (p *Unsuback) Size(v Version) int {
	n, _, _ := p.remaining(v)
	return packetSize(n)
}

// Append appends the whole packet to dst (3.1.1: the packet identifier only).
func (p *Unsuback) Append(dst []byte, v Version) []byte {
	n, w, pn := p.remaining(v)
	dst = appendUint16(appendFixed(dst, byte(UNSUBACK)<<4, n), p.PacketID)
	if v == V5 {
		dst = p.Props.appendList(dst, UNSUBACK, w, pn)
		for _, c := range p.Codes {
			dst = append(dst, byte(c))
		}
	}
	return dst
}
