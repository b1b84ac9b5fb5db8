package storage

import (
	"bytes"
	"slices"
	"sort"
	"sync"
)

// memChunkMax is the most entries a memory chunk holds before it splits.
// Inserting in the middle of a chunk moves up to this many entries; 256
// entries of 48 bytes is 12 KiB, a few hundred nanoseconds.
const memChunkMax = 256

// memScanStep is how many entries Scan copies out under the read lock before
// releasing it to call fn.
const memScanStep = 128

// memEntry is one key and its value. Both share one allocation and are never
// modified once stored, so readers may keep them after the lock is released.
type memEntry struct{ k, v []byte }

// memChunk is a run of entries in ascending key order, never empty while it
// belongs to a bucket.
type memChunk struct{ items []memEntry }

// search returns the index of the first entry >= key and whether it is key.
func (c *memChunk) search(key []byte) (int, bool) {
	i := sort.Search(len(c.items), func(i int) bool { return bytes.Compare(c.items[i].k, key) >= 0 })
	return i, i < len(c.items) && bytes.Equal(c.items[i].k, key)
}

func (c *memChunk) last() []byte { return c.items[len(c.items)-1].k }

// memBucket is an ordered set of entries kept as a sorted list of chunks:
// a B-tree of height two. A FIFO queue (append with growing keys, delete the
// smallest) touches only the last and the first chunk, in O(1): appends fill
// the last chunk and open a new one when it is full, deletes at the front
// reslice the first chunk and drop it when empty. Random keys cost a binary
// search over chunks plus a move inside one chunk.
type memBucket struct {
	chunks []*memChunk
	n      int
}

// find returns the index of the first chunk whose last key is >= key, or
// len(chunks) when key is beyond every chunk.
func (b *memBucket) find(key []byte) int {
	return sort.Search(len(b.chunks), func(i int) bool { return bytes.Compare(b.chunks[i].last(), key) >= 0 })
}

func (b *memBucket) get(key []byte) ([]byte, bool) {
	i := b.find(key)
	if i == len(b.chunks) {
		return nil, false
	}
	c := b.chunks[i]
	j, ok := c.search(key)
	if !ok {
		return nil, false
	}
	return c.items[j].v, true
}

func (b *memBucket) put(e memEntry) {
	i := b.find(e.k)
	if i == len(b.chunks) {
		// Beyond the last key: the queue append path.
		if i == 0 || len(b.chunks[i-1].items) >= memChunkMax {
			c := &memChunk{items: make([]memEntry, 0, 16)}
			c.items = append(c.items, e)
			b.chunks = append(b.chunks, c)
		} else {
			c := b.chunks[i-1]
			c.items = append(c.items, e)
		}
		b.n++
		return
	}
	c := b.chunks[i]
	j, ok := c.search(e.k)
	if ok {
		c.items[j] = e
		return
	}
	c.items = slices.Insert(c.items, j, e)
	b.n++
	if len(c.items) > memChunkMax {
		half := len(c.items) / 2
		right := &memChunk{items: slices.Clone(c.items[half:])}
		clear(c.items[half:])
		c.items = c.items[:half]
		b.chunks = slices.Insert(b.chunks, i+1, right)
	}
}

func (b *memBucket) delete(key []byte) {
	i := b.find(key)
	if i == len(b.chunks) {
		return
	}
	c := b.chunks[i]
	j, ok := c.search(key)
	if !ok {
		return
	}
	b.n--
	if j == 0 {
		// The queue consume path: reslice, O(1). The dead prefix of the
		// array is freed when the chunk is dropped or reallocated.
		c.items[0] = memEntry{}
		c.items = c.items[1:]
	} else {
		c.items = slices.Delete(c.items, j, j+1)
	}
	switch {
	case len(c.items) == 0:
		if i == 0 {
			b.chunks[0] = nil
			b.chunks = b.chunks[1:]
		} else {
			b.chunks = slices.Delete(b.chunks, i, i+1)
		}
	case len(c.items) < memChunkMax/4 && i+1 < len(b.chunks) &&
		len(c.items)+len(b.chunks[i+1].items) <= memChunkMax/2:
		// Random deletes would otherwise leave many tiny chunks.
		next := b.chunks[i+1]
		c.items = append(c.items, next.items...)
		b.chunks = slices.Delete(b.chunks, i+1, i+2)
	}
}

// collect appends to out up to max entries with key >= from (> from when
// after is set), in order.
func (b *memBucket) collect(from []byte, after bool, max int, out []memEntry) []memEntry {
	i := b.find(from)
	if i == len(b.chunks) {
		return out
	}
	j, ok := b.chunks[i].search(from)
	if ok && after {
		j++
	}
	for ; i < len(b.chunks); i, j = i+1, 0 {
		for _, e := range b.chunks[i].items[j:] {
			if len(out) == max {
				return out
			}
			out = append(out, e)
		}
	}
	return out
}

// memoryEngine keeps buckets in RAM; see NewMemory.
type memoryEngine struct {
	mu      sync.RWMutex
	buckets map[string]*memBucket
	closed  bool
}

// NewMemory returns an empty engine that keeps everything in RAM. Writes are
// atomic and ordered like the disk engines'; nothing survives the process.
// Size reports 0, so Options.MaxDiskBytes never refuses a write to it.
func NewMemory() Engine {
	return &memoryEngine{buckets: make(map[string]*memBucket)}
}

func (m *memoryEngine) Name() string { return EngineMemory }

// Write applies b under the write lock; b is validated first, so either
// every op is applied or none. sync has no meaning in RAM.
func (m *memoryEngine) Write(b *Batch, sync bool) error {
	if err := b.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for i := range b.Ops {
		op := &b.Ops[i]
		bk := m.buckets[op.Bucket]
		if op.Delete {
			if bk != nil {
				bk.delete(op.Key)
				if bk.n == 0 {
					delete(m.buckets, op.Bucket)
				}
			}
			continue
		}
		if bk == nil {
			bk = &memBucket{}
			m.buckets[op.Bucket] = bk
		}
		buf := make([]byte, len(op.Key)+len(op.Value))
		n := copy(buf, op.Key)
		copy(buf[n:], op.Value)
		bk.put(memEntry{k: buf[:n:n], v: buf[n:]})
	}
	return nil
}

func (m *memoryEngine) Get(bucket string, key []byte) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	bk := m.buckets[bucket]
	if bk == nil {
		return nil, ErrNotFound
	}
	v, ok := bk.get(key)
	if !ok {
		return nil, ErrNotFound
	}
	return append([]byte{}, v...), nil
}

// Scan copies up to memScanStep entries at a time under the read lock and
// calls fn without holding it, so fn may call the engine. It is therefore
// not a snapshot: writes made between steps are seen by later steps.
func (m *memoryEngine) Scan(bucket string, from []byte, fn func(k, v []byte) bool) error {
	step := make([]memEntry, 0, memScanStep)
	after := false
	for {
		m.mu.RLock()
		if m.closed {
			m.mu.RUnlock()
			return ErrClosed
		}
		step = step[:0]
		if bk := m.buckets[bucket]; bk != nil {
			step = bk.collect(from, after, memScanStep, step)
		}
		m.mu.RUnlock()
		for _, e := range step {
			if !fn(e.k, e.v) {
				return nil
			}
		}
		if len(step) < memScanStep {
			return nil
		}
		from, after = step[len(step)-1].k, true
	}
}

func (m *memoryEngine) Size() (int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, ErrClosed
	}
	return 0, nil
}

func (m *memoryEngine) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	m.buckets = nil
	return nil
}
