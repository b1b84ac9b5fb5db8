package board

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// feederLogEvery bounds how often a Feeder repeats the same complaint
// (health still failing, kicks still failing).
const feederLogEvery = time.Minute

// Feeder kicks a Watchdog from one goroutine it owns, but only while the
// health function passes. When health fails the Feeder stops kicking, so
// the hardware resets a hung gateway after the watchdog timeout; it logs
// the failure once, then at most once a minute while it lasts, and
// resumes kicking if health recovers first. A health function that blocks
// counts as failing (no kick happens while it runs), so it need not have
// its own timeout, but it should be quick when the broker is well.
type Feeder struct {
	wd       *Watchdog
	interval time.Duration
	health   func() error
	log      *slog.Logger

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	stopErr  error

	kicks   atomic.Uint64
	healthy atomic.Bool
}

// StartFeeder starts kicking wd every interval while health returns nil
// (a nil health always passes). An interval <= 0 means a third of the
// watchdog's timeout, or 5 s when the device did not report one; an
// interval above half the reported timeout is lowered to half, with a
// warning, since it would reset a healthy board. The first health check
// and kick happen at once. A nil wd gives a nil Feeder, which does nothing.
func StartFeeder(wd *Watchdog, interval time.Duration, health func() error, log *slog.Logger) *Feeder {
	if wd == nil {
		return nil
	}
	log = orDiscard(log)
	use := feederInterval(interval, wd.Timeout())
	if interval > 0 && use != interval {
		log.Warn("board: watchdog feeder interval too close to the timeout; using half the timeout",
			"interval", interval, "timeout", wd.Timeout(), "using", use)
	}
	interval = use
	if health == nil {
		health = func() error { return nil }
	}
	f := &Feeder{
		wd:       wd,
		interval: interval,
		health:   health,
		log:      log,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	f.healthy.Store(true)
	go f.run()
	return f
}

// feederInterval picks the kick interval for a watchdog timeout (0 when
// unknown); see StartFeeder.
func feederInterval(interval, timeout time.Duration) time.Duration {
	switch {
	case interval <= 0 && timeout > 0:
		return timeout / 3
	case interval <= 0:
		return 5 * time.Second
	case timeout > 0 && interval > timeout/2:
		return timeout / 2 // kicking more rarely would reset a healthy board
	}
	return interval
}

// Kicks returns how many kicks reached the device, for metrics.
func (f *Feeder) Kicks() uint64 {
	if f == nil {
		return 0
	}
	return f.kicks.Load()
}

// Healthy reports the result of the last health check.
func (f *Feeder) Healthy() bool {
	return f != nil && f.healthy.Load()
}

// Stop stops the goroutine, waits for it, and disarms the watchdog with
// its magic close. It returns the Close error; calling it again returns
// the same error.
func (f *Feeder) Stop() error {
	if f == nil {
		return nil
	}
	f.stopOnce.Do(func() {
		close(f.stop)
		<-f.done
		f.stopErr = f.wd.Close()
	})
	return f.stopErr
}

func (f *Feeder) run() {
	defer close(f.done)
	t := time.NewTicker(f.interval)
	defer t.Stop()
	var s feederState
	for {
		f.tick(&s)
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
	}
}

// feederState is the run goroutine's memory between ticks (log limits).
type feederState struct {
	failing       bool
	lastHealthLog time.Time
	lastKickLog   time.Time
}

func (f *Feeder) tick(s *feederState) {
	if err := f.health(); err != nil {
		f.healthy.Store(false)
		if now := time.Now(); !s.failing || now.Sub(s.lastHealthLog) >= feederLogEvery {
			s.lastHealthLog = now
			f.log.Error("board: health check failed; not kicking the watchdog, the board resets unless health recovers",
				"path", f.wd.Path(), "timeout", f.wd.Timeout(), "err", err)
		}
		s.failing = true
		return
	}
	f.healthy.Store(true)
	if s.failing {
		s.failing = false
		f.log.Info("board: health recovered; kicking the watchdog again", "path", f.wd.Path())
	}
	if err := f.wd.Kick(); err != nil {
		if now := time.Now(); now.Sub(s.lastKickLog) >= feederLogEvery {
			s.lastKickLog = now
			f.log.Error("board: watchdog kick failed", "err", err)
		}
		return
	}
	f.kicks.Add(1)
}
