package packet

import "bytes"

// tpacket is one real packet, written byte by byte from the specification,
// and the value it decodes to. The same table drives decoding (raw -> pkt),
// encoding (pkt -> raw), Size, the Reader and the fuzz seeds.
type tpacket struct {
	name string
	spec string  // statement ids or sections the case exercises
	v    Version // version to decode and encode with (CONNECT reads its own)
	raw  []byte
	pkt  codec
	// decodeOnly: raw is valid input but Append writes another valid form;
	// encoded, when set, is that form.
	decodeOnly bool
	encoded    []byte
}

// mark returns p with the presence bits of its non-nil byte-slice
// properties, of non-empty User and SubscriptionIDs, and of the listed
// scalar properties set: what decoding sets.
func mark(p Properties, scalars ...PropID) Properties {
	for _, id := range scalars {
		p.Set(id)
	}
	p.present |= p.written(^uint64(0))
	return p
}

func bs(s string) []byte { return []byte(s) }

var big200 = bytes.Repeat([]byte{'x'}, 200)
var v125 = bytes.Repeat([]byte{'v'}, 125)

// tpackets: 3.1 and 3.1.1.
var tpacketsV3 = []tpacket{
	{
		name: "CONNECT 3.1 MQIsdp, clean session, username, password",
		spec: "3.1 protocol name MQIsdp level 3",
		v:    V31,
		raw: []byte{
			0x10, 30, // CONNECT, remaining 30
			0, 6, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name
			3,     // level 3
			0xC2,  // username, password, clean session
			0, 60, // keep alive 60
			0, 4, 'e', 'd', 'g', 'e', // client id
			0, 5, 'a', 'l', 'i', 'c', 'e', // username
			0, 3, 's', 'e', 'c', // password
		},
		pkt: &Connect{ProtocolName: bs("MQIsdp"), Version: V31, CleanStart: true, KeepAlive: 60,
			ClientID: bs("edge"), UsernameFlag: true, Username: bs("alice"), PasswordFlag: true, Password: bs("sec")},
	},
	{
		name: "CONNECT 3.1.1 minimal, clean session",
		spec: "[MQTT-3.1.2-1] [MQTT-3.1.2-2] 3.1.2.4",
		v:    V311,
		raw: []byte{
			0x10, 16,
			0, 4, 'M', 'Q', 'T', 'T',
			4,     // level 4
			0x02,  // clean session
			0, 30, // keep alive
			0, 4, 's', 'e', 'n', '1',
		},
		pkt: &Connect{ProtocolName: bs("MQTT"), Version: V311, CleanStart: true, KeepAlive: 30, ClientID: bs("sen1")},
	},
	{
		name: "CONNECT 3.1.1 will QoS 1 retained, username, binary password",
		spec: "[MQTT-3.1.2-9] [MQTT-3.1.2-14] [MQTT-3.1.2-17] [MQTT-3.1.2-19] [MQTT-3.1.2-21]",
		v:    V311,
		raw: []byte{
			0x10, 39,
			0, 4, 'M', 'Q', 'T', 'T',
			4,
			0xEE, // username, password, will retain, will QoS 1, will, clean
			0, 10,
			0, 3, 'g', 'w', '1',
			0, 6, 'g', 'w', '/', 'l', 'w', 't', // will topic
			0, 4, 'g', 'o', 'n', 'e', // will message
			0, 4, 'u', 's', 'e', 'r',
			0, 2, 0xff, 0x00, // password is binary data: not UTF-8 checked
		},
		pkt: &Connect{ProtocolName: bs("MQTT"), Version: V311, CleanStart: true, KeepAlive: 10, ClientID: bs("gw1"),
			WillFlag: true, WillQoS: 1, WillRetain: true, WillTopic: bs("gw/lwt"), WillPayload: bs("gone"),
			UsernameFlag: true, Username: bs("user"), PasswordFlag: true, Password: []byte{0xff, 0x00}},
	},
	{
		name: "CONNECT 3.1.1 empty client id",
		spec: "[MQTT-3.1.3-6]",
		v:    V311,
		raw:  []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, 0, 0},
		pkt:  &Connect{ProtocolName: bs("MQTT"), Version: V311, CleanStart: true, ClientID: []byte{}},
	},
	{
		name: "CONNACK 3.1 accepted",
		v:    V31,
		raw:  []byte{0x20, 2, 0x00, 0x00},
		pkt:  &Connack{},
	},
	{
		name: "CONNACK 3.1.1 session present, accepted",
		spec: "[MQTT-3.2.2-2] 3.2.2.3",
		v:    V311,
		raw:  []byte{0x20, 2, 0x01, 0x00},
		pkt:  &Connack{SessionPresent: true},
	},
	{
		name: "CONNACK 3.1.1 not authorized",
		spec: "3.2.2.3 return code 5",
		v:    V311,
		raw:  []byte{0x20, 2, 0x00, 0x05},
		pkt:  &Connack{Code: V3NotAuthorized},
	},
	{
		name: "PUBLISH 3.1.1 QoS 0",
		spec: "[MQTT-2.3.1-5] no packet id at QoS 0",
		v:    V311,
		raw:  []byte{0x30, 7, 0, 3, 'a', '/', 'b', 'h', 'i'},
		pkt:  &Publish{Topic: bs("a/b"), Payload: bs("hi")},
	},
	{
		name: "PUBLISH 3.1.1 QoS 1 DUP RETAIN",
		spec: "3.3.1.1 3.3.1.2 3.3.1.3",
		v:    V311,
		raw:  []byte{0x3B, 12, 0, 5, 's', '/', 't', '/', '1', 0x12, 0x34, 'p', 'a', 'y'},
		pkt:  &Publish{Dup: true, QoS: 1, Retain: true, Topic: bs("s/t/1"), PacketID: 0x1234, Payload: bs("pay")},
	},
	{
		name: "PUBLISH 3.1.1 QoS 2 empty payload",
		spec: "3.3.3 zero length payload",
		v:    V311,
		raw:  []byte{0x34, 5, 0, 1, 'x', 0, 7},
		pkt:  &Publish{QoS: 2, Topic: bs("x"), PacketID: 7, Payload: []byte{}},
	},
	{
		name: "PUBLISH 3.1.1 UTF-8 topic",
		spec: "[MQTT-1.5.3-1] multi-byte characters",
		v:    V311,
		raw:  []byte{0x30, 12, 0, 6, 0xe6, 0xb8, 0xa9, 0xe5, 0xba, 0xa6, '2', '1', '.', '5'},
		pkt:  &Publish{Topic: bs("温度"), Payload: bs("21.5")},
	},
	{
		name: "PUBLISH 3.1.1 two-byte remaining length",
		spec: "2.2.3 remaining length 203 = 0xCB 0x01",
		v:    V311,
		raw:  append([]byte{0x30, 0xCB, 0x01, 0, 1, 'x'}, big200...),
		pkt:  &Publish{Topic: bs("x"), Payload: big200},
	},
	{name: "PUBACK 3.1.1", spec: "3.4", v: V311, raw: []byte{0x40, 2, 0x12, 0x34},
		pkt: &Ack{Type: PUBACK, PacketID: 0x1234}},
	{name: "PUBREC 3.1.1", spec: "3.5", v: V311, raw: []byte{0x50, 2, 0, 1},
		pkt: &Ack{Type: PUBREC, PacketID: 1}},
	{name: "PUBREL 3.1.1", spec: "[MQTT-3.6.1-1] flags 0010", v: V311, raw: []byte{0x62, 2, 0, 1},
		pkt: &Ack{Type: PUBREL, PacketID: 1}},
	{name: "PUBCOMP 3.1.1", spec: "3.7", v: V311, raw: []byte{0x70, 2, 0, 1},
		pkt: &Ack{Type: PUBCOMP, PacketID: 1}},
	{
		name: "SUBSCRIBE 3.1.1 two filters",
		spec: "[MQTT-3.8.1-1] 3.8.3",
		v:    V311,
		raw: []byte{
			0x82, 16,
			0x00, 0x0A, // packet id 10
			0, 3, 'a', '/', '#', 0x01, // QoS 1
			0, 5, 'b', '/', '+', '/', 'c', 0x02, // QoS 2
		},
		pkt: &Subscribe{PacketID: 10, Subs: []Subscription{{Filter: bs("a/#"), QoS: 1}, {Filter: bs("b/+/c"), QoS: 2}}},
	},
	{
		name: "SUBACK 3.1.1 granted 0 1 2 and failure",
		spec: "3.9.3",
		v:    V311,
		raw:  []byte{0x90, 6, 0, 10, 0x00, 0x01, 0x02, 0x80},
		pkt:  &Suback{PacketID: 10, Codes: []ReasonCode{0, 1, 2, V3SubackFailure}},
	},
	{
		name: "UNSUBSCRIBE 3.1.1 two filters",
		spec: "[MQTT-3.10.1-1] 3.10.3",
		v:    V311,
		raw:  []byte{0xA2, 14, 0, 11, 0, 3, 'a', '/', '#', 0, 5, 'b', '/', '+', '/', 'c'},
		pkt:  &Unsubscribe{PacketID: 11, Filters: [][]byte{bs("a/#"), bs("b/+/c")}},
	},
	{name: "UNSUBACK 3.1.1", spec: "3.11", v: V311, raw: []byte{0xB0, 2, 0, 11},
		pkt: &Unsuback{PacketID: 11}},
	{name: "PINGREQ 3.1.1", spec: "3.12", v: V311, raw: []byte{0xC0, 0}, pkt: pingreq{}},
	{name: "PINGRESP 3.1.1", spec: "3.13", v: V311, raw: []byte{0xD0, 0}, pkt: pingresp{}},
	{name: "DISCONNECT 3.1.1", spec: "3.14", v: V311, raw: []byte{0xE0, 0}, pkt: &Disconnect{}},
}

