package serial

import (
	"testing"
)

// loopReader returns data over and over, as a line that never goes quiet.
type loopReader struct {
	data []byte
	pos  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.pos:])
		n += c
		l.pos = (l.pos + c) % len(l.data)
	}
	return n, nil
}

func mustRS485(tb testing.TB, node []byte, pkt []byte) []byte {
	b, err := AppendRS485(nil, node, 0, pkt)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestReadPathsAllocateNothing(t *testing.T) {
	raw := NewRawReader(&loopReader{data: cat(pktPublish, pktPingreq)}, RawOptions{})
	rs := NewRS485Reader(&loopReader{data: cat(mustRS485(t, []byte{1}, pktPublish), mustRS485(t, []byte{2}, nil))}, 0)
	xb := NewXBeeReader(&loopReader{data: pingRxWire}, 0)
	for name, read := range map[string]func() error{
		"raw":   func() error { _, _, err := raw.ReadFrame(); return err },
		"rs485": func() error { _, err := rs.ReadFrame(); return err },
		"xbee":  func() error { _, err := xb.ReadFrame(); return err },
	} {
		if a := testing.AllocsPerRun(1000, func() {
			if err := read(); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: %v allocs per frame", name, a)
		}
	}
}

func BenchmarkRawReader(b *testing.B) {
	r := NewRawReader(&loopReader{data: cat(pktPublish, pktPingreq)}, RawOptions{})
	b.ReportAllocs()
	b.SetBytes(int64(len(pktPublish)+len(pktPingreq)) / 2)
	for b.Loop() {
		if _, _, err := r.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawReaderEncapsulated(b *testing.B) {
	wire, _ := AppendRaw(nil, true, []byte{7}, pktPublish)
	r := NewRawReader(&loopReader{data: wire}, RawOptions{Encapsulated: true})
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if _, _, err := r.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRS485Reader(b *testing.B) {
	wire := mustRS485(b, []byte{1}, pktPublish)
	r := NewRS485Reader(&loopReader{data: wire}, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if _, err := r.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendRS485(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendRS485(buf[:0], []byte{1}, 0, pktPublish); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkXBeeReader(b *testing.B) {
	r := NewXBeeReader(&loopReader{data: pingRxWire}, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(pingRxWire)))
	for b.Loop() {
		f, err := r.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Receive(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendXBeeTransmit(b *testing.B) {
	tx := XBeeTransmit{FrameID: 1, Dst64: 0x0013A20040522BAA, Dst16: XBeeUnknown16, Data: pktPublish}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendXBeeTransmit(buf[:0], tx); err != nil {
			b.Fatal(err)
		}
	}
}
