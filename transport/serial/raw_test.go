package serial

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// hx turns "0b 0c 20" into bytes; tests spell wire images in hex.
func hx(s string) []byte {
	b, err := hex.DecodeString(string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)))
	if err != nil {
		panic(err)
	}
	return b
}

// Packets used across the framing tests.
var (
	pktPublish = hx("0b 0c 20 00 05 00 02 32 31 2e 35") // PUBLISH QoS 1, topic 5, msg 2, "21.5"
	pktPingreq = hx("02 16")                            // PINGREQ
	pktPubrec  = hx("04 0f db c0")                      // PUBREC, msg id 0xDBC0: SLIP's ESC and END as data
	pktLong    = append(hx("01 01 35 0c 20 00 03 00 04"), bytes.Repeat([]byte{0x42}, 300)...)
	pkt512     = append(hx("01 02 00 0c 20 00 03 00 04"), bytes.Repeat([]byte{0xFF}, 503)...)
)

type rawFrame struct{ node, pkt []byte }

// rawCases: frames and their exact wire image.
var rawCases = []struct {
	name   string
	encap  bool
	frames []rawFrame
	wire   []byte
}{
	{"bare", false, []rawFrame{{nil, pktPublish}, {nil, pktPingreq}},
		hx("0b 0c 20 00 05 00 02 32 31 2e 35  02 16")},
	{"bare-3-octet-length", false, []rawFrame{{nil, pktLong}, {nil, pktPingreq}}, append(append([]byte{}, pktLong...), 0x02, 0x16)},
	// [MQTT-SN 5.5] Length 4 = 3 + 1-octet node id 0x07, Ctrl 0.
	{"encapsulated", true, []rawFrame{{[]byte{0x07}, pktPublish}, {[]byte{0x01, 0x02}, pktPingreq}},
		hx("04 fe 00 07  0b 0c 20 00 05 00 02 32 31 2e 35  05 fe 00 01 02  02 16")},
	// the package documentation's example: PINGREQ from node 0x2A.
	{"encapsulated-doc-example", true, []rawFrame{{[]byte{0x2a}, pktPingreq}}, hx("04 fe 00 2a 02 16")},
	// mqtt-sn-tools' serial bridge with --fe: no node id.
	{"encapsulated-no-node", true, []rawFrame{{[]byte{}, pktPingreq}}, hx("03 fe 00 02 16")},
}

