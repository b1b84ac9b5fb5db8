package bridge

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/storage"
)

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("bridge: manager closed")

// defaultCacheBytes bounds the records a bridge keeps in memory.
const defaultCacheBytes = 1 << 20

// Options configure a Manager.
type Options struct {
	// Server is the local broker. Required.
	Server *broker.Server
	// Store must be the Store the broker was created with: queues live in
	// it, and their writes join the publishers' batches. nil, for a broker
	// without a store, makes the Manager keep the queues in a memory store
	// of its own (nothing survives a restart).
	Store *storage.Store
	// Logger receives the bridges' log; nil discards it.
	Logger *slog.Logger
	// SysInterval is the period of the $SYS/bridge/<name>/... topics;
	// 0 publishes none.
	SysInterval time.Duration
	// CacheBytes bounds the queued records each bridge keeps in memory so
	// that live traffic is sent without reading it back from storage;
	// 0 means 1 MiB.
	CacheBytes int
}

// Manager runs the bridges of one broker and reconfigures them (Apply).
type Manager struct {
	opts  Options
	srv   *broker.Server
	store *storage.Store
	own   bool // store is the Manager's memory store
	log   *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry
	removed []string // bridges whose $SYS topics the sys loop must clear
	closed  bool

	quit chan struct{}
	wg   sync.WaitGroup
}

// entry is one bridge: its queue and tap outlive reconfigurations, its
// link is replaced when its configuration changes.
type entry struct {
	cfg      Config
	mat      tlsMaterial
	q        *queue
	tap      *tap
	link     *link
	counters *linkCounters
}

// NewManager returns a Manager with no bridges; Apply starts them.
func NewManager(opts Options) (*Manager, error) {
	if opts.Server == nil {
		return nil, errors.New("bridge: Options.Server is nil")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = defaultCacheBytes
	}
	m := &Manager{opts: opts, srv: opts.Server, store: opts.Store, log: opts.Logger,
		entries: make(map[string]*entry), quit: make(chan struct{})}
	if m.store == nil {
		m.store = storage.NewStore(storage.NewMemory(), storage.Options{Sync: storage.SyncNone, Logger: opts.Logger})
		m.own = true
	}
	if opts.SysInterval > 0 {
		m.wg.Add(1)
		go m.sysLoop(opts.SysInterval)
	}
	return m, nil
}

// Validate checks c as Apply would, reading its certificate files,
// without starting anything.
func Validate(c Config) error {
	_, err := prepare(c)
	return err
}

type prepared struct {
	cfg   Config
	rules []*rule
	tls   *tls.Config
	mat   tlsMaterial
}

func prepare(c Config) (prepared, error) {
	c = c.withDefaults()
	if err := c.check(); err != nil {
		return prepared{}, err
	}
	p := prepared{cfg: c}
	for _, r := range c.Rules {
		cr, _ := compileRule(r) // checked above
		p.rules = append(p.rules, cr)
	}
	var err error
	p.tls, p.mat, err = loadTLS(c)
	return p, err
}

