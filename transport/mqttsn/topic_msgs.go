package mqttsn

import "strconv"

// Register is REGISTER [5.4.10]: either side binds a topic name to a topic
// id. A client sends TopicID 0x0000; the gateway sends the id it assigned.
//
//	Length | MsgType 0x0A | TopicId (2) | MsgId (2) | TopicName (n)
type Register struct {
	TopicID   uint16
	MsgID     uint16
	TopicName []byte // UTF-8, not empty
}

// Type returns REGISTER.
func (*Register) Type() MsgType { return REGISTER }

// Size returns the encoded length.
func (m *Register) Size() int { return sizeFor(4 + len(m.TopicName)) }

// Append validates the message and appends its encoding to dst.
func (m *Register) Append(dst []byte) ([]byte, error) {
	if err := checkString(REGISTER, "TopicName", m.TopicName, true, 0); err != nil {
		return dst, err
	}
	if err := checkSize(REGISTER, 4+len(m.TopicName)); err != nil {
		return dst, err
	}
	dst = appendBE16(appendBE16(appendHeader(dst, REGISTER, 4+len(m.TopicName)), m.TopicID), m.MsgID)
	return append(dst, m.TopicName...), nil
}

func (m *Register) decode(b []byte, hdr int) error {
	body := bodyOf(b, hdr)
	if err := atLeast(REGISTER, body, 4, b); err != nil {
		return err
	}
	*m = Register{TopicID: be16(body), MsgID: be16(body[2:]), TopicName: body[4:]}
	return checkString(REGISTER, "TopicName", m.TopicName, true, 0)
}

// RegAck is REGACK [5.4.11].
//
//	Length 0x07 | MsgType 0x0B | TopicId (2) | MsgId (2) | ReturnCode
type RegAck struct {
	TopicID    uint16
	MsgID      uint16
	ReturnCode ReturnCode
}

// Type returns REGACK.
func (*RegAck) Type() MsgType { return REGACK }

// Size returns 7.
func (*RegAck) Size() int { return 7 }

// Append validates the message and appends its encoding to dst.
func (m *RegAck) Append(dst []byte) ([]byte, error) { return appendTopicAck(dst, REGACK, (*PubAck)(m)) }

func (m *RegAck) decode(b []byte, hdr int) error { return decodeTopicAck(b, hdr, REGACK, (*PubAck)(m)) }

// PubAck is PUBACK [5.4.13], laid out like REGACK.
//
//	Length 0x07 | MsgType 0x0D | TopicId (2) | MsgId (2) | ReturnCode
type PubAck RegAck

// Type returns PUBACK.
func (*PubAck) Type() MsgType { return PUBACK }

// Size returns 7.
func (*PubAck) Size() int { return 7 }

// Append validates the message and appends its encoding to dst.
func (m *PubAck) Append(dst []byte) ([]byte, error) { return appendTopicAck(dst, PUBACK, m) }

func (m *PubAck) decode(b []byte, hdr int) error { return decodeTopicAck(b, hdr, PUBACK, m) }

func appendTopicAck(dst []byte, t MsgType, m *PubAck) ([]byte, error) {
	if err := checkReturnCode(t, m.ReturnCode); err != nil {
		return dst, err
	}
	dst = appendBE16(appendBE16(appendHeader(dst, t, 5), m.TopicID), m.MsgID)
	return append(dst, byte(m.ReturnCode)), nil
}

func decodeTopicAck(b []byte, hdr int, t MsgType, m *PubAck) error {
	body := bodyOf(b, hdr)
	if err := exact(t, body, 5, b); err != nil {
		return err
	}
	*m = PubAck{TopicID: be16(body), MsgID: be16(body[2:]), ReturnCode: ReturnCode(body[4])}
	return checkReturnCode(t, m.ReturnCode)
}

// Publish is PUBLISH [5.4.12]. Of the Flags, Will and CleanSession are
// not used. QoS -1 is allowed only with a predefined topic id or a short
// topic name [6.8]. MsgId is relevant only for QoS 1 and 2; it is carried
// as it is.
//
//	Length | MsgType 0x0C | Flags | TopicId (2) | MsgId (2) | Data (n)
type Publish struct {
	Dup         bool
	QoS         QoS
	Retain      bool
	TopicIDType TopicIDType
	TopicID     uint16 // topic id, or the two octets of a short topic name
	MsgID       uint16
	Data        []byte
}

