package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/edgemq/edgemq/board"
	"github.com/edgemq/edgemq/bridge"
	"github.com/edgemq/edgemq/config"
	"github.com/edgemq/edgemq/storage"
)

// defaultHealthTimeout bounds one health check when the watchdog does not
// report its timeout; otherwise a third of the timeout is used, so a slow
// check delays one kick, not the reset margin.
const defaultHealthTimeout = 5 * time.Second

// bridgePoll is how often the status LED catches up with the bridges'
// link states.
const bridgePoll = time.Second

// hardware is edgemq's use of the board it runs on: what was detected, the
// limits sized from its memory, the hardware watchdog (fed only while the
// broker is healthy) and the status LED (off until serving, on while
// serving, blinking while a bridge is down). Every device is optional: one
// that cannot be opened is a log line and edgemq runs without it.
//
// Create it with newHardware before opening storage, call serve once the
// listeners accept, and stop on shutdown. SetBridgeDown may be called from
// any goroutine at any time.
type hardware struct {
	info   board.Info
	sizing board.Sizing
	log    *slog.Logger

	mu          sync.Mutex
	led         *board.LED
	ledState    board.State
	feeder      *board.Feeder
	serving     bool
	stopped     bool
	bridgesDown map[string]bool
	watchStop   chan struct{} // closed by stop: the bridge watcher returns
	watchDone   chan struct{} // closed by the bridge watcher when it returns
}

// newHardware detects the board and fills the limits cfg leaves unset from
// its memory (see applySizing).
func newHardware(cfg *config.Config, log *slog.Logger) *hardware {
	h := &hardware{
		info:        board.Detect(board.Paths{Log: log}),
		log:         log,
		bridgesDown: make(map[string]bool),
	}
	// In a container (a cgroup with a memory limit) the limit, not the
	// box's RAM, is what edgemq may use.
	h.sizing = board.Defaults(h.info.Memory())
	log.Info("board", "board", h.info.String())
	if sized := applySizing(cfg, h.sizing); len(sized) > 0 {
		log.Info("limits sized from memory (set them in the config to choose)",
			"tier", h.sizing.Tier, "mem_total", h.info.MemTotal, "cgroup_limit", h.info.MemLimit, "keys", sized,
			"max_connections", cfg.Limits.MaxConnections, "max_queued_messages", cfg.Limits.MaxQueuedMessages,
			"max_queued_bytes", cfg.Limits.MaxQueuedBytes.String(), "retained_max", cfg.Limits.RetainedMax)
	}
	if h.sizing.MemLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(h.sizing.MemLimit)
		log.Info("Go memory limit set from memory (GOMEMLIMIT overrides)", "limit", config.ByteSize(h.sizing.MemLimit).String())
	}
	return h
}

// applySizing sets each limit in cfg that the config file did not give to
// the value s suggests, and returns the keys it set. A limit the user wrote
// is kept, even when it equals the default.
func applySizing(cfg *config.Config, s board.Sizing) []string {
	var set []string
	l := &cfg.Limits
	for _, f := range []struct {
		key   string
		apply func()
	}{
		{"limits.max_connections", func() { l.MaxConnections = s.MaxConnections }},
		{"limits.max_queued_messages", func() { l.MaxQueuedMessages = s.MaxQueuedMessages }},
		{"limits.max_queued_bytes", func() { l.MaxQueuedBytes = config.ByteSize(s.MaxQueuedBytes) }},
		{"limits.retained_max", func() { l.RetainedMax = s.RetainedMax }},
	} {
		if !cfg.IsSet(f.key) {
			f.apply()
			set = append(set, f.key)
		}
	}
	return set
}

// badgerOptions sizes badger's memtables, value log files and block cache
// from the board's memory; the other knobs keep storage's defaults.
func (h *hardware) badgerOptions() storage.BadgerOptions {
	s := h.sizing
	return storage.BadgerOptions{
		MemTableSize:     s.BadgerMemTableSize,
		NumMemtables:     s.BadgerNumMemtables,
		ValueLogFileSize: s.BadgerValueLogFileSize,
		ValueThreshold:   s.BadgerValueThreshold,
		BlockCacheSize:   s.BadgerBlockCacheSize,
	}
}

