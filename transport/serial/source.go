package serial

import (
	"io"
	"sync/atomic"
)

// DefaultMaxFrame bounds the frame a reader accepts when its options leave
// the bound at zero: 1 KiB, more than any MQTT-SN radio or RS-485 node
// sends, and little enough for a gateway with several lines.
const DefaultMaxFrame = 1024

// readChunk is how much a reader asks its io.Reader for at once.
const readChunk = 512

// maxEmptyReads is how many (0, nil) reads in a row a reader tolerates
// before it gives up with io.ErrNoProgress, like bufio.
const maxEmptyReads = 100

// source is the read side of the byte-at-a-time readers: a fixed buffer
// refilled from r and a sticky error.
type source struct {
	r        io.Reader
	buf      []byte
	pos, end int
	err      error
}

func newSource(r io.Reader) source { return source{r: r, buf: make([]byte, readChunk)} }

// next returns the next byte, reading more when the buffer is empty.
func (s *source) next() (byte, error) {
	if s.pos == s.end {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	c := s.buf[s.pos]
	s.pos++
	return c, nil
}

func (s *source) fill() error {
	if s.err != nil {
		return s.err
	}
	for range maxEmptyReads {
		n, err := s.r.Read(s.buf)
		s.pos, s.end = 0, n
		if err != nil {
			s.err = err
		}
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	s.err = io.ErrNoProgress
	return s.err
}

// counter is a statistic that a metrics goroutine may read while the
// reader's own goroutine adds to it.
type counter struct{ atomic.Uint64 }

func (c *counter) inc()        { c.Add(1) }
func (c *counter) add(n int)   { c.Add(uint64(n)) }
func (c *counter) get() uint64 { return c.Load() }

// frameBound returns n, or DefaultMaxFrame when n is not positive.
func frameBound(n int) int {
	if n <= 0 {
		return DefaultMaxFrame
	}
	return n
}
