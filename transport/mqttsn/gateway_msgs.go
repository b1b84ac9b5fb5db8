package mqttsn

import "strconv"

// Advertise is ADVERTISE [5.4.1]: a gateway announces itself.
//
//	Length 0x05 | MsgType 0x00 | GwId | Duration (2)
type Advertise struct {
	GwID     uint8
	Duration uint16 // seconds until the next ADVERTISE
}

// Type returns ADVERTISE.
func (*Advertise) Type() MsgType { return ADVERTISE }

// Size returns 5.
func (*Advertise) Size() int { return 5 }

// Append appends the encoded message to dst.
func (m *Advertise) Append(dst []byte) ([]byte, error) {
	dst = appendHeader(dst, ADVERTISE, 3)
	return appendBE16(append(dst, m.GwID), m.Duration), nil
}

func (m *Advertise) decode(b []byte, hdr int) error {
	body := bodyOf(b, hdr)
	if err := exact(ADVERTISE, body, 3, b); err != nil {
		return err
	}
	*m = Advertise{GwID: body[0], Duration: be16(body[1:])}
	return nil
}

// SearchGW is SEARCHGW [5.4.2]: a client looks for a gateway.
//
//	Length 0x03 | MsgType 0x01 | Radius
type SearchGW struct {
	Radius uint8 // broadcast radius, in hops
}

// Type returns SEARCHGW.
func (*SearchGW) Type() MsgType { return SEARCHGW }

// Size returns 3.
func (*SearchGW) Size() int { return 3 }

// Append appends the encoded message to dst.
func (m *SearchGW) Append(dst []byte) ([]byte, error) {
	return append(appendHeader(dst, SEARCHGW, 1), m.Radius), nil
}

func (m *SearchGW) decode(b []byte, hdr int) error {
	body := bodyOf(b, hdr)
	if err := exact(SEARCHGW, body, 1, b); err != nil {
		return err
	}
	*m = SearchGW{Radius: body[0]}
	return nil
}

// GwInfo is GWINFO [5.4.3], the answer to SEARCHGW. GwAdd is present only
// when a client answers on behalf of a gateway.
//
//	Length | MsgType 0x02 | GwId | GwAdd (n, optional)
type GwInfo struct {
	GwID  uint8
	GwAdd []byte // the gateway's address; empty when the gateway answers
}

// Type returns GWINFO.
func (*GwInfo) Type() MsgType { return GWINFO }

// Size returns the encoded length.
func (m *GwInfo) Size() int { return sizeFor(1 + len(m.GwAdd)) }

// Append appends the encoded message to dst.
func (m *GwInfo) Append(dst []byte) ([]byte, error) {
	if err := checkSize(GWINFO, 1+len(m.GwAdd)); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, GWINFO, 1+len(m.GwAdd))
	return append(append(dst, m.GwID), m.GwAdd...), nil
}

func (m *GwInfo) decode(b []byte, hdr int) error {
	body := bodyOf(b, hdr)
	if err := atLeast(GWINFO, body, 1, b); err != nil {
		return err
	}
	*m = GwInfo{GwID: body[0], GwAdd: view(body[1:])}
	return nil
}

// Forwarder is the Forwarder Encapsulation [5.5]: a forwarder wraps the
// message of one wireless node, which it names, so that one link (a UDP
// socket, a serial line) carries several nodes.
//
//	Length (1) | MsgType 0xFE | Ctrl | Wireless Node Id (n) | MQTT-SN message
//
// Length counts the encapsulation header only: 3 + len(NodeID). The
// encapsulated message follows with its own Length field; Decode checks
// that Length against the octets left but does not decode the message:
// decode Message with the Decoder again.
type Forwarder struct {
	Ctrl    byte   // bits 1-0: Radius; bits 7-2 reserved, carried as they are
	NodeID  []byte // Wireless Node Id, at most 252 octets
	Message []byte // the encapsulated message, Length field included
}

// MaxNodeIDLen is the longest Wireless Node Id the 1-octet Length of the
// Forwarder Encapsulation can describe.
const MaxNodeIDLen = 0xFF - 3

// Radius returns the broadcast radius, the low two bits of Ctrl.
func (m *Forwarder) Radius() uint8 { return m.Ctrl & 0x03 }

// Type returns ENCAPSULATED.
func (*Forwarder) Type() MsgType { return ENCAPSULATED }

// Size returns the encoded length: header plus encapsulated message.
func (m *Forwarder) Size() int { return 3 + len(m.NodeID) + len(m.Message) }

// Append appends the encapsulation header and the encapsulated message to
// dst. The message must be a whole MQTT-SN message (its Length checked).
func (m *Forwarder) Append(dst []byte) ([]byte, error) {
	if err := m.check(); err != nil {
		return dst, err
	}
	dst = append(dst, byte(3+len(m.NodeID)), byte(ENCAPSULATED), m.Ctrl)
	return append(append(dst, m.NodeID...), m.Message...), nil
}

func (m *Forwarder) check() error {
	if len(m.NodeID) > MaxNodeIDLen {
		return newError(ENCAPSULATED, "Wireless Node Id", strconv.Itoa(len(m.NodeID))+" octets, at most 252 allowed", m.NodeID)
	}
	return checkEncapsulated(m.Message)
}

// checkEncapsulated checks that msg is one message by its Length field.
func checkEncapsulated(msg []byte) error {
	if len(msg) == 0 {
		return newError(ENCAPSULATED, "MQTT-SN message", "missing", nil)
	}
	n, hdr, err := ParseLength(msg)
	if err != nil || n != len(msg) || len(msg) <= hdr {
		return newError(ENCAPSULATED, "MQTT-SN message", "Length field does not match the "+strconv.Itoa(len(msg))+" octets encapsulated", msg)
	}
	return nil
}

func (m *Forwarder) decode(b []byte, hdr int) error {
	if hdr != 1 {
		return newError(ENCAPSULATED, "Length", "the Forwarder Encapsulation Length is one octet", b[:hdr+1])
	}
	n := int(b[0])
	if n < 3 || n > len(b) {
		return newError(ENCAPSULATED, "Length", "header Length "+strconv.Itoa(n)+" does not fit the "+strconv.Itoa(len(b))+" octets", b[:2])
	}
	if err := checkEncapsulated(b[n:]); err != nil {
		return err
	}
	*m = Forwarder{Ctrl: b[2], NodeID: view(b[3:n]), Message: b[n:]}
	return nil
}
