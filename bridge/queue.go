package bridge

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgemq/edgemq/storage"
)

// Bits of a queue slot: one uint32 per sequence number in [head, next).
const (
	slotPending = 1 << 31 // the put is not committed yet: not sendable
	slotTaken   = 1 << 30 // handed to the sender, waiting for the remote's ack
	slotSize    = 1<<30 - 1
	// A slot of 0 is a hole: acknowledged, dropped, or never stored.
)

// ringMax bounds the memory ring of QoS 0 rules (and queue.max_bytes, when
// smaller).
const ringMax = 1 << 20

// stuckTimeout is how long the entry at the front may wait for its commit
// before the queue looks on disk whether it was written (a batch that
// nobody committed would otherwise stop the bridge).
const stuckTimeout = time.Minute

// queue is a bridge's outbound queue: a durable FIFO of records in one
// storage bucket, plus a bounded memory ring for QoS 0 rules.
//
// An entry is added while the broker routes a message (push): its put
// joins the publisher's storage batch, so it is on disk before the
// publisher's PUBACK, and the batch's OnDone tells the queue whether it was
// written. Only committed entries are sent, strictly in sequence order:
// the sender stops at the first entry still pending, so what a publisher
// sent in order reaches the remote in order, and a message is never
// forwarded before it is durable. The most recent records are also kept in
// memory (the cache, up to cacheMax bytes) so live traffic is sent without
// reading them back; an older backlog is read from disk in chunks.
//
// An entry is taken by the sender (take), stays on disk while it is in
// flight, and is deleted once the remote acknowledges it (ack). When the
// bridge stops, entries in flight go back to the queue (requeue).
//
// Bound: bytes (keys and values of queued entries, in flight included)
// stays within maxBytes. When a push would exceed it, drop_oldest deletes
// the oldest entries not yet in flight (the inflight window is never
// dropped) and drop_new refuses the new message; a message that still does
// not fit is dropped. Every drop is counted.
type queue struct {
	name   string
	bucket string
	store  *storage.Store
	log    *slog.Logger
	wake   chan struct{} // cap 1: something for the sender to look at

	mu       sync.Mutex
	maxBytes int64
	overflow Overflow
	head     uint64            // seq of slots.at(0)
	next     uint64            // seq of the next entry
	read     uint64            // first seq not taken: [head, read) are taken or holes
	slots    deque[uint32]     // one per seq in [head, next)
	cache    deque[[]byte]     // records of seqs [cacheLo, cacheLo+cache.len())
	cacheLo  uint64            // >= read when the cache is not empty
	cacheB   int               // bytes in cache
	cacheMax int               // bound of cacheB
	bytes    int64             // keys and values of live entries
	count    int               // live entries
	ids      map[uint64]uint16 // stored packet ids of QoS 2 entries
	rel      map[uint64]bool   // QoS 2 entries whose PUBREC came (stored: resend PUBREL, not PUBLISH)
	stuckSeq uint64
	stuckAt  time.Time
	ring     deque[[]byte] // QoS 0 records
	ringB    int
	ra       deque[seqRec] // entries read ahead from disk, seqs in [read, raEnd)
	raEnd    uint64

	c queueCounters
}

// queueCounters count since the queue was opened.
type queueCounters struct {
	enqueued, dropped, droppedRing, notStored, lost, corrupt, acked atomic.Uint64
}

// openQueue loads the queue of bridge name from store. Damaged records are
// reported, counted, deleted and skipped.
func openQueue(name string, store *storage.Store, maxBytes int64, overflow Overflow, cacheMax int, log *slog.Logger) (*queue, error) {
	q := &queue{
		name:     name,
		bucket:   "bridge/" + name,
		store:    store,
		log:      log,
		wake:     make(chan struct{}, 1),
		maxBytes: maxBytes,
		overflow: overflow,
		cacheMax: cacheMax,
		ids:      make(map[uint64]uint16),
		rel:      make(map[uint64]bool),
	}
	if err := q.load(); err != nil {
		return nil, err
	}
	return q, nil
}