// serve turns the status LED on (or blinking, if a bridge is already
// down) and starts feeding the watchdog while health passes. health gets a
// context that ends after a fraction of the watchdog timeout. links, when
// not nil, reports which bridges have their uplink down; with an LED, a
// goroutine owned by h polls it every second (SetBridgeDown).
func (h *hardware) serve(b config.Board, health func(context.Context) error, links func() map[string]bool) {
	var led *board.LED
	if b.StatusLED != "" {
		l, err := board.OpenLED(b.StatusLED, h.log)
		if err != nil {
			h.log.Warn("board.status_led: cannot open the LED; running without it", "err", err)
		} else {
			led = l
		}
	}
	var feeder *board.Feeder
	if b.Watchdog != "" {
		wd, err := board.OpenWatchdog(b.Watchdog, 0, h.log)
		if err != nil {
			h.log.Warn("board.watchdog: cannot open the watchdog; running without it", "err", err)
		} else {
			timeout := defaultHealthTimeout
			if t := wd.Timeout(); t > 0 {
				timeout = t / 3
			}
			feeder = board.StartFeeder(wd, 0, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				return health(ctx)
			}, h.log)
			h.log.Info("board: feeding the watchdog while the broker is healthy", "path", b.Watchdog, "timeout", wd.Timeout())
		}
	}
	h.mu.Lock()
	if !h.stopped {
		h.led, h.feeder, h.serving = led, feeder, true
		h.updateLED()
		if led != nil && links != nil {
			h.watchStop, h.watchDone = make(chan struct{}), make(chan struct{})
			go h.watchBridges(links, h.watchStop, h.watchDone)
		}
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	feeder.Stop() // stop came first: give the devices back at once
	led.Close()
}

// SetBridgeDown records whether the bridge named name has its uplink down;
// the status LED blinks while any bridge is down and shines steadily when
// all are up. serve's bridge watcher calls it on every link state change
// it sees; it is safe from any goroutine.
func (h *hardware) SetBridgeDown(name string, down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if down {
		h.bridgesDown[name] = true
	} else {
		delete(h.bridgesDown, name)
	}
	h.updateLED()
}

// watchBridges calls SetBridgeDown for every change links reports, and
// for bridges that disappear (a reload removed them), until stop closes.
func (h *hardware) watchBridges(links func() map[string]bool, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(bridgePoll)
	defer t.Stop()
	last := map[string]bool{}
	for {
		cur := links()
		for name, down := range cur {
			if last[name] != down {
				h.SetBridgeDown(name, down)
			}
		}
		for name, down := range last {
			if _, ok := cur[name]; !ok && down {
				h.SetBridgeDown(name, false)
			}
		}
		last = cur
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// bridgeLinks reports, for each bridge of m, whether its uplink is down
// (not up: waiting to retry, or still connecting).
func bridgeLinks(m *bridge.Manager) func() map[string]bool {
	if m == nil {
		return nil
	}
	return func() map[string]bool {
		out := make(map[string]bool)
		for _, st := range m.Stats() {
			out[st.Name] = st.State != bridge.LinkUp
		}
		return out
	}
}

// updateLED shows the current state; h.mu is held.
func (h *hardware) updateLED() {
	if h.led == nil || h.stopped {
		return
	}
	want := board.Off
	switch {
	case h.serving && len(h.bridgesDown) > 0:
		want = board.Blink
	case h.serving:
		want = board.On
	}
	if want == h.ledState {
		return
	}
	if err := h.led.Set(want); err != nil {
		h.log.Warn("board: status LED", "state", want.String(), "err", err)
		return
	}
	h.ledState = want
}

// stop disarms the watchdog (magic close) and gives the LED back to what
// drove it before edgemq. Called when shutdown begins, so that a clean
// stop is neither a failed health check nor a board reset; later calls do
// nothing.
func (h *hardware) stop() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	h.stopped, h.serving = true, false
	feeder, led, watchStop, watchDone := h.feeder, h.led, h.watchStop, h.watchDone
	h.mu.Unlock()
	if watchStop != nil {
		close(watchStop)
		<-watchDone
	}
	if err := feeder.Stop(); err != nil {
		h.log.Error("board: stopping the watchdog", "err", err)
	}
	if err := led.Close(); err != nil {
		h.log.Warn("board: restoring the status LED", "err", err)
	}
}

// healthCheck is the watchdog's health: the broker's own (lock, store
// committer, not shut down) and, with a data dir, that its file system
// still takes writes (a failing SD card is often remounted read-only).
// The listeners need no check of their own: they are closed only by
// shutdown, and they hand each connection to the broker under the lock
// its Health takes.
func healthCheck(broker func(context.Context) error, dataDir string) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := broker(ctx); err != nil {
			return err
		}
		if dataDir != "" {
			if err := dirWritable(dataDir); err != nil {
				return fmt.Errorf("data_dir %s not writable: %w", dataDir, err)
			}
		}
		return nil
	}
}
