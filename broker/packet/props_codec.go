package packet

import (
	"math/bits"
	"strconv"
)

// Which properties each packet may carry, MQTT 5.0 section 2.2.2.2 and the
// property sections of chapter 3. A property outside the mask is a Malformed
// Packet ("an Identifier which is not valid for its packet type").
const (
	maskConnect uint64 = 1<<PropSessionExpiry | 1<<PropAuthMethod | 1<<PropAuthData |
		1<<PropRequestProblemInfo | 1<<PropRequestResponseInfo | 1<<PropReceiveMaximum |
		1<<PropTopicAliasMaximum | 1<<PropUser | 1<<PropMaximumPacketSize
	maskWill uint64 = 1<<PropPayloadFormat | 1<<PropMessageExpiry | 1<<PropContentType |
		1<<PropResponseTopic | 1<<PropCorrelationData | 1<<PropWillDelay | 1<<PropUser
	maskConnack uint64 = 1<<PropSessionExpiry | 1<<PropAssignedClientID | 1<<PropServerKeepAlive |
		1<<PropAuthMethod | 1<<PropAuthData | 1<<PropResponseInfo | 1<<PropServerReference |
		1<<PropReasonString | 1<<PropReceiveMaximum | 1<<PropTopicAliasMaximum |
		1<<PropMaximumQoS | 1<<PropRetainAvailable | 1<<PropUser | 1<<PropMaximumPacketSize |
		1<<PropWildcardSubAvailable | 1<<PropSubIDAvailable | 1<<PropSharedSubAvailable
	maskPublish uint64 = 1<<PropPayloadFormat | 1<<PropMessageExpiry | 1<<PropContentType |
		1<<PropResponseTopic | 1<<PropCorrelationData | 1<<PropSubscriptionID |
		1<<PropTopicAlias | 1<<PropUser
	maskAck         uint64 = 1<<PropReasonString | 1<<PropUser // PUBACK..PUBCOMP, SUBACK, UNSUBACK
	maskSubscribe   uint64 = 1<<PropSubscriptionID | 1<<PropUser
	maskUnsubscribe uint64 = 1 << PropUser
	maskDisconnect  uint64 = 1<<PropSessionExpiry | 1<<PropServerReference | 1<<PropReasonString | 1<<PropUser
	maskAuth        uint64 = 1<<PropAuthMethod | 1<<PropAuthData | 1<<PropReasonString | 1<<PropUser
	maskKnown              = maskConnect | maskWill | maskConnack | maskPublish | maskAck | maskDisconnect | maskAuth
)

// maskFor returns the properties packet type t may carry (0 for none).
func maskFor(t Type) uint64 {
	switch t {
	case CONNECT:
		return maskConnect
	case CONNACK:
		return maskConnack
	case PUBLISH:
		return maskPublish
	case PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK:
		return maskAck
	case SUBSCRIBE:
		return maskSubscribe
	case UNSUBSCRIBE:
		return maskUnsubscribe
	case DISCONNECT:
		return maskDisconnect
	case AUTH:
		return maskAuth
	}
	return 0
}

// propName returns the specification's name of a property.
func propName(id PropID) string {
	switch id {
	case PropPayloadFormat:
		return "payload format indicator"
	case PropMessageExpiry:
		return "message expiry interval"
	case PropContentType:
		return "content type"
	case PropResponseTopic:
		return "response topic"
	case PropCorrelationData:
		return "correlation data"
	case PropSubscriptionID:
		return "subscription identifier"
	case PropSessionExpiry:
		return "session expiry interval"
	case PropAssignedClientID:
		return "assigned client identifier"
	case PropServerKeepAlive:
		return "server keep alive"
	case PropAuthMethod:
		return "authentication method"
	case PropAuthData:
		return "authentication data"
	case PropRequestProblemInfo:
		return "request problem information"
	case PropWillDelay:
		return "will delay interval"
	case PropRequestResponseInfo:
		return "request response information"
	case PropResponseInfo:
		return "response information"
	case PropServerReference:
		return "server reference"
	case PropReasonString:
		return "reason string"
	case PropReceiveMaximum:
		return "receive maximum"
	case PropTopicAliasMaximum:
		return "topic alias maximum"
	case PropTopicAlias:
		return "topic alias"
	case PropMaximumQoS:
		return "maximum QoS"
	case PropRetainAvailable:
		return "retain available"
	case PropUser:
		return "user property"
	case PropMaximumPacketSize:
		return "maximum packet size"
	case PropWildcardSubAvailable:
		return "wildcard subscription available"
	case PropSubIDAvailable:
		return "subscription identifier available"
	case PropSharedSubAvailable:
		return "shared subscription available"
	}
	return "property 0x" + strconv.FormatUint(uint64(id), 16)
}

