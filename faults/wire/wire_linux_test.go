package wire

import (
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func openLink(t *testing.T) *Link {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	l, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat("/run/netns/" + l.NS); !os.IsNotExist(err) {
			t.Errorf("namespace %s still there after Close: %v", l.NS, err)
		}
	})
	return l
}

// echo serves one echo server in the namespace and returns a connection to
// it from the host, through the link.
func echo(t *testing.T, l *Link) net.Conn {
	t.Helper()
	ln, err := l.Listen("tcp", net.JoinHostPort(l.NSIP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func roundTrip(t *testing.T, c net.Conn, msg string) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Fatalf("echo %q, want %q", buf, msg)
	}
	return time.Since(start)
}

// TestLinkCarriesAndImpairs: packets cross the link both ways; a delay
// shows in the round trip; a blackout stops everything and its end lets
// TCP recover; loss is counted; the namespace goes with Close.
func TestLinkCarriesAndImpairs(t *testing.T) {
	l := openLink(t)
	c := echo(t, l)
	if rtt := roundTrip(t, c, "hello"); rtt > 500*time.Millisecond {
		t.Fatalf("round trip %v on an unimpaired link", rtt)
	}
	l.Set(Impairment{Delay: 50 * time.Millisecond})
	if rtt := roundTrip(t, c, "slow"); rtt < 100*time.Millisecond {
		t.Fatalf("round trip %v with 50ms each way, want >= 100ms", rtt)
	}
	l.Set(Impairment{Blackout: true})
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	c.Write([]byte("lost"))
	if _, err := c.Read(make([]byte, 4)); err == nil {
		t.Fatal("an echo came back through a blackout")
	}
	l.Set(Impairment{})
	buf := make([]byte, 4)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "lost" {
		t.Fatalf("after the blackout: %q, %v; want TCP to retransmit \"lost\"", buf, err)
	}
	if l.Stats().Dropped == 0 {
		t.Fatal("no packet counted as dropped during the blackout")
	}
	// Loss and reordering: a bulk transfer still arrives whole and in order
	// (TCP's job), and the link counts what it did.
	l.Set(Impairment{Loss: 0.05, Delay: 5 * time.Millisecond, Jitter: 4 * time.Millisecond, Reorder: 0.1})
	msg := strings.Repeat("0123456789abcdef", 8192)
	roundTrip(t, c, msg)
	st := l.Stats()
	if st.Reordered == 0 || st.Dropped < 2 {
		t.Fatalf("stats %+v: want packets reordered and dropped", st)
	}
	t.Logf("stats %+v", st)
}
