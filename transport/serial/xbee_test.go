package serial

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

// The two examples of Digi's XBee API documentation (Transmit Request
// "TxData0A", Receive Packet "RxData", checksums 0x13 and 0x0D), escaped
// for API mode 2: 0x13 and 0x7D become 7d 33 and 7d 5d.
var (
	digiTransmit = XBeeTransmit{FrameID: 0x01, Dst64: 0x0013A200400A0127, Dst16: 0xFFFE, Data: []byte("TxData0A")}
	digiTxWire   = hx("7e 00 16 10 01 00 7d 33 a2 00 40 0a 01 27 ff fe 00 00 54 78 44 61 74 61 30 41 7d 33")
	digiReceive  = XBeeReceive{Src64: 0x0013A20040522BAA, Src16: 0x7D84, Options: 0x01, Data: []byte("RxData")}
	digiRxWire   = hx("7e 00 12 90 00 7d 33 a2 00 40 52 2b aa 7d 5d 84 01 52 78 44 61 74 61 0d")
	// the same radio delivering an MQTT-SN PINGREQ: checksum 0x39.
	pingRxWire = hx("7e 00 0e 90 00 7d 33 a2 00 40 52 2b aa 7d 5d 84 01 02 16 39")
)

func TestXBeeTable(t *testing.T) {
	tx, err := AppendXBeeTransmit(nil, digiTransmit)
	if err != nil || !bytes.Equal(tx, digiTxWire) {
		t.Fatalf("AppendXBeeTransmit:\n got  % x\n want % x (%v)", tx, digiTxWire, err)
	}
	rx, err := AppendXBeeReceive(nil, digiReceive)
	if err != nil || !bytes.Equal(rx, digiRxWire) {
		t.Fatalf("AppendXBeeReceive:\n got  % x\n want % x (%v)", rx, digiRxWire, err)
	}
	ping := digiReceive
	ping.Data = pktPingreq
	if rx, _ := AppendXBeeReceive(nil, ping); !bytes.Equal(rx, pingRxWire) {
		t.Fatalf("PINGREQ receive: % x", rx)
	}
	for _, r := range readers(cat(digiTxWire, digiRxWire, pingRxWire)) {
		rd := NewXBeeReader(r, 0)
		f, err := rd.ReadFrame()
		if err != nil || f.API != XBeeTransmitRequest {
			t.Fatalf("frame 1: %+v %v", f, err)
		}
		if got, err := f.Transmit(); err != nil || !reflect.DeepEqual(got, digiTransmit) {
			t.Fatalf("Transmit: %+v %v", got, err)
		}
		if _, err := f.Receive(); err == nil {
			t.Fatal("a transmit request parsed as a receive packet")
		}
		f, _ = rd.ReadFrame()
		if got, err := f.Receive(); err != nil || !reflect.DeepEqual(got, digiReceive) {
			t.Fatalf("Receive: %+v %v", got, err)
		}
		f, _ = rd.ReadFrame()
		if got, err := f.Receive(); err != nil || !bytes.Equal(got.Data, pktPingreq) || got.Src64 != 0x0013A20040522BAA {
			t.Fatalf("Receive PINGREQ: %+v %v", got, err)
		}
		if _, err := rd.ReadFrame(); err != io.EOF {
			t.Fatalf("after the frames: %v", err)
		}
		if st := rd.Stats(); st != (XBeeStats{Frames: 3}) {
			t.Fatalf("stats %+v", st)
		}
	}
}

func TestXBeeGenericFrame(t *testing.T) {
	// Transmit Status 0x8B: frame id 1, 16-bit 0x7D84, retries 0, status 0, discovery 0.
	wire, err := AppendXBee(nil, XBeeTransmitStatus, hx("01 7d 84 00 00 00"))
	if err != nil {
		t.Fatal(err)
	}
	// sum 8b+01+7d+84 = 0x18d -> 0x8d; checksum 0xff-0x8d = 0x72.
	if want := hx("7e 00 07 8b 01 7d 5d 84 00 00 00 72"); !bytes.Equal(wire, want) {
		t.Fatalf("got % x, want % x", wire, want)
	}
	f, err := NewXBeeReader(bytes.NewReader(wire), 0).ReadFrame()
	if err != nil || f.API != XBeeTransmitStatus || !bytes.Equal(f.Data, hx("01 7d 84 00 00 00")) {
		t.Fatalf("%+v %v", f, err)
	}
}

func TestXBeeDrops(t *testing.T) {
	badSum := bytes.Clone(pingRxWire)
	badSum[len(badSum)-1] ^= 0xFF
	big, _ := AppendXBee(nil, 0x90, make([]byte, 2000))
	cases := []struct {
		name  string
		wire  []byte
		n     int
		stats XBeeStats
	}{
		{"bad-checksum", cat(badSum, pingRxWire), 1, XBeeStats{Frames: 1, BadChecksum: 1}},
		{"garbage-before", cat(hx("00 11 13 ff"), pingRxWire), 1, XBeeStats{Frames: 1, SkippedBytes: 4}},
		{"cut-short-by-start", cat(pingRxWire[:9], pingRxWire), 1, XBeeStats{Frames: 1, Malformed: 1}},
		{"zero-length", cat(hx("7e 00 00 ff"), pingRxWire), 1, XBeeStats{Frames: 1, Malformed: 1, SkippedBytes: 1}},
		// the 2001 octets of the oversize frame are skipped as garbage.
		{"oversize", cat(big, pingRxWire), 1, XBeeStats{Frames: 1, Oversize: 1, SkippedBytes: uint64(len(big) - 3)}},
		{"cut-short-at-eof", cat(pingRxWire, pingRxWire[:9]), 1, XBeeStats{Frames: 1, Malformed: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range readers(c.wire) {
				rd := NewXBeeReader(r, 0)
				n := 0
				for {
					f, err := rd.ReadFrame()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if rx, err := f.Receive(); err != nil || !bytes.Equal(rx.Data, pktPingreq) {
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

func TestXBeeParseShort(t *testing.T) {
	if _, err := (XBeeFrame{API: XBeeReceivePacket, Data: make([]byte, 10)}).Receive(); err == nil {
		t.Error("10-octet receive packet accepted")
	}
	if _, err := (XBeeFrame{API: XBeeTransmitRequest, Data: make([]byte, 12)}).Transmit(); err == nil {
		t.Error("12-octet transmit request accepted")
	}
	if _, err := AppendXBee(nil, 0x10, make([]byte, 0xFFFF)); err == nil {
		t.Error("frame data of 65536 octets accepted")
	}
}
