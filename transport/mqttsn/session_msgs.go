package mqttsn

// Connect is CONNECT [5.4.4]. Of the Flags only Will and CleanSession are
// used; ProtocolId is always 0x01.
//
//	Length | MsgType 0x04 | Flags | ProtocolId 0x01 | Duration (2) | ClientId (1-23)
type Connect struct {
	Will         bool   // the client will send WILLTOPIC and WILLMSG when asked
	CleanSession bool   // discard any previous session
	Duration     uint16 // keep-alive timer, seconds
	ClientID     []byte // 1-23 octets of UTF-8 [5.3.1]
}

// Type returns CONNECT.
func (*Connect) Type() MsgType { return CONNECT }

// Size returns the encoded length.
func (m *Connect) Size() int { return sizeFor(4 + len(m.ClientID)) }

// Append validates the message and appends its encoding to dst.
func (m *Connect) Append(dst []byte) ([]byte, error) {
	if err := checkString(CONNECT, "ClientId", m.ClientID, true, MaxClientIDLen); err != nil {
		return dst, err
	}
	f := Flags(0).Set(FlagWill, m.Will).Set(FlagCleanSession, m.CleanSession)
	dst = append(appendHeader(dst, CONNECT, 4+len(m.ClientID)), byte(f), ProtocolID)
	return append(appendBE16(dst, m.Duration), m.ClientID...), nil
}

func (m *Connect) decode(b []byte, hdr int) error {
	body := bodyOf(b, hdr)
	if err := atLeast(CONNECT, body, 5, b); err != nil {
		return err
	}
	if body[1] != ProtocolID {
		return newError(CONNECT, "ProtocolId", "only 0x01 is defined", body[1:2])
	}
	f := Flags(body[0])
	*m = Connect{Will: f.Will(), CleanSession: f.CleanSession(), Duration: be16(body[2:]), ClientID: body[4:]}
	return checkString(CONNECT, "ClientId", m.ClientID, true, MaxClientIDLen)
}

// ConnAck is CONNACK [5.4.5].
//
//	Length 0x03 | MsgType 0x05 | ReturnCode
type ConnAck struct {
	ReturnCode ReturnCode
}

// Type returns CONNACK.
func (*ConnAck) Type() MsgType { return CONNACK }

// Size returns 3.
func (*ConnAck) Size() int { return 3 }

// Append validates the message and appends its encoding to dst.
func (m *ConnAck) Append(dst []byte) ([]byte, error) { return appendCode(dst, CONNACK, m.ReturnCode) }

func (m *ConnAck) decode(b []byte, hdr int) error { return decodeCode(b, hdr, CONNACK, &m.ReturnCode) }

// WillTopicResp is WILLTOPICRESP [5.4.24], the answer to WILLTOPICUPD.
//
//	Length 0x03 | MsgType 0x1B | ReturnCode
type WillTopicResp ConnAck

// Type returns WILLTOPICRESP.
func (*WillTopicResp) Type() MsgType { return WILLTOPICRESP }

// Size returns 3.
func (*WillTopicResp) Size() int { return 3 }

// Append validates the message and appends its encoding to dst.
func (m *WillTopicResp) Append(dst []byte) ([]byte, error) {
	return appendCode(dst, WILLTOPICRESP, m.ReturnCode)
}

func (m *WillTopicResp) decode(b []byte, hdr int) error {
	return decodeCode(b, hdr, WILLTOPICRESP, &m.ReturnCode)
}

// WillMsgResp is WILLMSGRESP [5.4.25], the answer to WILLMSGUPD.
//
//	Length 0x03 | MsgType 0x1D | ReturnCode
type WillMsgResp ConnAck

// Type returns WILLMSGRESP.
func (*WillMsgResp) Type() MsgType { return WILLMSGRESP }

// Size returns 3.
func (*WillMsgResp) Size() int { return 3 }

// Append validates the message and appends its encoding to dst.
func (m *WillMsgResp) Append(dst []byte) ([]byte, error) {
	return appendCode(dst, WILLMSGRESP, m.ReturnCode)
}

func (m *WillMsgResp) decode(b []byte, hdr int) error {
	return decodeCode(b, hdr, WILLMSGRESP, &m.ReturnCode)
}

func appendCode(dst []byte, t MsgType, c ReturnCode) ([]byte, error) {
	if err := checkReturnCode(t, c); err != nil {
		return dst, err
	}
	return append(appendHeader(dst, t, 1), byte(c)), nil
}

func decodeCode(b []byte, hdr int, t MsgType, c *ReturnCode) error {
	body := bodyOf(b, hdr)
	if err := exact(t, body, 1, b); err != nil {
		return err
	}
	*c = ReturnCode(body[0])
	return checkReturnCode(t, *c)
}

// WillTopicReq is WILLTOPICREQ [5.4.6]: the gateway asks for the will
// topic.
//
//	Length 0x02 | MsgType 0x06
type WillTopicReq struct{}

