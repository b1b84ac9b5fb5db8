package packet

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// pk builds a packet from its first byte and body: the Remaining Length is
// computed, the body is written by hand.
func pk(b0 byte, body ...byte) []byte { return append(AppendVarint([]byte{b0}, len(body)), body...) }

// cat joins byte slices.
func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var (
	mqtt4 = []byte{0, 4, 'M', 'Q', 'T', 'T', 4}
	mqtt5 = []byte{0, 4, 'M', 'Q', 'T', 'T', 5}
)

// tmalformed is a bad packet and the error decoding must report.
type tmalformed struct {
	name  string
	spec  string
	v     Version
	raw   []byte
	code  ReasonCode
	field string
}

var tmalformedPackets = []tmalformed{
	// Fixed header.
	{"reserved type 0", "2.1.2", V311, []byte{0x00, 0}, MalformedPacket, "packet type"},
	{"PUBLISH QoS 3", "[MQTT-3.3.1-4]", V311, []byte{0x36, 0}, MalformedPacket, "flags"},
	{"PUBLISH DUP at QoS 0", "[MQTT-3.3.1-2]", V5, []byte{0x38, 0}, MalformedPacket, "flags"},
	{"PUBREL flags 0000", "[MQTT-3.6.1-1]", V311, []byte{0x60, 2, 0, 1}, MalformedPacket, "flags"},
	{"SUBSCRIBE flags 0000", "[MQTT-3.8.1-1]", V311, []byte{0x80, 6, 0, 1, 0, 1, 'a', 0}, MalformedPacket, "flags"},
	{"UNSUBSCRIBE flags 0011", "[MQTT-3.10.1-1]", V311, []byte{0xA3, 5, 0, 1, 0, 1, 'a'}, MalformedPacket, "flags"},
	{"PUBACK flags 0001", "[MQTT-2.1.3-1]", V5, []byte{0x41, 2, 0, 1}, MalformedPacket, "flags"},
	{"remaining length of 5 bytes", "1.5.5", V311, []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, MalformedPacket, "remaining length"},
	{"remaining length not minimal", "[MQTT-1.5.5-1]", V5, []byte{0x30, 0x80, 0x00}, MalformedPacket, "remaining length"},
	{"PINGREQ with a body", "3.12", V311, []byte{0xC0, 1, 0}, MalformedPacket, "remaining length"},

	// CONNECT.
	{"CONNECT unknown protocol name", "[MQTT-3.1.2-1]", V311,
		pk(0x10, 0, 4, 'M', 'Q', 'T', 'X', 4, 0x02, 0, 0, 0, 0), ProtocolError, "protocol name"},
	{"CONNECT MQTT level 3", "[MQTT-3.1.2-2]", V311,
		pk(0x10, 0, 4, 'M', 'Q', 'T', 'T', 3, 0x02, 0, 0, 0, 0), UnsupportedProtocolVersion, "protocol level"},
	{"CONNECT MQTT level 6", "[MQTT-3.1.2-2]", V5,
		pk(0x10, 0, 4, 'M', 'Q', 'T', 'T', 6, 0x02, 0, 0, 0, 0), UnsupportedProtocolVersion, "protocol level"},
	{"CONNECT MQIsdp level 4", "[MQTT-3.1.2-2]", V311,
		pk(0x10, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 4, 0x02, 0, 0, 0, 0), UnsupportedProtocolVersion, "protocol level"},
	{"CONNECT reserved flag", "[MQTT-3.1.2-3]", V311,
		pk(0x10, cat(mqtt4, []byte{0x03, 0, 0, 0, 0})...), MalformedPacket, "connect flags"},
	{"CONNECT will QoS without will flag", "[MQTT-3.1.2-13] (3.1.1)", V311,
		pk(0x10, cat(mqtt4, []byte{0x0A, 0, 0, 0, 0})...), MalformedPacket, "connect flags"},
	{"CONNECT will retain without will flag", "[MQTT-3.1.2-13] (5.0)", V5,
		pk(0x10, cat(mqtt5, []byte{0x22, 0, 0, 0, 0, 0})...), MalformedPacket, "connect flags"},
	{"CONNECT will QoS 3", "[MQTT-3.1.2-12] (5.0)", V5,
		pk(0x10, cat(mqtt5, []byte{0x1E, 0, 0, 0, 0, 0})...), MalformedPacket, "connect flags"},
	{"CONNECT password without username in 3.1.1", "[MQTT-3.1.2-22]", V311,
		pk(0x10, cat(mqtt4, []byte{0x42, 0, 0, 0, 0, 0, 1, 'p'})...), MalformedPacket, "connect flags"},
	{"CONNECT client id overlong NUL", "[MQTT-1.5.4-1]", V311,
		pk(0x10, cat(mqtt4, []byte{0x02, 0, 0, 0, 2, 0xC0, 0x80})...), MalformedPacket, "client identifier"},
	{"CONNECT client id with U+0000", "[MQTT-1.5.4-2]", V311,
		pk(0x10, cat(mqtt4, []byte{0x02, 0, 0, 0, 2, 'a', 0})...), MalformedPacket, "client identifier"},
	{"CONNECT client id with a surrogate", "[MQTT-1.5.4-1]", V5,
		pk(0x10, cat(mqtt5, []byte{0x02, 0, 0, 0, 0, 3, 0xED, 0xA0, 0x80})...), MalformedPacket, "client identifier"},
	{"CONNECT client id past the end", "1.5.4", V311,
		pk(0x10, cat(mqtt4, []byte{0x02, 0, 0, 0, 5, 'a'})...), MalformedPacket, "client identifier"},
	{"CONNECT trailing bytes", "3.1.3", V311,
		pk(0x10, cat(mqtt4, []byte{0x02, 0, 0, 0, 1, 'a', 'z'})...), MalformedPacket, ""},
	{"CONNECT username missing", "[MQTT-3.1.2-19] (3.1.1)", V311,
		pk(0x10, cat(mqtt4, []byte{0x82, 0, 0, 0, 1, 'a'})...), MalformedPacket, "username length"},
	{"CONNECT will topic with wildcard", "[MQTT-3.3.2-2]", V311,
		pk(0x10, cat(mqtt4, []byte{0x06, 0, 0, 0, 1, 'a', 0, 3, 'w', '/', '#', 0, 0})...), TopicNameInvalid, "will topic"},
	{"CONNECT will session expiry", "2.2.2.2 not valid in a will", V5,
		pk(0x10, cat(mqtt5, []byte{0x06, 0, 0, 0, 0, 1, 'a', 5, 0x11, 0, 0, 0, 1, 0, 1, 'w', 0, 0})...),
		MalformedPacket, "will session expiry interval property"},
	{"CONNECT topic alias property", "2.2.2.2 not valid in CONNECT", V5,
		pk(0x10, cat(mqtt5, []byte{0x02, 0, 0, 3, 0x23, 0, 1, 0, 0})...), MalformedPacket, "topic alias property"},
	{"CONNECT receive maximum 0", "3.1.2.11.3", V5,
		pk(0x10, cat(mqtt5, []byte{0x02, 0, 0, 3, 0x21, 0, 0, 0, 0})...), ProtocolError, "receive maximum property"},
	{"CONNECT maximum packet size 0", "3.1.2.11.4", V5,
		pk(0x10, cat(mqtt5, []byte{0x02, 0, 0, 5, 0x27, 0, 0, 0, 0, 0, 0})...), ProtocolError, "maximum packet size property"},
	{"CONNECT session expiry twice", "3.1.2.11.2", V5,
		pk(0x10, cat(mqtt5, []byte{0x02, 0, 0, 10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2, 0, 0})...),
		ProtocolError, "session expiry interval property"},
	{"CONNECT request problem information 2", "3.1.2.11.7", V5,
		pk(0x10, cat(mqtt5, []byte{0x02, 0, 0, 2, 0x17, 2, 0, 0})...), ProtocolError, "request problem information property"},
	{"CONNECT request response information 2", "3.1.2.11.6", V5,
		pk(0x10, cat(mqtt5, []byte{0x02, 0, 0, 2, 0x19, 2, 0, 0})...), ProtocolError, "request response information property"},
	{"CONNECT authentication data without method", "3.1.2.11.10", V5,
		pk(0x10, cat(mqtt5, []byte{0x02, 0, 0, 4, 0x16, 0, 1, 9, 0, 0})...), ProtocolError, "authentication data property"},
	{"CONNECT unknown property 0x7F", "2.2.2.2", V5,
		pk(0x10, cat(mqtt5, []byte{0x02, 0, 0, 2, 0x7F, 0, 0, 0})...), MalformedPacket, "properties"},
	{"CONNECT property length past the end", "2.2.2.1", V5,
		pk(0x10, cat(mqtt5, []byte{0x02, 0, 0, 9, 0x17, 1, 0, 0})...), MalformedPacket, "properties length"},

	// PUBLISH.
	{"PUBLISH topic with +", "[MQTT-3.3.2-2]", V311, pk(0x30, 0, 3, 'a', '/', '+'), TopicNameInvalid, "topic"},
	{"PUBLISH topic with #", "[MQTT-3.3.2-2]", V5, pk(0x30, 0, 1, '#', 0), TopicNameInvalid, "topic"},
	{"PUBLISH topic invalid UTF-8", "[MQTT-1.5.4-1] [MQTT-3.3.2-1]", V311, pk(0x30, 0, 3, 'a', '/', 0xFF), MalformedPacket, "topic"},
	{"PUBLISH topic with U+0000", "[MQTT-1.5.4-2]", V5, pk(0x30, 0, 2, 'a', 0, 0), MalformedPacket, "topic"},
	{"PUBLISH empty topic 3.1.1", "[MQTT-4.7.3-1]", V311, pk(0x30, 0, 0, 'x'), TopicNameInvalid, "topic"},
	{"PUBLISH empty topic 5.0 without alias", "3.3.2.1", V5, pk(0x30, 0, 0, 0, 'x'), ProtocolError, "topic"},
	{"PUBLISH QoS 1 packet id 0", "[MQTT-2.3.1-1]", V311, pk(0x32, 0, 1, 'a', 0, 0), ProtocolError, "packet identifier"},
	{"PUBLISH QoS 2 packet id missing", "3.3.2.2", V311, pk(0x34, 0, 1, 'a', 0), MalformedPacket, "packet identifier"},
	{"PUBLISH topic past the end", "3.3.2.1", V311, pk(0x30, 0, 9, 'a'), MalformedPacket, "topic"},
	{"PUBLISH body of one byte", "3.3.2.1", V311, pk(0x30, 0), MalformedPacket, "topic length"},
	{"PUBLISH 5.0 without property length", "[MQTT-2.2.2-1]", V5, pk(0x30, 0, 1, 'a'), MalformedPacket, "properties length"},
	{"PUBLISH topic alias 0", "[MQTT-3.3.2-8]", V5, pk(0x30, 0, 1, 'a', 3, 0x23, 0, 0), TopicAliasInvalid, "topic alias property"},
	{"PUBLISH topic alias twice", "3.3.2.3.4", V5, pk(0x30, 0, 1, 'a', 6, 0x23, 0, 1, 0x23, 0, 2), ProtocolError, "topic alias property"},
	{"PUBLISH payload format 2", "3.3.2.3.2", V5, pk(0x30, 0, 1, 'a', 2, 0x01, 2), ProtocolError, "payload format indicator property"},
	{"PUBLISH subscription identifier 0", "3.3.2.3.8", V5, pk(0x30, 0, 1, 'a', 2, 0x0B, 0), ProtocolError, "subscription identifier property"},
	{"PUBLISH subscription identifier of 5 bytes", "1.5.5", V5,
		pk(0x30, 0, 1, 'a', 6, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), MalformedPacket, "subscription identifier property"},
	{"PUBLISH subscription identifier not minimal", "[MQTT-1.5.5-1]", V5,
		pk(0x30, 0, 1, 'a', 3, 0x0B, 0x81, 0x00), MalformedPacket, "subscription identifier property"},
	{"PUBLISH reason string", "2.2.2.2 not valid in PUBLISH", V5, pk(0x30, 0, 1, 'a', 4, 0x1F, 0, 1, 'r'), MalformedPacket, "reason string property"},
	{"PUBLISH content type invalid UTF-8", "[MQTT-1.5.4-1]", V5, pk(0x30, 0, 1, 'a', 4, 0x03, 0, 1, 0x80), MalformedPacket, "content type property"},
	{"PUBLISH user property value with U+0000", "[MQTT-1.5.4-2]", V5,
		pk(0x30, 0, 1, 'a', 7, 0x26, 0, 1, 'k', 0, 1, 0), MalformedPacket, "user property value"},
	{"PUBLISH user property value missing", "1.5.7", V5,
		pk(0x30, 0, 1, 'a', 4, 0x26, 0, 1, 'k'), MalformedPacket, "user property value length"},
	{"PUBLISH response topic with wildcard", "[MQTT-3.3.2-14]", V5,
		pk(0x30, 0, 1, 'a', 4, 0x08, 0, 1, '+'), ProtocolError, "response topic property"},
	{"PUBLISH message expiry cut by property length", "2.2.2.1", V5,
		pk(0x30, 0, 1, 'a', 3, 0x02, 0, 0, 0, 1), MalformedPacket, "message expiry interval property"},
	{"PUBLISH property length not minimal", "[MQTT-1.5.5-1]", V5, pk(0x30, 0, 1, 'a', 0x80, 0x00), MalformedPacket, "properties length"},

	// PUBACK, PUBREC, PUBREL, PUBCOMP.
	{"PUBACK 3.1.1 remaining length 3", "3.4.1", V311, pk(0x40, 0, 1, 0), MalformedPacket, "remaining length"},
	{"PUBACK packet id 0", "[MQTT-2.3.1-1]", V311, pk(0x40, 0, 0), ProtocolError, "packet identifier"},
	{"PUBACK 5.0 remaining length 1", "3.4.2", V5, pk(0x40, 0), MalformedPacket, "packet identifier"},
	{"PUBACK reason code 0x01", "3.4.2.1", V5, pk(0x40, 0, 1, 0x01), ProtocolError, "reason code"},
	{"PUBREL reason code 0x10", "3.6.2.1", V5, pk(0x62, 0, 1, 0x10), ProtocolError, "reason code"},
	{"PUBCOMP topic alias property", "2.2.2.2", V5, pk(0x70, 0, 1, 0, 3, 0x23, 0, 1), MalformedPacket, "topic alias property"},
	{"PUBREC trailing bytes", "3.5.2", V5, pk(0x50, 0, 1, 0, 0, 0xAA, 0xBB), MalformedPacket, ""},

	// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK.
	{"SUBSCRIBE no filter 3.1.1", "[MQTT-3.8.3-3] (3.1.1)", V311, pk(0x82, 0, 1), ProtocolError, "payload"},
	{"SUBSCRIBE no filter 5.0", "[MQTT-3.8.3-2] (5.0)", V5, pk(0x82, 0, 1, 0), ProtocolError, "payload"},
	{"SUBSCRIBE packet id 0", "[MQTT-2.3.1-1]", V311, pk(0x82, 0, 0, 0, 1, 'a', 0), ProtocolError, "packet identifier"},
	{"SUBSCRIBE 3.1.1 reserved option bit", "[MQTT-3.8.3-4] (3.1.1)", V311, pk(0x82, 0, 1, 0, 1, 'a', 0x04), MalformedPacket, "subscription options"},
	{"SUBSCRIBE 3.1.1 QoS 3", "[MQTT-3.8.3-4] (3.1.1)", V311, pk(0x82, 0, 1, 0, 1, 'a', 0x03), MalformedPacket, "subscription options"},
	{"SUBSCRIBE 5.0 reserved option bits", "[MQTT-3.8.3-5]", V5, pk(0x82, 0, 1, 0, 0, 1, 'a', 0x40), MalformedPacket, "subscription options"},
	{"SUBSCRIBE 5.0 QoS 3", "3.8.3.1", V5, pk(0x82, 0, 1, 0, 0, 1, 'a', 0x03), ProtocolError, "subscription options"},
	{"SUBSCRIBE 5.0 retain handling 3", "3.8.3.1", V5, pk(0x82, 0, 1, 0, 0, 1, 'a', 0x30), ProtocolError, "subscription options"},
	{"SUBSCRIBE options byte missing", "3.8.3", V311, pk(0x82, 0, 1, 0, 1, 'a'), MalformedPacket, "subscription options"},
	{"SUBSCRIBE filter invalid UTF-8", "[MQTT-3.8.3-1]", V311, pk(0x82, 0, 1, 0, 1, 0xFE, 0), MalformedPacket, "topic filter"},
	{"SUBSCRIBE two subscription identifiers", "3.8.2.1.2", V5,
		pk(0x82, 0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, 'a', 0), ProtocolError, "subscription identifier property"},
	{"SUBACK 3.1.1 return code 3", "3.9.3", V311, pk(0x90, 0, 1, 0x03), ProtocolError, "reason code"},
	{"SUBACK no return code", "3.9.3", V311, pk(0x90, 0, 1), ProtocolError, "payload"},
	{"UNSUBSCRIBE no filter", "[MQTT-3.10.3-2]", V311, pk(0xA2, 0, 1), ProtocolError, "payload"},
	{"UNSUBSCRIBE filter past the end", "3.10.3", V5, pk(0xA2, 0, 1, 0, 0, 4, 'a'), MalformedPacket, "topic filter"},
	{"UNSUBACK 3.1.1 remaining length 3", "3.11.1", V311, pk(0xB0, 0, 1, 0), MalformedPacket, "remaining length"},
	{"UNSUBACK 5.0 reason code 0x01", "3.11.3", V5, pk(0xB0, 0, 1, 0, 0x01), ProtocolError, "reason code"},

	// CONNACK.
	{"CONNACK reserved flag bits", "[MQTT-3.2.2-1]", V311, pk(0x20, 0x02, 0), MalformedPacket, "acknowledge flags"},
	{"CONNACK 3.1.1 return code 6", "3.2.2.3", V311, pk(0x20, 0, 6), ProtocolError, "reason code"},
	{"CONNACK 5.0 topic alias property", "2.2.2.2", V5, pk(0x20, 0, 0, 3, 0x23, 0, 1), MalformedPacket, "topic alias property"},
	{"CONNACK 5.0 maximum QoS 2", "3.2.2.3.4", V5, pk(0x20, 0, 0, 2, 0x24, 2), ProtocolError, "maximum QoS property"},
	{"CONNACK 5.0 retain available 2", "3.2.2.3.5", V5, pk(0x20, 0, 0, 2, 0x25, 2), ProtocolError, "retain available property"},
	{"CONNACK 5.0 wildcard subscription available 2", "3.2.2.3.11", V5, pk(0x20, 0, 0, 2, 0x28, 2), ProtocolError, "wildcard subscription available property"},
	{"CONNACK 5.0 subscription identifier available 2", "3.2.2.3.12", V5, pk(0x20, 0, 0, 2, 0x29, 2), ProtocolError, "subscription identifier available property"},
	{"CONNACK 5.0 shared subscription available 2", "3.2.2.3.13", V5, pk(0x20, 0, 0, 2, 0x2A, 2), ProtocolError, "shared subscription available property"},
	{"CONNACK 5.0 receive maximum 0", "3.2.2.3.3", V5, pk(0x20, 0, 0, 3, 0x21, 0, 0), ProtocolError, "receive maximum property"},

	// DISCONNECT, AUTH.
	{"DISCONNECT 3.1.1 with a body", "3.14.1", V311, pk(0xE0, 0), MalformedPacket, "remaining length"},
	{"DISCONNECT 5.0 reason code 0x01", "3.14.2.1", V5, pk(0xE0, 0x01), ProtocolError, "reason code"},
	{"DISCONNECT 5.0 session expiry twice", "3.14.2.2.2", V5,
		pk(0xE0, 0, 10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 1), ProtocolError, "session expiry interval property"},
	{"AUTH in 3.1.1", "2.1.2 reserved in 3.1.1", V311, pk(0xF0), ProtocolError, ""},
	{"AUTH 5.0 reason code 0x80", "3.15.2.1", V5, pk(0xF0, 0x80), ProtocolError, "reason code"},
	{"AUTH 5.0 authentication data without method", "3.15.2.2.3", V5, pk(0xF0, 0x18, 4, 0x16, 0, 1, 9), ProtocolError, "authentication data property"},
	{"AUTH 5.0 topic alias property", "2.2.2.2", V5, pk(0xF0, 0x18, 3, 0x23, 0, 1), MalformedPacket, "topic alias property"},
}

