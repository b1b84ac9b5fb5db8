package packet

// Decode decodes a DISCONNECT body. In v5 Remaining Length 0 means Normal
// disconnection and 1 a reason code without properties (3.14.2.1).
func (p *Disconnect) Decode(h Header, body []byte, v Version) error {
	p.Code = Success
	p.Props.Reset()
	if v != V5 {
		return exactLen(DISCONNECT, body, 0)
	}
	if len(body) == 0 {
		return nil
	}
	p.Code = ReasonCode(body[0])
	if !validCode(DISCONNECT, v, p.Code) {
		return codeErr(DISCONNECT, "reason code", p.Code)
	}
	if len(body) == 1 {
		return nil
	}
	i, err := p.Props.decode(DISCONNECT, false, maskDisconnect, body, 1)
	if err != nil {
		return err
	}
	if i != len(body) {
		return trailingErr(DISCONNECT, body[i:])
	}
	return nil
}

// remaining uses the v5 short forms: 0 for Normal disconnection without
// properties, 1 for another code without properties.
func (p *Disconnect) remaining(v Version) (n int, w uint64, pn int) {
	if v != V5 {
		return 0, 0, 0
	}
	w = p.Props.written(maskDisconnect)
	if w == 0 {
		if p.Code == Success {
			return 0, 0, 0
		}
		return 1, 0, 0
	}
	pn = p.Props.listSize(DISCONNECT, w)
	return 1 + VarintSize(pn) + pn, w, pn
}

// Size returns the encoded size of the whole packet.
func (p *Disconnect) Size(v Version) int {
	n, _, _ := p.remaining(v)
	return packetSize(n)
}

// Append appends the whole packet to dst (3.1.1: two bytes, Code ignored).
func (p *Disconnect) Append(dst []byte, v Version) []byte {
	n, w, pn := p.remaining(v)
	dst = appendFixed(dst, byte(DISCONNECT)<<4, n)
	if n > 0 {
		dst = append(dst, byte(p.Code))
	}
	if n > 1 {
		dst = p.Props.appendList(dst, DISCONNECT, w, pn)
	}
	return dst
}

// Decode decodes an AUTH body (MQTT 5.0 only: in 3.x it is a Protocol
// Error). Remaining Length 0 means Success without properties; 1, a code
// without properties, is accepted too.
func (p *Auth) Decode(h Header, body []byte, v Version) error {
	p.Code = Success
	p.Props.Reset()
	if v != V5 {
		return protocolErr(AUTH, "", "AUTH exists in MQTT 5.0 only")
	}
	if len(body) == 0 {
		return nil
	}
	p.Code = ReasonCode(body[0])
	if !validCode(AUTH, v, p.Code) {
		return codeErr(AUTH, "reason code", p.Code)
	}
	if len(body) == 1 {
		return nil
	}
	i, err := p.Props.decode(AUTH, false, maskAuth, body, 1)
	if err != nil {
		return err
	}
	if i != len(body) {
		return trailingErr(AUTH, body[i:])
	}
	return nil
}

func (p *Auth) remaining() (n int, w uint64, pn int) {
	w = p.Props.written(maskAuth)
	if w == 0 && p.Code == Success {
		return 0, 0, 0
	}
	pn = p.Props.listSize(AUTH, w)
	return 1 + VarintSize(pn) + pn, w, pn
}

// Size returns the encoded size of the whole packet (v is ignored: AUTH is
// a 5.0 packet).
func (p *Auth) Size(v Version) int {
	n, _, _ := p.remaining()
	return packetSize(n)
}

// Append appends the whole packet to dst in its 5.0 form whatever v is:
// Remaining Length 0 for Success without properties, else the reason code
// and the properties.
func (p *Auth) Append(dst []byte, v Version) []byte {
	n, w, pn := p.remaining()
	dst = appendFixed(dst, byte(AUTH)<<4, n)
	if n > 0 {
		dst = p.Props.appendList(append(dst, byte(p.Code)), AUTH, w, pn)
	}
	return dst
}

// AppendPingreq appends a PINGREQ (the same in every version).
func AppendPingreq(dst []byte) []byte { return append(dst, byte(PINGREQ)<<4, 0) }

// AppendPingresp appends a PINGRESP (the same in every version).
func AppendPingresp(dst []byte) []byte { return append(dst, byte(PINGRESP)<<4, 0) }
