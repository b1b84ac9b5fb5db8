package load

import (
	"testing"
	"time"
)

func TestWindowRoom(t *testing.T) {
	// 2 publishers, 3 subscribers, 100 in all (50 each), inflight 20.
	w := newWindow(2, 3, 100, 20)
	set := func(p int, seen ...uint64) {
		for s, v := range seen {
			w.seen[s*w.pubs+p].Store(v)
		}
	}
	tests := []struct {
		name        string
		sent        uint64
		seen        []uint64 // publisher 0, by subscriber
		acked       uint64
		floor       uint64
		n           uint64
		windowBound bool
	}{
		{"fresh", 0, []uint64{0, 0, 0}, 0, 0, 20, false}, // inflight binds first
		{"inflight full", 20, []uint64{20, 20, 20}, 0, 0, 0, false},
		{"slowest subscriber binds", 60, []uint64{60, 15, 59}, 60, 0, 5, true},
		{"window full", 65, []uint64{65, 15, 65}, 65, 0, 0, true},
		{"floor after a stall", 65, []uint64{65, 15, 65}, 65, 65, 20, false},
		{"ahead of sent cannot happen but is clamped", 10, []uint64{30, 30, 30}, 10, 0, 20, false},
	}
	for _, tt := range tests {
		set(0, tt.seen...)
		w.acked[0].Store(tt.acked)
		w.floor[0] = tt.floor
		n, wb := w.room(0, tt.sent)
		if n != tt.n || wb != tt.windowBound {
			t.Errorf("%s: room = %d, window-bound %v; want %d, %v", tt.name, n, wb, tt.n, tt.windowBound)
		}
	}
}

func TestWindowAcquire(t *testing.T) {
	w := newWindow(1, 1, 10, 0) // QoS 0: no inflight limit
	timer := time.NewTimer(time.Hour)
	stop := make(chan struct{})

	if n, err := w.acquire(0, 0, 4, 64, stop, timer); n != 10 || err != nil {
		t.Fatalf("empty window: acquire = %d, %v; want 10, nil", n, err)
	}

	// Full window: the publisher waits until a delivery makes room for
	// at least 4, then gets all the room there is.
	got := make(chan int, 1)
	go func() {
		n, _ := w.acquire(0, 10, 4, 64, stop, timer)
		got <- n
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !w.waiting[0].Load() {
		if time.Now().After(deadline) {
			t.Fatal("publisher never waited")
		}
		time.Sleep(time.Millisecond)
	}
	w.seen[0].Store(2) // room for 2: not enough, keeps waiting
	w.notify()
	select {
	case n := <-got:
		t.Fatalf("acquire returned %d with room for 2 of the 4 asked", n)
	case <-time.After(50 * time.Millisecond):
	}
	w.seen[0].Store(7)
	w.notify()
	select {
	case n := <-got:
		if n != 7 {
			t.Fatalf("acquire = %d, want 7", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("acquire did not return after a wake with room")
	}

	// Nothing arrives: after stallTimeout the outstanding messages are
	// presumed lost and the whole window opens again.
	t0 := time.Now()
	n, err := w.acquire(0, 17, 4, 64, stop, timer)
	if n != 10 || err != nil || w.stalls.Load() != 1 || time.Since(t0) < stallTimeout {
		t.Fatalf("stalled: acquire = %d, %v after %v with %d stalls; want 10, nil after >= %v with 1 stall",
			n, err, time.Since(t0), w.stalls.Load(), stallTimeout)
	}

	close(stop)
	if n, err := w.acquire(0, 27, 4, 64, stop, timer); n != 0 || err != nil {
		t.Fatalf("stopped: acquire = %d, %v; want 0, nil", n, err)
	}
}
