package mqttsn

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// decodeErrorCases are malformed messages and the error each must give.
var decodeErrorCases = []struct {
	name      string
	wire      []byte
	typ       MsgType
	typeKnown bool
	field     string
}{
	{"empty", nil, 0, false, "Length"},
	{"length-zero", cat(0x00, 0x0C), 0x0C, false, "Length"},
	{"long-length-truncated", cat(0x01, 0x00), 0, false, "Length"},
	{"long-length-below-4", cat(0x01, 0x00, 0x03, 0x0C), 0x0C, false, "Length"},
	{"no-msgtype", cat(0x02), 0, false, "Length"},
	{"length-too-long", cat(0x05, 0x17), PINGRESP, true, "Length"},
	{"length-too-short", cat(0x02, 0x17, 0x00), PINGRESP, true, "Length"},
	{"reserved-type-03", cat(0x02, 0x03), 0x03, true, "MsgType"},
	{"reserved-type-11", cat(0x02, 0x11), 0x11, true, "MsgType"},
	{"reserved-type-19", cat(0x02, 0x19), 0x19, true, "MsgType"},
	{"reserved-type-ff", cat(0x02, 0xFF), 0xFF, true, "MsgType"},
	{"advertise-short", cat(0x04, 0x00, 0x01, 0x03), ADVERTISE, true, "Length"},
	{"searchgw-long", cat(0x04, 0x01, 0x01, 0x01), SEARCHGW, true, "Length"},
	{"gwinfo-no-gwid", cat(0x02, 0x02), GWINFO, true, "Length"},
	{"connect-no-clientid", cat(0x06, 0x04, 0x04, 0x01, 0x00, 0x3C), CONNECT, true, "Length"},
	{"connect-protocol-2", cat(0x07, 0x04, 0x04, 0x02, 0x00, 0x3C, "c"), CONNECT, true, "ProtocolId"},
	{"connect-clientid-24", cat(0x1E, 0x04, 0x04, 0x01, 0x00, 0x0A, "abcdefghijklmnopqrstuvwx"), CONNECT, true, "ClientId"},
	{"connect-clientid-not-utf8", cat(0x07, 0x04, 0x04, 0x01, 0x00, 0x0A, 0xFF), CONNECT, true, "ClientId"},
	{"connect-clientid-nul", cat(0x08, 0x04, 0x04, 0x01, 0x00, 0x0A, "a", 0x00), CONNECT, true, "ClientId"},
	{"pingreq-clientid-nul", cat(0x03, 0x16, 0x00), PINGREQ, true, "ClientId"},
	{"subscribe-topic-nul", cat(0x07, 0x12, 0x00, 0x00, 0x01, "a", 0x00), SUBSCRIBE, true, "TopicName"},
	{"connack-reserved-code", cat(0x03, 0x05, 0x04), CONNACK, true, "ReturnCode"},
	{"connack-no-code", cat(0x02, 0x05), CONNACK, true, "Length"},
	{"willtopicreq-body", cat(0x03, 0x06, 0x00), WILLTOPICREQ, true, "Length"},
	{"willtopic-flags-only", cat(0x03, 0x07, 0x20), WILLTOPIC, true, "WillTopic"},
	{"willtopic-qosm1", cat(0x04, 0x07, 0x60, "w"), WILLTOPIC, true, "Flags.QoS"},
	{"willtopicupd-qosm1", cat(0x04, 0x1A, 0x60, "w"), WILLTOPICUPD, true, "Flags.QoS"},
	{"register-empty-name", cat(0x06, 0x0A, 0x00, 0x00, 0x00, 0x01), REGISTER, true, "TopicName"},
	{"register-short", cat(0x05, 0x0A, 0x00, 0x00, 0x00), REGISTER, true, "Length"},
	{"register-not-utf8", cat(0x08, 0x0A, 0x00, 0x00, 0x00, 0x01, 0xC3, 0x28), REGISTER, true, "TopicName"},
	{"regack-short", cat(0x06, 0x0B, 0x00, 0x05, 0x00, 0x01), REGACK, true, "Length"},
	{"regack-reserved-code", cat(0x07, 0x0B, 0x00, 0x05, 0x00, 0x01, 0x80), REGACK, true, "ReturnCode"},
	{"publish-short", cat(0x06, 0x0C, 0x00, 0x00, 0x05, 0x00), PUBLISH, true, "Length"},
	{"publish-reserved-topic-type", cat(0x07, 0x0C, 0x03, 0x00, 0x05, 0x00, 0x00), PUBLISH, true, "Flags.TopicIdType"},
	{"publish-qosm1-normal", cat(0x07, 0x0C, 0x60, 0x00, 0x05, 0x00, 0x00), PUBLISH, true, "Flags.TopicIdType"},
	{"puback-reserved-code", cat(0x07, 0x0D, 0x00, 0x05, 0x00, 0x02, 0x04), PUBACK, true, "ReturnCode"},
	{"pubrec-short", cat(0x03, 0x0F, 0x00), PUBREC, true, "Length"},
	{"pubrel-long", cat(0x05, 0x10, 0x00, 0x01, 0x00), PUBREL, true, "Length"},
	{"pubcomp-empty", cat(0x02, 0x0E), PUBCOMP, true, "Length"},
	{"subscribe-qosm1", cat(0x06, 0x12, 0x60, 0x00, 0x01, "a"), SUBSCRIBE, true, "Flags.QoS"},
	{"subscribe-reserved-topic-type", cat(0x07, 0x12, 0x03, 0x00, 0x01, 0x00, 0x01), SUBSCRIBE, true, "Flags.TopicIdType"},
	{"subscribe-no-topic", cat(0x05, 0x12, 0x00, 0x00, 0x01), SUBSCRIBE, true, "Length"},
	{"subscribe-predefined-3-octets", cat(0x08, 0x12, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00), SUBSCRIBE, true, "TopicId"},
	{"subscribe-short-1-octet", cat(0x06, 0x12, 0x02, 0x00, 0x01, "a"), SUBSCRIBE, true, "TopicId"},
	{"suback-qosm1", cat(0x08, 0x13, 0x60, 0x00, 0x05, 0x00, 0x04, 0x00), SUBACK, true, "Flags.QoS"},
	{"suback-reserved-code", cat(0x08, 0x13, 0x00, 0x00, 0x05, 0x00, 0x04, 0x09), SUBACK, true, "ReturnCode"},
	{"unsubscribe-reserved-topic-type", cat(0x07, 0x14, 0x03, 0x00, 0x01, 0x00, 0x01), UNSUBSCRIBE, true, "Flags.TopicIdType"},
	{"unsubscribe-not-utf8", cat(0x06, 0x14, 0x00, 0x00, 0x01, 0x80), UNSUBSCRIBE, true, "TopicName"},
	{"unsuback-short", cat(0x03, 0x15, 0x00), UNSUBACK, true, "Length"},
	{"pingreq-clientid-24", cat(0x1A, 0x16, "abcdefghijklmnopqrstuvwx"), PINGREQ, true, "ClientId"},
	{"pingresp-body", cat(0x03, 0x17, 0x00), PINGRESP, true, "Length"},
	{"disconnect-1-octet", cat(0x03, 0x18, 0x00), DISCONNECT, true, "Length"},
	{"disconnect-3-octets", cat(0x05, 0x18, 0x00, 0x00, 0x00), DISCONNECT, true, "Length"},
	{"willtopicresp-reserved", cat(0x03, 0x1B, 0xFF), WILLTOPICRESP, true, "ReturnCode"},
	{"willmsgresp-long", cat(0x04, 0x1D, 0x00, 0x00), WILLMSGRESP, true, "Length"},
	{"encapsulated-long-length", cat(0x01, 0x00, 0x06, 0xFE, 0x00, 0x00), ENCAPSULATED, true, "Length"},
	{"encapsulated-header-2", cat(0x02, 0xFE, 0x02, 0x16), ENCAPSULATED, true, "Length"},
	{"encapsulated-header-past-end", cat(0x09, 0xFE, 0x00, 0x01, 0x02, 0x16), ENCAPSULATED, true, "Length"},
	{"encapsulated-no-message", cat(0x04, 0xFE, 0x00, 0x01), ENCAPSULATED, true, "MQTT-SN message"},
	{"encapsulated-message-length", cat(0x04, 0xFE, 0x00, 0x01, 0x03, 0x16), ENCAPSULATED, true, "MQTT-SN message"},
	{"encapsulated-message-zero-length", cat(0x03, 0xFE, 0x00, 0x00, 0x16), ENCAPSULATED, true, "MQTT-SN message"},
}

