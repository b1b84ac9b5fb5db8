package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/edgemq/edgemq/storage"
)

// Health reports whether the broker can serve, for a hardware watchdog or a
// /healthz endpoint. It returns ErrServerClosed once Shutdown has begun, an
// error when the server's lock cannot be taken before ctx ends (a
// deadlock), and, with a Store, an error when the store's committer does
// not finish an empty batch before ctx ends or refuses it (flash I/O hung,
// the store closed). The empty batch reaches no engine: the check costs
// no flash wear, and it can be run every few seconds.
//
// A full store (max_disk_bytes reached) is not a failure: the broker still
// serves, refusing what it cannot keep. Health waits at most until ctx
// ends, except that handing the batch to a Store whose queue is full blocks
// until the committer takes a group.
func (s *Server) Health(ctx context.Context) error {
	if err := s.lockCtx(ctx); err != nil {
		return fmt.Errorf("broker: health: server lock not available: %w", err)
	}
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	if s.store == nil {
		return nil
	}
	done := make(chan error, 1) // the committer never blocks on it
	s.store.Commit(&storage.Batch{}, func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("broker: health: storage: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker: health: storage did not commit an empty batch in time (flash I/O hung?): %w", ctx.Err())
	}
}

// lockCtx takes s.mu, or gives up when ctx ends.
func (s *Server) lockCtx(ctx context.Context) error {
	if s.mu.TryLock() {
		return nil
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if s.mu.TryLock() {
				return nil
			}
		}
	}
}