// Type returns PUBLISH.
func (*Publish) Type() MsgType { return PUBLISH }

// Size returns the encoded length.
func (m *Publish) Size() int { return sizeFor(5 + len(m.Data)) }

// Flags returns the Flags octet of the message.
func (m *Publish) Flags() Flags {
	return Flags(0).Set(FlagDup, m.Dup).WithQoS(m.QoS).Set(FlagRetain, m.Retain).WithTopicIDType(m.TopicIDType)
}

// ShortTopic returns the two-character topic name of a TopicShort PUBLISH.
func (m *Publish) ShortTopic() [2]byte { return [2]byte{byte(m.TopicID >> 8), byte(m.TopicID)} }

// ShortTopicID packs a two-character short topic name into a TopicId.
func ShortTopicID(name [2]byte) uint16 { return uint16(name[0])<<8 | uint16(name[1]) }

// Append validates the message and appends its encoding to dst.
func (m *Publish) Append(dst []byte) ([]byte, error) {
	if err := m.check(); err != nil {
		return dst, err
	}
	if err := checkSize(PUBLISH, 5+len(m.Data)); err != nil {
		return dst, err
	}
	dst = append(appendHeader(dst, PUBLISH, 5+len(m.Data)), byte(m.Flags()))
	dst = appendBE16(appendBE16(dst, m.TopicID), m.MsgID)
	return append(dst, m.Data...), nil
}

func (m *Publish) check() error {
	if err := checkQoS(PUBLISH, m.QoS, true); err != nil {
		return err
	}
	if err := checkTopicType(PUBLISH, m.TopicIDType); err != nil {
		return err
	}
	if m.QoS == QoSMinus1 && m.TopicIDType == TopicNormal { // [6.8]
		return newError(PUBLISH, "Flags.TopicIdType", "QoS -1 needs a predefined topic id or a short topic name", []byte{byte(m.Flags())})
	}
	return nil
}

func (m *Publish) decode(b []byte, hdr int) error {
	body := bodyOf(b, hdr)
	if len(body) < 5 {
		return atLeast(PUBLISH, body, 5, b)
	}
	f := Flags(body[0])
	*m = Publish{
		Dup: f.Dup(), QoS: f.QoS(), Retain: f.Retain(), TopicIDType: f.TopicIDType(),
		TopicID: be16(body[1:]), MsgID: be16(body[3:]), Data: view(body[5:]),
	}
	return m.check()
}

// Subscribe is SUBSCRIBE [5.4.15]. Of the Flags, DUP, QoS (the requested
// level, 0-2) and TopicIdType are used. TopicIDType says which of
// TopicName (TopicNormal) and TopicID (TopicPredefined, TopicShort) is on
// the wire.
//
//	Length | MsgType 0x12 | Flags | MsgId (2) | TopicName (n) or TopicId (2)
type Subscribe struct {
	Dup         bool
	QoS         QoS
	TopicIDType TopicIDType
	MsgID       uint16
	TopicName   []byte // TopicNormal: a topic filter, UTF-8, not empty
	TopicID     uint16 // TopicPredefined: the id; TopicShort: the two octets
}

// Type returns SUBSCRIBE.
func (*Subscribe) Type() MsgType { return SUBSCRIBE }

// Size returns the encoded length.
func (m *Subscribe) Size() int { return sizeFor(3 + topicLen(m.TopicIDType, m.TopicName)) }

// Append validates the message and appends its encoding to dst.
func (m *Subscribe) Append(dst []byte) ([]byte, error) {
	if err := checkQoS(SUBSCRIBE, m.QoS, false); err != nil {
		return dst, err
	}
	f := Flags(0).Set(FlagDup, m.Dup).WithQoS(m.QoS).WithTopicIDType(m.TopicIDType)
	return appendTopic(dst, SUBSCRIBE, f, m.MsgID, m.TopicIDType, m.TopicName, m.TopicID)
}

