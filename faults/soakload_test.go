package faults

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/faults/rig"
)

// soakLoad is the soak's mixed load, each kind in its own goroutines
// until stop.
type soakLoad struct {
	plan   soakPlan
	addr   string // edgemq's MQTT listener
	snAddr string // its MQTT-SN gateway
	proxy  *rig.Proxy

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   soakErrors

	pubs []*rig.Publisher // QoS 1 and 2, bridged upstream
	q0   *rig.Publisher

	snMu    sync.Mutex
	snAcked map[string]*rig.SeqSet

	willMu       sync.Mutex
	willsWanted  map[string]bool // will topic -> whether its client died abruptly
	willsArrived map[string]int

	pubReconnects, snReconnects               atomic.Uint64
	retainRounds, storms, stormClients, flaps atomic.Uint64
}

// newSoakLoad starts the load.
func newSoakLoad(t *testing.T, plan soakPlan, addr, snAddr string, proxy *rig.Proxy) *soakLoad {
	ctx, cancel := context.WithCancel(context.Background())
	s := &soakLoad{plan: plan, addr: addr, snAddr: snAddr, proxy: proxy, ctx: ctx, cancel: cancel,
		snAcked: map[string]*rig.SeqSet{}, willsWanted: map[string]bool{}, willsArrived: map[string]int{}}
	t.Cleanup(s.stop)
	for i := range 6 {
		qos := byte(1 + i/4)
		id := fmt.Sprintf("q%dp%d", qos, i)
		s.pubs = append(s.pubs, &rig.Publisher{ID: id, Topic: fmt.Sprintf("q%d/%s", qos, id), QoS: qos, Pad: 64})
	}
	s.q0 = &rig.Publisher{ID: "q0p0", Topic: "q0/q0p0", QoS: 0, Pad: 32}
	for _, p := range s.pubs {
		s.spawn(func() { s.publish(p, 10, time.Duration(p.QoS)*20*time.Millisecond) })
	}
	s.spawn(func() { s.publish(s.q0, 1, 10*time.Millisecond) })
	watch, _, err := rig.Dial(rig.TCP(addr), rig.ClientOptions{ID: "soak-will-watch", Clean: true,
		OnPublish: func(p *packet.Publish) {
			s.willMu.Lock()
			s.willsArrived[string(p.Topic)]++
			s.willMu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Subscribe("w/#", 1); err != nil {
		t.Fatal(err)
	}
	s.spawn(func() {
		<-s.ctx.Done()
		time.Sleep(3 * time.Second) // the last wills arrive
		watch.Disconnect()
	})
	s.spawn(s.wills)
	s.spawn(s.retained)
	s.spawn(s.stormLoop)
	s.spawn(s.flapLoop)
	for k := range plan.snClients {
		s.spawn(func() { s.snClient(fmt.Sprintf("sn%d", k)) })
	}
	return s
}

func (s *soakLoad) spawn(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// stop ends the load and waits for its goroutines; publishers wait for
// what is in flight to be acknowledged.
func (s *soakLoad) stop() {
	s.cancel()
	s.wg.Wait()
}

// acked returns what was acknowledged to the MQTT publishers of QoS 1 and
// 2, and to the MQTT-SN clients.
func (s *soakLoad) acked() (pubs, sn map[string]*rig.SeqSet) {
	pubs = map[string]*rig.SeqSet{}
	for _, p := range s.pubs {
		pubs[p.ID] = p.Acked()
	}
	s.snMu.Lock()
	defer s.snMu.Unlock()
	sn = map[string]*rig.SeqSet{}
	for id, a := range s.snAcked {
		sn[id] = a.Clone()
	}
	return pubs, sn
}

func (s *soakLoad) figures(f *Figures) {
	f.Set("pub_reconnects", s.pubReconnects.Load())
	f.Set("sn_reconnects", s.snReconnects.Load())
	f.Set("retained_rounds", s.retainRounds.Load())
	f.Set("storms", s.storms.Load())
	f.Set("storm_clients", s.stormClients.Load())
	s.willMu.Lock()
	defer s.willMu.Unlock()
	var killed int
	for _, abrupt := range s.willsWanted {
		if abrupt {
			killed++
		}
	}
	f.Set("will_clients", len(s.willsWanted))
	f.Set("wills_killed", killed)
	f.Set("wills_arrived", len(s.willsArrived))
}

// check fails t for the load's errors and for wrong wills: every client
// killed abruptly has its will published, once; none that disconnected.
func (s *soakLoad) check(t *testing.T) {
	s.errs.report(t)
	s.willMu.Lock()
	defer s.willMu.Unlock()
	var missing, unwanted, twice []string
	for _, topic := range sortedKeys(s.willsWanted) {
		n := s.willsArrived[topic]
		switch abrupt := s.willsWanted[topic]; {
		case abrupt && n == 0:
			missing = append(missing, topic)
		case !abrupt && n > 0:
			unwanted = append(unwanted, topic)
		case n > 1:
			twice = append(twice, topic)
		}
	}
	if len(missing)+len(unwanted)+len(twice) > 0 {
		t.Errorf("wills: %d of killed clients missing %v, %d of clean disconnects published %v, %d twice %v",
			len(missing), firstN(missing, 5), len(unwanted), firstN(unwanted, 5), len(twice), firstN(twice, 5))
	}
}

// publish runs p, connecting again if its connection breaks (which
// counts as an error: nothing in the soak should break it).
func (s *soakLoad) publish(p *rig.Publisher, window int, gap time.Duration) {
	for s.ctx.Err() == nil {
		c, _, err := rig.Dial(rig.TCP(s.addr), rig.ClientOptions{ID: p.ID, Clean: true, OnAck: p.OnAck})
		if err != nil {
			s.errs.add("publisher %s: %v", p.ID, err)
			sleepCtx(s.ctx, time.Second)
			continue
		}
		if err := p.Run(s.ctx, c, window, gap, 0); err != nil {
			s.errs.add("publisher %s: connection lost: %v", p.ID, err)
			s.pubReconnects.Add(1)
		}
		if !p.Wait(30 * time.Second) {
			s.errs.add("publisher %s: messages unacknowledged 30s after the end", p.ID)
		}
		c.Disconnect()
	}
}

// wills connects clients with a will and ends two of three abruptly.
func (s *soakLoad) wills() {
	for i := 0; sleepCtx(s.ctx, s.plan.will); i++ {
		topic := fmt.Sprintf("w/%d", i)
		c, _, err := rig.Dial(rig.TCP(s.addr), rig.ClientOptions{ID: fmt.Sprintf("soak-will-%d", i), Clean: true,
			Will: &packet.Publish{Topic: []byte(topic), QoS: 1, Payload: []byte("gone")}})
		if err != nil {
			s.errs.add("will client %d: %v", i, err)
			continue
		}
		abrupt := i%3 != 0
		s.willMu.Lock()
		s.willsWanted[topic] = abrupt
		s.willMu.Unlock()
		if abrupt {
			c.Close()
		} else {
			c.Disconnect()
		}
	}
}

// retained publishes plan.retainN retained messages each round, clears
// the second half, and checks that a new subscriber gets exactly the
// first half, of this round.
func (s *soakLoad) retained() {
	acks := make(chan uint16, 1)
	c, _, err := rig.Dial(rig.TCP(s.addr), rig.ClientOptions{ID: "soak-retain", Clean: true,
		OnAck: func(a *packet.Ack) {
			if a.Type == packet.PUBACK {
				select {
				case acks <- a.PacketID:
				default: // not waited for: reported as missing
				}
			}
		}})
	if err != nil {
		s.errs.add("retained publisher: %v", err)
		return
	}
	defer c.Disconnect()
	var pid uint16
	publish := func(topic string, payload []byte) bool {
		pid = pid%60000 + 1
		if err := c.Publish(topic, payload, 1, true, pid); err != nil {
			s.errs.add("retained publisher: %v", err)
			return false
		}
		select {
		case got := <-acks:
			if got == pid {
				return true
			}
			s.errs.add("retained publisher: PUBACK %d, want %d", got, pid)
		case <-time.After(10 * time.Second):
			s.errs.add("retained publisher: no PUBACK for %s in 10s", topic)
		}
		return false
	}
	n := s.plan.retainN
	for round := 1; sleepCtx(s.ctx, s.plan.retain); round++ {
		payload := fmt.Appendf(nil, "round-%d", round)
		for k := range n {
			if !publish(fmt.Sprintf("r/%d", k), payload) {
				return
			}
		}
		for k := n / 2; k < n; k++ {
			if !publish(fmt.Sprintf("r/%d", k), nil) {
				return
			}
		}
		got, err := retainedOf(s.addr, "r/#", n/2)
		if err != nil {
			s.errs.add("retained round %d: %v", round, err)
			continue
		}
		want := map[string]string{}
		for k := range n / 2 {
			want[fmt.Sprintf("r/%d", k)] = string(payload)
		}
		if !maps.Equal(got, want) {
			s.errs.add("retained round %d: a new subscriber got %d retained messages %v, want %d of %s",
				round, len(got), firstN(sortedKeys(got), 5), len(want), payload)
		}
		s.retainRounds.Add(1)
	}
}

// retainedOf subscribes a new client to filter and returns the retained
// messages it gets (topic -> payload): once it has want of them, it waits
// a little more for any extra.
func retainedOf(addr, filter string, want int) (map[string]string, error) {
	var mu sync.Mutex
	got := map[string]string{}
	c, _, err := rig.Dial(rig.TCP(addr), rig.ClientOptions{ID: "soak-retain-check", Clean: true,
		OnPublish: func(p *packet.Publish) {
			if p.Retain {
				mu.Lock()
				got[string(p.Topic)] = string(p.Payload)
				mu.Unlock()
			}
		}})
	if err != nil {
		return nil, err
	}
	defer c.Disconnect()
	if err := c.Subscribe(filter, 1); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= want {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(got), nil
}

// stormLoop connects plan.stormN clients at once every plan.storm, half
// with persistent sessions (the same ids each storm), each subscribing;
// half leave abruptly.
func (s *soakLoad) stormLoop() {
	for sleepCtx(s.ctx, s.plan.storm) {
		s.storms.Add(1)
		var wg sync.WaitGroup
		for j := range s.plan.stormN {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("soak-storm-%d", j)
				c, _, err := rig.Dial(rig.TCP(s.addr), rig.ClientOptions{ID: id, Clean: j%2 == 1})
				if err != nil {
					s.errs.add("storm client %s: %v", id, err)
					return
				}
				s.stormClients.Add(1)
				if err := c.Subscribe(fmt.Sprintf("storm/%d/#", j), 1); err != nil {
					s.errs.add("storm client %s: %v", id, err)
				}
				if j%4 < 2 {
					c.Close()
				} else {
					c.Disconnect()
				}
			}()
		}
		wg.Wait()
	}
}

// flapLoop makes the uplink refuse connections, then cut them mid-packet,
// then pass, every plan.flap.
func (s *soakLoad) flapLoop() {
	defer s.proxy.SetMode(rig.Pass)
	for sleepCtx(s.ctx, s.plan.flap) {
		s.flaps.Add(1)
		s.proxy.SetMode(rig.Refuse)
		if !sleepCtx(s.ctx, s.plan.refuse) {
			return
		}
		s.proxy.CutMax.Store(64 << 10)
		s.proxy.SetMode(rig.Cut)
		if !sleepCtx(s.ctx, s.plan.cut) {
			return
		}
		s.proxy.SetMode(rig.Pass)
	}
}

// snClient publishes numbered QoS 1 messages over MQTT-SN on sn/<id>,
// reconnecting every 200 messages.
func (s *soakLoad) snClient(id string) {
	acked := &rig.SeqSet{}
	s.snMu.Lock()
	s.snAcked[id] = acked
	s.snMu.Unlock()
	var seq uint64
	for s.ctx.Err() == nil {
		c, err := rig.DialSN(s.snAddr, id, 30)
		if err != nil {
			s.errs.add("mqtt-sn client %s: %v", id, err)
			sleepCtx(s.ctx, time.Second)
			continue
		}
		topic, err := c.Register("sn/" + id)
		for n := 0; err == nil && n < 200 && sleepCtx(s.ctx, 50*time.Millisecond); n++ {
			seq++
			if err = c.Publish1(topic, fmt.Appendf(nil, "%s/%d", id, seq)); err == nil {
				s.snMu.Lock()
				acked.Add(seq)
				s.snMu.Unlock()
			}
		}
		if err != nil {
			s.errs.add("mqtt-sn client %s: %v", id, err)
			c.Close()
			continue
		}
		s.snReconnects.Add(1)
		c.Disconnect()
	}
}

func firstN(s []string, n int) []string { return s[:min(n, len(s))] }

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
