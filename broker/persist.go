package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

// Buckets and keys the broker keeps in the store:
//
//	sess  clientID                  -> session record
//	sub   clientID 0x00 filter      -> subscription options
//	q     clientID 0x00 seq (8 B BE) -> queued or inflight QoS 1/2 delivery
//	ret   topic                     -> retained message
//
// Client ids and filters are UTF-8 without U+0000, so 0x00 separates them.
const (
	bucketSessions = "sess"
	bucketSubs     = "sub"
	bucketQueue    = "q"
	bucketRetained = "ret"
)

// recordVersion 2 stores expiries as time left plus the wall-clock time of
// writing (see elapsedSince), instead of absolute wall-clock times.
const recordVersion = 2

// clockFloor is a wall-clock time before which a gateway's clock is taken
// as not set yet (no real-time clock, NTP not answered): edgemq did not
// exist before it.
var clockFloor = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// elapsedSince returns how much time passed between a stored wall-clock
// time and now, or 0 when the wall clock cannot tell: either time before
// clockFloor (a board that booted in 1970 and was then set by NTP), or now
// before then (the clock was set back). So a restart after a clock jump
// neither expires everything at once nor lets anything live for ever: the
// time the broker was down counts only when the clock is trustworthy.
func elapsedSince(then, now time.Time) time.Duration {
	if then.Before(clockFloor) || now.Before(clockFloor) || now.Before(then) {
		return 0
	}
	return now.Sub(then)
}

// wall returns the wall-clock time used for stored timestamps.
func (s *Server) wall() time.Time {
	if s.opts.Clock != nil {
		return s.opts.Clock()
	}
	return time.Now()
}

func subKey(id, filter string) []byte {
	k := make([]byte, 0, len(id)+1+len(filter))
	return append(append(append(k, id...), 0), filter...)
}

