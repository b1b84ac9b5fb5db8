package storage

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// The Store half of the conformance suite (TestSuite runs these too).

// testConcurrentCommit has 32 goroutines Commit through one Store: every
// done is called once, in order per goroutine, and the data is there.
func testConcurrentCommit(t *testing.T, k kind) {
	const writers, perWriter = 32, 40
	v := newEnv(t, k)
	s := NewStore(v.e, Options{Sync: SyncBatch, CommitQueue: 64})
	v.e = nil // the Store owns it now
	defer s.Close()

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			var mu sync.Mutex
			var got []int
			calls := make([]int, perWriter)
			var pending sync.WaitGroup
			for i := range perWriter {
				b := &Batch{}
				b.Put("c", fmt.Appendf(nil, "w%02d-%03d", w, i), fmt.Appendf(nil, "%d", i))
				b.Put("count", fmt.Appendf(nil, "w%02d", w), fmt.Appendf(nil, "%d", i))
				pending.Add(1)
				s.Commit(b, func(err error) {
					mu.Lock()
					got = append(got, i)
					calls[i]++
					mu.Unlock()
					if err != nil {
						errs <- fmt.Errorf("writer %d batch %d: %w", w, i, err)
					}
					pending.Done()
				})
			}
			pending.Wait()
			for i := range perWriter {
				if calls[i] != 1 || got[i] != i {
					errs <- fmt.Errorf("writer %d: done calls %v, order %v", w, calls, got)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e := s.Engine()
	keys := 0
	e.Scan("c", nil, func(_, _ []byte) bool { keys++; return true })
	if keys != writers*perWriter {
		t.Fatalf("%d keys written, want %d", keys, writers*perWriter)
	}
	for w := range writers {
		got, err := e.Get("count", fmt.Appendf(nil, "w%02d", w))
		if err != nil || string(got) != fmt.Sprint(perWriter-1) {
			t.Fatalf("writer %d last batch: %q, %v", w, got, err)
		}
	}
	st := s.Stats()
	if st.Batches != writers*perWriter || st.Ops != 2*writers*perWriter || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.Groups == 0 || st.Groups > st.Batches || st.Syncs != st.Groups {
		t.Fatalf("stats %+v: groups and syncs do not add up", st)
	}
	t.Logf("%s: %d batches in %d groups, sync max %v", k.name, st.Batches, st.Groups, st.SyncMax)
}

// testStoreSyncModes checks each mode's grouping and sync accounting, with
// a deterministic pile-up: the queue is filled while the committer is busy
// with a first batch.
func testStoreSyncModes(t *testing.T, k kind) {
	for _, mode := range []SyncMode{SyncAlways, SyncBatch, SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			v := newEnv(t, k)
			gate := &gateEngine{Engine: v.e, entered: make(chan struct{}), release: make(chan struct{})}
			s := NewStore(gate, Options{Sync: mode})
			v.e = nil
			defer s.Close()
			var order []int
			var wg sync.WaitGroup
			const n = 10
			for i := range n {
				b := &Batch{}
				b.Put("m", seqKey(uint64(i)), []byte("v"))
				wg.Add(1)
				s.Commit(b, func(err error) {
					if err != nil {
						t.Errorf("batch %d: %v", i, err)
					}
					order = append(order, i) // committer goroutine only
					wg.Done()
				})
				if i == 0 {
					<-gate.entered // the committer holds batch 0
				}
			}
			close(gate.release)
			wg.Wait()
			for i := range n {
				if order[i] != i {
					t.Fatalf("done order %v", order)
				}
			}
			st := s.Stats()
			// Batch 0 alone, then the 9 that piled up behind it in one
			// group, except SyncAlways which writes and syncs each alone.
			want := map[SyncMode]struct{ groups, syncs uint64 }{
				SyncAlways: {n, n}, SyncBatch: {2, 2}, SyncNone: {2, 0},
			}[mode]
			if st.Groups != want.groups || st.Syncs != want.syncs || st.Batches != n {
				t.Fatalf("%s: stats %+v, want %d groups, %d syncs", mode, st, want.groups, want.syncs)
			}
			for i := range n {
				if _, err := s.Engine().Get("m", seqKey(uint64(i))); err != nil {
					t.Fatalf("key %d: %v", i, err)
				}
			}
		})
	}
}

