package load

import (
	"sync/atomic"
	"time"
)

// window is the closed loop between publishers and subscribers, and the
// QoS 1 inflight limit of each publisher.
//
// Each message carries its publisher's index and sequence number. Every
// subscriber keeps, per publisher, the highest sequence number it has seen.
// Publisher p may run ahead of the slowest subscriber by at most perPub
// messages: sent[p] - min_s(seen[s][p]) <= perPub. Because MQTT keeps the
// order of one publisher's messages, a message the broker dropped does not
// hold the window forever: the next one that arrives moves seen past it.
// Only when the newest messages are the ones lost does the publisher wait;
// after stallTimeout without progress it presumes them lost, counts a
// stall, and moves on.
type window struct {
	pubs, subs int
	perPub     uint64 // messages a publisher may be ahead of the slowest subscriber
	inflight   uint64 // QoS 1: messages a publisher may have unacknowledged; 0 = no limit

	seen    []atomic.Uint64 // [s*pubs+p]: highest sequence of publisher p seen by subscriber s
	floor   []uint64        // [p]: sequence presumed lost up to, after a stall (owned by publisher p)
	acked   []atomic.Uint64 // [p]: PUBACKs received by publisher p
	waiting []atomic.Bool   // [p]: publisher p waits for a wake
	wake    []chan struct{} // [p]: capacity 1
	stalls  atomic.Uint64
}

// stallTimeout is how long a publisher waits for any progress before it
// presumes its outstanding messages lost.
const stallTimeout = 250 * time.Millisecond

// ackTimeout is how long a QoS 1 publisher waits for a PUBACK before the
// run fails: a broker that stops acknowledging is broken, not slow.
const ackTimeout = 10 * time.Second

func newWindow(pubs, subs int, total, inflight int) *window {
	w := &window{
		pubs: pubs, subs: subs,
		perPub:   uint64(max(1, total/pubs)),
		inflight: uint64(max(0, inflight)),
		seen:     make([]atomic.Uint64, pubs*subs),
		floor:    make([]uint64, pubs),
		acked:    make([]atomic.Uint64, pubs),
		waiting:  make([]atomic.Bool, pubs),
		wake:     make([]chan struct{}, pubs),
	}
	for p := range w.wake {
		w.wake[p] = make(chan struct{}, 1)
	}
	return w
}

// room returns how many more messages publisher p, having sent sent, may
// send now, and whether the window (not the inflight limit) is what stops it.
func (w *window) room(p int, sent uint64) (n uint64, windowBound bool) {
	low := ^uint64(0)
	for s := 0; s < w.subs; s++ {
		low = min(low, w.seen[s*w.pubs+p].Load())
	}
	low = max(low, w.floor[p])
	n = 0
	if ahead := sent - min(low, sent); ahead < w.perPub {
		n = w.perPub - ahead
	}
	if w.inflight > 0 {
		out := sent - min(w.acked[p].Load(), sent)
		if out >= w.inflight {
			return 0, false
		}
		if w.inflight-out < n {
			return w.inflight - out, false
		}
	}
	return n, true
}

// acquire blocks until publisher p may send at least least messages (or
// fewer but some, once stallTimeout passes without progress) and returns
// how many (at most limit), or 0 when stop is closed. Waiting for a batch
// worth of room, rather than writing each message as soon as one is
// delivered, keeps the load generator's system calls few when the broker
// delivers in small reads. It fails when PUBACKs stop for ackTimeout.
func (w *window) acquire(p int, sent uint64, least, limit int, stop <-chan struct{}, t *time.Timer) (int, error) {
	var waited time.Duration
	for {
		n, windowBound := w.room(p, sent)
		if n < uint64(least) {
			w.waiting[p].Store(true)
			n, windowBound = w.room(p, sent) // a wake sent before the flag was set is not lost
		}
		if n >= uint64(least) || (n > 0 && waited > 0) {
			w.waiting[p].Store(false)
			return int(min(n, uint64(limit))), nil
		}
		t.Reset(stallTimeout) // Go 1.23 timers: Reset discards a stale expiry
		select {
		case <-w.wake[p]:
			waited = 0
		case <-stop:
			w.waiting[p].Store(false)
			return 0, nil
		case <-t.C:
			waited += stallTimeout
			switch {
			case n > 0: // room for fewer than least: send them now
			case windowBound:
				w.floor[p] = sent // presume the outstanding messages lost
				w.stalls.Add(1)
			case waited >= ackTimeout:
				w.waiting[p].Store(false)
				return 0, errAckTimeout
			}
		}
	}
}

// notify wakes the publishers that wait.
func (w *window) notify() {
	for p := range w.waiting {
		if w.waiting[p].Load() {
			select {
			case w.wake[p] <- struct{}{}:
			default:
			}
		}
	}
}

// notifyOne wakes publisher p if it waits.
func (w *window) notifyOne(p int) {
	if w.waiting[p].Load() {
		select {
		case w.wake[p] <- struct{}{}:
		default:
		}
	}
}
