package storage

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A store is full, and refuses batches with puts (ErrFull), when either
//
//   - the engine's Size has reached Options.MaxDiskBytes, or
//   - the filesystem of the data dir has less free space than the
//     reserve (Options.MinFreeBytes, by default the engine's own, see
//     spaceUser).
//
// The second guards against the filesystem filling up, by edgemq's own
// writes or by another process (logs, other data on the same flash).
// Badger writes its memtable log, value log and tables through mmap, so
// on a full filesystem it does not get an error but dies of SIGBUS when a
// page of a sparse file cannot be allocated; the reserve keeps room for
// everything badger may write without asking. Bolt writes with pwrite and
// gets ENOSPC (reported as ErrFull too), so it needs little.
//
// Below an engine's hard floor (badger: two memtables) every batch is
// refused, deletes included: each delete is a record in badger's
// memtable log. A refused delete (a delivery acknowledged by its
// subscriber) costs at most a duplicate delivery after a restart.

// spaceNeeds is what an engine needs of its filesystem; see spaceUser.
type spaceNeeds struct {
	reserve int64 // free space to keep: below it puts are refused
	floor   int64 // below it deletes are refused too
	swing   int64 // how far the engine's size moves by itself (flushes, compactions)
}

// spaceUser is implemented by engines that keep part of their data in
// mmapped files or that change size by themselves.
type spaceUser interface {
	spaceNeeds() spaceNeeds
}

// freeCheckInterval is how often a Store that is not committing refreshes
// its fullness for Full (the committer checks free space before every
// group).
const freeCheckInterval = time.Second

// space tracks whether a Store is full. The committer calls check before
// each group; Full calls it when the last check is old.
type space struct {
	dir      string // "" (memory engine): no free space check
	engine   string
	maxDisk  int64
	minFree  int64 // soft reserve; <= 0 none
	hardFree int64 // floor for deletes; <= 0 none
	swing    int64 // hysteresis beyond limit/32, see check
	freeFn   func(dir string) (int64, error)

	full atomic.Bool // the last check found the store full (read on hot paths)

	mu      sync.Mutex
	free    int64 // bytes available on dir's filesystem at the last check; -1 unknown
	reason  error // nil, or ErrFull wrapped with why
	hard    bool  // below the hard floor: deletes are refused too
	checked time.Time
}

// newSpace sets up the checks for opts and engine e.
func newSpace(e Engine, opts Options) *space {
	sp := &space{dir: opts.Dir, engine: e.Name(), maxDisk: opts.MaxDiskBytes, free: -1, freeFn: freeBytes}
	var n spaceNeeds
	if u, ok := e.(spaceUser); ok {
		n = u.spaceNeeds()
	}
	sp.swing = n.swing
	if opts.Dir == "" || opts.MinFreeBytes < 0 {
		return sp
	}
	if opts.MinFreeBytes > 0 {
		n.reserve = opts.MinFreeBytes
		n.floor = min(n.floor, n.reserve)
	}
	sp.minFree, sp.hardFree = n.reserve, n.floor
	return sp
}

// check measures free space and decides whether the store is full, given
// the engine's size. It returns whether deletes are refused too, and the
// reason (nil when not full).
func (sp *space) check(size int64) (hard bool, reason error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.checked = time.Now()
	if sp.dir != "" && sp.minFree > 0 {
		if n, err := sp.freeFn(sp.dir); err == nil {
			sp.free = n
		} else if !errors.Is(err, errNoStatfs) {
			sp.free = -1
		}
	}
	// Hysteresis: a full store stays full until it is 1/32 of the limit,
	// or the engine's swing (badger: a memtable) up to a quarter of the
	// limit, below the limit it reached, so that readiness and $SYS do not
	// flap while badger's flushes and compactions move its size around it.
	wasFull := sp.reason != nil
	minFree, maxDisk := sp.minFree, sp.maxDisk
	if wasFull {
		minFree += max(minFree/32, min(sp.swing, minFree/4))
		maxDisk -= max(maxDisk/32, min(sp.swing, maxDisk/4))
	}
	sp.reason, sp.hard = nil, false
	switch {
	case sp.free >= 0 && sp.free < minFree:
		sp.reason = fmt.Errorf("%w: the data dir's filesystem has %s of free space, below the reserve of %s kept for the %s engine",
			ErrFull, mib(sp.free), mib(sp.minFree), sp.engine)
		sp.hard = sp.free < sp.hardFree
	case sp.maxDisk > 0 && size >= maxDisk:
		sp.reason = fmt.Errorf("%w: max_disk_bytes reached (the store uses %s of %s)", ErrFull, mib(size), mib(sp.maxDisk))
	}
	if full := sp.reason != nil; sp.full.Load() != full {
		sp.full.Store(full)
	}
	return sp.hard, sp.reason
}

