package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// reloadStep is one thing SIGHUP reloads: a file, a set of certificates.
// reload swaps the new state in atomically, or returns an error and keeps
// the old state.
type reloadStep struct {
	name   string // what it reloads, for the log: "auth.acl_file"
	reload func() error
}

// reloader runs the reload steps of every component on SIGHUP. Components
// add a step for what they own, wherever they are wired (add is safe at
// any time); every step runs even when an earlier one fails, and each
// result is logged.
type reloader struct {
	log *slog.Logger

	mu    sync.Mutex
	steps []reloadStep
}

func newReloader(log *slog.Logger) *reloader { return &reloader{log: log} }

// add registers a reload step.
func (r *reloader) add(name string, reload func() error) {
	r.mu.Lock()
	r.steps = append(r.steps, reloadStep{name, reload})
	r.mu.Unlock()
}

// reloadAll runs every step in the order they were added and returns how
// many failed.
func (r *reloader) reloadAll() (failed int) {
	r.mu.Lock()
	steps := append([]reloadStep(nil), r.steps...)
	r.mu.Unlock()
	start := time.Now()
	for _, s := range steps {
		if err := s.reload(); err != nil {
			failed++
			r.log.Error("reload failed; keeping the previous state", "what", s.name, "err", err.Error())
			continue
		}
		r.log.Info("reloaded", "what", s.name)
	}
	r.log.Info("reload done", "steps", len(steps), "failed", failed, "took", time.Since(start).Round(time.Millisecond))
	return failed
}

// watch makes SIGHUP run reloadAll until ctx is done (instead of killing
// the process, SIGHUP's default). It registers for the signal before it
// returns; stop ends the watching goroutine and waits for it.
func (r *reloader) watch(ctx context.Context) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				r.log.Info("SIGHUP: reloading")
				r.reloadAll()
			}
		}
	}()
	return func() {
		cancel()
		<-done
		signal.Stop(hup)
	}
}
