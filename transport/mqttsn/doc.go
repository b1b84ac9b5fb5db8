// Package mqttsn is the MQTT-SN v1.2 codec: every message of the
// specification ("MQTT For Sensor Networks (MQTT-SN) Protocol Specification
// Version 1.2", Stanford-Clark and Truong, IBM, 2013) and the Forwarder
// Encapsulation. It has no state and knows no transport; the gateway that
// maps MQTT-SN clients onto broker sessions and the UDP and serial
// transports are built on it.
//
// # Wire format [5.2]
//
// Every message is a Length field, a MsgType octet and a variable part:
//
//	Length   1 octet  0x02..0xFF: the whole message, Length field included
//	         or 3 octets: 0x01, then the whole length as a big-endian uint16
//	MsgType  1 octet  see MsgType
//	...      the message's own fields, integers big-endian
//
// The encoder uses the 1-octet form whenever the whole message fits in 255
// octets [5.2.1]. The decoder also accepts the 3-octet form for short
// messages (the specification does not forbid it), as long as the length it
// gives is at least 4.
//
// # Decoding
//
// A Decoder holds one value of each message type and decodes a byte slice
// holding exactly one message into the matching value, returning it as a
// Message (a pointer into the Decoder, so that decoding allocates nothing).
// Byte-slice fields (ClientID, TopicName, Data, ...) are views into the
// input: they are valid until the input buffer is reused, and the caller
// copies what must outlive it. The returned Message is overwritten by the
// next Decode of the same type.
//
// Decoding is strict. A message whose Length does not match the bytes
// given, a reserved MsgType, a field that is missing or too long, a
// reserved TopicIdType, QoS bits that the message does not allow, a missing
// topic name, a reserved return code, or a string that is not UTF-8 or
// holds U+0000 is rejected with an *Error naming the message type and the
// field. Flag bits that the specification marks "not used" for a message
// are ignored on decoding and written as zero.
//
// # Encoding
//
// Every message type has Append(dst []byte) ([]byte, error), which appends
// the whole encoded message to dst, and Size, which returns its encoded
// length. Append validates the fields with the same rules as decoding, so
// that the codec never writes a message it would refuse to read.
//
// Section numbers in brackets, such as [5.4.12], refer to the MQTT-SN v1.2
// specification.
package mqttsn
