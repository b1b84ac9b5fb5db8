package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxTopicLen is the longest topic: a UTF-8 string with a 16-bit length.
const maxTopicLen = 65535

// checkTopicString applies the rules shared by topic names and filters.
func checkTopicString(s, what string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what) // [MQTT-4.7.3-1]
	case len(s) > maxTopicLen:
		return fmt.Errorf("%s is %d bytes, longer than %d", what, len(s), maxTopicLen) // [MQTT-4.7.3-3]
	case !utf8.ValidString(s):
		return fmt.Errorf("%s %q is not valid UTF-8", what, s) // [MQTT-1.5.3-1]
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("%s %q contains U+0000", what, s) // [MQTT-4.7.3-2]
	}
	return nil
}

// checkFilter validates an MQTT topic filter: "+" must be a whole level
// and "#" a whole last level.
func checkFilter(f string) error {
	if err := checkTopicString(f, "topic filter"); err != nil {
		return err
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("invalid topic filter %q: # must be a whole level and the last one", f) // [MQTT-4.7.1-2]
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("invalid topic filter %q: + must be a whole level", f) // [MQTT-4.7.1-3]
		}
	}
	return nil
}

// checkTopicName validates an MQTT topic name: no wildcards.
func checkTopicName(t string) error {
	if err := checkTopicString(t, "topic name"); err != nil {
		return err
	}
	if strings.ContainsAny(t, "+#") {
		return fmt.Errorf("topic name %q must not contain the wildcards + or #", t) // [MQTT-4.7.1-1]
	}
	return nil
}

// checkPrefix validates a topic prefix: it may be empty but holds no wildcards.
func checkPrefix(p string) error {
	if p == "" {
		return nil
	}
	if err := checkTopicName(p); err != nil {
		return fmt.Errorf("invalid prefix: %w", err)
	}
	return nil
}

// wildcards counts the wildcard levels of a valid filter; a rewrite refers
// to them as {1}, {2}... in order.
func wildcards(f string) int {
	n := 0
	for l := range strings.SplitSeq(f, "/") {
		if l == "+" || l == "#" {
			n++
		}
	}
	return n
}

// checkRewrite validates a rewrite template against a filter with n
// wildcard levels: each {N} must name one of them (1..n), braces appear only
// in placeholders, and the text around them holds no wildcards.
func checkRewrite(tmpl string, n int) error {
	if tmpl == "" {
		return errors.New("empty rewrite")
	}
	var literal strings.Builder
	for i := 0; i < len(tmpl); i++ {
		switch tmpl[i] {
		case '{':
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				return fmt.Errorf("unclosed { at byte %d of %q", i, tmpl)
			}
			ref := tmpl[i+1 : i+end]
			num, err := strconv.Atoi(ref)
			if err != nil || num < 1 || ref[0] == '+' {
				return fmt.Errorf("placeholder {%s} in %q: want {N} with N a wildcard level number from 1", ref, tmpl)
			}
			if num > n {
				return fmt.Errorf("placeholder {%d} in %q: the pattern has %d wildcard level(s)", num, tmpl, n)
			}
			literal.WriteByte('x')
			i += end
		case '}':
			return fmt.Errorf("} without { at byte %d of %q", i, tmpl)
		default:
			literal.WriteByte(tmpl[i])
		}
	}
	if err := checkTopicName(literal.String()); err != nil {
		return fmt.Errorf("rewrite %q: %w", tmpl, err)
	}
	return nil
}
