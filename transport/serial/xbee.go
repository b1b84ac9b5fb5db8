package serial

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"
)

// XBee API mode 2 octets.
const (
	xbeeStart  = 0x7E // start delimiter, never escaped
	xbeeEscape = 0x7D // escape: the next octet is XORed with 0x20
	xbeeXON    = 0x11
	xbeeXOFF   = 0x13
	xbeeXOR    = 0x20
)

// XBee API frame types used by an MQTT-SN gateway.
const (
	XBeeTransmitRequest = 0x10 // gateway -> radio: send RF data to a node
	XBeeTransmitStatus  = 0x8B // radio -> gateway: outcome of a transmit request
	XBeeReceivePacket   = 0x90 // radio -> gateway: RF data from a node
)

// XBeeBroadcast64 and XBeeUnknown16 address every node, as the 64-bit
// destination and the 16-bit destination of a transmit request.
const (
	XBeeBroadcast64 uint64 = 0x000000000000FFFF
	XBeeUnknown16   uint16 = 0xFFFE
)

// XBeeFrame is one API frame: its API identifier and the frame data after
// it. Data is a view into the reader's buffer, valid until the next
// ReadFrame.
type XBeeFrame struct {
	API  byte
	Data []byte
}

// XBeeReceive is an API 0x90 Receive Packet: RF data from a node. The
// node's identity is Src64.
type XBeeReceive struct {
	Src64   uint64 // the sender's 64-bit address
	Src16   uint16 // the sender's 16-bit network address
	Options byte   // receive options (0x01 acknowledged, 0x02 broadcast)
	Data    []byte // RF data: the MQTT-SN packet
}

// XBeeTransmit is an API 0x10 Transmit Request: RF data to a node.
type XBeeTransmit struct {
	FrameID byte   // 0: no transmit status wanted
	Dst64   uint64 // destination 64-bit address; XBeeBroadcast64 for all
	Dst16   uint16 // destination 16-bit address; XBeeUnknown16 if unknown
	Radius  byte   // broadcast hops; 0 = the radio's maximum
	Options byte   // transmit options
	Data    []byte // RF data: the MQTT-SN packet
}

// Receive parses f as a Receive Packet (0x90).
func (f XBeeFrame) Receive() (XBeeReceive, error) {
	if f.API != XBeeReceivePacket {
		return XBeeReceive{}, errors.New("serial: xbee: API frame 0x" + strconv.FormatUint(uint64(f.API), 16) + " is not a receive packet")
	}
	if len(f.Data) < 11 {
		return XBeeReceive{}, errors.New("serial: xbee: receive packet of " + strconv.Itoa(len(f.Data)) + " octets, want at least 11")
	}
	return XBeeReceive{Src64: binary.BigEndian.Uint64(f.Data), Src16: binary.BigEndian.Uint16(f.Data[8:]),
		Options: f.Data[10], Data: f.Data[11:]}, nil
}

// Transmit parses f as a Transmit Request (0x10).
func (f XBeeFrame) Transmit() (XBeeTransmit, error) {
	if f.API != XBeeTransmitRequest {
		return XBeeTransmit{}, errors.New("serial: xbee: API frame 0x" + strconv.FormatUint(uint64(f.API), 16) + " is not a transmit request")
	}
	if len(f.Data) < 13 {
		return XBeeTransmit{}, errors.New("serial: xbee: transmit request of " + strconv.Itoa(len(f.Data)) + " octets, want at least 13")
	}
	return XBeeTransmit{FrameID: f.Data[0], Dst64: binary.BigEndian.Uint64(f.Data[1:]), Dst16: binary.BigEndian.Uint16(f.Data[9:]),
		Radius: f.Data[11], Options: f.Data[12], Data: f.Data[13:]}, nil
}

// XBeeStats counts what an XBeeReader has seen.
type XBeeStats struct {
	Frames       uint64 // good frames returned
	BadChecksum  uint64 // frames dropped: checksum mismatch
	Oversize     uint64 // frames dropped: Length above the reader's bound
	Malformed    uint64 // frames dropped: Length 0, or cut short by a new start delimiter or the end of the stream
	SkippedBytes uint64 // bytes outside frames (before a start delimiter), skipped
}

type xbeeState uint8

const (
	xbeeHunt xbeeState = iota
	xbeeLenHi
	xbeeLenLo
	xbeeData
	xbeeChecksum
)

// XBeeReader reads XBee API mode 2 (escaped) frames. It allocates nothing
// after NewXBeeReader. It is not safe for concurrent use, except Stats.
type XBeeReader struct {
	src   source
	max   int
	state xbeeState
	esc   bool
	n     int
	sum   byte
	frame []byte

	frames, badSum, oversize, malformed, skipped counter
}

