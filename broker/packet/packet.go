// Package packet is the MQTT 3.1, 3.1.1 and 5.0 codec.
//
// Decoding works on a byte slice that holds one whole packet body (see
// Reader). Decoded byte-slice fields (topics, payloads, strings, property
// values) are views into that slice: they are valid only until the buffer is
// reused, and the caller copies what must outlive it. Decoding into a reused
// struct does not allocate once its slices have grown.
//
// Encoding appends the whole packet, fixed header included, to a caller's
// buffer: p.Append(dst, version). Size reports the encoded length without
// encoding, so that a sender can check a peer's Maximum Packet Size first.
//
// Statement ids such as [MQTT-3.3.1-4] refer to the OASIS specifications of
// MQTT 3.1.1 and 5.0.
package packet

// Type is the MQTT control packet type, the high nibble of the first byte.
type Type byte

// Control packet types.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15 // MQTT 5.0 only
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
	"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",
	"PINGRESP", "DISCONNECT", "AUTH"}

// String returns the packet type's name as the specification spells it.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "INVALID"
}

// Version is the protocol level carried in CONNECT.
type Version byte

// Protocol levels.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1
	V5   Version = 5 // MQTT 5.0
)

// String returns "3.1", "3.1.1" or "5.0".
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return "unknown"
}

// Header is the fixed header of a packet.
type Header struct {
	Type      Type
	Flags     byte // the low nibble of the first byte
	Remaining int  // the Remaining Length: bytes that follow the fixed header
}

// Dup reports the PUBLISH DUP flag.
func (h Header) Dup() bool { return h.Flags&0x08 != 0 }

// QoS returns the PUBLISH QoS bits (3 is invalid and rejected by decoding).
func (h Header) QoS() byte { return (h.Flags >> 1) & 0x03 }

// Retain reports the PUBLISH RETAIN flag.
func (h Header) Retain() bool { return h.Flags&0x01 != 0 }

// MaxRemaining is the largest Remaining Length that four bytes can encode.
const MaxRemaining = 268435455

// UserProperty is one MQTT 5.0 user property (identifier 0x26), a name/value
// pair of UTF-8 strings. Order and duplicates are preserved.
type UserProperty struct {
	Key, Value []byte
}

// Subscription is one topic filter and its options in SUBSCRIBE.
type Subscription struct {
	Filter            []byte
	QoS               byte // maximum QoS the subscriber asks for
	NoLocal           bool // v5: do not deliver the subscriber's own publications
	RetainAsPublished bool // v5: keep the RETAIN flag on forwarded messages
	RetainHandling    byte // v5: 0 send retained, 1 only if new subscription, 2 never
}

// Connect is the CONNECT packet.
type Connect struct {
	ProtocolName []byte // "MQTT", or "MQIsdp" for 3.1
	Version      Version
	// Bridge is set when the protocol level had its top bit set (0x83,
	// 0x84): mosquitto's mark of a bridge connecting as a 3.x client.
	// Version then holds the level without that bit.
	Bridge     bool
	CleanStart bool // CleanSession in 3.1.1
	KeepAlive  uint16
	Props      Properties
	ClientID   []byte

	WillFlag    bool
	WillQoS     byte
	WillRetain  bool
	WillProps   Properties
	WillTopic   []byte
	WillPayload []byte

	UsernameFlag bool
	Username     []byte
	PasswordFlag bool
	Password     []byte
}

// Connack is the CONNACK packet. In 3.1.1 Code holds the return code (0-5).
type Connack struct {
	SessionPresent bool
	Code           ReasonCode
	Props          Properties
}

// Publish is the PUBLISH packet.
type Publish struct {
	Dup      bool
	QoS      byte
	Retain   bool
	Topic    []byte // may be empty in v5 when Props.TopicAlias is set
	PacketID uint16 // only when QoS > 0
	Props    Properties
	Payload  []byte
}

// Ack is PUBACK, PUBREC, PUBREL or PUBCOMP, told apart by Type.
// In 3.1.1 only Type and PacketID are on the wire.
type Ack struct {
	Type     Type
	PacketID uint16
	Code     ReasonCode
	Props    Properties
}

// Subscribe is the SUBSCRIBE packet.
type Subscribe struct {
	PacketID uint16
	Props    Properties // v5: Subscription Identifier, User Property
	Subs     []Subscription
}

// Suback is the SUBACK packet: one code per filter of the SUBSCRIBE, in
// order. In 3.1.1 the codes are 0x00-0x02 granted QoS or 0x80 failure.
type Suback struct {
	PacketID uint16
	Props    Properties
	Codes    []ReasonCode
}

// Unsubscribe is the UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID uint16
	Props    Properties
	Filters  [][]byte
}

// Unsuback is the UNSUBACK packet. Codes is v5 only (3.1.1 has no payload).
type Unsuback struct {
	PacketID uint16
	Props    Properties
	Codes    []ReasonCode
}

// Disconnect is the DISCONNECT packet. Code and Props are v5 only.
type Disconnect struct {
	Code  ReasonCode
	Props Properties
}

// Auth is the MQTT 5.0 AUTH packet.
type Auth struct {
	Code  ReasonCode
	Props Properties
}
