package rig

import (
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ProxyMode is what a Proxy does with connections.
type ProxyMode int32

// Proxy modes.
const (
	// Pass forwards both ways.
	Pass ProxyMode = iota
	// Cut forwards both ways, then cuts each connection after a random
	// number of bytes in either direction (uniform in 1..CutMax, counted
	// from when Cut mode began for connections open before), in the
	// middle of whatever packet those bytes belong to: it writes the
	// bytes up to the cut and closes both sides at once (RST).
	Cut
	// Refuse accepts and resets each connection at once.
	Refuse
)

// Proxy is a TCP proxy that a test can make fail, and that timestamps each
// connection it accepts (the attempts of its client).
type Proxy struct {
	ln     net.Listener
	target string
	// CutMax bounds the bytes a connection carries in Cut mode.
	CutMax atomic.Int64

	mode atomic.Int32
	cuts atomic.Uint64

	mu       sync.Mutex
	attempts []time.Time
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

// NewProxy listens on 127.0.0.1 and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.CutMax.Store(4096)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is where clients connect.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetMode changes what the proxy does with new connections; Refuse also
// resets the connections open now.
func (p *Proxy) SetMode(m ProxyMode) {
	p.mode.Store(int32(m))
	if m == Refuse {
		p.closeAll()
	}
}

// Attempts returns when each connection was accepted.
func (p *Proxy) Attempts() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.attempts...)
}

// Cuts returns how many connections Cut mode cut.
func (p *Proxy) Cuts() uint64 { return p.cuts.Load() }

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.closeAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		reset(c)
	}
}

// reset closes c with an RST rather than a FIN, as a broken path would
// look to the peer that tries to use it next.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func (p *Proxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.attempts = append(p.attempts, time.Now())
		p.mu.Unlock()
		mode := ProxyMode(p.mode.Load())
		if mode == Refuse {
			reset(c)
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		reset(c)
		return
	}
	p.track(c, true)
	p.track(up, true)
	defer func() {
		p.track(c, false)
		p.track(up, false)
	}()
	// left is the connection's byte budget in Cut mode, drawn when the
	// first chunk moves in Cut mode; noBudget until then.
	const noBudget = math.MinInt64
	var left atomic.Int64
	left.Store(noBudget)
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if ProxyMode(p.mode.Load()) == Cut {
					left.CompareAndSwap(noBudget, 1+rand.Int64N(max(p.CutMax.Load(), 1)))
				}
				if left.Load() != noBudget {
					// Cut within this chunk if the budget runs out in it.
					after := left.Add(-int64(n))
					if after < 0 {
						keep := max(int64(n)+after, 0)
						dst.Write(buf[:keep])
						p.cuts.Add(1)
						reset(dst)
						reset(src)
						return
					}
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					reset(src)
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					if tc, ok := dst.(*net.TCPConn); ok {
						tc.CloseWrite()
						return
					}
				}
				reset(dst)
				return
			}
		}
	}
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
	c.Close()
	up.Close()
}
