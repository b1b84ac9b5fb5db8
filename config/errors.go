package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a config file.
type Error struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int // 1-based; 0 when unknown
	Key    string
	Msg    string
}

// Error formats the problem as "file:line:col: key: msg", leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(":")
		if e.Column > 0 {
			b.WriteString(strconv.Itoa(e.Column))
			b.WriteString(":")
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a config file, in file order.
type Errors []*Error

// Error joins the problems one per line.
func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// sort orders the problems by line, then column; problems without a line
// come last, in the order they were found.
func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		la, lb := a.Line, b.Line
		if la == 0 {
			la = int(^uint(0) >> 1)
		}
		if lb == 0 {
			lb = int(^uint(0) >> 1)
		}
		return cmp.Or(cmp.Compare(la, lb), cmp.Compare(a.Column, b.Column))
	})
}

// pos is where a key (or a list element) starts in the file.
type pos struct{ line, col int }

// source records the file a Config was parsed from and where each key was.
type source struct {
	file string
	at   map[string]pos // key path ("listeners[1].address") -> position
}

// has reports whether key was present in the file.
func (s *source) has(key string) bool {
	if s == nil {
		return false
	}
	_, ok := s.at[key]
	return ok
}

// find returns the position of key, or of its nearest present ancestor
// (for a missing key, the mapping it is missing from).
func (s *source) find(key string) pos {
	if s == nil {
		return pos{}
	}
	for k := key; k != ""; k = parentKey(k) {
		if p, ok := s.at[k]; ok {
			return p
		}
	}
	return pos{}
}

// parentKey strips the last ".name" or "[i]" of a key path.
func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

// ErrorAt returns an Error for key at the position it had in the file the
// Config was parsed from (or of its nearest present parent). For a Config
// not parsed from a file it carries no position. edgemq check uses it to
// report problems found in referenced files, such as a missing certificate.
func (c *Config) ErrorAt(key, msg string) *Error {
	e := &Error{Key: key, Msg: msg}
	if c.src != nil {
		p := c.src.find(key)
		e.File, e.Line, e.Column = c.src.file, p.line, p.col
	}
	return e
}
