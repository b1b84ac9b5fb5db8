package packet

import "strconv"

// Decode decodes a CONNECT body. The protocol version comes from the body:
// "MQIsdp"/3 (3.1), "MQTT"/4 (3.1.1) and "MQTT"/5 (5.0) are accepted.
//
// Another level with a known name returns Code UnsupportedProtocolVersion
// with p.ProtocolName and p.Version already set, so that the broker can
// answer CONNACK 0x01 (3.x) or 0x84 (5.0) [MQTT-3.1.2-2]. An unknown
// protocol name is a ProtocolError [MQTT-3.1.2-1]: close without CONNACK.
//
// Left to the broker: client identifier rules (length, empty with clean
// session 0 in 3.1.1 [MQTT-3.1.3-8]), authentication, will delay semantics.
func (p *Connect) Decode(h Header, body []byte) error {
	*p = Connect{Props: p.Props, WillProps: p.WillProps}
	p.Props.Reset()
	p.WillProps.Reset()
	name, i, err := readUTF8(CONNECT, "protocol name", body, 0)
	if err != nil {
		return err
	}
	p.ProtocolName = name
	if i >= len(body) {
		return shortErr(CONNECT, "protocol level", 1, 0)
	}
	p.Version = Version(body[i])
	if p.Version == V31|0x80 || p.Version == V311|0x80 {
		// A mosquitto-style bridge [mosquitto: try_private]. Not in the
		// specifications; brokers that do not know it refuse the level.
		p.Bridge = true
		p.Version &^= 0x80
	}
	i++
	switch string(name) {
	case "MQTT":
		if p.Version != V311 && p.Version != V5 {
			return unsupported(name, p.Version)
		}
	case "MQIsdp":
		if p.Version != V31 {
			return unsupported(name, p.Version)
		}
	default: // [MQTT-3.1.2-1]
		return errAt(ProtocolError, CONNECT, "protocol name", "not MQTT or MQIsdp", name, -1)
	}
	v := p.Version
	if i+3 > len(body) {
		return shortErr(CONNECT, "connect flags and keep alive", 3, len(body)-i)
	}
	f := body[i]
	if err := checkConnectFlags(f, v); err != nil {
		return err
	}
	p.CleanStart = f&0x02 != 0
	p.WillFlag = f&0x04 != 0
	p.WillQoS = (f >> 3) & 0x03
	p.WillRetain = f&0x20 != 0
	p.PasswordFlag = f&0x40 != 0
	p.UsernameFlag = f&0x80 != 0
	p.KeepAlive = uint16(body[i+1])<<8 | uint16(body[i+2])
	i += 3
	if v == V5 {
		if i, err = p.Props.decode(CONNECT, false, maskConnect, body, i); err != nil {
			return err
		}
	}
	if p.ClientID, i, err = readUTF8(CONNECT, "client identifier", body, i); err != nil { // [MQTT-3.1.3-4]
		return err
	}
	if p.WillFlag {
		if v == V5 {
			if i, err = p.WillProps.decode(CONNECT, true, maskWill, body, i); err != nil {
				return err
			}
		}
		if p.WillTopic, i, err = readUTF8(CONNECT, "will topic", body, i); err != nil { // [MQTT-3.1.3-10]
			return err
		}
		if e := validTopic(p.WillTopic); e != nil { // empty or wildcards: TopicNameInvalid
			e.Packet, e.Field = CONNECT, "will topic"
			return e
		}
		if p.WillPayload, i, err = readBinary(CONNECT, "will payload", body, i); err != nil {
			return err
		}
	}
	if p.UsernameFlag {
		if p.Username, i, err = readUTF8(CONNECT, "username", body, i); err != nil { // [MQTT-3.1.3-11]
			return err
		}
	}
	if p.PasswordFlag {
		if p.Password, i, err = readBinary(CONNECT, "password", body, i); err != nil {
			return err
		}
	}
	if i != len(body) {
		return trailingErr(CONNECT, body[i:])
	}
	return nil
}

func unsupported(name []byte, v Version) *Error {
	return errAt(UnsupportedProtocolVersion, CONNECT, "protocol level",
		"level "+strconv.Itoa(int(v))+" with protocol name "+string(name), []byte{byte(v)}, -1)
}

// checkConnectFlags applies the Connect Flags rules.
func checkConnectFlags(f byte, v Version) error {
	raw := []byte{f}
	if f&0x01 != 0 { // [MQTT-3.1.2-3]
		return errAt(MalformedPacket, CONNECT, "connect flags", "reserved bit 0 set", raw, -1)
	}
	will := f&0x04 != 0
	qos := (f >> 3) & 0x03
	if !will && (qos != 0 || f&0x20 != 0) { // [MQTT-3.1.2-11] [MQTT-3.1.2-13] (5.0), [MQTT-3.1.2-13] [MQTT-3.1.2-15] (3.1.1)
		return errAt(MalformedPacket, CONNECT, "connect flags", "will QoS or will retain set without will flag", raw, -1)
	}
	if qos == 3 { // [MQTT-3.1.2-12] (5.0), [MQTT-3.1.2-14] (3.1.1)
		return errAt(MalformedPacket, CONNECT, "connect flags", "will QoS 3", raw, -1)
	}
	if v != V5 && f&0x40 != 0 && f&0x80 == 0 { // [MQTT-3.1.2-22] (3.1.1); allowed in 5.0
		return errAt(MalformedPacket, CONNECT, "connect flags", "password flag without username flag", raw, -1)
	}
	return nil
}