func TestRawTable(t *testing.T) {
	for _, c := range rawCases {
		t.Run(c.name, func(t *testing.T) {
			var wire []byte
			for _, f := range c.frames {
				var err error
				if wire, err = AppendRaw(wire, c.encap, f.node, f.pkt); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(wire, c.wire) {
				t.Fatalf("AppendRaw:\n got  % x\n want % x", wire, c.wire)
			}
			for _, r := range readers(c.wire) {
				got, st := readAllRaw(t, NewRawReader(r, RawOptions{Encapsulated: c.encap}))
				if len(got) != len(c.frames) {
					t.Fatalf("read %d frames, want %d", len(got), len(c.frames))
				}
				for i, f := range c.frames {
					if !bytes.Equal(got[i].node, f.node) || (got[i].node == nil) != (f.node == nil) || !bytes.Equal(got[i].pkt, f.pkt) {
						t.Errorf("frame %d: got %x/% x, want %x/% x", i, got[i].node, got[i].pkt, f.node, f.pkt)
					}
				}
				if st != (RawStats{Frames: uint64(len(c.frames))}) {
					t.Errorf("stats %+v", st)
				}
			}
		})
	}
}

// readers returns the same bytes behind readers that split them
// differently: whole, in two halves, one byte at a time.
func readers(b []byte) []io.Reader {
	h := len(b) / 2
	return []io.Reader{bytes.NewReader(b),
		io.MultiReader(bytes.NewReader(b[:h]), bytes.NewReader(b[h:])),
		iotest.OneByteReader(bytes.NewReader(b))}
}

func readAllRaw(t testing.TB, r *RawReader) ([]rawFrame, RawStats) {
	var out []rawFrame
	for {
		node, pkt, err := r.ReadFrame()
		if err == io.EOF {
			return out, r.Stats()
		}
		if err != nil {
			t.Fatalf("ReadFrame: %v", err)
		}
		f := rawFrame{pkt: append([]byte(nil), pkt...)}
		if node != nil {
			f.node = append([]byte{}, node...)
		}
		out = append(out, f)
	}
}

func TestRawResync(t *testing.T) {
	cases := []struct {
		name   string
		encap  bool
		max    int
		wire   []byte
		frames [][]byte
		stats  RawStats
	}{
		{"garbage-before", false, 0, append(hx("00 00 ff"), pktPingreq...), [][]byte{pktPingreq},
			RawStats{Frames: 1, SkippedBytes: 3, Resyncs: 1}},
		// 0x05 0x17: PINGRESP cannot be 5 octets; skip one octet at a time
		// until "02 16" lines up.
		{"bad-packet-then-good", false, 0, hx("05 17 00 00 00  02 16"), [][]byte{pktPingreq},
			RawStats{Frames: 1, SkippedBytes: 5, Resyncs: 1}},
		{"garbage-between", false, 0, append(append(append([]byte{}, pktPingreq...), hx("00 01 00 02")...), pktPublish...),
			[][]byte{pktPingreq, pktPublish}, RawStats{Frames: 2, SkippedBytes: 4, Resyncs: 1}},
		{"two-runs", false, 0, hx("00 02 16 00 00 02 16"), [][]byte{pktPingreq, pktPingreq},
			RawStats{Frames: 2, SkippedBytes: 3, Resyncs: 2}},
		// 0x40 promises 64 octets; at the end of the stream it is refuted
		// and the PINGREQ inside is found.
		{"long-length-at-eof", false, 0, hx("40 02 16"), [][]byte{pktPingreq},
			RawStats{Frames: 1, SkippedBytes: 1, Resyncs: 1}},
		{"truncated-tail", false, 0, append(append([]byte{}, pktPingreq...), pktPublish[:6]...), [][]byte{pktPingreq},
			RawStats{Frames: 1, SkippedBytes: 6, Resyncs: 1}},
		// A 512-octet PUBLISH over a 256-octet bound: no octet of it starts
		// a frame, so all 512 are skipped.
		{"over-max", false, 256, append(append([]byte{}, pkt512...), pktPingreq...), [][]byte{pktPingreq},
			RawStats{Frames: 1, SkippedBytes: 512, Resyncs: 1}},
		// Resynchronising by one octet can find a frame inside another's
		// payload: 01 01 35 0c... over a bound of 256 yields the 0x35-octet
		// PUBLISH that starts at its third octet.
		{"false-frame-inside", false, 256, append(append([]byte{}, pktLong...), pktPingreq...),
			[][]byte{pktLong[2 : 2+0x35], pktPingreq}, RawStats{Frames: 2, SkippedBytes: 2 + 309 - 2 - 0x35, Resyncs: 2}},
		{"encapsulated-skips-bare", true, 0, append(append([]byte{}, pktPingreq...), hx("04 fe 00 07 02 16")...), [][]byte{pktPingreq},
			RawStats{Frames: 1, SkippedBytes: 2, Resyncs: 1}},
		{"encapsulated-bad-inner", true, 0, hx("04 fe 00 07 03 17 00  04 fe 00 07 02 16"), [][]byte{pktPingreq},
			RawStats{Frames: 1, SkippedBytes: 7, Resyncs: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range readers(c.wire) {
				got, st := readAllRaw(t, NewRawReader(r, RawOptions{Encapsulated: c.encap, MaxFrame: c.max}))
				if len(got) != len(c.frames) {
					t.Fatalf("read %d frames, want %d", len(got), len(c.frames))
				}
				for i := range got {
					if !bytes.Equal(got[i].pkt, c.frames[i]) {
						t.Errorf("frame %d: % x, want % x", i, got[i].pkt, c.frames[i])
					}
				}
				if st != c.stats {
					t.Errorf("stats %+v, want %+v", st, c.stats)
				}
			}
		})
	}
}

func TestRawReaderPassesReadError(t *testing.T) {
	boom := errors.New("line unplugged")
	r := NewRawReader(io.MultiReader(bytes.NewReader(pktPingreq), iotest.ErrReader(boom)), RawOptions{})
	if _, pkt, err := r.ReadFrame(); err != nil || !bytes.Equal(pkt, pktPingreq) {
		t.Fatalf("first frame: % x, %v", pkt, err)
	}
	if _, _, err := r.ReadFrame(); err != boom {
		t.Fatalf("got %v, want the reader's error", err)
	}
}

func TestRawReaderNoProgress(t *testing.T) {
	r := NewRawReader(emptyReader{}, RawOptions{})
	if _, _, err := r.ReadFrame(); err != io.ErrNoProgress {
		t.Fatalf("got %v, want io.ErrNoProgress", err)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestRawWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewRawWriter(&buf, true)
	if err := w.WriteFrame([]byte{7}, pktPublish); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame([]byte{1, 2}, pktPingreq); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), rawCases[2].wire) {
		t.Fatalf("wrote % x", buf.Bytes())
	}
	if err := w.WriteFrame(nil, hx("05 16")); err == nil {
		t.Fatal("wrote a packet whose Length is wrong")
	}
	if _, err := AppendRaw(nil, false, []byte{1}, pktPingreq); err == nil {
		t.Fatal("accepted a node id for a bare line")
	}
	if _, err := AppendRaw(nil, false, nil, hx("02 16 00")); err == nil {
		t.Fatal("accepted trailing bytes after a packet")
	}
}
