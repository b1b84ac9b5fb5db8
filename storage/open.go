package storage

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"
)

// Engine names, as spelled in the config key storage.engine.
const (
	EngineAuto   = "auto"
	EngineBadger = "badger"
	EngineBolt   = "bolt"
	EngineMemory = "memory"
)

// Options says which engine to open where, and how the Store on top of it
// commits. The zero value opens a memory engine with SyncBatch.
type Options struct {
	// Dir is the data directory, created with mode 0700 if missing.
	// "" means memory: nothing survives a restart.
	Dir string
	// Engine is auto, badger, bolt or memory; "" means auto.
	Engine string
	// Sync says when a committed batch is on stable storage. OpenEngine
	// uses it too: badger runs with SyncWrites unless it is SyncNone.
	Sync SyncMode
	// MaxDiskBytes refuses batches with puts (ErrFull) once Engine.Size
	// reaches it. 0 means no limit.
	MaxDiskBytes int64
	// MinFreeBytes refuses batches with puts (ErrFull) while the data
	// dir's filesystem has less free space than this: the filesystem must
	// never fill up under the engine (see space.go). 0 takes the engine's
	// reserve (badger: room for its memtables, a compaction and a value
	// log file; bolt: 2 MiB); a negative value turns the check off.
	MinFreeBytes int64
	// Logger receives engine warnings and errors; nil discards them.
	Logger *slog.Logger
	// Badger sizes the badger engine; zero fields take DefaultBadgerOptions.
	Badger BadgerOptions
	// CommitQueue is how many batches may wait for the Store's committer
	// before Commit blocks its caller. 0 means 1024.
	CommitQueue int
}

// BadgerOptions sizes the badger engine. The fields are the memory-relevant
// knobs so that board code can scale them from total RAM; a zero field takes
// the value of DefaultBadgerOptions. Peak RSS grows roughly with
// MemTableSize*(NumMemtables+1) plus the mmapped value log pages touched.
type BadgerOptions struct {
	MemTableSize            int64 // bytes per memtable (also caps one transaction at 15% of it)
	NumMemtables            int   // memtables kept in RAM before writes stall
	NumLevelZeroTables      int   // L0 tables that trigger compaction
	NumLevelZeroTablesStall int   // L0 tables at which writes stall
	BaseTableSize           int64 // size of an SSTable at the base level
	BaseLevelSize           int64 // total size of the base level
	ValueLogFileSize        int64 // bytes per value log file; also the largest value
	ValueThreshold          int64 // values of this size or more go to the value log
	BlockCacheSize          int64 // 0: no block cache (fine without compression)
	IndexCacheSize          int64 // 0: table indexes stay in RAM, uncached
	NumCompactors           int   // badger needs 0 or at least 2
	GCInterval              time.Duration
	GCDiscardRatio          float64 // rewrite a value log file when this fraction is garbage
}

// DefaultBadgerOptions returns the tuning for a small device. Badger's own
// defaults map 1 GiB value log files and keep 5 memtables of 64 MiB.
// Measured with BenchmarkQueueRSS (200k 200-byte queue entries written in
// synced batches of 100, then consumed): these options peak at 115-147 MB
// VmHWM of which 56-87 MB anonymous, badger's defaults at 288-303 MB (218-234
// MB anonymous). Most of the anonymous peak is Go heap churn from memtable
// flushes and compactions; a process memory limit (debug.SetMemoryLimit,
// GOMEMLIMIT=40MiB) brought it to 36 MB at 2.8x the run time.
func DefaultBadgerOptions() BadgerOptions {
	return BadgerOptions{
		MemTableSize:            4 << 20,
		NumMemtables:            2,
		NumLevelZeroTables:      2,
		NumLevelZeroTablesStall: 4,
		BaseTableSize:           1 << 20,
		BaseLevelSize:           4 << 20,
		ValueLogFileSize:        16 << 20,
		ValueThreshold:          1 << 10,
		BlockCacheSize:          0,
		IndexCacheSize:          0,
		NumCompactors:           2,
		GCInterval:              time.Minute,
		GCDiscardRatio:          0.5,
	}
}

