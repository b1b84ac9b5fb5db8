package auth

import (
	"sync"
	"time"
)

// maxTracked bounds the addresses the failure limiter remembers (about
// 100 bytes each). When it is full, addresses whose window has passed are
// forgotten first, then the one whose window started earliest: an attacker
// with more addresses than this can make the limiter forget some of them
// sooner, but never make it grow.
const maxTracked = 4096

// failLimiter counts failed logins per source address. After max failures
// within window of the first one, the address is refused until that
// window has passed; then its count starts again.
type failLimiter struct {
	max    int // 0: no limit
	window time.Duration

	mu sync.Mutex
	m  map[string]*failCount
}

type failCount struct {
	start time.Time // first failure of the window
	n     int
}

func newFailLimiter(max int, window time.Duration) *failLimiter {
	return &failLimiter{max: max, window: window, m: make(map[string]*failCount)}
}

// blocked reports whether addr has used up its failures, and until when.
func (l *failLimiter) blocked(addr string, now time.Time) (bool, time.Time) {
	if l.max == 0 {
		return false, time.Time{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fc := l.m[addr]
	if fc == nil {
		return false, time.Time{}
	}
	until := fc.start.Add(l.window)
	if !now.Before(until) {
		delete(l.m, addr)
		return false, time.Time{}
	}
	return fc.n >= l.max, until
}

// fail counts a failure of addr; it reports whether addr is now blocked.
func (l *failLimiter) fail(addr string, now time.Time) bool {
	if l.max == 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fc := l.m[addr]
	if fc != nil && !now.Before(fc.start.Add(l.window)) {
		fc = nil // the window passed: start again
	}
	if fc == nil {
		if len(l.m) >= maxTracked {
			l.evict(now)
		}
		fc = &failCount{start: now}
		l.m[addr] = fc
	}
	fc.n++
	return fc.n >= l.max
}

// evict makes room for one address; l.mu is held.
func (l *failLimiter) evict(now time.Time) {
	var oldest string
	var oldestStart time.Time
	for a, fc := range l.m {
		if !now.Before(fc.start.Add(l.window)) {
			delete(l.m, a)
			continue
		}
		if oldest == "" || fc.start.Before(oldestStart) {
			oldest, oldestStart = a, fc.start
		}
	}
	if len(l.m) >= maxTracked {
		delete(l.m, oldest)
	}
}

// tracked is the number of addresses remembered.
func (l *failLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
