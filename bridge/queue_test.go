package bridge

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgemq/edgemq/storage"
)

var testEngines = []string{storage.EngineBadger, storage.EngineBolt, storage.EngineMemory}

// testStore opens a Store on engine in dir ("" for a new temp dir).
func testStore(t *testing.T, engine, dir string) *storage.Store {
	t.Helper()
	if dir == "" && engine != storage.EngineMemory {
		dir = t.TempDir()
	}
	opts := storage.Options{Dir: dir, Engine: engine, Sync: storage.SyncNone}
	e, err := storage.OpenEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
	return storage.NewStore(e, opts)
}

func testQueue(t *testing.T, st *storage.Store, maxBytes int64, ov Overflow, cache int) *queue {
	t.Helper()
	q, err := openQueue("t", st, maxBytes, ov, cache, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func testRec(i int) []byte {
	return appendRecord(nil, time.Now(), 1, false, "t/x", fmt.Appendf(nil, "m%04d", i))
}

// pushCommit pushes message i and waits for its commit.
func pushCommit(t *testing.T, q *queue, st *storage.Store, i int) int {
	t.Helper()
	var b storage.Batch
	n := q.push(testRec(i), &b)
	if err := st.Write(&b); err != nil {
		t.Fatal(err)
	}
	return n
}

// payloads returns the message numbers of flights.
func payloads(t *testing.T, fs []*flight) []string {
	t.Helper()
	var out []string
	for _, f := range fs {
		r, err := decodeRecord(f.rec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(r.payload))
	}
	return out
}

func names(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("m%04d", i))
	}
	return out
}

func seqs(fs []*flight) []uint64 {
	var out []uint64
	for _, f := range fs {
		out = append(out, f.seq)
	}
	return out
}

// barrier waits until every batch committed before it is written.
func barrier(t *testing.T, st *storage.Store) {
	t.Helper()
	if err := st.Write(&storage.Batch{}); err != nil {
		t.Fatal(err)
	}
}

// TestQueueRestart: entries come out in order, acknowledged ones are
// deleted, and the rest is there after reopening, for each engine; with a
// cache too small for anything, every entry is read back from disk.
func TestQueueRestart(t *testing.T) {
	for _, engine := range testEngines {
		for _, cache := range []int{1 << 20, 0} {
			t.Run(fmt.Sprintf("%s/cache%d", engine, cache), func(t *testing.T) {
				dir := ""
				if engine != storage.EngineMemory {
					dir = t.TempDir()
				}
				st := testStore(t, engine, dir)
				q := testQueue(t, st, 1<<20, DropOldest, cache)
				for i := range 300 {
					pushCommit(t, q, st, i)
				}
				fs := q.take(100, nil)
				if got, want := payloads(t, fs), names(0, 100); !slices.Equal(got, want) {
					t.Fatalf("took %v..., want %v...", got[:3], want[:3])
				}
				q.ack(seqs(fs[:60]))
				if s := q.state(); s.messages != 240 {
					t.Fatalf("%d messages after 60 acks, want 240", s.messages)
				}
				barrier(t, st)
				if engine == storage.EngineMemory {
					return
				}
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				st = testStore(t, engine, dir)
				defer st.Close()
				q = testQueue(t, st, 1<<20, DropOldest, cache)
				if s := q.state(); s.messages != 240 || s.bytes != q.bytes || s.oldest.IsZero() {
					t.Fatalf("after restart: %+v", s)
				}
				fs = q.take(1000, nil)
				if got, want := payloads(t, fs), names(60, 300); !slices.Equal(got, want) {
					t.Fatalf("after restart took %d: %v..., want %v...", len(got), got[:3], want[:3])
				}
			})
		}
	}
}

// TestQueueCommitOrder: an entry is not sent before it is committed, and
// a later entry committed first waits behind it (order holds).
func TestQueueCommitOrder(t *testing.T) {
	st := testStore(t, storage.EngineMemory, "")
	defer st.Close()
	q := testQueue(t, st, 1<<20, DropOldest, 1<<20)
	var b1, b2 storage.Batch
	q.push(testRec(1), &b1)
	q.push(testRec(2), &b2)
	if err := st.Write(&b2); err != nil {
		t.Fatal(err)
	}
	if fs := q.take(10, nil); len(fs) != 0 {
		t.Fatalf("took %v while the first entry was not committed", payloads(t, fs))
	}
	if err := st.Write(&b1); err != nil {
		t.Fatal(err)
	}
	if got := payloads(t, q.take(10, nil)); !slices.Equal(got, []string{"m0001", "m0002"}) {
		t.Fatalf("took %v", got)
	}
}

