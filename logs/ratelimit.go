// Package logs holds edgemq's slog.Handler wrappers: a rate limiter for
// repeated warnings, a ring of the last warnings for the status page, and
// the redaction of secrets. They wrap the standard text or JSON handler
// that cmd/edgemq builds from the log section of the config.
package logs

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultKeyAttrs returns the attributes that tell one repeated warning
// from another: the same message about another client, listener, bridge or
// serial device is a different warning. Other attributes (remote address,
// error text, counts) vary between repeats and do not count.
func DefaultKeyAttrs() []string {
	return []string{"client", "listener", "bridge", "device", "node", "topic", "bucket"}
}

// RateLimitOptions configure a RateLimiter. Zero fields take the defaults.
type RateLimitOptions struct {
	// Window is how long repeats of a logged record are held back (1m).
	Window time.Duration
	// Level is the lowest level limited (slog.LevelWarn); records below
	// it, such as one info line per connection, always pass.
	Level slog.Level
	// KeyAttrs name the attributes that, with the level and message, make
	// two records the same warning (DefaultKeyAttrs()). Only top-level
	// attributes count, from the record and from Logger.With.
	KeyAttrs []string
	// MaxKeys bounds the warnings tracked at once (1024). When it is
	// reached and none has expired, new warnings pass unlimited.
	MaxKeys int
}

// RateLimiter is a slog.Handler that passes the first record of a kind and
// holds back its repeats within the window; when the window ends, it logs
// the last repeat once more with "suppressed"=N, the number held back.
// A steady flood therefore costs one line per window. Close flushes the
// pending counts. (Under Logger.WithGroup, "suppressed" lands in the group,
// as any attribute added to the record would.)
type RateLimiter struct {
	st      *limitState
	next    slog.Handler
	withKey string // key attributes added by WithAttrs
	grouped bool   // a group is open: later attributes are not top-level
}

type limitState struct {
	opts       RateLimitOptions
	keyer      keyer
	mu         sync.Mutex
	m          map[string]*limitEntry
	closed     bool
	suppressed atomic.Uint64
}

// limitEntry is one kind of record seen within its window.
type limitEntry struct {
	until time.Time // end of the window
	n     int       // repeats held back in this window
	last  slog.Record
	h     slog.Handler // the handler the last repeat was for
	timer *time.Timer  // armed while n > 0
}

// NewRateLimiter returns a RateLimiter that writes to next.
func NewRateLimiter(next slog.Handler, o RateLimitOptions) *RateLimiter {
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.Level == 0 {
		o.Level = slog.LevelWarn
	}
	if o.KeyAttrs == nil {
		o.KeyAttrs = DefaultKeyAttrs()
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 1024
	}
	st := &limitState{opts: o, keyer: newKeyer(o.KeyAttrs), m: make(map[string]*limitEntry)}
	return &RateLimiter{st: st, next: next}
}

// Enabled reports whether next handles level.
func (l *RateLimiter) Enabled(ctx context.Context, level slog.Level) bool {
	return l.next.Enabled(ctx, level)
}

// WithAttrs returns a handler sharing l's state whose records carry as.
func (l *RateLimiter) WithAttrs(as []slog.Attr) slog.Handler {
	n := *l
	n.next = l.next.WithAttrs(as)
	if !l.grouped {
		n.withKey = l.withKey + l.st.keyer.part(as)
	}
	return &n
}

// WithGroup returns a handler sharing l's state that opens group name.
func (l *RateLimiter) WithGroup(name string) slog.Handler {
	n := *l
	n.next = l.next.WithGroup(name)
	n.grouped = true
	return &n
}

// Handle passes r on, or holds it back as a repeat.
func (l *RateLimiter) Handle(ctx context.Context, r slog.Record) error {
	st := l.st
	if r.Level < st.opts.Level {
		return l.next.Handle(ctx, r)
	}
	key := l.key(&r)
	now := time.Now()
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return l.next.Handle(ctx, r)
	}
	e := st.m[key]
	if e != nil && now.Before(e.until) {
		e.n++
		e.last, e.h = r.Clone(), l.next
		if e.timer == nil {
			e.timer = time.AfterFunc(e.until.Sub(now), func() { st.flush(key) })
		}
		st.mu.Unlock()
		st.suppressed.Add(1)
		return nil
	}
	if e == nil && len(st.m) >= st.opts.MaxKeys {
		st.sweepLocked(now)
	}
	if e != nil || len(st.m) < st.opts.MaxKeys {
		st.m[key] = &limitEntry{until: now.Add(st.opts.Window)}
	}
	st.mu.Unlock()
	return l.next.Handle(ctx, r)
}

// flush logs the last held-back repeat of key with its count, and starts a
// new window so that a flood still costs one line per window.
func (st *limitState) flush(key string) {
	st.mu.Lock()
	e := st.m[key]
	if st.closed || e == nil || e.n == 0 {
		st.mu.Unlock()
		return
	}
	r, h, n := e.last, e.h, e.n
	e.n, e.last, e.h, e.timer = 0, slog.Record{}, nil, nil
	e.until = time.Now().Add(st.opts.Window)
	st.mu.Unlock()
	r.AddAttrs(slog.Int("suppressed", n))
	h.Handle(context.Background(), r)
}

// sweepLocked forgets entries whose window is over and that hold nothing.
func (st *limitState) sweepLocked(now time.Time) {
	for k, e := range st.m {
		if e.n == 0 && !now.Before(e.until) {
			delete(st.m, k)
		}
	}
}

// Suppressed returns how many records have been held back so far.
func (l *RateLimiter) Suppressed() uint64 { return l.st.suppressed.Load() }

// Close stops the timers and logs every pending count at once. Records
// handled after Close pass unlimited.
func (l *RateLimiter) Close() {
	st := l.st
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	st.closed = true
	type pending struct {
		r slog.Record
		h slog.Handler
		n int
	}
	var out []pending
	for _, e := range st.m {
		if e.timer != nil {
			e.timer.Stop()
		}
		if e.n > 0 {
			out = append(out, pending{e.last, e.h, e.n})
		}
	}
	st.m = nil
	st.mu.Unlock()
	slices.SortFunc(out, func(a, b pending) int { return a.r.Time.Compare(b.r.Time) })
	for _, p := range out {
		p.r.AddAttrs(slog.Int("suppressed", p.n))
		p.h.Handle(context.Background(), p.r)
	}
}

// key is the identity of r for limiting: level, message and key attributes.
func (l *RateLimiter) key(r *slog.Record) string {
	return l.st.keyer.key(r, l.withKey, l.grouped)
}
