package storage

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// boltLockTimeout is how long Open waits for the file lock. Another process
// holding it is almost always a second edgemq on the same data dir; failing
// fast with a message says so, waiting forever would look like a hang.
const boltLockTimeout = time.Second

// boltInitialMmap is the initial mmap size. Read transactions do not block
// a writer that has to grow the map as long as the file fits in it; 8 MiB of
// address space covers a typical router's store and costs no RAM until
// pages are touched.
const boltInitialMmap = 8 << 20

// boltAppendFill is how full bolt packs a page before splitting it in a
// transaction that only appends to a bucket. Bolt's default, 0.5, suits
// random inserts (100k random 108-byte entries: 17.5 MB at 0.5, 34 MB at
// 0.9), but edgemq's big buckets are queues with ascending keys, where 0.5
// leaves every page half empty forever (200k 200-byte queue entries: 88 MB
// at 0.5, 49 MB at 0.9).
const boltAppendFill = 0.9

// boltEngine is the bolt engine: one file, one bolt bucket per Engine
// bucket. See openBolt.
type boltEngine struct {
	db   *bolt.DB
	path string

	// closeMu orders Close after every running call; closed is guarded by it.
	closeMu sync.RWMutex
	closed  bool
}

// openBolt opens (or creates) dir/edgemq.bolt. Bolt recovers from a crash
// by itself: a commit writes data pages, then a meta page with a checksum,
// and Open uses the newer of the two meta pages that is valid, so a torn
// last commit is simply not there.
//
// Options, and why:
//   - FreelistType map: the array freelist degrades badly with the
//     fragmentation a queue workload causes (every delete frees pages).
//   - NoFreelistSync: the freelist is not written at each commit; a queue
//     workload has a large freelist and would rewrite it on every
//     transaction, doubling flash writes. The price is at Open, which walks
//     the whole file to rebuild the freelist (about a second per few
//     hundred MB on an SD card).
//   - InitialMmapSize 8 MiB, Timeout 1 s: see the constants.
func openBolt(dir string, log *slog.Logger) (Engine, error) {
	path := filepath.Join(dir, boltFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         boltLockTimeout,
		FreelistType:    bolt.FreelistMapType,
		NoFreelistSync:  true,
		InitialMmapSize: boltInitialMmap,
		Logger:          boltLogger{log.With("engine", EngineBolt)},
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("storage: open %s: file is locked by another process (another edgemq on the same data_dir?), gave up after %s: %w",
			path, boltLockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open bolt %s: %w", path, err)
	}
	return &boltEngine{db: db, path: path}, nil
}

func (e *boltEngine) Name() string { return EngineBolt }

// boltReserve is the free space the Store keeps for bolt: one group's
// pages, split and copied on write, with room to spare. Bolt writes with
// pwrite and reads through a read-only mmap, so a full filesystem is an
// ENOSPC error, never a signal: no hard floor.
const boltReserve = 2 << 20

func (e *boltEngine) spaceNeeds() spaceNeeds { return spaceNeeds{reserve: boltReserve} }

// Write applies b in one Update transaction. With sync false the commit is
// not fsynced (bolt's NoSync): it survives the process dying, not a power
// cut, and until the next synced commit a power cut may also damage the
// pages it wrote. NoSync is a field on the shared DB; it is set inside the
// update function, where bolt holds its single-writer lock, and it is read
// only by the commit of that same transaction, so concurrent Writes with
// different sync values cannot see each other's setting.
func (e *boltEngine) Write(b *Batch, sync bool) error {
	if err := b.Validate(); err != nil {
		return err
	}
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	return e.db.Update(func(tx *bolt.Tx) error {
		e.db.NoSync = !sync
		var buckets boltTxBuckets
		for i := range b.Ops {
			op := &b.Ops[i]
			st, err := buckets.get(tx, op.Bucket, !op.Delete)
			if err != nil {
				return err
			}
			if op.Delete {
				if st != nil {
					if err := st.bk.Delete(op.Key); err != nil {
						return fmt.Errorf("storage: bolt: delete %q/%x: %w", op.Bucket, op.Key, err)
					}
				}
				continue
			}
			st.put(op.Key)
			if err := st.bk.Put(op.Key, op.Value); err != nil {
				return fmt.Errorf("storage: bolt: put %q/%x (%d bytes): %w", op.Bucket, op.Key, len(op.Value), err)
			}
		}
		return nil
	})
}

// boltTxBucket is one bucket touched by a write transaction, and whether
// every put into it so far appended after its last key.
type boltTxBucket struct {
	name      string
	bk        *bolt.Bucket
	last      []byte // largest key; valid during the transaction
	appending bool   // every put so far was past the last key
}

// put records a put of key and picks the bucket's fill percent: pages are
// split when they are boltAppendFill full while the transaction only
// appends, at bolt's default otherwise.
func (st *boltTxBucket) put(key []byte) {
	if !st.appending {
		return
	}
	if st.last != nil && bytes.Compare(key, st.last) <= 0 {
		st.appending = false
		st.bk.FillPercent = bolt.DefaultFillPercent
		return
	}
	st.last = key
}

// boltTxBuckets are the buckets of one write transaction; there are few,
// a slice beats a map.
type boltTxBuckets []boltTxBucket

// get returns the state of bucket name, creating the bucket when create is
// set, or nil when it does not exist and create is not set.
func (bs *boltTxBuckets) get(tx *bolt.Tx, name string, create bool) (*boltTxBucket, error) {
	for i := range *bs {
		if (*bs)[i].name == name {
			return &(*bs)[i], nil
		}
	}
	bk := tx.Bucket([]byte(name))
	if bk == nil {
		if !create {
			return nil, nil
		}
		var err error
		if bk, err = tx.CreateBucket([]byte(name)); err != nil {
			return nil, fmt.Errorf("storage: bolt: create bucket %q: %w", name, err)
		}
	}
	last, _ := bk.Cursor().Last()
	bk.FillPercent = boltAppendFill
	*bs = append(*bs, boltTxBucket{name: name, bk: bk, last: last, appending: true})
	return &(*bs)[len(*bs)-1], nil
}

func (e *boltEngine) Get(bucket string, key []byte) ([]byte, error) {
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	var out []byte
	err := e.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucket))
		if bk == nil {
			return ErrNotFound
		}
		// A cursor, not bk.Get: Get cannot tell an empty value from a
		// nested bucket, and a Seek tells present from absent exactly.
		k, v := bk.Cursor().Seek(key)
		if k == nil || string(k) != string(key) {
			return ErrNotFound
		}
		out = append([]byte{}, v...)
		return nil
	})
	return out, err
}