// TestQueueFailedCommit: an entry whose batch failed (its publisher was not
// acknowledged) is skipped and counted, not sent.
func TestQueueFailedCommit(t *testing.T) {
	st := testStore(t, storage.EngineMemory, "")
	defer st.Close()
	q := testQueue(t, st, 1<<20, DropOldest, 1<<20)
	pushCommit(t, q, st, 1)
	var bad storage.Batch
	q.push(testRec(2), &bad)
	bad.Put("", []byte("k"), []byte("v")) // invalid: the whole batch fails
	if err := st.Write(&bad); err == nil {
		t.Fatal("the invalid batch was written")
	}
	pushCommit(t, q, st, 3)
	if got := payloads(t, q.take(10, nil)); !slices.Equal(got, []string{"m0001", "m0003"}) {
		t.Fatalf("took %v", got)
	}
	if s := q.state(); s.messages != 2 || q.c.notStored.Load() != 1 {
		t.Fatalf("messages %d notStored %d, want 2 and 1", s.messages, q.c.notStored.Load())
	}
}

// TestQueueOverflow: the bound holds with both policies, the drop counter
// counts what was dropped, and what stays is the newest (drop_oldest) or
// the oldest (drop_new) messages, also on disk.
func TestQueueOverflow(t *testing.T) {
	size := int64(seqKeyLen + len(testRec(0)))
	for _, tc := range []struct {
		ov   Overflow
		want []string
	}{
		{DropOldest, names(90, 100)},
		{DropNew, names(0, 10)},
	} {
		t.Run(string(tc.ov), func(t *testing.T) {
			dir := t.TempDir()
			st := testStore(t, storage.EngineBolt, dir)
			q := testQueue(t, st, 10*size+size/2, tc.ov, 1<<20)
			dropped := 0
			for i := range 100 {
				dropped += pushCommit(t, q, st, i)
				if s := q.state(); s.bytes > q.maxBytes {
					t.Fatalf("after %d pushes: %d bytes > max %d", i+1, s.bytes, q.maxBytes)
				}
			}
			if dropped != 90 || q.c.dropped.Load() != 90 {
				t.Fatalf("dropped %d, counter %d, want 90", dropped, q.c.dropped.Load())
			}
			st.Close()
			st = testStore(t, storage.EngineBolt, dir)
			defer st.Close()
			q = testQueue(t, st, 10*size+size/2, tc.ov, 1<<20)
			if got := payloads(t, q.take(100, nil)); !slices.Equal(got, tc.want) {
				t.Fatalf("on disk: %v, want %v", got, tc.want)
			}
		})
	}
}

// TestQueueOverflowSparesInflight: drop_oldest does not drop what is in
// flight; when nothing else can go, the new message is dropped.
func TestQueueOverflowSparesInflight(t *testing.T) {
	st := testStore(t, storage.EngineMemory, "")
	defer st.Close()
	size := int64(seqKeyLen + len(testRec(0)))
	q := testQueue(t, st, 3*size, DropOldest, 1<<20)
	for i := range 3 {
		pushCommit(t, q, st, i)
	}
	q.take(2, nil)
	if n := pushCommit(t, q, st, 3); n != 1 {
		t.Fatalf("dropped %d, want 1 (m0002)", n)
	}
	if n := pushCommit(t, q, st, 4); n != 1 {
		t.Fatalf("dropped %d, want 1 (m0003)", n)
	}
	q.requeue()
	if got, want := payloads(t, q.take(10, nil)), []string{"m0000", "m0001", "m0004"}; !slices.Equal(got, want) {
		t.Fatalf("queue %v, want %v", got, want)
	}
	q.requeue()
	q.take(3, nil)
	if n := pushCommit(t, q, st, 5); n != 1 || q.state().messages != 3 {
		t.Fatalf("with the whole queue in flight: dropped %d (want the new one), %d queued", n, q.state().messages)
	}
}

// TestQueueDamagedRecords: damaged records (a torn tail after a power
// cut, a flipped bit in the middle) are reported, skipped and deleted; the
// rest of the queue is kept.
func TestQueueDamagedRecords(t *testing.T) {
	for _, engine := range []string{storage.EngineBadger, storage.EngineBolt} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			st := testStore(t, engine, dir)
			q := testQueue(t, st, 1<<20, DropOldest, 1<<20)
			for i := range 10 {
				pushCommit(t, q, st, i)
			}
			mid := testRec(4)
			mid[len(mid)-1] ^= 1
			var b storage.Batch
			b.Put(q.bucket, seqKey(5), mid)
			b.Put(q.bucket, seqKey(10), testRec(9)[:20]) // torn tail
			if err := st.Write(&b); err != nil {
				t.Fatal(err)
			}
			st.Close()
			st = testStore(t, engine, dir)
			defer st.Close()
			q = testQueue(t, st, 1<<20, DropOldest, 1<<20)
			if n := q.c.corrupt.Load(); n != 2 {
				t.Fatalf("corrupt %d, want 2", n)
			}
			want := slices.Concat(names(0, 4), names(5, 9))
			if got := payloads(t, q.take(100, nil)); !slices.Equal(got, want) {
				t.Fatalf("took %v, want %v", got, want)
			}
			if _, err := st.Engine().Get(q.bucket, seqKey(10)); err == nil {
				t.Fatal("the damaged tail record was not deleted")
			}
		})
	}
}

