package broker

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
)

// subscription is one client's subscription to one topic filter.
// A subscription is immutable once in the trie; changing options replaces it.
type subscription struct {
	sess              *session // nil for in-process handlers
	handler           Handler  // in-process subscriber, or nil
	filter            string   // the filter as the client sent it, "$share/g/f" included
	topicFilter       string   // the filter without "$share/g/"
	group             string   // shared subscription group, "" when not shared
	qos               byte
	noLocal           bool
	retainAsPublished bool
	retainHandling    byte
	id                uint32 // v5 subscription identifier, 0 when none
}

// shareGroup holds the members of one shared subscription ($share/name/filter).
type shareGroup struct {
	name    string
	members []*subscription
	next    atomic.Uint32 // round-robin cursor
}

// node is one level of the trie. The wildcard children "+" and "#" have
// fields of their own, so that matching a topic level costs one map lookup
// instead of three.
type node struct {
	children map[string]*node       // literal levels
	plus     *node                  // "+"
	hash     *node                  // "#"
	subs     []*subscription        // non-shared subscriptions whose filter ends here
	shared   map[string]*shareGroup // shared groups whose filter ends here
}

func (n *node) empty() bool {
	return len(n.children) == 0 && n.plus == nil && n.hash == nil && len(n.subs) == 0 && len(n.shared) == 0
}

// child returns the child for a filter level, or nil.
func (n *node) child(level string) *node {
	switch level {
	case "+":
		return n.plus
	case "#":
		return n.hash
	}
	return n.children[level]
}

// addChild returns the child for a filter level, creating it.
func (n *node) addChild(level string) *node {
	if c := n.child(level); c != nil {
		return c
	}
	c := &node{}
	switch level {
	case "+":
		n.plus = c
	case "#":
		n.hash = c
	default:
		if n.children == nil {
			n.children = make(map[string]*node)
		}
		n.children[level] = c
	}
	return c
}

// removeChild drops the child for a filter level.
func (n *node) removeChild(level string) {
	switch level {
	case "+":
		n.plus = nil
	case "#":
		n.hash = nil
	default:
		delete(n.children, level)
	}
}

// trie is the subscription index: a tree of topic levels with "+" and "#"
// as ordinary child keys. Reads (matching a published topic) take the read
// lock and do not allocate; subscribe and unsubscribe take the write lock.
type trie struct {
	mu    sync.RWMutex
	root  node
	count int // subscriptions in the trie
}

// forEachLevel calls fn for each "/"-separated level of s.
func forEachLevel(s string, fn func(level string)) {
	for {
		i := strings.IndexByte(s, '/')
		if i < 0 {
			fn(s)
			return
		}
		fn(s[:i])
		s = s[i+1:]
	}
}

// add inserts sub, replacing a subscription of the same session and filter.
// It reports whether the subscription existed before.
func (t *trie) add(sub *subscription) (existed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addLocked(sub)
}

// addLocked is add with t.mu held for writing.
func (t *trie) addLocked(sub *subscription) (existed bool) {
	n := &t.root
	forEachLevel(sub.topicFilter, func(level string) { n = n.addChild(level) })
	if sub.group == "" {
		for i, s := range n.subs {
			if s.sess == sub.sess && s.handler == sub.handler {
				n.subs[i] = sub
				return true
			}
		}
		n.subs = append(n.subs, sub)
		t.count++
		return false
	}
	if n.shared == nil {
		n.shared = make(map[string]*shareGroup)
	}
	g := n.shared[sub.group]
	if g == nil {
		g = &shareGroup{name: sub.group}
		n.shared[sub.group] = g
	}
	for i, s := range g.members {
		if s.sess == sub.sess {
			g.members[i] = sub
			return true
		}
	}
	g.members = append(g.members, sub)
	t.count++
	return false
}

// remove deletes the subscription of sess to filter (topicFilter and group
// as parsed) and prunes empty nodes. It reports whether one was found.
func (t *trie) remove(sess *session, topicFilter, group string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.removeLevel(&t.root, sess, nil, topicFilter, group)
}