// Type returns WILLTOPICREQ.
func (*WillTopicReq) Type() MsgType { return WILLTOPICREQ }

// Size returns 2.
func (*WillTopicReq) Size() int { return 2 }

// Append appends the encoded message to dst.
func (*WillTopicReq) Append(dst []byte) ([]byte, error) {
	return appendHeader(dst, WILLTOPICREQ, 0), nil
}

func (*WillTopicReq) decode(b []byte, hdr int) error {
	return exact(WILLTOPICREQ, bodyOf(b, hdr), 0, b)
}

// WillMsgReq is WILLMSGREQ [5.4.8]: the gateway asks for the will message.
//
//	Length 0x02 | MsgType 0x08
type WillMsgReq struct{}

// Type returns WILLMSGREQ.
func (*WillMsgReq) Type() MsgType { return WILLMSGREQ }

// Size returns 2.
func (*WillMsgReq) Size() int { return 2 }

// Append appends the encoded message to dst.
func (*WillMsgReq) Append(dst []byte) ([]byte, error) { return appendHeader(dst, WILLMSGREQ, 0), nil }

func (*WillMsgReq) decode(b []byte, hdr int) error { return exact(WILLMSGREQ, bodyOf(b, hdr), 0, b) }

// PingResp is PINGRESP [5.4.20].
//
//	Length 0x02 | MsgType 0x17
type PingResp struct{}

// Type returns PINGRESP.
func (*PingResp) Type() MsgType { return PINGRESP }

// Size returns 2.
func (*PingResp) Size() int { return 2 }

// Append appends the encoded message to dst.
func (*PingResp) Append(dst []byte) ([]byte, error) { return appendHeader(dst, PINGRESP, 0), nil }

func (*PingResp) decode(b []byte, hdr int) error { return exact(PINGRESP, bodyOf(b, hdr), 0, b) }

// WillTopic is WILLTOPIC [5.4.7]. Of the Flags only QoS (0-2) and Retain
// are used. An empty WILLTOPIC, Length and MsgType alone, deletes the will
// topic and message: it decodes to, and encodes from, an empty WillTopic
// with QoS 0 and Retain false.
//
//	Length | MsgType 0x07 | Flags | WillTopic (n)
//	Length 0x02 | MsgType 0x07                        (empty)
type WillTopic struct {
	QoS       QoS
	Retain    bool
	WillTopic []byte // UTF-8; empty for the empty WILLTOPIC
}

// Type returns WILLTOPIC.
func (*WillTopic) Type() MsgType { return WILLTOPIC }

// Size returns the encoded length.
func (m *WillTopic) Size() int { return willTopicSize(m) }

// Append validates the message and appends its encoding to dst.
func (m *WillTopic) Append(dst []byte) ([]byte, error) { return appendWillTopic(dst, WILLTOPIC, m) }

func (m *WillTopic) decode(b []byte, hdr int) error { return decodeWillTopic(b, hdr, WILLTOPIC, m) }

// WillTopicUpd is WILLTOPICUPD [5.4.22], laid out like WILLTOPIC; empty,
// it deletes the will.
//
//	Length | MsgType 0x1A | Flags | WillTopic (n)
//	Length 0x02 | MsgType 0x1A                        (empty)
type WillTopicUpd WillTopic

// Type returns WILLTOPICUPD.
func (*WillTopicUpd) Type() MsgType { return WILLTOPICUPD }

// Size returns the encoded length.
func (m *WillTopicUpd) Size() int { return willTopicSize((*WillTopic)(m)) }

// Append validates the message and appends its encoding to dst.
func (m *WillTopicUpd) Append(dst []byte) ([]byte, error) {
	return appendWillTopic(dst, WILLTOPICUPD, (*WillTopic)(m))
}

func (m *WillTopicUpd) decode(b []byte, hdr int) error {
	return decodeWillTopic(b, hdr, WILLTOPICUPD, (*WillTopic)(m))
}

func willTopicSize(m *WillTopic) int {
	if len(m.WillTopic) == 0 {
		return 2
	}
	return sizeFor(1 + len(m.WillTopic))
}

func appendWillTopic(dst []byte, t MsgType, m *WillTopic) ([]byte, error) {
	if len(m.WillTopic) == 0 {
		if m.QoS != QoS0 || m.Retain {
			return dst, newError(t, "WillTopic", "empty (deleting the will) but QoS or Retain set", nil)
		}
		return appendHeader(dst, t, 0), nil
	}
	if err := checkWillTopic(t, m); err != nil {
		return dst, err
	}
	if err := checkSize(t, 1+len(m.WillTopic)); err != nil {
		return dst, err
	}
	f := Flags(0).WithQoS(m.QoS).Set(FlagRetain, m.Retain)
	dst = append(appendHeader(dst, t, 1+len(m.WillTopic)), byte(f))
	return append(dst, m.WillTopic...), nil
}

func checkWillTopic(t MsgType, m *WillTopic) error {
	if err := checkQoS(t, m.QoS, false); err != nil {
		return err
	}
	return checkString(t, "WillTopic", m.WillTopic, true, 0)
}