// last returns the free space found by the last check (-1 unknown), when
// it ran, and its result.
func (sp *space) last() (free int64, at time.Time, reason error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.free, sp.checked, sp.reason
}

// mib formats n bytes in MiB with one decimal.
func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// errNoStatfs is freeBytes' error where the platform cannot tell.
var errNoStatfs = errors.New("storage: free space unknown on this platform")

// fullFromENOSPC turns an engine's "no space left on device" into ErrFull
// (the filesystem filled up between two checks): the caller is told the
// store is full, not that it failed.
func fullFromENOSPC(err error) error {
	if err != nil && errors.Is(err, syscall.ENOSPC) && !errors.Is(err, ErrFull) {
		return fmt.Errorf("%w: the data dir's filesystem is full: %w", ErrFull, err)
	}
	return err
}

// reclaimer is implemented by engines that give back the space of deleted
// entries only when they compact, which they do as new writes come: a
// full store refuses those writes, so without help a drained store would
// stay full. reclaim compacts now.
type reclaimer interface {
	reclaim() error
}

// Reclaim pacing: the committer looks every reclaimTick; a reclaim runs
// while the store is full and entries were deleted since the last one, at
// most every reclaimMin, backing off to reclaimMax while reclaims give
// back little (a store full of live data, a bridge backlog waiting for
// its uplink, must not be rewritten every few seconds).
const (
	reclaimTick = time.Second
	reclaimMin  = 2 * time.Second
	reclaimMax  = 5 * time.Minute
)

// reclaimState is the committer's record of reclaims.
type reclaimState struct {
	deleted bool          // deletes written since the last reclaim
	last    time.Time     // when the last reclaim ran
	every   time.Duration // current pace
	stop    func()        // stops the ticker
}

// maybeReclaim runs the engine's reclaim when it is due; committer only.
func (s *Store) maybeReclaim() {
	r, ok := s.e.(reclaimer)
	st := &s.reclaim
	if !ok || !st.deleted {
		return
	}
	if st.every == 0 {
		st.every = reclaimMin
	}
	if time.Since(st.last) < st.every {
		return
	}
	if _, full := s.space.check(s.size.Load() + s.written); full == nil {
		return
	}
	s.refreshSize()
	before := s.size.Load()
	// A reclaim writes: memtables flushed to tables, and a compaction
	// that may rewrite the whole store before it deletes the old tables.
	// Badger writes through mmaps, so without room for that a reclaim
	// would meet a full filesystem as a SIGBUS. Then the space has to come
	// back from elsewhere.
	if free, _, _ := s.space.last(); free >= 0 && free < s.space.minFree+before {
		return
	}
	start := time.Now()
	err := r.reclaim()
	st.deleted, st.last = false, time.Now()
	s.refreshSize()
	after := s.size.Load()
	_, full := s.space.check(after)
	if err != nil {
		st.every = reclaimMax
		s.log.Warn("storage: reclaiming the space of deleted entries failed", "engine", s.e.Name(), "err", err)
		return
	}
	if before-after < before/8 {
		st.every = min(2*st.every, reclaimMax)
	} else {
		st.every = reclaimMin
	}
	s.log.Info("storage full: reclaimed the space of deleted entries", "engine", s.e.Name(),
		"before", mib(before), "after", mib(after), "took", time.Since(start).Round(time.Millisecond),
		"still_full", full != nil, "next_in", st.every)
}
