package bridge

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestOverflow: with a small queue.max_bytes and the upstream down, each
// policy keeps what it promises (the newest messages for drop_oldest, the
// oldest for drop_new), and the drop counter equals the number of
// messages that never arrived.
func TestOverflow(t *testing.T) {
	const n = 600
	rec := appendRecord(nil, time.Now(), 1, false, "ovf/m", []byte("o-100"))
	size := int64(seqKeyLen + len(rec))
	for _, ov := range []Overflow{DropOldest, DropNew} {
		t.Run(string(ov), func(t *testing.T) {
			up := newMosquitto(t, nil)
			up.start()
			sk := newSink(t, up.addr, "sink", "ovf/#", 1)
			up.stop()

			cfg := testConfig("small", up.addr, Rule{Pattern: "ovf/#", Direction: Out, QoS: 1})
			cfg.MaxBytes = 100 * size
			cfg.Overflow = ov
			e := startEdge(t, t.TempDir(), cfg)
			c := client(t, e.addr, "pub")
			publishSeq(t, c, "ovf/m", "o", 1, 100, 100+n, 50, nil)
			st := e.stats(t, "small")
			if st.QueuedBytes > cfg.MaxBytes || st.Queued != 100 {
				t.Fatalf("queue holds %d messages, %d bytes; want 100 within %d bytes", st.Queued, st.QueuedBytes, cfg.MaxBytes)
			}

			up.start()
			e.waitStats(t, "small", 30*time.Second, "drained", func(s Stats) bool {
				return s.State == LinkUp && s.Queued == 0 && s.Inflight == 0
			})
			sk.waitUnique(t, 100, 10*time.Second)
			time.Sleep(200 * time.Millisecond) // anything else on its way
			unique, dups := sk.counts()
			st = e.stats(t, "small")
			if int(st.Dropped) != n-unique || st.DroppedQueue != st.Dropped {
				t.Fatalf("dropped counter %d, but %d of %d messages never arrived", st.Dropped, n-unique, n)
			}
			var want []string
			for i := range 100 {
				if ov == DropOldest {
					want = append(want, fmt.Sprintf("o-%d", 100+n-100+i))
				} else {
					want = append(want, fmt.Sprintf("o-%d", 100+i))
				}
			}
			sk.mu.Lock()
			got := slices.Clone(sk.firsts)
			sk.mu.Unlock()
			if !slices.Equal(got, want) {
				t.Fatalf("arrived %v ... %v, want %v ... %v", got[0], got[len(got)-1], want[0], want[len(want)-1])
			}
			t.Logf("%s: %d published, %d arrived (%d duplicates), %d dropped", ov, n, unique, dups, st.Dropped)
			if lines := strings.Count(e.log.String(), "bridge queue full"); lines < 1 || lines > 2 {
				t.Errorf("%d log lines about drops, want 1 or 2 (logged at most every 10s)", lines)
			}
		})
	}
}