// removeHandler deletes an in-process handler's subscription.
func (t *trie) removeHandler(h Handler, filter string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.removeLevel(&t.root, nil, h, filter, "")
}

func (t *trie) removeLevel(n *node, sess *session, h Handler, rest, group string) bool {
	level, tail, more := cutLevel(rest)
	child := n.child(level)
	if child == nil {
		return false
	}
	var found bool
	if more {
		found = t.removeLevel(child, sess, h, tail, group)
	} else {
		found = child.removeSub(sess, h, group)
	}
	if found {
		if !more {
			t.count--
		}
		if child.empty() {
			n.removeChild(level)
		}
	}
	return found
}

func (n *node) removeSub(sess *session, h Handler, group string) bool {
	if group == "" {
		for i, s := range n.subs {
			if s.sess == sess && s.handler == h {
				n.subs = deleteAt(n.subs, i)
				return true
			}
		}
		return false
	}
	g := n.shared[group]
	if g == nil {
		return false
	}
	for i, s := range g.members {
		if s.sess == sess {
			g.members = deleteAt(g.members, i)
			if len(g.members) == 0 {
				delete(n.shared, group)
			}
			return true
		}
	}
	return false
}

// cutLevel splits the first level off a topic or filter.
func cutLevel(s string) (level, rest string, more bool) {
	i := strings.IndexByte(s, '/')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// matches is the reusable result of a match: one subscription per match,
// and for each matching shared group the one member chosen for this message.
type matches struct {
	subs []*subscription
}

func (m *matches) reset() {
	clear(m.subs)
	m.subs = m.subs[:0]
}

// match appends to m every subscription whose filter matches topic, and
// every shared group, without allocating once m has grown. Topics that
// start with '$' are not matched by filters that start with a wildcard
// [MQTT-4.7.2-1].
func (t *trie) match(topic []byte, m *matches) {
	t.mu.RLock()
	t.matchLocked(topic, m)
	t.mu.RUnlock()
}

// matchLocked is match with t.mu held.
func (t *trie) matchLocked(topic []byte, m *matches) {
	matchLevel(&t.root, topic, len(topic) > 0 && topic[0] == '$', m)
}

func matchLevel(n *node, topic []byte, dollar bool, m *matches) {
	i := bytes.IndexByte(topic, '/')
	level, rest := topic, []byte(nil)
	if i >= 0 {
		level, rest = topic[:i], topic[i+1:]
	}
	last := i < 0
	if !dollar {
		// "#" matches this level and everything below.
		if c := n.hash; c != nil {
			m.collect(c)
		}
		if c := n.plus; c != nil {
			if last {
				m.collect(c)
				if h := c.hash; h != nil {
					m.collect(h)
				}
			} else {
				matchLevel(c, rest, false, m)
			}
		}
	}
	if len(n.children) == 0 {
		return
	}
	if c := n.children[string(level)]; c != nil {
		if last {
			m.collect(c)
			// "a/#" also matches "a" [MQTT-4.7.1-2].
			if h := c.hash; h != nil {
				m.collect(h)
			}
		} else {
			matchLevel(c, rest, false, m)
		}
	}
}

func (m *matches) collect(n *node) {
	m.subs = append(m.subs, n.subs...)
	for _, g := range n.shared {
		m.subs = append(m.subs, g.pick())
	}
}

// pick chooses the member of a shared group that gets the next message:
// round-robin over members whose session is connected, or over all members
// when none is (their sessions queue it). Called under the trie read lock.
func (g *shareGroup) pick() *subscription {
	n := uint32(len(g.members))
	start := g.next.Add(1) - 1
	for i := uint32(0); i < n; i++ {
		s := g.members[(start+i)%n]
		if s.sess.online.Load() {
			if i > 0 {
				g.next.Store(start + i + 1)
			}
			return s
		}
	}
	return g.members[start%n]
}

// deleteAt removes element i, keeping order.
func deleteAt[T any](s []T, i int) []T {
	copy(s[i:], s[i+1:])
	var zero T
	s[len(s)-1] = zero
	return s[:len(s)-1]
}