func TestDecodeErrors(t *testing.T) {
	var d Decoder
	for _, c := range decodeErrorCases {
		t.Run(c.name, func(t *testing.T) {
			m, err := d.Decode(c.wire)
			if err == nil {
				t.Fatalf("decoded %#v, want an error", m)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if e.Field != c.field || e.TypeKnown != c.typeKnown || (c.typeKnown && e.Type != c.typ) {
				t.Fatalf("got %v (type %v known %v field %q), want type %v known %v field %q",
					err, e.Type, e.TypeKnown, e.Field, c.typ, c.typeKnown, c.field)
			}
			if c.typeKnown && !strings.Contains(err.Error(), c.typ.String()+" "+c.field) {
				t.Errorf("message %q does not name %v %s", err.Error(), c.typ, c.field)
			}
			if len(e.Bytes) > maxErrBytes {
				t.Errorf("error carries %d bytes", len(e.Bytes))
			}
		})
	}
}

func TestUnmarshalWrongType(t *testing.T) {
	var p Publish
	err := Unmarshal(cat(0x04, 0x0F, 0x00, 0x03), &p)
	var e *Error
	if !errors.As(err, &e) || e.Field != "MsgType" || e.Type != PUBREC || !strings.Contains(e.Reason, "PUBLISH") {
		t.Fatalf("got %v", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, 0xFFFF-3)
	cases := []struct {
		name  string
		msg   Message
		field string
	}{
		{"connect-empty-clientid", &Connect{}, "ClientId"},
		{"connect-clientid-24", &Connect{ClientID: []byte("abcdefghijklmnopqrstuvwx")}, "ClientId"},
		{"connack-reserved", &ConnAck{ReturnCode: 4}, "ReturnCode"},
		{"willtopic-empty-with-qos", &WillTopic{QoS: QoS1}, "WillTopic"},
		{"willtopic-qosm1", &WillTopic{QoS: QoSMinus1, WillTopic: []byte("w")}, "Flags.QoS"},
		{"willtopic-qos-5", &WillTopic{QoS: 5, WillTopic: []byte("w")}, "Flags.QoS"},
		{"willtopicupd-not-utf8", &WillTopicUpd{WillTopic: []byte{0xFF}}, "WillTopic"},
		{"register-empty", &Register{}, "TopicName"},
		{"regack-reserved", &RegAck{ReturnCode: 0xFF}, "ReturnCode"},
		{"publish-qosm1-normal", &Publish{QoS: QoSMinus1, TopicID: 1}, "Flags.TopicIdType"},
		{"publish-reserved-topic-type", &Publish{TopicIDType: TopicReserved}, "Flags.TopicIdType"},
		{"publish-qos-3", &Publish{QoS: 3}, "Flags.QoS"},
		{"publish-too-long", &Publish{Data: long}, "Length"},
		{"puback-reserved", &PubAck{ReturnCode: 9}, "ReturnCode"},
		{"subscribe-qosm1", &Subscribe{QoS: QoSMinus1, TopicName: []byte("a")}, "Flags.QoS"},
		{"subscribe-empty-name", &Subscribe{}, "TopicName"},
		{"subscribe-name-with-predefined", &Subscribe{TopicIDType: TopicPredefined, TopicName: []byte("a")}, "TopicName"},
		{"subscribe-id-with-normal", &Subscribe{TopicName: []byte("a"), TopicID: 3}, "TopicId"},
		{"subscribe-reserved-type", &Subscribe{TopicIDType: TopicReserved}, "Flags.TopicIdType"},
		{"suback-qosm1", &SubAck{QoS: QoSMinus1}, "Flags.QoS"},
		{"unsubscribe-empty-name", &Unsubscribe{}, "TopicName"},
		{"pingreq-clientid-24", &PingReq{ClientID: []byte("abcdefghijklmnopqrstuvwx")}, "ClientId"},
		{"disconnect-duration-without-flag", &Disconnect{Duration: 5}, "Duration"},
		{"willmsg-too-long", &WillMsg{WillMsg: long}, "Length"},
		{"forwarder-no-message", &Forwarder{NodeID: []byte{1}}, "MQTT-SN message"},
		{"forwarder-bad-message", &Forwarder{Message: []byte{0x05, 0x16}}, "MQTT-SN message"},
		{"forwarder-node-253", &Forwarder{NodeID: make([]byte, 253), Message: []byte{0x02, 0x16}}, "Wireless Node Id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := c.msg.Append([]byte{0xAA})
			var e *Error
			if !errors.As(err, &e) || e.Field != c.field || e.Type != c.msg.Type() {
				t.Fatalf("got %v, want an *Error for %v %s", err, c.msg.Type(), c.field)
			}
			if !bytes.Equal(out, []byte{0xAA}) {
				t.Fatalf("a failed Append changed dst: % x", out)
			}
		})
	}
}

func TestFrameLen(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		n    int
		err  error
	}{
		{"empty", nil, 0, ErrIncomplete},
		{"one", cat(0x05), 0, ErrIncomplete},
		{"short-form", cat(0x05, 0x00), 5, nil},
		{"long-form-partial", cat(0x01, 0x01), 0, ErrIncomplete},
		{"long-form-no-type", cat(0x01, 0x01, 0x02), 0, ErrIncomplete},
		{"long-form", cat(0x01, 0x01, 0x02, 0x0C), 258, nil},
		{"forwarder-partial-header", cat(0x05, 0xFE, 0x00), 0, ErrIncomplete},
		{"forwarder-no-inner", cat(0x05, 0xFE, 0x00, 0x01, 0x02), 0, ErrIncomplete},
		{"forwarder", cat(0x05, 0xFE, 0x00, 0x01, 0x02, 0x0B), 16, nil},
		{"forwarder-long-inner", cat(0x03, 0xFE, 0x00, 0x01, 0x01, 0x35), 3 + 309, nil},
	}
	for _, c := range cases {
		n, err := FrameLen(c.b)
		if n != c.n || err != c.err {
			t.Errorf("%s: FrameLen = %d, %v; want %d, %v", c.name, n, err, c.n, c.err)
		}
	}
	for _, b := range [][]byte{cat(0x00), cat(0x01, 0x00, 0x02), cat(0x02, 0xFE), cat(0x01, 0x00, 0x05, 0xFE), cat(0x03, 0xFE, 0x00, 0x00)} {
		var e *Error
		if _, err := FrameLen(b); !errors.As(err, &e) {
			t.Errorf("FrameLen(% x) = %v, want an *Error", b, err)
		}
	}
}