// gateEngine holds the first Write until release is closed.
type gateEngine struct {
	Engine
	release chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (g *gateEngine) Write(b *Batch, sync bool) error {
	g.once.Do(func() {
		g.entered <- struct{}{}
		<-g.release
	})
	return g.Engine.Write(b, sync)
}

func testFull(t *testing.T, k kind) {
	if !k.persistent {
		t.Skip("memory reports Size 0: MaxDiskBytes does not apply")
	}
	v := newEnv(t, k)
	base, err := v.e.Size()
	if err != nil {
		t.Fatal(err)
	}
	limit := base + 256<<10
	s := NewStore(v.e, Options{Sync: SyncNone, MaxDiskBytes: limit})
	v.e = nil
	defer s.Close()
	// Below badger's value threshold: values in its value log would be
	// given back only once the log file rotates (16 MiB), far above this
	// test's limit.
	value := make([]byte, 512)
	i, refused := 0, uint64(0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var b Batch
		for j := range 16 {
			b.Put("f", seqKey(uint64(i*16+j)), value)
		}
		err := s.Write(&b)
		if errors.Is(err, ErrFull) {
			refused++
			// Between two measurements the store estimates its size from
			// what it wrote, which may refuse early; once it has measured
			// again (after 100 ms), a refusal means the limit is reached.
			time.Sleep(2 * sizeRefresh)
			if err = s.Write(&b); errors.Is(err, ErrFull) {
				refused++
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ErrFull after %d batches; size %d, limit %d", i, s.Size(), limit)
		}
		i++
	}
	if size := s.Size(); size < limit {
		t.Fatalf("ErrFull at size %d, below the limit %d", size, limit)
	}
	// Puts are refused, also mixed with deletes; deletes alone pass.
	var b Batch
	b.Delete("f", seqKey(0))
	b.Put("f", []byte("x"), []byte("y"))
	if err := s.Write(&b); !errors.Is(err, ErrFull) {
		t.Fatalf("put+delete batch on a full store: %v, want ErrFull", err)
	}
	for j := 0; j < i*16; j += 512 {
		b.Reset()
		for x := j; x < j+512 && x < i*16; x++ {
			b.Delete("f", seqKey(uint64(x)))
		}
		if err := s.Write(&b); err != nil {
			t.Fatalf("delete on a full store: %v", err)
		}
	}
	if st := s.Stats(); st.Full != refused+1 {
		t.Fatalf("stats.Full = %d, want %d", st.Full, refused+1)
	}
	// Drained, the store takes puts again without being reopened: bolt
	// reuses its free pages at once; badger gives the space back when
	// the Store makes it compact (reclaim, within reclaimMin plus a tick).
	deadline = time.Now().Add(3 * (reclaimMin + reclaimTick))
	for {
		time.Sleep(sizeRefresh + 10*time.Millisecond)
		b.Reset()
		b.Put("f", []byte("again"), value)
		err := s.Write(&b)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrFull) || time.Now().After(deadline) {
			t.Fatalf("put after draining the store: %v (size %d, limit %d)", err, s.Size(), limit)
		}
	}
}

func testClosed(t *testing.T, k kind) {
	v := newEnv(t, k)
	e := v.e
	v.e = nil
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	var b Batch
	b.Put("s", []byte("k"), []byte("v"))
	if err := e.Write(&b, true); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := e.Get("s", []byte("k")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := e.Scan("s", nil, func(_, _ []byte) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Errorf("Scan after Close: %v", err)
	}
	if _, err := e.Size(); !errors.Is(err, ErrClosed) {
		t.Errorf("Size after Close: %v", err)
	}
	if err := e.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}

	// The Store: Close drains what is queued, then refuses.
	v2 := newEnv(t, k)
	s := NewStore(v2.e, Options{Sync: SyncBatch})
	v2.e = nil
	results := make(chan error, 100)
	for i := range 100 {
		b := &Batch{}
		b.Put("s", seqKey(uint64(i)), []byte("v"))
		s.Commit(b, func(err error) { results <- err })
	}
	eng := s.Engine()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := <-results; err != nil {
			t.Fatalf("batch %d queued before Close: %v", i, err)
		}
	}
	if err := s.Write(&b); !errors.Is(err, ErrClosed) {
		t.Errorf("Store.Write after Close: %v", err)
	}
	called := false
	s.Commit(&b, func(err error) { called = errors.Is(err, ErrClosed) })
	if !called {
		t.Error("Commit after Close did not call done(ErrClosed) before returning")
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Store.Close: %v", err)
	}
	if _, err := eng.Get("s", seqKey(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("engine after Store.Close: %v, want ErrClosed", err)
	}
	if !k.persistent {
		return
	}
	e2 := v2.open()
	defer e2.Close()
	n := 0
	e2.Scan("s", nil, func(_, _ []byte) bool { n++; return true })
	if n != 100 {
		t.Fatalf("%d of 100 batches queued before Close are on disk", n)
	}
}
