// Package load is a cheap MQTT 3.1.1 load generator for whole-broker
// benchmarks. It speaks raw TCP through edgemq's own codec (broker/packet):
// publishers encode many PUBLISH packets into one buffer and send them with
// one write, subscribers frame packets out of large reads with a
// packet.Reader, and nothing on the per-message path allocates. The load
// process is meant to run on its own core beside the broker's, and it
// reports its own CPU so that a reader can tell which side was saturated.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// version is the protocol level of every benchmark client: 3.1.1, which
// both brokers speak and which carries no per-packet properties.
const version = packet.V311

// handshakeTimeout bounds CONNECT/CONNACK and SUBSCRIBE/SUBACK.
const handshakeTimeout = 10 * time.Second

// readBufferSize is the initial packet.Reader buffer of a client: large
// enough that one read system call brings hundreds of small PUBLISHes.
const readBufferSize = 64 << 10

// ConnectOptions are the CONNECT fields a benchmark client sets.
type ConnectOptions struct {
	ClientID     string
	CleanSession bool   // false asks for a persistent session
	KeepAlive    uint16 // seconds; 0 disables the broker's keep-alive timeout
}

// Client is one MQTT connection. It is not safe for concurrent use, except
// that one goroutine may write (Write) while another reads (Next).
type Client struct {
	nc net.Conn
	rd *packet.Reader
}

// Dial connects to addr, sends CONNECT and waits for a successful CONNACK.
func Dial(ctx context.Context, addr string, o ConnectOptions) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Client{nc: nc, rd: packet.NewReaderSize(nc, 0, readBufferSize)}
	if err := c.connect(o); err != nil {
		nc.Close()
		return nil, fmt.Errorf("client %s: %w", o.ClientID, err)
	}
	return c, nil
}

// AppendConnect appends the CONNECT packet of o to dst.
func AppendConnect(dst []byte, o ConnectOptions) []byte {
	p := packet.Connect{CleanStart: o.CleanSession, KeepAlive: o.KeepAlive, ClientID: []byte(o.ClientID)}
	return p.Append(dst, version)
}

func (c *Client) connect(o ConnectOptions) error {
	c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	defer c.nc.SetDeadline(time.Time{})
	if _, err := c.nc.Write(AppendConnect(nil, o)); err != nil {
		return fmt.Errorf("writing CONNECT: %w", err)
	}
	return readConnack(c.rd)
}

// readConnack reads one packet from rd and checks it is a CONNACK that
// accepts the connection.
func readConnack(rd *packet.Reader) error {
	h, body, err := rd.Next()
	if err != nil {
		return fmt.Errorf("reading CONNACK: %w", err)
	}
	if h.Type != packet.CONNACK {
		return fmt.Errorf("expected CONNACK, got %v", h.Type)
	}
	var ack packet.Connack
	if err := ack.Decode(h, body, version); err != nil {
		return err
	}
	if ack.Code != packet.Success {
		return fmt.Errorf("CONNACK refused the connection: return code 0x%02x", byte(ack.Code))
	}
	return nil
}

// Subscribe subscribes to filter at qos and waits for the SUBACK, which must
// grant exactly qos (a benchmark at a lower QoS would measure the wrong thing).
func (c *Client) Subscribe(filter string, qos byte) error {
	c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	defer c.nc.SetDeadline(time.Time{})
	p := packet.Subscribe{PacketID: 1, Subs: []packet.Subscription{{Filter: []byte(filter), QoS: qos}}}
	if _, err := c.nc.Write(p.Append(nil, version)); err != nil {
		return fmt.Errorf("writing SUBSCRIBE %q: %w", filter, err)
	}
	for {
		h, body, err := c.rd.Next()
		if err != nil {
			return fmt.Errorf("reading SUBACK for %q: %w", filter, err)
		}
		if h.Type != packet.SUBACK {
			continue // e.g. a retained message of an earlier run: not ours to judge
		}
		var ack packet.Suback
		if err := ack.Decode(h, body, version); err != nil {
			return err
		}
		if ack.PacketID != 1 || len(ack.Codes) != 1 || byte(ack.Codes[0]) != qos {
			return fmt.Errorf("SUBACK for %q: packet id %d, codes %v; want id 1 granting QoS %d",
				filter, ack.PacketID, ack.Codes, qos)
		}
		return nil
	}
}

// Write writes b in one call (a batch of encoded packets).
func (c *Client) Write(b []byte) error {
	_, err := c.nc.Write(b)
	return err
}

// Next returns the next packet; the body is valid until the next call.
func (c *Client) Next() (packet.Header, []byte, error) { return c.rd.Next() }

// Buffered reports bytes read but not yet returned by Next: 0 means the
// next call to Next reads from the socket.
func (c *Client) Buffered() int { return c.rd.Buffered() }

// Disconnect sends DISCONNECT and closes the connection.
func (c *Client) Disconnect() error {
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	var d packet.Disconnect
	_, err := c.nc.Write(d.Append(nil, version))
	return errors.Join(err, c.nc.Close())
}

// Close closes the connection without DISCONNECT.
func (c *Client) Close() error { return c.nc.Close() }

// interrupt makes a Next blocked in another goroutine return
// os.ErrDeadlineExceeded.
func (c *Client) interrupt() { c.nc.SetReadDeadline(time.Unix(1, 0)) }

// isClosed reports whether err only says that the connection was closed or
// interrupted on purpose.
func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded)
}
