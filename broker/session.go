package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// session is the state of one client id that outlives its connections:
// subscriptions, the queue of messages not yet sent, the inflight window,
// and inbound QoS 2 packet ids awaiting PUBREL.
type session struct {
	srv    *Server
	id     string
	uid    uint64      // differs for every session instance: No Local compares it
	online atomic.Bool // a connection is attached
	nsubs  atomic.Int32

	mu         sync.Mutex
	conn       *conn
	info       ClientInfo // of the last connection, for ACL checks while offline
	expiry     uint32     // Session Expiry Interval, seconds; expiryNever = never
	persistent bool       // queued QoS 1/2 messages go to the store
	stored     bool       // records of this session may be in the store
	subs       map[string]*subscription
	q          queue
	inflight   []inflight
	nextPID    uint16
	inQoS2     []uint16 // inbound QoS 2 packet ids that got PUBREC, awaiting PUBREL
	resend     bool     // resend the inflight window on the next connection
	droppedQ   uint64   // deliveries dropped for this session, for the log
	lastWarn   time.Time

	expiryTimer *time.Timer
	willTimer   *time.Timer
	pendingWill *will // will waiting for its delay, or for the session's end
}

// expiryNever is the Session Expiry Interval that never expires.
const expiryNever = 0xFFFFFFFF

// inflight is a delivery sent with a packet id and not yet acknowledged.
type inflight struct {
	pid     uint16
	d       delivery
	relSent bool // QoS 2: PUBREC received, PUBREL sent, awaiting PUBCOMP
}

// will is a connection's will message.
type will struct {
	msg       *Message // held
	delay     uint32   // Will Delay Interval, seconds
	expiry    uint32   // Message Expiry Interval, from publication
	hasExpiry bool
}

func (s *Server) newSession(id string) *session {
	sess := &session{srv: s, id: id, uid: s.uid.Add(1)} // subs made on first use
	sess.q.mem = &s.queueMem
	return sess
}

// allocPID returns a packet id not in the inflight window [MQTT-2.2.1-3].
// The window is at most 65535 entries, so one is free.
func (sess *session) allocPID() uint16 {
	for {
		sess.nextPID++
		if sess.nextPID == 0 {
			sess.nextPID = 1
		}
		if !sess.pidInUse(sess.nextPID) {
			return sess.nextPID
		}
	}
}

func (sess *session) pidInUse(pid uint16) bool {
	for i := range sess.inflight {
		if sess.inflight[i].pid == pid {
			return true
		}
	}
	return false
}

// findInflight returns the index of pid in the window, or -1. Acks come
// mostly in order, so the search starts at the oldest.
func (sess *session) findInflight(pid uint16) int {
	for i := range sess.inflight {
		if sess.inflight[i].pid == pid {
			return i
		}
	}
	return -1
}

// hasInQoS2 reports whether pid awaits PUBREL.
func (sess *session) hasInQoS2(pid uint16) bool {
	for _, p := range sess.inQoS2 {
		if p == pid {
			return true
		}
	}
	return false
}

func (sess *session) removeInQoS2(pid uint16) bool {
	for i, p := range sess.inQoS2 {
		if p == pid {
			sess.inQoS2 = deleteAt(sess.inQoS2, i)
			return true
		}
	}
	return false
}

// stopTimers stops the session's expiry and will-delay timers.
func (sess *session) stopTimers() {
	sess.mu.Lock()
	if sess.expiryTimer != nil {
		sess.expiryTimer.Stop()
		sess.expiryTimer = nil
	}
	if sess.willTimer != nil {
		sess.willTimer.Stop()
		sess.willTimer = nil
	}
	sess.mu.Unlock()
}

// clearLocked releases everything the session holds: queue and inflight.
// The caller removes subscriptions and stored records.
func (sess *session) clearLocked() {
	sess.q.drain(func(d delivery) { d.msg.Release() })
	for i := range sess.inflight {
		sess.inflight[i].d.msg.Release()
	}
	sess.inflight = nil
	sess.inQoS2 = nil
}

