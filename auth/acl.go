package auth

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
)

// ACL is a broker.Authorizer enforcing a mosquitto-style ACL file:
//
//	# comment
//	topic read $SYS/#              rules before the first "user" line
//	topic sensors/public/#         apply to clients without a username
//	user alice                     rules after it apply to user alice
//	topic readwrite alice/#
//	topic deny alice/secret/#
//	pattern write devices/%c/out   patterns apply to every client;
//	pattern read devices/%u/in     %c is its client id, %u its username
//
// The access is read, write, readwrite (the default when left out) or
// deny. The rules, as mosquitto's acl_file:
//
//   - A client is checked against the rules of its user (for a client
//     without a username, the anonymous rules), then against the patterns.
//     A user without a "user" section has only the patterns.
//   - In each of the two lists, deny rules come first, then the others in
//     file order. The first rule that matches decides: a deny refuses, a
//     rule granting the access allows; a matching rule granting another
//     access (read when write is asked) does not decide. Nothing matching
//     refuses. So a deny in a user's section beats any allow, but an allow
//     in the user's section wins over a deny among the patterns.
//   - Rules starting with $ match only topics starting with $, and the
//     others never match those ($SYS/# must be named).
//   - %c and %u substitute only as a whole topic level ("devices/%c"), not
//     inside one ("dev-%c" stays as written). A %u pattern never applies to
//     a client without a username. When there are patterns, a client whose
//     username or client id contains + or # is refused outright (it could
//     otherwise widen a pattern); one with / in it never matches a %u or
//     %c level.
//
// What is checked: PUBLISH needs write on its topic (and a will topic needs
// write at CONNECT); every delivery, including retained messages and
// wills, needs read on the message's topic. mosquitto checks nothing at
// SUBSCRIBE; edgemq refuses a filter that could never deliver anything,
// so that clients learn it from the SUBACK (v5 0x87, 3.1.1 0x80): a filter
// is refused when a deny rule covers it entirely (every topic it matches),
// and granted when a rule granting read shares at least one topic with it;
// each message is then still checked. So with "topic read sensors/#", a
// subscription to # is granted and delivers only sensors/...; one to
// admin/# is refused.
//
// Reload swaps the rules atomically. Subscriptions granted before stay,
// but every later delivery is checked against the new rules.
type ACL struct {
	path  string
	rules atomic.Pointer[ruleSet]
}

