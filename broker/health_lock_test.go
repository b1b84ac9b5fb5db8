package broker

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A goroutine that holds the server lock and never lets go (a deadlock)
// makes Health fail when its context ends, instead of hanging the caller.
func TestHealthLockHeld(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	s.mu.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	err = s.Health(ctx)
	cancel()
	s.mu.Unlock()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Health with the lock held = %v, want DeadlineExceeded", err)
	}
	if err := s.Health(context.Background()); err != nil {
		t.Fatalf("Health once the lock is free = %v", err)
	}
}
