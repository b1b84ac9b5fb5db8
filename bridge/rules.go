package bridge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// rule is a compiled Rule.
type rule struct {
	Rule
	localFilter  string // subscribed to on the local broker (Out, Both)
	remoteFilter string // subscribed to on the remote broker (In, Both)
	tmpl         []part // Rewrite, parsed
}

// part is a piece of a rewrite template: literal text, or the Nth
// wildcard level of the pattern when ref > 0.
type part struct {
	lit string
	ref int
}

func compileRule(r Rule) (*rule, error) {
	if err := checkFilter(r.Pattern); err != nil {
		return nil, err
	}
	switch r.Direction {
	case Out, In, Both:
	default:
		return nil, fmt.Errorf("direction %q: want out, in or both", r.Direction)
	}
	if r.QoS > 2 {
		return nil, fmt.Errorf("qos %d: want 0, 1 or 2", r.QoS)
	}
	switch r.Retain {
	case "":
		r.Retain = RetainAsPublished
	case RetainKeep, RetainClear, RetainAsPublished:
	default:
		return nil, fmt.Errorf("retain %q: want keep, clear or as_published", r.Retain)
	}
	if strings.ContainsAny(r.LocalPrefix+r.RemotePrefix, "+#") {
		return nil, errors.New("a prefix must not contain + or #")
	}
	c := &rule{Rule: r}
	if r.Rewrite == "" {
		if c.out() {
			c.localFilter = r.LocalPrefix + r.Pattern
		}
		if c.in() {
			c.remoteFilter = r.RemotePrefix + r.Pattern
		}
		return c, nil
	}
	if r.Direction == Both {
		return nil, errors.New("rewrite: not with direction both (a rewrite maps one way)")
	}
	if r.LocalPrefix != "" || r.RemotePrefix != "" {
		return nil, errors.New("rewrite: not with local_prefix or remote_prefix")
	}
	tmpl, err := parseTemplate(r.Rewrite, wildcardLevels(r.Pattern))
	if err != nil {
		return nil, err
	}
	c.tmpl = tmpl
	if r.Direction == Out {
		c.localFilter = r.Pattern
	} else {
		c.remoteFilter = r.Pattern
	}
	return c, nil
}

func (r *rule) out() bool { return r.Direction == Out || r.Direction == Both }
func (r *rule) in() bool  { return r.Direction == In || r.Direction == Both }

// mapOut returns the remote topic of a local topic that matches
// r.localFilter.
func (r *rule) mapOut(topic string) string {
	if r.tmpl != nil {
		return fill(r.tmpl, captures(r.Pattern, topic))
	}
	return r.RemotePrefix + strings.TrimPrefix(topic, r.LocalPrefix)
}

// mapIn returns the local topic of a remote topic that matches
// r.remoteFilter.
func (r *rule) mapIn(topic string) string {
	if r.tmpl != nil {
		return fill(r.tmpl, captures(r.Pattern, topic))
	}
	return r.LocalPrefix + strings.TrimPrefix(topic, r.RemotePrefix)
}

// retain returns the retain flag to forward for a message that had flag.
func (r *rule) retain(flag bool) bool {
	return r.Retain != RetainClear && flag
}

// checkFilter validates an MQTT topic filter [MQTT-4.7.1-2] [MQTT-4.7.1-3].
func checkFilter(f string) error {
	if f == "" {
		return errors.New("empty pattern") // [MQTT-4.7.3-1]
	}
	if len(f) > 65535 || strings.ContainsRune(f, 0) {
		return fmt.Errorf("pattern %.40q...: too long or contains U+0000", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("pattern %q: # must be a whole level and the last one", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("pattern %q: + must be a whole level", f)
		}
	}
	return nil
}

func wildcardLevels(f string) int {
	n := 0
	for l := range strings.SplitSeq(f, "/") {
		if l == "+" || l == "#" {
			n++
		}
	}
	return n
}

// parseTemplate parses a rewrite such as "site1/{1}/temperature" for a
// pattern with n wildcard levels.
func parseTemplate(s string, n int) ([]part, error) {
	var parts []part
	lit := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("rewrite %q: unclosed { at byte %d", s, i)
			}
			num, err := strconv.Atoi(s[i+1 : i+end])
			if err != nil || num < 1 || num > n {
				return nil, fmt.Errorf("rewrite %q: placeholder %s: want {1}..{%d}", s, s[i:i+end+1], n)
			}
			if lit < i {
				parts = append(parts, part{lit: s[lit:i]})
			}
			parts = append(parts, part{ref: num})
			i += end
			lit = i + 1
		case '}':
			return nil, fmt.Errorf("rewrite %q: } without { at byte %d", s, i)
		case '+', '#':
			return nil, fmt.Errorf("rewrite %q: wildcards are not allowed in a topic name", s)
		}
	}
	if lit < len(s) {
		parts = append(parts, part{lit: s[lit:]})
	}
	return parts, nil
}

// captures returns what each wildcard level of filter matched in topic,
// which matches filter. "#" captures the rest of the topic, possibly "".
func captures(filter, topic string) []string {
	var caps []string
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return append(caps, topic)
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl == "+" {
			caps = append(caps, tl)
		}
		if !fmore {
			return caps
		}
		filter = frest
		if !tmore {
			// "a/#" matches "a": the "#" captures nothing.
			if frest == "#" {
				caps = append(caps, "")
			}
			return caps
		}
		topic = trest
	}
}

func fill(tmpl []part, caps []string) string {
	var b strings.Builder
	for _, p := range tmpl {
		if p.ref > 0 {
			if p.ref <= len(caps) {
				b.WriteString(caps[p.ref-1])
			}
			continue
		}
		b.WriteString(p.lit)
	}
	return b.String()
}