// LoadACL reads and parses an ACL file.
func LoadACL(path string) (*ACL, error) {
	a := &ACL{path: path}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload reads the file again and swaps the new rules in. On error the
// current rules stay in force.
func (a *ACL) Reload() error {
	data, err := os.ReadFile(a.path)
	if err != nil {
		return err
	}
	rs, err := parseACL(a.path, data)
	if err != nil {
		return err
	}
	a.rules.Store(rs)
	return nil
}

// Rules is the number of rules in force.
func (a *ACL) Rules() int { return a.rules.Load().n }

// CanPublish implements broker.Authorizer: write access to topic.
func (a *ACL) CanPublish(c *broker.ClientInfo, topic []byte) bool {
	return a.rules.Load().decide(c, permWrite, func(r *rule, _ bool) bool {
		return r.matchTopic(topic, c)
	})
}

// CanReceive implements broker.Authorizer: read access to topic.
func (a *ACL) CanReceive(c *broker.ClientInfo, topic []byte) bool {
	return a.rules.Load().decide(c, permRead, func(r *rule, _ bool) bool {
		return r.matchTopic(topic, c)
	})
}

// CanSubscribe implements broker.Authorizer; see ACL for the rule.
func (a *ACL) CanSubscribe(c *broker.ClientInfo, filter string) bool {
	levels := strings.Split(filter, "/")
	dollar := strings.HasPrefix(filter, "$")
	return a.rules.Load().decide(c, permRead, func(r *rule, deny bool) bool {
		if r.dollar != dollar {
			return false
		}
		if deny {
			return r.covers(levels, c)
		}
		return r.intersects(levels, c)
	})
}

// perm is the access a rule grants; 0 is deny.
type perm uint8

const (
	permDeny  perm = 0
	permRead  perm = 1
	permWrite perm = 2
)

// ruleSet is a parsed ACL file. In each list deny rules come first.
type ruleSet struct {
	anon     []rule
	users    map[string][]rule
	patterns []rule
	n        int
}

// decide applies the rules for c; applies(r, deny) tells whether rule r
// concerns the topic or filter being checked.
func (rs *ruleSet) decide(c *broker.ClientInfo, want perm, applies func(r *rule, deny bool) bool) bool {
	list := rs.anon
	if c.Username != "" {
		list = rs.users[c.Username]
	}
	for i := range list {
		r := &list[i]
		if r.perm == permDeny {
			if applies(r, true) {
				return false
			}
		} else if r.perm&want != 0 && applies(r, false) {
			return true
		}
	}
	if len(rs.patterns) == 0 {
		return false
	}
	if strings.ContainsAny(c.Username, "+#") || strings.ContainsAny(c.ClientID, "+#") {
		return false
	}
	for i := range rs.patterns {
		r := &rs.patterns[i]
		if r.hasUser && c.Username == "" {
			continue
		}
		if r.perm == permDeny {
			if applies(r, true) {
				return false
			}
		} else if r.perm&want != 0 && applies(r, false) {
			return true
		}
	}
	return false
}

// parseACL parses an ACL file; the error names the first bad line.
func parseACL(path string, data []byte) (*ruleSet, error) {
	rs := &ruleSet{users: make(map[string][]rule)}
	user, inUser := "", false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		keyword, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch keyword {
		case "user":
			if rest == "" {
				return nil, &FileError{path, n, "user without a name"}
			}
			user, inUser = rest, true
			if _, ok := rs.users[user]; !ok {
				rs.users[user] = nil
			}
		case "topic", "pattern":
			r, err := parseRule(keyword == "pattern", rest)
			if err != nil {
				return nil, &FileError{path, n, err.Error()}
			}
			r.line = n
			rs.n++
			switch {
			case keyword == "pattern":
				rs.patterns = append(rs.patterns, r)
			case inUser:
				rs.users[user] = append(rs.users[user], r)
			default:
				rs.anon = append(rs.anon, r)
			}
		default:
			return nil, &FileError{path, n, fmt.Sprintf("unknown keyword %q: want topic, pattern or user", keyword)}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &FileError{path, 0, err.Error()}
	}
	denyFirst(rs.anon)
	denyFirst(rs.patterns)
	for _, l := range rs.users {
		denyFirst(l)
	}
	return rs, nil
}

// denyFirst moves deny rules before the others, keeping file order within
// each kind.
func denyFirst(l []rule) {
	slices.SortStableFunc(l, func(a, b rule) int {
		return boolInt(a.perm != permDeny) - boolInt(b.perm != permDeny)
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseRule parses "[access] filter" (the access is optional: a single
// word is the filter, as in mosquitto).
func parseRule(pattern bool, s string) (rule, error) {
	r := rule{perm: permRead | permWrite}
	if s == "" {
		return r, fmt.Errorf("missing topic filter")
	}
	if access, filter, ok := strings.Cut(s, " "); ok {
		switch access {
		case "read":
			r.perm = permRead
		case "write":
			r.perm = permWrite
		case "readwrite":
			r.perm = permRead | permWrite
		case "deny":
			r.perm = permDeny
		default:
			return r, fmt.Errorf("unknown access %q: want read, write, readwrite or deny", access)
		}
		s = strings.TrimSpace(filter)
	}
	if err := packet.ValidFilter([]byte(s)); err != nil {
		return r, fmt.Errorf("bad topic filter %q: %v", s, err)
	}
	r.filter = s
	r.dollar = strings.HasPrefix(s, "$")
	for _, l := range strings.Split(s, "/") {
		lv := level{kind: literal, s: l}
		switch {
		case l == "+":
			lv.kind = plus
		case l == "#":
			lv.kind = hash
		case pattern && l == "%c":
			lv.kind = clientID
		case pattern && l == "%u":
			lv.kind = username
			r.hasUser = true
		}
		r.levels = append(r.levels, lv)
	}
	return r, nil
}
