package bridge

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// countingConn counts the writes that reach it.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

// TestBridgeConnCoalesces: many small writes arrive whole and in order,
// in fewer writes to the network while the reader is slow; Close sends
// what is buffered.
func TestBridgeConnCoalesces(t *testing.T) {
	a, b := net.Pipe()
	cc := &countingConn{Conn: a}
	c := newBridgeConn(cc)
	var want bytes.Buffer
	for i := range 1000 {
		p := []byte{byte(i), byte(i >> 8), 0xAA}
		want.Write(p)
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan []byte)
	go func() {
		time.Sleep(20 * time.Millisecond) // let writes pile up
		data, _ := io.ReadAll(b)
		got <- data
	}()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if data := <-got; !bytes.Equal(data, want.Bytes()) {
		t.Fatalf("read %d bytes, want %d in order", len(data), want.Len())
	}
	if cc.writes >= 1000 {
		t.Fatalf("%d writes to the network for 1000 packets", cc.writes)
	}
	t.Logf("1000 packets in %d network writes", cc.writes)
}

// TestBridgeConnError: once a network write fails, Write returns the
// error, and a Write blocked on a full buffer is released.
func TestBridgeConnError(t *testing.T) {
	a, b := net.Pipe()
	c := newBridgeConn(a)
	defer c.Close()
	b.Close() // the peer goes away: the flusher's write fails
	big := make([]byte, connWriteBuffer)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Write(big)
		if err != nil {
			if !errors.Is(err, io.ErrClosedPipe) {
				t.Fatalf("Write after the peer closed: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Write never reported the failed network write")
		}
	}
}
