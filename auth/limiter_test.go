package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestFailLimiter(t *testing.T) {
	l := newFailLimiter(2, time.Minute)
	t0 := time.Unix(1000, 0)
	if l.fail("a", t0) {
		t.Fatal("blocked after 1 failure of 2")
	}
	if b, _ := l.blocked("a", t0.Add(time.Second)); b {
		t.Fatal("blocked after 1 failure")
	}
	if !l.fail("a", t0.Add(2*time.Second)) {
		t.Fatal("not blocked after 2 failures")
	}
	if b, until := l.blocked("a", t0.Add(59*time.Second)); !b || !until.Equal(t0.Add(time.Minute)) {
		t.Fatalf("blocked %v until %v, want until %v", b, until, t0.Add(time.Minute))
	}
	if b, _ := l.blocked("b", t0); b {
		t.Fatal("another address is blocked")
	}
	if b, _ := l.blocked("a", t0.Add(time.Minute)); b {
		t.Fatal("still blocked once the window has passed")
	}
	if l.tracked() != 0 {
		t.Fatalf("%d addresses remembered after their window", l.tracked())
	}
	if newFailLimiter(0, time.Minute).fail("a", t0) {
		t.Fatal("max 0 limits")
	}
}

// TestFailLimiterBounded: failures from more addresses than maxTracked
// never make the limiter remember more; expired windows go first, then the
// oldest.
func TestFailLimiterBounded(t *testing.T) {
	l := newFailLimiter(3, time.Minute)
	t0 := time.Unix(1000, 0)
	for i := range maxTracked {
		l.fail(fmt.Sprint("old", i), t0)
	}
	l.fail("recent", t0.Add(30*time.Second))
	if n := l.tracked(); n != maxTracked {
		t.Fatalf("tracked %d, want %d", n, maxTracked)
	}
	for i := range 3 * maxTracked {
		l.fail(fmt.Sprint("new", i), t0.Add(40*time.Second))
	}
	if n := l.tracked(); n != maxTracked {
		t.Fatalf("tracked %d after a flood of addresses, want %d", n, maxTracked)
	}
	// Past the first window, the old entries expire before any other.
	l.fail("late", t0.Add(61*time.Second))
	l.mu.Lock()
	_, old := l.m["old0"]
	_, late := l.m["late"]
	l.mu.Unlock()
	if old || !late {
		t.Fatalf("eviction kept old0 %v, late %v", old, late)
	}
}
