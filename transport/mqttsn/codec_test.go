package mqttsn

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
)

// codecCase is one message and its exact encoding. The same table drives
// encoding (Append must produce wire) and decoding (Decode of wire must
// produce msg).
type codecCase struct {
	name string
	msg  Message
	wire []byte
}

// cat concatenates byte slices and strings into one wire image.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case []byte:
			b = append(b, v...)
		case string:
			b = append(b, v...)
		case int:
			b = append(b, byte(v))
		default:
			panic("cat: unsupported part")
		}
	}
	return b
}

var (
	data248 = bytes.Repeat([]byte{0xA5}, 248) // PUBLISH body 5+248 = 253: total 255, the largest 1-octet Length
	data249 = bytes.Repeat([]byte{0x5A}, 249) // PUBLISH body 254: total 256 in 1 octet, so 3 octets: 258
	data300 = bytes.Repeat([]byte{0x42}, 300)
)

// codecCases are built field by field from the layouts of section 5.4 of
// the MQTT-SN v1.2 specification; the comment on each names the section.
var codecCases = []codecCase{
	// [5.4.1] Length 5, MsgType, GwId, Duration.
	{"advertise", &Advertise{GwID: 1, Duration: 900}, cat(0x05, 0x00, 0x01, 0x03, 0x84)},
	// [5.4.2] Length 3, MsgType, Radius.
	{"searchgw", &SearchGW{Radius: 1}, cat(0x03, 0x01, 0x01)},
	// [5.4.3] sent by the gateway: no GwAdd.
	{"gwinfo-gateway", &GwInfo{GwID: 7}, cat(0x03, 0x02, 0x07)},
	// [5.4.3] sent by a client on behalf of a gateway: GwAdd is its address.
	{"gwinfo-client", &GwInfo{GwID: 7, GwAdd: []byte{192, 168, 1, 2}}, cat(0x07, 0x02, 0x07, 192, 168, 1, 2)},
	// [5.4.4] Flags 0x0C = Will | CleanSession, ProtocolId 0x01, Duration 60.
	{"connect-will-clean", &Connect{Will: true, CleanSession: true, Duration: 60, ClientID: []byte("edge1")},
		cat(0x0B, 0x04, 0x0C, 0x01, 0x00, 0x3C, "edge1")},
	{"connect-plain", &Connect{Duration: 0xFFFF, ClientID: []byte("c")}, cat(0x07, 0x04, 0x00, 0x01, 0xFF, 0xFF, "c")},
	{"connect-23", &Connect{CleanSession: true, Duration: 10, ClientID: []byte("abcdefghijklmnopqrstuvw")},
		cat(0x1D, 0x04, 0x04, 0x01, 0x00, 0x0A, "abcdefghijklmnopqrstuvw")},
	// [5.4.5]
	{"connack-accepted", &ConnAck{ReturnCode: Accepted}, cat(0x03, 0x05, 0x00)},
	{"connack-congestion", &ConnAck{ReturnCode: Congestion}, cat(0x03, 0x05, 0x01)},
	// [5.4.6]
	{"willtopicreq", &WillTopicReq{}, cat(0x02, 0x06)},
	// [5.4.7] Flags 0x30 = QoS 1 (0b01 << 5) | Retain.
	{"willtopic", &WillTopic{QoS: QoS1, Retain: true, WillTopic: []byte("will/x")}, cat(0x09, 0x07, 0x30, "will/x")},
	{"willtopic-qos2", &WillTopic{QoS: QoS2, WillTopic: []byte("w")}, cat(0x04, 0x07, 0x40, "w")},
	// [5.4.7] the empty WILLTOPIC: delete the will.
	{"willtopic-empty", &WillTopic{}, cat(0x02, 0x07)},
	// [5.4.8]
	{"willmsgreq", &WillMsgReq{}, cat(0x02, 0x08)},
	// [5.4.9]
	{"willmsg", &WillMsg{WillMsg: []byte("gone")}, cat(0x06, 0x09, "gone")},
	{"willmsg-empty", &WillMsg{}, cat(0x02, 0x09)},
	// [5.4.10] from a client: TopicId 0x0000.
	{"register-client", &Register{MsgID: 1, TopicName: []byte("sensors/temp")},
		cat(0x12, 0x0A, 0x00, 0x00, 0x00, 0x01, "sensors/temp")},
	{"register-gateway", &Register{TopicID: 0x0102, MsgID: 0xBEEF, TopicName: []byte("a/b")},
		cat(0x09, 0x0A, 0x01, 0x02, 0xBE, 0xEF, "a/b")},
	// [5.4.11]
	{"regack", &RegAck{TopicID: 5, MsgID: 1, ReturnCode: Accepted}, cat(0x07, 0x0B, 0x00, 0x05, 0x00, 0x01, 0x00)},
	{"regack-congestion", &RegAck{MsgID: 1, ReturnCode: Congestion}, cat(0x07, 0x0B, 0x00, 0x00, 0x00, 0x01, 0x01)},
	// [5.4.12] Flags 0x20 = QoS 1, TopicIdType normal.
	{"publish-qos1", &Publish{QoS: QoS1, TopicID: 5, MsgID: 2, Data: []byte("21.5")},
		cat(0x0B, 0x0C, 0x20, 0x00, 0x05, 0x00, 0x02, "21.5")},
	{"publish-qos0-empty", &Publish{TopicID: 5}, cat(0x07, 0x0C, 0x00, 0x00, 0x05, 0x00, 0x00)},
	// [5.4.12, 6.8] Flags 0x62 = QoS -1 (0b11) | TopicIdType short (0b10); TopicId "ab".
	{"publish-qosm1-short", &Publish{QoS: QoSMinus1, TopicIDType: TopicShort, TopicID: ShortTopicID([2]byte{'a', 'b'}), Data: []byte("hi")},
		cat(0x09, 0x0C, 0x62, "ab", 0x00, 0x00, "hi")},
	// Flags 0xD1 = DUP | QoS 2 (0b10) | Retain | TopicIdType predefined (0b01).
	{"publish-dup-qos2-retain-predefined", &Publish{Dup: true, QoS: QoS2, Retain: true, TopicIDType: TopicPredefined, TopicID: 1, MsgID: 0x1234, Data: []byte{0}},
		cat(0x08, 0x0C, 0xD1, 0x00, 0x01, 0x12, 0x34, 0x00)},
	{"publish-qosm1-predefined", &Publish{QoS: QoSMinus1, TopicIDType: TopicPredefined, TopicID: 9, Data: []byte("x")},
		cat(0x08, 0x0C, 0x61, 0x00, 0x09, 0x00, 0x00, "x")},
	// [5.2.1] the largest message with a 1-octet Length: 255.
	{"publish-len255", &Publish{TopicID: 1, Data: data248}, cat(0xFF, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00, data248)},
	// [5.2.1] one octet more does not fit: 0x01 then 16-bit Length 258.
	{"publish-len258", &Publish{TopicID: 1, Data: data249}, cat(0x01, 0x01, 0x02, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00, data249)},
	{"publish-len309", &Publish{QoS: QoS1, TopicID: 3, MsgID: 4, Data: data300},
		cat(0x01, 0x01, 0x35, 0x0C, 0x20, 0x00, 0x03, 0x00, 0x04, data300)},
	// [5.4.13]
	{"puback", &PubAck{TopicID: 5, MsgID: 2, ReturnCode: Accepted}, cat(0x07, 0x0D, 0x00, 0x05, 0x00, 0x02, 0x00)},
	{"puback-invalid-topic", &PubAck{TopicID: 5, MsgID: 2, ReturnCode: InvalidTopicID}, cat(0x07, 0x0D, 0x00, 0x05, 0x00, 0x02, 0x02)},
	// [5.4.14]
	{"pubcomp", &PubComp{MsgID: 3}, cat(0x04, 0x0E, 0x00, 0x03)},
	{"pubrec", &PubRec{MsgID: 0x0103}, cat(0x04, 0x0F, 0x01, 0x03)},
	{"pubrel", &PubRel{MsgID: 0xFFFF}, cat(0x04, 0x10, 0xFF, 0xFF)},
	// [5.4.15] topic name, Flags 0x20 = QoS 1.
	{"subscribe-name", &Subscribe{QoS: QoS1, MsgID: 4, TopicName: []byte("sensors/#")},
		cat(0x0E, 0x12, 0x20, 0x00, 0x04, "sensors/#")},
	// predefined topic id, Flags 0x01.
	{"subscribe-predefined", &Subscribe{TopicIDType: TopicPredefined, MsgID: 5, TopicID: 7},
		cat(0x07, 0x12, 0x01, 0x00, 0x05, 0x00, 0x07)},
	// short topic name, Flags 0xC2 = DUP | QoS 2 | short.
	{"subscribe-short-dup", &Subscribe{Dup: true, QoS: QoS2, TopicIDType: TopicShort, MsgID: 6, TopicID: ShortTopicID([2]byte{'a', 'b'})},
		cat(0x07, 0x12, 0xC2, 0x00, 0x06, "ab")},
	// [5.4.16] Flags 0x20 = granted QoS 1.
	{"suback", &SubAck{QoS: QoS1, TopicID: 5, MsgID: 4, ReturnCode: Accepted}, cat(0x08, 0x13, 0x20, 0x00, 0x05, 0x00, 0x04, 0x00)},
	{"suback-notsupported", &SubAck{MsgID: 4, ReturnCode: NotSupported}, cat(0x08, 0x13, 0x00, 0x00, 0x00, 0x00, 0x04, 0x03)},
	// [5.4.17]
	{"unsubscribe-name", &Unsubscribe{MsgID: 7, TopicName: []byte("sensors/#")}, cat(0x0E, 0x14, 0x00, 0x00, 0x07, "sensors/#")},
	{"unsubscribe-predefined", &Unsubscribe{TopicIDType: TopicPredefined, MsgID: 8, TopicID: 7}, cat(0x07, 0x14, 0x01, 0x00, 0x08, 0x00, 0x07)},
	{"unsubscribe-short", &Unsubscribe{TopicIDType: TopicShort, MsgID: 9, TopicID: ShortTopicID([2]byte{'z', 'z'})}, cat(0x07, 0x14, 0x02, 0x00, 0x09, "zz")},
	// [5.4.18]
	{"unsuback", &UnsubAck{MsgID: 7}, cat(0x04, 0x15, 0x00, 0x07)},
	// [5.4.19]
	{"pingreq", &PingReq{}, cat(0x02, 0x16)},
	{"pingreq-sleeper", &PingReq{ClientID: []byte("edge1")}, cat(0x07, 0x16, "edge1")},
	// [5.4.20]
	{"pingresp", &PingResp{}, cat(0x02, 0x17)},
	// [5.4.21]
	{"disconnect", &Disconnect{}, cat(0x02, 0x18)},
	{"disconnect-sleep", &Disconnect{HasDuration: true, Duration: 60}, cat(0x04, 0x18, 0x00, 0x3C)},
	{"disconnect-sleep-0", &Disconnect{HasDuration: true}, cat(0x04, 0x18, 0x00, 0x00)},
	// [5.4.22]
	{"willtopicupd", &WillTopicUpd{QoS: QoS1, Retain: true, WillTopic: []byte("will/x")}, cat(0x09, 0x1A, 0x30, "will/x")},
	{"willtopicupd-empty", &WillTopicUpd{}, cat(0x02, 0x1A)},
	// [5.4.24]
	{"willtopicresp", &WillTopicResp{ReturnCode: Accepted}, cat(0x03, 0x1B, 0x00)},
	// [5.4.23]
	{"willmsgupd", &WillMsgUpd{WillMsg: []byte("bye")}, cat(0x05, 0x1C, "bye")},
	// [5.4.25]
	{"willmsgresp", &WillMsgResp{ReturnCode: NotSupported}, cat(0x03, 0x1D, 0x03)},
	// [5.5] header Length 5 = 3 + 2-octet node id, Ctrl radius 1, then PINGREQ.
	{"encapsulated", &Forwarder{Ctrl: 0x01, NodeID: []byte{0x0A, 0x0B}, Message: []byte{0x02, 0x16}},
		cat(0x05, 0xFE, 0x01, 0x0A, 0x0B, 0x02, 0x16)},
	// [5.5] as mqtt-sn-tools' serial bridge sends it: no node id.
	{"encapsulated-no-node", &Forwarder{Message: cat(0x0B, 0x0C, 0x20, 0x00, 0x05, 0x00, 0x02, "21.5")},
		cat(0x03, 0xFE, 0x00, 0x0B, 0x0C, 0x20, 0x00, 0x05, 0x00, 0x02, "21.5")},
}

