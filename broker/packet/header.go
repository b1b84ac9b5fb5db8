package packet

import "strconv"

// ParseHeader parses the fixed header at the start of b: the type and flags
// byte and the Remaining Length. n is the number of header bytes (2 to 5).
// It returns ErrIncomplete when b is too short to hold the whole header, and
// an *Error for a reserved packet type, bad flags, or a bad Remaining Length.
// It does not need the body: b may hold only the header.
func ParseHeader(b []byte) (h Header, n int, err error) {
	if len(b) == 0 {
		return h, 0, ErrIncomplete
	}
	h.Type = Type(b[0] >> 4)
	h.Flags = b[0] & 0x0f
	if err := checkFlags(h.Type, h.Flags, b[0]); err != nil {
		return h, 0, err
	}
	if len(b) < 2 {
		return h, 0, ErrIncomplete
	}
	if b[1] < 0x80 { // one-byte length: most packets
		h.Remaining = int(b[1])
		n = 2
	} else {
		v, m, st := readVarint(b[1:])
		if st != varintOK {
			if st == varintShort {
				return h, 0, ErrIncomplete
			}
			return h, 0, varintErr(st, h.Type, "remaining length", b[1:])
		}
		h.Remaining = v
		n = 1 + m
	}
	if (h.Type == PINGREQ || h.Type == PINGRESP) && h.Remaining != 0 {
		return h, 0, malformed(h.Type, "remaining length", strconv.Itoa(h.Remaining)+", must be 0")
	}
	return h, n, nil
}

// checkFlags applies the fixed-header flag rules.
func checkFlags(t Type, f, b0 byte) error {
	switch t {
	case 0:
		return errAt(MalformedPacket, 0, "packet type", "reserved type 0", []byte{b0}, -1)
	case PUBLISH:
		qos := (f >> 1) & 3
		if qos == 3 { // [MQTT-3.3.1-4]
			return errAt(MalformedPacket, t, "flags", "QoS 3", []byte{b0}, -1)
		}
		if qos == 0 && f&0x08 != 0 { // [MQTT-3.3.1-2]
			return errAt(MalformedPacket, t, "flags", "DUP set on a QoS 0 message", []byte{b0}, -1)
		}
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE: // [MQTT-2.1.3-1] [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]
		if f != 0x02 {
			return errAt(MalformedPacket, t, "flags", "reserved flags must be 0010", []byte{b0}, -1)
		}
	default: // [MQTT-2.1.3-1] (v5), [MQTT-2.2.2-1] (3.1.1)
		if f != 0 {
			return errAt(MalformedPacket, t, "flags", "reserved flags must be 0000", []byte{b0}, -1)
		}
	}
	return nil
}

// Outcomes of readVarint.
const (
	varintOK         = iota
	varintShort      // b ends inside the integer
	varintNotMinimal // [MQTT-1.5.5-1]
	varintTooLong    // a fifth byte
)

// readVarint decodes a Variable Byte Integer at the start of b and returns
// its value, its length and varintOK, or another outcome (see varintErr).
func readVarint(b []byte) (v, n, status int) {
	shift := 0
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, varintShort
		}
		c := b[i]
		v |= int(c&0x7f) << shift
		if c < 0x80 {
			if c == 0 && i > 0 { // [MQTT-1.5.5-1] minimal number of bytes
				return 0, i + 1, varintNotMinimal
			}
			return v, i + 1, varintOK
		}
		shift += 7
	}
	return 0, 4, varintTooLong
}

// varintErr builds the error for a readVarint outcome other than varintOK.
func varintErr(status int, t Type, field string, b []byte) *Error {
	switch status {
	case varintShort:
		return errAt(MalformedPacket, t, field, "variable byte integer runs past the end of the packet", b, -1)
	case varintNotMinimal:
		return errAt(MalformedPacket, t, field, "variable byte integer not minimally encoded", b[:min(len(b), 4)], -1)
	}
	return errAt(MalformedPacket, t, field, "variable byte integer longer than 4 bytes", b[:min(len(b), 5)], -1)
}

// VarintSize returns the number of bytes AppendVarint uses for v
// (0 <= v <= MaxRemaining).
func VarintSize(v int) int {
	switch {
	case v < 128:
		return 1
	case v < 16384:
		return 2
	case v < 2097152:
		return 3
	}
	return 4
}

// AppendVarint appends v as a Variable Byte Integer
// (0 <= v <= MaxRemaining; larger values are truncated to 4 bytes).
func AppendVarint(dst []byte, v int) []byte {
	for i := 0; i < 3 && v >= 128; i++ {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v&0x7f))
}

// appendFixed appends a fixed header: the first byte and the remaining length.
func appendFixed(dst []byte, b0 byte, remaining int) []byte {
	if remaining < 128 {
		return append(dst, b0, byte(remaining))
	}
	return AppendVarint(append(dst, b0), remaining)
}

// packetSize returns the whole packet size for a remaining length.
func packetSize(remaining int) int { return 1 + VarintSize(remaining) + remaining }
