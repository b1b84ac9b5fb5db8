package packet

// PropID is an MQTT 5.0 property identifier.
type PropID byte

// Property identifiers, MQTT 5.0 section 2.2.2.2.
const (
	PropPayloadFormat        PropID = 0x01 // byte: PUBLISH, will
	PropMessageExpiry        PropID = 0x02 // uint32: PUBLISH, will
	PropContentType          PropID = 0x03 // string: PUBLISH, will
	PropResponseTopic        PropID = 0x08 // string: PUBLISH, will
	PropCorrelationData      PropID = 0x09 // binary: PUBLISH, will
	PropSubscriptionID       PropID = 0x0B // varint: PUBLISH (repeatable), SUBSCRIBE
	PropSessionExpiry        PropID = 0x11 // uint32: CONNECT, CONNACK, DISCONNECT
	PropAssignedClientID     PropID = 0x12 // string: CONNACK
	PropServerKeepAlive      PropID = 0x13 // uint16: CONNACK
	PropAuthMethod           PropID = 0x15 // string: CONNECT, CONNACK, AUTH
	PropAuthData             PropID = 0x16 // binary: CONNECT, CONNACK, AUTH
	PropRequestProblemInfo   PropID = 0x17 // byte: CONNECT
	PropWillDelay            PropID = 0x18 // uint32: will
	PropRequestResponseInfo  PropID = 0x19 // byte: CONNECT
	PropResponseInfo         PropID = 0x1A // string: CONNACK
	PropServerReference      PropID = 0x1C // string: CONNACK, DISCONNECT
	PropReasonString         PropID = 0x1F // string: acks, CONNACK, DISCONNECT, AUTH
	PropReceiveMaximum       PropID = 0x21 // uint16: CONNECT, CONNACK
	PropTopicAliasMaximum    PropID = 0x22 // uint16: CONNECT, CONNACK
	PropTopicAlias           PropID = 0x23 // uint16: PUBLISH
	PropMaximumQoS           PropID = 0x24 // byte: CONNACK
	PropRetainAvailable      PropID = 0x25 // byte: CONNACK
	PropUser                 PropID = 0x26 // string pair: all packets with properties (repeatable)
	PropMaximumPacketSize    PropID = 0x27 // uint32: CONNECT, CONNACK
	PropWildcardSubAvailable PropID = 0x28 // byte: CONNACK
	PropSubIDAvailable       PropID = 0x29 // byte: CONNACK
	PropSharedSubAvailable   PropID = 0x2A // byte: CONNACK
)

// Properties holds the MQTT 5.0 properties of one packet (or of a will).
//
// A scalar property is present when its bit is set (see Has and Set); this
// tells "absent" from "zero" where the specification needs it (Receive
// Maximum, Maximum Packet Size, Session Expiry...). Byte-slice properties are
// present when non-nil. After decoding they are views into the packet buffer.
// Decoding resets the struct first and reuses the capacity of User and
// SubscriptionIDs.
type Properties struct {
	present uint64 // bit i set: property i present (ids are below 64)

	PayloadFormat        byte
	MessageExpiry        uint32
	ContentType          []byte
	ResponseTopic        []byte
	CorrelationData      []byte
	SubscriptionIDs      []uint32 // PUBLISH may carry several; SUBSCRIBE at most one
	SessionExpiry        uint32
	AssignedClientID     []byte
	ServerKeepAlive      uint16
	AuthMethod           []byte
	AuthData             []byte
	RequestProblemInfo   byte
	WillDelay            uint32
	RequestResponseInfo  byte
	ResponseInfo         []byte
	ServerReference      []byte
	ReasonString         []byte
	ReceiveMaximum       uint16
	TopicAliasMaximum    uint16
	TopicAlias           uint16
	MaximumQoS           byte
	RetainAvailable      byte
	User                 []UserProperty
	MaximumPacketSize    uint32
	WildcardSubAvailable byte
	SubIDAvailable       byte
	SharedSubAvailable   byte
}

// Has reports whether property id is present.
func (p *Properties) Has(id PropID) bool { return p.present&(1<<id) != 0 }

// Set marks property id present. Encoders write only present properties
// (byte-slice properties also when non-nil, User and SubscriptionIDs when
// non-empty).
func (p *Properties) Set(id PropID) { p.present |= 1 << id }

// Clear marks property id absent.
func (p *Properties) Clear(id PropID) { p.present &^= 1 << id }

// Reset empties p, keeping the capacity of its slices.
func (p *Properties) Reset() {
	u, s := p.User[:0], p.SubscriptionIDs[:0]
	*p = Properties{User: u, SubscriptionIDs: s}
}
