package storage

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseSyncMode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want SyncMode
	}{{"always", SyncAlways}, {"batch", SyncBatch}, {"none", SyncNone}} {
		got, err := ParseSyncMode(c.in)
		if err != nil || got != c.want || got.String() != c.in {
			t.Errorf("ParseSyncMode(%q) = %v, %v", c.in, got, err)
		}
	}
	for _, in := range []string{"", "Batch", "fsync", "always "} {
		if _, err := ParseSyncMode(in); err == nil || !strings.Contains(err.Error(), "want always, batch or none") {
			t.Errorf("ParseSyncMode(%q): %v", in, err)
		}
	}
}

func mustOpen(t *testing.T, o Options) Engine {
	t.Helper()
	e, err := OpenEngine(o)
	if err != nil {
		t.Fatalf("OpenEngine(%+v): %v", o, err)
	}
	return e
}

// writeOne puts one key so the engine leaves files behind.
func writeOne(t *testing.T, e Engine) {
	t.Helper()
	var b Batch
	b.Put("s", []byte("k"), []byte("v"))
	if err := e.Write(&b, true); err != nil {
		t.Fatal(err)
	}
}

func TestOpenEngineChoice(t *testing.T) {
	e := mustOpen(t, Options{})
	if e.Name() != EngineMemory {
		t.Fatalf("zero Options opened %s, want memory", e.Name())
	}
	e.Close()
	e = mustOpen(t, Options{Engine: EngineMemory, Dir: filepath.Join(t.TempDir(), "unused")})
	if e.Name() != EngineMemory {
		t.Fatalf("engine memory opened %s", e.Name())
	}
	e.Close()

	dir := filepath.Join(t.TempDir(), "a", "data")
	e = mustOpen(t, Options{Dir: dir})
	want := EngineBolt
	if runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" {
		want = EngineBadger
	}
	if !badgerBuiltIn {
		want = EngineBolt // built with -tags nobadger
	}
	if e.Name() != want || DefaultEngine() != want {
		t.Fatalf("auto on %s opened %s (DefaultEngine %s), want %s", runtime.GOARCH, e.Name(), DefaultEngine(), want)
	}
	e.Close()
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v, mode %v; want created with 0700", err, fi.Mode())
	}

	for _, c := range []Options{
		{Engine: "rocks", Dir: dir},
		{Engine: EngineBolt},
		{Engine: EngineBadger},
	} {
		if e, err := OpenEngine(c); err == nil {
			e.Close()
			t.Errorf("OpenEngine(%+v) succeeded", c)
		} else {
			t.Logf("engine %q dir %q: %v", c.Engine, c.Dir, err)
		}
	}
}

// TestOpenRefusesOtherEnginesData: a dir with one engine's files is not
// opened by the other; auto follows the files.
func TestOpenRefusesOtherEnginesData(t *testing.T) {
	boltDir := t.TempDir()
	e := mustOpen(t, Options{Dir: boltDir, Engine: EngineBolt})
	writeOne(t, e)
	e.Close()

	_, err := OpenEngine(Options{Dir: boltDir, Engine: EngineBadger})
	if err == nil || !strings.Contains(err.Error(), "holds bolt data but storage.engine is badger") {
		t.Fatalf("badger on a bolt dir: %v", err)
	}
	e = mustOpen(t, Options{Dir: boltDir}) // auto follows the data
	if e.Name() != EngineBolt {
		t.Fatalf("auto on a bolt dir opened %s", e.Name())
	}
	if v, err := e.Get("s", []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("auto on a bolt dir: %q, %v", v, err)
	}
	e.Close()

	if !badgerBuiltIn {
		want := "badger engine is not built into this binary (" + runtime.GOOS + "/" + runtime.GOARCH + "); use storage.engine: bolt"
		if _, err := OpenEngine(Options{Dir: t.TempDir(), Engine: EngineBadger}); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("badger without badger: %v, want %q", err, want)
		}
		badgerDir := t.TempDir() // badger data carried over from a 64-bit box
		if err := os.WriteFile(filepath.Join(badgerDir, "MANIFEST"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{EngineAuto, EngineBolt, EngineBadger} {
			_, err := OpenEngine(Options{Dir: badgerDir, Engine: name})
			if err == nil || !strings.Contains(err.Error(), "holds badger data, but badger is not built into this binary") {
				t.Fatalf("engine %s on a badger dir without badger: %v", name, err)
			}
		}
		return
	}
	badgerDir := t.TempDir()
	e = mustOpen(t, Options{Dir: badgerDir, Engine: EngineBadger})
	writeOne(t, e)
	e.Close()
	_, err = OpenEngine(Options{Dir: badgerDir, Engine: EngineBolt})
	if err == nil || !strings.Contains(err.Error(), "holds badger data but storage.engine is bolt") {
		t.Fatalf("bolt on a badger dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(badgerDir, boltFile)); err == nil {
		t.Fatal("refused bolt open still created its file")
	}
	e = mustOpen(t, Options{Dir: badgerDir})
	if e.Name() != EngineBadger {
		t.Fatalf("auto on a badger dir opened %s", e.Name())
	}
	e.Close()

	// Both at once is a mess a human must sort out.
	if err := os.WriteFile(filepath.Join(badgerDir, boltFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEngine(Options{Dir: badgerDir}); err == nil || !strings.Contains(err.Error(), "holds both") {
		t.Fatalf("dir with both engines' files: %v", err)
	}
}

// TestOpenLocked: a second open of the same dir fails fast and says why.
func TestOpenLocked(t *testing.T) {
	for _, k := range kinds() {
		if !k.persistent {
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			dir := t.TempDir()
			e := mustOpen(t, Options{Dir: dir, Engine: k.name})
			defer e.Close()
			start := time.Now()
			e2, err := OpenEngine(Options{Dir: dir, Engine: k.name})
			if err == nil {
				e2.Close()
				t.Fatal("second open of a dir in use succeeded")
			}
			if !strings.Contains(err.Error(), "locked by another process (another edgemq on the same data_dir?)") {
				t.Fatalf("second open: %v", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("second open took %v to fail", d)
			}
			t.Logf("%v", err)
		})
	}
}
