//go:build (amd64 || arm64) && !nobadger

package storage

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBadgerValueLogGC checks that the engine's GC goroutine gives back a
// value log file whose values were all deleted, and that Close stops it.
func TestBadgerValueLogGC(t *testing.T) {
	dir := t.TempDir()
	o := DefaultBadgerOptions()
	o.GCInterval = 20 * time.Millisecond
	e, err := openBadger(dir, o, false, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if e != nil {
			e.Close()
		}
	}()
	vlogs := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
		return m
	}
	big := bytes.Repeat([]byte{1}, 64<<10)
	var b Batch
	for i := range 320 { // 20 MiB: fills 000001.vlog, rotates to 000002.vlog
		b.Put("big", seqKey(uint64(i)), big)
		if b.Len() == 16 {
			must(t, e.Write(&b, false))
			b.Reset()
		}
	}
	if n := len(vlogs()); n < 2 {
		t.Fatalf("%d value log files after 20 MiB, want 2 or more", n)
	}
	for i := range 320 {
		b.Delete("big", seqKey(uint64(i)))
	}
	must(t, e.Write(&b, false))
	b.Reset()
	// Small filler entries make badger flush memtables and compact, which
	// is when it learns how much of each value log file is garbage.
	first := filepath.Join(dir, "000001.vlog")
	deadline := time.Now().Add(20 * time.Second)
	for i := uint64(0); ; i++ {
		b.Put("filler", seqKey(i), make([]byte, 100))
		if b.Len() == 1000 {
			must(t, e.Write(&b, false))
			b.Reset()
			if _, err := os.Stat(first); os.IsNotExist(err) {
				t.Logf("000001.vlog collected after %d filler entries", i+1)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("000001.vlog still there after %d filler entries; files %v", i, vlogs())
		}
	}
	start := time.Now()
	must(t, e.Close())
	e = nil
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testLogger sends engine logs to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
