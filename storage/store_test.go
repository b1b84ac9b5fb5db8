package storage

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// limitEngine refuses batches of more than max ops with ErrTooLarge, like
// badger's transaction limit, and holds its first Write until release.
type limitEngine struct {
	Engine
	max     int
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	writes  []int // ops per Write that succeeded
}

func (l *limitEngine) Write(b *Batch, sync bool) error {
	l.once.Do(func() {
		l.entered <- struct{}{}
		<-l.release
	})
	if b.Len() > l.max {
		return fmt.Errorf("limit %d: %w", l.max, ErrTooLarge)
	}
	if err := l.Engine.Write(b, sync); err != nil {
		return err
	}
	l.writes = append(l.writes, b.Len())
	return nil
}

// TestStoreGroupErrors: in one group, an invalid batch and a batch too
// large for the engine fail alone; a group too large as a whole is written
// batch by batch; every done is called once, in order.
func TestStoreGroupErrors(t *testing.T) {
	eng := &limitEngine{Engine: NewMemory(), max: 5, entered: make(chan struct{}), release: make(chan struct{})}
	s := NewStore(eng, Options{Sync: SyncBatch})
	defer s.Close()

	type sub struct {
		ops     int
		invalid bool
		want    error
	}
	subs := []sub{
		{ops: 1}, // held in the engine while the rest queue
		{ops: 2}, // the group below is 2+3+6+2 valid ops > 5
		{ops: 3, invalid: true, want: errors.New("empty key")},
		{ops: 3},
		{ops: 6, want: ErrTooLarge}, // too large even alone
		{ops: 2},
	}
	var mu sync.Mutex
	var order []int
	got := make([]error, len(subs))
	var wg sync.WaitGroup
	for i, sb := range subs {
		b := &Batch{}
		for j := range sb.ops {
			key := fmt.Appendf(nil, "%d-%d", i, j)
			if sb.invalid && j == sb.ops-1 {
				key = nil
			}
			b.Put("g", key, []byte("v"))
		}
		wg.Add(1)
		s.Commit(b, func(err error) {
			mu.Lock()
			order = append(order, i)
			got[i] = err
			mu.Unlock()
			wg.Done()
		})
		if i == 0 {
			<-eng.entered
		}
	}
	close(eng.release)
	wg.Wait()
	for i, sb := range subs {
		if order[i] != i {
			t.Fatalf("done order %v", order)
		}
		switch {
		case sb.want == nil && got[i] != nil:
			t.Errorf("batch %d: %v", i, got[i])
		case errors.Is(sb.want, ErrTooLarge) && !errors.Is(got[i], ErrTooLarge):
			t.Errorf("batch %d: %v, want ErrTooLarge", i, got[i])
		case sb.want != nil && !errors.Is(sb.want, ErrTooLarge) && (got[i] == nil || !strings.Contains(got[i].Error(), sb.want.Error())):
			t.Errorf("batch %d: %v, want %v", i, got[i], sb.want)
		}
		for j := range sb.ops {
			_, err := eng.Get("g", fmt.Appendf(nil, "%d-%d", i, j))
			if present := err == nil; present != (sb.want == nil) {
				t.Errorf("batch %d key %d: present %v, batch error %v", i, j, present, got[i])
			}
		}
	}
	// Batch 0 alone, then batches 1, 3, 5 one by one after the merged
	// write of 7 ops was refused.
	if fmt.Sprint(eng.writes) != "[1 2 3 2]" {
		t.Fatalf("engine writes %v, want [1 2 3 2]", eng.writes)
	}
	if st := s.Stats(); st.Batches != 4 || st.Errors != 2 || st.Groups != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// TestStoreBackPressure: with a queue of 2 and the committer held, the
// third Commit blocks until the committer moves on.
func TestStoreBackPressure(t *testing.T) {
	eng := &limitEngine{Engine: NewMemory(), max: 1 << 20, entered: make(chan struct{}), release: make(chan struct{})}
	s := NewStore(eng, Options{Sync: SyncNone, CommitQueue: 2})
	defer s.Close()
	put := func(i int) *Batch {
		b := &Batch{}
		b.Put("b", seqKey(uint64(i)), nil)
		return b
	}
	s.Commit(put(0), nil)
	<-eng.entered // the committer holds batch 0
	s.Commit(put(1), nil)
	s.Commit(put(2), nil) // the queue is full now
	returned := make(chan struct{})
	go func() {
		s.Commit(put(3), nil)
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("Commit returned while the queue was full")
	case <-time.After(100 * time.Millisecond):
	}
	if q := s.Stats().Queued; q != 2 {
		t.Fatalf("Stats.Queued = %d, want 2", q)
	}
	close(eng.release)
	<-returned
	if err := s.Write(put(4)); err != nil {
		t.Fatal(err)
	}
	n := 0
	eng.Scan("b", nil, func(_, _ []byte) bool { n++; return true })
	if n != 5 {
		t.Fatalf("%d of 5 batches written", n)
	}
}

// TestStoreOnDone: the OnDone functions of a batch are called with the
// outcome of its commit, before the batch's done, including when the batch
// fails alone in a group, and with ErrClosed after Close.
func TestStoreOnDone(t *testing.T) {
	st := NewStore(NewMemory(), Options{})
	var order []string
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	var good, bad Batch
	good.Put("b", []byte("k"), []byte("v"))
	good.OnDone(func(err error) { note(fmt.Sprintf("hook1 good %v", err)) })
	good.OnDone(func(err error) { note(fmt.Sprintf("hook2 good %v", err)) })
	bad.Put("", []byte("k"), []byte("v")) // invalid: empty bucket
	bad.OnDone(func(err error) { note(fmt.Sprintf("hook bad %v", err != nil)) })
	var wg sync.WaitGroup
	wg.Add(2)
	st.Commit(&good, func(err error) { note(fmt.Sprintf("done good %v", err)); wg.Done() })
	st.Commit(&bad, func(err error) { note(fmt.Sprintf("done bad %v", err != nil)); wg.Done() })
	wg.Wait()
	want := "hook1 good <nil>,hook2 good <nil>,done good <nil>,hook bad true,done bad true"
	if got := strings.Join(order, ","); got != want {
		t.Fatalf("calls:\n got %s\nwant %s", got, want)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var late Batch
	late.Put("b", []byte("k2"), []byte("v"))
	var hookErr error
	late.OnDone(func(err error) { hookErr = err })
	st.Commit(&late, nil)
	if !errors.Is(hookErr, ErrClosed) {
		t.Fatalf("hook after Close got %v, want ErrClosed", hookErr)
	}
	late.Reset()
	if len(late.hooks) != 0 || late.Len() != 0 {
		t.Fatalf("Reset left %d hooks, %d ops", len(late.hooks), late.Len())
	}
}