// protocolName returns the name written for version v.
func protocolName(v Version) string {
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

type connectSizes struct {
	n       int    // remaining length
	w, ww   uint64 // properties and will properties written
	pn, wpn int    // their list sizes
}

func (p *Connect) sizes(v Version) (s connectSizes) {
	s.n = 2 + len(protocolName(v)) + 1 + 1 + 2 + fieldSize(p.ClientID)
	if v == V5 {
		s.w = p.Props.written(maskConnect)
		s.pn = p.Props.listSize(CONNECT, s.w)
		s.n += VarintSize(s.pn) + s.pn
	}
	if p.WillFlag {
		if v == V5 {
			s.ww = p.WillProps.written(maskWill)
			s.wpn = p.WillProps.listSize(CONNECT, s.ww)
			s.n += VarintSize(s.wpn) + s.wpn
		}
		s.n += fieldSize(p.WillTopic) + fieldSize(p.WillPayload)
	}
	if p.UsernameFlag {
		s.n += fieldSize(p.Username)
	}
	if p.PasswordFlag {
		s.n += fieldSize(p.Password)
	}
	return s
}

// Size returns the encoded size of the whole packet.
func (p *Connect) Size(v Version) int { return packetSize(p.sizes(v).n) }

// Append appends the whole CONNECT for version v: the protocol name and
// level come from v (p.ProtocolName and p.Version are not read); p.Bridge
// sets the level's top bit (0x83, 0x84) for 3.1 and 3.1.1. The will,
// username and password are written when their flags are set.
func (p *Connect) Append(dst []byte, v Version) []byte {
	s := p.sizes(v)
	dst = appendFixed(dst, byte(CONNECT)<<4, s.n)
	name := protocolName(v)
	dst = append(append(dst, 0, byte(len(name))), name...)
	f := boolBit(p.CleanStart, 0x02) | boolBit(p.PasswordFlag, 0x40) | boolBit(p.UsernameFlag, 0x80)
	if p.WillFlag {
		f |= 0x04 | (p.WillQoS&0x03)<<3 | boolBit(p.WillRetain, 0x20)
	}
	level := byte(v)
	if p.Bridge && v != V5 {
		level |= 0x80
	}
	dst = appendUint16(append(dst, level, f), p.KeepAlive)
	if v == V5 {
		dst = p.Props.appendList(dst, CONNECT, s.w, s.pn)
	}
	dst = appendBytes(dst, p.ClientID)
	if p.WillFlag {
		if v == V5 {
			dst = p.WillProps.appendList(dst, CONNECT, s.ww, s.wpn)
		}
		dst = appendBytes(appendBytes(dst, p.WillTopic), p.WillPayload)
	}
	if p.UsernameFlag {
		dst = appendBytes(dst, p.Username)
	}
	if p.PasswordFlag {
		dst = appendBytes(dst, p.Password)
	}
	return dst
}

// Decode decodes a CONNACK body. A v5 client also accepts a two-byte
// CONNACK (no Property Length): that is how a 3.1.1-only server refuses a
// v5 CONNECT, with return code 0x01 (V3UnacceptableVersion).
func (p *Connack) Decode(h Header, body []byte, v Version) error {
	p.Props.Reset()
	if v != V5 || len(body) == 2 {
		if err := exactLen(CONNACK, body, 2); err != nil {
			return err
		}
		v = V311
	} else if len(body) < 2 {
		return shortErr(CONNACK, "acknowledge flags and reason code", 2, len(body))
	}
	if body[0]&0xfe != 0 { // [MQTT-3.2.2-1]
		return errAt(MalformedPacket, CONNACK, "acknowledge flags", "reserved bits set", body[:1], -1)
	}
	p.SessionPresent = body[0]&0x01 != 0
	p.Code = ReasonCode(body[1])
	if !validCode(CONNACK, v, p.Code) {
		return codeErr(CONNACK, "reason code", p.Code)
	}
	if v != V5 {
		return nil
	}
	i, err := p.Props.decode(CONNACK, false, maskConnack, body, 2)
	if err != nil {
		return err
	}
	if i != len(body) {
		return trailingErr(CONNACK, body[i:])
	}
	return nil
}

func (p *Connack) remaining(v Version) (n int, w uint64, pn int) {
	if v != V5 {
		return 2, 0, 0
	}
	w = p.Props.written(maskConnack)
	pn = p.Props.listSize(CONNACK, w)
	return 2 + VarintSize(pn) + pn, w, pn
}

// Size returns the encoded size of the whole packet.
func (p *Connack) Size(v Version) int {
	n, _, _ := p.remaining(v)
	return packetSize(n)
}

// Append appends the whole packet to dst. In 3.1.1 Code is the return code.
func (p *Connack) Append(dst []byte, v Version) []byte {
	n, w, pn := p.remaining(v)
	dst = append(appendFixed(dst, byte(CONNACK)<<4, n), boolBit(p.SessionPresent, 0x01), byte(p.Code))
	if v == V5 {
		dst = p.Props.appendList(dst, CONNACK, w, pn)
	}
	return dst
}
