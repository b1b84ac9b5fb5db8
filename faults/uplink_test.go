package faults

import (
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgemq/edgemq/faults/rig"
	"github.com/edgemq/edgemq/faults/wire"
)

// TestFaultUplinkNetns: the bridge's upstream is a real mosquitto in a
// network namespace, reached through a link that loses, delays and
// reorders packets and blacks out (faults/wire: TUN devices carried by the
// test, since this kernel has no sch_netem). QoS 1 and QoS 2 publishers
// on edgemq run throughout; a subscriber inside the namespace counts every
// message at the upstream. Checked: nothing acknowledged is lost, nothing
// arrives out of order per publisher, QoS 2 arrives once, and edgemq is
// near idle while the link is black (no busy loop).
func TestFaultUplinkNetns(t *testing.T) {
	needRoot(t)
	var fig Figures
	defer func() { Report(t, "uplink-netns", fig.List()...) }()

	link, err := wire.Open()
	if err != nil {
		t.Fatal(err)
	}
	mosq := rig.NewMosquitto(t, link.NSIP.String(), 1883, link.Command, link.Dial)
	// Registered after link.Close: cleanups run last-in first-out, so
	// mosquitto stops before its namespace goes.
	t.Cleanup(func() {
		if err := link.Close(); err != nil {
			t.Errorf("removing the namespace: %v", err)
		}
	})
	t.Cleanup(mosq.Stop)
	mosq.Start()
	tally, sub := counter(t, func() (net.Conn, error) { return link.Dial("tcp", mosq.Addr) }, "counter", "up/#")

	dir := t.TempDir()
	bin := edgemqBinary(t)
	e := rig.StartEdgemq(t, bin, dir, bridgeEdgemqConfig(dir, mosq.Addr, 2*time.Second, 250*time.Millisecond, 2*time.Second), "mqtt", "http")
	f := startFleet(t, e.Addr("mqtt"), 4, 2, 20, 5*time.Millisecond)

	blackout := pick(4*time.Second, 30*time.Second)
	phases := []struct {
		imp wire.Impairment
		d   time.Duration
	}{
		{wire.Impairment{Loss: 0.02, Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Reorder: 0.05}, pick(3*time.Second, 60*time.Second)},
		{wire.Impairment{Blackout: true}, blackout},
		{wire.Impairment{Loss: 0.10, Delay: 50 * time.Millisecond, Jitter: 30 * time.Millisecond, Reorder: 0.10}, pick(3*time.Second, 60*time.Second)},
		{wire.Impairment{Blackout: true}, blackout},
		{wire.Impairment{Loss: 0.01, Delay: 5 * time.Millisecond}, pick(2*time.Second, 30*time.Second)},
	}
	var cpuWorst float64
	for i, ph := range phases {
		link.Set(ph.imp)
		t.Logf("phase %d: %v for %v", i+1, ph.imp, ph.d)
		if !ph.imp.Blackout {
			time.Sleep(ph.d)
			continue
		}
		// A third of the blackout with publishers running (the queue
		// grows), the rest with none: edgemq must then be near idle.
		time.Sleep(ph.d / 3)
		f.pause()
		used, share := cpuOver(t, e, ph.d-ph.d/3)
		t.Logf("blackout: edgemq used %v of CPU in %v idle (%.2f%% of a core); bridge backlog %v",
			used, ph.d-ph.d/3, share*100, metric(t, e, `edgemq_bridge_backlog_messages{bridge="up"}`))
		cpuWorst = max(cpuWorst, share)
		f.resume(20, 5*time.Millisecond)
	}
	f.pause()
	if err := f.err(); err != nil {
		t.Fatal(err)
	}
	link.Set(wire.Impairment{})
	check, drain := waitDelivered(t, tally, f.acked(""), pick(60*time.Second, 180*time.Second), e, sub)
	var q2dups uint64
	for _, p := range f.pubs {
		if p.QoS == 2 {
			q2dups += tally.DupsOf(p.ID)
		}
	}
	ls := link.Stats()
	m, err := e.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	fig.Set("acked", check.Acked)
	fig.Set("delivered", check.Unique)
	fig.Set("lost", check.Lost)
	fig.Set("dup", check.Duplicates)
	fig.Set("dup_qos2", q2dups)
	fig.Set("reordered", check.Reordered)
	fig.Set("drain", drain)
	fig.Set("blackout", blackout)
	fig.Set("blackout_cpu_pct", fmt.Sprintf("%.2f", cpuWorst*100))
	fig.Set("reconnects", m[`edgemq_bridge_connects_total{bridge="up"}`])
	fig.Set("pkts_dropped", ls.Dropped)
	fig.Set("pkts_reordered", ls.Reordered)
	if check.Lost > 0 {
		t.Errorf("%d acknowledged messages never reached the upstream: %v", check.Lost, check.Examples)
	}
	if check.Reordered > 0 {
		t.Errorf("%d messages reached the upstream out of their publisher's order: %v", check.Reordered, check.Examples)
	}
	if q2dups > 0 {
		t.Errorf("%d QoS 2 messages reached the upstream twice", q2dups)
	}
	// Idle is a few timers a second; 5% of a core is far above that and
	// far below any loop that spins on a dead link.
	if cpuWorst > 0.05 {
		t.Errorf("edgemq used %.1f%% of a core while the uplink was black and no client published: a busy loop", cpuWorst*100)
	}
	if check.Acked == 0 {
		t.Error("no message was acknowledged")
	}
}

