package packet

import (
	"errors"
	"strconv"
)

// ErrIncomplete is returned by ParseHeader when b does not yet hold a whole
// fixed header: read more bytes and try again.
var ErrIncomplete = errors.New("packet: incomplete fixed header")

// Error is a decoding error. Code is the reason code the broker should send
// before closing the connection (in a v5 CONNACK or DISCONNECT; a 3.1.1
// broker just closes, or answers CONNACK 0x01 for UnsupportedProtocolVersion).
//
// errors.Is(err, MalformedPacket) and the like work: Unwrap returns Code.
//
// Codes chosen where the specification leaves room:
//   - bad UTF-8, U+0000, a field or property running past the packet, a
//     property unknown or not valid in the packet type, reserved bits set, a
//     non-minimal Variable Byte Integer (all versions): MalformedPacket;
//   - a property repeated, or a value the specification forbids (a 0/1
//     property above 1, Receive Maximum, Maximum Packet Size or Subscription
//     Identifier 0, Authentication Data without Method), packet identifier
//     0, a reason code the packet type cannot carry, an empty SUBSCRIBE or
//     UNSUBSCRIBE payload, an unknown CONNECT protocol name: ProtocolError;
//   - a wildcard in a PUBLISH or will topic, an empty topic in 3.1.1:
//     TopicNameInvalid (an empty v5 topic without Topic Alias: ProtocolError);
//   - Topic Alias 0: TopicAliasInvalid;
//   - SUBSCRIBE options: reserved bits MalformedPacket; QoS 3 or Retain
//     Handling 3 in v5 ProtocolError (3.8.3.1); QoS 3 in 3.1.1
//     MalformedPacket [MQTT-3.8.3-4];
//   - "MQTT" or "MQIsdp" with another level: UnsupportedProtocolVersion.
type Error struct {
	Code   ReasonCode // MalformedPacket, ProtocolError, PacketTooLarge, TopicNameInvalid, ...
	Packet Type       // the packet being decoded (0 when the type itself is bad)
	Field  string     // what was wrong: "topic", "remaining length", "topic alias property", ...
	Msg    string     // why
	Bytes  []byte     // a copy of at most 16 offending bytes, or nil
}

// Error returns e.g. "PUBLISH topic: invalid UTF-8 (bytes 61 2f ff)". The
// packet name is left out when Packet is 0 (ValidTopicName, ValidFilter,
// a reserved packet type).
func (e *Error) Error() string {
	s := ""
	if e.Packet != 0 {
		s = e.Packet.String()
	}
	if e.Field != "" {
		if s != "" {
			s += " "
		}
		s += e.Field
	}
	if s != "" {
		s += ": "
	}
	s += e.Msg
	if len(e.Bytes) > 0 {
		buf := make([]byte, 0, len(s)+9+3*len(e.Bytes))
		buf = append(buf, s...)
		buf = append(buf, " (bytes"...)
		for _, c := range e.Bytes {
			buf = append(buf, ' ', hexDigits[c>>4], hexDigits[c&15])
		}
		buf = append(buf, ')')
		s = string(buf)
	}
	return s
}

// Unwrap returns the reason code, so that errors.Is(err, ProtocolError)
// tells what kind of error it is.
func (e *Error) Unwrap() error { return e.Code }

const hexDigits = "0123456789abcdef"

// maxErrBytes bounds Error.Bytes.
const maxErrBytes = 16

// errAt builds an *Error carrying a copy of at most 16 bytes of b around
// position at (at < 0: from the start of b). It runs on the error path only.
func errAt(code ReasonCode, t Type, field, msg string, b []byte, at int) *Error {
	e := &Error{Code: code, Packet: t, Field: field, Msg: msg}
	if len(b) > 0 {
		lo := 0
		if at >= maxErrBytes {
			lo = at - maxErrBytes/2
		}
		hi := min(lo+maxErrBytes, len(b))
		e.Bytes = append([]byte(nil), b[lo:hi]...)
	}
	return e
}

// malformed reports a Malformed Packet without offending bytes.
func malformed(t Type, field, msg string) *Error {
	return &Error{Code: MalformedPacket, Packet: t, Field: field, Msg: msg}
}

// protocolErr reports a Protocol Error without offending bytes.
func protocolErr(t Type, field, msg string) *Error {
	return &Error{Code: ProtocolError, Packet: t, Field: field, Msg: msg}
}

// shortErr reports a field that runs past the end of the packet.
func shortErr(t Type, field string, need, have int) *Error {
	return malformed(t, field, "needs "+strconv.Itoa(need)+" bytes, "+strconv.Itoa(have)+" left in packet")
}

// trailingErr reports bytes left over after the last field.
func trailingErr(t Type, rest []byte) *Error {
	return errAt(MalformedPacket, t, "", strconv.Itoa(len(rest))+" bytes after the last field", rest, -1)
}
