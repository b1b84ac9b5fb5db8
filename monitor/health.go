package monitor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/edgemq/edgemq/storage"
)

// Check is one readiness condition: Func returns nil when it holds, or an
// error that says why not (shown in /readyz and on the status page).
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// CheckResult is the outcome of one Check.
type CheckResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Readiness is the body of /readyz.
type Readiness struct {
	Ready  bool          `json:"ready"`
	Checks []CheckResult `json:"checks"`
}

// runChecks runs every check, each bounded by timeout.
func runChecks(ctx context.Context, checks []Check, timeout time.Duration) Readiness {
	r := Readiness{Ready: true, Checks: make([]CheckResult, 0, len(checks))}
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := c.Func(cctx)
		cancel()
		res := CheckResult{Name: c.Name, OK: err == nil}
		if err != nil {
			res.Error = err.Error()
			r.Ready = false
		}
		r.Checks = append(r.Checks, res)
	}
	return r
}

// probeBucket is the storage bucket the readiness probe writes to and
// deletes from; it stays empty.
const probeBucket = "health"

// probeFile is the file the probe creates and removes in the data dir.
const probeFile = ".edgemq-probe"

// StorageProbe checks that storage accepts writes: a put and delete of one
// key through the Store (a real engine transaction, synced as
// storage.sync says, refused with ErrFull at max_disk_bytes), and, when
// the data dir is known, the creation of a small file in it, which fails
// when its filesystem is full or read-only even if the engine could still
// reuse its free pages. A result is kept for TTL, so a busy /readyz costs
// at most one probe per TTL; at most one probe runs at a time.
//
// A change of the outcome is logged: a warning when storage stops taking
// writes, an info line when it takes them again.
type StorageProbe struct {
	store   *storage.Store
	dir     string
	ttl     time.Duration
	timeout time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	last    error
	at      time.Time     // when last was measured; zero before the first probe
	running chan struct{} // closed when the running probe ends; nil when none runs
	wg      sync.WaitGroup
}

// NewStorageProbe returns a probe of store, and of dir when it is not "".
// ttl 0 means 2 s; log may be nil.
func NewStorageProbe(store *storage.Store, dir string, ttl time.Duration, log *slog.Logger) *StorageProbe {
	if ttl <= 0 {
		ttl = 2 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &StorageProbe{store: store, dir: dir, ttl: ttl, timeout: 5 * time.Second, log: log}
}

// Check returns the result of a probe no older than the TTL, probing if
// needed. It waits for a running probe until ctx is done; a probe that
// takes longer than 5 s is reported as an error while it goes on.
func (p *StorageProbe) Check(ctx context.Context) error {
	return p.check(ctx, p.ttl)
}

// CheckCached is Check with a result up to maxAge old accepted.
func (p *StorageProbe) CheckCached(ctx context.Context, maxAge time.Duration) error {
	return p.check(ctx, max(maxAge, p.ttl))
}

func (p *StorageProbe) check(ctx context.Context, maxAge time.Duration) error {
	p.mu.Lock()
	if !p.at.IsZero() && time.Since(p.at) < maxAge {
		err := p.last
		p.mu.Unlock()
		return err
	}
	done := p.running
	if done == nil {
		done = make(chan struct{})
		p.running = done
		p.wg.Add(1)
		go p.probe(done)
	}
	p.mu.Unlock()
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.last
	case <-t.C:
		return fmt.Errorf("storage: a probe write has not completed in %v", p.timeout)
	case <-ctx.Done():
		return fmt.Errorf("storage: probe: %w", ctx.Err())
	}
}

// probe runs one probe and records its result.
func (p *StorageProbe) probe(done chan struct{}) {
	defer p.wg.Done()
	err := p.probeOnce()
	p.mu.Lock()
	wasOK := p.at.IsZero() || p.last == nil
	p.last, p.at, p.running = err, time.Now(), nil
	p.mu.Unlock()
	close(done)
	switch {
	case err != nil && wasOK:
		p.log.Warn("storage does not take writes: not ready", "err", err)
	case err == nil && !wasOK:
		p.log.Info("storage takes writes again: ready")
	}
}

func (p *StorageProbe) probeOnce() error {
	if p.dir != "" {
		path := filepath.Join(p.dir, probeFile)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("data_dir %s is not writable: %w", p.dir, pathErr(err))
		}
		_, werr := f.Write([]byte(strconv.FormatInt(time.Now().UnixNano(), 10)))
		cerr := f.Close()
		rerr := os.Remove(path)
		if err := cmp.Or(werr, cerr, rerr); err != nil {
			return fmt.Errorf("data_dir %s is not writable: %w", p.dir, pathErr(err))
		}
	}
	if p.store == nil {
		return nil
	}
	var b storage.Batch
	key := []byte("probe")
	b.Put(probeBucket, key, []byte(strconv.FormatInt(time.Now().UnixNano(), 10)))
	b.Delete(probeBucket, key)
	if err := p.store.Write(&b); err != nil {
		return fmt.Errorf("storage (%s) refused a write: %w", p.store.Engine().Name(), err)
	}
	return nil
}

// Wait waits for a running probe to end (for a clean shutdown and tests).
func (p *StorageProbe) Wait() { p.wg.Wait() }

// pathErr drops the operation and path of a *fs.PathError, which the
// message already names.
func pathErr(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}
