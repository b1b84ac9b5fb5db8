package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/faults/rig"
)

// Shared by the uplink, clock and soak scenarios (faults-b); the rig
// package holds the rest.

// needRoot skips a scenario that needs root (namespaces, TUN).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and /dev/net/tun")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun: %v", err)
	}
}

// pick returns full at full length (make faults) and short otherwise.
func pick[T any](short, full T) T {
	if Full() {
		return full
	}
	return short
}

// bridgeEdgemqConfig is an edgemq with storage, a loopback listener named
// mqtt, the HTTP server, and one bridge "up" to upstream whose q1/# and
// q2/# go out at QoS 1 and 2 under up/.
func bridgeEdgemqConfig(dir, upstream string, keepalive, backoffMin, backoffMax time.Duration) string {
	return fmt.Sprintf(`data_dir: %s/data
storage: {sync: batch}
listeners:
  - {name: mqtt, type: tcp, address: "127.0.0.1:0"}
http: {address: "127.0.0.1:0"}
log: {level: info}
bridges:
  - name: up
    address: tcp://%s
    client_id: edge-1
    keepalive: %s
    topics:
      - {pattern: "q1/#", direction: out, qos: 1, remote_prefix: "up/"}
      - {pattern: "q2/#", direction: out, qos: 2, remote_prefix: "up/"}
    backoff: {min: %s, max: %s}
`, dir, upstream, keepalive, backoffMin, backoffMax)
}

// fleet is a set of publishers on edgemq, each with its own connection.
type fleet struct {
	t    *testing.T
	addr string
	pubs []*rig.Publisher

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	errs   []error
}

// startFleet starts n1 QoS 1 and n2 QoS 2 publishers (q1/<id>, q2/<id>),
// each keeping window messages unacknowledged and waiting gap between two.
func startFleet(t *testing.T, addr string, n1, n2, window int, gap time.Duration) *fleet {
	t.Helper()
	f := &fleet{t: t, addr: addr}
	for i := range n1 + n2 {
		qos := byte(1)
		if i >= n1 {
			qos = 2
		}
		id := fmt.Sprintf("q%dp%d", qos, i)
		f.pubs = append(f.pubs, &rig.Publisher{ID: id, Topic: fmt.Sprintf("q%d/%s", qos, id), QoS: qos, Pad: 64})
	}
	f.resume(window, gap)
	t.Cleanup(f.stop)
	return f
}

// resume (re)connects every publisher and runs it until pause.
func (f *fleet) resume(window int, gap time.Duration) {
	f.ctx, f.cancel = context.WithCancel(context.Background())
	for _, p := range f.pubs {
		c, _, err := rig.Dial(rig.TCP(f.addr), rig.ClientOptions{ID: p.ID, Clean: true, OnAck: p.OnAck})
		if err != nil {
			f.t.Fatal(err)
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.Close()
			if err := p.Run(f.ctx, c, window, gap, 0); err != nil {
				f.errMu.Lock()
				f.errs = append(f.errs, fmt.Errorf("publisher %s: %w", p.ID, err))
				f.errMu.Unlock()
			}
			p.Wait(10 * time.Second)
		}()
	}
}

// pause stops publishing and waits until what was sent is acknowledged.
func (f *fleet) pause() {
	f.cancel()
	f.wg.Wait()
}

func (f *fleet) stop() {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
}

// err returns the first publisher error.
func (f *fleet) err() error {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	if len(f.errs) > 0 {
		return f.errs[0]
	}
	return nil
}

// acked returns what was acknowledged to each publisher whose id has
// prefix ("" for all).
func (f *fleet) acked(prefix string) map[string]*rig.SeqSet {
	m := map[string]*rig.SeqSet{}
	for _, p := range f.pubs {
		if strings.HasPrefix(p.ID, prefix) {
			m[p.ID] = p.Acked()
		}
	}
	return m
}

// counter subscribes to filter at QoS 2 on a broker with a persistent
// session and counts what arrives.
func counter(t *testing.T, dial func() (net.Conn, error), id, filter string) (*rig.Tally, *rig.Client) {
	t.Helper()
	tl := &rig.Tally{}
	c, _, err := rig.Dial(dial, rig.ClientOptions{ID: id, Clean: false,
		OnPublish: func(p *packet.Publish) { tl.Record(p.Payload) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Subscribe(filter, 2); err != nil {
		t.Fatal(err)
	}
	return tl, c
}

// waitDelivered waits until tl has every message in acked, or d passed,
// checking that the counter's connection and edgemq are alive.
func waitDelivered(t *testing.T, tl *rig.Tally, acked map[string]*rig.SeqSet, d time.Duration, e *rig.Edgemq, sub *rig.Client) (rig.Check, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		c := tl.Check(acked)
		if c.Lost == 0 {
			return c, time.Since(start)
		}
		select {
		case <-e.Exited():
			t.Fatalf("edgemq exited:\n%s", e.LogTail(40))
		case <-sub.Done():
			t.Fatalf("the counting subscriber's connection ended: %v", sub.Err())
		default:
		}
		if time.Since(start) > d {
			return c, time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metric reads one series of edgemq's /metrics (0 when absent).
func metric(t *testing.T, e *rig.Edgemq, series string) float64 {
	t.Helper()
	m, err := e.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m[series]
}

// cpuOver measures the CPU time edgemq uses during d.
func cpuOver(t *testing.T, e *rig.Edgemq, d time.Duration) (used time.Duration, share float64) {
	t.Helper()
	u0, err := e.Usage()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(d)
	u1, err := e.Usage()
	if err != nil {
		t.Fatal(err)
	}
	used = u1.CPU - u0.CPU
	return used, float64(used) / float64(time.Since(start))
}
