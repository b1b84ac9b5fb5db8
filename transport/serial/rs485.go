package serial

import (
	"errors"
	"io"
	"strconv"

	"github.com/edgemq/edgemq/transport/mqttsn"
)

// SLIP octets (RFC 1055).
const (
	slipEnd    = 0xC0 // frame delimiter
	slipEsc    = 0xDB // escape
	slipEscEnd = 0xDC // ESC ESC_END stands for a data 0xC0
	slipEscEsc = 0xDD // ESC ESC_ESC stands for a data 0xDB
)

// rs485MinFrame is the shortest frame content: a Forwarder Encapsulation
// header with a 1-octet node id (4) and the CRC (2).
const rs485MinFrame = 6

// RS485Frame is one frame of the rs485 framing. Its slices are views into
// the reader's buffer, valid until the next ReadFrame.
type RS485Frame struct {
	NodeID []byte // the node's bus address, 1 or 2 octets
	Ctrl   byte   // the encapsulation's Ctrl octet
	Packet []byte // the MQTT-SN packet, Length included; empty for a poll
}

// Addr returns the node's bus address as a number (big-endian when 2
// octets).
func (f RS485Frame) Addr() uint16 {
	if len(f.NodeID) == 1 {
		return uint16(f.NodeID[0])
	}
	return uint16(f.NodeID[0])<<8 | uint16(f.NodeID[1])
}

// IsPoll reports whether the frame carries no MQTT-SN packet.
func (f RS485Frame) IsPoll() bool { return len(f.Packet) == 0 }

// RS485Stats counts what an RS485Reader has seen.
type RS485Stats struct {
	Frames     uint64 // good frames returned (polls included)
	BadCRC     uint64 // frames dropped: CRC mismatch
	Oversize   uint64 // frames dropped: longer than the reader's bound
	Malformed  uint64 // frames dropped with a good CRC or a bad escape: bad header or packet
	NoiseBytes uint64 // bytes between frames that could not start one, skipped
}

// RS485Reader reads the rs485 framing (see the package documentation). It
// allocates nothing after NewRS485Reader. It is not safe for concurrent
// use, except Stats.
type RS485Reader struct {
	src     source
	max     int
	frame   []byte // unescaped content of the frame being read, cap max
	raw     int    // bytes consumed for the frame being read
	esc     bool   // the previous byte was ESC
	badEsc  bool   // an ESC was followed by neither ESC_END nor ESC_ESC
	tooLong bool   // the content outgrew max
	dec     mqttsn.Decoder

	frames, badCRC, oversize, malformed, noise counter
}

// NewRS485Reader returns a reader of the rs485 framing over r that drops
// frames whose unescaped content (header, packet and CRC) exceeds
// maxFrame octets; 0 means DefaultMaxFrame.
func NewRS485Reader(r io.Reader, maxFrame int) *RS485Reader {
	m := frameBound(maxFrame)
	return &RS485Reader{src: newSource(r), max: m, frame: make([]byte, 0, m)}
}

// Stats returns the reader's counters.
func (r *RS485Reader) Stats() RS485Stats {
	return RS485Stats{Frames: r.frames.get(), BadCRC: r.badCRC.get(), Oversize: r.oversize.get(),
		Malformed: r.malformed.get(), NoiseBytes: r.noise.get()}
}

// ReadFrame returns the next good frame, dropping and counting the bad
// ones. At the end of the stream, a frame cut short is counted as noise
// and the reader's error is returned.
func (r *RS485Reader) ReadFrame() (RS485Frame, error) {
	for {
		c, err := r.src.next()
		if err != nil {
			r.noise.add(r.raw)
			r.reset()
			return RS485Frame{}, err
		}
		r.raw++
		switch {
		case c == slipEnd:
			if f, ok := r.finish(); ok {
				return f, nil
			}
		case r.esc:
			r.esc = false
			switch c {
			case slipEscEnd:
				r.put(slipEnd)
			case slipEscEsc:
				r.put(slipEsc)
			default:
				r.badEsc = true
				r.put(c)
			}
		case c == slipEsc:
			r.esc = true
		default:
			r.put(c)
		}
	}
}

