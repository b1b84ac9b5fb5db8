package mqttsn

import "strconv"

// MsgType is the MsgType octet of a message [5.2.2].
type MsgType byte

// Message types [5.2.2, Table 3]. 0x03, 0x11, 0x19, 0x1E-0xFD and 0xFF are
// reserved.
const (
	ADVERTISE     MsgType = 0x00
	SEARCHGW      MsgType = 0x01
	GWINFO        MsgType = 0x02
	CONNECT       MsgType = 0x04
	CONNACK       MsgType = 0x05
	WILLTOPICREQ  MsgType = 0x06
	WILLTOPIC     MsgType = 0x07
	WILLMSGREQ    MsgType = 0x08
	WILLMSG       MsgType = 0x09
	REGISTER      MsgType = 0x0A
	REGACK        MsgType = 0x0B
	PUBLISH       MsgType = 0x0C
	PUBACK        MsgType = 0x0D
	PUBCOMP       MsgType = 0x0E
	PUBREC        MsgType = 0x0F
	PUBREL        MsgType = 0x10
	SUBSCRIBE     MsgType = 0x12
	SUBACK        MsgType = 0x13
	UNSUBSCRIBE   MsgType = 0x14
	UNSUBACK      MsgType = 0x15
	PINGREQ       MsgType = 0x16
	PINGRESP      MsgType = 0x17
	DISCONNECT    MsgType = 0x18
	WILLTOPICUPD  MsgType = 0x1A
	WILLTOPICRESP MsgType = 0x1B
	WILLMSGUPD    MsgType = 0x1C
	WILLMSGRESP   MsgType = 0x1D
	ENCAPSULATED  MsgType = 0xFE // Forwarder Encapsulation [5.5]
)

var msgTypeNames = [...]string{
	ADVERTISE: "ADVERTISE", SEARCHGW: "SEARCHGW", GWINFO: "GWINFO",
	CONNECT: "CONNECT", CONNACK: "CONNACK", WILLTOPICREQ: "WILLTOPICREQ",
	WILLTOPIC: "WILLTOPIC", WILLMSGREQ: "WILLMSGREQ", WILLMSG: "WILLMSG",
	REGISTER: "REGISTER", REGACK: "REGACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK",
	PUBCOMP: "PUBCOMP", PUBREC: "PUBREC", PUBREL: "PUBREL", SUBSCRIBE: "SUBSCRIBE",
	SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK",
	PINGREQ: "PINGREQ", PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT",
	WILLTOPICUPD: "WILLTOPICUPD", WILLTOPICRESP: "WILLTOPICRESP",
	WILLMSGUPD: "WILLMSGUPD", WILLMSGRESP: "WILLMSGRESP",
}

// String returns the type's name as the specification spells it, or
// "RESERVED(0xNN)".
func (t MsgType) String() string {
	if t == ENCAPSULATED {
		return "ENCAPSULATED"
	}
	if int(t) < len(msgTypeNames) && msgTypeNames[t] != "" {
		return msgTypeNames[t]
	}
	return "RESERVED(0x" + hex2(byte(t)) + ")"
}

// Known reports whether t is a message type of the specification.
func (t MsgType) Known() bool {
	return t == ENCAPSULATED || (int(t) < len(msgTypeNames) && msgTypeNames[t] != "")
}

// QoS is a quality of service level. QoSMinus1 is MQTT-SN's "QoS -1":
// publish without a connection, to a predefined topic id or a short topic
// name [6.8].
type QoS int8

// QoS levels and their flag bits [5.3.4]: 0b00, 0b01, 0b10 and 0b11.
const (
	QoS0      QoS = 0
	QoS1      QoS = 1
	QoS2      QoS = 2
	QoSMinus1 QoS = -1
)

// Valid reports whether q is one of the four levels.
func (q QoS) Valid() bool { return q >= -1 && q <= 2 }

// String returns "0", "1", "2" or "-1".
func (q QoS) String() string { return strconv.Itoa(int(q)) }

// TopicIDType is what the TopicId or TopicName field of PUBLISH,
// SUBSCRIBE and UNSUBSCRIBE holds [5.3.4].
type TopicIDType byte

// Topic id types, the low two bits of Flags. 0b11 is reserved.
const (
	// TopicNormal: a topic id from REGISTER/REGACK (PUBLISH), or a topic
	// name (SUBSCRIBE, UNSUBSCRIBE).
	TopicNormal TopicIDType = 0
	// TopicPredefined: a topic id both ends know in advance.
	TopicPredefined TopicIDType = 1
	// TopicShort: a two-character topic name carried in the TopicId field.
	TopicShort TopicIDType = 2
	// TopicReserved is the reserved value 0b11, never valid.
	TopicReserved TopicIDType = 3
)