// propField names a property in errors: "topic alias property", or
// "will delay interval property" prefixed with "will " inside a will.
func propField(id PropID, will bool) string {
	s := propName(id)
	if id != PropUser {
		s += " property"
	}
	if will {
		return "will " + s
	}
	return s
}

func propsField(will bool) string {
	if will {
		return "will properties"
	}
	return "properties"
}

// decode resets p and reads a Property Length and the properties that follow
// it at b[i:]. mask holds the properties allowed in packet type t (or in a
// will). It returns the offset after the properties. Byte-slice values are
// views into b. Every decoded property has its presence bit set.
func (p *Properties) decode(t Type, will bool, mask uint64, b []byte, i int) (int, error) {
	p.Reset()
	if i >= len(b) { // [MQTT-2.2.2-1] the Property Length is always there
		return i, shortErr(t, propsField(will)+" length", 1, 0)
	}
	n := int(b[i])
	if n < 0x80 {
		i++
	} else {
		v, m, st := readVarint(b[i:])
		if st != varintOK {
			return i, varintErr(st, t, propsField(will)+" length", b[i:])
		}
		n = v
		i += m
	}
	end := i + n
	if end > len(b) {
		return i, malformed(t, propsField(will)+" length", strconv.Itoa(n)+" runs past the end of the packet ("+strconv.Itoa(len(b)-i)+" bytes left)")
	}
	if n == 0 {
		return i, nil
	}
	b = b[:end]
	// Every property may appear once, except User Property (3.1.2.11.8 and
	// alike) and, in PUBLISH, Subscription Identifier (3.3.2.3.8: one per
	// matching subscription).
	dupOK := uint64(1) << PropUser
	if t == PUBLISH && !will {
		dupOK |= 1 << PropSubscriptionID
	}
	for i < end {
		id := PropID(b[i])
		if id >= 64 || mask&(1<<id) == 0 {
			return i, p.notAllowed(t, will, b, i)
		}
		bit := uint64(1) << id
		if p.present&bit&^dupOK != 0 {
			return i, protocolErr(t, propField(id, will), "included more than once")
		}
		p.present |= bit
		i++
		var err error
		switch id {
		case PropPayloadFormat:
			p.PayloadFormat, i, err = propBool(t, will, id, b, i)
		case PropRequestProblemInfo:
			p.RequestProblemInfo, i, err = propBool(t, will, id, b, i)
		case PropRequestResponseInfo:
			p.RequestResponseInfo, i, err = propBool(t, will, id, b, i)
		case PropMaximumQoS:
			p.MaximumQoS, i, err = propBool(t, will, id, b, i)
		case PropRetainAvailable:
			p.RetainAvailable, i, err = propBool(t, will, id, b, i)
		case PropWildcardSubAvailable:
			p.WildcardSubAvailable, i, err = propBool(t, will, id, b, i)
		case PropSubIDAvailable:
			p.SubIDAvailable, i, err = propBool(t, will, id, b, i)
		case PropSharedSubAvailable:
			p.SharedSubAvailable, i, err = propBool(t, will, id, b, i)
		case PropServerKeepAlive:
			p.ServerKeepAlive, i, err = propUint16(t, will, id, b, i)
		case PropTopicAliasMaximum:
			p.TopicAliasMaximum, i, err = propUint16(t, will, id, b, i)
		case PropReceiveMaximum:
			p.ReceiveMaximum, i, err = propUint16(t, will, id, b, i)
			if err == nil && p.ReceiveMaximum == 0 { // 3.1.2.11.3, 3.2.2.3.3
				err = protocolErr(t, propField(id, will), "value 0")
			}
		case PropTopicAlias:
			p.TopicAlias, i, err = propUint16(t, will, id, b, i)
			if err == nil && p.TopicAlias == 0 { // [MQTT-3.3.2-8]
				err = &Error{Code: TopicAliasInvalid, Packet: t, Field: propField(id, will), Msg: "value 0"}
			}
		case PropMessageExpiry:
			p.MessageExpiry, i, err = propUint32(t, will, id, b, i)
		case PropSessionExpiry:
			p.SessionExpiry, i, err = propUint32(t, will, id, b, i)
		case PropWillDelay:
			p.WillDelay, i, err = propUint32(t, will, id, b, i)
		case PropMaximumPacketSize:
			p.MaximumPacketSize, i, err = propUint32(t, will, id, b, i)
			if err == nil && p.MaximumPacketSize == 0 { // 3.1.2.11.4, 3.2.2.3.6
				err = protocolErr(t, propField(id, will), "value 0")
			}
		case PropSubscriptionID:
			var v int
			v, i, err = propVarint(t, will, id, b, i)
			if err == nil && v == 0 { // 3.8.2.1.2
				err = protocolErr(t, propField(id, will), "value 0")
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
		case PropContentType:
			p.ContentType, i, err = propUTF8(t, will, id, "", b, i)
		case PropResponseTopic:
			p.ResponseTopic, i, err = propUTF8(t, will, id, "", b, i)
			if err == nil && p.ResponseTopic != nil { // [MQTT-3.3.2-14] no wildcards
				if e := validTopic(p.ResponseTopic); e != nil {
					e.Code, e.Packet, e.Field = ProtocolError, t, propField(id, will)
					err = e
				}
			}
		case PropAssignedClientID:
			p.AssignedClientID, i, err = propUTF8(t, will, id, "", b, i)
		case PropAuthMethod:
			p.AuthMethod, i, err = propUTF8(t, will, id, "", b, i)
		case PropResponseInfo:
			p.ResponseInfo, i, err = propUTF8(t, will, id, "", b, i)
		case PropServerReference:
			p.ServerReference, i, err = propUTF8(t, will, id, "", b, i)
		case PropReasonString:
			p.ReasonString, i, err = propUTF8(t, will, id, "", b, i)
		case PropCorrelationData:
			p.CorrelationData, i, err = propBinary(t, will, id, b, i)
		case PropAuthData:
			p.AuthData, i, err = propBinary(t, will, id, b, i)
		case PropUser:
			var u UserProperty
			if u.Key, i, err = propUTF8(t, will, id, " name", b, i); err == nil {
				u.Value, i, err = propUTF8(t, will, id, " value", b, i)
			}
			p.User = append(p.User, u)
		}
		if err != nil {
			return i, err
		}
	}
	// 3.1.2.11.10, 3.2.2.3.17, 3.15.2.2.3: "It is a Protocol Error to include
	// Authentication Data if there is no Authentication Method".
	if p.present&(1<<PropAuthData|1<<PropAuthMethod) == 1<<PropAuthData {
		return end, protocolErr(t, propField(PropAuthData, will), "without an authentication method")
	}
	return end, nil
}

// notAllowed builds the error for an unknown property or one not valid in
// this packet type: both are Malformed Packets (section 2.2.2.2).
func (p *Properties) notAllowed(t Type, will bool, b []byte, i int) *Error {
	id := PropID(b[i])
	if id >= 64 || maskKnown&(1<<id) == 0 {
		return errAt(MalformedPacket, t, propsField(will), "unknown property identifier 0x"+strconv.FormatUint(uint64(id), 16), b[i:], -1)
	}
	where := t.String()
	if will {
		where = "a will"
	}
	return errAt(MalformedPacket, t, propField(id, will), "not allowed in "+where, b[i:], -1)
}

// propBool reads a one-byte property whose only values are 0 and 1 (all of
// them are: "It is a Protocol Error to include a value other than 0 or 1").
func propBool(t Type, will bool, id PropID, b []byte, i int) (byte, int, error) {
	if i >= len(b) {
		return 0, i, shortErr(t, propField(id, will), 1, 0)
	}
	if v := b[i]; v > 1 {
		return 0, i, errAt(ProtocolError, t, propField(id, will), "value "+strconv.Itoa(int(v))+", must be 0 or 1", b[i:i+1], -1)
	}
	return b[i], i + 1, nil
}

// propUTF8 reads a UTF-8 string property value; suffix completes the field
// name in errors (user property " name" or " value"). Names are built on the
// error path only.
func propUTF8(t Type, will bool, id PropID, suffix string, b []byte, i int) ([]byte, int, error) {
	v, j, ok := lenPrefixed(b, i)
	if !ok {
		return nil, i, fieldShort(t, propField(id, will)+suffix, b, i)
	}
	if bad := utf8Bad(v); bad >= 0 {
		return nil, i, utf8Err(t, propField(id, will)+suffix, v, bad)
	}
	return v, j, nil
}

func propBinary(t Type, will bool, id PropID, b []byte, i int) ([]byte, int, error) {
	v, j, ok := lenPrefixed(b, i)
	if !ok {
		return nil, i, fieldShort(t, propField(id, will), b, i)
	}
	return v, j, nil
}

func propUint16(t Type, will bool, id PropID, b []byte, i int) (uint16, int, error) {
	if i+2 > len(b) {
		return 0, i, shortErr(t, propField(id, will), 2, len(b)-i)
	}
	return uint16(b[i])<<8 | uint16(b[i+1]), i + 2, nil
}

func propUint32(t Type, will bool, id PropID, b []byte, i int) (uint32, int, error) {
	if i+4 > len(b) {
		return 0, i, shortErr(t, propField(id, will), 4, len(b)-i)
	}
	return uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3]), i + 4, nil
}

