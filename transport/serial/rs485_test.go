package serial

import (
	"bytes"
	"io"
	"testing"
)

func TestCRC16(t *testing.T) {
	if got := CRC16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("CRC16(123456789) = %#04x, want 0x31C3", got)
	}
	if got := CRC16(nil); got != 0 {
		t.Fatalf("CRC16(nil) = %#04x", got)
	}
}

// TestCRC16Table recomputes the table bit by bit: poly 0x1021, MSB first.
func TestCRC16Table(t *testing.T) {
	for i := range 256 {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		if crc16Table[i] != c {
			t.Fatalf("crc16Table[%d] = %#04x, want %#04x", i, crc16Table[i], c)
		}
	}
}

type rs485Case struct {
	name string
	node []byte
	ctrl byte
	pkt  []byte
	wire []byte
}

// rs485Cases: END, escaped (Length, 0xFE, Ctrl, node id, packet, CRC
// big-endian), END. CRC values computed independently (Python's
// binascii.crc_hqx, which is CRC-16/XMODEM with init 0).
var rs485Cases = []rs485Case{
	// poll of node 1: header 04 fe 00 01, CRC 0x2283.
	{"poll-1", []byte{0x01}, 0, nil, hx("c0 04 fe 00 01 22 83 c0")},
	// poll of 2-octet node 0x002a: header 05 fe 00 00 2a, CRC 0x9b68.
	{"poll-2-octet", []byte{0x00, 0x2a}, 0, nil, hx("c0 05 fe 00 00 2a 9b 68 c0")},
	{"publish", []byte{0x01}, 0, pktPublish, hx("c0 04 fe 00 01 0b 0c 20 00 05 00 02 32 31 2e 35 88 eb c0")},
	// the package documentation's and FRAMING.md's example; CRC 0xd5fa.
	{"pingreq-node-1", []byte{0x01}, 0, pktPingreq, hx("c0 04 fe 00 01 02 16 d5 fa c0")},
	{"pingreq-node-1234", []byte{0x12, 0x34}, 0, pktPingreq, hx("c0 05 fe 00 12 34 02 16 93 87 c0")},
	// node id 0xC0 and a packet holding 0xDB 0xC0: both escaped; CRC 0x9234.
	{"escapes", []byte{0xC0}, 1, pktPubrec, hx("c0 04 fe 01 db dc 04 0f db dd db dc 92 34 c0")},
}

func TestRS485Table(t *testing.T) {
	for _, c := range rs485Cases {
		t.Run(c.name, func(t *testing.T) {
			wire, err := AppendRS485(nil, c.node, c.ctrl, c.pkt)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(wire, c.wire) {
				t.Fatalf("AppendRS485:\n got  % x\n want % x", wire, c.wire)
			}
			if c.pkt == nil {
				poll, _ := AppendRS485Poll(nil, c.node)
				if !bytes.Equal(poll, c.wire) {
					t.Fatalf("AppendRS485Poll: % x", poll)
				}
			}
			for _, r := range readers(c.wire) {
				rd := NewRS485Reader(r, 0)
				f, err := rd.ReadFrame()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(f.NodeID, c.node) || f.Ctrl != c.ctrl || !bytes.Equal(f.Packet, c.pkt) || f.IsPoll() != (c.pkt == nil) {
					t.Fatalf("read %+v", f)
				}
				if _, err := rd.ReadFrame(); err != io.EOF {
					t.Fatalf("after the frame: %v", err)
				}
				if st := rd.Stats(); st != (RS485Stats{Frames: 1}) {
					t.Fatalf("stats %+v", st)
				}
			}
		})
	}
}

func TestRS485Addr(t *testing.T) {
	if a := (RS485Frame{NodeID: []byte{0x2a}}).Addr(); a != 0x2a {
		t.Errorf("1-octet Addr = %#x", a)
	}
	if a := (RS485Frame{NodeID: []byte{0x12, 0x34}}).Addr(); a != 0x1234 {
		t.Errorf("2-octet Addr = %#x", a)
	}
}

func TestRS485Drops(t *testing.T) {
	good := rs485Cases[2].wire
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-2] ^= 0x01
	badEsc := hx("c0 04 fe 00 01 db 01 22 83 c0")
	// CRC good (computed over it) but the packet's Length is wrong.
	badPkt := hx("c0 04 fe 00 01 05 16 4c 6d c0")
	bigPkt := append(hx("01 04 09 0c 00 00 05 00 00"), bytes.Repeat([]byte{0x55}, 1024)...) // PUBLISH of 1033 octets
	big, err := AppendRS485(nil, []byte{1}, 0, bigPkt)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		wire  []byte
		n     int
		stats RS485Stats
	}{
		{"bad-crc", cat(badCRC, good), 1, RS485Stats{Frames: 1, BadCRC: 1}},
		{"noise-between", cat(good, hx("55 aa 00"), good), 2, RS485Stats{Frames: 2, NoiseBytes: 3}},
		{"noise-with-end-inside", cat(good, hx("55 c0 aa c0"), good), 2, RS485Stats{Frames: 2, NoiseBytes: 2}},
		{"noise-at-start", cat(hx("01 02 03 04 05 06 07"), good), 1, RS485Stats{Frames: 1, NoiseBytes: 7}},
		{"bad-escape", cat(badEsc, good), 1, RS485Stats{Frames: 1, Malformed: 1}},
		{"bad-packet", cat(badPkt, good), 1, RS485Stats{Frames: 1, Malformed: 1}},
		{"oversize", cat(big, good), 1, RS485Stats{Frames: 1, Oversize: 1}},
		{"back-to-back-ends", cat(hx("c0 c0 c0"), good, hx("c0 c0")), 1, RS485Stats{Frames: 1}},
		// the leading END delimits; the 7 octets after it are counted.
		{"cut-short-at-eof", cat(good, good[:8]), 1, RS485Stats{Frames: 1, NoiseBytes: 7}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range readers(c.wire) {
				rd := NewRS485Reader(r, 0)
				n := 0
				for {
					f, err := rd.ReadFrame()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(f.Packet, pktPublish) {
						t.Fatalf("frame %+v", f)
					}
					n++
				}
				if n != c.n || rd.Stats() != c.stats {
					t.Fatalf("%d frames, stats %+v; want %d, %+v", n, rd.Stats(), c.n, c.stats)
				}
			}
		})
	}
}

func TestRS485LargeFrameWithinBound(t *testing.T) {
	bigPkt := append(hx("01 04 09 0c 00 00 05 00 00"), bytes.Repeat([]byte{0xC0}, 1024)...)
	wire, err := AppendRS485(nil, []byte{9}, 0, bigPkt)
	if err != nil {
		t.Fatal(err)
	}
	rd := NewRS485Reader(bytes.NewReader(wire), 2048)
	f, err := rd.ReadFrame()
	if err != nil || !bytes.Equal(f.Packet, bigPkt) {
		t.Fatalf("read %d octets, %v", len(f.Packet), err)
	}
}

func TestAppendRS485Errors(t *testing.T) {
	for _, c := range []struct {
		node, pkt []byte
	}{{nil, nil}, {[]byte{1, 2, 3}, nil}, {[]byte{1}, hx("05 16")}, {[]byte{1}, hx("02 16 00")}} {
		out, err := AppendRS485([]byte{0xAA}, c.node, 0, c.pkt)
		if err == nil || !bytes.Equal(out, []byte{0xAA}) {
			t.Errorf("node % x packet % x: %v, % x", c.node, c.pkt, err, out)
		}
	}
}

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
