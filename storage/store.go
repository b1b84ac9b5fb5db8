package storage

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Group limits. A group is written as one engine transaction, so it must
// stay well inside badger's transaction limit (15% of a memtable: 630 KB and
// 6553 entries with 4 MiB memtables, half that with 2 MiB). A group that
// still does not fit (ErrTooLarge) is written batch by batch.
const (
	maxGroupOps   = 1024
	maxGroupBytes = 256 << 10 // keys + values
)

// defaultCommitQueue is the default bound of the submission queue.
const defaultCommitQueue = 1024

// sizeRefresh is the longest the Store trusts a measured Engine.Size before
// measuring again (at most once per group, and only when it is older).
const sizeRefresh = 100 * time.Millisecond

// Store puts group commit on top of an Engine. Writers hand it batches with
// Commit; one committer goroutine owned by the Store takes every batch
// queued so far and writes them in one engine Write: one transaction and,
// with SyncBatch, one sync for all of them. Then it calls each batch's done
// in submission order. SyncAlways writes and syncs each batch alone, in
// order; SyncNone groups like SyncBatch and never syncs.
//
// The submission queue holds Options.CommitQueue batches. When it is full,
// Commit blocks its caller until the committer takes a group: that is the
// back-pressure on publishers when the flash is slower than they are.
//
// The store is full while the engine's Size is at or above
// Options.MaxDiskBytes, or while the data dir's filesystem has less free
// space than the reserve (Options.MinFreeBytes; see space.go). A batch
// that contains a put is then refused with an error wrapping ErrFull that
// says why; batches of deletes pass, so a full store can drain (unless
// free space is below the engine's hard floor). Size is measured at most
// every 100 ms and estimated in between (the measurement plus the key and
// value bytes written since), so max_disk_bytes is overshot by at most
// the engine's overhead on what is written in that time; free space is
// measured before every group. An engine write
// that fails with ENOSPC is reported as ErrFull as well.
//
// Reads go to the engine directly (Engine); they see a batch once its done
// has been called (and, in practice, as soon as it is written).
type Store struct {
	e    Engine
	mode SyncMode
	log  *slog.Logger

	// mu orders Close against Commit's send on queue; closed is guarded by it.
	mu     sync.RWMutex
	closed bool
	queue  chan commitReq
	exited chan struct{} // closed when the committer returns

	// Owned by the committer goroutine.
	group   []commitReq
	results []error
	merged  Batch
	sizeAt  time.Time
	// written counts key and value bytes put since sizeAt: the
	// fullness check adds it to the measured size, so that a burst
	// between two measurements does not overshoot max_disk_bytes by much.
	written int64
	reclaim reclaimState

	space       *space
	reclaimTick <-chan time.Time // nil unless the engine is a reclaimer
	size        atomic.Int64
	counters    storeCounters
}

type commitReq struct {
	b    *Batch
	done func(error)
}

// storeCounters are written by the committer only, read by Stats.
type storeCounters struct {
	batches, groups, ops, bytes, syncs, errors, full atomic.Uint64
	syncLast, syncMax                                atomic.Int64
}

// Stats are the Store's counters since NewStore, for metrics.
type Stats struct {
	Batches   uint64        // batches written successfully
	Groups    uint64        // engine Writes (transactions)
	Ops       uint64        // puts and deletes written
	Bytes     uint64        // key and value bytes written
	Syncs     uint64        // engine Writes with sync
	SyncLast  time.Duration // duration of the last synced engine Write (write + sync)
	SyncMax   time.Duration // longest synced engine Write
	Errors    uint64        // batches that failed with an engine or validation error
	Full      uint64        // batches refused with ErrFull
	Queued    int           // batches waiting for the committer now
	SizeBytes int64         // last measured Engine.Size
	// FreeBytes is the free space of the data dir's filesystem at the last
	// check, -1 when unknown (memory engine, check off, not Linux).
	FreeBytes int64
	// ReserveBytes is the free space the store keeps (0: no check).
	ReserveBytes int64
	// FullReason says why the store refuses puts now; "" when it does not.
	FullReason string
}

