package broker

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/edgemq/edgemq/storage"
)

// TestSendAfterCommitWhileClosing: a publish routed while its connection
// is being closed is not acknowledged, but its batch is still committed,
// so that what routing queued (for a bridge, whose queue waits for the
// batch's OnDone) is written rather than left pending for ever.
func TestSendAfterCommitWhileClosing(t *testing.T) {
	st := storage.NewStore(storage.NewMemory(), storage.Options{})
	defer st.Close()
	srv, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newConn(srv, a, "test")
	c.closing = true
	var batch storage.Batch
	batch.Put("x", []byte("k"), []byte("v"))
	done := make(chan error, 1)
	batch.OnDone(func(err error) { done <- err })
	acked := false
	err = c.sendAfterCommit(&batch, func(dst []byte, _ error) []byte { acked = true; return dst })
	if !errors.Is(err, errClose) {
		t.Fatalf("sendAfterCommit on a closing connection: %v, want errClose", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("commit: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the batch was never committed")
	}
	if v, err := st.Engine().Get("x", []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("stored %q, %v", v, err)
	}
	if acked || batch.Len() != 0 {
		t.Fatalf("acknowledged %v, batch left with %d ops", acked, batch.Len())
	}
}
