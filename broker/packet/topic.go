package packet

import "encoding/binary"

// ValidTopicName checks a topic name as PUBLISH carries it: at least one
// byte [MQTT-4.7.3-1], well-formed UTF-8 without U+0000 [MQTT-1.5.4-1]
// [MQTT-1.5.4-2], no '+' or '#' [MQTT-3.3.2-2] [MQTT-4.7.1-1]. It returns nil
// or an *Error with Code TopicNameInvalid and Field "topic". It does not
// allocate when b is valid. Topics starting with '$' are valid names; who
// may publish to them is the broker's business.
func ValidTopicName(b []byte) error {
	if e := validTopic(b); e != nil {
		return e
	}
	return nil
}

// validTopic is ValidTopicName returning a typed *Error.
func validTopic(b []byte) *Error {
	if len(b) == 0 {
		return &Error{Code: TopicNameInvalid, Field: "topic", Msg: "empty"}
	}
	if bad := topicBad(b); bad >= 0 {
		return topicErr(0, b, bad)
	}
	return nil
}

// topicErr describes the offending byte found by topicBad. In a packet being
// decoded (t != 0) bad UTF-8 is a Malformed Packet [MQTT-1.5.4-1] and a
// wildcard makes the topic name invalid [MQTT-3.3.2-2]; ValidTopicName
// (t == 0) reports TopicNameInvalid for both.
func topicErr(t Type, b []byte, bad int) *Error {
	switch b[bad] {
	case '+', '#':
		return errAt(TopicNameInvalid, t, "topic", "wildcard '"+string(b[bad])+"' in a topic name", b, bad)
	}
	e := utf8Err(t, "topic", b, bad)
	if t == 0 {
		e.Code = TopicNameInvalid
	}
	return e
}

// topicBad returns -1 when b is well-formed UTF-8 without U+0000, '+' or
// '#', otherwise the offset of the first offending byte. This runs for
// every PUBLISH: eight bytes at a time while they are plain ASCII.
func topicBad(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		y := x ^ (lsb * '+')
		z := x ^ (lsb * '#')
		// (v-lsb)&^v has a high bit set iff v has a zero byte: a NUL, a '+'
		// or a '#' in x. x's own high bits flag non-ASCII.
		if ((x-lsb)&^x|(y-lsb)&^y|(z-lsb)&^z|x)&msb != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		if c-1 >= 0x7f || c == '+' || c == '#' { // c == 0, c >= 0x80, or a wildcard
			if c >= 0x80 {
				return topicBadSlow(b, i)
			}
			return i
		}
	}
	return -1
}

// topicBadSlow continues topicBad from a non-ASCII byte at offset i. The
// bytes of a multi-byte UTF-8 sequence are all >= 0x80, so wildcards and
// U+0000 can only be single bytes.
func topicBadSlow(b []byte, i int) int {
	bad := utf8BadSlow(b, i)
	for j := i; j < len(b) && (bad < 0 || j < bad); j++ {
		if c := b[j]; c == '+' || c == '#' {
			return j
		}
	}
	return bad
}

// ValidFilter checks a topic filter as SUBSCRIBE and UNSUBSCRIBE carry it:
// at least one byte [MQTT-4.7.3-1], well-formed UTF-8 without U+0000
// [MQTT-1.5.4-1] [MQTT-1.5.4-2], '+' only as a whole level [MQTT-4.7.1-3],
// '#' only as the whole last level [MQTT-4.7.1-2]. It returns nil or an
// *Error with Code TopicFilterInvalid and Field "topic filter", and does not
// allocate when b is valid.
//
// A shared subscription "$share/group/filter" is checked as an ordinary
// filter here; its own rules are the broker's.
func ValidFilter(b []byte) error {
	if len(b) == 0 {
		return &Error{Code: TopicFilterInvalid, Field: "topic filter", Msg: "empty"}
	}
	if bad := utf8Bad(b); bad >= 0 {
		e := utf8Err(0, "topic filter", b, bad)
		e.Code = TopicFilterInvalid
		return e
	}
	level := 0 // start of the current level
	for i, c := range b {
		switch c {
		case '/':
			level = i + 1
		case '+':
			if i != level || (i+1 < len(b) && b[i+1] != '/') { // [MQTT-4.7.1-3]
				return errAt(TopicFilterInvalid, 0, "topic filter", "'+' must fill a whole level", b, i)
			}
		case '#':
			if i != level || i != len(b)-1 { // [MQTT-4.7.1-2]
				return errAt(TopicFilterInvalid, 0, "topic filter", "'#' must be the whole last level", b, i)
			}
		}
	}
	return nil
}
