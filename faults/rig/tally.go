package rig

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
)

// SeqSet is a set of sequence numbers 1, 2, ... that is cheap when they
// come mostly in order: the run 1..prefix, plus the others in a map.
type SeqSet struct {
	prefix uint64
	rest   map[uint64]struct{}
}

// Add adds n and reports whether it was not there.
func (s *SeqSet) Add(n uint64) bool {
	if n == 0 {
		panic("rig: sequence numbers start at 1")
	}
	if s.Has(n) {
		return false
	}
	if n != s.prefix+1 {
		if s.rest == nil {
			s.rest = map[uint64]struct{}{}
		}
		s.rest[n] = struct{}{}
		return true
	}
	s.prefix++
	for {
		if _, ok := s.rest[s.prefix+1]; !ok {
			return true
		}
		delete(s.rest, s.prefix+1)
		s.prefix++
	}
}

// Has reports whether n is in the set.
func (s *SeqSet) Has(n uint64) bool {
	if n >= 1 && n <= s.prefix {
		return true
	}
	_, ok := s.rest[n]
	return ok
}

// Len returns the number of elements.
func (s *SeqSet) Len() uint64 { return s.prefix + uint64(len(s.rest)) }

// Clone returns a copy.
func (s *SeqSet) Clone() *SeqSet {
	return &SeqSet{prefix: s.prefix, rest: maps.Clone(s.rest)}
}

// Each calls fn for every element, the run first then the others.
func (s *SeqSet) Each(fn func(n uint64)) {
	for n := uint64(1); n <= s.prefix; n++ {
		fn(n)
	}
	for n := range s.rest {
		fn(n)
	}
}

// Missing returns how many elements of want s lacks, and up to 5 of them.
func (s *SeqSet) Missing(want *SeqSet) (n uint64, some []uint64) {
	want.Each(func(k uint64) {
		if !s.Has(k) {
			n++
			if len(some) < 5 {
				some = append(some, k)
			}
		}
	})
	slices.Sort(some)
	return n, some
}

// ParsePayload splits a Publisher payload "<id>/<seq>[padding]".
func ParsePayload(b []byte) (id string, seq uint64, ok bool) {
	i := bytes.LastIndexByte(b, '/')
	if i <= 0 {
		return "", 0, false
	}
	j := i + 1
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	seq, err := strconv.ParseUint(string(b[i+1:j]), 10, 64)
	if err != nil || seq == 0 {
		return "", 0, false
	}
	return string(b[:i]), seq, true
}

// Tally counts messages per publisher where they arrive: first arrivals,
// duplicates, and first arrivals out of order (a message arriving for the
// first time after a later one of the same publisher had arrived).
type Tally struct {
	mu    sync.Mutex
	pubs  map[string]*pubTally
	bad   uint64 // payloads that are not a Publisher's
	total uint64
}

type pubTally struct {
	seen     SeqSet
	maxFirst uint64
	dups     uint64
	reorders uint64
	example  string // the first reordering, for the report
}

// Record counts one arrival of payload.
func (t *Tally) Record(payload []byte) {
	id, seq, ok := ParsePayload(payload)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total++
	if !ok {
		t.bad++
		return
	}
	if t.pubs == nil {
		t.pubs = map[string]*pubTally{}
	}
	p := t.pubs[id]
	if p == nil {
		p = &pubTally{}
		t.pubs[id] = p
	}
	if !p.seen.Add(seq) {
		p.dups++
		return
	}
	if seq < p.maxFirst {
		p.reorders++
		if p.example == "" {
			p.example = fmt.Sprintf("%s/%d first arrived after %s/%d", id, seq, id, p.maxFirst)
		}
	}
	p.maxFirst = max(p.maxFirst, seq)
}

// Received returns how many messages arrived (duplicates included).
func (t *Tally) Received() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// DupsOf returns how many arrivals of publisher id's messages were not
// the first.
func (t *Tally) DupsOf(id string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.pubs[id]; p != nil {
		return p.dups
	}
	return 0
}

// Seen returns a copy of what arrived from publisher id.
func (t *Tally) Seen(id string) *SeqSet {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.pubs[id]; p != nil {
		return p.seen.Clone()
	}
	return &SeqSet{}
}

// Check is the tally of a set of publishers against what was acknowledged
// to them.
type Check struct {
	Acked      uint64 // messages acknowledged to the publishers
	Unique     uint64 // distinct messages that arrived
	Duplicates uint64 // arrivals beyond the first
	Lost       uint64 // acknowledged and never arrived
	Reordered  uint64 // first arrivals after a later message of the same publisher
	Foreign    uint64 // payloads not from a Publisher
	Examples   []string
}

func (c Check) String() string {
	return fmt.Sprintf("acked=%d unique=%d dup=%d lost=%d reordered=%d", c.Acked, c.Unique, c.Duplicates, c.Lost, c.Reordered)
}

// Check compares what arrived with what each publisher had acknowledged
// (acked by publisher id).
func (t *Tally) Check(acked map[string]*SeqSet) Check {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := Check{Foreign: t.bad}
	for _, id := range slices.Sorted(maps.Keys(acked)) {
		a := acked[id]
		c.Acked += a.Len()
		p := t.pubs[id]
		if p == nil {
			p = &pubTally{}
		}
		n, some := p.seen.Missing(a)
		c.Lost += n
		if n > 0 {
			c.Examples = append(c.Examples, fmt.Sprintf("%s lost %d, e.g. %v", id, n, some))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(t.pubs)) {
		p := t.pubs[id]
		c.Unique += p.seen.Len()
		c.Duplicates += p.dups
		c.Reordered += p.reorders
		if p.example != "" {
			c.Examples = append(c.Examples, p.example)
		}
	}
	return c
}