// NewStore starts a Store on e with opts.Sync, opts.MaxDiskBytes,
// opts.CommitQueue and opts.Logger (the other fields are for OpenEngine).
// The Store owns e from now on: Store.Close closes it.
func NewStore(e Engine, opts Options) *Store {
	n := opts.CommitQueue
	if n <= 0 {
		n = defaultCommitQueue
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		e:      e,
		mode:   opts.Sync,
		log:    log,
		queue:  make(chan commitReq, n),
		exited: make(chan struct{}),
		space:  newSpace(e, opts),
	}
	s.refreshSize()
	s.space.check(s.size.Load())
	if _, ok := e.(reclaimer); ok {
		t := time.NewTicker(reclaimTick)
		s.reclaimTick = t.C
		s.reclaim.stop = t.Stop
	}
	go s.run()
	return s
}

// Engine returns the engine, for reads (Get, Scan).
func (s *Store) Engine() Engine { return s.e }

// Commit queues b to be written and calls b's OnDone functions, then
// done(err), once it is: with
// SyncBatch and SyncAlways, err == nil means b is on stable storage. done is
// called exactly once, from the committer goroutine, in the order batches
// were submitted; it must not block and must not call Commit, Write or Close
// (that would stall or deadlock every writer). After Close, done(ErrClosed)
// is called before Commit returns. Commit blocks while the queue is full.
// The caller must not modify b or the slices in it until done is called.
// A nil done is allowed (nobody is told).
func (s *Store) Commit(b *Batch, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		b.runHooks(ErrClosed)
		done(ErrClosed)
		return
	}
	s.queue <- commitReq{b: b, done: done}
	s.mu.RUnlock()
}

// Write commits b and waits until it is written.
func (s *Store) Write(b *Batch) error {
	ch := make(chan error, 1)
	s.Commit(b, func(err error) { ch <- err })
	return <-ch
}

// Close writes every batch already queued, stops the committer and closes
// the engine. Later calls to Close return ErrClosed, later Commits get
// ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	<-s.exited
	return s.e.Close()
}

// Size returns the last measured Engine.Size.
func (s *Store) Size() int64 { return s.size.Load() }

// Full returns nil while the store takes puts, else why not: an error
// wrapping ErrFull that names the limit reached. The committer decides
// before every group; when it has not run for a second, Full measures
// again itself (size and free space), so that the answer follows space
// coming back while nobody writes.
func (s *Store) Full() error {
	_, at, reason := s.space.last()
	if time.Since(at) < freeCheckInterval {
		return reason
	}
	if n, err := s.e.Size(); err == nil {
		s.size.Store(n)
	}
	_, reason = s.space.check(s.size.Load())
	return reason
}

// Refusing reports whether the last check found the store full (puts
// refused). It is one atomic load, for hot paths that want to refuse early
// what the store would refuse anyway; Full says why and measures again
// when the last check is old.
func (s *Store) Refusing() bool { return s.space.full.Load() }

// Stats returns the counters.
func (s *Store) Stats() Stats {
	c := &s.counters
	full := s.Full()
	free, _, _ := s.space.last()
	reason := ""
	if full != nil {
		reason = full.Error()
	}
	return Stats{
		Batches:      c.batches.Load(),
		Groups:       c.groups.Load(),
		Ops:          c.ops.Load(),
		Bytes:        c.bytes.Load(),
		Syncs:        c.syncs.Load(),
		SyncLast:     time.Duration(c.syncLast.Load()),
		SyncMax:      time.Duration(c.syncMax.Load()),
		Errors:       c.errors.Load(),
		Full:         c.full.Load(),
		Queued:       len(s.queue),
		SizeBytes:    s.size.Load(),
		FreeBytes:    free,
		ReserveBytes: max(s.space.minFree, 0),
		FullReason:   reason,
	}
}

// run is the committer: it takes a group of queued batches, commits it, and
// repeats until the queue is closed and empty.
func (s *Store) run() {
	defer close(s.exited)
	if s.reclaim.stop != nil {
		defer s.reclaim.stop()
	}
	var carry *commitReq
	for {
		var first commitReq
		if carry != nil {
			first, carry = *carry, nil
		} else {
			var ok bool
			select {
			case first, ok = <-s.queue:
				if !ok {
					return
				}
			case <-s.reclaimTick:
				s.maybeReclaim()
				continue
			}
		}
		s.group = append(s.group[:0], first)
		ops, size := first.b.Len(), batchBytes(first.b)
	fill:
		for ops < maxGroupOps && size < maxGroupBytes {
			select {
			case r, ok := <-s.queue:
				if !ok {
					break fill // closed: commit this group, then exit
				}
				n, sz := r.b.Len(), batchBytes(r.b)
				if ops+n > maxGroupOps || size+sz > maxGroupBytes {
					carry = &r
					break fill
				}
				s.group = append(s.group, r)
				ops, size = ops+n, size+sz
			default:
				break fill
			}
		}
		s.commit(s.group)
		clear(s.group) // drop references to the callers' batches
		s.maybeReclaim()
	}
}