// NewXBeeReader returns a reader of XBee API mode 2 frames over r that
// drops frames whose Length (API identifier and data) exceeds maxFrame;
// 0 means DefaultMaxFrame.
func NewXBeeReader(r io.Reader, maxFrame int) *XBeeReader {
	m := frameBound(maxFrame)
	return &XBeeReader{src: newSource(r), max: m, frame: make([]byte, 0, m)}
}

// Stats returns the reader's counters.
func (r *XBeeReader) Stats() XBeeStats {
	return XBeeStats{Frames: r.frames.get(), BadChecksum: r.badSum.get(), Oversize: r.oversize.get(),
		Malformed: r.malformed.get(), SkippedBytes: r.skipped.get()}
}

// ReadFrame returns the next frame with a good checksum, of any API type.
func (r *XBeeReader) ReadFrame() (XBeeFrame, error) {
	for {
		c, err := r.src.next()
		if err != nil {
			if r.state != xbeeHunt {
				r.malformed.inc()
				r.state = xbeeHunt
			}
			return XBeeFrame{}, err
		}
		if c == xbeeStart {
			if r.state != xbeeHunt {
				r.malformed.inc() // a new frame cuts this one short
			}
			r.state, r.esc, r.n, r.sum, r.frame = xbeeLenHi, false, 0, 0, r.frame[:0]
			continue
		}
		if r.state == xbeeHunt {
			r.skipped.inc()
			continue
		}
		if r.esc {
			c ^= xbeeXOR
			r.esc = false
		} else if c == xbeeEscape {
			r.esc = true
			continue
		}
		switch r.state {
		case xbeeLenHi:
			r.n, r.state = int(c)<<8, xbeeLenLo
		case xbeeLenLo:
			r.n |= int(c)
			switch {
			case r.n == 0:
				r.malformed.inc()
				r.state = xbeeHunt
			case r.n > r.max:
				r.oversize.inc()
				r.state = xbeeHunt
			default:
				r.state = xbeeData
			}
		case xbeeData:
			r.frame = append(r.frame, c)
			r.sum += c
			if len(r.frame) == r.n {
				r.state = xbeeChecksum
			}
		case xbeeChecksum:
			r.state = xbeeHunt
			if r.sum+c != 0xFF {
				r.badSum.inc()
				continue
			}
			r.frames.inc()
			return XBeeFrame{API: r.frame[0], Data: r.frame[1:]}, nil
		}
	}
}

// AppendXBee appends one API mode 2 frame to dst: 0x7E, then escaped the
// 16-bit Length of api+data, api, data and the checksum.
func AppendXBee(dst []byte, api byte, data []byte) ([]byte, error) {
	return appendXBee(dst, api, nil, data)
}

// AppendXBeeTransmit appends a Transmit Request (0x10) frame to dst.
func AppendXBeeTransmit(dst []byte, tx XBeeTransmit) ([]byte, error) {
	var h [13]byte
	h[0] = tx.FrameID
	binary.BigEndian.PutUint64(h[1:], tx.Dst64)
	binary.BigEndian.PutUint16(h[9:], tx.Dst16)
	h[11], h[12] = tx.Radius, tx.Options
	return appendXBee(dst, XBeeTransmitRequest, h[:], tx.Data)
}

// AppendXBeeReceive appends a Receive Packet (0x90) frame to dst, as a
// radio would send it; tests and node simulators use it.
func AppendXBeeReceive(dst []byte, rx XBeeReceive) ([]byte, error) {
	var h [11]byte
	binary.BigEndian.PutUint64(h[:], rx.Src64)
	binary.BigEndian.PutUint16(h[8:], rx.Src16)
	h[10] = rx.Options
	return appendXBee(dst, XBeeReceivePacket, h[:], rx.Data)
}

func appendXBee(dst []byte, api byte, head, data []byte) ([]byte, error) {
	n := 1 + len(head) + len(data)
	if n > 0xFFFF {
		return dst, errors.New("serial: xbee: frame data of " + strconv.Itoa(n) + " octets exceeds 65535")
	}
	dst = append(dst, xbeeStart)
	dst = appendXBeeEscaped(dst, byte(n>>8))
	dst = appendXBeeEscaped(dst, byte(n))
	sum := api
	dst = appendXBeeEscaped(dst, api)
	for _, c := range head {
		sum += c
		dst = appendXBeeEscaped(dst, c)
	}
	for _, c := range data {
		sum += c
		dst = appendXBeeEscaped(dst, c)
	}
	return appendXBeeEscaped(dst, 0xFF-sum), nil
}

func appendXBeeEscaped(dst []byte, c byte) []byte {
	switch c {
	case xbeeStart, xbeeEscape, xbeeXON, xbeeXOFF:
		return append(dst, xbeeEscape, c^xbeeXOR)
	}
	return append(dst, c)
}
