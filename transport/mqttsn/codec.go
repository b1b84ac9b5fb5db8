package mqttsn

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// Message is one MQTT-SN message. The concrete types are the pointer types
// of this package (*Publish, *Connect, ...); a type switch tells them apart.
type Message interface {
	// Type returns the message type.
	Type() MsgType
	// Size returns the encoded length of the message, Length field
	// included.
	Size() int
	// Append validates the message and appends its encoding to dst.
	Append(dst []byte) ([]byte, error)
	// decode fills the message from b, a whole message whose Length field
	// is hdr octets long and whose MsgType octet is b[hdr].
	decode(b []byte, hdr int) error
}

// ParseLength reads the Length field at the start of b [5.2.1]. It returns
// the length the field gives (for a Forwarder Encapsulation, the length of
// the encapsulation header only) and the size of the field itself, 1 or 3.
// It returns ErrIncomplete when b ends inside the field, and an *Error when
// the field cannot be valid: 0x00, or a 3-octet form below 4.
func ParseLength(b []byte) (length, hdr int, err error) {
	if len(b) == 0 {
		return 0, 0, ErrIncomplete
	}
	switch b[0] {
	case 0x00:
		return 0, 0, lengthError(typeAt(b, 1), "0x00 is not a length", b[:1])
	case 0x01:
		if len(b) < 3 {
			return 0, 0, ErrIncomplete
		}
		n := int(be16(b[1:]))
		if n < 4 {
			return 0, 0, lengthError(typeAt(b, 3), "3-octet Length "+strconv.Itoa(n)+" is below 4", b[:3])
		}
		return n, 3, nil
	}
	return int(b[0]), 1, nil
}

// FrameLen returns how many octets the message at the start of b occupies
// on a byte stream: its Length, or for a Forwarder Encapsulation the
// encapsulation header plus the encapsulated message's Length. It returns
// ErrIncomplete when b is too short to tell, and an *Error when a Length
// field cannot be valid. It does not check the message itself.
func FrameLen(b []byte) (int, error) {
	n, hdr, err := ParseLength(b)
	if err != nil {
		return 0, err
	}
	if len(b) <= hdr {
		return 0, ErrIncomplete
	}
	if MsgType(b[hdr]) != ENCAPSULATED {
		return n, nil
	}
	if hdr != 1 {
		return 0, newError(ENCAPSULATED, "Length", "the Forwarder Encapsulation Length is one octet", b[:hdr+1])
	}
	if n < 3 {
		return 0, newError(ENCAPSULATED, "Length", "encapsulation header Length "+strconv.Itoa(n)+" is below 3", b[:2])
	}
	if len(b) < n {
		return 0, ErrIncomplete
	}
	inner, _, err := ParseLength(b[n:])
	if err != nil {
		return 0, err
	}
	return n + inner, nil
}

// Decoder decodes messages into values it owns and reuses. The zero value
// is ready to use. A Decoder is not safe for concurrent use.
type Decoder struct {
	advertise     Advertise
	searchGW      SearchGW
	gwInfo        GwInfo
	connect       Connect
	connAck       ConnAck
	willTopicReq  WillTopicReq
	willTopic     WillTopic
	willMsgReq    WillMsgReq
	willMsg       WillMsg
	register      Register
	regAck        RegAck
	publish       Publish
	pubAck        PubAck
	pubComp       PubComp
	pubRec        PubRec
	pubRel        PubRel
	subscribe     Subscribe
	subAck        SubAck
	unsubscribe   Unsubscribe
	unsubAck      UnsubAck
	pingReq       PingReq
	pingResp      PingResp
	disconnect    Disconnect
	willTopicUpd  WillTopicUpd
	willTopicResp WillTopicResp
	willMsgUpd    WillMsgUpd
	willMsgResp   WillMsgResp
	forwarder     Forwarder
}

// Decode decodes b, which must hold exactly one message, into the
// Decoder's value of that type and returns it. Byte-slice fields of the
// result are views into b. Decoding allocates nothing unless b is
// malformed.
func (d *Decoder) Decode(b []byte) (Message, error) {
	t, hdr, err := split(b)
	if err != nil {
		return nil, err
	}
	m := d.slot(t)
	if m == nil {
		return nil, newError(t, "MsgType", "reserved message type", b[:hdr+1])
	}
	if err := m.decode(b, hdr); err != nil {
		return nil, err
	}
	return m, nil
}

func (d *Decoder) slot(t MsgType) Message {
	switch t {
	case ADVERTISE:
		return &d.advertise
	case SEARCHGW:
		return &d.searchGW
	case GWINFO:
		return &d.gwInfo
	case CONNECT:
		return &d.connect
	case CONNACK:
		return &d.connAck
	case WILLTOPICREQ:
		return &d.willTopicReq
	case WILLTOPIC:
		return &d.willTopic
	case WILLMSGREQ:
		return &d.willMsgReq
	case WILLMSG:
		return &d.willMsg
	case REGISTER:
		return &d.register
	case REGACK:
		return &d.regAck
	case PUBLISH:
		return &d.publish
	case PUBACK:
		return &d.pubAck
	case PUBCOMP:
		return &d.pubComp
	case PUBREC:
		return &d.pubRec
	case PUBREL:
		return &d.pubRel
	case SUBSCRIBE:
		return &d.subscribe
	case SUBACK:
		return &d.subAck
	case UNSUBSCRIBE:
		return &d.unsubscribe
	case UNSUBACK:
		return &d.unsubAck
	case PINGREQ:
		return &d.pingReq
	case PINGRESP:
		return &d.pingResp
	case DISCONNECT:
		return &d.disconnect
	case WILLTOPICUPD:
		return &d.willTopicUpd
	case WILLTOPICRESP:
		return &d.willTopicResp
	case WILLMSGUPD:
		return &d.willMsgUpd
	case WILLMSGRESP:
		return &d.willMsgResp
	case ENCAPSULATED:
		return &d.forwarder
	}
	return nil
}

