//go:build (amd64 || arm64) && !nobadger

// Badger is built only for the 64-bit targets where it works: amd64 and
// arm64. On 32-bit ARM a shift bug in ristretto corrupts tables, on MIPS
// unaligned []uint32 reads die with SIGBUS, and on riscv64 ristretto's
// mremap size check fails every file shrink (see the package doc), so
// those binaries must not link it at all; they get badger_off.go. The
// nobadger tag drops it from a 64-bit build too.

package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// badgerBuiltIn says whether this binary contains the badger engine.
const badgerBuiltIn = true

// badgerGCRounds bounds the value log files rewritten per GC tick, so one
// tick never hogs the disk for long.
const badgerGCRounds = 8

// badgerEngine is the badger engine; see openBadger.
type badgerEngine struct {
	db       *badger.DB
	dir      string
	log      *slog.Logger
	maxValue int64
	// syncWrites is badger's SyncWrites: every write is synced by badger
	// itself, in the right order (see Write).
	syncWrites bool

	// writeMu serializes Write. Badger orders writes internally anyway;
	// holding it from commit to sync means no other write can rotate the
	// memtable between them, so db.Sync (which syncs only the current
	// memtable's WAL and the current value log) covers our batch. dirNames
	// is guarded by it.
	writeMu  sync.Mutex
	dirNames []string

	// closeMu orders Close after every running call; closed is guarded by it.
	closeMu sync.RWMutex
	closed  bool

	space spaceNeeds // see spaceNeeds
	gcMu  sync.Mutex // one value log GC or reclaim at a time

	stopGC chan struct{}
	gcDone chan struct{}
}

// openBadger opens the badger store in dir with options sized by o (see
// DefaultBadgerOptions): no compression and no block cache (blocks are read
// from the mmapped tables), no conflict detection (Store serializes
// writers), no metrics (they are process-global expvars), and badger's
// chatty info log dropped. Keys are bucket + 0x00 + key. A goroutine owned
// by the engine runs value log GC every o.GCInterval until Close.
//
// syncWrites turns on badger's SyncWrites; OpenEngine sets it unless the
// Store will run with SyncNone. See Write for why.
func openBadger(dir string, o BadgerOptions, syncWrites bool, log *slog.Logger) (Engine, error) {
	log = log.With("engine", EngineBadger)
	bo := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log}).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(o.NumMemtables).
		WithNumLevelZeroTables(o.NumLevelZeroTables).
		WithNumLevelZeroTablesStall(o.NumLevelZeroTablesStall).
		WithBaseTableSize(o.BaseTableSize).
		WithBaseLevelSize(o.BaseLevelSize).
		WithValueLogFileSize(o.ValueLogFileSize).
		WithValueThreshold(o.ValueThreshold).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(o.IndexCacheSize).
		WithNumCompactors(o.NumCompactors).
		WithCompression(options.None).
		WithMetricsEnabled(false).
		WithDetectConflicts(false).
		WithSyncWrites(syncWrites)
	db, err := badger.Open(bo)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("storage: open badger %s: dir is locked by another process (another edgemq on the same data_dir?): %w", dir, err)
		}
		return nil, fmt.Errorf("storage: open badger %s: %w", dir, err)
	}
	e := &badgerEngine{
		db:         db,
		dir:        dir,
		log:        log,
		maxValue:   o.ValueLogFileSize,
		syncWrites: syncWrites,
		stopGC:     make(chan struct{}),
		// What badger may write through its mmaps without asking: the
		// current and the next memtable log, every memtable flushed to a
		// level 0 table, a compaction of level 0 (at its stall size) into
		// the base level, and the rest of the current value log file.
		space: spaceNeeds{
			reserve: (2+int64(o.NumMemtables)+int64(o.NumLevelZeroTablesStall))*o.MemTableSize +
				o.BaseLevelSize + o.ValueLogFileSize,
			floor: 2 * o.MemTableSize,
			swing: o.MemTableSize,
		},
		gcDone: make(chan struct{}),
	}
	go e.gcLoop(o.GCInterval, o.GCDiscardRatio)
	return e, nil
}

func (e *badgerEngine) Name() string { return EngineBadger }

// spaceNeeds: badger writes its memtable log (.mem), value log (.vlog)
// and tables (.sst) through mmaps of sparse files, and a page that cannot
// be allocated on a full filesystem is a SIGBUS, which kills edgemq, not
// an error. Below the reserve the Store refuses puts; below the floor
// (two memtable logs) deletes too, since each is a memtable log record.
// Its size moves by about a memtable at each flush.
func (e *badgerEngine) spaceNeeds() spaceNeeds { return e.space }

