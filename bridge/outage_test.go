package bridge

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOutage: QoS 1 messages from two publishers are published to edgemq
// while the upstream mosquitto is stopped twice and restarted. Every message arrives upstream, in each publisher's order;
// duplicates are counted and reported.
func TestOutage(t *testing.T) { outage(t, 5000) }

// TestOutageSoak is TestOutage with 100,000 messages: EDGEMQ_SOAK=1.
func TestOutageSoak(t *testing.T) {
	if os.Getenv("EDGEMQ_SOAK") == "" {
		t.Skip("set EDGEMQ_SOAK=1 to run the 100,000-message outage test")
	}
	outage(t, 100_000)
}

func outage(t *testing.T, n int) {
	up := newMosquitto(t, nil)
	up.start()
	sk := newSink(t, up.addr, "sink", "site1/#", 1)
	e := startEdge(t, t.TempDir(), testConfig("cloud", up.addr,
		Rule{Pattern: "sensors/#", Direction: Out, QoS: 1, RemotePrefix: "site1/"}))
	e.waitStats(t, "cloud", 10*time.Second, "link up", func(s Stats) bool { return s.State == LinkUp })

	var acked atomic.Int64
	var wg sync.WaitGroup
	const pubs = 2
	for p := range pubs {
		c := client(t, e.addr, fmt.Sprintf("pub%d", p))
		wg.Add(1)
		go func() {
			defer wg.Done()
			publishSeq(t, c, fmt.Sprintf("sensors/p%d", p), fmt.Sprintf("p%d", p), 1, 0, n/pubs, 200,
				func(int) { acked.Add(1) })
		}()
	}
	waitCount := func(target int64) {
		for acked.Load() < target {
			time.Sleep(time.Millisecond)
		}
	}
	// Two outages: the second one starts while the backlog of the first
	// is draining, and ends after the last publish.
	start := time.Now()
	waitCount(int64(n / 5))
	up.stop()
	stopped := time.Now()
	waitCount(int64(2 * n / 5))
	queued := e.stats(t, "cloud").Queued
	up.start()
	t.Logf("outage 1: upstream down for %v; %d messages queued at its end",
		time.Since(stopped).Round(time.Millisecond), queued)
	waitCount(int64(3 * n / 5))
	up.stop()
	stopped = time.Now()
	wg.Wait()
	t.Logf("outage 2: upstream down for %v; %d messages queued at its end",
		time.Since(stopped).Round(time.Millisecond), e.stats(t, "cloud").Queued)
	up.start()
	sk.waitUnique(t, n, 2*time.Minute)
	unique, dups := sk.counts()
	st := e.stats(t, "cloud")
	t.Logf("%d messages in %v: %d arrived upstream, %d duplicates (resent %d, connects %d)",
		n, time.Since(start).Round(time.Millisecond), unique, dups, st.Resent, st.Connects)
	sk.mu.Lock()
	checkOrder(t, sk.firsts)
	sk.mu.Unlock()
	if queued < n/10 {
		t.Errorf("only %d messages were queued while the upstream was down: the outage did not test much", queued)
	}
	e.waitStats(t, "cloud", 30*time.Second, "empty queue", func(s Stats) bool { return s.Queued == 0 && s.Inflight == 0 })
	if st.Dropped != 0 || st.Lost != 0 || st.NotStored != 0 {
		t.Errorf("dropped %d, lost %d, not stored %d: want none", st.Dropped, st.Lost, st.NotStored)
	}
}