// commit writes one group and calls every done in order.
func (s *Store) commit(group []commitReq) {
	if time.Since(s.sizeAt) >= sizeRefresh {
		s.refreshSize()
	}
	hard, full := s.space.check(s.size.Load() + s.written)
	res := s.results[:0]
	accepted := 0
	for _, r := range group {
		err := r.b.Validate()
		if err == nil && full != nil && (hard || hasPut(r.b)) {
			err = full
		}
		res = append(res, err)
		if err == nil {
			accepted++
		}
	}
	s.results = res

	if s.mode == SyncAlways {
		for i, r := range group {
			if res[i] == nil {
				res[i] = s.write(r.b, true)
			}
			s.finish(r, res[i])
		}
		return
	}

	sync := s.mode == SyncBatch
	s.merged.Reset()
	for i, r := range group {
		if res[i] == nil {
			s.merged.Ops = append(s.merged.Ops, r.b.Ops...)
		}
	}
	err := s.write(&s.merged, sync)
	s.merged.Reset()
	if errors.Is(err, ErrTooLarge) && accepted > 1 {
		// The group did not fit in one transaction: each batch alone.
		for i, r := range group {
			if res[i] == nil {
				res[i] = s.write(r.b, sync)
			}
		}
	} else if err != nil {
		for i := range res {
			if res[i] == nil {
				res[i] = err
			}
		}
	}
	for i, r := range group {
		s.finish(r, res[i])
	}
}

// write writes b to the engine and counts it.
func (s *Store) write(b *Batch, sync bool) error {
	if b.Len() == 0 {
		return nil
	}
	start := time.Now()
	err := s.e.Write(b, sync)
	if err != nil {
		return fullFromENOSPC(err)
	}
	c := &s.counters
	if sync {
		d := int64(time.Since(start))
		c.syncs.Add(1)
		c.syncLast.Store(d)
		if d > c.syncMax.Load() {
			c.syncMax.Store(d)
		}
	}
	n, puts, deletes := opBytes(b)
	s.written += puts
	s.reclaim.deleted = s.reclaim.deleted || deletes
	c.groups.Add(1)
	c.ops.Add(uint64(b.Len()))
	c.bytes.Add(uint64(n))
	return nil
}

// finish counts r's outcome and calls its done.
func (s *Store) finish(r commitReq, err error) {
	switch {
	case err == nil:
		s.counters.batches.Add(1)
	case errors.Is(err, ErrFull):
		s.counters.full.Add(1)
	default:
		s.counters.errors.Add(1)
	}
	r.b.runHooks(err)
	r.done(err)
}

// refreshSize measures the engine's size; on error it keeps the old value
// and logs.
func (s *Store) refreshSize() {
	s.sizeAt, s.written = time.Now(), 0
	n, err := s.e.Size()
	if err != nil {
		s.log.Warn("storage: measuring size failed", "engine", s.e.Name(), "err", err)
		return
	}
	s.size.Store(n)
}

// batchBytes is the bytes of keys and values in b.
func batchBytes(b *Batch) int {
	n := 0
	for i := range b.Ops {
		n += len(b.Ops[i].Key) + len(b.Ops[i].Value)
	}
	return n
}

// opBytes returns, in one pass over b, the bytes of keys and values in
// b, those of its puts alone, and whether it deletes anything.
func opBytes(b *Batch) (all, puts int64, deletes bool) {
	for i := range b.Ops {
		n := int64(len(b.Ops[i].Key) + len(b.Ops[i].Value))
		all += n
		if b.Ops[i].Delete {
			deletes = true
		} else {
			puts += n
		}
	}
	return all, puts, deletes
}

func hasPut(b *Batch) bool {
	for i := range b.Ops {
		if !b.Ops[i].Delete {
			return true
		}
	}
	return false
}
