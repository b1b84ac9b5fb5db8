package serial

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLineConfigValidation(t *testing.T) {
	cases := []struct {
		cfg  LineConfig
		want string // substring of the error; "" = valid
	}{
		{LineConfig{Device: "/dev/ttyS1", Baud: 19200}, ""},
		{LineConfig{Device: "/dev/ttyS1", Baud: 9600, DataBits: 7, Parity: ParityEven, StopBits: 2}, ""},
		{LineConfig{Baud: 9600}, "device is empty"},
		{LineConfig{Device: "/dev/ttyS1"}, "baud 0"},
		{LineConfig{Device: "/dev/ttyS1", Baud: 9600, DataBits: 9}, "data_bits 9"},
		{LineConfig{Device: "/dev/ttyS1", Baud: 9600, Parity: "mark"}, `parity "mark"`},
		{LineConfig{Device: "/dev/ttyS1", Baud: 9600, StopBits: 3}, "stop_bits 3"},
	}
	for _, c := range cases {
		_, err := c.cfg.mode()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestOpenMissingDevice(t *testing.T) {
	_, err := Open(LineConfig{Device: filepath.Join(t.TempDir(), "ttyNONE"), Baud: 115200})
	if err == nil || !strings.Contains(err.Error(), "ttyNONE") {
		t.Fatalf("got %v, want an error naming the device", err)
	}
}

// ptyPair starts socat with two linked pseudo-terminals and opens both
// ends with Open: what one end writes, the other reads, as on a null-modem
// cable.
func ptyPair(t *testing.T) (a, b io.ReadWriteCloser) {
	t.Helper()
	socat, err := exec.LookPath("socat")
	if err != nil {
		t.Fatalf("socat is needed to test serial lines over a pseudo-terminal pair and is not installed: apt-get install socat (%v)", err)
	}
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "ttyA"), filepath.Join(dir, "ttyB")
	cmd := exec.Command(socat, "pty,raw,echo=0,link="+pa, "pty,raw,echo=0,link="+pb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start socat: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, ea := os.Stat(pa)
		_, eb := os.Stat(pb)
		if ea == nil && eb == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("socat did not create %s and %s: %s", pa, pb, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	open := func(dev string) io.ReadWriteCloser {
		p, err := Open(LineConfig{Device: dev, Baud: 115200})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	return open(pa), open(pb)
}

// readWithin runs read on its own goroutine and fails the test if it does
// not finish within d; closing the line then unblocks it.
func readWithin(t *testing.T, d time.Duration, line io.Closer, read func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- read() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(d):
		_ = line.Close()
		<-done
		t.Fatal("frames did not arrive through the pseudo-terminal")
	}
}

func TestPTYRaw(t *testing.T) {
	for _, encap := range []bool{false, true} {
		t.Run(map[bool]string{false: "bare", true: "encapsulated"}[encap], func(t *testing.T) {
			a, b := ptyPair(t)
			w := NewRawWriter(a, encap)
			var node []byte
			if encap {
				node = []byte{0x2a}
			}
			pkts := [][]byte{pktPublish, pktPingreq, pktLong}
			for _, p := range pkts {
				if err := w.WriteFrame(node, p); err != nil {
					t.Fatal(err)
				}
				if _, err := a.Write([]byte{0x00, 0x00}); err != nil { // line noise
					t.Fatal(err)
				}
			}
			if err := w.WriteFrame(node, pktPingreq); err != nil {
				t.Fatal(err)
			}
			r := NewRawReader(b, RawOptions{Encapsulated: encap})
			readWithin(t, 10*time.Second, b, func() error {
				for i, want := range append(pkts, pktPingreq) {
					gotNode, got, err := r.ReadFrame()
					if err != nil {
						return err
					}
					if !bytes.Equal(got, want) || !bytes.Equal(gotNode, node) {
						t.Errorf("frame %d: %x % x", i, gotNode, got)
					}
				}
				return nil
			})
			if st := r.Stats(); st != (RawStats{Frames: 4, SkippedBytes: 6, Resyncs: 3}) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestPTYRS485(t *testing.T) {
	a, b := ptyPair(t)
	var out []byte
	out, _ = AppendRS485Poll(out, []byte{0x01})
	out = append(out, 0x55, 0xAA) // noise between frames
	out, _ = AppendRS485(out, []byte{0x01}, 0, pktPublish)
	bad, _ := AppendRS485(nil, []byte{0x02}, 0, pktPingreq)
	bad[len(bad)-2] ^= 0xFF // corrupt the CRC
	out = append(out, bad...)
	out, _ = AppendRS485(out, []byte{0xC0, 0xDB}, 0, pktPubrec)
	if _, err := a.Write(out); err != nil {
		t.Fatal(err)
	}
	r := NewRS485Reader(b, 0)
	want := []RS485Frame{{NodeID: []byte{0x01}}, {NodeID: []byte{0x01}, Packet: pktPublish}, {NodeID: []byte{0xC0, 0xDB}, Packet: pktPubrec}}
	readWithin(t, 10*time.Second, b, func() error {
		for i, w := range want {
			f, err := r.ReadFrame()
			if err != nil {
				return err
			}
			if !bytes.Equal(f.NodeID, w.NodeID) || !bytes.Equal(f.Packet, w.Packet) {
				t.Errorf("frame %d: %+v", i, f)
			}
		}
		return nil
	})
	if st := r.Stats(); st != (RS485Stats{Frames: 3, BadCRC: 1, NoiseBytes: 2}) {
		t.Errorf("stats %+v", st)
	}
}

func TestPTYXBee(t *testing.T) {
	a, b := ptyPair(t)
	// gateway -> radio direction on a, radio -> gateway on b, both ways.
	tx := XBeeTransmit{FrameID: 1, Dst64: 0x0013A20040522BAA, Dst16: XBeeUnknown16, Data: pktPublish}
	out, _ := AppendXBeeTransmit(nil, tx)
	out = append(out, 0x11, 0x13) // stray XON/XOFF outside a frame
	out, _ = AppendXBeeReceive(out, XBeeReceive{Src64: 0x0013A20040522BAA, Src16: 0x7D84, Options: 1, Data: pktPubrec})
	if _, err := a.Write(out); err != nil {
		t.Fatal(err)
	}
	r := NewXBeeReader(b, 0)
	readWithin(t, 10*time.Second, b, func() error {
		f, err := r.ReadFrame()
		if err != nil {
			return err
		}
		got, err := f.Transmit()
		if err != nil || got.Dst64 != tx.Dst64 || !bytes.Equal(got.Data, pktPublish) {
			t.Errorf("transmit request: %+v %v", got, err)
		}
		if f, err = r.ReadFrame(); err != nil {
			return err
		}
		rx, err := f.Receive()
		if err != nil || rx.Src64 != 0x0013A20040522BAA || rx.Src16 != 0x7D84 || !bytes.Equal(rx.Data, pktPubrec) {
			t.Errorf("receive packet: %+v %v", rx, err)
		}
		return nil
	})
	if st := r.Stats(); st != (XBeeStats{Frames: 2, SkippedBytes: 2}) {
		t.Errorf("stats %+v", st)
	}
}
