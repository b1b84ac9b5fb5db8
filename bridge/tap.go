package bridge

import (
	"github.com/edgemq/edgemq/broker/packet"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/storage"
)

// tap is a bridge's in-process subscriber on the local broker: it puts
// every message that an out rule selects into the bridge's queue, during
// routing, before the publisher is acknowledged.
//
// It subscribes to broad filters rather than to each rule's pattern: "#"
// (every topic not starting with "$") when a rule needs it, and "L/#" for
// each first level L of rules on "$" topics. These filters are disjoint, so
// the broker calls the tap once per message, however many rules overlap;
// the tap then picks the first rule (in config order) that matches. The
// rules live behind an atomic pointer, so a reload swaps them between two
// messages: no message is queued twice or missed while the bridge is
// reconfigured.
type tap struct {
	name   string
	srv    *broker.Server
	q      *queue
	log    *slog.Logger
	target atomic.Pointer[outRules]

	mu    sync.Mutex
	subs  map[string]func() // filter -> unsubscribe
	drops rateLog
}

// outRules are the out rules of one configuration of a bridge.
type outRules struct {
	rules []*rule // out and both rules, in config order
}

func newTap(name string, srv *broker.Server, q *queue, log *slog.Logger) *tap {
	return &tap{name: name, srv: srv, q: q, log: log, subs: make(map[string]func()),
		drops: rateLog{every: 10 * time.Second}}
}

// tapFilters returns the broker filters that cover every rule.
func tapFilters(rules []*rule) []string {
	var fs []string
	for _, r := range rules {
		f := "#"
		if strings.HasPrefix(r.localFilter, "$") {
			first, _, _ := strings.Cut(r.localFilter, "/")
			f = first + "/#"
		}
		if !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	return fs
}

// set makes rules (all of them; set picks the out ones) the tap's rules:
// it subscribes to the filters they need, swaps the rules in, and then
// drops the filters they no longer need.
func (t *tap) set(rules []*rule) error {
	var out []*rule
	for _, r := range rules {
		if r.out() {
			out = append(out, r)
		}
	}
	want := tapFilters(out)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range want {
		if t.subs[f] != nil {
			continue
		}
		unsub, err := t.srv.Subscribe(f, t)
		if err != nil {
			return err
		}
		t.subs[f] = unsub
	}
	t.target.Store(&outRules{rules: out})
	for f, unsub := range t.subs {
		if !slices.Contains(want, f) {
			unsub()
			delete(t.subs, f)
		}
	}
	return nil
}

// close unsubscribes the tap.
func (t *tap) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for f, unsub := range t.subs {
		unsub()
		delete(t.subs, f)
	}
	t.target.Store(nil)
}

// HandleMessage implements broker.Handler.
func (t *tap) HandleMessage(m *broker.Message, b *storage.Batch) {
	if m.Bridge() == t.name {
		return // came in over this bridge: do not send it back [loop prevention]
	}
	o := t.target.Load()
	if o == nil {
		return
	}
	var r *rule
	for _, c := range o.rules {
		if packet.Match(c.localFilter, m.Topic) {
			r = c
			break
		}
	}
	if r == nil {
		return
	}
	remote := r.mapOut(string(m.Topic))
	rec := appendRecord(make([]byte, 0, recHeader+len(remote)+len(m.Payload)),
		time.Now(), r.QoS, r.retain(m.Retain), remote, m.Payload)
	if r.QoS == 0 {
		if !t.q.pushRing(rec) {
			t.dropped("bridge memory ring of QoS 0 rules full: dropping messages", 1)
		}
		t.q.notify()
		return
	}
	if b == nil {
		// The broker has no store: the queue writes to its own memory store.
		var own storage.Batch
		n := t.q.push(rec, &own)
		t.q.store.Commit(&own, nil)
		t.dropped("bridge queue full (queue.max_bytes): dropping messages", n)
		return
	}
	t.dropped("bridge queue full (queue.max_bytes): dropping messages", t.q.push(rec, b))
}

// dropped logs n drops, at most once per interval.
func (t *tap) dropped(msg string, n int) {
	if n == 0 {
		return
	}
	if total, ok := t.drops.note(n); ok {
		t.log.Warn(msg, "bridge", t.name, "overflow", string(t.q.policy()), "dropped_since_last_log", total)
	}
}

// rateLog logs a repeated event at most once per interval, with how many
// times it happened since the last line.
type rateLog struct {
	every time.Duration
	mu    sync.Mutex
	last  time.Time
	n     int
}

// note counts n events; it returns the count to log and true when a line
// is due.
func (l *rateLog) note(n int) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += n
	now := time.Now()
	if now.Sub(l.last) < l.every {
		return 0, false
	}
	total := l.n
	l.n, l.last = 0, now
	return total, true
}