// TestFaultUplinkCuts: the bridge reaches a real mosquitto through a TCP
// proxy. First the proxy refuses every connection: the attempts it sees
// must be spaced as backoff.min/max say (doubling from min, capped at max,
// each at a random point of the upper half of its delay) and edgemq must
// stay near idle meanwhile. Then publishers run while the proxy cuts each
// connection after a random number of bytes, in the middle of a packet,
// either way. Checked: no loss, no reordering, QoS 2 once.
func TestFaultUplinkCuts(t *testing.T) {
	var fig Figures
	defer func() { Report(t, "uplink-cuts", fig.List()...) }()

	port := freeTCPPort(t)
	mosq := rig.NewMosquitto(t, "127.0.0.1", port, nil, nil)
	t.Cleanup(mosq.Stop)
	mosq.Start()
	tally, sub := counter(t, rig.TCP(mosq.Addr), "counter", "up/#")
	proxy, err := rig.NewProxy(mosq.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })

	// Refused from the start: attempt 1, 2, ... of the backoff.
	proxy.SetMode(rig.Refuse)
	bmin, bmax := pick(100*time.Millisecond, 500*time.Millisecond), pick(800*time.Millisecond, 8*time.Second)
	dir := t.TempDir()
	e := rig.StartEdgemq(t, edgemqBinary(t), dir, bridgeEdgemqConfig(dir, proxy.Addr(), 5*time.Second, bmin, bmax), "mqtt", "http")
	u0, err := e.Usage()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	want := pick(8, 12) // gaps: 4 doubling, then capped
	deadline := time.Now().Add(time.Duration(want+4) * bmax)
	var gaps []time.Duration
	for {
		gaps = gaps[:0]
		at := proxy.Attempts()
		for i := 1; i < len(at); i++ {
			gaps = append(gaps, at[i].Sub(at[i-1]))
		}
		if len(gaps) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	u1, err := e.Usage()
	if err != nil {
		t.Fatal(err)
	}
	refusedCPU := float64(u1.CPU-u0.CPU) / float64(time.Since(start))
	fig.Set("backoff", fmt.Sprintf("%v..%v", bmin, bmax))
	fig.Set("gaps", fmtGaps(gaps))
	fig.Set("refused_cpu_pct", fmt.Sprintf("%.2f", refusedCPU*100))
	if len(gaps) < want {
		t.Fatalf("%d connection attempts while refused, want %d: gaps %s", len(gaps)+1, want+1, fmtGaps(gaps))
	}
	if err := checkBackoff(gaps, bmin, bmax); err != nil {
		t.Error(err)
	}
	if refusedCPU > 0.05 {
		t.Errorf("edgemq used %.1f%% of a core while its uplink refused connections and no client published: a busy loop", refusedCPU*100)
	}

	// Cuts: every connection dies after 1 byte to 64 KiB, mid-packet.
	proxy.SetMode(rig.Pass)
	f := startFleet(t, e.Addr("mqtt"), 4, 2, 20, 2*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	proxy.CutMax.Store(64 << 10)
	proxy.SetMode(rig.Cut)
	time.Sleep(pick(6*time.Second, 120*time.Second))
	proxy.SetMode(rig.Pass)
	f.pause()
	if err := f.err(); err != nil {
		t.Fatal(err)
	}
	check, drain := waitDelivered(t, tally, f.acked(""), pick(60*time.Second, 180*time.Second), e, sub)
	var q2dups uint64
	for _, p := range f.pubs {
		if p.QoS == 2 {
			q2dups += tally.DupsOf(p.ID)
		}
	}
	fig.Set("acked", check.Acked)
	fig.Set("delivered", check.Unique)
	fig.Set("lost", check.Lost)
	fig.Set("dup", check.Duplicates)
	fig.Set("dup_qos2", q2dups)
	fig.Set("reordered", check.Reordered)
	fig.Set("cuts", proxy.Cuts())
	fig.Set("drain", drain)

	if check.Lost > 0 {
		t.Errorf("%d acknowledged messages never reached the upstream: %v", check.Lost, check.Examples)
	}
	if check.Reordered > 0 {
		t.Errorf("%d messages reached the upstream out of their publisher's order: %v", check.Reordered, check.Examples)
	}
	if q2dups > 0 {
		t.Errorf("%d QoS 2 messages reached the upstream twice", q2dups)
	}
	if proxy.Cuts() < 3 {
		t.Errorf("only %d connections were cut: the scenario did not happen", proxy.Cuts())
	}
}

// slack is what a reconnection attempt adds to its backoff delay: a
// refused dial and CONNECT on loopback, on a busy machine.
const slack = 60 * time.Millisecond

// checkBackoff checks the gaps between the failed attempts of a bridge
// that never connected against its documented backoff: delay n (n = 1,
// 2, ...) is d = min(lo*2^(n-1), hi), drawn in [d/2, d]. The delays must
// reach the cap, and must not all be equal there (jitter).
func checkBackoff(gaps []time.Duration, lo, hi time.Duration) error {
	for i, g := range gaps {
		d := hi
		if n := i + 1; n < 40 && lo<<(n-1) < hi {
			d = lo << (n - 1)
		}
		if g < d/2-slack/4 || g > d+slack {
			return fmt.Errorf("reconnection attempt %d came %v after the previous one, want %v..%v (backoff %v doubling to %v, upper half of each delay); all gaps: %s",
				i+2, g.Round(time.Millisecond), d/2, d, lo, hi, fmtGaps(gaps))
		}
	}
	var capped []float64
	for _, g := range gaps[len(gaps)/2:] {
		if g >= hi/2-slack/4 {
			capped = append(capped, g.Seconds())
		}
	}
	if len(capped) < 3 {
		return fmt.Errorf("the delays did not reach backoff.max %v: %s", hi, fmtGaps(gaps))
	}
	if sd := stddev(capped); sd < 0.01*hi.Seconds() {
		return fmt.Errorf("capped delays %v vary by %.4fs only: no jitter", capped, sd)
	}
	return nil
}

func stddev(xs []float64) float64 {
	var s, s2 float64
	for _, x := range xs {
		s += x
		s2 += x * x
	}
	n := float64(len(xs))
	return math.Sqrt(max(s2/n-(s/n)*(s/n), 0))
}

func fmtGaps(gaps []time.Duration) string {
	parts := make([]string, len(gaps))
	for i, g := range gaps {
		parts[i] = g.Round(time.Millisecond).String()
	}
	return strings.Join(parts, ",")
}

// freeTCPPort returns a loopback port free right now.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
