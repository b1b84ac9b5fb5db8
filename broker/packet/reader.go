package packet

import (
	"io"
	"math/bits"
	"strconv"
	"sync"
)

// DefaultReaderSize is the buffer a Reader starts with and shrinks back to.
// It holds dozens of small PUBLISH packets, so that one read system call
// brings many of them, while an idle connection costs only this much.
const DefaultReaderSize = 2048

// minReaderSize bounds NewReaderSize: a fixed header must always fit.
const minReaderSize = 16

// maxEmptyReads bounds consecutive reads that return no data and no error.
const maxEmptyReads = 100

// Reader frames MQTT packets from an io.Reader through one reusable buffer.
//
// It reads as much as the buffer holds (many packets per read), hands out
// each packet body as a view into the buffer, moves a partial packet to the
// front before reading more, and grows the buffer only for a packet bigger
// than it. It checks the whole packet size against the maximum before
// growing. After a big packet, when it next has to wait for input with no
// big packet pending, it goes back to a buffer of its initial size, so an
// idle connection holds only that.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	src  io.Reader
	max  int    // maximum packet size, fixed header included; 0: MaxRemaining + 5
	size int    // initial buffer size, also the size it shrinks back to
	buf  []byte // buf[r:w] is read but not yet returned
	r, w int
	err  error // sticky: a decode error, or the read error once buffered packets are out
	rerr error // read error not reported yet

	pool *BufferPool // where buffers come from and go back to; nil: make
	full bool        // the last read filled the buffer: the sender is ahead
}

// maxGrowSize is the largest buffer a Reader grows to because its reads
// fill the buffer (a busy sender); only a bigger packet makes it larger.
const maxGrowSize = 64 << 10

// BufferPool recycles Reader buffers by power-of-two size class, from
// 512 bytes to 64 KiB, so that Readers can grow while a sender is busy and
// shrink back while it is idle without making garbage. It is safe for
// concurrent use; the zero value is ready.
type BufferPool struct {
	classes [8]sync.Pool // 512 << i
}

func poolClass(n int) int {
	if n <= 512 {
		return 0
	}
	return bits.Len(uint(n-1)) - 9
}

// get returns a buffer of at least n bytes (exactly a class size when
// pooled).
func (p *BufferPool) get(n int) []byte {
	c := poolClass(n)
	if p == nil || c >= len(p.classes) {
		return make([]byte, n)
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 512<<c)
}

// put returns b to its class, if it is exactly a class size.
func (p *BufferPool) put(b []byte) {
	if p == nil || len(b) < 512 {
		return
	}
	c := poolClass(len(b))
	if c >= len(p.classes) || len(b) != 512<<c {
		return
	}
	p.classes[c].Put(&b)
}

// NewReader returns a Reader with a DefaultReaderSize buffer that rejects
// packets bigger than maxPacketSize bytes (fixed header included) with an
// *Error of Code PacketTooLarge. maxPacketSize <= 0 means the protocol limit.
func NewReader(r io.Reader, maxPacketSize int) *Reader {
	return NewReaderSize(r, maxPacketSize, DefaultReaderSize)
}

// NewReaderSize is NewReader with an initial buffer of size bytes
// (at least 16).
func NewReaderSize(r io.Reader, maxPacketSize, size int) *Reader {
	return NewPooledReader(r, maxPacketSize, size, nil)
}

// NewPooledReader is NewReaderSize with buffers taken from and returned to
// pool. Such a Reader also grows, up to 64 KiB, while its reads fill the
// buffer, and shrinks back to size whenever it has caught up with its
// source, so an idle connection holds size bytes and a busy one reads many
// packets per system call. Release returns the buffer when done.
func NewPooledReader(r io.Reader, maxPacketSize, size int, pool *BufferPool) *Reader {
	size = max(size, minReaderSize)
	if maxPacketSize <= 0 || maxPacketSize > MaxRemaining+5 {
		maxPacketSize = MaxRemaining + 5
	}
	if pool != nil && size <= maxGrowSize {
		size = 512 << poolClass(size) // a class size, so shrinking lands on it
	}
	rd := &Reader{src: r, max: maxPacketSize, size: size, pool: pool}
	rd.buf = rd.alloc(size)
	return rd
}