func (q *queue) load() error {
	var bad storage.Batch
	first := true
	err := q.store.Engine().Scan(q.bucket, nil, func(k, v []byte) bool {
		switch {
		case len(k) == seqKeyLen:
			seq := binary.BigEndian.Uint64(k)
			if _, err := decodeRecord(v); err != nil {
				q.log.Error("bridge queue: skipping a damaged record (the rest of the queue is kept)",
					"bridge", q.name, "seq", seq, "err", err)
				q.c.corrupt.Add(1)
				bad.Delete(q.bucket, bytes.Clone(k))
				return true
			}
			if first {
				q.head, q.next, first = seq, seq, false
			}
			for ; q.next < seq; q.next++ {
				q.slots.pushBack(0)
			}
			size := len(k) + len(v)
			q.slots.pushBack(uint32(size))
			q.next++
			q.bytes += int64(size)
			q.count++
		case len(k) == seqKeyLen+1 && k[seqKeyLen] == idKeySufx && (len(v) == 2 || len(v) == 3 && v[2] == idReleased):
			seq := binary.BigEndian.Uint64(k)
			q.ids[seq] = binary.BigEndian.Uint16(v)
			if len(v) == 3 {
				q.rel[seq] = true
			}
		default:
			q.log.Error("bridge queue: deleting an unknown key", "bridge", q.name, "key", k)
			q.c.corrupt.Add(1)
			bad.Delete(q.bucket, bytes.Clone(k))
		}
		return true
	})
	if err != nil {
		return err
	}
	if first {
		q.head, q.next = 1, 1
	}
	q.read, q.cacheLo = q.head, q.next
	for seq := range q.ids {
		if q.slotOf(seq) == 0 {
			delete(q.ids, seq)
			delete(q.rel, seq)
			bad.Delete(q.bucket, idKey(seq))
		}
	}
	if bad.Len() > 0 {
		return q.store.Write(&bad)
	}
	return nil
}

// slotOf returns the slot of seq, 0 outside [head, next).
func (q *queue) slotOf(seq uint64) uint32 {
	if seq < q.head || seq >= q.next {
		return 0
	}
	return *q.slots.at(int(seq - q.head))
}

func (q *queue) slot(seq uint64) *uint32 { return q.slots.at(int(seq - q.head)) }

// slotPtr returns the slot of seq, nil outside [head, next).
func (q *queue) slotPtr(seq uint64) *uint32 {
	if seq < q.head || seq >= q.next {
		return nil
	}
	return q.slot(seq)
}

func (q *queue) notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) setLimits(maxBytes int64, overflow Overflow) {
	q.mu.Lock()
	q.maxBytes, q.overflow = maxBytes, overflow
	q.mu.Unlock()
}

// push queues rec (a record) durably: its put, and the deletes of the
// entries it pushes out, go into b, whose commit decides whether it was
// stored. It returns how many messages were dropped to respect the bound:
// older ones (drop_oldest) or this one (drop_new, or when nothing older can
// be dropped, or when it is larger than the whole queue).
func (q *queue) push(rec []byte, b *storage.Batch) (dropped int) {
	size := int64(seqKeyLen + len(rec))
	var old []uint64
	q.mu.Lock()
	for q.bytes+size > q.maxBytes {
		seq, ok := uint64(0), false
		if q.overflow == DropOldest && size <= q.maxBytes {
			seq, ok = q.dropOldestLocked()
		}
		if !ok {
			q.mu.Unlock()
			q.c.dropped.Add(1)
			q.deleteDropped(old, b)
			return len(old) + 1
		}
		old = append(old, seq)
	}
	seq := q.next
	q.next++
	q.slots.pushBack(uint32(size) | slotPending)
	q.bytes += size
	q.count++
	if q.cache.len() == 0 {
		q.cacheLo = seq
	}
	if q.cacheLo+uint64(q.cache.len()) == seq && q.cacheB+len(rec) <= q.cacheMax {
		q.cache.pushBack(rec)
		q.cacheB += len(rec)
	}
	q.mu.Unlock()
	q.c.enqueued.Add(1)
	q.deleteDropped(old, b)
	b.Put(q.bucket, seqKey(seq), rec)
	b.OnDone(func(err error) { q.committed(seq, err) })
	return len(old)
}