// Apply makes cfgs the running bridges: it starts new ones, stops the ones
// not in cfgs, and restarts those whose configuration or certificate files
// changed (a SIGHUP reload). A bridge that keeps its name keeps its queue;
// while it is reconfigured, matching messages keep being queued. The queue
// of a removed bridge stays in storage until a bridge of that name comes
// back. If any configuration is invalid (or its files cannot be read),
// Apply changes nothing and returns every problem.
func (m *Manager) Apply(cfgs []Config) error {
	var errs []error
	preps := make([]prepared, 0, len(cfgs))
	seen := make(map[string]bool)
	for _, c := range cfgs {
		p, err := prepare(c)
		switch {
		case err != nil:
			errs = append(errs, err)
		case seen[c.Name]:
			errs = append(errs, fmt.Errorf("bridge %s: two bridges with this name", c.Name))
		default:
			seen[c.Name] = true
			preps = append(preps, p)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for name, e := range m.entries {
		if !seen[name] {
			m.remove(name, e)
		}
	}
	for _, p := range preps {
		if err := m.apply(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// apply starts or restarts one bridge.
func (m *Manager) apply(p prepared) error {
	name := p.cfg.Name
	e := m.entries[name]
	switch {
	case e == nil:
		q, err := openQueue(name, m.store, p.cfg.MaxBytes, p.cfg.Overflow, m.opts.CacheBytes, m.log)
		if err != nil {
			return fmt.Errorf("bridge %s: loading its queue: %w", name, err)
		}
		e = &entry{q: q, tap: newTap(name, m.srv, q, m.log), counters: &linkCounters{}}
		st := q.state()
		m.log.Info("bridge starting", "bridge", name, "address", p.cfg.Address,
			"queued", st.messages, "queued_bytes", st.bytes, "damaged_records_skipped", q.c.corrupt.Load())
	case reflect.DeepEqual(e.cfg, p.cfg) && e.mat.equal(p.mat):
		return nil
	default:
		m.log.Info("bridge configuration changed; reconnecting", "bridge", name, "address", p.cfg.Address)
		e.q.setLimits(p.cfg.MaxBytes, p.cfg.Overflow)
	}
	if err := e.tap.set(p.rules); err != nil {
		return fmt.Errorf("bridge %s: subscribing on the local broker: %w", name, err)
	}
	if e.link != nil {
		e.link.stop()
	}
	e.cfg, e.mat = p.cfg, p.mat
	e.link = newLink(p.cfg, p.rules, p.tls, m.srv, e.q, e.counters, m.log)
	m.entries[name] = e
	e.link.start()
	return nil
}

// remove stops a bridge and clears its $SYS topics.
func (m *Manager) remove(name string, e *entry) {
	e.tap.close()
	e.link.stop()
	delete(m.entries, name)
	st := e.q.state()
	m.log.Info("bridge removed; its queue stays in storage until a bridge of this name is configured again",
		"bridge", name, "queued", st.messages, "queued_bytes", st.bytes)
	if m.opts.SysInterval > 0 {
		m.removed = append(m.removed, name)
	}
}

// Close stops every bridge. Messages queued stay in storage. It does not
// close the Store it was given.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	m.closed = true
	close(m.quit)
	var wg sync.WaitGroup
	for _, e := range m.entries {
		e.tap.close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.link.stop()
		}()
	}
	m.mu.Unlock()
	wg.Wait()
	m.wg.Wait()
	if m.own {
		return m.store.Close()
	}
	return nil
}

// Stats is a snapshot of one bridge. Counters count since the bridge was
// first configured in this process (they survive reloads); gauges are
// current values.
type Stats struct {
	Name      string
	Address   string
	State     LinkState
	UpSince   time.Time // start of the current connection; zero when not up
	LastError string    // why the last connection attempt or connection failed

	Connects        uint64 // connections established
	ConnectFailures uint64 // attempts that failed and connections that broke

	Queued        int           // messages in the durable queue, in flight included
	QueuedBytes   int64         // their keys and values in storage
	QueueMaxBytes int64         // the bound of the queue (queue.max_bytes)
	RingQueued    int           // messages of QoS 0 rules waiting in memory
	RingBytes     int           //
	Inflight      int           // sent, waiting for the remote's PUBACK/PUBCOMP
	OldestAge     time.Duration // age of the oldest queued message
	DrainRate     float64       // messages acknowledged by the remote per second (last second)
	Enqueued      uint64        // messages accepted into the queue or ring
	Sent          uint64        // first sends to the remote
	Resent        uint64        // sends again after a reconnection (DUP or new session)
	Acked         uint64        // acknowledged by the remote and deleted
	Dropped       uint64        // DroppedQueue + DroppedRing
	DroppedQueue  uint64        // dropped by the queue.max_bytes overflow policy
	DroppedRing   uint64        // dropped from the QoS 0 memory ring
	NotStored     uint64        // not written (the publisher's commit failed; it was not acknowledged)
	Corrupt       uint64        // damaged records found in storage and skipped
	Lost          uint64        // committed entries missing from storage (should stay 0)

	Received       uint64 // inbound messages published locally
	InboundDropped uint64 // inbound messages the local broker refused (invalid mapped topic)
}

// Stats returns a snapshot of every bridge, by name.
func (m *Manager) Stats() []Stats {
	m.mu.Lock()
	entries := make([]entry, 0, len(m.entries))
	for _, e := range m.entries {
		entries = append(entries, *e) // Apply replaces cfg and link under m.mu
	}
	m.mu.Unlock()
	out := make([]Stats, 0, len(entries))
	for i := range entries {
		out = append(out, entries[i].stats())
	}
	slices.SortFunc(out, func(a, b Stats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (e *entry) stats() Stats {
	l := e.link
	qs := e.q.state()
	c := &e.q.c
	s := Stats{
		Name:            e.cfg.Name,
		Address:         e.cfg.Address,
		State:           LinkState(l.state.Load()),
		Connects:        e.counters.connects.Load(),
		ConnectFailures: e.counters.failures.Load(),
		Queued:          qs.messages,
		QueuedBytes:     qs.bytes,
		QueueMaxBytes:   e.cfg.MaxBytes,
		RingQueued:      qs.ringMsgs,
		RingBytes:       qs.ringBytes,
		Inflight:        l.sess.inflight(),
		DrainRate:       l.drainRate(),
		Enqueued:        c.enqueued.Load(),
		Sent:            e.counters.sent.Load(),
		Resent:          e.counters.resent.Load(),
		Acked:           c.acked.Load(),
		DroppedQueue:    c.dropped.Load(),
		DroppedRing:     c.droppedRing.Load(),
		NotStored:       c.notStored.Load(),
		Corrupt:         c.corrupt.Load(),
		Lost:            c.lost.Load(),
		Received:        e.counters.received.Load(),
		InboundDropped:  e.counters.inDropped.Load(),
	}
	s.Dropped = s.DroppedQueue + s.DroppedRing
	if s.State == LinkUp {
		s.UpSince = time.Unix(0, l.upSince.Load())
	}
	if !qs.oldest.IsZero() {
		s.OldestAge = max(0, time.Since(qs.oldest))
	}
	l.mu.Lock()
	s.LastError = l.err
	l.mu.Unlock()
	return s
}