func TestMalformed(t *testing.T) {
	for _, tc := range tmalformedPackets {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRaw(tc.raw, tc.v)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%s: got %v, want *Error", tc.spec, err)
			}
			if e.Code != tc.code || e.Field != tc.field {
				t.Fatalf("%s: got code %#x (%v) field %q, want %#x (%v) field %q: %v",
					tc.spec, byte(e.Code), e.Code, e.Field, byte(tc.code), tc.code, tc.field, err)
			}
			if len(e.Bytes) > maxErrBytes {
				t.Fatalf("%d offending bytes", len(e.Bytes))
			}
			if msg := err.Error(); e.Field != "" && !strings.Contains(msg, e.Field) {
				t.Fatalf("message %q does not name the field", msg)
			}
		})
	}
}

// TestConnectUnsupportedVersionKeepsLevel: the broker needs the level to
// choose between CONNACK 0x01 (3.x) and 0x84 (5.0).
func TestConnectUnsupportedVersionKeepsLevel(t *testing.T) {
	var c Connect
	raw := pk(0x10, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 5, 0x02, 0, 0, 0, 0)
	err := c.Decode(Header{Type: CONNECT, Remaining: len(raw) - 2}, raw[2:])
	if !errors.Is(err, UnsupportedProtocolVersion) || c.Version != V5 || string(c.ProtocolName) != "MQIsdp" {
		t.Fatalf("err %v, version %d, name %q", err, c.Version, c.ProtocolName)
	}
}

