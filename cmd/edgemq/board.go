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
	"github.com/edgemq/edgemq/config"
	"github.com/edgemq/edgemq/storage"
)

// defaultHealthTimeout bounds one health check when the watchdog does not
// report its timeout; otherwise a third of the timeout is used, so a slow
// check delays one kick, not the reset margin.
const defaultHealthTimeout = 5 * time.Second

// gateway is edgemq's use of the board it runs on: what was detected, the
// limits sized from its memory, the hardware watchdog (fed only while the
// broker is healthy) and the status LED (off until serving, on while
// serving, blinking while a bridge is down). Every device is optional: one
// that cannot be opened is a log line and edgemq runs without it.
//
// Create it with newGateway before opening storage, call serve once the
// listeners accept, and stop on shutdown. SetBridgeDown may be called from
// any goroutine at any time.
type gateway struct {
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
}

// newGateway detects the board and fills the limits cfg leaves unset from
// its memory (see applySizing).
func newGateway(cfg *config.Config, log *slog.Logger) *gateway {
	g := &gateway{
		info:        board.Detect(board.Paths{Log: log}),
		log:         log,
		bridgesDown: make(map[string]bool),
	}
	g.sizing = board.Defaults(g.info.MemTotal)
	log.Info("board", "board", g.info.String())
	if sized := applySizing(cfg, g.sizing); len(sized) > 0 {
		log.Info("limits sized from memory (set them in the config to choose)",
			"tier", g.sizing.Tier, "mem_total", g.info.MemTotal, "keys", sized,
			"max_connections", cfg.Limits.MaxConnections, "max_queued_messages", cfg.Limits.MaxQueuedMessages,
			"max_queued_bytes", cfg.Limits.MaxQueuedBytes.String(), "retained_max", cfg.Limits.RetainedMax)
	}
	if g.sizing.MemLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(g.sizing.MemLimit)
		log.Info("Go memory limit set from memory (GOMEMLIMIT overrides)", "limit", config.ByteSize(g.sizing.MemLimit).String())
	}
	return g
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
func (g *gateway) badgerOptions() storage.BadgerOptions {
	s := g.sizing
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
// context that ends after a fraction of the watchdog timeout.
func (g *gateway) serve(b config.Board, health func(context.Context) error) {
	var led *board.LED
	if b.StatusLED != "" {
		l, err := board.OpenLED(b.StatusLED, g.log)
		if err != nil {
			g.log.Warn("board.status_led: cannot open the LED; running without it", "err", err)
		} else {
			led = l
		}
	}
	var feeder *board.Feeder
	if b.Watchdog != "" {
		wd, err := board.OpenWatchdog(b.Watchdog, 0, g.log)
		if err != nil {
			g.log.Warn("board.watchdog: cannot open the watchdog; running without it", "err", err)
		} else {
			timeout := defaultHealthTimeout
			if t := wd.Timeout(); t > 0 {
				timeout = t / 3
			}
			feeder = board.StartFeeder(wd, 0, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				return health(ctx)
			}, g.log)
			g.log.Info("board: feeding the watchdog while the broker is healthy", "path", b.Watchdog, "timeout", wd.Timeout())
		}
	}
	g.mu.Lock()
	if !g.stopped {
		g.led, g.feeder, g.serving = led, feeder, true
		g.updateLED()
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	feeder.Stop() // stop came first: give the devices back at once
	led.Close()
}

// SetBridgeDown records whether the bridge named name has its uplink down;
// the status LED blinks while any bridge is down and shines steadily when
// all are up. The bridge manager calls it on every link state change.
func (g *gateway) SetBridgeDown(name string, down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if down {
		g.bridgesDown[name] = true
	} else {
		delete(g.bridgesDown, name)
	}
	g.updateLED()
}

// updateLED shows the current state; g.mu is held.
func (g *gateway) updateLED() {
	if g.led == nil || g.stopped {
		return
	}
	want := board.Off
	switch {
	case g.serving && len(g.bridgesDown) > 0:
		want = board.Blink
	case g.serving:
		want = board.On
	}
	if want == g.ledState {
		return
	}
	if err := g.led.Set(want); err != nil {
		g.log.Warn("board: status LED", "state", want.String(), "err", err)
		return
	}
	g.ledState = want
}

// stop disarms the watchdog (magic close) and gives the LED back to what
// drove it before edgemq. Called when shutdown begins, so that a clean
// stop is neither a failed health check nor a board reset; later calls do
// nothing.
func (g *gateway) stop() {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return
	}
	g.stopped, g.serving = true, false
	feeder, led := g.feeder, g.led
	g.mu.Unlock()
	if err := feeder.Stop(); err != nil {
		g.log.Error("board: stopping the watchdog", "err", err)
	}
	if err := led.Close(); err != nil {
		g.log.Warn("board: restoring the status LED", "err", err)
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
