package mqttsn

import (
	"encoding/hex"
	"errors"
)

// ErrIncomplete is returned by ParseLength when the bytes given end before
// the Length field does.
var ErrIncomplete = errors.New("mqttsn: incomplete Length field")

// maxErrBytes bounds the offending bytes an Error carries.
const maxErrBytes = 16

// Error is a malformed message: which message type, which field, what was
// wrong, and the offending bytes (at most 16, copied).
type Error struct {
	Type   MsgType // the message type, when TypeKnown
	Field  string  // the field as the specification names it, e.g. "TopicName", "Flags.QoS"
	Reason string  // what was wrong
	Bytes  []byte  // the offending bytes, or nil

	// TypeKnown is false when the Length field itself was unreadable, so
	// that no MsgType octet could be trusted; Type is then the octet where
	// MsgType would be, or 0.
	TypeKnown bool
}

// Error returns e.g. `mqttsn: PUBLISH Flags.TopicIdType: reserved value 0b11 (bytes 03)`.
func (e *Error) Error() string {
	s := "mqttsn: "
	if e.TypeKnown {
		s += e.Type.String() + " "
	}
	s += e.Field + ": " + e.Reason
	if len(e.Bytes) > 0 {
		s += " (bytes " + hex.EncodeToString(e.Bytes) + ")"
	}
	return s
}

// newError builds an *Error, copying at most maxErrBytes of b.
func newError(t MsgType, field, reason string, b []byte) *Error {
	e := &Error{Type: t, Field: field, Reason: reason, TypeKnown: true}
	if len(b) > 0 {
		if len(b) > maxErrBytes {
			b = b[:maxErrBytes]
		}
		e.Bytes = append([]byte(nil), b...)
	}
	return e
}

// lengthError is an *Error for a Length field too broken to trust the
// octet after it.
func lengthError(t MsgType, reason string, b []byte) *Error {
	e := newError(t, "Length", reason, b)
	e.TypeKnown = false
	return e
}
