package packet

// Decode decodes a PUBLISH whose fixed header is h and whose body (the
// Remaining Length bytes) is body, for protocol version v. Topic, Payload
// and property values are views into body. Decoding into a reused Publish
// does not allocate (Props.User and Props.SubscriptionIDs keep their
// capacity).
//
// Checked here: flags, topic length and UTF-8, no wildcards in the topic,
// non-zero packet identifier for QoS 1 and 2, properties (v5), an empty
// topic only with a Topic Alias (v5). Left to the broker: topic alias
// mapping and maximum, a Subscription Identifier sent by a client
// [MQTT-3.3.4-6], payload format validation, '$' topics.
func (p *Publish) Decode(h Header, body []byte, v Version) error {
	f := h.Flags
	p.Dup = f&0x08 != 0
	p.QoS = (f >> 1) & 3
	p.Retain = f&0x01 != 0
	if p.QoS == 3 { // [MQTT-3.3.1-4]; ParseHeader already rejects it
		return malformed(PUBLISH, "flags", "QoS 3")
	}
	if len(body) < 2 {
		return shortErr(PUBLISH, "topic length", 2, len(body))
	}
	i := 2 + (int(body[0])<<8 | int(body[1]))
	if i > len(body) {
		return fieldShort(PUBLISH, "topic", body, 0)
	}
	p.Topic = body[2:i:i]
	if bad := topicBad(p.Topic); bad >= 0 { // [MQTT-3.3.2-1] [MQTT-3.3.2-2]
		return topicErr(PUBLISH, p.Topic, bad)
	}
	p.PacketID = 0
	if p.QoS > 0 {
		if i+2 > len(body) {
			return shortErr(PUBLISH, "packet identifier", 2, len(body)-i)
		}
		p.PacketID = uint16(body[i])<<8 | uint16(body[i+1])
		i += 2
		if p.PacketID == 0 { // [MQTT-2.3.1-1] (3.1.1), [MQTT-2.2.1-3] (5.0)
			return protocolErr(PUBLISH, "packet identifier", "0 with QoS > 0")
		}
	}
	if v == V5 {
		var err error
		if i, err = p.Props.decode(PUBLISH, false, maskPublish, body, i); err != nil {
			return err
		}
		if len(p.Topic) == 0 && !p.Props.Has(PropTopicAlias) { // 3.3.2.1
			return protocolErr(PUBLISH, "topic", "empty and no topic alias")
		}
	} else {
		p.Props.Reset()
		if len(p.Topic) == 0 { // [MQTT-4.7.3-1]
			return &Error{Code: TopicNameInvalid, Packet: PUBLISH, Field: "topic", Msg: "empty"}
		}
	}
	p.Payload = body[i:len(body):len(body)]
	return nil
}

// varHeader returns the size of the variable header (topic, packet id,
// properties) with the properties to write and their list size.
func (p *Publish) varHeader(v Version) (n int, w uint64, pn int) {
	n = fieldSize(p.Topic)
	if p.QoS > 0 {
		n += 2
	}
	if v == V5 {
		w = p.Props.written(maskPublish)
		pn = p.Props.listSize(PUBLISH, w)
		n += VarintSize(pn) + pn
	}
	return n, w, pn
}

// Size returns the encoded size of the whole packet. The broker compares it
// with the peer's Maximum Packet Size before sending, and with MaxRemaining
// (Append cannot encode a larger packet).
func (p *Publish) Size(v Version) int {
	n, _, _ := p.varHeader(v)
	return packetSize(n + len(p.Payload))
}

// Append appends the whole PUBLISH to dst. It writes the fields as they are
// (a PacketID only when QoS > 0, properties only in v5, see Properties).
func (p *Publish) Append(dst []byte, v Version) []byte {
	n, w, pn := p.varHeader(v)
	dst = p.appendHeader(dst, v, n+len(p.Payload), w, pn)
	return append(dst, p.Payload...)
}

// AppendHeader appends everything but the payload: the fixed header (whose
// Remaining Length counts the payload) and the variable header. The caller
// sends the payload right after, e.g. with net.Buffers, so that a big
// payload is never copied.
func (p *Publish) AppendHeader(dst []byte, v Version) []byte {
	n, w, pn := p.varHeader(v)
	return p.appendHeader(dst, v, n+len(p.Payload), w, pn)
}

func (p *Publish) appendHeader(dst []byte, v Version, remaining int, w uint64, pn int) []byte {
	b0 := byte(PUBLISH)<<4 | boolBit(p.Dup, 0x08) | (p.QoS&3)<<1 | boolBit(p.Retain, 0x01)
	dst = appendFixed(dst, b0, remaining)
	dst = appendBytes(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	if v == V5 {
		dst = p.Props.appendList(dst, PUBLISH, w, pn)
	}
	return dst
}