func (q *queue) deleteDropped(seqs []uint64, b *storage.Batch) {
	for _, seq := range seqs {
		b.Delete(q.bucket, seqKey(seq))
	}
	q.c.dropped.Add(uint64(len(seqs)))
}

// policy returns the overflow policy.
func (q *queue) policy() Overflow {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.overflow
}

// dropOldestLocked drops the oldest committed entry not in flight.
// Uncommitted entries are not dropped: their put may be committed after
// the delete.
func (q *queue) dropOldestLocked() (uint64, bool) {
	q.skipHolesLocked()
	if q.read == q.next || *q.slot(q.read)&slotPending != 0 {
		return 0, false
	}
	seq := q.read
	s := q.slot(seq)
	q.bytes -= int64(*s & slotSize)
	q.count--
	*s = 0
	q.advanceLocked()
	return seq, true
}

// skipHolesLocked moves read past holes.
func (q *queue) skipHolesLocked() {
	for q.read < q.next && *q.slot(q.read) == 0 {
		q.advanceLocked()
	}
}

// advanceLocked moves read past its entry, dropping the entry's cached
// record, and frees leading holes.
func (q *queue) advanceLocked() {
	if q.cache.len() > 0 && q.cacheLo == q.read {
		q.cacheB -= len(q.cache.popFront())
		q.cacheLo++
	}
	q.read++
	q.trimLocked()
}

// trimLocked frees the holes at the front of slots.
func (q *queue) trimLocked() {
	for q.head < q.read && *q.slots.at(0) == 0 {
		q.slots.popFront()
		q.head++
	}
}

// committed is the OnDone of the batch holding seq's put.
func (q *queue) committed(seq uint64, err error) {
	q.mu.Lock()
	s := q.slotOf(seq)
	if s&slotPending == 0 {
		q.mu.Unlock() // settled by resolveStuck already
		return
	}
	if err == nil {
		*q.slot(seq) = s &^ slotPending
	} else {
		q.bytes -= int64(s & slotSize)
		q.count--
		*q.slot(seq) = 0
		q.c.notStored.Add(1)
	}
	q.mu.Unlock()
	if err != nil {
		q.log.Warn("bridge queue: a message was not stored (its publisher was not acknowledged)",
			"bridge", q.name, "seq", seq, "err", err)
	}
	q.notify()
}

// flight is an entry taken by the sender.
type flight struct {
	seq uint64
	rec []byte
	id  uint16 // packet id on the remote session; 0 until sent
	// stored is set when id came from the queue's stored ids (a QoS 2
	// entry sent before a restart).
	stored bool
	sends  int // times paho's Publish took it (serve loop only)
	// released is set once the PUBREC of this QoS 2 entry came and the
	// PUBREL went out: from then on it is completed with PUBREL.
	released bool
	// relResumed is set when paho resent its PUBREL on a new connection:
	// paho does not reserve the packet id of a resent PUBREL, so no new
	// PUBLISH may take an id until its PUBCOMP came (session.holdNew).
	relResumed bool
}

// Read-ahead of the backlog: take reads at least this many entries (and
// at most about readAheadBytes) per disk scan, so that a drain refilling
// its window an entry or two at a time does not pay for a scan each.
const (
	readAhead      = 512
	readAheadBytes = 1 << 20
)