func TestValidTopicName(t *testing.T) {
	good := []string{"a", "a/b", "/", "//", "$SYS/broker", "温度/1", " ", "a b/c", "\uFFFF"}
	for _, s := range good {
		if err := ValidTopicName([]byte(s)); err != nil {
			t.Errorf("ValidTopicName(%q) = %v", s, err)
		}
	}
	bad := []string{"", "a/+", "#", "a/#", "+", "a\x00b", "a\xff", "\xed\xa0\x80", "a/b+c"}
	for _, s := range bad {
		err := ValidTopicName([]byte(s))
		var e *Error
		if !errors.As(err, &e) || e.Code != TopicNameInvalid || e.Field != "topic" {
			t.Errorf("ValidTopicName(%q) = %v, want TopicNameInvalid", s, err)
		}
	}
}

func TestValidFilter(t *testing.T) {
	good := []string{"a", "#", "+", "+/+", "a/#", "/#", "a/+/b", "+/", "/+", "//", "$share/g/a/+",
		"$share/group/#", "$SYS/#", "温度/+", "sport/tennis/player1/#"}
	for _, s := range good {
		if err := ValidFilter([]byte(s)); err != nil {
			t.Errorf("ValidFilter(%q) = %v", s, err)
		}
	}
	bad := []string{"", "a#", "#/a", "a/#/b", "a+", "+a", "a/b+/c", "##", "++", "a\x00", "\xc0\x80", "sport/tennis#"}
	for _, s := range bad {
		err := ValidFilter([]byte(s))
		var e *Error
		if !errors.As(err, &e) || e.Code != TopicFilterInvalid || e.Field != "topic filter" {
			t.Errorf("ValidFilter(%q) = %v, want TopicFilterInvalid", s, err)
		}
	}
}

