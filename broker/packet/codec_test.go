package packet

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// codec is what every packet value offers; tests only.
type codec interface {
	Append(dst []byte, v Version) []byte
	Size(v Version) int
}

// pingreq and pingresp adapt AppendPingreq/AppendPingresp to codec.
type pingreq struct{}
type pingresp struct{}

func (pingreq) Append(dst []byte, _ Version) []byte  { return AppendPingreq(dst) }
func (pingreq) Size(Version) int                     { return 2 }
func (pingresp) Append(dst []byte, _ Version) []byte { return AppendPingresp(dst) }
func (pingresp) Size(Version) int                    { return 2 }

// newFor returns an empty value to decode a packet of type t into.
func newFor(t Type) codec {
	switch t {
	case CONNECT:
		return &Connect{}
	case CONNACK:
		return &Connack{}
	case PUBLISH:
		return &Publish{}
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		return &Ack{}
	case SUBSCRIBE:
		return &Subscribe{}
	case SUBACK:
		return &Suback{}
	case UNSUBSCRIBE:
		return &Unsubscribe{}
	case UNSUBACK:
		return &Unsuback{}
	case PINGREQ:
		return pingreq{}
	case PINGRESP:
		return pingresp{}
	case DISCONNECT:
		return &Disconnect{}
	case AUTH:
		return &Auth{}
	}
	return nil
}

// decodeInto decodes body into p (a value from newFor).
func decodeInto(p codec, h Header, body []byte, v Version) error {
	switch p := p.(type) {
	case *Connect:
		return p.Decode(h, body)
	case *Connack:
		return p.Decode(h, body, v)
	case *Publish:
		return p.Decode(h, body, v)
	case *Ack:
		return p.Decode(h, body, v)
	case *Subscribe:
		return p.Decode(h, body, v)
	case *Suback:
		return p.Decode(h, body, v)
	case *Unsubscribe:
		return p.Decode(h, body, v)
	case *Unsuback:
		return p.Decode(h, body, v)
	case *Disconnect:
		return p.Decode(h, body, v)
	case *Auth:
		return p.Decode(h, body, v)
	case pingreq, pingresp:
		return nil // ParseHeader checks the remaining length
	}
	return fmt.Errorf("no decoder for %T", p)
}

// decodeRaw parses the fixed header of a whole packet and decodes it.
func decodeRaw(raw []byte, v Version) (codec, error) {
	h, n, err := ParseHeader(raw)
	if err != nil {
		return nil, err
	}
	if n+h.Remaining != len(raw) {
		return nil, fmt.Errorf("fixed header says %d+%d bytes, packet has %d", n, h.Remaining, len(raw))
	}
	p := newFor(h.Type)
	return p, decodeInto(p, h, raw[n:], v)
}

// sameValue compares like reflect.DeepEqual, but a nil slice equals an
// empty one (decoding yields empty views where a literal may say nil) and
// unexported fields (presence bits) are compared too.
func sameValue(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return a.Uint() == b.Uint()
	case reflect.Int:
		return a.Int() == b.Int()
	}
	panic("sameValue: unhandled kind " + a.Kind().String())
}

func same(a, b any) bool { return sameValue(reflect.ValueOf(a), reflect.ValueOf(b)) }

// TestTPacketsDecode decodes every table packet into a fresh value and
// into a value that held another packet of the same type before.
func TestTPacketsDecode(t *testing.T) {
	reused := map[Type]codec{}
	for _, tc := range allTPackets() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeRaw(tc.raw, tc.v)
			if err != nil {
				t.Fatalf("%s: decode: %v", tc.spec, err)
			}
			if !same(got, tc.pkt) {
				t.Fatalf("%s: decoded\n%+v\nwant\n%+v", tc.spec, got, tc.pkt)
			}
			h, n, _ := ParseHeader(tc.raw)
			r := reused[h.Type]
			if r == nil {
				r = newFor(h.Type)
				reused[h.Type] = r
			}
			if err := decodeInto(r, h, tc.raw[n:], tc.v); err != nil {
				t.Fatalf("decode into reused value: %v", err)
			}
			if !same(r, tc.pkt) {
				t.Fatalf("decoded into reused value\n%+v\nwant\n%+v", r, tc.pkt)
			}
		})
	}
}