func (r *RS485Reader) put(c byte) {
	if len(r.frame) == r.max {
		r.tooLong = true
		return
	}
	r.frame = append(r.frame, c)
}

func (r *RS485Reader) reset() {
	r.frame, r.raw, r.esc, r.badEsc, r.tooLong = r.frame[:0], 0, false, false, false
}

// finish judges the bytes before an END.
func (r *RS485Reader) finish() (RS485Frame, bool) {
	b, raw, badEsc, tooLong := r.frame, r.raw, r.badEsc || r.esc, r.tooLong
	r.reset()
	switch {
	case raw == 1: // END right after END: the gap between two frames
		return RS485Frame{}, false
	case tooLong:
		r.oversize.inc()
		return RS485Frame{}, false
	case !rs485Header(b):
		r.noise.add(raw - 1) // the END itself belongs to the next frame
		return RS485Frame{}, false
	case badEsc:
		r.malformed.inc()
		return RS485Frame{}, false
	}
	n := len(b) - 2
	if CRC16(b[:n]) != uint16(b[n])<<8|uint16(b[n+1]) {
		r.badCRC.inc()
		return RS485Frame{}, false
	}
	hdr := int(b[0])
	f := RS485Frame{NodeID: b[3:hdr], Ctrl: b[2], Packet: b[hdr:n]}
	if len(f.Packet) > 0 {
		if _, err := r.dec.Decode(f.Packet); err != nil {
			r.malformed.inc()
			return RS485Frame{}, false
		}
	} else {
		f.Packet = nil
	}
	r.frames.inc()
	return f, true
}

// rs485Header reports whether b can hold a frame: a Forwarder
// Encapsulation header with a 1- or 2-octet node id, then the CRC.
func rs485Header(b []byte) bool {
	return len(b) >= rs485MinFrame && (b[0] == 4 || b[0] == 5) && b[1] == byte(mqttsn.ENCAPSULATED) && int(b[0])+2 <= len(b)
}

// AppendRS485 appends one frame of the rs485 framing to dst: END, the
// escaped Forwarder Encapsulation header (Length, 0xFE, ctrl, nodeID),
// packet and CRC-16/XMODEM (most significant octet first), END. nodeID is
// 1 or 2 octets; packet is one MQTT-SN message, or empty for a poll.
func AppendRS485(dst []byte, nodeID []byte, ctrl byte, packet []byte) ([]byte, error) {
	if len(nodeID) != 1 && len(nodeID) != 2 {
		return dst, errors.New("serial: rs485: node id of " + strconv.Itoa(len(nodeID)) + " octets, want 1 or 2")
	}
	if len(packet) > 0 {
		if n, err := mqttsn.FrameLen(packet); err != nil || n != len(packet) {
			return dst, errors.New("serial: rs485: packet of " + strconv.Itoa(len(packet)) + " octets is not one MQTT-SN message")
		}
	}
	hdr := [5]byte{byte(3 + len(nodeID)), byte(mqttsn.ENCAPSULATED), ctrl}
	copy(hdr[3:], nodeID)
	crc := crc16Update(crc16Update(0, hdr[:hdr[0]]), packet)
	dst = append(dst, slipEnd)
	dst = appendSLIP(dst, hdr[:hdr[0]])
	dst = appendSLIP(dst, packet)
	dst = appendSLIP(dst, []byte{byte(crc >> 8), byte(crc)})
	return append(dst, slipEnd), nil
}

// AppendRS485Poll appends a poll for nodeID: a frame with no packet.
func AppendRS485Poll(dst []byte, nodeID []byte) ([]byte, error) {
	return AppendRS485(dst, nodeID, 0, nil)
}

func appendSLIP(dst, b []byte) []byte {
	for _, c := range b {
		switch c {
		case slipEnd:
			dst = append(dst, slipEsc, slipEscEnd)
		case slipEsc:
			dst = append(dst, slipEsc, slipEscEsc)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