// Unmarshal decodes b, which must hold exactly one message of m's type,
// into m. Byte-slice fields of m become views into b.
func Unmarshal(b []byte, m Message) error {
	t, hdr, err := split(b)
	if err != nil {
		return err
	}
	if t != m.Type() {
		return newError(t, "MsgType", "expected "+m.Type().String(), b[:hdr+1])
	}
	return m.decode(b, hdr)
}

// split checks the Length field of b against len(b) and returns the
// message type and the size of the Length field.
func split(b []byte) (MsgType, int, error) {
	n, hdr, err := ParseLength(b)
	if err == ErrIncomplete {
		return 0, 0, lengthError(typeAt(b, 1), "message ends inside the Length field", b)
	}
	if err != nil {
		return 0, 0, err
	}
	if len(b) <= hdr {
		return 0, 0, lengthError(0, "message ends before MsgType", b)
	}
	t := MsgType(b[hdr])
	if t == ENCAPSULATED {
		return t, hdr, nil // its Length covers the header only: Forwarder.decode checks it
	}
	if n != len(b) {
		return t, 0, newError(t, "Length", "Length is "+strconv.Itoa(n)+" but the message has "+strconv.Itoa(len(b))+" octets", b[:hdr+1])
	}
	return t, hdr, nil
}

// typeAt returns b[i] as a MsgType, or 0 when b is shorter.
func typeAt(b []byte, i int) MsgType {
	if i < len(b) {
		return MsgType(b[i])
	}
	return 0
}

// sizeFor returns the encoded length of a message with bodyLen octets
// after MsgType.
func sizeFor(bodyLen int) int {
	if n := bodyLen + 2; n <= 0xFF {
		return n
	}
	return bodyLen + 4
}

// checkSize rejects a message too long for the 3-octet Length field.
func checkSize(t MsgType, bodyLen int) error {
	if n := sizeFor(bodyLen); n > MaxLen {
		return newError(t, "Length", "message of "+strconv.Itoa(n)+" octets exceeds 65535", nil)
	}
	return nil
}

// appendHeader appends the Length field and MsgType; bodyLen must have
// passed checkSize.
func appendHeader(dst []byte, t MsgType, bodyLen int) []byte {
	n := sizeFor(bodyLen)
	if n <= 0xFF {
		return append(dst, byte(n), byte(t))
	}
	return append(dst, 0x01, byte(n>>8), byte(n), byte(t))
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func appendBE16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

// view returns b, or nil when b is empty, so that an absent field decodes
// to nil.
func view(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// bodyOf returns the octets after MsgType.
func bodyOf(b []byte, hdr int) []byte { return b[hdr+1:] }

// exact checks that a fixed-layout body has n octets.
func exact(t MsgType, body []byte, n int, b []byte) error {
	if len(body) != n {
		return newError(t, "Length", "body is "+strconv.Itoa(len(body))+" octets, want "+strconv.Itoa(n), b)
	}
	return nil
}

// atLeast checks that a variable body has at least n octets.
func atLeast(t MsgType, body []byte, n int, b []byte) error {
	if len(body) < n {
		return newError(t, "Length", "body is "+strconv.Itoa(len(body))+" octets, want at least "+strconv.Itoa(n), b)
	}
	return nil
}

// checkString validates a string field: not empty when required, at most
// max octets when max > 0, valid UTF-8 [5.3.1, 5.3.12] and free of U+0000,
// which MQTT forbids in the strings the gateway passes on [MQTT-1.5.3-2].
func checkString(t MsgType, field string, s []byte, required bool, max int) error {
	switch {
	case bytes.IndexByte(s, 0) >= 0:
		return newError(t, field, "contains U+0000", s)
	case len(s) == 0 && required:
		return newError(t, field, "empty", nil)
	case max > 0 && len(s) > max:
		return newError(t, field, strconv.Itoa(len(s))+" octets, at most "+strconv.Itoa(max)+" allowed", s)
	case !utf8.Valid(s):
		return newError(t, field, "not UTF-8", s)
	}
	return nil
}

// checkQoS validates QoS bits; QoS -1 only where minus1 allows it.
func checkQoS(t MsgType, q QoS, minus1 bool) error {
	if !q.Valid() || (q == QoSMinus1 && !minus1) {
		return newError(t, "Flags.QoS", "QoS "+q.String()+" not allowed in "+t.String(), []byte{byte(Flags(0).WithQoS(q))})
	}
	return nil
}

// checkTopicType rejects the reserved TopicIdType 0b11.
func checkTopicType(t MsgType, tt TopicIDType) error {
	if tt > TopicShort {
		return newError(t, "Flags.TopicIdType", "reserved value 0b"+strconv.FormatUint(uint64(tt), 2), []byte{byte(tt)})
	}
	return nil
}

// checkReturnCode rejects reserved return codes.
func checkReturnCode(t MsgType, c ReturnCode) error {
	if !c.Valid() {
		return newError(t, "ReturnCode", "reserved value", []byte{byte(c)})
	}
	return nil
}