// TestTPacketsEncode encodes every table value and compares with the bytes
// written by hand; Size must agree without encoding.
func TestTPacketsEncode(t *testing.T) {
	for _, tc := range allTPackets() {
		want := tc.raw
		if tc.decodeOnly {
			if tc.encoded == nil {
				continue
			}
			want = tc.encoded
		}
		t.Run(tc.name, func(t *testing.T) {
			got := tc.pkt.Append(nil, tc.v)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: encoded\n% x\nwant\n% x", tc.spec, got, want)
			}
			if n := tc.pkt.Size(tc.v); n != len(want) {
				t.Fatalf("Size = %d, encoded %d bytes", n, len(want))
			}
			prefix := []byte("prefix")
			if got := tc.pkt.Append(prefix, tc.v); !bytes.Equal(got[len(prefix):], want) || string(got[:len(prefix)]) != "prefix" {
				t.Fatalf("Append to a non-empty buffer: % x", got)
			}
		})
	}
}

// TestTPacketsCoverEveryProperty guards the table: every property appears
// in some 5.0 packet, so decoding and encoding of each is checked above.
func TestTPacketsCoverEveryProperty(t *testing.T) {
	var seen uint64
	for _, tc := range tpacketsV5 {
		v := reflect.ValueOf(tc.pkt)
		if v.Kind() != reflect.Pointer {
			continue
		}
		for _, name := range []string{"Props", "WillProps"} {
			if f := v.Elem().FieldByName(name); f.IsValid() {
				seen |= f.Addr().Interface().(*Properties).present
			}
		}
	}
	for id := PropID(0); id < 64; id++ {
		if maskKnown&(1<<id) != 0 && seen&(1<<id) == 0 {
			t.Errorf("no table packet carries the %s property", propName(id))
		}
	}
}

// TestPublishAppendHeader checks that header + payload is the whole packet.
func TestPublishAppendHeader(t *testing.T) {
	for _, tc := range allTPackets() {
		p, ok := tc.pkt.(*Publish)
		if !ok || tc.decodeOnly {
			continue
		}
		h := p.AppendHeader(nil, tc.v)
		if got := append(h, p.Payload...); !bytes.Equal(got, tc.raw) {
			t.Errorf("%s: header+payload\n% x\nwant\n% x", tc.name, got, tc.raw)
		}
	}
}