// badgerKey returns bucket + 0x00 + key, appended to dst.
func badgerKey(dst []byte, bucket string, key []byte) []byte {
	dst = append(dst, bucket...)
	dst = append(dst, 0)
	return append(dst, key...)
}

// Write applies b in one badger transaction (ErrTooLarge when it does not
// fit). A synced Write is durable on return:
//
//   - With SyncWrites (OpenEngine's choice for SyncAlways and SyncBatch)
//     badger syncs every write itself: the value log first, then the
//     memtable WAL whose entries point into it. Write then only fsyncs the
//     directory when badger created or removed files since the last time:
//     badger syncs the directory for tables and the manifest, but not for a
//     new memtable WAL or value log file, whose entries a power cut would
//     otherwise lose.
//   - Without it (SyncNone) a Write with sync set calls db.Sync. That syncs
//     the WAL before the value log: a power cut in between can leave the
//     (not yet acknowledged) batch pointing at values that are not there,
//     rather than absent. It also syncs only the current memtable and value
//     log file, which is why writeMu is held from commit to sync.
//
// The two cost the same (one msync of the WAL and one of the value log per
// synced write); on the development VM both took a median of 0.21-0.27 ms
// per 1-op synced transaction, 0.23-0.28 ms with the directory check, within
// the noise of a shared machine. SyncWrites also syncs sync=false writes,
// which Store never mixes with synced ones.
func (e *badgerEngine) Write(b *Batch, sync bool) error {
	if err := b.Validate(); err != nil {
		return err
	}
	for i := range b.Ops {
		if op := &b.Ops[i]; int64(len(op.Value)) >= e.maxValue {
			return fmt.Errorf("storage: badger: op %d: value for %q/%.32x is %d bytes, more than a value log file (%d, BadgerOptions.ValueLogFileSize)",
				i, op.Bucket, op.Key, len(op.Value), e.maxValue)
		}
	}
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	size := 0
	for i := range b.Ops {
		size += len(b.Ops[i].Bucket) + 1 + len(b.Ops[i].Key)
	}
	keys := make([]byte, 0, size) // badger keeps the keys until Commit returns

	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	txn := e.db.NewTransaction(true)
	defer txn.Discard()
	for i := range b.Ops {
		op := &b.Ops[i]
		start := len(keys)
		keys = badgerKey(keys, op.Bucket, op.Key)
		k := keys[start:len(keys):len(keys)]
		var err error
		if op.Delete {
			err = txn.Delete(k)
		} else {
			err = txn.Set(k, op.Value)
		}
		if errors.Is(err, badger.ErrTxnTooBig) {
			return fmt.Errorf("storage: badger: batch of %d ops does not fit in one transaction (at op %d; max %d entries, %d bytes): %w",
				len(b.Ops), i, e.db.MaxBatchCount(), e.db.MaxBatchSize(), ErrTooLarge)
		}
		if err != nil {
			return fmt.Errorf("storage: badger: op %d on %q/%.32x: %w", i, op.Bucket, op.Key, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("storage: badger: commit %d ops: %w", len(b.Ops), err)
	}
	if !sync {
		return nil
	}
	if !e.syncWrites {
		if err := e.db.Sync(); err != nil {
			return fmt.Errorf("storage: badger: sync: %w", err)
		}
	}
	return e.syncDirIfChanged()
}

// syncDirIfChanged fsyncs the data dir when its file names differ from the
// last time it was synced. Called with writeMu held.
func (e *badgerEngine) syncDirIfChanged() error {
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		return fmt.Errorf("storage: badger: read dir: %w", err)
	}
	same := len(entries) == len(e.dirNames)
	for i := 0; same && i < len(entries); i++ {
		same = entries[i].Name() == e.dirNames[i]
	}
	if same {
		return nil
	}
	d, err := os.Open(e.dir)
	if err != nil {
		return fmt.Errorf("storage: badger: open dir for sync: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storage: badger: sync dir %s: %w", e.dir, err)
	}
	e.dirNames = e.dirNames[:0]
	for _, en := range entries {
		e.dirNames = append(e.dirNames, en.Name())
	}
	return nil
}

func (e *badgerEngine) Get(bucket string, key []byte) ([]byte, error) {
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	txn := e.db.NewTransaction(false)
	defer txn.Discard()
	item, err := txn.Get(badgerKey(make([]byte, 0, len(bucket)+1+len(key)), bucket, key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: badger: get %q/%.32x: %w", bucket, key, err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, fmt.Errorf("storage: badger: read value of %q/%.32x: %w", bucket, key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Scan iterates a read transaction (a consistent snapshot) over the keys
// with the bucket's prefix, without prefetching values.
func (e *badgerEngine) Scan(bucket string, from []byte, fn func(k, v []byte) bool) error {
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	prefix := badgerKey(nil, bucket, nil)
	txn := e.db.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	seek := append(slices.Clip(prefix), from...)
	for it.Seek(seek); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		k := item.Key()[len(prefix):]
		more := true
		if err := item.Value(func(v []byte) error {
			more = fn(k, v)
			return nil
		}); err != nil {
			return fmt.Errorf("storage: badger: scan %q at %.32x: %w", bucket, k, err)
		}
		if !more {
			return nil
		}
	}
	return nil
}

// reclaimBucket holds the one key reclaim writes and drops. Edgemq's
// buckets are printable names; this one is not.
const reclaimBucket = "\xffreclaim"

// reclaim gives back the space of deleted entries now, rather than when
// enough new writes have made badger compact (the Store calls it while it
// is full, see reclaimer): it makes badger flush its memtables (DropPrefix
// flushes them before dropping; it drops the one key written here for the
// purpose), compacts every level into one (Flatten), which drops deleted
// entries and their tombstones, and runs value log GC. Writes wait
// meanwhile; on the development VM a 25 MiB store of deleted queue
// entries went to 0 in 40 ms.
func (e *badgerEngine) reclaim() error {
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	e.gcMu.Lock()
	defer e.gcMu.Unlock()
	prefix := badgerKey(nil, reclaimBucket, nil)
	txn := e.db.NewTransaction(true)
	defer txn.Discard()
	if err := txn.Set(badgerKey(slices.Clip(prefix), reclaimBucket, []byte("flush")), nil); err != nil {
		return fmt.Errorf("storage: badger: reclaim: %w", err)
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("storage: badger: reclaim: %w", err)
	}
	if err := e.db.DropPrefix(prefix); err != nil {
		return fmt.Errorf("storage: badger: reclaim: flush memtables: %w", err)
	}
	if err := e.db.Flatten(2); err != nil {
		return fmt.Errorf("storage: badger: reclaim: compact: %w", err)
	}
	for range badgerGCRounds {
		if err := e.db.RunValueLogGC(0.5); err != nil {
			break
		}
	}
	return nil
}

// Size returns the disk blocks used by the files in the data dir. Deleted
// entries are given back only when compaction drops them and, for values in
// the value log, when GC rewrites the file, so Size lags behind deletes.
func (e *badgerEngine) Size() (int64, error) {
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return 0, ErrClosed
	}
	n, err := dirUsage(e.dir)
	if err != nil {
		return 0, fmt.Errorf("storage: badger: size of %s: %w", e.dir, err)
	}
	return n, nil
}

// Close stops the GC goroutine, then closes badger (which flushes the
// memtable and syncs).
func (e *badgerEngine) Close() error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.closed = true
	close(e.stopGC)
	<-e.gcDone
	if err := e.db.Close(); err != nil {
		return fmt.Errorf("storage: close badger %s: %w", e.dir, err)
	}
	return nil
}

// gcLoop runs value log GC every interval until stopGC is closed. Queue
// workloads delete everything they write, so values at or above
// ValueThreshold leave whole value log files of garbage behind.
func (e *badgerEngine) gcLoop(interval time.Duration, ratio float64) {
	defer close(e.gcDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-e.stopGC:
			return
		case <-t.C:
		}
		if free, err := freeBytes(e.dir); err == nil && free < e.space.reserve {
			// Value log GC writes what it keeps into the current value
			// log, through an mmap: not without the reserve (the Store
			// refuses writes meanwhile).
			continue
		}
		for range badgerGCRounds {
			select {
			case <-e.stopGC:
				return
			default:
			}
			e.gcMu.Lock()
			err := e.db.RunValueLogGC(ratio)
			e.gcMu.Unlock()
			if err == nil {
				continue // rewrote one file; there may be more
			}
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				e.log.Warn("value log GC failed", "err", err)
			}
			break
		}
	}
}

// badgerLogger passes badger's warnings and errors to slog. Badger logs a
// line per compaction and flush at info level; that is dropped.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, v ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, v...)))
}

func (b badgerLogger) Warningf(f string, v ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, v...)))
}

func (b badgerLogger) Infof(string, ...any)  {}
func (b badgerLogger) Debugf(string, ...any) {}

// dirUsage sums the disk blocks used by the regular files directly in dir.
func dirUsage(dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by a compaction since ReadDir
		}
		if err != nil {
			return 0, err
		}
		total += diskBytes(fi)
	}
	return total, nil
}
