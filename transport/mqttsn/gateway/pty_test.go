package gateway_test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/transport/mqttsn/gateway"
	"github.com/edgemq/edgemq/transport/serial"
)

// ptyLine is a null-modem cable made of two pseudo-terminals linked by
// socat: the gateway opens one end (gw), the node simulator the other
// (node). Killing socat is unplugging the cable; restart plugs it back.
type ptyLine struct {
	t        *testing.T
	gw, node string
	cmd      *exec.Cmd
	stderr   bytes.Buffer
}

func newPTYLine(t *testing.T) *ptyLine {
	t.Helper()
	if _, err := exec.LookPath("socat"); err != nil {
		t.Fatalf("socat is needed to test serial lines over pseudo-terminal pairs and is not installed: apt-get install socat (%v)", err)
	}
	dir := t.TempDir()
	p := &ptyLine{t: t, gw: filepath.Join(dir, "ttyGW"), node: filepath.Join(dir, "ttyNODE")}
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *ptyLine) start() {
	p.t.Helper()
	p.stderr.Reset()
	p.cmd = exec.Command("socat", "pty,raw,echo=0,link="+p.gw, "pty,raw,echo=0,link="+p.node)
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start socat: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, ea := os.Stat(p.gw)
		_, eb := os.Stat(p.node)
		if ea == nil && eb == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("socat did not create %s and %s: %s", p.gw, p.node, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill unplugs the line: socat dies, both pseudo-terminals vanish.
func (p *ptyLine) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
	os.Remove(p.gw)
	os.Remove(p.node)
}

// openNode opens the node's end.
func (p *ptyLine) openNode() io.ReadWriteCloser {
	p.t.Helper()
	rw, err := serial.Open(serial.LineConfig{Device: p.node, Baud: 115200})
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { rw.Close() })
	return rw
}

// newSerialEnv starts a broker and a gateway serving one serial line.
func newSerialEnv(t *testing.T, opts gateway.Options, cfg gateway.SerialConfig) *env {
	t.Helper()
	e := newEnv(t, opts, broker.Options{}, "")
	if err := e.gw.OpenSerial(cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the serial port open", func() bool { return e.serial().Up })
	return e
}

// serial returns the serial line's statistics (the transport after UDP).
func (e *env) serial() gateway.TransportStats {
	return e.gw.Stats().Transports[1]
}

// frames turns a frame reader into a channel, so tests can wait with a
// timeout; read returns the MQTT-SN packet (and node id) of a frame.
type nodeFrame struct {
	node   []byte
	packet []byte
	at     time.Time
}

func readFrames(read func() (node, packet []byte, err error)) chan nodeFrame {
	ch := make(chan nodeFrame, 256)
	go func() {
		defer close(ch)
		for {
			node, pkt, err := read()
			if err != nil {
				return
			}
			ch <- nodeFrame{append([]byte(nil), node...), append([]byte(nil), pkt...), time.Now()}
		}
	}()
	return ch
}

func expectFrame(t *testing.T, ch chan nodeFrame, node, pkt []byte) {
	t.Helper()
	select {
	case f, ok := <-ch:
		if !ok {
			t.Fatal("line closed")
		}
		if !bytes.Equal(f.packet, pkt) || !bytes.Equal(f.node, node) {
			t.Fatalf("got node %X packet % X\nwant node %X packet % X", f.node, f.packet, node, pkt)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for % X", pkt)
	}
}
