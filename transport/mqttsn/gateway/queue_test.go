package gateway

import (
	"strings"
	"testing"
)

func d(qos byte, name string) delivery {
	return delivery{qos: qos, buf: []byte(name), tlen: len(name)}
}

func names(q *outQueue) string {
	var s []string
	for i := q.head; i < len(q.items); i++ {
		s = append(s, string(q.items[i].topic()))
	}
	return strings.Join(s, ",")
}

func TestOutQueuePolicy(t *testing.T) {
	cases := []struct {
		name    string
		max     int
		push    []delivery
		want    string
		dropped int
	}{
		{"under the bound", 3, []delivery{d(0, "a"), d(1, "b")}, "a,b", 0},
		{"QoS 0 drops the oldest QoS 0", 3, []delivery{d(0, "a"), d(1, "b"), d(0, "c"), d(0, "d")}, "b,c,d", 1},
		{"QoS 1 never dropped, evicts a QoS 0", 2, []delivery{d(0, "a"), d(1, "b"), d(1, "c")}, "b,c", 1},
		{"QoS 1 beyond the bound when all are QoS 1/2", 2, []delivery{d(1, "a"), d(2, "b"), d(1, "c")}, "a,b,c", 0},
		{"QoS 0 newcomer dropped when none is QoS 0", 2, []delivery{d(1, "a"), d(2, "b"), d(0, "c")}, "a,b", 1},
		{"a long run keeps the newest", 2, []delivery{d(0, "1"), d(0, "2"), d(0, "3"), d(0, "4"), d(0, "5")}, "4,5", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := outQueue{max: c.max}
			dropped := 0
			for _, x := range c.push {
				dropped += q.push(x)
			}
			if got := names(&q); got != c.want || dropped != c.dropped {
				t.Errorf("queue %q dropped %d, want %q and %d", got, dropped, c.want, c.dropped)
			}
		})
	}
}

func TestOutQueuePopPushFrontDrain(t *testing.T) {
	q := outQueue{max: 10}
	for _, n := range []string{"a", "b", "c"} {
		q.push(d(0, n))
	}
	x, _ := q.pop()
	if string(x.topic()) != "a" || names(&q) != "b,c" {
		t.Fatalf("pop %q leaves %q", x.topic(), names(&q))
	}
	q.pushFront(x)
	if names(&q) != "a,b,c" {
		t.Fatalf("pushFront: %q", names(&q))
	}
	q.push(d(2, "q2"))
	keep := q.drain()
	if q.len() != 0 || len(keep) != 1 || string(keep[0].topic()) != "q2" {
		t.Fatalf("drain kept %v, left %d", keep, q.len())
	}
	if _, ok := q.pop(); ok {
		t.Fatal("pop from an empty queue")
	}
	// The slice is reused: a long FIFO run does not grow it.
	for i := range 1000 {
		q.push(d(0, "x"))
		if i%2 == 1 {
			q.pop()
			q.pop()
		}
	}
	if cap(q.items) > 16 {
		t.Errorf("capacity grew to %d", cap(q.items))
	}
}

func TestRegistry(t *testing.T) {
	r := registry{max: 2}
	a, ok := r.assign([]byte("a/b"))
	if !ok || a != 1 {
		t.Fatalf("first id %d %v", a, ok)
	}
	if again, _ := r.assign([]byte("a/b")); again != a {
		t.Fatalf("same name, new id %d", again)
	}
	b, _ := r.assign([]byte("c/d"))
	if _, ok := r.assign([]byte("e/f")); ok || b != 2 {
		t.Fatalf("table of 2 took a third name (b=%d)", b)
	}
	if n, ok := r.name(b); !ok || string(n) != "c/d" {
		t.Fatalf("name(%d) = %q", b, n)
	}
	if r.isKnown(a) {
		t.Fatal("known before the client was told")
	}
	r.setKnown(a, true)
	if !r.isKnown(a) {
		t.Fatal("not known after setKnown")
	}
	r.forgetKnown()
	if r.isKnown(a) {
		t.Fatal("known after forgetKnown")
	}
	r.setKnown(a, true)
	if !r.isKnown(a) {
		t.Fatal("setKnown after forgetKnown did not stick")
	}
	r.reset()
	if _, ok := r.id([]byte("a/b")); ok || r.isKnown(a) {
		t.Fatal("reset kept entries")
	}
	if id, _ := r.assign([]byte("x")); id != 1 {
		t.Fatalf("ids restart at 1 after reset, got %d", id)
	}
}

func TestPredefinedRejectsBadConfig(t *testing.T) {
	for _, bad := range []map[uint16]string{{0: "a"}, {1: "a/+"}, {2: ""}} {
		if _, err := newPredefined(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
