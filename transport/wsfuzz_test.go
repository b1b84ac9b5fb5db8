package transport_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/edgemq/edgemq/transport"
)

// FuzzWSConn sends fuzzed bytes as the frames of an upgraded MQTT over
// WebSocket connection, through a real ws listener, and reads them back
// through the net.Conn the listener hands to the broker (our wsConn
// adapter over gorilla/websocket's framing). Whatever the frames, Read
// must not panic, must end (an error once the peer half-closes), and must
// return a prefix of the payloads of the binary messages the frames carry
// (refFrames): all of them when every frame is well formed.
func FuzzWSConn(f *testing.F) {
	connect := []byte{0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x04, 't', 'e', 's', 't'}
	f.Add(wsFrame(true, 2, connect))
	f.Add(append(wsFrame(false, 2, connect[:5]), wsFrame(true, 0, connect[5:])...))
	f.Add(append(wsFrame(true, 9, []byte("ping")), wsFrame(true, 2, connect)...))
	f.Add(append(wsFrame(false, 2, connect[:3]), append(wsFrame(true, 10, nil), wsFrame(true, 0, connect[3:])...)...))
	f.Add(wsFrame(true, 1, connect))                                                      // text: refused
	f.Add(append(wsFrame(true, 2, connect[:2]), wsFrame(true, 8, []byte{0x03, 0xe8})...)) // close
	f.Add(wsFrame(true, 2, bytes.Repeat([]byte{0x30}, 300)))                              // 16-bit length
	f.Add(wsFrame(true, 2, bytes.Repeat([]byte{0xc0, 0x00}, 40000)))                      // 64-bit length
	f.Add([]byte{0x82, 0x05, 1, 2, 3})                                                    // unmasked
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})             // huge length
	f.Add(wsFrame(true, 2, nil)[:1])                                                      // half a header

	type result struct {
		got       []byte
		err       error
		panicked  any
		remoteKey string
	}
	results := make(chan result, 1)
	h := func(nc net.Conn, _ string) error {
		var r result
		r.remoteKey = nc.RemoteAddr().String()
		func() {
			defer func() { r.panicked = recover() }()
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 7) // small reads: messages split across Reads
			for {
				n, err := nc.Read(buf)
				if n < 0 || n > len(buf) {
					r.err = fmt.Errorf("Read returned %d for a buffer of %d", n, len(buf))
					return
				}
				r.got = append(r.got, buf[:n]...)
				if err != nil {
					r.err = err
					return
				}
			}
		}()
		nc.Close()
		results <- r
		return nil
	}
	l, err := transport.ListenWS("ws", "127.0.0.1:0", "/mqtt", nil, h, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()

	f.Fuzz(func(t *testing.T, frames []byte) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		req := "GET /mqtt HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
		if _, err := nc.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		// gorilla refuses frames sent before the upgrade completes: wait
		// for the 101 and its headers.
		br := bufio.NewReader(nc)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		// The server's answers (pongs, close frames) are drained so that
		// it never blocks writing them.
		var drained sync.WaitGroup
		drained.Add(1)
		go func() {
			defer drained.Done()
			io.Copy(io.Discard, br)
		}()
		if _, err := nc.Write(frames); err != nil {
			t.Fatal(err)
		}
		nc.(*net.TCPConn).CloseWrite()
		var r result
		select {
		case r = <-results:
		case <-time.After(15 * time.Second):
			t.Fatal("the handler's Read did not end after the peer half-closed")
		}
		nc.Close()
		drained.Wait()
		if r.remoteKey != nc.LocalAddr().String() {
			t.Fatalf("result of connection %s, want %s", r.remoteKey, nc.LocalAddr())
		}
		if r.panicked != nil {
			t.Fatalf("Read panicked: %v", r.panicked)
		}
		if r.err == nil {
			t.Fatal("Read ended without an error")
		}
		want, clean := refFrames(frames)
		if !bytes.HasPrefix(want, r.got) {
			t.Fatalf("read %d bytes % x..., not a prefix of the %d bytes of binary payload % x...",
				len(r.got), r.got[:min(len(r.got), 16)], len(want), want[:min(len(want), 16)])
		}
		if clean && !bytes.Equal(r.got, want) {
			t.Fatalf("well-formed frames: read %d bytes, want %d (err %v)", len(r.got), len(want), r.err)
		}
	})
}

// wsFrame encodes one client frame (masked, as RFC 6455 5.3 requires)
// with opcode op.
func wsFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// refFrames parses client frames (RFC 6455 5.2) and returns the unmasked
// payloads of binary messages in order, up to the first text or close
// frame or malformed frame. clean reports whether all of frames was well
// formed for a server: every frame masked, no reserved bits, control
// frames final and at most 125 bytes, continuations only inside a
// message, and no frame cut short, so that the stream ends in a clean
// EOF with everything delivered.
func refFrames(frames []byte) (payload []byte, clean bool) {
	inBinary, inMessage := false, false
	for len(frames) > 0 {
		if len(frames) < 2 {
			return payload, false
		}
		b0, b1 := frames[0], frames[1]
		fin, rsv, op := b0&0x80 != 0, b0&0x70, b0&0x0f
		masked, n := b1&0x80 != 0, uint64(b1&0x7f)
		frames = frames[2:]
		switch n {
		case 126:
			if len(frames) < 2 {
				return payload, false
			}
			n, frames = uint64(binary.BigEndian.Uint16(frames)), frames[2:]
		case 127:
			if len(frames) < 8 {
				return payload, false
			}
			n, frames = binary.BigEndian.Uint64(frames), frames[8:]
		}
		if !masked || rsv != 0 || len(frames) < 4 {
			return payload, false
		}
		key := frames[:4]
		frames = frames[4:]
		control := op >= 8
		switch {
		case control && (!fin || n > 125), op > 10, op >= 3 && op <= 7:
			return payload, false
		case op == 0 && !inMessage, (op == 1 || op == 2) && inMessage:
			return payload, false
		case op == 1, op == 8:
			return payload, false // a text message or a close ends the stream
		}
		if n > uint64(len(frames)) {
			// Cut short: what arrived of a binary frame may be read.
			if op == 2 || op == 0 && inBinary {
				for i, c := range frames {
					payload = append(payload, c^key[i%4])
				}
			}
			return payload, false
		}
		body := frames[:n]
		frames = frames[n:]
		if control {
			continue
		}
		if op == 2 {
			inBinary, inMessage = true, true
		}
		if inBinary {
			for i, c := range body {
				payload = append(payload, c^key[i%4])
			}
		}
		if fin {
			inBinary, inMessage = false, false
		}
	}
	// The stream ends inside a message: gorilla reports an unexpected EOF,
	// after delivering what the frames carried.
	return payload, !inMessage
}
