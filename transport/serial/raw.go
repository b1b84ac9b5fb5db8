package serial

import (
	"errors"
	"io"
	"strconv"

	"github.com/edgemq/edgemq/transport/mqttsn"
)

// RawOptions configures the raw framing.
type RawOptions struct {
	// Encapsulated: every packet on the line is wrapped in a Forwarder
	// Encapsulation that names its node. The reader then skips frames that
	// are not, and the writer wraps every packet.
	Encapsulated bool
	// MaxFrame is the largest frame accepted, encapsulation included; 0
	// means DefaultMaxFrame. At most 65535+255.
	MaxFrame int
}

// RawStats counts what a RawReader has seen.
type RawStats struct {
	Frames       uint64 // frames returned
	SkippedBytes uint64 // bytes dropped while resynchronising
	Resyncs      uint64 // runs of skipped bytes: how often the line lost sync
}

// RawReader reads the raw framing: MQTT-SN packets back to back, each
// delimited by its own Length field, optionally inside a Forwarder
// Encapsulation. When the bytes at the read position cannot be a frame (a
// Length that cannot be valid or exceeds MaxFrame, or a packet that does not
// decode), it skips one byte and tries again, counting what it skipped.
//
// A frame whose Length promises more bytes than have arrived is waited for:
// garbage that looks like a long Length delays resynchronisation until
// enough bytes have arrived to refute it, or the stream ends.
//
// A RawReader is not safe for concurrent use, except Stats.
type RawReader struct {
	r            io.Reader
	encapsulated bool
	max          int
	buf          []byte
	start, end   int
	err          error
	skipping     bool
	dec          mqttsn.Decoder

	frames, skipped, resyncs counter
}

// NewRawReader returns a reader of the raw framing over r.
func NewRawReader(r io.Reader, opts RawOptions) *RawReader {
	m := frameBound(opts.MaxFrame)
	if m > 0xFFFF+0xFF {
		m = 0xFFFF + 0xFF
	}
	return &RawReader{r: r, encapsulated: opts.Encapsulated, max: m, buf: make([]byte, max(2*m, 4096))}
}

// Stats returns the reader's counters.
func (r *RawReader) Stats() RawStats {
	return RawStats{Frames: r.frames.get(), SkippedBytes: r.skipped.get(), Resyncs: r.resyncs.get()}
}

// ReadFrame returns the next frame: the Wireless Node Id of its Forwarder
// Encapsulation (nil when the packet came bare) and the MQTT-SN packet,
// Length field included. A Forwarder Encapsulation is always unwrapped.
// Both slices are views into the reader's buffer, valid until the next
// call. At the end of the stream, bytes that do not make a frame are
// counted as skipped and the reader's error (io.EOF, ...) is returned.
func (r *RawReader) ReadFrame() (nodeID, packet []byte, err error) {
	for {
		avail := r.buf[r.start:r.end]
		n, err := mqttsn.FrameLen(avail)
		switch {
		case err == mqttsn.ErrIncomplete || (err == nil && n <= r.max && n > len(avail)):
			if r.err == nil {
				r.fill()
				continue
			}
			if len(avail) == 0 {
				return nil, nil, r.err
			}
			r.skip() // the stream ended inside this "frame": it was garbage
		case err != nil || n > r.max:
			r.skip()
		default:
			nodeID, packet, ok := r.parse(avail[:n])
			if !ok {
				r.skip()
				continue
			}
			r.start += n
			r.skipping = false
			r.frames.inc()
			return nodeID, packet, nil
		}
	}
}

// parse checks one candidate frame.
func (r *RawReader) parse(frame []byte) (nodeID, packet []byte, ok bool) {
	m, err := r.dec.Decode(frame)
	if err != nil {
		return nil, nil, false
	}
	fw, isFW := m.(*mqttsn.Forwarder)
	if !isFW {
		return nil, frame, !r.encapsulated
	}
	nodeID, packet = fw.NodeID, fw.Message
	if _, err := r.dec.Decode(packet); err != nil {
		return nil, nil, false
	}
	if nodeID == nil {
		nodeID = frame[3:3] // present but empty: not nil, so that callers see the encapsulation
	}
	return nodeID, packet, true
}

func (r *RawReader) skip() {
	r.start++
	r.skipped.inc()
	if !r.skipping {
		r.skipping = true
		r.resyncs.inc()
	}
}

// fill reads more bytes, first moving what is left to the buffer's start.
func (r *RawReader) fill() {
	if r.start > 0 {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	for range maxEmptyReads {
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		if err != nil {
			r.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = io.ErrNoProgress
}

// AppendRaw appends one frame of the raw framing to dst: packet as it is,
// or, when encapsulated, inside a Forwarder Encapsulation with Ctrl 0 and
// nodeID as the Wireless Node Id. packet must be one MQTT-SN message.
func AppendRaw(dst []byte, encapsulated bool, nodeID, packet []byte) ([]byte, error) {
	if !encapsulated {
		if len(nodeID) != 0 {
			return dst, errors.New("serial: raw: node id given for an unencapsulated line")
		}
		if n, err := mqttsn.FrameLen(packet); err != nil || n != len(packet) {
			return dst, errors.New("serial: raw: packet of " + strconv.Itoa(len(packet)) + " octets is not one MQTT-SN message")
		}
		return append(dst, packet...), nil
	}
	fw := mqttsn.Forwarder{NodeID: nodeID, Message: packet}
	return fw.Append(dst)
}

// RawWriter writes frames of the raw framing, one Write call per frame. It
// is not safe for concurrent use.
type RawWriter struct {
	w            io.Writer
	encapsulated bool
	buf          []byte
}

// NewRawWriter returns a writer of the raw framing over w.
func NewRawWriter(w io.Writer, encapsulated bool) *RawWriter {
	return &RawWriter{w: w, encapsulated: encapsulated}
}

// WriteFrame writes packet, encapsulated for nodeID when the line is.
func (w *RawWriter) WriteFrame(nodeID, packet []byte) error {
	b, err := AppendRaw(w.buf[:0], w.encapsulated, nodeID, packet)
	if err != nil {
		return err
	}
	w.buf = b
	_, err = w.w.Write(b)
	return err
}