// withDefaults fills the zero fields of o from DefaultBadgerOptions.
func (o BadgerOptions) withDefaults() BadgerOptions {
	d := DefaultBadgerOptions()
	set := func(v *int64, def int64) {
		if *v == 0 {
			*v = def
		}
	}
	seti := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&o.MemTableSize, d.MemTableSize)
	seti(&o.NumMemtables, d.NumMemtables)
	seti(&o.NumLevelZeroTables, d.NumLevelZeroTables)
	seti(&o.NumLevelZeroTablesStall, d.NumLevelZeroTablesStall)
	set(&o.BaseTableSize, d.BaseTableSize)
	set(&o.BaseLevelSize, d.BaseLevelSize)
	set(&o.ValueLogFileSize, d.ValueLogFileSize)
	set(&o.ValueThreshold, d.ValueThreshold)
	seti(&o.NumCompactors, d.NumCompactors)
	if o.GCInterval == 0 {
		o.GCInterval = d.GCInterval
	}
	if o.GCDiscardRatio == 0 {
		o.GCDiscardRatio = d.GCDiscardRatio
	}
	return o
}

// DefaultEngine returns the engine "auto" picks for an empty data dir on
// this binary: badger where it is built in, bolt elsewhere.
func DefaultEngine() string {
	if badgerBuiltIn {
		return EngineBadger
	}
	return EngineBolt
}

// OpenEngine opens the engine opts asks for. "auto" opens the engine whose
// files are already in opts.Dir, else DefaultEngine. An explicit engine that
// does not match the files in the dir is refused: starting empty next to the
// old data would look like data loss. Dir "" opens a memory engine.
func OpenEngine(opts Options) (Engine, error) {
	name := opts.Engine
	if name == "" {
		name = EngineAuto
	}
	switch name {
	case EngineAuto, EngineBadger, EngineBolt, EngineMemory:
	default:
		return nil, fmt.Errorf("storage: engine %q: want auto, badger, bolt or memory", name)
	}
	if name == EngineMemory || (name == EngineAuto && opts.Dir == "") {
		return NewMemory(), nil
	}
	if opts.Dir == "" {
		return nil, fmt.Errorf("storage: engine %s needs a data dir, and data_dir is empty", name)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: create data dir: %w", err)
	}
	found, err := detectEngine(opts.Dir)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch {
	case found == EngineBadger && !badgerBuiltIn:
		return nil, fmt.Errorf("storage: data dir %s holds badger data, but badger is not built into this binary (%s/%s); "+
			"open it with an amd64 or arm64 edgemq, or move it away to start empty with bolt", opts.Dir, runtime.GOOS, runtime.GOARCH)
	case name == EngineAuto && found != "":
		name = found
	case name == EngineAuto:
		name = DefaultEngine()
	case found != "" && found != name:
		return nil, fmt.Errorf("storage: data dir %s holds %s data but storage.engine is %s; "+
			"set storage.engine: %s (or auto), or move the dir away to start empty", opts.Dir, found, name, found)
	}
	switch name {
	case EngineBolt:
		return openBolt(opts.Dir, log)
	default:
		return openBadger(opts.Dir, opts.Badger.withDefaults(), opts.Sync != SyncNone, log)
	}
}

// boltFile is the bolt engine's one file in the data dir.
const boltFile = "edgemq.bolt"

// detectEngine says which engine's files are in dir: "bolt", "badger" or ""
// when neither. Both at once is an error.
func detectEngine(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("storage: read data dir: %w", err)
	}
	var bolt, badger string
	for _, e := range entries {
		n := e.Name()
		switch {
		case n == boltFile:
			bolt = n
		case n == "MANIFEST" || n == "KEYREGISTRY" ||
			strings.HasSuffix(n, ".vlog") || strings.HasSuffix(n, ".sst"):
			badger = n
		}
	}
	switch {
	case bolt != "" && badger != "":
		return "", fmt.Errorf("storage: data dir %s holds both bolt (%s) and badger (%s) files; remove one", dir, bolt, badger)
	case bolt != "":
		return EngineBolt, nil
	case badger != "":
		return EngineBadger, nil
	}
	return "", nil
}
