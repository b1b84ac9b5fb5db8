// Package ratelog logs a recurring warning at most once per period, with
// the number of occurrences left out since the last line, so that a flood
// of bad connections or logins cannot flood the log.
package ratelog

import (
	"log/slog"
	"sync"
	"time"
)

// Logger logs Msg at warning level at most once per Every. The zero value
// is not usable: set Log, Msg and Every.
type Logger struct {
	Log   *slog.Logger
	Msg   string
	Every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Warn logs Msg with args, unless a line was logged less than Every ago;
// then it only counts the occurrence, reported as "suppressed" on the next
// line.
func (r *Logger) Warn(args ...any) {
	r.mu.Lock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < r.Every {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	r.Log.Warn(r.Msg, args...)
}
