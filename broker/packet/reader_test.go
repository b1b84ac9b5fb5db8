package packet

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns its chunks one Read at a time (a chunk bigger than
// the caller's buffer is split), then err (io.EOF when nil).
type chunkReader struct {
	chunks [][]byte
	err    error
	reads  int // Read calls
	given  int // bytes returned
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.reads++
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	c.given += n
	return n, nil
}

type framed struct {
	h    Header
	body []byte
}

// frames splits a stream of whole packets with ParseHeader.
func frames(t *testing.T, stream []byte) []framed {
	var out []framed
	for len(stream) > 0 {
		h, n, err := ParseHeader(stream)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, framed{h, stream[n : n+h.Remaining]})
		stream = stream[n+h.Remaining:]
	}
	return out
}

func tableStream(ps []tpacket) []byte {
	var s []byte
	for _, p := range ps {
		s = append(s, p.raw...)
	}
	return s
}

// readAll reads packets until an error and checks them against want.
func readAll(t *testing.T, rd *Reader, want []framed) error {
	t.Helper()
	for i := 0; ; i++ {
		h, body, err := rd.Next()
		if err != nil {
			if i != len(want) && err == io.EOF {
				t.Fatalf("EOF after %d packets, want %d", i, len(want))
			}
			return err
		}
		if i >= len(want) {
			t.Fatalf("packet %d beyond the %d sent", i, len(want))
		}
		if h != want[i].h || !bytes.Equal(body, want[i].body) {
			t.Fatalf("packet %d: %+v % x, want %+v % x", i, h, body, want[i].h, want[i].body)
		}
		if cap(body) != len(body) {
			t.Fatalf("packet %d: body capacity %d > length %d: an append would overwrite the next packet", i, cap(body), len(body))
		}
	}
}

// TestReaderSplitEverywhere feeds the table's packets in two reads split
// at every byte boundary, through buffers small enough to force growth and
// compaction.
func TestReaderSplitEverywhere(t *testing.T) {
	stream := tableStream(allTPackets())
	want := frames(t, stream)
	for _, size := range []int{16, 64, DefaultReaderSize} {
		for k := 0; k <= len(stream); k++ {
			src := &chunkReader{chunks: [][]byte{bytes.Clone(stream[:k]), bytes.Clone(stream[k:])}}
			rd := NewReaderSize(src, 0, size)
			if err := readAll(t, rd, want); err != io.EOF {
				t.Fatalf("size %d split %d: %v", size, k, err)
			}
		}
	}
}