// take appends to out up to n committed entries in order, reading from
// disk what is not cached.
func (q *queue) take(n int, out []*flight) []*flight {
	q.mu.Lock()
	defer q.mu.Unlock()
	for n > 0 {
		q.skipHolesLocked()
		if q.read == q.next || *q.slot(q.read)&slotPending != 0 {
			return out
		}
		if q.cache.len() > 0 && q.cacheLo == q.read {
			rec := q.cache.popFront()
			q.cacheB -= len(rec)
			q.cacheLo++
			out = append(out, q.takeLocked(q.read, rec))
			q.read++
			n--
			continue
		}
		if q.ra.len() == 0 && !q.readAheadLocked(n) {
			return out
		}
		for n > 0 && q.ra.len() > 0 {
			r := q.ra.popFront()
			if f := q.takeReadLocked(r); f != nil {
				out = append(out, f)
				n--
			}
		}
		if q.ra.len() == 0 {
			q.lostBeforeLocked(q.raEnd)
		}
	}
	return out
}

// readAheadLocked reads a run of committed entries from read on into ra,
// without the lock (routing takes it). Only the sender takes entries;
// meanwhile push may drop some of them, which takeReadLocked checks.
func (q *queue) readAheadLocked(n int) bool {
	start, end, k := q.read, q.read, 0
	for end < q.next && k < max(n, readAhead) {
		s := *q.slot(end)
		if s&slotPending != 0 || (q.cache.len() > 0 && end == q.cacheLo) {
			break
		}
		if s != 0 {
			k++
		}
		end++
	}
	q.mu.Unlock()
	recs, end, err := q.readRange(start, end)
	q.mu.Lock()
	if err != nil {
		q.log.Error("bridge queue: reading the backlog failed", "bridge", q.name, "err", err)
		return false
	}
	for _, r := range recs {
		q.ra.pushBack(r)
	}
	q.raEnd = end
	return true
}

// takeReadLocked takes an entry read from disk, unless it was dropped
// meanwhile or is damaged; entries before it that were not on disk are
// settled as lost.
func (q *queue) takeReadLocked(r seqRec) *flight {
	if r.seq < q.read {
		return nil // dropped meanwhile
	}
	q.lostBeforeLocked(r.seq)
	s := *q.slot(r.seq)
	if s == 0 {
		q.advanceLocked() // a hole whose delete is not written yet
		return nil
	}
	if _, err := decodeRecord(r.rec); err != nil {
		q.log.Error("bridge queue: skipping a damaged record", "bridge", q.name, "seq", r.seq, "err", err)
		q.c.corrupt.Add(1)
		q.bytes -= int64(s & slotSize)
		q.count--
		*q.slot(r.seq) = 0
		q.advanceLocked()
		var b storage.Batch
		b.Delete(q.bucket, seqKey(r.seq))
		q.store.Commit(&b, nil)
		return nil
	}
	f := q.takeLocked(r.seq, r.rec)
	q.read++
	return f
}

// takeLocked marks seq taken and returns its flight.
func (q *queue) takeLocked(seq uint64, rec []byte) *flight {
	*q.slot(seq) |= slotTaken
	f := &flight{seq: seq, rec: rec}
	if id, ok := q.ids[seq]; ok {
		f.id, f.stored, f.released = id, true, q.rel[seq]
	}
	return f
}

// lostBeforeLocked settles the entries in [read, seq) that should have
// been read from disk but were not there: an entry committed and then
// missing is lost (counted and logged; it cannot happen unless someone
// else deleted it).
func (q *queue) lostBeforeLocked(seq uint64) {
	for q.read < seq && q.read < q.next {
		s := q.slot(q.read)
		if *s != 0 && *s&(slotPending|slotTaken) == 0 {
			q.log.Error("bridge queue: a committed entry is missing from storage", "bridge", q.name, "seq", q.read)
			q.c.lost.Add(1)
			q.bytes -= int64(*s & slotSize)
			q.count--
			*s = 0
		}
		q.advanceLocked()
	}
}

type seqRec struct {
	seq uint64
	rec []byte
}

