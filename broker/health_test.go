package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/storage"
)

// gatedEngine is a memory engine whose Write waits until the gate opens:
// flash I/O that hangs.
type gatedEngine struct {
	storage.Engine
	gate chan struct{}
}

func (e *gatedEngine) Write(b *storage.Batch, sync bool) error {
	<-e.gate
	return e.Engine.Write(b, sync)
}

func health(srv *broker.Server, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return srv.Health(ctx)
}

func TestHealth(t *testing.T) {
	eng := &gatedEngine{Engine: storage.NewMemory(), gate: make(chan struct{})}
	store := storage.NewStore(eng, storage.Options{})
	srv, err := broker.New(broker.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	// A write in progress holds the committer: an empty batch queued
	// behind it cannot finish, so the broker is not healthy.
	var b storage.Batch
	b.Put("health-test", []byte("k"), []byte("v"))
	written := make(chan error, 1)
	store.Commit(&b, func(err error) { written <- err })
	err = health(srv, 50*time.Millisecond)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "storage") {
		t.Fatalf("Health with the store hung = %v, want a storage deadline error", err)
	}

	close(eng.gate)
	if err := <-written; err != nil {
		t.Fatalf("write after the gate opened: %v", err)
	}
	if err := health(srv, time.Second); err != nil {
		t.Fatalf("Health once the store recovered = %v, want nil", err)
	}

	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := health(srv, time.Second); !errors.Is(err, broker.ErrServerClosed) {
		t.Fatalf("Health after Shutdown = %v, want ErrServerClosed", err)
	}
}

func TestHealthStoreClosed(t *testing.T) {
	store := storage.NewStore(storage.NewMemory(), storage.Options{})
	srv, err := broker.New(broker.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	if err := health(srv, time.Second); err != nil {
		t.Fatalf("Health = %v, want nil", err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := health(srv, time.Second); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Health with the store closed = %v, want storage.ErrClosed", err)
	}
}

func TestHealthMemoryOnly(t *testing.T) {
	tb := startBroker(t, broker.Options{})
	if err := health(tb.srv, time.Second); err != nil {
		t.Fatalf("Health = %v, want nil", err)
	}
}

func TestSysBoard(t *testing.T) {
	for _, board := range []string{"", "Raspberry Pi 4 Model B Rev 1.1 (brcm,bcm2711), 4x Cortex-A72, 3.7 GiB, arm64"} {
		srv, err := broker.New(broker.Options{Board: board})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := srv.SysTopics()["$SYS/broker/board"]
		if board == "" && ok {
			t.Errorf("no Board given, but $SYS/broker/board = %q", got)
		}
		if board != "" && got != board {
			t.Errorf("$SYS/broker/board = %q, want %q", got, board)
		}
		srv.Shutdown(context.Background())
	}
}