func (rd *Reader) alloc(n int) []byte {
	if rd.pool == nil {
		return make([]byte, n)
	}
	return rd.pool.get(n)
}

// Release returns the Reader's buffer to its pool; the Reader must not be
// used afterwards.
func (rd *Reader) Release() {
	rd.pool.put(rd.buf)
	rd.buf = nil
	if rd.err == nil {
		rd.err = io.ErrClosedPipe
	}
}

// Buffered returns the number of bytes read from the source but not yet
// returned by Next: when it is 0, the next Next will read.
func (rd *Reader) Buffered() int { return rd.w - rd.r }

// BufferSize returns the current size of the buffer (for tests and memory
// accounting).
func (rd *Reader) BufferSize() int { return len(rd.buf) }

// Next returns the next packet's fixed header and body. The body is a view
// into the Reader's buffer, valid until the next call to Next.
//
// Errors: io.EOF when the source ends at a packet boundary,
// io.ErrUnexpectedEOF when it ends inside a packet, the source's error, or
// an *Error for a bad fixed header or a packet over the maximum size
// (Code PacketTooLarge). Errors are sticky: later calls return the same
// error.
func (rd *Reader) Next() (Header, []byte, error) {
	if rd.err != nil {
		return Header{}, nil, rd.err
	}
	for {
		h, n, err := ParseHeader(rd.buf[rd.r:rd.w])
		need := 0 // whole packet size, when known
		if err == nil {
			need = n + h.Remaining
			if need > rd.max { // checked before the buffer grows
				rd.err = &Error{Code: PacketTooLarge, Packet: h.Type, Field: "remaining length",
					Msg: "packet of " + strconv.Itoa(need) + " bytes exceeds the maximum of " + strconv.Itoa(rd.max)}
				return h, nil, rd.err
			}
			if need <= rd.w-rd.r {
				body := rd.buf[rd.r+n : rd.r+need : rd.r+need]
				rd.r += need
				return h, body, nil
			}
		} else if err != ErrIncomplete {
			rd.err = err
			return h, nil, err
		}
		if err := rd.fill(need); err != nil {
			rd.err = err
			return Header{}, nil, err
		}
	}
}

// fill reads at least one more byte into the buffer, making room for a
// packet of need bytes (0: size unknown yet, the header is incomplete).
func (rd *Reader) fill(need int) error {
	pending := rd.w - rd.r
	if rd.rerr != nil {
		if rd.rerr == io.EOF && pending > 0 {
			return io.ErrUnexpectedEOF
		}
		return rd.rerr
	}
	switch {
	case need > len(rd.buf):
		rd.resize(max(need, min(2*len(rd.buf), rd.max)))
	case rd.full && rd.pool != nil && len(rd.buf) < maxGrowSize && need <= 2*len(rd.buf):
		rd.resize(2 * len(rd.buf)) // the sender is ahead: read more at once
	case len(rd.buf) > rd.size && pending <= rd.size && need <= rd.size:
		rd.resize(rd.size) // back to small before waiting for input
	case rd.r > 0:
		copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r, rd.w = 0, pending
	}
	for empty := 0; ; empty++ {
		n, err := rd.src.Read(rd.buf[rd.w:])
		rd.w += n
		rd.full = rd.w == len(rd.buf)
		if err != nil {
			rd.rerr = err
		}
		if n > 0 {
			return nil
		}
		if err != nil {
			return rd.fill(need) // reports rd.rerr
		}
		if empty == maxEmptyReads {
			return io.ErrNoProgress
		}
	}
}

// resize moves the pending bytes into a new buffer of size bytes.
func (rd *Reader) resize(size int) {
	b := rd.alloc(size)
	rd.w = copy(b, rd.buf[rd.r:rd.w])
	rd.r = 0
	if rd.pool != nil {
		rd.pool.put(rd.buf)
	}
	rd.buf = b
}
