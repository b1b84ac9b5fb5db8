// Package storage keeps what must survive a restart: sessions, queued and
// inflight messages, retained messages and bridge queues.
//
// An Engine is a small ordered key-value store with named buckets; there are
// three: badger (64-bit gateways), bolt (32-bit ARM and MIPS, where badger v4
// fails) and memory. All pass the same conformance suite (suite_test.go).
// A Store puts group commit on top of an Engine: concurrent writers hand it
// batches, it writes them together in one transaction with one sync, and
// tells each writer when its batch is durable. Key layout and value encoding
// belong to the packages that use the store (broker, bridge); storage knows
// only buckets, keys and bytes.
package storage

import "errors"

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("storage: key not found")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("storage: closed")

// ErrFull is returned when a write would take the store above its
// configured maximum size (Options.MaxDiskBytes).
var ErrFull = errors.New("storage: full (max_disk_bytes reached)")

// Op is one write in a Batch: a put, or a delete when Delete is set.
type Op struct {
	Bucket string
	Key    []byte
	Value  []byte
	Delete bool
}

// Batch is a list of writes applied atomically. The zero value is empty and
// ready to use. A Batch keeps references to the slices passed to it; the
// caller must not change them until the batch has been written.
type Batch struct {
	Ops []Op
}

// Put adds a put of key=value in bucket.
func (b *Batch) Put(bucket string, key, value []byte) {
	b.Ops = append(b.Ops, Op{Bucket: bucket, Key: key, Value: value})
}

// Delete adds a delete of key in bucket. Deleting a missing key is not an error.
func (b *Batch) Delete(bucket string, key []byte) {
	b.Ops = append(b.Ops, Op{Bucket: bucket, Key: key, Delete: true})
}

// Len returns the number of writes in the batch.
func (b *Batch) Len() int { return len(b.Ops) }

// Reset empties the batch, keeping its capacity.
func (b *Batch) Reset() {
	clear(b.Ops)
	b.Ops = b.Ops[:0]
}

// Engine is an ordered key-value store with named buckets. Bucket names are
// short ASCII strings chosen by the caller; a bucket exists once written to.
// Methods are safe for concurrent use.
type Engine interface {
	// Write applies all ops of b atomically: after a crash either all or
	// none are visible. With sync set, Write returns only once the batch is
	// on stable storage.
	Write(b *Batch, sync bool) error
	// Get returns a copy of the value stored under key, or ErrNotFound.
	Get(bucket string, key []byte) ([]byte, error)
	// Scan calls fn for each key >= from in bucket, in ascending byte order,
	// until fn returns false. k and v are valid only during the call.
	Scan(bucket string, from []byte, fn func(k, v []byte) bool) error
	// Size returns the bytes the engine uses on disk (0 for memory).
	Size() (int64, error)
	// Name returns "badger", "bolt" or "memory".
	Name() string
	// Close flushes and releases the engine.
	Close() error
}

// SyncMode says when an accepted write is on flash.
type SyncMode int

// Sync modes, as in the config key storage.sync.
const (
	// SyncBatch writes concurrent batches together, one transaction and one
	// sync per group, and reports each batch durable only after that sync.
	SyncBatch SyncMode = iota
	// SyncAlways writes and syncs each batch on its own, in order.
	SyncAlways
	// SyncNone groups batches like SyncBatch but never forces a sync: the
	// write survives a crash of the process, not a power cut.
	SyncNone
)
