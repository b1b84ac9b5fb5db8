package monitor

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ContentType is the media type of the Prometheus text exposition format
// version 0.0.4, which Writer produces.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Kind is a metric family's type.
type Kind uint8

// Metric family types. A counter's name ends in _total.
const (
	Counter Kind = iota + 1
	Gauge
)

func (k Kind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	}
	return "untyped"
}

// Writer formats metric families in the Prometheus text exposition format:
// for each family a HELP and a TYPE line, then its samples. Collectors
// call Family, then Sample once per label set. Misuse (a bad name, a
// family written twice, a sample without a family, odd label pairs) is
// recorded and reported by Err; the offending family or sample is left out
// and the rest of the output stays valid.
type Writer struct {
	b      []byte
	family string // current family; "" when none or when it was refused
	seen   map[string]bool
	err    error
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer { return &Writer{seen: make(map[string]bool)} }

// Bytes returns the text written so far.
func (w *Writer) Bytes() []byte { return w.b }

// Err returns the first misuse, or nil.
func (w *Writer) Err() error { return w.err }

func (w *Writer) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("metrics: "+format, args...)
	}
}

// Family starts the family name of kind with its help text.
func (w *Writer) Family(name string, kind Kind, help string) {
	w.family = ""
	switch {
	case !validName(name, true):
		w.fail("family name %q is not a valid metric name", name)
		return
	case w.seen[name]:
		w.fail("family %q written twice", name)
		return
	case kind == Counter && !strings.HasSuffix(name, "_total"):
		w.fail("counter %q does not end in _total", name)
		return
	case kind != Counter && kind != Gauge:
		w.fail("family %q: unknown kind %d", name, kind)
		return
	}
	w.seen[name] = true
	w.family = name
	w.b = append(w.b, "# HELP "...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = appendEscaped(w.b, help, false)
	w.b = append(w.b, "\n# TYPE "...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, kind.String()...)
	w.b = append(w.b, '\n')
}

// Sample writes one sample of the current family; labels are name, value
// pairs.
func (w *Writer) Sample(v float64, labels ...string) {
	if w.family == "" {
		if w.err == nil {
			w.fail("sample without a family (or of a refused one)")
		}
		return
	}
	if len(labels)%2 != 0 {
		w.fail("family %q: odd number of label strings %q", w.family, labels)
		return
	}
	for i := 0; i < len(labels); i += 2 {
		if !validName(labels[i], false) || strings.HasPrefix(labels[i], "__") {
			w.fail("family %q: label name %q is not valid", w.family, labels[i])
			return
		}
	}
	w.b = append(w.b, w.family...)
	if len(labels) > 0 {
		w.b = append(w.b, '{')
		for i := 0; i < len(labels); i += 2 {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, labels[i]...)
			w.b = append(w.b, `="`...)
			w.b = appendEscaped(w.b, labels[i+1], true)
			w.b = append(w.b, '"')
		}
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, ' ')
	w.b = appendValue(w.b, v)
	w.b = append(w.b, '\n')
}

// Counter writes a counter family with one unlabelled sample.
func (w *Writer) Counter(name, help string, v float64) {
	w.Family(name, Counter, help)
	w.Sample(v)
}

// Gauge writes a gauge family with one unlabelled sample.
func (w *Writer) Gauge(name, help string, v float64) {
	w.Family(name, Gauge, help)
	w.Sample(v)
}

// appendValue formats v: integers without exponent, others shortest.
func appendValue(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendEscaped escapes a HELP text (\ and newline) or a label value (\,
// newline and ").
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// validName checks a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, without
// colons, a label name.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || colon && c == ':' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}
