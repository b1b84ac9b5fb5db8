package broker

import (
	"fmt"
	"slices"
	"testing"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

// Filter/topic pairs from the MQTT specifications' examples (section 4.7).
var matchCases = []struct {
	filter, topic string
	want          bool
}{
	{"sport/tennis/player1/#", "sport/tennis/player1", true}, // [MQTT-4.7.1-2]
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/#", "sport", true},
	{"#", "sport/tennis", true},
	{"#", "/", true},
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player1/tranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+", "/finance", false},
	{"+/tennis/#", "sport/tennis", true},
	{"a/b", "a/b", true},
	{"a/b", "a/b/c", false},
	{"a/b/c", "a/b", false},
	{"a/+/c", "a//c", true},
	{"+", "", true},
	{"#", "$SYS/broker", false}, // [MQTT-4.7.2-1]
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"$SYS/#", "$SYS/monitor/Clients", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"a/#", "a/$b", true},
	{"A/b", "a/b", false},
}

func newTestSession(s *Server, id string) *session {
	sess := s.newSession(id)
	return sess
}

func TestTrieMatch(t *testing.T) {
	s := &Server{}
	for _, tc := range matchCases {
		var tr trie
		sess := newTestSession(s, "c")
		tr.add(&subscription{sess: sess, filter: tc.filter, topicFilter: tc.filter})
		var m matches
		tr.match([]byte(tc.topic), &m)
		if got := len(m.subs) == 1; got != tc.want {
			t.Errorf("trie: filter %q topic %q: match=%v, want %v", tc.filter, tc.topic, got, tc.want)
		}
		if got := packet.Match(tc.filter, tc.topic); got != tc.want {
			t.Errorf("packet.Match(%q, %q) = %v, want %v (the trie and Match must agree)", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestTrieAddRemove(t *testing.T) {
	s := &Server{}
	var tr trie
	a, b := newTestSession(s, "a"), newTestSession(s, "b")
	for _, f := range []string{"x/y", "x/+", "x/#", "#"} {
		tr.add(&subscription{sess: a, filter: f, topicFilter: f})
	}
	if existed := tr.add(&subscription{sess: a, filter: "x/y", topicFilter: "x/y", qos: 2}); !existed {
		t.Fatal("re-subscribing did not report the existing subscription")
	}
	tr.add(&subscription{sess: b, filter: "x/y", topicFilter: "x/y"})
	if tr.count != 5 {
		t.Fatalf("count = %d, want 5", tr.count)
	}
	var m matches
	tr.match([]byte("x/y"), &m)
	if len(m.subs) != 5 {
		t.Fatalf("x/y matched %d subscriptions, want 5", len(m.subs))
	}
	for _, f := range []string{"x/y", "x/+", "x/#", "#"} {
		if !tr.remove(a, f, "") {
			t.Fatalf("remove %q: not found", f)
		}
	}
	if tr.remove(a, "x/y", "") {
		t.Fatal("removed a subscription twice")
	}
	if tr.count != 1 {
		t.Fatalf("count = %d, want 1", tr.count)
	}
	tr.remove(b, "x/y", "")
	if !tr.root.empty() {
		t.Fatalf("trie not pruned: %+v", tr.root)
	}
}

func TestSharedRoundRobin(t *testing.T) {
	s := &Server{}
	var tr trie
	var members []*session
	for i := range 3 {
		sess := newTestSession(s, fmt.Sprint("m", i))
		sess.online.Store(true)
		members = append(members, sess)
		tr.add(&subscription{sess: sess, filter: "$share/g/t/#", topicFilter: "t/#", group: "g"})
	}
	got := map[string]int{}
	var m matches
	for range 30 {
		m.reset()
		tr.match([]byte("t/1"), &m)
		if len(m.subs) != 1 {
			t.Fatalf("shared group delivered to %d members, want 1", len(m.subs))
		}
		got[m.subs[0].sess.id]++
	}
	for _, sess := range members {
		if got[sess.id] != 10 {
			t.Fatalf("round robin uneven: %v", got)
		}
	}
	// Offline members are skipped while one is online.
	members[0].online.Store(false)
	members[1].online.Store(false)
	for range 5 {
		m.reset()
		tr.match([]byte("t/1"), &m)
		if m.subs[0].sess != members[2] {
			t.Fatalf("picked offline member %s", m.subs[0].sess.id)
		}
	}
}

func TestQueueDropOldestQoS0(t *testing.T) {
	var q queue
	var pool messagePool
	mk := func(qos byte, id string) delivery {
		m := pool.get()
		m.Topic = []byte(id)
		return delivery{msg: m, qos: qos}
	}
	q.push(mk(1, "a"))
	q.push(mk(0, "b"))
	q.push(mk(1, "c"))
	q.push(mk(0, "d"))
	d, ok := q.removeFirstQoS0()
	if !ok || string(d.msg.Topic) != "b" {
		t.Fatalf("removed %v, want b", d.msg)
	}
	var order []string
	q.drain(func(d delivery) { order = append(order, string(d.msg.Topic)) })
	if !slices.Equal(order, []string{"a", "c", "d"}) {
		t.Fatalf("order after drop = %v", order)
	}
}

// BenchmarkRoutePublish routes one QoS 0 PUBLISH through the trie to a
// connected subscriber's queue, as a publisher's reader does, and drains
// the queue as its writer would. It must not allocate.
func BenchmarkRoutePublish(b *testing.B) {
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	sess := s.newSession("sub")
	sess.online.Store(true)
	for _, f := range []string{"sensors/+/temperature", "other/#", "sensors/room9/humidity"} {
		s.addSubscription(sess, &subscription{sess: sess, filter: f, topicFilter: f, qos: 1}, nil, nil)
	}
	p := packet.Publish{Topic: []byte("sensors/room1/temperature"), Payload: make([]byte, 64)}
	var ms matches
	var batch storage.Batch
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m := s.msgs.get()
		m.Hold()
		m.fill(&p, p.Topic)
		if s.route(m, &ms, &batch) != 1 {
			b.Fatal("not routed")
		}
		m.Release()
		if i%64 == 63 {
			sess.mu.Lock()
			sess.q.drain(func(d delivery) { d.msg.Release() })
			sess.mu.Unlock()
		}
	}
}

type countHandler struct{ n int }

func (h *countHandler) HandleMessage(m *Message, b *storage.Batch) { h.n++ }

func TestHandlerSubscription(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	h1, h2 := &countHandler{}, &countHandler{}
	un1, err := s.Subscribe("a/#", h1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe("a/+", h2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe("$share/g/a", h2); err == nil {
		t.Fatal("a handler may not join a shared subscription")
	}
	s.Publish([]byte("a/b"), []byte("x"), PublishOptions{})
	if h1.n != 1 || h2.n != 1 {
		t.Fatalf("handlers saw %d and %d messages, want 1 and 1", h1.n, h2.n)
	}
	un1()
	s.Publish([]byte("a/b"), []byte("x"), PublishOptions{})
	if h1.n != 1 || h2.n != 2 {
		t.Fatalf("after unsubscribe: %d and %d, want 1 and 2", h1.n, h2.n)
	}
}
