package rig

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
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
	// The reset may even reach the dialer before Dial returns.
	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("Refuse mode: read succeeded")
		}
		c.Close()
	}
	time.Sleep(50 * time.Millisecond) // the accept is recorded by the proxy's goroutine
	if n := len(p.Attempts()); n != 21 {
		t.Fatalf("%d attempts recorded, want 21", n)
	}
}

func TestFont(t *testing.T) {
	for r := rune(32); r < 127; r++ {
		g := glyphData(r)
		if g == "" {
			continue
		}
		rows := strings.Fields(g)
		if len(rows) != 7 {
			t.Errorf("glyph %q: %d rows", r, len(rows))
		}
		for _, row := range rows {
			if len(row) != 5 || strings.Trim(row, "#.") != "" {
				t.Errorf("glyph %q: row %q", r, row)
			}
		}
	}
}

// TestPlot: the PNG decodes, has a panel per chart, and the line is drawn
// where the values say (a rising line: its pixels go up to the right).
func TestPlot(t *testing.T) {
	var buf bytes.Buffer
	x := []float64{0, 1, 2, 3, 4}
	err := WritePNG(&buf, "soak 1h", "min", []Chart{
		{Title: "RSS (MiB)", X: x, Y: []float64{10, 11, 12, 13, 14}, Marks: []float64{2}},
		{Title: "goroutines", X: x, Y: []float64{5, 5, 5, 5, 5}},
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != plotWidth || b.Dy() != titleHeight+2*(panelHeight+marginTop+marginBot) {
		t.Fatalf("size %v", b)
	}
	// In the first panel, the line's pixel in the leftmost plot column is
	// lower (larger y) than in the rightmost.
	top := titleHeight + marginTop
	lineY := func(x int) int {
		for y := top; y < top+panelHeight; y++ {
			if r, g, b, _ := img.At(x, y).RGBA(); r>>8 == 20 && g>>8 == 90 && b>>8 == 200 {
				return y
			}
		}
		return -1
	}
	l, r := lineY(marginLeft+1), lineY(plotWidth-marginRight-2)
	if l < 0 || r < 0 || r >= l {
		t.Fatalf("line at y=%d on the left and y=%d on the right: want it rising", l, r)
	}
}

// TestTrend: a flat series with spikes does not grow, a leak does, and
// the samples before warm-up do not count.
func TestTrend(t *testing.T) {
	var x, flat, leak []float64
	for i := range 60 {
		x = append(x, float64(i))
		v := 100.0
		if i%7 == 0 {
			v = 300 // a burst caught by the sampler
		}
		if i < 10 {
			v = 20 // warming up
		}
		flat = append(flat, v)
		leak = append(leak, 100+float64(i))
	}
	f := TrendOf(x, flat, 10)
	if f.Samples != 50 || f.Middle != 100 || f.Last != 100 || f.Grows(0.05, 0) {
		t.Errorf("flat: %+v, grows %v", f, f.Grows(0.05, 0))
	}
	l := TrendOf(x, leak, 10)
	if l.Slope < 0.99 || l.Slope > 1.01 || !l.Grows(0.05, 0) || l.Grows(0.5, 0) {
		t.Errorf("leak: %+v", l)
	}
	if s := TrendOf(x[:5], leak[:5], 0); s.Samples != 5 || s.Grows(0, 0) {
		t.Errorf("too few samples: %+v", s)
	}
}

// TestLine: lines in every direction and slope end where they should
// (a regression: a Bresenham step that recomputed its error term could
// step past the end point and never stop).
func TestLine(t *testing.T) {
	ink := color.RGBA{1, 2, 3, 255}
	for dx := -7; dx <= 7; dx++ {
		for dy := -7; dy <= 7; dy++ {
			img := image.NewRGBA(image.Rect(0, 0, 20, 20))
			done := make(chan struct{})
			go func() {
				defer close(done)
				line(img, 10, 10, 10+dx, 10+dy, ink)
			}()
			select {
			case <-done:
			case <-time.After(time.Second):
				t.Fatalf("line (10,10)-(%d,%d) does not end", 10+dx, 10+dy)
			}
			if img.RGBAAt(10, 10) != ink || img.RGBAAt(10+dx, 10+dy) != ink {
				t.Errorf("line (10,10)-(%d,%d): an end is not drawn", 10+dx, 10+dy)
			}
		}
	}
}
