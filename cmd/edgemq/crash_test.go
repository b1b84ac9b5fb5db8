package main

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// freePort returns a loopback address with a port free right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a running edgemq process.
type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// startEdgemq runs bin with the config file and waits until addr accepts.
func startEdgemq(t *testing.T, bin, cfg, addr string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, "-c", cfg), stderr: &bytes.Buffer{}}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("edgemq did not listen on %s: %v\n%s", addr, err, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) kill9(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// mqttConn is a minimal 3.1.1 client on our codec.
type mqttConn struct {
	t  *testing.T
	nc net.Conn
	r  *packet.Reader
}

func dialMQTT(t *testing.T, addr, id string, clean bool) (*mqttConn, bool) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &mqttConn{t: t, nc: nc, r: packet.NewReader(nc, 1<<20)}
	p := packet.Connect{ClientID: []byte(id), CleanStart: clean, KeepAlive: 60}
	nc.Write(p.Append(nil, packet.V311))
	h, body := c.next()
	var ack packet.Connack
	if h.Type != packet.CONNACK || ack.Decode(h, body, packet.V311) != nil || ack.Code != 0 {
		t.Fatalf("connect %s: %v %+v", id, h.Type, ack)
	}
	return c, ack.SessionPresent
}

func (c *mqttConn) next() (packet.Header, []byte) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, body, err := c.r.Next()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return h, body
}

// TestCrashKeepsAcknowledged publishes QoS 1 messages to a persistent
// session's subscription while the subscriber is offline, kill -9s edgemq
// in the middle of the stream, restarts it and reconnects the subscriber:
// every message that was acknowledged with PUBACK arrives. On each engine.
func TestCrashKeepsAcknowledged(t *testing.T) {
	bin := buildEdgemq(t)
	for _, engine := range []string{"bolt", "badger"} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			addr := freePort(t)
			cfg := writeFile(t, dir, "edgemq.yaml", fmt.Sprintf(`
data_dir: %s/data
storage: {engine: %s, sync: batch}
listeners:
  - {type: tcp, address: "%s"}
auth: {allow_anonymous: true}
log: {level: warn}
`, dir, engine, addr))
			p := startEdgemq(t, bin, cfg, addr)

			sub, _ := dialMQTT(t, addr, "survivor", false)
			s := packet.Subscribe{PacketID: 1, Subs: []packet.Subscription{{Filter: []byte("crash/#"), QoS: 1}}}
			sub.nc.Write(s.Append(nil, packet.V311))
			if h, _ := sub.next(); h.Type != packet.SUBACK {
				t.Fatalf("got %v, want SUBACK", h.Type)
			}
			sub.nc.Close()

			// Publish with a window of 50 unacknowledged messages; kill -9
			// once 1000 acknowledgements have come back, with more in flight.
			pub, _ := dialMQTT(t, addr, "pub", true)
			acked := map[string]bool{}
			const window, killAt = 50, 1000
			sent := 0
			pending := 0
			var buf []byte
			for len(acked) < killAt {
				buf = buf[:0]
				for pending < window {
					sent++
					pending++
					m := packet.Publish{Topic: []byte("crash/x"), QoS: 1, PacketID: uint16(sent%65535 + 1), Payload: []byte(strconv.Itoa(sent))}
					buf = m.Append(buf, packet.V311)
				}
				pub.nc.Write(buf)
				h, body := pub.next()
				var a packet.Ack
				if h.Type != packet.PUBACK || a.Decode(h, body, packet.V311) != nil {
					t.Fatalf("got %v, want PUBACK", h.Type)
				}
				acked[strconv.Itoa(int(a.PacketID)-1)] = true
				pending--
			}
			p.kill9(t)
			t.Logf("%s: killed after %d acknowledged, %d sent", engine, len(acked), sent)

			startEdgemq(t, bin, cfg, addr)
			sub2, present := dialMQTT(t, addr, "survivor", false)
			if !present {
				t.Fatal("persistent session lost in the crash")
			}
			got := map[string]bool{}
			for {
				sub2.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
				h, body, err := sub2.r.Next()
				if err != nil {
					break
				}
				if h.Type != packet.PUBLISH {
					continue
				}
				var m packet.Publish
				if err := m.Decode(h, body, packet.V311); err != nil {
					t.Fatal(err)
				}
				got[string(m.Payload)] = true
				a := packet.Ack{Type: packet.PUBACK, PacketID: m.PacketID}
				sub2.nc.Write(a.Append(nil, packet.V311))
			}
			missing := 0
			for m := range acked {
				if !got[m] {
					missing++
				}
			}
			if missing > 0 {
				t.Fatalf("%d of %d acknowledged messages lost in the crash (received %d)", missing, len(acked), len(got))
			}
			for m := range got {
				if n, err := strconv.Atoi(m); err != nil || n < 1 || n > sent {
					t.Fatalf("received %q, which was never published", m)
				}
			}
			t.Logf("%s: all %d acknowledged messages delivered after kill -9 (%d received in all)", engine, len(acked), len(got))
		})
	}
}