func TestCodecTable(t *testing.T) {
	seen := map[MsgType]bool{}
	var d Decoder
	for _, c := range codecCases {
		t.Run(c.name, func(t *testing.T) {
			seen[c.msg.Type()] = true
			got, err := c.msg.Append([]byte("prefix"))
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], c.wire) {
				t.Fatalf("Append:\n got  %s\n want %s", hex.EncodeToString(got[6:]), hex.EncodeToString(c.wire))
			}
			if c.msg.Size() != len(c.wire) {
				t.Errorf("Size = %d, want %d", c.msg.Size(), len(c.wire))
			}
			m, err := d.Decode(c.wire)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(m, c.msg) {
				t.Fatalf("Decode:\n got  %#v\n want %#v", m, c.msg)
			}
			fresh := reflect.New(reflect.TypeOf(c.msg).Elem()).Interface().(Message)
			if err := Unmarshal(c.wire, fresh); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(fresh, c.msg) {
				t.Fatalf("Unmarshal:\n got  %#v\n want %#v", fresh, c.msg)
			}
			if n, err := FrameLen(c.wire); err != nil || n != len(c.wire) {
				t.Errorf("FrameLen = %d, %v; want %d", n, err, len(c.wire))
			}
		})
	}
	for _, mt := range allTypes {
		if !seen[mt] {
			t.Errorf("no table case for %v", mt)
		}
	}
}

