package packet

// Decode decodes PUBACK, PUBREC, PUBREL or PUBCOMP (h.Type tells which).
// In v5 the short forms are accepted: Remaining Length 2 means Success and
// no properties, 3 means a reason code and no properties.
func (p *Ack) Decode(h Header, body []byte, v Version) error {
	t := h.Type
	if t < PUBACK || t > PUBCOMP {
		return malformed(t, "packet type", "not PUBACK, PUBREC, PUBREL or PUBCOMP")
	}
	p.Type = t
	p.Code = Success
	p.Props.Reset()
	if v != V5 {
		if err := exactLen(t, body, 2); err != nil {
			return err
		}
	}
	id, err := packetID(t, body, 0)
	if err != nil {
		return err
	}
	p.PacketID = id
	if len(body) == 2 {
		return nil
	}
	p.Code = ReasonCode(body[2])
	if !validCode(t, v, p.Code) {
		return codeErr(t, "reason code", p.Code)
	}
	if len(body) == 3 {
		return nil
	}
	i, err := p.Props.decode(t, false, maskAck, body, 3)
	if err != nil {
		return err
	}
	if i != len(body) {
		return trailingErr(t, body[i:])
	}
	return nil
}

// remaining returns the Remaining Length and the properties to write. v5
// uses the short forms: 2 for Success without properties, 3 for another
// code without properties.
func (p *Ack) remaining(v Version) (n int, w uint64, pn int) {
	if v != V5 {
		return 2, 0, 0
	}
	w = p.Props.written(maskAck)
	if w == 0 {
		if p.Code == Success {
			return 2, 0, 0
		}
		return 3, 0, 0
	}
	pn = p.Props.listSize(p.Type, w)
	return 3 + VarintSize(pn) + pn, w, pn
}

// Size returns the encoded size of the whole packet.
func (p *Ack) Size(v Version) int {
	n, _, _ := p.remaining(v)
	return packetSize(n)
}

// Append appends the whole packet to dst. p.Type must be PUBACK, PUBREC,
// PUBREL or PUBCOMP.
func (p *Ack) Append(dst []byte, v Version) []byte {
	n, w, pn := p.remaining(v)
	b0 := byte(p.Type) << 4
	if p.Type == PUBREL {
		b0 |= 0x02 // [MQTT-3.6.1-1]
	}
	dst = appendUint16(appendFixed(dst, b0, n), p.PacketID)
	if n > 2 {
		dst = append(dst, byte(p.Code))
	}
	if n > 3 {
		dst = p.Props.appendList(dst, p.Type, w, pn)
	}
	return dst
}