func propVarint(t Type, will bool, id PropID, b []byte, i int) (int, int, error) {
	v, n, st := readVarint(b[i:])
	if st != varintOK {
		return 0, i, varintErr(st, t, propField(id, will), b[i:])
	}
	return v, i + n, nil
}

// written returns the presence bits of the properties that encoding writes
// for mask: set bits, non-nil byte slices, non-empty User and
// SubscriptionIDs; properties outside mask are never written.
func (p *Properties) written(mask uint64) uint64 {
	w := p.present &^ (1<<PropUser | 1<<PropSubscriptionID)
	if p.ContentType != nil {
		w |= 1 << PropContentType
	}
	if p.ResponseTopic != nil {
		w |= 1 << PropResponseTopic
	}
	if p.CorrelationData != nil {
		w |= 1 << PropCorrelationData
	}
	if len(p.SubscriptionIDs) > 0 {
		w |= 1 << PropSubscriptionID
	}
	if p.AssignedClientID != nil {
		w |= 1 << PropAssignedClientID
	}
	if p.AuthMethod != nil {
		w |= 1 << PropAuthMethod
	}
	if p.AuthData != nil {
		w |= 1 << PropAuthData
	}
	if p.ResponseInfo != nil {
		w |= 1 << PropResponseInfo
	}
	if p.ServerReference != nil {
		w |= 1 << PropServerReference
	}
	if p.ReasonString != nil {
		w |= 1 << PropReasonString
	}
	if len(p.User) > 0 {
		w |= 1 << PropUser
	}
	return w & mask
}

