package rig

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/edgemq/edgemq/transport/mqttsn"
)

// TestSNClientRetries runs the client against a fake gateway that ignores
// the first PUBLISH: the client sends it again with DUP and the same
// message id, and returns once the PUBACK arrives.
func TestSNClientRetries(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	type seen struct {
		dup   bool
		msgID uint16
		data  []byte
	}
	pubs := make(chan seen, 4)
	go func() {
		var dec mqttsn.Decoder
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m, err := dec.Decode(buf[:n])
			if err != nil {
				t.Errorf("fake gateway: %v", err)
				return
			}
			var reply interface{ Append([]byte) ([]byte, error) }
			switch m := m.(type) {
			case *mqttsn.Connect:
				reply = &mqttsn.ConnAck{ReturnCode: mqttsn.Accepted}
			case *mqttsn.Register:
				reply = &mqttsn.RegAck{TopicID: 7, MsgID: m.MsgID, ReturnCode: mqttsn.Accepted}
			case *mqttsn.Publish:
				pubs <- seen{m.Dup, m.MsgID, bytes.Clone(m.Data)}
				if !m.Dup {
					continue // lose the first send
				}
				reply = &mqttsn.PubAck{TopicID: m.TopicID, MsgID: m.MsgID, ReturnCode: mqttsn.Accepted}
			default:
				continue
			}
			b, _ := reply.Append(nil)
			pc.WriteToUDP(b, from)
		}
	}()
	c, err := DialSN(pc.LocalAddr().String(), "sn-1", 30)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Retry = 100 * time.Millisecond
	id, err := c.Register("soak/sn")
	if err != nil || id != 7 {
		t.Fatalf("Register = %d, %v; want 7", id, err)
	}
	if err := c.Publish1(id, []byte("p1")); err != nil {
		t.Fatal(err)
	}
	first, second := <-pubs, <-pubs
	if first.dup || !second.dup || first.msgID != second.msgID || string(second.data) != "p1" {
		t.Fatalf("sends %+v then %+v: want the same message id, DUP on the second", first, second)
	}
	pc.Close()
	c.Retries = 2
	if err := c.Publish1(id, []byte("p2")); err == nil {
		t.Fatal("Publish1 to a closed gateway succeeded")
	}
}