// attach connects c to the session of its client id, taking over a
// connection that holds it. cleanStart discards an existing session. It
// returns the session and whether an existing one was resumed.
func (s *Server) attach(c *conn, cleanStart bool, expiry uint32) (*session, bool) {
	id := c.info.ClientID
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	present := false
	if sess != nil {
		sess.mu.Lock()
		old := sess.conn
		sess.conn = nil
		sess.online.Store(false)
		if sess.expiryTimer != nil {
			sess.expiryTimer.Stop()
			sess.expiryTimer = nil
		}
		// A new connection to the session cancels a delayed will
		// [MQTT-3.1.3-9]; a clean start ends the session, which sends it.
		pw := sess.pendingWill
		sess.pendingWill = nil
		if sess.willTimer != nil {
			sess.willTimer.Stop()
			sess.willTimer = nil
		}
		sess.mu.Unlock()
		if pw != nil {
			if cleanStart {
				s.publishWill(sess, pw)
			} else {
				pw.msg.Release()
			}
		}
		if old != nil {
			old.resumedByNew.Store(!cleanStart)
			old.takenOver.Store(true)
			old.logInfo("session taken over by a new connection")
			if old.version == packet.V5 {
				d := packet.Disconnect{Code: packet.SessionTakenOver}
				old.closeWith(d.Append(nil, old.version))
			} else {
				old.closeWith(nil)
			}
		}
		if cleanStart {
			s.discardLocked(sess)
			sess = nil
		} else {
			present = true
		}
	}
	if sess == nil {
		sess = s.newSession(id)
		s.sessions[id] = sess
	}
	sess.mu.Lock()
	sess.conn = c
	sess.info = c.info
	sess.expiry = expiry
	sess.persistent = expiry != 0 && s.store != nil
	sess.resend = len(sess.inflight) > 0
	sess.online.Store(true)
	sess.mu.Unlock()
	return sess, present
}

// discardLocked ends a session: its subscriptions leave the trie, its
// messages are released and its records deleted. s.mu is held.
func (s *Server) discardLocked(sess *session) {
	sess.mu.Lock()
	subs := sess.subs
	sess.subs = nil
	sess.clearLocked()
	sess.mu.Unlock()
	for _, sub := range subs {
		s.trie.remove(sess, sub.topicFilter, sub.group)
	}
	sess.nsubs.Store(0)
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
	}
	s.deleteSessionRecords(sess)
}

// detach runs when c's reader ends. If c still holds its session, the
// session goes offline: the will is published now or scheduled, and the
// session ends now (expiry 0) or when its expiry interval elapses.
func (s *Server) detach(c *conn) {
	sess := c.sess
	shutdown := false
	select {
	case <-s.quit:
		shutdown = true
	default:
	}
	sess.mu.Lock()
	mine := sess.conn == c
	if mine {
		sess.conn = nil
		sess.online.Store(false)
	}
	expiry := sess.expiry
	sess.mu.Unlock()

	w := c.will
	c.will = nil
	if w != nil && (c.normalExit || shutdown) {
		w.msg.Release()
		w = nil
	}
	if !mine {
		// Taken over: the will goes now unless the new connection resumed
		// the session and the will has a delay [MQTT-3.1.3-9].
		if w != nil {
			if c.resumedByNew.Load() && w.delay > 0 {
				w.msg.Release()
			} else {
				s.publishWill(sess, w)
			}
		}
		return
	}
	if shutdown {
		s.saveSession(sess)
		return
	}
	if expiry == 0 {
		if w != nil {
			s.publishWill(sess, w)
		}
		s.mu.Lock()
		if s.sessions[sess.id] == sess && !sess.online.Load() {
			s.discardLocked(sess)
		}
		s.mu.Unlock()
		return
	}
	sess.mu.Lock()
	if sess.conn != nil {
		// Reconnected already.
		sess.mu.Unlock()
		if w != nil {
			w.msg.Release()
		}
		return
	}
	if w != nil {
		if w.delay == 0 {
			sess.mu.Unlock()
			s.publishWill(sess, w)
			sess.mu.Lock()
		} else {
			// The will waits for its delay or the session's end, whichever
			// comes first [MQTT-3.1.3-9].
			sess.pendingWill = w
			d := time.Duration(w.delay) * time.Second
			if expiry != expiryNever && time.Duration(expiry)*time.Second < d {
				d = time.Duration(expiry) * time.Second
			}
			sess.willTimer = time.AfterFunc(d, func() { s.willDue(sess) })
		}
	}
	if expiry != expiryNever && sess.conn == nil {
		sess.expiryTimer = time.AfterFunc(time.Duration(expiry)*time.Second, func() { s.expire(sess) })
	}
	sess.mu.Unlock()
	s.saveSession(sess)
}

// willDue publishes a delayed will if the session is still offline.
func (s *Server) willDue(sess *session) {
	sess.mu.Lock()
	w := sess.pendingWill
	sess.pendingWill = nil
	sess.willTimer = nil
	sess.mu.Unlock()
	if w != nil {
		s.publishWill(sess, w)
	}
}

// expire ends an offline session whose expiry interval has elapsed.
func (s *Server) expire(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[sess.id] != sess || sess.online.Load() {
		return
	}
	sess.mu.Lock()
	w := sess.pendingWill
	sess.pendingWill = nil
	if sess.willTimer != nil {
		sess.willTimer.Stop()
		sess.willTimer = nil
	}
	sess.expiryTimer = nil
	sess.mu.Unlock()
	if w != nil {
		s.publishWill(sess, w)
	}
	s.log.Info("session expired", "client", sess.id)
	s.discardLocked(sess)
}