func (m *Subscribe) decode(b []byte, hdr int) error {
	f, id, name, topicID, err := decodeTopic(b, hdr, SUBSCRIBE)
	if err != nil {
		return err
	}
	*m = Subscribe{Dup: f.Dup(), QoS: f.QoS(), TopicIDType: f.TopicIDType(), MsgID: id, TopicName: name, TopicID: topicID}
	return checkQoS(SUBSCRIBE, m.QoS, false)
}

// Unsubscribe is UNSUBSCRIBE [5.4.17], laid out like SUBSCRIBE; of the
// Flags only TopicIdType is used.
//
//	Length | MsgType 0x14 | Flags | MsgId (2) | TopicName (n) or TopicId (2)
type Unsubscribe struct {
	TopicIDType TopicIDType
	MsgID       uint16
	TopicName   []byte // TopicNormal: a topic filter, UTF-8, not empty
	TopicID     uint16 // TopicPredefined: the id; TopicShort: the two octets
}

// Type returns UNSUBSCRIBE.
func (*Unsubscribe) Type() MsgType { return UNSUBSCRIBE }

// Size returns the encoded length.
func (m *Unsubscribe) Size() int { return sizeFor(3 + topicLen(m.TopicIDType, m.TopicName)) }

// Append validates the message and appends its encoding to dst.
func (m *Unsubscribe) Append(dst []byte) ([]byte, error) {
	f := Flags(0).WithTopicIDType(m.TopicIDType)
	return appendTopic(dst, UNSUBSCRIBE, f, m.MsgID, m.TopicIDType, m.TopicName, m.TopicID)
}

func (m *Unsubscribe) decode(b []byte, hdr int) error {
	f, id, name, topicID, err := decodeTopic(b, hdr, UNSUBSCRIBE)
	if err != nil {
		return err
	}
	*m = Unsubscribe{TopicIDType: f.TopicIDType(), MsgID: id, TopicName: name, TopicID: topicID}
	return nil
}

func topicLen(tt TopicIDType, name []byte) int {
	if tt == TopicNormal {
		return len(name)
	}
	return 2
}

func appendTopic(dst []byte, t MsgType, f Flags, msgID uint16, tt TopicIDType, name []byte, topicID uint16) ([]byte, error) {
	if err := checkTopicType(t, tt); err != nil {
		return dst, err
	}
	if tt == TopicNormal {
		if err := checkString(t, "TopicName", name, true, 0); err != nil {
			return dst, err
		}
		if err := checkSize(t, 3+len(name)); err != nil {
			return dst, err
		}
		if topicID != 0 {
			return dst, newError(t, "TopicId", "set with TopicIdType normal, which sends TopicName", nil)
		}
	} else if len(name) != 0 {
		return dst, newError(t, "TopicName", "set with TopicIdType "+tt.String()+", which sends TopicId", nil)
	}
	dst = appendBE16(append(appendHeader(dst, t, 3+topicLen(tt, name)), byte(f)), msgID)
	if tt == TopicNormal {
		return append(dst, name...), nil
	}
	return appendBE16(dst, topicID), nil
}

// decodeTopic reads the Flags | MsgId | TopicName-or-TopicId layout of
// SUBSCRIBE and UNSUBSCRIBE.
func decodeTopic(b []byte, hdr int, t MsgType) (f Flags, msgID uint16, name []byte, topicID uint16, err error) {
	body := bodyOf(b, hdr)
	if err = atLeast(t, body, 4, b); err != nil {
		return
	}
	f, msgID = Flags(body[0]), be16(body[1:])
	if err = checkTopicType(t, f.TopicIDType()); err != nil {
		return
	}
	rest := body[3:]
	if f.TopicIDType() == TopicNormal {
		name = rest
		err = checkString(t, "TopicName", name, true, 0)
		return
	}
	if len(rest) != 2 {
		err = newError(t, "TopicId", "TopicIdType "+f.TopicIDType().String()+" needs 2 octets, got "+strconv.Itoa(len(rest)), rest)
		return
	}
	topicID = be16(rest)
	return
}

// SubAck is SUBACK [5.4.16]. Of the Flags only QoS (the granted level,
// 0-2) is used.
//
//	Length 0x08 | MsgType 0x13 | Flags | TopicId (2) | MsgId (2) | ReturnCode
type SubAck struct {
	QoS        QoS
	TopicID    uint16 // the id assigned for a topic name without wildcards, else 0x0000
	MsgID      uint16
	ReturnCode ReturnCode
}