// TestRoundTrip encodes representative values in every version, decodes
// them and expects the same value back.
func TestRoundTrip(t *testing.T) {
	bigPayload := bytes.Repeat([]byte("0123456789"), 7000) // 3-byte remaining length
	manyUsers := make([]UserProperty, 40)
	for i := range manyUsers {
		manyUsers[i] = UserProperty{Key: []byte(fmt.Sprintf("key-%d", i)), Value: []byte("välue")}
	}
	v5props := mark(Properties{MessageExpiry: 1, ContentType: bs("text/plain"), User: manyUsers,
		SubscriptionIDs: []uint32{1, 127, 128, 16383, 16384, 2097151, 2097152, MaxRemaining}}, PropMessageExpiry)
	values := []struct {
		pkt codec
		vs  []Version
	}{
		{&Publish{Topic: bs("sensors/温度/1"), Payload: bigPayload}, []Version{V31, V311, V5}},
		{&Publish{QoS: 2, Dup: true, Topic: bs("a"), PacketID: 65535, Payload: []byte{0}}, []Version{V311, V5}},
		{&Publish{QoS: 1, Topic: bs("t"), PacketID: 1, Props: v5props, Payload: bs("p")}, []Version{V5}},
		{&Connect{ProtocolName: bs("MQTT"), Version: V5, KeepAlive: 65535, ClientID: bs("x"),
			Props: mark(Properties{User: manyUsers}), WillFlag: true, WillQoS: 2,
			WillProps: mark(Properties{WillDelay: 0, CorrelationData: []byte{}}, PropWillDelay),
			WillTopic: bs("w"), WillPayload: bigPayload[:65535]}, []Version{V5}},
		{&Connect{ProtocolName: bs("MQTT"), Version: V311, ClientID: bs("c"), UsernameFlag: true, Username: []byte{}},
			[]Version{V311}},
		{&Subscribe{PacketID: 9, Subs: []Subscription{{Filter: bs("#"), QoS: 2}, {Filter: bs("+/+"), QoS: 0}}},
			[]Version{V311, V5}},
		{&Suback{PacketID: 9, Codes: []ReasonCode{GrantedQoS2, UnspecifiedError}}, []Version{V311, V5}},
		{&Unsuback{PacketID: 3, Codes: []ReasonCode{Success}, Props: mark(Properties{User: manyUsers[:2]})}, []Version{V5}},
		{&Ack{Type: PUBREC, PacketID: 2, Code: QuotaExceeded, Props: mark(Properties{ReasonString: []byte{}})}, []Version{V5}},
		{&Disconnect{Code: ServerShuttingDown, Props: mark(Properties{SessionExpiry: 0xFFFFFFFF}, PropSessionExpiry)}, []Version{V5}},
		{&Connack{Code: Success, Props: mark(Properties{ServerKeepAlive: 0, TopicAliasMaximum: 0},
			PropServerKeepAlive, PropTopicAliasMaximum)}, []Version{V5}},
	}
	for i, tc := range values {
		for _, v := range tc.vs {
			raw := tc.pkt.Append(nil, v)
			if len(raw) != tc.pkt.Size(v) {
				t.Fatalf("%d v%s: Size %d, Append wrote %d", i, v, tc.pkt.Size(v), len(raw))
			}
			got, err := decodeRaw(raw, v)
			if err != nil {
				t.Fatalf("%d v%s: %v", i, v, err)
			}
			want := tc.pkt
			if c, ok := want.(*Connect); ok && c.Version != v {
				continue
			}
			if !same(got, want) {
				t.Fatalf("%d v%s: got\n%+v\nwant\n%+v", i, v, got, want)
			}
		}
	}
}

// TestEncodeDropsPropertiesNotAllowed checks that Append writes only the
// properties the packet type may carry, e.g. a will's properties reused in
// the PUBLISH of the will message.
func TestEncodeDropsPropertiesNotAllowed(t *testing.T) {
	p := &Publish{Topic: bs("t"), Props: mark(Properties{WillDelay: 5, ReasonString: bs("x"), MessageExpiry: 9},
		PropWillDelay, PropMessageExpiry)}
	raw := p.Append(nil, V5)
	want := []byte{0x30, 9, 0, 1, 't', 5, 0x02, 0, 0, 0, 9}
	if !bytes.Equal(raw, want) {
		t.Fatalf("got % x want % x", raw, want)
	}
	if p.Size(V5) != len(want) {
		t.Fatalf("Size %d", p.Size(V5))
	}
	// 3.1.1 has no properties at all.
	if raw := p.Append(nil, V311); !bytes.Equal(raw, []byte{0x30, 3, 0, 1, 't'}) {
		t.Fatalf("3.1.1: % x", raw)
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := decodeRaw([]byte{0x30, 6, 0, 3, 'a', '/', 0xff, 'x'}, V311)
	want := "PUBLISH topic: invalid UTF-8 (bytes 61 2f ff)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, MalformedPacket) || errors.Is(err, ProtocolError) {
		t.Fatalf("errors.As/Is: %#v", err)
	}
	if !bytes.Equal(e.Bytes, []byte{'a', '/', 0xff}) {
		t.Fatalf("Bytes % x", e.Bytes)
	}
	long := append(bytes.Repeat([]byte{'a'}, 40), 0xff)
	err = ValidTopicName(long)
	if !errors.As(err, &e) || len(e.Bytes) != 9 || e.Bytes[8] != 0xff || e.Code != TopicNameInvalid {
		t.Fatalf("long topic: %v", err)
	}
}