func decodeWillTopic(b []byte, hdr int, t MsgType, m *WillTopic) error {
	body := bodyOf(b, hdr)
	if len(body) == 0 {
		*m = WillTopic{}
		return nil
	}
	if len(body) == 1 {
		return newError(t, "WillTopic", "Flags present but the topic is empty", b)
	}
	f := Flags(body[0])
	*m = WillTopic{QoS: f.QoS(), Retain: f.Retain(), WillTopic: body[1:]}
	return checkWillTopic(t, m)
}

// WillMsg is WILLMSG [5.4.9].
//
//	Length | MsgType 0x09 | WillMsg (n)
type WillMsg struct {
	WillMsg []byte // may be empty
}

// Type returns WILLMSG.
func (*WillMsg) Type() MsgType { return WILLMSG }

// Size returns the encoded length.
func (m *WillMsg) Size() int { return sizeFor(len(m.WillMsg)) }

// Append validates the message and appends its encoding to dst.
func (m *WillMsg) Append(dst []byte) ([]byte, error) { return appendData(dst, WILLMSG, m.WillMsg) }

func (m *WillMsg) decode(b []byte, hdr int) error {
	*m = WillMsg{WillMsg: view(bodyOf(b, hdr))}
	return nil
}

// WillMsgUpd is WILLMSGUPD [5.4.23].
//
//	Length | MsgType 0x1C | WillMsg (n)
type WillMsgUpd WillMsg

// Type returns WILLMSGUPD.
func (*WillMsgUpd) Type() MsgType { return WILLMSGUPD }

// Size returns the encoded length.
func (m *WillMsgUpd) Size() int { return sizeFor(len(m.WillMsg)) }

// Append validates the message and appends its encoding to dst.
func (m *WillMsgUpd) Append(dst []byte) ([]byte, error) {
	return appendData(dst, WILLMSGUPD, m.WillMsg)
}

func (m *WillMsgUpd) decode(b []byte, hdr int) error {
	*m = WillMsgUpd{WillMsg: view(bodyOf(b, hdr))}
	return nil
}

func appendData(dst []byte, t MsgType, data []byte) ([]byte, error) {
	if err := checkSize(t, len(data)); err != nil {
		return dst, err
	}
	return append(appendHeader(dst, t, len(data)), data...), nil
}

// PingReq is PINGREQ [5.4.19]. A sleeping client names itself with
// ClientId to collect its buffered messages; otherwise ClientId is absent.
//
//	Length | MsgType 0x16 | ClientId (0 or 1-23)
type PingReq struct {
	ClientID []byte // empty when absent
}

// Type returns PINGREQ.
func (*PingReq) Type() MsgType { return PINGREQ }

// Size returns the encoded length.
func (m *PingReq) Size() int { return sizeFor(len(m.ClientID)) }

// Append validates the message and appends its encoding to dst.
func (m *PingReq) Append(dst []byte) ([]byte, error) {
	if err := checkString(PINGREQ, "ClientId", m.ClientID, false, MaxClientIDLen); err != nil {
		return dst, err
	}
	return append(appendHeader(dst, PINGREQ, len(m.ClientID)), m.ClientID...), nil
}

func (m *PingReq) decode(b []byte, hdr int) error {
	*m = PingReq{ClientID: view(bodyOf(b, hdr))}
	return checkString(PINGREQ, "ClientId", m.ClientID, false, MaxClientIDLen)
}

// Disconnect is DISCONNECT [5.4.21]. A client that sends a Duration asks to
// sleep for that many seconds; the gateway sends DISCONNECT without one.
//
//	Length 0x02 | MsgType 0x18
//	Length 0x04 | MsgType 0x18 | Duration (2)
type Disconnect struct {
	HasDuration bool   // the Duration field is present
	Duration    uint16 // sleep duration, seconds, when HasDuration
}

// Type returns DISCONNECT.
func (*Disconnect) Type() MsgType { return DISCONNECT }

// Size returns 2 or 4.
func (m *Disconnect) Size() int {
	if m.HasDuration {
		return 4
	}
	return 2
}

// Append validates the message and appends its encoding to dst.
func (m *Disconnect) Append(dst []byte) ([]byte, error) {
	if !m.HasDuration {
		if m.Duration != 0 {
			return dst, newError(DISCONNECT, "Duration", "set without HasDuration", nil)
		}
		return appendHeader(dst, DISCONNECT, 0), nil
	}
	return appendBE16(appendHeader(dst, DISCONNECT, 2), m.Duration), nil
}

func (m *Disconnect) decode(b []byte, hdr int) error {
	body := bodyOf(b, hdr)
	switch len(body) {
	case 0:
		*m = Disconnect{}
	case 2:
		*m = Disconnect{HasDuration: true, Duration: be16(body)}
	default:
		return exact(DISCONNECT, body, 2, b)
	}
	return nil
}
