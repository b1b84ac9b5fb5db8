package auth

import (
	"bytes"
	"strings"

	"github.com/edgemq/edgemq/broker"
)

// rule is one topic or pattern line of an ACL file.
type rule struct {
	filter  string
	levels  []level
	perm    perm
	dollar  bool // the filter starts with $: it matches only $ topics
	hasUser bool // a %u level: not for clients without a username
	line    int
}

type levelKind uint8

const (
	literal  levelKind = iota
	plus               // +
	hash               // #
	clientID           // %c in a pattern
	username           // %u in a pattern
)

type level struct {
	kind levelKind
	s    string // the literal
}

// resolve returns the literal a level stands for, substituting %c and %u;
// wild is true for +. ok is false when the level can match no topic level:
// a %u without a username, or a value with a / in it.
func (lv *level) resolve(c *broker.ClientInfo) (s string, wild, ok bool) {
	switch lv.kind {
	case plus:
		return "", true, true
	case clientID:
		s = c.ClientID
	case username:
		s = c.Username
		if s == "" {
			return "", false, false
		}
	default:
		return lv.s, false, true
	}
	return s, false, !strings.Contains(s, "/")
}

// matchTopic reports whether the rule matches topic, a topic name. It
// does not allocate: it runs for every delivery.
func (r *rule) matchTopic(topic []byte, c *broker.ClientInfo) bool {
	if r.dollar != (len(topic) > 0 && topic[0] == '$') {
		return false
	}
	pos, done := 0, false
	for i := range r.levels {
		lv := &r.levels[i]
		if lv.kind == hash {
			return true // also matches the parent level: "a/#" matches "a"
		}
		if done {
			return false
		}
		var seg []byte
		if j := bytes.IndexByte(topic[pos:], '/'); j >= 0 {
			seg, pos = topic[pos:pos+j], pos+j+1
		} else {
			seg, done = topic[pos:], true
		}
		s, wild, ok := lv.resolve(c)
		if !ok || !wild && string(seg) != s {
			return false
		}
	}
	return done
}

// intersects reports whether some topic matches both the rule and the
// filter (split into levels). The caller has checked the $ rule.
func (r *rule) intersects(f []string, c *broker.ClientInfo) bool {
	for i := 0; ; i++ {
		rEnd, fEnd := i >= len(r.levels), i >= len(f)
		if !rEnd && r.levels[i].kind == hash || !fEnd && f[i] == "#" {
			return true
		}
		if rEnd || fEnd {
			return rEnd && fEnd
		}
		s, wild, ok := r.levels[i].resolve(c)
		if !ok {
			return false
		}
		if !wild && f[i] != "+" && f[i] != s {
			return false
		}
	}
}

// covers reports whether the rule matches every topic the filter (split
// into levels) matches. The caller has checked the $ rule.
func (r *rule) covers(f []string, c *broker.ClientInfo) bool {
	for i := 0; ; i++ {
		rEnd, fEnd := i >= len(r.levels), i >= len(f)
		if !rEnd && r.levels[i].kind == hash {
			return true
		}
		if rEnd || fEnd {
			return rEnd && fEnd
		}
		if f[i] == "#" {
			return false // f matches several levels (and none) here; the rule one
		}
		s, wild, ok := r.levels[i].resolve(c)
		if !ok {
			return false
		}
		if !wild && (f[i] == "+" || f[i] != s) {
			return false
		}
	}
}