func TestValidateNoAllocs(t *testing.T) {
	topic := []byte("sensors/room-1/temperature")
	filter := []byte("sensors/+/temperature/#")
	if n := testing.AllocsPerRun(100, func() {
		if ValidTopicName(topic) != nil || ValidFilter(filter) != nil {
			t.Fatal("invalid")
		}
	}); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// naiveTopicBad is the byte-at-a-time reference for topicBad.
func naiveTopicBad(b []byte) int {
	if bad := utf8Bad(b); bad >= 0 {
		if i := bytes.IndexAny(b[:bad], "+#"); i >= 0 {
			return i
		}
		return bad
	}
	return bytes.IndexAny(b, "+#")
}

// TestTopicBadEveryPosition puts each kind of offending byte at every
// offset of topics up to 40 bytes long, across the 8-byte words that
// topicBad scans at once.
func TestTopicBadEveryPosition(t *testing.T) {
	for n := 1; n <= 40; n++ {
		base := bytes.Repeat([]byte{'a'}, n)
		if got := topicBad(base); got != -1 {
			t.Fatalf("clean topic of %d bytes: %d", n, got)
		}
		for i := 0; i < n; i++ {
			for _, bad := range []byte{0, '+', '#', 0x80, 0xff, 0xc3} {
				tp := bytes.Clone(base)
				tp[i] = bad
				if got, want := topicBad(tp), naiveTopicBad(tp); got != want {
					t.Fatalf("byte %#x at %d of %d: topicBad %d, want %d", bad, i, n, got, want)
				}
			}
			tp := bytes.Clone(base)
			copy(tp[i:], "é") // valid 2-byte sequence, maybe cut at the end
			if got, want := topicBad(tp), naiveTopicBad(tp); got != want {
				t.Fatalf("é at %d of %d: topicBad %d, want %d", i, n, got, want)
			}
		}
	}
}

// TestUTF8BadEveryPosition checks utf8Bad's word-at-a-time scan against
// the standard library at every offset.
func TestUTF8BadEveryPosition(t *testing.T) {
	ref := func(b []byte) int {
		for i := 0; i < len(b); {
			r, n := utf8.DecodeRune(b[i:])
			if r == 0 || (r == utf8.RuneError && n == 1) {
				return i
			}
			i += n
		}
		return -1
	}
	for n := 1; n <= 40; n++ {
		base := bytes.Repeat([]byte{'z'}, n)
		for i := 0; i < n; i++ {
			for _, bad := range [][]byte{{0}, {0x80}, {0xff}, {0xed, 0xa0, 0x80}, []byte("ü"), []byte("€"), {'+'}} {
				s := bytes.Clone(base)
				copy(s[i:], bad)
				if got, want := utf8Bad(s), ref(s); got != want {
					t.Fatalf("% x at %d of %d: utf8Bad %d, want %d", bad, i, n, got, want)
				}
			}
		}
	}
}
