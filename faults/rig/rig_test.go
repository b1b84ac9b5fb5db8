package rig

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestSeqSet(t *testing.T) {
	var s SeqSet
	for _, n := range []uint64{3, 1, 2, 2, 7, 5, 4} {
		s.Add(n)
	}
	if s.Len() != 6 || s.prefix != 5 || len(s.rest) != 1 {
		t.Fatalf("len %d prefix %d rest %v, want 6 elements, run 1..5 and {7}", s.Len(), s.prefix, s.rest)
	}
	if !s.Has(7) || s.Has(6) || s.Has(0) {
		t.Fatal("Has wrong")
	}
	var want SeqSet
	for n := uint64(1); n <= 9; n++ {
		want.Add(n)
	}
	n, some := s.Missing(&want)
	if n != 3 || len(some) != 3 || some[0] != 6 || some[1] != 8 || some[2] != 9 {
		t.Fatalf("missing %d %v, want 3 [6 8 9]", n, some)
	}
}

func TestTally(t *testing.T) {
	p := &Publisher{ID: "p1", Pad: 3}
	if got := string(p.Payload(12)); got != "p1/12..." {
		t.Fatalf("payload %q", got)
	}
	var tl Tally
	for _, seq := range []uint64{1, 2, 4, 3, 4, 5} {
		tl.Record(p.Payload(seq))
	}
	tl.Record([]byte("junk"))
	var acked SeqSet
	for n := uint64(1); n <= 6; n++ {
		acked.Add(n)
	}
	c := tl.Check(map[string]*SeqSet{"p1": &acked})
	if c.Acked != 6 || c.Unique != 5 || c.Duplicates != 1 || c.Lost != 1 || c.Reordered != 1 || c.Foreign != 1 {
		t.Fatalf("check %+v", c)
	}
	if len(c.Examples) != 2 || !strings.Contains(c.Examples[1], "p1/3 first arrived after p1/4") {
		t.Fatalf("examples %q", c.Examples)
	}
}

// TestProxyCuts: in Cut mode no connection carries more than CutMax bytes
// and the cut lands inside the data (not on a boundary the sender chose);
// Refuse resets at once; every accept is timestamped.
func TestProxyCuts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	p, err := NewProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.CutMax.Store(1000)
	p.SetMode(Cut)
	for range 20 {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		var sent int
		chunk := make([]byte, 100)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		for sent < 100000 {
			if _, err := c.Write(chunk); err != nil {
				break
			}
			sent += len(chunk)
			time.Sleep(time.Millisecond)
		}
		c.Close()
		if sent >= 100000 {
			t.Fatal("the proxy never cut a connection in Cut mode")
		}
		if sent > 1000+100*64 { // CutMax, plus what the socket buffers took before the RST
			t.Fatalf("a connection carried %d bytes, CutMax 1000", sent)
		}
	}
	if p.Cuts() != 20 {
		t.Fatalf("%d cuts, want 20", p.Cuts())
	}
	p.SetMode(Refuse)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("Refuse mode: read succeeded")
	}
	if n := len(p.Attempts()); n != 21 {
		t.Fatalf("%d attempts recorded, want 21", n)
	}
}
