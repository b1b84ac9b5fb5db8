package serial

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/edgemq/edgemq/transport/mqttsn"
)

// The fuzz targets feed every input three ways, whole, in two halves (as
// nats' parser_fuzz_test.go does) and one byte at a time, and require the
// same frames and the same counters from each: a framing must not depend on
// how the line's bytes arrive.

// rawSeeds, rs485Seeds and xbeeSeeds are the wire images of the table
// tests; FuzzX adds them and TestFuzzCorpus checks them in.
func rawSeeds() [][]byte {
	var s [][]byte
	for _, c := range rawCases {
		s = append(s, c.wire)
	}
	return append(s, hx("00 00 ff 02 16"), hx("05 17 00 00 00 02 16"), hx("40 02 16"),
		hx("04 fe 00 07 03 17 00 04 fe 00 07 02 16"), cat(pktLong, pktPingreq))
}

func rs485Seeds() [][]byte {
	var s [][]byte
	for _, c := range rs485Cases {
		s = append(s, c.wire)
	}
	good := rs485Cases[2].wire
	return append(s, cat(hx("55 c0 aa c0"), good), hx("c0 04 fe 00 01 db 01 22 83 c0"), hx("c0 04 fe 00 01 05 16 4c 6d c0"))
}

func xbeeSeeds() [][]byte {
	return [][]byte{digiTxWire, digiRxWire, pingRxWire, cat(pingRxWire[:9], pingRxWire), hx("7e 00 00 ff"),
		hx("7e 00 07 8b 01 7d 5d 84 00 00 00 72")}
}

func FuzzRawReader(f *testing.F) {
	for _, s := range rawSeeds() {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, encap bool) {
		var first []rawFrame
		var firstStats RawStats
		for i, r := range readers(b) {
			frames, st := readAllRaw(t, NewRawReader(r, RawOptions{Encapsulated: encap}))
			if i == 0 {
				first, firstStats = frames, st
				checkRawFrames(t, b, encap, frames, st)
				continue
			}
			if !reflect.DeepEqual(frames, first) || st != firstStats {
				t.Fatalf("split %d differs:\n %v %+v\n %v %+v", i, frames, st, first, firstStats)
			}
		}
	})
}

// checkRawFrames: every packet decodes, every frame re-encodes, and every
// input byte is in a frame or counted as skipped.
func checkRawFrames(t *testing.T, b []byte, encap bool, frames []rawFrame, st RawStats) {
	var re []byte
	n := 0
	var d mqttsn.Decoder
	for _, f := range frames {
		if _, err := d.Decode(f.pkt); err != nil {
			t.Fatalf("returned a packet that does not decode: % x: %v", f.pkt, err)
		}
		if encap && f.node == nil {
			t.Fatal("bare packet returned on an encapsulated line")
		}
		var err error
		if re, err = AppendRaw(re[:0], f.node != nil, f.node, f.pkt); err != nil {
			t.Fatal(err)
		}
		n += len(re)
	}
	if uint64(n)+st.SkippedBytes != uint64(len(b)) || st.Frames != uint64(len(frames)) {
		t.Fatalf("%d octets in frames + %d skipped != %d", n, st.SkippedBytes, len(b))
	}
}

func FuzzRS485Reader(f *testing.F) {
	for _, s := range rs485Seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var first []RS485Frame
		var firstStats RS485Stats
		for i, r := range readers(b) {
			rd := NewRS485Reader(r, 256)
			var frames []RS485Frame
			for {
				fr, err := rd.ReadFrame()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				frames = append(frames, RS485Frame{NodeID: bytes.Clone(fr.NodeID), Ctrl: fr.Ctrl, Packet: bytes.Clone(fr.Packet)})
			}
			if i > 0 {
				if !reflect.DeepEqual(frames, first) || rd.Stats() != firstStats {
					t.Fatalf("split %d differs:\n %+v %+v\n %+v %+v", i, frames, rd.Stats(), first, firstStats)
				}
				continue
			}
			first, firstStats = frames, rd.Stats()
			for _, fr := range frames {
				wire, err := AppendRS485(nil, fr.NodeID, fr.Ctrl, fr.Packet)
				if err != nil {
					t.Fatalf("frame %+v does not re-encode: %v", fr, err)
				}
				again, err := NewRS485Reader(bytes.NewReader(wire), 256).ReadFrame()
				if err != nil || !bytes.Equal(again.NodeID, fr.NodeID) || again.Ctrl != fr.Ctrl || !bytes.Equal(again.Packet, fr.Packet) {
					t.Fatalf("re-encoded frame reads back as %+v, %v", again, err)
				}
			}
		}
	})
}

func FuzzXBeeReader(f *testing.F) {
	for _, s := range xbeeSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var first []XBeeFrame
		var firstStats XBeeStats
		for i, r := range readers(b) {
			rd := NewXBeeReader(r, 256)
			var frames []XBeeFrame
			for {
				fr, err := rd.ReadFrame()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				frames = append(frames, XBeeFrame{API: fr.API, Data: bytes.Clone(fr.Data)})
			}
			if i > 0 {
				if !reflect.DeepEqual(frames, first) || rd.Stats() != firstStats {
					t.Fatalf("split %d differs", i)
				}
				continue
			}
			first, firstStats = frames, rd.Stats()
			for _, fr := range frames {
				wire, err := AppendXBee(nil, fr.API, fr.Data)
				if err != nil {
					t.Fatal(err)
				}
				again, err := NewXBeeReader(bytes.NewReader(wire), 256).ReadFrame()
				if err != nil || again.API != fr.API || !bytes.Equal(again.Data, fr.Data) {
					t.Fatalf("re-encoded frame reads back as %+v, %v", again, err)
				}
				_, _ = fr.Receive() // must not panic on any frame
				_, _ = fr.Transmit()
			}
		}
	})
}

// TestFuzzCorpus checks that the checked-in corpora hold the seeds.
// EDGEMQ_WRITE_CORPUS=1 writes them.
func TestFuzzCorpus(t *testing.T) {
	type seed struct {
		fuzz string
		body string
	}
	var seeds []seed
	for _, s := range rawSeeds() {
		seeds = append(seeds, seed{"FuzzRawReader", "[]byte(" + strconv.Quote(string(s)) + ")\nbool(false)\n"},
			seed{"FuzzRawReader", "[]byte(" + strconv.Quote(string(s)) + ")\nbool(true)\n"})
	}
	for _, s := range rs485Seeds() {
		seeds = append(seeds, seed{"FuzzRS485Reader", "[]byte(" + strconv.Quote(string(s)) + ")\n"})
	}
	for _, s := range xbeeSeeds() {
		seeds = append(seeds, seed{"FuzzXBeeReader", "[]byte(" + strconv.Quote(string(s)) + ")\n"})
	}
	write := os.Getenv("EDGEMQ_WRITE_CORPUS") == "1"
	for _, s := range seeds {
		dir := filepath.Join("testdata", "fuzz", s.fuzz)
		want := "go test fuzz v1\n" + s.body
		sum := sha256.Sum256([]byte(want))
		path := filepath.Join(dir, "seed-"+hex.EncodeToString(sum[:8]))
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s missing or stale (run with EDGEMQ_WRITE_CORPUS=1): %v", path, err)
		}
	}
}