// Size returns the encoded size of p in a packet of type t: the Property
// Length and the properties that Append would write (0 for a type that has
// no properties). Inside a CONNECT it counts the CONNECT properties, not the
// will's.
func (p *Properties) Size(t Type) int {
	mask := maskFor(t)
	if mask == 0 {
		return 0
	}
	n := p.listSize(t, p.written(mask))
	return VarintSize(n) + n
}

// listSize returns the size of the properties in w, without the Property
// Length.
func (p *Properties) listSize(t Type, w uint64) int {
	n := 0
	for w != 0 {
		id := PropID(bits.TrailingZeros64(w))
		w &= w - 1
		switch id {
		case PropPayloadFormat, PropRequestProblemInfo, PropRequestResponseInfo, PropMaximumQoS,
			PropRetainAvailable, PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable:
			n += 2
		case PropServerKeepAlive, PropTopicAliasMaximum, PropReceiveMaximum, PropTopicAlias:
			n += 3
		case PropMessageExpiry, PropSessionExpiry, PropWillDelay, PropMaximumPacketSize:
			n += 5
		case PropSubscriptionID:
			for _, v := range p.subIDs(t) {
				n += 1 + VarintSize(int(v))
			}
		case PropContentType:
			n += 1 + fieldSize(p.ContentType)
		case PropResponseTopic:
			n += 1 + fieldSize(p.ResponseTopic)
		case PropCorrelationData:
			n += 1 + fieldSize(p.CorrelationData)
		case PropAssignedClientID:
			n += 1 + fieldSize(p.AssignedClientID)
		case PropAuthMethod:
			n += 1 + fieldSize(p.AuthMethod)
		case PropAuthData:
			n += 1 + fieldSize(p.AuthData)
		case PropResponseInfo:
			n += 1 + fieldSize(p.ResponseInfo)
		case PropServerReference:
			n += 1 + fieldSize(p.ServerReference)
		case PropReasonString:
			n += 1 + fieldSize(p.ReasonString)
		case PropUser:
			for i := range p.User {
				n += 1 + fieldSize(p.User[i].Key) + fieldSize(p.User[i].Value)
			}
		}
	}
	return n
}

