// Package serial carries MQTT-SN packets over byte streams: serial lines,
// RS-485 buses and XBee radios. It holds three framings, each a reader
// (zero allocations per good frame, counters for what it drops) and an
// encoder, and Open, which opens a serial device through go.bug.st/serial.
// It knows nothing of the gateway's state; FRAMING.md in this directory
// repeats the layouts below for firmware authors, with a C encoder.
//
// All multi-octet integers are big-endian. Readers return views into their
// own buffers, valid until the next ReadFrame; their Stats may be read from
// another goroutine.
//
// # raw
//
// MQTT-SN packets back to back, each delimited by its own Length field, as
// mqtt-sn-tools' serial bridge speaks:
//
//	Length   1 octet 0x02-0xFF, the whole packet including this octet,
//	         or 3 octets: 0x01, then the whole length as 16 bits
//	MsgType  1 octet
//	...      the rest of the MQTT-SN v1.2 packet
//
// Optionally (RawOptions.Encapsulated, mqtt-sn-tools' --fe) every packet is
// wrapped in a Forwarder Encapsulation [MQTT-SN 5.5] so that one line
// carries several nodes:
//
//	Length            1 octet: 3 + n, this header only
//	MsgType           0xFE
//	Ctrl              1 octet: bits 1-0 radius, 7-2 reserved (written 0x00)
//	Wireless Node Id  n octets, 0-252: the node
//	packet            the MQTT-SN packet, as above
//
// Example, PINGREQ from node 0x2A: 04 FE 00 2A 02 16.
//
// There is no delimiter, so RawReader resynchronises: when the octets at
// the read position cannot be a frame (Length 0x00, a 3-octet Length below
// 4, a frame over the bound, or a packet that does not decode) it skips one
// octet and tries again, counting skipped octets. A Length that promises
// more than has arrived is waited for. Resynchronising can find a false
// frame inside a corrupted frame's payload; the rs485 framing's CRC exists
// for lines where that matters.
//
// # rs485
//
// One SLIP frame (RFC 1055) per message:
//
//	END               0xC0
//	Length            0x04 (1-octet address) or 0x05 (2-octet address)
//	MsgType           0xFE
//	Ctrl              1 octet (0x00)
//	Wireless Node Id  1 or 2 octets: the node's bus address
//	packet            one MQTT-SN packet with its own Length, or nothing (a poll)
//	CRC               2 octets: CRC-16/XMODEM of Length..packet, high octet first
//	END               0xC0
//
// Between the ENDs, a data octet 0xC0 is sent as ESC ESC_END (0xDB 0xDC) and
// 0xDB as ESC ESC_ESC (0xDB 0xDD), the CRC octets included. CRC-16/XMODEM
// is polynomial 0x1021, initial value 0x0000, no reflection, no final XOR
// (CRC of "123456789" = 0x31C3). A poll is the gateway asking a node to
// speak: header and CRC, no packet.
//
// Examples: poll of node 1, C0 04 FE 00 01 22 83 C0; PINGREQ from node 1,
// C0 04 FE 00 01 02 16 D5 FA C0.
//
// RS485Reader drops and counts frames with a bad CRC, frames whose content
// outgrows its bound (1 KiB by default), frames with a bad escape or a good
// CRC around a bad packet, and skips octets between frames that cannot
// start one.
//
// # xbee
//
// XBee API mode 2 (escaped) frames, as the Eclipse Paho MQTT-SN gateway
// uses for XBee radios:
//
//	start     0x7E, never escaped
//	Length    2 octets: octets of frame data, checksum excluded
//	data      API identifier, then its fields
//	checksum  0xFF minus the low 8 bits of the sum of the frame data octets
//
// After the start delimiter, every octet that is 0x7E, 0x7D, 0x11 or 0x13
// is sent as 0x7D followed by the octet XOR 0x20. The gateway sends API
// 0x10 Transmit Request (frame id, 64-bit destination, 16-bit destination,
// radius, options, RF data) and receives API 0x90 Receive Packet (64-bit
// source, 16-bit source, options, RF data); RF data is one MQTT-SN packet
// and a node is known by its 64-bit address.
//
// Example, PINGREQ from 0013A20040522BAA/7D84:
// 7E 00 0E 90 00 7D 33 A2 00 40 52 2B AA 7D 5D 84 01 02 16 39.
//
// XBeeReader returns frames of every API type with a good checksum; it
// counts and drops frames with a bad checksum, a Length of 0 or over its
// bound, or cut short by a new start delimiter, and skips octets outside
// frames.
package serial