func TestReaderAwkwardSources(t *testing.T) {
	stream := tableStream(tpacketsV5)
	want := frames(t, stream)
	sources := map[string]func() io.Reader{
		"one byte":        func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half":            func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"data with EOF":   func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
		"empty reads too": func() io.Reader { return &emptyEvery{r: bytes.NewReader(stream)} },
	}
	for name, src := range sources {
		if err := readAll(t, NewReaderSize(src(), 0, 16), want); err != io.EOF {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// emptyEvery returns (0, nil) before every real read.
type emptyEvery struct {
	r    io.Reader
	flip bool
}

func (e *emptyEvery) Read(p []byte) (int, error) {
	e.flip = !e.flip
	if e.flip {
		return 0, nil
	}
	return e.r.Read(p)
}

// TestReaderManyPacketsPerRead: 300 small PUBLISH packets arrive in a few
// reads of a 2 KiB buffer, not one read each.
func TestReaderManyPacketsPerRead(t *testing.T) {
	p := &Publish{Topic: bs("s/1"), Payload: bs("21.5")}
	var stream []byte
	for range 300 {
		stream = p.Append(stream, V311)
	}
	src := &chunkReader{chunks: [][]byte{stream}}
	rd := NewReader(src, 0)
	if err := readAll(t, rd, frames(t, stream)); err != io.EOF {
		t.Fatal(err)
	}
	if len(stream) <= DefaultReaderSize || src.reads > 3 {
		t.Fatalf("%d bytes took %d reads", len(stream), src.reads)
	}
	if rd.BufferSize() != DefaultReaderSize {
		t.Fatalf("buffer grew to %d for small packets", rd.BufferSize())
	}
}

// TestReaderTooLarge: the size is checked from the fixed header, before the
// body is read or the buffer grows.
func TestReaderTooLarge(t *testing.T) {
	head := AppendVarint([]byte{0x30}, 1_000_000)
	src := &chunkReader{chunks: [][]byte{head, make([]byte, 1_000_000)}}
	rd := NewReader(src, 1<<16)
	_, _, err := rd.Next()
	var e *Error
	if !errors.As(err, &e) || e.Code != PacketTooLarge || e.Packet != PUBLISH || !strings.Contains(e.Msg, "1000004") {
		t.Fatalf("got %v", err)
	}
	if rd.BufferSize() != DefaultReaderSize || src.given > DefaultReaderSize {
		t.Fatalf("buffer %d bytes, %d bytes read: the body was read", rd.BufferSize(), src.given)
	}
	if _, _, err2 := rd.Next(); err2 != err {
		t.Fatalf("error not sticky: %v", err2)
	}

	// The limit counts the fixed header: a 100-byte packet passes a limit of
	// 100 and fails a limit of 99.
	pkt := (&Publish{Topic: bs("t"), Payload: make([]byte, 95)}).Append(nil, V311)
	if len(pkt) != 100 {
		t.Fatalf("test packet is %d bytes", len(pkt))
	}
	if _, _, err := NewReader(bytes.NewReader(pkt), 100).Next(); err != nil {
		t.Fatalf("limit 100: %v", err)
	}
	if _, _, err := NewReader(bytes.NewReader(pkt), 99).Next(); !errors.Is(err, PacketTooLarge) {
		t.Fatalf("limit 99: %v", err)
	}
}

func TestReaderEOF(t *testing.T) {
	ping := []byte{0xC0, 0}
	cases := []struct {
		name string
		in   []byte
		n    int // packets before the error
		err  error
	}{
		{"empty", nil, 0, io.EOF},
		{"whole packets", append(bytes.Clone(ping), ping...), 2, io.EOF},
		{"inside the fixed header", append(bytes.Clone(ping), 0x30), 1, io.ErrUnexpectedEOF},
		{"inside the remaining length", []byte{0x30, 0x80}, 0, io.ErrUnexpectedEOF},
		{"inside the body", []byte{0x30, 5, 0, 1, 'a'}, 0, io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		rd := NewReader(bytes.NewReader(c.in), 0)
		var err error
		n := 0
		for ; ; n++ {
			if _, _, err = rd.Next(); err != nil {
				break
			}
		}
		if n != c.n || err != c.err {
			t.Errorf("%s: %d packets then %v, want %d then %v", c.name, n, err, c.n, c.err)
		}
		if _, _, again := rd.Next(); again != err {
			t.Errorf("%s: second call %v", c.name, again)
		}
	}
}

// TestReaderSourceError: packets read before a source error are delivered
// first, then the error.
func TestReaderSourceError(t *testing.T) {
	boom := errors.New("connection reset")
	src := &chunkReader{chunks: [][]byte{{0xC0, 0, 0xD0, 0}}, err: boom}
	rd := NewReader(src, 0)
	for i := 0; i < 2; i++ {
		if _, _, err := rd.Next(); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	if _, _, err := rd.Next(); err != boom {
		t.Fatalf("got %v", err)
	}
}

func TestReaderBadHeader(t *testing.T) {
	rd := NewReader(bytes.NewReader([]byte{0xC0, 0, 0x62, 2, 0, 1, 0x60, 2, 0, 1}), 0)
	for i := 0; i < 2; i++ {
		if _, _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := rd.Next()
	var e *Error
	if !errors.As(err, &e) || e.Code != MalformedPacket || e.Packet != PUBREL || e.Field != "flags" {
		t.Fatalf("got %v", err)
	}
}

func TestReaderNoProgress(t *testing.T) {
	_, _, err := NewReader(&emptyEvery{r: iotest.ErrReader(nil)}, 0).Next()
	if err == nil {
		t.Fatal("no error")
	}
	_, _, err = NewReader(zeroReader{}, 0).Next()
	if err != io.ErrNoProgress {
		t.Fatalf("got %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// TestReaderShrinksAfterBigPacket: the buffer grows for one big packet and
// goes back to its initial size before waiting for the next input, so an
// idle connection does not keep it.
func TestReaderShrinksAfterBigPacket(t *testing.T) {
	bigPkt := (&Publish{Topic: bs("big"), Payload: make([]byte, 50_000)}).Append(nil, V311)
	small := (&Publish{Topic: bs("s"), Payload: bs("1")}).Append(nil, V311)
	src := &chunkReader{chunks: [][]byte{bigPkt, small, small}}
	rd := NewReader(src, 1<<20)
	if _, body, err := rd.Next(); err != nil || len(body) != len(bigPkt)-4 {
		t.Fatalf("big packet: %v", err)
	}
	if rd.BufferSize() < len(bigPkt) {
		t.Fatalf("buffer %d smaller than the packet", rd.BufferSize())
	}
	if _, _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	if rd.BufferSize() != DefaultReaderSize {
		t.Fatalf("buffer still %d bytes after the big packet", rd.BufferSize())
	}
	if _, _, err := rd.Next(); err != nil || rd.Buffered() != 0 {
		t.Fatalf("%v, %d buffered", err, rd.Buffered())
	}
}

// TestReaderKeepsBigBufferForBackToBackBigPackets: while the next big
// packet's header is already buffered the buffer is reused, not shrunk and
// regrown.
func TestReaderKeepsBigBufferForBackToBackBigPackets(t *testing.T) {
	bigPkt := (&Publish{Topic: bs("big"), Payload: make([]byte, 10_000)}).Append(nil, V311)
	stream := bytes.Repeat(bigPkt, 5)
	rd := NewReader(&chunkReader{chunks: [][]byte{stream}}, 0)
	if _, _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	size := rd.BufferSize()
	for i := 0; i < 4; i++ {
		if _, _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
		if rd.BufferSize() != size {
			t.Fatalf("packet %d: buffer went from %d to %d", i, size, rd.BufferSize())
		}
	}
}

// loopReader serves the same bytes forever, whole packets per Read.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off += n
	if l.off == len(l.data) {
		l.off = 0
	}
	return n, nil
}

func TestReaderNoAllocs(t *testing.T) {
	var stream []byte
	for i := 0; i < 50; i++ {
		stream = (&Publish{QoS: 1, PacketID: uint16(i + 1), Topic: bs("sensors/a/b"), Payload: make([]byte, 64)}).Append(stream, V311)
	}
	rd := NewReader(&loopReader{data: stream}, 0)
	if n := testing.AllocsPerRun(1000, func() {
		if _, _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocs per packet", n)
	}
}

// TestPooledReaderAdapts: a pooled Reader grows while its reads fill the
// buffer, up to 64 KiB, and is back at its initial size once it has caught
// up with the source, returning buffers to the pool.
func TestPooledReaderAdapts(t *testing.T) {
	var pool BufferPool
	p := Publish{Topic: []byte("a/b"), Payload: make([]byte, 100)}
	one := p.Append(nil, V311)
	var stream []byte
	for range 2000 { // ~214 KB, available at once: the sender is ahead
		stream = append(stream, one...)
	}
	src := &chunkReader{chunks: [][]byte{stream}}
	rd := NewPooledReader(src, 1<<20, 500, &pool)
	if rd.BufferSize() != 512 {
		t.Fatalf("initial buffer %d, want 512 (a pool class)", rd.BufferSize())
	}
	largest := 0
	for range 2000 {
		if _, _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
		largest = max(largest, rd.BufferSize())
	}
	if largest != maxGrowSize {
		t.Fatalf("largest buffer %d, want %d", largest, maxGrowSize)
	}
	if src.reads > 20 {
		t.Fatalf("%d reads for 214 KB: the buffer did not grow", src.reads)
	}
	// Caught up: the next Next shrinks before waiting on the source.
	src.chunks = [][]byte{one}
	if _, _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	if rd.BufferSize() != 512 {
		t.Fatalf("buffer %d after catching up, want 512", rd.BufferSize())
	}
	// A buffer went back to the pool and comes out again.
	if b := pool.get(maxGrowSize); len(b) != maxGrowSize {
		t.Fatalf("pool gave %d bytes", len(b))
	}
	rd.Release()
	if _, _, err := rd.Next(); err == nil {
		t.Fatal("Next after Release succeeded")
	}
}