// Type returns SUBACK.
func (*SubAck) Type() MsgType { return SUBACK }

// Size returns 8.
func (*SubAck) Size() int { return 8 }

// Append validates the message and appends its encoding to dst.
func (m *SubAck) Append(dst []byte) ([]byte, error) {
	if err := m.check(); err != nil {
		return dst, err
	}
	dst = append(appendHeader(dst, SUBACK, 6), byte(Flags(0).WithQoS(m.QoS)))
	dst = appendBE16(appendBE16(dst, m.TopicID), m.MsgID)
	return append(dst, byte(m.ReturnCode)), nil
}

func (m *SubAck) check() error {
	if err := checkQoS(SUBACK, m.QoS, false); err != nil {
		return err
	}
	return checkReturnCode(SUBACK, m.ReturnCode)
}

func (m *SubAck) decode(b []byte, hdr int) error {
	body := bodyOf(b, hdr)
	if err := exact(SUBACK, body, 6, b); err != nil {
		return err
	}
	*m = SubAck{QoS: Flags(body[0]).QoS(), TopicID: be16(body[1:]), MsgID: be16(body[3:]), ReturnCode: ReturnCode(body[5])}
	return m.check()
}

// PubRec is PUBREC [5.4.14].
//
//	Length 0x04 | MsgType 0x0F | MsgId (2)
type PubRec struct {
	MsgID uint16
}

// Type returns PUBREC.
func (*PubRec) Type() MsgType { return PUBREC }

// Size returns 4.
func (*PubRec) Size() int { return 4 }

// Append appends the encoded message to dst.
func (m *PubRec) Append(dst []byte) ([]byte, error) { return appendMsgID(dst, PUBREC, m.MsgID), nil }

func (m *PubRec) decode(b []byte, hdr int) error { return decodeMsgID(b, hdr, PUBREC, &m.MsgID) }

// PubRel is PUBREL [5.4.14].
//
//	Length 0x04 | MsgType 0x10 | MsgId (2)
type PubRel PubRec

// Type returns PUBREL.
func (*PubRel) Type() MsgType { return PUBREL }

// Size returns 4.
func (*PubRel) Size() int { return 4 }

// Append appends the encoded message to dst.
func (m *PubRel) Append(dst []byte) ([]byte, error) { return appendMsgID(dst, PUBREL, m.MsgID), nil }

func (m *PubRel) decode(b []byte, hdr int) error { return decodeMsgID(b, hdr, PUBREL, &m.MsgID) }

// PubComp is PUBCOMP [5.4.14].
//
//	Length 0x04 | MsgType 0x0E | MsgId (2)
type PubComp PubRec

// Type returns PUBCOMP.
func (*PubComp) Type() MsgType { return PUBCOMP }

// Size returns 4.
func (*PubComp) Size() int { return 4 }

// Append appends the encoded message to dst.
func (m *PubComp) Append(dst []byte) ([]byte, error) { return appendMsgID(dst, PUBCOMP, m.MsgID), nil }

func (m *PubComp) decode(b []byte, hdr int) error { return decodeMsgID(b, hdr, PUBCOMP, &m.MsgID) }

// UnsubAck is UNSUBACK [5.4.18].
//
//	Length 0x04 | MsgType 0x15 | MsgId (2)
type UnsubAck PubRec

// Type returns UNSUBACK.
func (*UnsubAck) Type() MsgType { return UNSUBACK }

// Size returns 4.
func (*UnsubAck) Size() int { return 4 }

// Append appends the encoded message to dst.
func (m *UnsubAck) Append(dst []byte) ([]byte, error) {
	return appendMsgID(dst, UNSUBACK, m.MsgID), nil
}

func (m *UnsubAck) decode(b []byte, hdr int) error { return decodeMsgID(b, hdr, UNSUBACK, &m.MsgID) }

func appendMsgID(dst []byte, t MsgType, id uint16) []byte {
	return appendBE16(appendHeader(dst, t, 2), id)
}

func decodeMsgID(b []byte, hdr int, t MsgType, id *uint16) error {
	body := bodyOf(b, hdr)
	if err := exact(t, body, 2, b); err != nil {
		return err
	}
	*id = be16(body)
	return nil
}
