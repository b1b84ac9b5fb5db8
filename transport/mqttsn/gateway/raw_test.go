package gateway_test

import (
	"bytes"
	"encoding/hex"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// rawClient speaks MQTT-SN as byte strings written from the specification
// (MQTT-SN v1.2 section 5.4), so that the return codes and layouts are
// checked octet by octet.
type rawClient struct {
	t    *testing.T
	conn *net.UDPConn
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn}
}

// h decodes a hex fixture; spaces separate octets, 'x' quotes ASCII.
func h(s string) []byte {
	var out []byte
	for _, f := range strings.Fields(s) {
		if f[0] == '\'' {
			out = append(out, f[1:len(f)-1]...)
			continue
		}
		b, err := hex.DecodeString(f)
		if err != nil {
			panic(err)
		}
		out = append(out, b...)
	}
	return out
}

func (r *rawClient) send(b []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// read returns the next datagram, or nil after d.
func (r *rawClient) read(d time.Duration) []byte {
	buf := make([]byte, 65536)
	r.conn.SetReadDeadline(time.Now().Add(d))
	n, err := r.conn.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// expect reads one datagram and compares it octet by octet.
func (r *rawClient) expect(want []byte) {
	r.t.Helper()
	got := r.read(5 * time.Second)
	if !bytes.Equal(got, want) {
		r.t.Fatalf("got  % X\nwant % X", got, want)
	}
}

// connect sends CONNECT [5.4.4] (clean session, Duration d seconds) for
// id and expects CONNACK "accepted" [5.4.5].
func (r *rawClient) connect(id string, d byte) {
	r.t.Helper()
	r.send(append([]byte{byte(6 + len(id)), 0x04, 0x04, 0x01, 0x00, d}, id...))
	r.expect(h("03 05 00"))
}

// expectSet reads len(want) datagrams and checks that they are want, in
// any order.
func (r *rawClient) expectSet(want ...[]byte) {
	r.t.Helper()
	left := append([][]byte(nil), want...)
	for range want {
		got := r.read(5 * time.Second)
		i := slices.IndexFunc(left, func(w []byte) bool { return bytes.Equal(w, got) })
		if i < 0 {
			r.t.Fatalf("got % X, want one of % X", got, left)
		}
		left = slices.Delete(left, i, i+1)
	}
}

// expectOneOf reads one datagram and checks that it is one of want.
func (r *rawClient) expectOneOf(want ...[]byte) {
	r.t.Helper()
	got := r.read(5 * time.Second)
	if !slices.ContainsFunc(want, func(w []byte) bool { return bytes.Equal(w, got) }) {
		r.t.Fatalf("got % X, want one of % X", got, want)
	}
}