// readRange reads the records with seqs in [start, end) from disk, or
// fewer when they pass readAheadBytes: then end is moved down to after the
// last one read. Records of holes whose deletes are not written yet come
// too; take skips them.
func (q *queue) readRange(start, end uint64) ([]seqRec, uint64, error) {
	recs := make([]seqRec, 0, min(end-start, readAhead))
	size := 0
	err := q.store.Engine().Scan(q.bucket, seqKey(start), func(key, v []byte) bool {
		if len(key) != seqKeyLen {
			return true // a packet id record
		}
		seq := binary.BigEndian.Uint64(key)
		if seq >= end {
			return false
		}
		recs = append(recs, seqRec{seq, bytes.Clone(v)})
		size += len(v)
		if size >= readAheadBytes {
			end = seq + 1
			return false
		}
		return true
	})
	return recs, end, err
}

// ack deletes acknowledged entries; the deletes are committed without
// waiting (a crash before they are written resends those entries).
func (q *queue) ack(seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	var b storage.Batch
	n := 0
	q.mu.Lock()
	for _, seq := range seqs {
		s := q.slotPtr(seq)
		if s == nil || seq >= q.read || *s&slotTaken == 0 {
			continue
		}
		n++
		q.bytes -= int64(*s & slotSize)
		q.count--
		*s = 0
		b.Delete(q.bucket, seqKey(seq))
		if _, ok := q.ids[seq]; ok {
			delete(q.ids, seq)
			delete(q.rel, seq)
			b.Delete(q.bucket, idKey(seq))
		}
	}
	q.trimLocked()
	q.mu.Unlock()
	q.c.acked.Add(uint64(n))
	if b.Len() > 0 {
		q.store.Commit(&b, func(err error) {
			if err != nil {
				q.log.Warn("bridge queue: deleting acknowledged messages failed (they will be sent again after a restart)",
					"bridge", q.name, "err", err)
			}
		})
	}
}

// requeue puts every taken entry back, to be taken again in order.
func (q *queue) requeue() {
	q.mu.Lock()
	for seq := q.head; seq < q.read; seq++ {
		*q.slot(seq) &^= slotTaken
	}
	q.read = q.head
	q.ra.clear()
	q.mu.Unlock()
	q.notify()
}

// storeID writes the packet id a QoS 2 entry is sent with before it is
// sent, so that after a restart it is resent with the same id.
func (q *queue) storeID(seq uint64, id uint16) error {
	q.mu.Lock()
	if q.ids[seq] == id {
		q.mu.Unlock()
		return nil
	}
	q.ids[seq] = id
	q.mu.Unlock()
	var b storage.Batch
	b.Put(q.bucket, idKey(seq), binary.BigEndian.AppendUint16(nil, id))
	return q.store.Write(&b)
}

// storeReleased records, before the PUBREL goes out, that the PUBREC of
// the QoS 2 entry seq (sent with packet id id) came: after a restart it is
// completed with PUBREL, not sent again as a PUBLISH, which the remote
// would deliver a second time if it had completed the exchange already
// (the sender "MUST NOT re-send the PUBLISH once it has sent the
// corresponding PUBREL packet" [MQTT-4.3.3-1]).
func (q *queue) storeReleased(seq uint64, id uint16) error {
	q.mu.Lock()
	if q.rel[seq] || q.slotOf(seq) == 0 {
		q.mu.Unlock()
		return nil
	}
	q.ids[seq] = id
	q.rel[seq] = true
	q.mu.Unlock()
	var b storage.Batch
	b.Put(q.bucket, idKey(seq), append(binary.BigEndian.AppendUint16(nil, id), idReleased))
	return q.store.Write(&b)
}

// lastStoredID returns the highest seq with a stored packet id that is
// waiting to be sent again, and whether there is one.
func (q *queue) lastStoredID() (uint64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var last uint64
	found := false
	for seq := range q.ids {
		if seq >= q.read && (!found || seq > last) {
			last, found = seq, true
		}
	}
	return last, found
}

// storedIDs returns the stored packet ids.
func (q *queue) storedIDs() map[uint16]bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := make(map[uint16]bool, len(q.ids))
	for _, id := range q.ids {
		m[id] = true
	}
	return m
}

