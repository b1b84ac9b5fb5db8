package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// connackSize is the size of a 3.1.1 CONNACK: fixed header and two bytes.
const connackSize = 4

// handshake sends the pre-encoded CONNECT on nc and reads the CONNACK with
// a four-byte read (no packet.Reader: thousands of idle connections must
// not each hold a read buffer in the load process).
func handshake(nc net.Conn, connect []byte) error {
	nc.SetDeadline(time.Now().Add(handshakeTimeout))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(connect); err != nil {
		return fmt.Errorf("writing CONNECT: %w", err)
	}
	var b [connackSize]byte
	if _, err := io.ReadFull(nc, b[:]); err != nil {
		return fmt.Errorf("reading CONNACK: %w", err)
	}
	h, n, err := packet.ParseHeader(b[:])
	if err != nil {
		return fmt.Errorf("CONNACK % x: %w", b, err)
	}
	if h.Type != packet.CONNACK || n+h.Remaining != connackSize {
		return fmt.Errorf("expected a 4-byte CONNACK, got %v % x", h.Type, b)
	}
	var ack packet.Connack
	if err := ack.Decode(h, b[n:], version); err != nil {
		return err
	}
	if ack.Code != packet.Success {
		return fmt.Errorf("CONNACK refused the connection: return code 0x%02x", byte(ack.Code))
	}
	return nil
}

// ConnRate measures full connection cycles: dial, CONNECT, CONNACK,
// DISCONNECT, and wait for the broker to close (so that TIME_WAIT stays on
// the broker's side and the load process does not run out of ports).
type ConnRate struct {
	Addr     string
	Name     string // prefix of client ids
	Dialers  int    // cycles run in parallel
	Duration time.Duration
}

// ConnRateResult is what ConnRate measured.
type ConnRateResult struct {
	Elapsed   time.Duration
	Cycles    uint64
	Handshake Histogram // dial to CONNACK
	LoadCPU   time.Duration
}

// Rate returns completed cycles per second.
func (r *ConnRateResult) Rate() float64 { return float64(r.Cycles) / r.Elapsed.Seconds() }

// Run runs the cycles for c.Duration.
func (c ConnRate) Run(ctx context.Context) (*ConnRateResult, error) {
	if c.Dialers < 1 {
		return nil, errors.New("conn rate: need at least one dialer")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	end := time.Now().Add(c.Duration)
	hists := make([]Histogram, c.Dialers)
	var (
		cycles  atomic.Uint64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	t0, cpu0 := time.Now(), ProcessCPU()
	for d := range c.Dialers {
		wg.Go(func() {
			if err := c.dialer(ctx, end, d, &cycles, &hists[d]); err != nil {
				errOnce.Do(func() { first = err })
				cancel()
			}
		})
	}
	wg.Wait()
	res := &ConnRateResult{Elapsed: time.Since(t0), Cycles: cycles.Load(), LoadCPU: ProcessCPU() - cpu0}
	for d := range hists {
		res.Handshake.Merge(&hists[d])
	}
	return res, first
}

func (c ConnRate) dialer(ctx context.Context, end time.Time, d int, cycles *atomic.Uint64, hist *Histogram) error {
	var (
		dialer net.Dialer
		p      = packet.Connect{CleanStart: true}
		id     = []byte(c.Name + "-" + strconv.Itoa(d) + "-")
		prefix = len(id)
		buf    []byte
		disc   = (&packet.Disconnect{}).Append(nil, version)
		sink   [64]byte
	)
	for n := 0; ctx.Err() == nil && time.Now().Before(end); n++ {
		p.ClientID = strconv.AppendInt(id[:prefix], int64(n), 10)
		buf = p.Append(buf[:0], version)
		t := time.Now()
		nc, err := dialer.DialContext(ctx, "tcp", c.Addr)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("conn rate: dial: %w", err)
		}
		err = handshake(nc, buf)
		hist.Record(int64(time.Since(t)))
		if err == nil {
			nc.SetDeadline(time.Now().Add(handshakeTimeout))
			if _, err = nc.Write(disc); err == nil {
				// The broker closes after DISCONNECT [MQTT-3.14.4-1]; read to EOF.
				for err == nil {
					_, err = nc.Read(sink[:])
				}
				if err == io.EOF {
					err = nil
				}
			}
		}
		nc.Close()
		if err != nil {
			return fmt.Errorf("conn rate: client %s: %w", p.ClientID, err)
		}
		cycles.Add(1)
	}
	return nil
}

// IdleConns opens N connections (CONNECT/CONNACK, keep-alive off) and
// keeps them open and silent while the caller measures.
type IdleConns struct {
	Addr    string
	Name    string
	N       int
	Dialers int
}

// IdleConnsResult holds the open connections until Close.
type IdleConnsResult struct {
	Opened  int
	Elapsed time.Duration // to open them all
	conns   []net.Conn
}

// Close closes every connection (without DISCONNECT, as a crowd of dying
// devices would).
func (r *IdleConnsResult) Close() {
	for _, nc := range r.conns {
		nc.Close()
	}
	r.conns = nil
}

// Open opens the connections; on error it closes those it opened.
func (c IdleConns) Open(ctx context.Context) (*IdleConnsResult, error) {
	if c.Dialers < 1 || c.N < 1 {
		return nil, errors.New("idle conns: need at least one dialer and one connection")
	}
	conns := make([]net.Conn, c.N)
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t0 := time.Now()
	for range c.Dialers {
		wg.Go(func() {
			var (
				dialer net.Dialer
				p      = packet.Connect{CleanStart: true}
				buf    []byte
			)
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= c.N {
					return
				}
				p.ClientID = strconv.AppendInt(append(p.ClientID[:0], c.Name+"-"...), int64(i), 10)
				buf = p.Append(buf[:0], version)
				nc, err := dialer.DialContext(ctx, "tcp", c.Addr)
				if err == nil {
					if err = handshake(nc, buf); err != nil {
						nc.Close()
					}
				}
				if err != nil {
					errOnce.Do(func() { first = fmt.Errorf("idle conns: connection %d of %d: %w", i+1, c.N, err) })
					cancel()
					return
				}
				conns[i] = nc
			}
		})
	}
	wg.Wait()
	res := &IdleConnsResult{Elapsed: time.Since(t0)}
	for _, nc := range conns {
		if nc != nil {
			res.conns = append(res.conns, nc)
		}
	}
	res.Opened = len(res.conns)
	if first != nil {
		res.Close()
		return res, first
	}
	return res, nil
}
