package rig

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/edgemq/edgemq/transport/mqttsn"
)

// SNClient is an MQTT-SN v1.2 client over UDP on edgemq's codec: CONNECT,
// REGISTER, and QoS 1 PUBLISH waiting for each PUBACK (retrying as the
// specification's Tretry says). Not safe for concurrent use.
type SNClient struct {
	c     *net.UDPConn
	dec   mqttsn.Decoder
	buf   []byte
	msgID uint16
	// Retry is the wait before a PUBLISH or REGISTER is sent again;
	// Retries bounds the sends.
	Retry   time.Duration
	Retries int
}

// DialSN connects to the gateway at addr as clientID with a keep-alive
// duration (seconds) and a clean session.
func DialSN(addr, clientID string, keepAlive uint16) (*SNClient, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	uc, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, err
	}
	c := &SNClient{c: uc, buf: make([]byte, 2048), Retry: 500 * time.Millisecond, Retries: 5}
	m := &mqttsn.Connect{CleanSession: true, Duration: keepAlive, ClientID: []byte(clientID)}
	got, err := c.exchange(m, func(r mqttsn.Message) bool { _, ok := r.(*mqttsn.ConnAck); return ok })
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("mqtt-sn CONNECT %s: %w", clientID, err)
	}
	if rc := got.(*mqttsn.ConnAck).ReturnCode; rc != mqttsn.Accepted {
		uc.Close()
		return nil, fmt.Errorf("mqtt-sn CONNACK %s: return code %v", clientID, rc)
	}
	return c, nil
}

// Register registers topic and returns its id.
func (c *SNClient) Register(topic string) (uint16, error) {
	id := c.nextID()
	got, err := c.exchange(&mqttsn.Register{MsgID: id, TopicName: []byte(topic)}, func(r mqttsn.Message) bool {
		a, ok := r.(*mqttsn.RegAck)
		return ok && a.MsgID == id
	})
	if err != nil {
		return 0, fmt.Errorf("mqtt-sn REGISTER %q: %w", topic, err)
	}
	a := got.(*mqttsn.RegAck)
	if a.ReturnCode != mqttsn.Accepted {
		return 0, fmt.Errorf("mqtt-sn REGACK %q: return code %v", topic, a.ReturnCode)
	}
	return a.TopicID, nil
}

// Publish1 publishes payload at QoS 1 on a registered topic id and waits
// for the gateway's PUBACK; it reports an error if the gateway refused it
// or never answered.
func (c *SNClient) Publish1(topicID uint16, payload []byte) error {
	id := c.nextID()
	p := &mqttsn.Publish{QoS: 1, TopicIDType: mqttsn.TopicNormal, TopicID: topicID, MsgID: id, Data: payload}
	got, err := c.exchange(p, func(r mqttsn.Message) bool {
		a, ok := r.(*mqttsn.PubAck)
		return ok && a.MsgID == id
	})
	if err != nil {
		return fmt.Errorf("mqtt-sn PUBLISH: %w", err)
	}
	if rc := got.(*mqttsn.PubAck).ReturnCode; rc != mqttsn.Accepted {
		return fmt.Errorf("mqtt-sn PUBACK: return code %v", rc)
	}
	return nil
}

// Disconnect sends DISCONNECT and closes the socket.
func (c *SNClient) Disconnect() error {
	b, _ := (&mqttsn.Disconnect{}).Append(nil)
	_, err := c.c.Write(b)
	return errors.Join(err, c.c.Close())
}

// Close closes the socket without DISCONNECT (the gateway finds the
// client lost after its keep-alive).
func (c *SNClient) Close() error { return c.c.Close() }

func (c *SNClient) nextID() uint16 {
	c.msgID++
	if c.msgID == 0 {
		c.msgID = 1
	}
	return c.msgID
}

// exchange sends m, then waits for a reply that want accepts, sending m
// again (with DUP for a PUBLISH) every Retry, Retries times in all.
func (c *SNClient) exchange(m interface {
	Append([]byte) ([]byte, error)
}, want func(mqttsn.Message) bool) (mqttsn.Message, error) {
	for try := 0; try < c.Retries; try++ {
		if p, ok := m.(*mqttsn.Publish); ok && try > 0 {
			p.Dup = true
		}
		b, err := m.Append(nil)
		if err != nil {
			return nil, err
		}
		if _, err := c.c.Write(b); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(c.Retry)
		for {
			c.c.SetReadDeadline(deadline)
			n, err := c.c.Read(c.buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return nil, err
				}
				break // timed out (or ICMP refused): send again
			}
			r, err := c.dec.Decode(c.buf[:n])
			if err != nil {
				return nil, err
			}
			if want(r) {
				return r, nil
			}
		}
	}
	return nil, fmt.Errorf("no answer after %d sends %v apart", c.Retries, c.Retry)
}