func TestPingAppend(t *testing.T) {
	if got := AppendPingreq(nil); !bytes.Equal(got, []byte{0xC0, 0}) {
		t.Fatalf("PINGREQ % x", got)
	}
	if got := AppendPingresp([]byte{1}); !bytes.Equal(got, []byte{1, 0xD0, 0}) {
		t.Fatalf("PINGRESP % x", got)
	}
}

func TestVarint(t *testing.T) {
	cases := []struct {
		v   int
		enc []byte
	}{
		{0, []byte{0x00}}, {127, []byte{0x7F}}, {128, []byte{0x80, 0x01}}, {16383, []byte{0xFF, 0x7F}},
		{16384, []byte{0x80, 0x80, 0x01}}, {2097151, []byte{0xFF, 0xFF, 0x7F}},
		{2097152, []byte{0x80, 0x80, 0x80, 0x01}}, {MaxRemaining, []byte{0xFF, 0xFF, 0xFF, 0x7F}},
	} // table 1.5.5
	for _, c := range cases {
		if got := AppendVarint(nil, c.v); !bytes.Equal(got, c.enc) {
			t.Errorf("AppendVarint(%d) = % x, want % x", c.v, got, c.enc)
		}
		if VarintSize(c.v) != len(c.enc) {
			t.Errorf("VarintSize(%d) = %d", c.v, VarintSize(c.v))
		}
		v, n, st := readVarint(c.enc)
		if v != c.v || n != len(c.enc) || st != varintOK {
			t.Errorf("readVarint(% x) = %d %d %d", c.enc, v, n, st)
		}
	}
}

func TestParseHeaderIncomplete(t *testing.T) {
	for _, in := range [][]byte{nil, {0x30}, {0x30, 0x80}, {0x30, 0xFF, 0xFF}, {0x30, 0xFF, 0xFF, 0xFF}} {
		if _, _, err := ParseHeader(in); err != ErrIncomplete {
			t.Errorf("ParseHeader(% x) = %v, want ErrIncomplete", in, err)
		}
	}
	// A bad first byte is reported at once, without waiting for the length.
	if _, _, err := ParseHeader([]byte{0x36}); !errors.Is(err, MalformedPacket) {
		t.Errorf("QoS 3 with one byte: %v", err)
	}
	h, n, err := ParseHeader([]byte{0x3D, 0xFF, 0xFF, 0xFF, 0x7F})
	if err != nil || n != 5 || h.Remaining != MaxRemaining || !h.Dup() || h.QoS() != 2 || !h.Retain() {
		t.Errorf("max header: %+v %d %v", h, n, err)
	}
}

// TestNoAllocs: decoding every table packet into a value that has decoded
// it before, and encoding into a buffer with room, allocate nothing.
func TestNoAllocs(t *testing.T) {
	for _, tc := range allTPackets() {
		h, n, _ := ParseHeader(tc.raw)
		p := newFor(h.Type)
		if err := decodeInto(p, h, tc.raw[n:], tc.v); err != nil {
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(20, func() { _ = decodeInto(p, h, tc.raw[n:], tc.v) }); a != 0 {
			t.Errorf("%s: decode %v allocs", tc.name, a)
		}
		buf := make([]byte, 0, 1024)
		if a := testing.AllocsPerRun(20, func() { buf = tc.pkt.Append(buf[:0], tc.v) }); a != 0 {
			t.Errorf("%s: encode %v allocs", tc.name, a)
		}
		if a := testing.AllocsPerRun(20, func() { _ = tc.pkt.Size(tc.v) }); a != 0 {
			t.Errorf("%s: Size %v allocs", tc.name, a)
		}
	}
}
