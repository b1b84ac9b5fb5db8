package logs

import (
	"log/slog"
	"strings"
)

// keyer makes the identity of a record for the rate limiter and the ring:
// level, message and the values of the key attributes.
type keyer struct {
	keys map[string]struct{}
}

func newKeyer(attrs []string) keyer {
	k := keyer{keys: make(map[string]struct{}, len(attrs))}
	for _, a := range attrs {
		k.keys[a] = struct{}{}
	}
	return k
}

// key returns r's identity; withKey holds the key attributes added by
// Logger.With; grouped records have no top-level attributes of their own.
func (k keyer) key(r *slog.Record, withKey string, grouped bool) string {
	var b strings.Builder
	b.WriteString(r.Level.String())
	b.WriteByte(0)
	b.WriteString(r.Message)
	b.WriteByte(0)
	b.WriteString(withKey)
	if !grouped {
		r.Attrs(func(a slog.Attr) bool {
			k.write(&b, a)
			return true
		})
	}
	return b.String()
}

// part is the key contribution of attributes added with Logger.With.
func (k keyer) part(as []slog.Attr) string {
	var b strings.Builder
	for _, a := range as {
		k.write(&b, a)
	}
	return b.String()
}

func (k keyer) write(b *strings.Builder, a slog.Attr) {
	if _, ok := k.keys[a.Key]; !ok {
		return
	}
	b.WriteString(a.Key)
	b.WriteByte('=')
	b.WriteString(a.Value.Resolve().String())
	b.WriteByte(0)
}
