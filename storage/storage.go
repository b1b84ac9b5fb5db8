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
//
// # Which engine each platform gets
//
// Options.Engine "auto" (the default) picks:
//
//   - badger on linux/amd64 and arm64 (Raspberry Pi 3/4/5 with a 64-bit OS,
//     x86 gateways). Badger is an LSM tree: writes are sequential appends,
//     which suits SD cards and eMMC, and queue workloads (append at the end,
//     delete from the front) do not fragment it. It is tuned for small
//     devices (DefaultBadgerOptions).
//   - bolt everywhere else. Badger v4 is broken on the other targets, so it
//     is not merely avoided at run time but never compiled for them (see the
//     build constraint in badger.go): the binaries stay smaller and cannot
//     reach that code.
//     32-bit ARM (ARMv5/v6/v7 routers, Pi Zero with a 32-bit OS): a shift
//     bug in its ristretto dependency corrupts tables.
//     MIPS, mipsle, mips64 (most OpenWrt routers): it reads []uint32 at
//     unaligned addresses and dies with SIGBUS.
//     riscv64: ristretto (v2.2.0 to v2.4.2) checks the size mremap returns
//     in the second syscall result register, which on riscv64 holds the old
//     size; every shrink of an mmapped file fails "mremap size mismatch".
//     Badger then cannot rotate its value log (the first write past 16 MiB
//     of large values fails) nor reopen after a crash (replaying a memtable
//     truncates it). Seen in this package's crash test under qemu-riscv64;
//     ristretto PR #499 (open) would fix it.
//     Bolt is a copy-on-write B+tree in one mmapped file, pure Go, and works
//     on every GOARCH Go supports.
//   - memory when Options.Dir is "": nothing survives a restart.
//
// When the data dir already holds one engine's files, "auto" opens that
// engine; an explicit engine that does not match the files is refused, so a
// config change never silently starts an empty store.
package storage

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("storage: key not found")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("storage: closed")

// ErrFull is returned, wrapped with the reason, when the store refuses a
// write because it is full: it reached Options.MaxDiskBytes, or its
// filesystem has less free space than the reserve (Options.MinFreeBytes),
// or the filesystem filled up (ENOSPC). Test with errors.Is.
var ErrFull = errors.New("storage: full")

// ErrTooLarge is returned by Write when a batch does not fit in one
// transaction of the engine (badger limits a transaction to a fraction of
// its memtable). Nothing of the batch is written. Split the batch.
var ErrTooLarge = errors.New("storage: batch too large for one transaction")

// Limits on names and keys, the same for every engine so that code tested on
// one engine behaves the same on the others. Bolt caps keys at 32 KiB; badger
// stores bucket+0x00+key as one key.
const (
	// MaxBucketLen is the longest bucket name, in bytes.
	MaxBucketLen = 255
	// MaxKeyLen is the longest key, in bytes.
	MaxKeyLen = 32 << 10
)

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
	// hooks are called by the Store once the batch is written or has
	// failed; see OnDone.
	hooks []func(error)
}

// OnDone registers fn to be called once a Store has written the batch
// (err nil: durable as the sync mode promises) or has failed to (err set,
// nothing of the batch written), before the done of Commit. It lets a
// component that added writes to someone else's batch (a bridge queue
// writing into a publisher's batch) learn the outcome. fn is called from
// the Store's committer: it must not block nor call Commit, Write or
// Close. Engine.Write does not call it.
func (b *Batch) OnDone(fn func(error)) {
	b.hooks = append(b.hooks, fn)
}

// runHooks calls the OnDone functions of b with err.
func (b *Batch) runHooks(err error) {
	for _, fn := range b.hooks {
		fn(err)
	}
}

// Put adds a put of key=value in bucket.
func (b *Batch) Put(bucket string, key, value []byte) {
	b.Ops = append(b.Ops, Op{Bucket: bucket, Key: key, Value: value})
}

// Delete adds a delete of key in bucket. Deleting a missing key is not an error.
func (b *Batch) Delete(bucket string, key []byte) {
	b.Ops = append(b.Ops, Op{Bucket: bucket, Key: key, Delete: true})
}

// Validate checks every op against the rules all engines share: bucket
// names are 1..MaxBucketLen bytes without a 0x00 byte, keys are
// 1..MaxKeyLen bytes. The error names the op, bucket and key.
func (b *Batch) Validate() error {
	for i := range b.Ops {
		op := &b.Ops[i]
		switch {
		case op.Bucket == "":
			return fmt.Errorf("storage: op %d: empty bucket name", i)
		case len(op.Bucket) > MaxBucketLen:
			return fmt.Errorf("storage: op %d: bucket name %.32q... is %d bytes, max %d", i, op.Bucket, len(op.Bucket), MaxBucketLen)
		case indexZero(op.Bucket) >= 0:
			return fmt.Errorf("storage: op %d: bucket name %q contains a 0x00 byte", i, op.Bucket)
		case len(op.Key) == 0:
			return fmt.Errorf("storage: op %d: empty key in bucket %q", i, op.Bucket)
		case len(op.Key) > MaxKeyLen:
			return fmt.Errorf("storage: op %d: key %.32x... in bucket %q is %d bytes, max %d", i, op.Key, op.Bucket, len(op.Key), MaxKeyLen)
		}
	}
	return nil
}

func indexZero(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return i
		}
	}
	return -1
}

// Len returns the number of writes in the batch.
func (b *Batch) Len() int { return len(b.Ops) }

// Reset empties the batch, keeping its capacity, and forgets its OnDone
// functions.
func (b *Batch) Reset() {
	clear(b.Ops)
	b.Ops = b.Ops[:0]
	clear(b.hooks)
	b.hooks = b.hooks[:0]
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
	// until fn returns false. k and v are valid only during the call and
	// must not be modified. fn may call Get but must not call Write: bolt
	// scans inside a read transaction and a write that needs to grow the
	// file would wait for it forever.
	Scan(bucket string, from []byte, fn func(k, v []byte) bool) error
	// Size returns the bytes the engine uses on disk (0 for memory). It is
	// what Options.MaxDiskBytes is compared with; see each engine for what
	// it counts.
	Size() (int64, error)
	// Name returns "badger", "bolt" or "memory".
	Name() string
	// Close flushes and releases the engine. Every later call, Close
	// included, returns ErrClosed.
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

// String returns the config spelling of m: "batch", "always" or "none".
func (m SyncMode) String() string {
	switch m {
	case SyncBatch:
		return "batch"
	case SyncAlways:
		return "always"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// ParseSyncMode parses the config value of storage.sync: "always", "batch"
// or "none".
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "batch":
		return SyncBatch, nil
	case "always":
		return SyncAlways, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("storage: sync mode %q: want always, batch or none", s)
}