// allTypes lists every message type of the specification.
var allTypes = []MsgType{ADVERTISE, SEARCHGW, GWINFO, CONNECT, CONNACK, WILLTOPICREQ, WILLTOPIC,
	WILLMSGREQ, WILLMSG, REGISTER, REGACK, PUBLISH, PUBACK, PUBCOMP, PUBREC, PUBREL, SUBSCRIBE,
	SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, WILLTOPICUPD, WILLTOPICRESP,
	WILLMSGUPD, WILLMSGRESP, ENCAPSULATED}

func TestDecodeLongFormOfShortMessage(t *testing.T) {
	// [5.2.1] a 3-octet Length for a message that would fit one octet is
	// accepted; re-encoding uses the short form.
	var d Decoder
	m, err := d.Decode(cat(0x01, 0x00, 0x06, 0x0F, 0x00, 0x03))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, &PubRec{MsgID: 3}) {
		t.Fatalf("got %#v", m)
	}
	out, _ := m.Append(nil)
	if !bytes.Equal(out, cat(0x04, 0x0F, 0x00, 0x03)) {
		t.Fatalf("re-encoded % x", out)
	}
}

func TestDecoderReusesAndResets(t *testing.T) {
	var d Decoder
	m1, err := d.Decode(cat(0x08, 0x0C, 0xD1, 0x00, 0x01, 0x12, 0x34, 0x00))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := d.Decode(cat(0x07, 0x0C, 0x00, 0x00, 0x05, 0x00, 0x00))
	if err != nil {
		t.Fatal(err)
	}
	if m1 != m2 {
		t.Fatal("Decode of the same type did not reuse the Decoder's value")
	}
	if !reflect.DeepEqual(m2, &Publish{TopicID: 5}) {
		t.Fatalf("fields of the previous PUBLISH leaked: %#v", m2)
	}
	d1, _ := d.Decode(cat(0x04, 0x18, 0x00, 0x3C))
	d2, _ := d.Decode(cat(0x02, 0x18))
	if !reflect.DeepEqual(d2, &Disconnect{}) || d1 != d2 {
		t.Fatalf("DISCONNECT not reset: %#v", d2)
	}
}