// tpackets: 5.0. Properties are written in identifier order, as Append
// writes them. Together these cases carry every property.
var tpacketsV5 = []tpacket{
	{
		name: "CONNECT 5.0 every CONNECT and will property",
		spec: "3.1.2.11 3.1.3.2 [MQTT-3.1.2-9]",
		v:    V5,
		raw: []byte{
			0x10, 115,
			0, 4, 'M', 'Q', 'T', 'T',
			5,
			0xEE, // username, password, will retain, will QoS 1, will, clean start
			0, 60,
			41,                     // property length
			0x11, 0, 0, 0x0E, 0x10, // session expiry 3600
			0x15, 0, 5, 'S', 'C', 'R', 'A', 'M', // authentication method
			0x16, 0, 3, 1, 2, 3, // authentication data
			0x17, 1, // request problem information
			0x19, 1, // request response information
			0x21, 0, 100, // receive maximum
			0x22, 0, 10, // topic alias maximum
			0x26, 0, 1, 'k', 0, 1, 'v', // user property
			0x27, 0, 0, 0x10, 0, // maximum packet size 4096
			0, 3, 'c', '5', 'a', // client id
			38,      // will property length
			0x01, 1, // payload format: UTF-8
			0x02, 0, 0, 0, 60, // message expiry 60
			0x03, 0, 4, 't', 'e', 'x', 't', // content type
			0x08, 0, 4, 'r', 'e', 's', 'p', // response topic
			0x09, 0, 2, 0xAB, 0xCD, // correlation data
			0x18, 0, 0, 0, 5, // will delay 5
			0x26, 0, 1, 'a', 0, 1, 'b', // user property
			0, 4, 'w', '/', 't', '1', // will topic
			0, 3, 'b', 'y', 'e', // will payload
			0, 2, 'u', '5',
			0, 2, 'p', 'w',
		},
		pkt: &Connect{ProtocolName: bs("MQTT"), Version: V5, CleanStart: true, KeepAlive: 60,
			Props: mark(Properties{SessionExpiry: 3600, AuthMethod: bs("SCRAM"), AuthData: []byte{1, 2, 3},
				RequestProblemInfo: 1, RequestResponseInfo: 1, ReceiveMaximum: 100, TopicAliasMaximum: 10,
				User: []UserProperty{{bs("k"), bs("v")}}, MaximumPacketSize: 4096},
				PropSessionExpiry, PropRequestProblemInfo, PropRequestResponseInfo, PropReceiveMaximum,
				PropTopicAliasMaximum, PropMaximumPacketSize),
			ClientID: bs("c5a"), WillFlag: true, WillQoS: 1, WillRetain: true,
			WillProps: mark(Properties{PayloadFormat: 1, MessageExpiry: 60, ContentType: bs("text"),
				ResponseTopic: bs("resp"), CorrelationData: []byte{0xAB, 0xCD}, WillDelay: 5,
				User: []UserProperty{{bs("a"), bs("b")}}},
				PropPayloadFormat, PropMessageExpiry, PropWillDelay),
			WillTopic: bs("w/t1"), WillPayload: bs("bye"),
			UsernameFlag: true, Username: bs("u5"), PasswordFlag: true, Password: bs("pw")},
	},
	{
		name: "CONNECT 5.0 password without username",
		spec: "3.1.2.9 (allowed in 5.0, unlike [MQTT-3.1.2-22] in 3.1.1)",
		v:    V5,
		raw:  []byte{0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x42, 0, 0, 0, 0, 0, 0, 3, 'p', 'w', 'd'},
		pkt: &Connect{ProtocolName: bs("MQTT"), Version: V5, CleanStart: true, ClientID: []byte{},
			PasswordFlag: true, Password: bs("pwd")},
	},
	{
		name: "CONNACK 5.0 every CONNACK property",
		spec: "3.2.2.3",
		v:    V5,
		raw: []byte{
			0x20, 73,
			0x01, 0x00, // session present, success
			70,
			0x11, 0, 0, 0, 0x78, // session expiry 120
			0x12, 0, 3, 'a', 'u', 't', // assigned client identifier
			0x13, 0, 30, // server keep alive
			0x15, 0, 5, 'S', 'C', 'R', 'A', 'M',
			0x16, 0, 2, 9, 9,
			0x1A, 0, 2, 'r', 'i', // response information
			0x1C, 0, 2, 's', 'r', // server reference
			0x1F, 0, 2, 'o', 'k', // reason string
			0x21, 0, 32, // receive maximum
			0x22, 0, 64, // topic alias maximum
			0x24, 1, // maximum QoS 1
			0x25, 0, // retain not available
			0x26, 0, 1, 'x', 0, 1, 'y',
			0x27, 0, 0x10, 0, 0, // maximum packet size 1048576
			0x28, 1, // wildcard subscriptions available
			0x29, 0, // subscription identifiers not available
			0x2A, 1, // shared subscriptions available
		},
		pkt: &Connack{SessionPresent: true, Props: mark(Properties{SessionExpiry: 120, AssignedClientID: bs("aut"),
			ServerKeepAlive: 30, AuthMethod: bs("SCRAM"), AuthData: []byte{9, 9}, ResponseInfo: bs("ri"),
			ServerReference: bs("sr"), ReasonString: bs("ok"), ReceiveMaximum: 32, TopicAliasMaximum: 64,
			MaximumQoS: 1, RetainAvailable: 0, User: []UserProperty{{bs("x"), bs("y")}}, MaximumPacketSize: 1 << 20,
			WildcardSubAvailable: 1, SubIDAvailable: 0, SharedSubAvailable: 1},
			PropSessionExpiry, PropServerKeepAlive, PropReceiveMaximum, PropTopicAliasMaximum, PropMaximumQoS,
			PropRetainAvailable, PropMaximumPacketSize, PropWildcardSubAvailable, PropSubIDAvailable,
			PropSharedSubAvailable)},
	},
	{
		name: "CONNACK 5.0 not authorized, no properties",
		spec: "3.2.2.2 [MQTT-2.2.2-1] property length 0",
		v:    V5,
		raw:  []byte{0x20, 3, 0x00, 0x87, 0x00},
		pkt:  &Connack{Code: NotAuthorized},
	},
	{
		name:       "CONNACK 3.1.1 form read by a 5.0 client",
		spec:       "a 3.1.1 server refusing a 5.0 CONNECT with return code 1",
		v:          V5,
		raw:        []byte{0x20, 2, 0x00, 0x01},
		pkt:        &Connack{Code: V3UnacceptableVersion},
		decodeOnly: true,
	},
	{
		name: "PUBLISH 5.0 QoS 1 every PUBLISH property",
		spec: "3.3.2.3 two subscription identifiers, repeated user property",
		v:    V5,
		raw: []byte{
			0x32, 64,
			0, 3, 'a', '/', 'b',
			0x00, 0x07, // packet id
			54,
			0x01, 1, // payload format
			0x02, 0, 0, 0x0E, 0x10, // message expiry 3600
			0x03, 0, 4, 'j', 's', 'o', 'n', // content type
			0x08, 0, 5, 'r', '/', 'e', 's', 'p', // response topic
			0x09, 0, 3, 1, 2, 3, // correlation data
			0x0B, 0x05, // subscription identifier 5
			0x0B, 0x80, 0x01, // subscription identifier 128
			0x23, 0, 3, // topic alias 3
			0x26, 0, 2, 'k', '1', 0, 2, 'v', '1',
			0x26, 0, 2, 'k', '1', 0, 2, 'v', '2', // same name again: kept
			'{', '}',
		},
		pkt: &Publish{QoS: 1, Topic: bs("a/b"), PacketID: 7, Payload: bs("{}"),
			Props: mark(Properties{PayloadFormat: 1, MessageExpiry: 3600, ContentType: bs("json"),
				ResponseTopic: bs("r/esp"), CorrelationData: []byte{1, 2, 3}, SubscriptionIDs: []uint32{5, 128},
				TopicAlias: 3, User: []UserProperty{{bs("k1"), bs("v1")}, {bs("k1"), bs("v2")}}},
				PropPayloadFormat, PropMessageExpiry, PropTopicAlias)},
	},
	{
		name: "PUBLISH 5.0 QoS 0 no properties",
		spec: "[MQTT-2.2.2-1]",
		v:    V5,
		raw:  []byte{0x30, 8, 0, 3, 'a', '/', 'b', 0x00, 'h', 'i'},
		pkt:  &Publish{Topic: bs("a/b"), Payload: bs("hi")},
	},
	{
		name: "PUBLISH 5.0 empty topic with topic alias",
		spec: "3.3.2.3.4",
		v:    V5,
		raw:  []byte{0x30, 7, 0, 0, 3, 0x23, 0, 1, 'x'},
		pkt:  &Publish{Topic: []byte{}, Props: mark(Properties{TopicAlias: 1}, PropTopicAlias), Payload: bs("x")},
	},
	{
		name: "PUBLISH 5.0 QoS 2 retained, two-byte property length",
		spec: "1.5.5 property length 131 = 0x83 0x01, remaining 138 = 0x8A 0x01",
		v:    V5,
		raw: append([]byte{0x35, 0x8A, 0x01,
			0, 1, 't',
			0x01, 0x02,
			0x83, 0x01,
			0x26, 0, 1, 'k', 0, 125}, v125...),
		pkt: &Publish{QoS: 2, Retain: true, Topic: bs("t"), PacketID: 0x0102, Payload: []byte{},
			Props: mark(Properties{User: []UserProperty{{bs("k"), v125}}})},
	},
	{name: "PUBACK 5.0 success short form", spec: "3.4.2.1 remaining length 2", v: V5,
		raw: []byte{0x40, 2, 0, 7}, pkt: &Ack{Type: PUBACK, PacketID: 7}},
	{name: "PUBACK 5.0 reason code only", spec: "3.4.2.2 remaining length 3", v: V5,
		raw: []byte{0x40, 3, 0, 7, 0x10}, pkt: &Ack{Type: PUBACK, PacketID: 7, Code: NoMatchingSubscribers}},
	{
		name: "PUBACK 5.0 with reason string and user property",
		spec: "3.4.2.2",
		v:    V5,
		raw: []byte{0x40, 18, 0, 7, 0x80, 14,
			0x1F, 0, 4, 'o', 'o', 'p', 's',
			0x26, 0, 1, 'a', 0, 1, 'b'},
		pkt: &Ack{Type: PUBACK, PacketID: 7, Code: UnspecifiedError,
			Props: mark(Properties{ReasonString: bs("oops"), User: []UserProperty{{bs("a"), bs("b")}}})},
	},
	{name: "PUBACK 5.0 success with empty properties", spec: "3.4.2.2 long form of success", v: V5,
		raw: []byte{0x40, 4, 0, 7, 0x00, 0x00}, pkt: &Ack{Type: PUBACK, PacketID: 7},
		decodeOnly: true, encoded: []byte{0x40, 2, 0, 7}},
	{name: "PUBREC 5.0 packet identifier in use", spec: "3.5.2.1", v: V5,
		raw: []byte{0x50, 3, 0, 8, 0x91}, pkt: &Ack{Type: PUBREC, PacketID: 8, Code: PacketIDInUse}},
	{name: "PUBREL 5.0 packet identifier not found", spec: "3.6.2.1", v: V5,
		raw: []byte{0x62, 3, 0, 8, 0x92}, pkt: &Ack{Type: PUBREL, PacketID: 8, Code: PacketIDNotFound}},
	{name: "PUBREL 5.0 success with reason string", spec: "3.6.2.2", v: V5,
		raw: []byte{0x62, 9, 0, 9, 0x00, 5, 0x1F, 0, 2, 'o', 'k'},
		pkt: &Ack{Type: PUBREL, PacketID: 9, Props: mark(Properties{ReasonString: bs("ok")})}},
	{name: "PUBCOMP 5.0", spec: "3.7.2.1", v: V5,
		raw: []byte{0x70, 2, 0, 9}, pkt: &Ack{Type: PUBCOMP, PacketID: 9}},
	{
		name: "SUBSCRIBE 5.0 subscription identifier and options",
		spec: "3.8.2.1.2 3.8.3.1 subscription identifier 16384 = 0x80 0x80 0x01",
		v:    V5,
		raw: []byte{
			0x82, 35,
			0, 0x0B,
			11,
			0x0B, 0x80, 0x80, 0x01,
			0x26, 0, 1, 'k', 0, 1, 'v',
			0, 3, 'a', '/', '#', 0x1D, // QoS 1, no local, retain as published, retain handling 1
			0, 12, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'c', '/', '+', 0x22, // QoS 2, retain handling 2
		},
		pkt: &Subscribe{PacketID: 11,
			Props: mark(Properties{SubscriptionIDs: []uint32{16384}, User: []UserProperty{{bs("k"), bs("v")}}}),
			Subs: []Subscription{
				{Filter: bs("a/#"), QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 1},
				{Filter: bs("$share/g/c/+"), QoS: 2, RetainHandling: 2},
			}},
	},
	{
		name: "SUBACK 5.0 with reason string",
		spec: "3.9.2.1 3.9.3",
		v:    V5,
		raw:  []byte{0x90, 12, 0, 0x0B, 5, 0x1F, 0, 2, 'h', 'm', 0x01, 0x02, 0x8F, 0xA2},
		pkt: &Suback{PacketID: 11, Props: mark(Properties{ReasonString: bs("hm")}),
			Codes: []ReasonCode{GrantedQoS1, GrantedQoS2, TopicFilterInvalid, WildcardSubNotSupported}},
	},
	{
		name: "UNSUBSCRIBE 5.0 with user property",
		spec: "3.10.2.1",
		v:    V5,
		raw: []byte{0xA2, 18, 0, 12, 7, 0x26, 0, 1, 'k', 0, 1, 'v',
			0, 3, 'a', '/', '#', 0, 1, 'b'},
		pkt: &Unsubscribe{PacketID: 12, Props: mark(Properties{User: []UserProperty{{bs("k"), bs("v")}}}),
			Filters: [][]byte{bs("a/#"), bs("b")}},
	},
	{name: "UNSUBACK 5.0", spec: "3.11.3", v: V5,
		raw: []byte{0xB0, 5, 0, 12, 0, 0x00, 0x11},
		pkt: &Unsuback{PacketID: 12, Codes: []ReasonCode{Success, NoSubscriptionExisted}}},
	{name: "UNSUBACK 5.0 with reason string", spec: "3.11.2.1", v: V5,
		raw: []byte{0xB0, 9, 0, 13, 5, 0x1F, 0, 2, 'n', 'o', 0x87},
		pkt: &Unsuback{PacketID: 13, Props: mark(Properties{ReasonString: bs("no")}), Codes: []ReasonCode{NotAuthorized}}},
	{name: "PINGREQ 5.0", spec: "3.12", v: V5, raw: []byte{0xC0, 0}, pkt: pingreq{}},
	{name: "PINGRESP 5.0", spec: "3.13", v: V5, raw: []byte{0xD0, 0}, pkt: pingresp{}},
	{name: "DISCONNECT 5.0 normal, short form", spec: "3.14.2.1 remaining length 0", v: V5,
		raw: []byte{0xE0, 0}, pkt: &Disconnect{}},
	{name: "DISCONNECT 5.0 with will, code only", spec: "3.14.2.1", v: V5,
		raw: []byte{0xE0, 1, 0x04}, pkt: &Disconnect{Code: DisconnectWithWill}},
	{
		name: "DISCONNECT 5.0 every DISCONNECT property",
		spec: "3.14.2.2",
		v:    V5,
		raw: []byte{0xE0, 26, 0x9C, 24,
			0x11, 0, 0, 0, 0,
			0x1C, 0, 3, 's', 'r', 'v',
			0x1F, 0, 3, 'b', 'y', 'e',
			0x26, 0, 1, 'k', 0, 1, 'v'},
		pkt: &Disconnect{Code: UseAnotherServer, Props: mark(Properties{ServerReference: bs("srv"),
			ReasonString: bs("bye"), User: []UserProperty{{bs("k"), bs("v")}}}, PropSessionExpiry)},
	},
	{name: "DISCONNECT 5.0 normal with empty properties", spec: "3.14.2.2", v: V5,
		raw: []byte{0xE0, 2, 0x00, 0x00}, pkt: &Disconnect{}, decodeOnly: true, encoded: []byte{0xE0, 0}},
	{name: "AUTH 5.0 success short form", spec: "3.15.2.1", v: V5, raw: []byte{0xF0, 0}, pkt: &Auth{}},
	{
		name: "AUTH 5.0 continue authentication, every AUTH property",
		spec: "3.15.2.2",
		v:    V5,
		raw: []byte{0xF0, 29, 0x18, 27,
			0x15, 0, 5, 'S', 'C', 'R', 'A', 'M',
			0x16, 0, 2, 1, 2,
			0x1F, 0, 4, 'm', 'o', 'r', 'e',
			0x26, 0, 1, 'k', 0, 1, 'v'},
		pkt: &Auth{Code: ContinueAuthentication, Props: mark(Properties{AuthMethod: bs("SCRAM"), AuthData: []byte{1, 2},
			ReasonString: bs("more"), User: []UserProperty{{bs("k"), bs("v")}}})},
	},
	{name: "AUTH 5.0 re-authenticate, code only", spec: "3.15.2.1", v: V5,
		raw: []byte{0xF0, 1, 0x19}, pkt: &Auth{Code: ReAuthenticate},
		decodeOnly: true, encoded: []byte{0xF0, 2, 0x19, 0x00}},
}

// allTPackets returns both tables.
func allTPackets() []tpacket { return append(append([]tpacket(nil), tpacketsV3...), tpacketsV5...) }