// pushRing queues a QoS 0 record in memory.
func (q *queue) pushRing(rec []byte) bool {
	q.mu.Lock()
	limit := int(min(q.maxBytes, ringMax))
	ok := len(rec) <= limit
	for ok && q.ringB+len(rec) > limit {
		if q.overflow == DropNew {
			ok = false
			break
		}
		q.ringB -= len(q.ring.popFront())
		q.c.droppedRing.Add(1)
	}
	if ok {
		q.ring.pushBack(rec)
		q.ringB += len(rec)
	}
	q.mu.Unlock()
	if !ok {
		q.c.droppedRing.Add(1)
		return false
	}
	q.c.enqueued.Add(1)
	return true
}

// takeRing appends up to n QoS 0 records to out.
func (q *queue) takeRing(n int, out [][]byte) [][]byte {
	q.mu.Lock()
	for ; n > 0 && q.ring.len() > 0; n-- {
		rec := q.ring.popFront()
		q.ringB -= len(rec)
		out = append(out, rec)
	}
	q.mu.Unlock()
	return out
}

// resolveStuck settles the entry at the front when it has waited longer
// than timeout for its commit: if it is on disk it was committed, else it
// never will be (the batch it was added to was dropped) and it is a hole.
func (q *queue) resolveStuck(now time.Time, timeout time.Duration) {
	q.mu.Lock()
	q.skipHolesLocked()
	if q.read == q.next || *q.slot(q.read)&slotPending == 0 {
		q.stuckSeq = 0
		q.mu.Unlock()
		return
	}
	if q.stuckSeq != q.read {
		q.stuckSeq, q.stuckAt = q.read, now
		q.mu.Unlock()
		return
	}
	if now.Sub(q.stuckAt) < timeout {
		q.mu.Unlock()
		return
	}
	seq := q.read
	q.mu.Unlock()
	_, err := q.store.Engine().Get(q.bucket, seqKey(seq))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return
	}
	q.mu.Lock()
	if s := q.slotPtr(seq); s != nil && *s&slotPending != 0 {
		if err == nil {
			*s &^= slotPending
			q.log.Warn("bridge queue: an entry waited long for its commit and is on disk; sending it", "bridge", q.name, "seq", seq)
		} else {
			q.bytes -= int64(*s & slotSize)
			q.count--
			*s = 0
			q.c.notStored.Add(1)
			q.log.Warn("bridge queue: an entry was never committed; skipping it", "bridge", q.name, "seq", seq)
		}
	}
	q.stuckSeq = 0
	q.mu.Unlock()
	q.notify()
}

// queueState is a snapshot of the queue's gauges.
type queueState struct {
	messages  int   // durable entries, in flight included
	bytes     int64 // their keys and values
	ringMsgs  int   // QoS 0 records in memory
	ringBytes int
	oldest    time.Time // when the oldest queued message was queued; zero if none
}

func (q *queue) state() queueState {
	q.mu.Lock()
	st := queueState{messages: q.count, bytes: q.bytes, ringMsgs: q.ring.len(), ringBytes: q.ringB}
	if q.ring.len() > 0 {
		st.oldest = recordTime(*q.ring.at(0))
	}
	var seq uint64
	found := false
	for i := 0; i < q.slots.len() && i < 4096; i++ {
		if *q.slots.at(i) != 0 {
			seq, found = q.head+uint64(i), true
			break
		}
	}
	var cached []byte
	pending := false
	if found {
		pending = *q.slot(seq)&slotPending != 0
		if q.cache.len() > 0 && seq >= q.cacheLo && seq < q.cacheLo+uint64(q.cache.len()) {
			cached = *q.cache.at(int(seq - q.cacheLo))
		}
	}
	q.mu.Unlock()
	if !found {
		return st
	}
	at := time.Now()
	switch {
	case cached != nil:
		at = recordTime(cached)
	case !pending:
		if v, err := q.store.Engine().Get(q.bucket, seqKey(seq)); err == nil {
			at = recordTime(v)
		}
	}
	if st.oldest.IsZero() || at.Before(st.oldest) {
		st.oldest = at
	}
	return st
}