func TestDecodeViewsIntoInput(t *testing.T) {
	var d Decoder
	b := cat(0x0B, 0x0C, 0x20, 0x00, 0x05, 0x00, 0x02, "21.5")
	m, err := d.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	b[7] = '3'
	if got := string(m.(*Publish).Data); got != "31.5" {
		t.Fatalf("Data is not a view into the input: %q", got)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		f                        Flags
		dup, retain, will, clean bool
		qos                      QoS
		tt                       TopicIDType
	}{
		{0x00, false, false, false, false, QoS0, TopicNormal},
		{0x80, true, false, false, false, QoS0, TopicNormal},
		{0x20, false, false, false, false, QoS1, TopicNormal},
		{0x40, false, false, false, false, QoS2, TopicNormal},
		{0x60, false, false, false, false, QoSMinus1, TopicNormal},
		{0x10, false, true, false, false, QoS0, TopicNormal},
		{0x08, false, false, true, false, QoS0, TopicNormal},
		{0x04, false, false, false, true, QoS0, TopicNormal},
		{0x01, false, false, false, false, QoS0, TopicPredefined},
		{0x02, false, false, false, false, QoS0, TopicShort},
		{0x03, false, false, false, false, QoS0, TopicReserved},
		{0xFF, true, true, true, true, QoSMinus1, TopicReserved},
	}
	for _, tc := range tests {
		if tc.f.Dup() != tc.dup || tc.f.Retain() != tc.retain || tc.f.Will() != tc.will ||
			tc.f.CleanSession() != tc.clean || tc.f.QoS() != tc.qos || tc.f.TopicIDType() != tc.tt {
			t.Errorf("Flags %#02x decoded wrong", byte(tc.f))
		}
		built := Flags(0).Set(FlagDup, tc.dup).Set(FlagRetain, tc.retain).Set(FlagWill, tc.will).
			Set(FlagCleanSession, tc.clean).WithQoS(tc.qos).WithTopicIDType(tc.tt)
		if built != tc.f {
			t.Errorf("built %#02x, want %#02x", byte(built), byte(tc.f))
		}
	}
	if got := Flags(0xFF).WithQoS(QoS1).Set(FlagDup, false); got != 0x3F {
		t.Errorf("WithQoS/Set clear: %#02x", byte(got))
	}
}

func TestReturnCodeIsError(t *testing.T) {
	var err error = Congestion
	if err.Error() != "mqttsn: rejected: congestion" {
		t.Fatalf("Error() = %q", err.Error())
	}
	for c, want := range map[ReturnCode]string{Accepted: "accepted", InvalidTopicID: "rejected: invalid topic ID",
		NotSupported: "rejected: not supported", 0x04: "reserved return code 0x04"} {
		if c.String() != want {
			t.Errorf("%d: %q, want %q", c, c.String(), want)
		}
	}
}

func TestMsgTypeString(t *testing.T) {
	for mt, want := range map[MsgType]string{PUBLISH: "PUBLISH", ENCAPSULATED: "ENCAPSULATED",
		WILLMSGRESP: "WILLMSGRESP", 0x03: "RESERVED(0x03)", 0x11: "RESERVED(0x11)", 0xFF: "RESERVED(0xFF)"} {
		if mt.String() != want {
			t.Errorf("%#02x: %q, want %q", byte(mt), mt.String(), want)
		}
	}
}