// String returns "normal", "predefined", "short" or "reserved".
func (t TopicIDType) String() string {
	switch t {
	case TopicNormal:
		return "normal"
	case TopicPredefined:
		return "predefined"
	case TopicShort:
		return "short"
	}
	return "reserved"
}

// Flags is the Flags octet [5.3.4]:
//
//	bit 7    DUP
//	bit 6-5  QoS: 0b00 QoS 0, 0b01 QoS 1, 0b10 QoS 2, 0b11 QoS -1
//	bit 4    Retain
//	bit 3    Will
//	bit 2    CleanSession
//	bit 1-0  TopicIdType: 0b00 normal, 0b01 predefined, 0b10 short
type Flags byte

// Flag bits.
const (
	FlagDup          Flags = 0x80
	FlagQoSMask      Flags = 0x60
	FlagRetain       Flags = 0x10
	FlagWill         Flags = 0x08
	FlagCleanSession Flags = 0x04
	FlagTopicIDMask  Flags = 0x03
)

// Dup reports the DUP bit.
func (f Flags) Dup() bool { return f&FlagDup != 0 }

// QoS returns the QoS bits; 0b11 is QoSMinus1.
func (f Flags) QoS() QoS {
	q := QoS(f&FlagQoSMask) >> 5
	if q == 3 {
		return QoSMinus1
	}
	return q
}

// Retain reports the Retain bit.
func (f Flags) Retain() bool { return f&FlagRetain != 0 }

// Will reports the Will bit.
func (f Flags) Will() bool { return f&FlagWill != 0 }

// CleanSession reports the CleanSession bit.
func (f Flags) CleanSession() bool { return f&FlagCleanSession != 0 }

// TopicIDType returns the TopicIdType bits.
func (f Flags) TopicIDType() TopicIDType { return TopicIDType(f & FlagTopicIDMask) }

// WithQoS returns f with its QoS bits set to q. An invalid q sets 0b11.
func (f Flags) WithQoS(q QoS) Flags {
	bits := Flags(3)
	if q >= 0 && q <= 2 {
		bits = Flags(q)
	}
	return f&^FlagQoSMask | bits<<5
}

// WithTopicIDType returns f with its TopicIdType bits set to t.
func (f Flags) WithTopicIDType(t TopicIDType) Flags {
	return f&^FlagTopicIDMask | Flags(t)&FlagTopicIDMask
}

// Set returns f with bit set to on or off.
func (f Flags) Set(bit Flags, on bool) Flags {
	if on {
		return f | bit
	}
	return f &^ bit
}

// ReturnCode is the ReturnCode field of CONNACK, REGACK, PUBACK, SUBACK,
// WILLTOPICRESP and WILLMSGRESP [5.3.10]. A ReturnCode is also an error, so
// that gateway code can return the code it wants sent.
type ReturnCode byte

// Return codes. 0x04-0xFF are reserved and rejected by the codec.
const (
	Accepted       ReturnCode = 0x00
	Congestion     ReturnCode = 0x01 // rejected: congestion
	InvalidTopicID ReturnCode = 0x02 // rejected: invalid topic ID
	NotSupported   ReturnCode = 0x03 // rejected: not supported
)

// Valid reports whether c is not reserved.
func (c ReturnCode) Valid() bool { return c <= NotSupported }

// String returns the specification's wording, e.g. "rejected: congestion".
func (c ReturnCode) String() string {
	switch c {
	case Accepted:
		return "accepted"
	case Congestion:
		return "rejected: congestion"
	case InvalidTopicID:
		return "rejected: invalid topic ID"
	case NotSupported:
		return "rejected: not supported"
	}
	return "reserved return code 0x" + hex2(byte(c))
}

// Error makes a ReturnCode usable as an error.
func (c ReturnCode) Error() string { return "mqttsn: " + c.String() }

// ProtocolID is the only ProtocolId of CONNECT that v1.2 defines [5.3.8].
const ProtocolID = 0x01

// MaxClientIDLen is the longest ClientId the specification allows [5.3.1].
const MaxClientIDLen = 23

// MaxLen is the largest message the 3-octet Length field can describe.
const MaxLen = 0xFFFF

func hex2(b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&15]})
}
