package packet

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// Field readers over a packet body. Each takes the body and an offset and
// returns a view (never a copy) and the offset after the field. Views are
// capped (b[i:j:j]) so that an append through one cannot overwrite the bytes
// that follow it in the read buffer.

// lenPrefixed reads a field with a two-byte big-endian length at b[i:].
// ok is false when the length or the data run past the end of b.
func lenPrefixed(b []byte, i int) (v []byte, next int, ok bool) {
	if i+2 > len(b) {
		return nil, i, false
	}
	j := i + 2 + (int(b[i])<<8 | int(b[i+1]))
	if j > len(b) {
		return nil, i, false
	}
	return b[i+2 : j : j], j, true
}

// readUTF8 reads a UTF-8 Encoded String field [MQTT-1.5.4-1] [MQTT-1.5.4-2].
func readUTF8(t Type, field string, b []byte, i int) ([]byte, int, error) {
	v, j, ok := lenPrefixed(b, i)
	if !ok {
		return nil, i, fieldShort(t, field, b, i)
	}
	if bad := utf8Bad(v); bad >= 0 {
		return nil, i, utf8Err(t, field, v, bad)
	}
	return v, j, nil
}

// readBinary reads a Binary Data field (no content rules).
func readBinary(t Type, field string, b []byte, i int) ([]byte, int, error) {
	v, j, ok := lenPrefixed(b, i)
	if !ok {
		return nil, i, fieldShort(t, field, b, i)
	}
	return v, j, nil
}

// fieldShort builds the error for a length-prefixed field that runs past the
// end of the packet.
func fieldShort(t Type, field string, b []byte, i int) *Error {
	if i+2 > len(b) {
		return shortErr(t, field+" length", 2, len(b)-i)
	}
	n := int(b[i])<<8 | int(b[i+1])
	return errAt(MalformedPacket, t, field, "length "+strconv.Itoa(n)+" runs past the end of the packet ("+strconv.Itoa(len(b)-i-2)+" bytes left)", b[i:], -1)
}

func utf8Err(t Type, field string, v []byte, bad int) *Error {
	msg := "invalid UTF-8" // [MQTT-1.5.4-1]
	if v[bad] == 0 {
		msg = "contains U+0000" // [MQTT-1.5.4-2]
	}
	return errAt(MalformedPacket, t, field, msg, v, bad)
}

// Constants for scanning eight bytes at a time (SWAR): for a word v,
// (v-lsb)&^v&msb is non-zero iff some byte of v is zero, and v&msb is
// non-zero iff some byte is >= 0x80.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// utf8Bad returns -1 when b is well-formed UTF-8 without U+0000 and without
// surrogates (utf8.DecodeRune rejects those), otherwise the offset of the
// first offending byte. Plain ASCII is checked eight bytes at a time.
func utf8Bad(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if ((x-lsb)&^x|x)&msb != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		if c-1 >= 0x7f { // c == 0 or c >= 0x80
			if c == 0 {
				return i
			}
			return utf8BadSlow(b, i)
		}
	}
	return -1
}

// utf8BadSlow continues utf8Bad from offset i, rune by rune.
func utf8BadSlow(b []byte, i int) int {
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

func appendUint16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendBytes appends a two-byte length and b (a UTF-8 string or binary
// data field). A field longer than 65535 bytes cannot be encoded: it is cut
// to 65535 bytes (fieldSize agrees). Decoded fields never are that long.
func appendBytes(dst, b []byte) []byte {
	if len(b) > 0xffff {
		b = b[:0xffff]
	}
	return append(append(dst, byte(len(b)>>8), byte(len(b))), b...)
}

// fieldSize is the encoded size of a length-prefixed field.
func fieldSize(b []byte) int { return 2 + min(len(b), 0xffff) }

func boolBit(b bool, bit byte) byte {
	if b {
		return bit
	}
	return 0
}