func queueKey(id string, seq uint64) []byte {
	k := make([]byte, 0, len(id)+9)
	k = append(append(k, id...), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func splitKey(k []byte) (id string, rest []byte, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(k[:i]), k[i+1:], true
}

// Message encoding: version, flags, payload format, expiry left in
// milliseconds (0 for none), the wall-clock time of writing (Unix
// nanoseconds), then length-prefixed topic, payload, content type,
// response topic, correlation data and user properties.
const (
	flagRetain = 1 << 2
	flagPF     = 1 << 3
	flagCT     = 1 << 4
	flagRT     = 1 << 5
	flagCD     = 1 << 6
)

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func encodeMessage(m *Message, wall time.Time) []byte {
	return appendMessage(make([]byte, 0, len(m.buf)+40), m, wall)
}

func appendMessage(b []byte, m *Message, wall time.Time) []byte {
	flags := m.QoS
	if m.Retain {
		flags |= flagRetain
	}
	if m.HasPayloadFormat {
		flags |= flagPF
	}
	if m.ContentType != nil {
		flags |= flagCT
	}
	if m.ResponseTopic != nil {
		flags |= flagRT
	}
	if m.CorrelationData != nil {
		flags |= flagCD
	}
	b = append(b, recordVersion, flags, m.PayloadFormat)
	var left uint64
	if !m.Expiry.IsZero() {
		left = uint64(max(time.Until(m.Expiry).Milliseconds(), 1))
	}
	b = binary.BigEndian.AppendUint64(b, left)
	b = binary.BigEndian.AppendUint64(b, uint64(wall.UnixNano()))
	b = appendBytes(b, m.Topic)
	b = appendBytes(b, m.Payload)
	b = appendBytes(b, m.ContentType)
	b = appendBytes(b, m.ResponseTopic)
	b = appendBytes(b, m.CorrelationData)
	b = binary.AppendUvarint(b, uint64(len(m.User)))
	for _, u := range m.User {
		b = appendBytes(b, u.Key)
		b = appendBytes(b, u.Value)
	}
	return b
}

var errRecord = errors.New("corrupt record")

type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errRecord
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *recordReader) uint64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errRecord
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *recordReader) uint32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.err = errRecord
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *recordReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || uint64(len(r.b)) < n {
		r.err = errRecord
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// decodeMessage reads a message record into a new Message from pool; now
// is the wall-clock time, for the expiry (see elapsedSince).
func decodeMessage(r *recordReader, pool *messagePool, now time.Time) *Message {
	if r.byte() != recordVersion {
		r.err = errRecord
		return nil
	}
	flags := r.byte()
	pf := r.byte()
	left := time.Duration(r.uint64()) * time.Millisecond
	written := time.Unix(0, int64(r.uint64()))
	var p packet.Publish
	p.QoS = flags & 3
	p.Retain = flags&flagRetain != 0
	topic := r.bytes()
	p.Payload = r.bytes()
	ct, rt, cd := r.bytes(), r.bytes(), r.bytes()
	if flags&flagCT != 0 {
		p.Props.ContentType = ct
	}
	if flags&flagRT != 0 {
		p.Props.ResponseTopic = rt
	}
	if flags&flagCD != 0 {
		p.Props.CorrelationData = cd
	}
	if flags&flagPF != 0 {
		p.Props.PayloadFormat = pf
		p.Props.Set(packet.PropPayloadFormat)
	}
	n := r.uvarint()
	for i := uint64(0); i < n && r.err == nil; i++ {
		p.Props.User = append(p.Props.User, packet.UserProperty{Key: r.bytes(), Value: r.bytes()})
	}
	if r.err != nil {
		return nil
	}
	m := pool.get()
	m.Hold()
	m.fill(&p, topic)
	if left != 0 {
		// Held as a deadline on the monotonic clock.
		m.Expiry = time.Now().Add(left - elapsedSince(written, now))
	}
	return m
}

// encodeDelivery encodes a queued delivery: QoS, retain, packet id and
// PUBREL state (QoS 2), subscription ids, then the message.
func encodeDelivery(d *delivery, pid uint16, relSent bool, wall time.Time) []byte {
	b := make([]byte, 0, len(d.msg.buf)+48)
	b = append(b, recordVersion, d.qos)
	if d.retain {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint16(b, pid)
	if relSent {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	ids := 0
	if d.subID != 0 {
		ids = 1 + len(d.moreIDs)
	}
	b = binary.AppendUvarint(b, uint64(ids))
	if ids > 0 {
		b = binary.AppendUvarint(b, uint64(d.subID))
		for _, id := range d.moreIDs {
			b = binary.AppendUvarint(b, uint64(id))
		}
	}
	return appendMessage(b, d.msg, wall)
}

func decodeDelivery(v []byte, pool *messagePool, now time.Time) (d delivery, pid uint16, relSent bool, err error) {
	r := &recordReader{b: v}
	if r.byte() != recordVersion {
		return d, 0, false, errRecord
	}
	d.qos = r.byte()
	d.retain = r.byte() == 1
	pid = uint16(r.byte())<<8 | uint16(r.byte())
	relSent = r.byte() == 1
	ids := r.uvarint()
	for i := uint64(0); i < ids && r.err == nil; i++ {
		id := uint32(r.uvarint())
		if i == 0 {
			d.subID = id
		} else {
			d.moreIDs = append(d.moreIDs, id)
		}
	}
	if r.err != nil {
		return d, 0, false, r.err
	}
	d.msg = decodeMessage(r, pool, now)
	if r.err != nil || d.qos > 2 {
		return d, 0, false, errRecord
	}
	return d, pid, relSent, nil
}

// Session record: version, expiry interval, disconnect time (Unix seconds,
// 0 while connected).
func encodeSession(expiry uint32, disconnected time.Time) []byte {
	b := []byte{recordVersion}
	b = binary.BigEndian.AppendUint32(b, expiry)
	var t int64
	if !disconnected.IsZero() {
		t = disconnected.Unix()
	}
	return binary.BigEndian.AppendUint64(b, uint64(t))
}

func encodeSub(sub *subscription) []byte {
	opts := sub.qos
	if sub.noLocal {
		opts |= 1 << 2
	}
	if sub.retainAsPublished {
		opts |= 1 << 3
	}
	opts |= sub.retainHandling << 4
	b := []byte{recordVersion, opts}
	return binary.AppendUvarint(b, uint64(sub.id))
}

// saveSession writes the session record (asynchronously).
func (s *Server) saveSession(sess *session) {
	if s.store == nil {
		return
	}
	sess.mu.Lock()
	if !sess.persistent {
		sess.mu.Unlock()
		return
	}
	var disc time.Time
	if sess.conn == nil {
		disc = s.wall()
	}
	rec := encodeSession(sess.expiry, disc)
	sess.stored = true
	sess.mu.Unlock()
	var b storage.Batch
	b.Put(bucketSessions, []byte(sess.id), rec)
	s.commitAsync(&b)
}

// deleteSessionRecords deletes everything stored for sess.
func (s *Server) deleteSessionRecords(sess *session) {
	if s.store == nil || !sess.stored {
		return
	}
	sess.stored = false
	var b storage.Batch
	b.Delete(bucketSessions, []byte(sess.id))
	prefix := append([]byte(sess.id), 0)
	eng := s.store.Engine()
	for _, bucket := range []string{bucketSubs, bucketQueue} {
		err := eng.Scan(bucket, prefix, func(k, _ []byte) bool {
			if !bytes.HasPrefix(k, prefix) {
				return false
			}
			b.Delete(bucket, bytes.Clone(k))
			return true
		})
		if err != nil {
			s.log.Warn("could not list stored session records", "client", sess.id, "err", err)
		}
	}
	s.commitAsync(&b)
}

// load restores sessions, subscriptions, queued messages and retained
// messages from the store.
func (s *Server) load() error {
	eng := s.store.Engine()
	now := s.wall()
	var corrupt []storage.Op
	var loadErr error
	scan := func(bucket string, fn func(k, v []byte) error) {
		if loadErr != nil {
			return
		}
		loadErr = eng.Scan(bucket, nil, func(k, v []byte) bool {
			if err := fn(k, v); err != nil {
				s.log.Warn("skipping a corrupt stored record", "bucket", bucket, "key", fmt.Sprintf("%q", k), "err", err)
				corrupt = append(corrupt, storage.Op{Bucket: bucket, Key: bytes.Clone(k), Delete: true})
			}
			return true
		})
	}
	var expired []*session
	scan(bucketSessions, func(k, v []byte) error {
		r := &recordReader{b: v}
		if r.byte() != recordVersion {
			return errRecord
		}
		expiry := r.uint32()
		disc := int64(r.uint64())
		if r.err != nil {
			return r.err
		}
		sess := s.newSession(string(k))
		sess.expiry = expiry
		sess.persistent = true
		sess.stored = true
		s.sessions[sess.id] = sess
		if expiry != expiryNever {
			left := time.Duration(expiry) * time.Second
			if disc != 0 {
				left -= elapsedSince(time.Unix(disc, 0), now)
			}
			if left <= 0 {
				expired = append(expired, sess)
				return nil
			}
			sess.expiryTimer = time.AfterFunc(left, func() { s.expire(sess) })
		}
		return nil
	})
	scan(bucketSubs, func(k, v []byte) error {
		id, f, ok := splitKey(k)
		sess := s.sessions[id]
		if !ok || sess == nil || len(v) < 2 || v[0] != recordVersion {
			return errRecord
		}
		filter := string(f)
		group, topicFilter, err := parseShared(filter)
		if err != nil {
			return err
		}
		id32, n := binary.Uvarint(v[2:])
		if n <= 0 {
			return errRecord
		}
		sub := &subscription{sess: sess, filter: filter, topicFilter: topicFilter, group: group,
			qos: v[1] & 3, noLocal: v[1]&(1<<2) != 0, retainAsPublished: v[1]&(1<<3) != 0,
			retainHandling: (v[1] >> 4) & 3, id: uint32(id32)}
		if sess.subs == nil {
			sess.subs = make(map[string]*subscription)
		}
		sess.subs[filter] = sub
		sess.nsubs.Add(1)
		s.trie.add(sub)
		return nil
	})
	var maxSeq uint64
	scan(bucketQueue, func(k, v []byte) error {
		id, rest, ok := splitKey(k)
		sess := s.sessions[id]
		if !ok || sess == nil || len(rest) != 8 {
			return errRecord
		}
		seq := binary.BigEndian.Uint64(rest)
		maxSeq = max(maxSeq, seq)
		d, pid, relSent, err := decodeDelivery(v, &s.msgs, now)
		if err != nil {
			return err
		}
		d.seq = seq
		if pid != 0 && d.qos == 2 {
			// Keep the QoS 2 exchange on its packet id [MQTT-4.4.0-1].
			sess.inflight = append(sess.inflight, inflight{pid: pid, d: d, relSent: relSent})
			sess.resend = true
		} else {
			sess.q.push(d)
		}
		return nil
	})
	s.seq.Store(maxSeq)
	scan(bucketRetained, func(k, v []byte) error {
		m := decodeMessage(&recordReader{b: v}, &s.msgs, now)
		if m == nil {
			return errRecord
		}
		// m.Expiry is a deadline on the monotonic clock: compare it with
		// time.Now, never with the wall clock (which may have jumped).
		if m.expired(time.Now()) {
			m.Release()
			corrupt = append(corrupt, storage.Op{Bucket: bucketRetained, Key: bytes.Clone(k), Delete: true})
			return nil
		}
		s.retained.m[string(k)] = m
		return nil
	})
	if loadErr != nil {
		return fmt.Errorf("loading stored state: %w", loadErr)
	}
	if len(corrupt) > 0 {
		if err := s.store.Write(&storage.Batch{Ops: corrupt}); err != nil {
			return err
		}
	}
	s.mu.Lock()
	for _, sess := range expired {
		s.discardLocked(sess)
	}
	s.mu.Unlock()
	var queued int
	for _, sess := range s.sessions {
		queued += sess.q.len() + len(sess.inflight)
	}
	s.log.Info("restored state", "engine", eng.Name(), "sessions", len(s.sessions),
		"subscriptions", s.trie.count, "queued_messages", queued, "retained", len(s.retained.m))
	return nil
}