// subIDs returns the Subscription Identifiers to write: all of them in a
// PUBLISH, the first only in a SUBSCRIBE (it may carry one).
func (p *Properties) subIDs(t Type) []uint32 {
	if t != PUBLISH && len(p.SubscriptionIDs) > 1 {
		return p.SubscriptionIDs[:1]
	}
	return p.SubscriptionIDs
}

// appendList appends the Property Length n (from listSize) and the
// properties in w, in identifier order.
func (p *Properties) appendList(dst []byte, t Type, w uint64, n int) []byte {
	dst = AppendVarint(dst, n)
	for w != 0 {
		id := PropID(bits.TrailingZeros64(w))
		w &= w - 1
		switch id {
		case PropPayloadFormat:
			dst = append(dst, byte(id), p.PayloadFormat)
		case PropRequestProblemInfo:
			dst = append(dst, byte(id), p.RequestProblemInfo)
		case PropRequestResponseInfo:
			dst = append(dst, byte(id), p.RequestResponseInfo)
		case PropMaximumQoS:
			dst = append(dst, byte(id), p.MaximumQoS)
		case PropRetainAvailable:
			dst = append(dst, byte(id), p.RetainAvailable)
		case PropWildcardSubAvailable:
			dst = append(dst, byte(id), p.WildcardSubAvailable)
		case PropSubIDAvailable:
			dst = append(dst, byte(id), p.SubIDAvailable)
		case PropSharedSubAvailable:
			dst = append(dst, byte(id), p.SharedSubAvailable)
		case PropServerKeepAlive:
			dst = appendUint16(append(dst, byte(id)), p.ServerKeepAlive)
		case PropTopicAliasMaximum:
			dst = appendUint16(append(dst, byte(id)), p.TopicAliasMaximum)
		case PropReceiveMaximum:
			dst = appendUint16(append(dst, byte(id)), p.ReceiveMaximum)
		case PropTopicAlias:
			dst = appendUint16(append(dst, byte(id)), p.TopicAlias)
		case PropMessageExpiry:
			dst = appendUint32(append(dst, byte(id)), p.MessageExpiry)
		case PropSessionExpiry:
			dst = appendUint32(append(dst, byte(id)), p.SessionExpiry)
		case PropWillDelay:
			dst = appendUint32(append(dst, byte(id)), p.WillDelay)
		case PropMaximumPacketSize:
			dst = appendUint32(append(dst, byte(id)), p.MaximumPacketSize)
		case PropSubscriptionID:
			for _, v := range p.subIDs(t) {
				dst = AppendVarint(append(dst, byte(id)), int(v))
			}
		case PropContentType:
			dst = appendBytes(append(dst, byte(id)), p.ContentType)
		case PropResponseTopic:
			dst = appendBytes(append(dst, byte(id)), p.ResponseTopic)
		case PropCorrelationData:
			dst = appendBytes(append(dst, byte(id)), p.CorrelationData)
		case PropAssignedClientID:
			dst = appendBytes(append(dst, byte(id)), p.AssignedClientID)
		case PropAuthMethod:
			dst = appendBytes(append(dst, byte(id)), p.AuthMethod)
		case PropAuthData:
			dst = appendBytes(append(dst, byte(id)), p.AuthData)
		case PropResponseInfo:
			dst = appendBytes(append(dst, byte(id)), p.ResponseInfo)
		case PropServerReference:
			dst = appendBytes(append(dst, byte(id)), p.ServerReference)
		case PropReasonString:
			dst = appendBytes(append(dst, byte(id)), p.ReasonString)
		case PropUser:
			for i := range p.User {
				dst = appendBytes(appendBytes(append(dst, byte(id)), p.User[i].Key), p.User[i].Value)
			}
		}
	}
	return dst
}