// Scan runs fn inside one read transaction: a consistent snapshot. fn must
// not call Write (see Engine.Scan).
func (e *boltEngine) Scan(bucket string, from []byte, fn func(k, v []byte) bool) error {
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	return e.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucket))
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		var k, v []byte
		if len(from) == 0 {
			k, v = c.First()
		} else {
			k, v = c.Seek(from)
		}
		for ; k != nil; k, v = c.Next() {
			if !fn(k, v) {
				return nil
			}
		}
		return nil
	})
}

// Size returns the bytes of the pages in use: the file's high-water mark
// minus its free pages. The file itself never shrinks (bolt reuses freed
// pages), so counting its length would keep a drained store "full" forever.
func (e *boltEngine) Size() (int64, error) {
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return 0, ErrClosed
	}
	var size int64
	err := e.db.View(func(tx *bolt.Tx) error {
		size = tx.Size() - int64(e.db.Stats().FreeAlloc)
		return nil
	})
	return size, err
}

func (e *boltEngine) Close() error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.closed = true
	if err := e.db.Close(); err != nil {
		return fmt.Errorf("storage: close %s: %w", e.path, err)
	}
	return nil
}

// boltLogger passes bolt's warnings and errors to slog and drops the rest.
// Fatal and Panic log and then panic: bolt (which calls neither today)
// would expect them not to return, and a library must not exit the process.
type boltLogger struct{ l *slog.Logger }

func (b boltLogger) Debug(...any)                {}
func (b boltLogger) Debugf(string, ...any)       {}
func (b boltLogger) Info(...any)                 {}
func (b boltLogger) Infof(string, ...any)        {}
func (b boltLogger) Warning(v ...any)            { b.l.Warn(fmt.Sprint(v...)) }
func (b boltLogger) Warningf(f string, v ...any) { b.l.Warn(fmt.Sprintf(f, v...)) }
func (b boltLogger) Error(v ...any)              { b.l.Error(fmt.Sprint(v...)) }
func (b boltLogger) Errorf(f string, v ...any)   { b.l.Error(fmt.Sprintf(f, v...)) }
func (b boltLogger) Fatal(v ...any)              { b.die(fmt.Sprint(v...)) }
func (b boltLogger) Fatalf(f string, v ...any)   { b.die(fmt.Sprintf(f, v...)) }
func (b boltLogger) Panic(v ...any)              { b.die(fmt.Sprint(v...)) }
func (b boltLogger) Panicf(f string, v ...any)   { b.die(fmt.Sprintf(f, v...)) }

func (b boltLogger) die(msg string) {
	b.l.Error(msg)
	panic("bolt: " + msg)
}