// TestQueueStuck: an entry whose batch is never committed (its publisher's
// connection went away) does not stop the queue forever.
func TestQueueStuck(t *testing.T) {
	st := testStore(t, storage.EngineMemory, "")
	defer st.Close()
	q := testQueue(t, st, 1<<20, DropOldest, 1<<20)
	var lost, written storage.Batch
	q.push(testRec(1), &lost)    // never committed
	q.push(testRec(2), &written) // written, but its OnDone is lost
	if err := st.Engine().Write(&written, false); err != nil {
		t.Fatal(err)
	}
	pushCommit(t, q, st, 3)
	now := time.Now()
	q.resolveStuck(now, time.Minute)
	if fs := q.take(10, nil); len(fs) != 0 {
		t.Fatal("took entries behind an uncommitted one")
	}
	q.resolveStuck(now.Add(2*time.Minute), time.Minute) // m0001: not on disk
	q.resolveStuck(now.Add(2*time.Minute), time.Minute) // m0002: a new front, timer starts
	q.resolveStuck(now.Add(4*time.Minute), time.Minute) // m0002: on disk
	if got := payloads(t, q.take(10, nil)); !slices.Equal(got, []string{"m0002", "m0003"}) {
		t.Fatalf("took %v", got)
	}
	if q.c.notStored.Load() != 1 {
		t.Fatalf("notStored %d, want 1", q.c.notStored.Load())
	}
}

// TestQueueRing: QoS 0 records stay in a bounded memory ring.
func TestQueueRing(t *testing.T) {
	st := testStore(t, storage.EngineMemory, "")
	defer st.Close()
	rec := testRec(0)
	q := testQueue(t, st, int64(3*len(rec)), DropOldest, 0)
	for i := range 5 {
		q.pushRing(testRec(i))
	}
	got := q.takeRing(10, nil)
	if len(got) != 3 || q.c.droppedRing.Load() != 2 {
		t.Fatalf("ring kept %d, dropped %d; want 3 and 2", len(got), q.c.droppedRing.Load())
	}
	if r, _ := decodeRecord(got[0]); string(r.payload) != "m0002" {
		t.Fatalf("oldest kept is %s, want m0002", r.payload)
	}
}

// TestQueueDropDuringReadAhead: entries read ahead from disk and then
// dropped by drop_oldest are not sent.
func TestQueueDropDuringReadAhead(t *testing.T) {
	st := testStore(t, storage.EngineBadger, "")
	defer st.Close()
	size := int64(seqKeyLen + len(testRec(0)))
	q := testQueue(t, st, 10*size, DropOldest, 0)
	for i := range 10 {
		pushCommit(t, q, st, i)
	}
	if got := payloads(t, q.take(2, nil)); !slices.Equal(got, names(0, 2)) {
		t.Fatalf("took %v", got)
	}
	if q.ra.len() != 8 {
		t.Fatalf("read ahead %d entries, want the other 8", q.ra.len())
	}
	for i := 10; i < 13; i++ {
		if n := pushCommit(t, q, st, i); n != 1 {
			t.Fatalf("push %d dropped %d, want 1", i, n)
		}
	}
	want := slices.Concat(names(5, 13))
	if got := payloads(t, q.take(100, nil)); !slices.Equal(got, want) {
		t.Fatalf("took %v, want %v (m0002..m0004 dropped)", got, want)
	}
}

// TestProgressLog: while a backlog drains, the log says every few seconds
// how many messages remain and the rate.
func TestProgressLog(t *testing.T) {
	st := testStore(t, storage.EngineMemory, "")
	defer st.Close()
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	q, err := openQueue("p", st, 1<<30, DropOldest, 1<<20, log)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		pushCommit(t, q, st, i)
	}
	l := newLink(Config{Name: "p"}.withDefaults(), nil, nil, nil, q, &linkCounters{}, log)
	now := time.Now()
	q.c.acked.Store(500)
	p := progress{acked: 0, at: now.Add(-time.Second), logged: now.Add(-progressEvery)}
	l.tick(now, &p)
	if l.drainRate() != 500 {
		t.Fatalf("drain rate %v, want 500", l.drainRate())
	}
	line := out.String()
	for _, want := range []string{"bridge draining backlog", "remaining=2000", "rate_msg_s=500", "eta=4s"} {
		if !strings.Contains(line, want) {
			t.Fatalf("progress line %q lacks %q", line, want)
		}
	}
	out = syncBuffer{}
	l.tick(now.Add(time.Second), &p)
	if out.String() != "" {
		t.Fatalf("a second line one second later: %q", out.String())
	}
}
