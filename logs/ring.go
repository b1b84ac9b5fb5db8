package logs

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits on what one ring entry keeps, so the ring's memory is bounded.
const (
	maxEntryMessage = 256
	maxEntryAttrs   = 512
)

// Entry is one kind of warning or error in a Ring: repeats of the same
// level, message and key attributes are counted in one entry, which shows
// the latest occurrence.
type Entry struct {
	Time    time.Time `json:"time"`  // of the latest occurrence
	Level   string    `json:"level"` // "WARN" or "ERROR"
	Message string    `json:"msg"`
	Attrs   string    `json:"attrs"` // key=value pairs of the latest occurrence, secrets redacted
	Count   int       `json:"count"` // occurrences
}

// Ring keeps the last warnings and errors logged, for the status page. It
// holds at most its size of entries; a new kind of warning replaces the
// entry that was updated longest ago. Wrap puts it in front of a handler.
type Ring struct {
	keyer keyer
	size  int

	mu      sync.Mutex
	entries []Entry
	keys    []string // keys[i] is the identity of entries[i]

	warnings, errors atomic.Uint64
}

// NewRing returns a Ring of size entries (at least 1).
func NewRing(size int) *Ring {
	return &Ring{keyer: newKeyer(DefaultKeyAttrs()), size: max(size, 1)}
}

// Wrap returns a handler that records warnings and errors in r and passes
// every record next accepts on to it. Warnings are recorded even when
// next's level is above warning.
func (r *Ring) Wrap(next slog.Handler) *RingHandler {
	return &RingHandler{ring: r, next: next}
}

// Entries returns the entries, the most recent first.
func (r *Ring) Entries() []Entry {
	r.mu.Lock()
	out := slices.Clone(r.entries)
	r.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Entry) int { return b.Time.Compare(a.Time) })
	return out
}

// Counts returns how many warnings and errors were logged since NewRing.
func (r *Ring) Counts() (warnings, errors uint64) {
	return r.warnings.Load(), r.errors.Load()
}

func (r *Ring) add(key string, e Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.Index(r.keys, key); i >= 0 {
		old := &r.entries[i]
		old.Time, old.Attrs = e.Time, e.Attrs
		old.Count++
		return
	}
	if len(r.entries) < r.size {
		r.entries = append(r.entries, e)
		r.keys = append(r.keys, key)
		return
	}
	oldest := 0
	for i := range r.entries {
		if r.entries[i].Time.Before(r.entries[oldest].Time) {
			oldest = i
		}
	}
	r.entries[oldest], r.keys[oldest] = e, key
}

// RingHandler is Ring.Wrap's handler. Ring and Next let the code that
// built a logger find its parts again.
type RingHandler struct {
	ring    *Ring
	next    slog.Handler
	attrs   string // formatted attributes from WithAttrs
	group   string // open groups, "a.b."
	withKey string
}

// Ring returns the ring h records in.
func (h *RingHandler) Ring() *Ring { return h.ring }

// Next returns the handler h passes records to.
func (h *RingHandler) Next() slog.Handler { return h.next }

// Enabled reports whether h takes records of level: warnings always.
func (h *RingHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn || h.next.Enabled(ctx, level)
}

// WithAttrs returns a handler recording in the same ring with as added.
func (h *RingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.next = h.next.WithAttrs(as)
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		appendAttr(&b, h.group, a)
	}
	n.attrs = b.String()
	if h.group == "" {
		n.withKey = h.withKey + h.ring.keyer.part(as)
	}
	return &n
}

// WithGroup returns a handler recording in the same ring with group name open.
func (h *RingHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.next = h.next.WithGroup(name)
	n.group = h.group + name + "."
	return &n
}

// Handle records r if it is a warning or an error, and passes it on.
func (h *RingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		if r.Level >= slog.LevelError {
			h.ring.errors.Add(1)
		} else {
			h.ring.warnings.Add(1)
		}
		var b strings.Builder
		b.WriteString(h.attrs)
		r.Attrs(func(a slog.Attr) bool {
			appendAttr(&b, h.group, a)
			return true
		})
		level := "WARN"
		if r.Level >= slog.LevelError {
			level = "ERROR"
		}
		t := r.Time
		if t.IsZero() {
			t = time.Now()
		}
		h.ring.add(h.ring.keyer.key(&r, h.withKey, h.group != ""), Entry{
			Time: t, Level: level, Count: 1,
			Message: truncate(r.Message, maxEntryMessage),
			Attrs:   truncate(strings.TrimPrefix(b.String(), " "), maxEntryAttrs),
		})
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// appendAttr writes " key=value", with groups as key prefixes, secrets
// redacted and values quoted when they need it.
func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			appendAttr(b, g, ga)
		}
		return
	}
	a = Redact(nil, a)
	b.WriteByte(' ')
	b.WriteString(group)
	b.WriteString(a.Key)
	b.WriteByte('=')
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " =\"\n\t") {
		v = strconv.Quote(v)
	}
	b.WriteString(v)
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !utf8Start(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func utf8Start(c byte) bool { return c&0xC0 != 0x80 }
