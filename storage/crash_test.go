package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment of the crash test's child process.
const (
	crashChildEnv = "EDGEMQ_STORAGE_CRASH_CHILD" // engine:openmode:mode:round:dir
	// testExecEnv prefixes re-executions of the test binary, for running
	// under qemu-user without binfmt_misc: EDGEMQ_TEST_EXEC="qemu-arm-static -cpu arm926".
	testExecEnv = "EDGEMQ_TEST_EXEC"
)

const crashWriters = 8

// crashValue is the value of part p of batch (w, seq) in round r: its text
// and a length from 0 to 3 KiB, so that badger puts some in the value log.
func crashValue(r, w, seq int, p byte) []byte {
	v := fmt.Appendf(nil, "%d/%d/%d/%c|", r, w, seq, p)
	n := (seq*131 + w*17 + int(p)) % 3072
	return append(v, bytes.Repeat([]byte{byte(seq)}, n)...)
}

func crashKey(r, w, seq int, p byte) []byte {
	return fmt.Appendf(nil, "r%d-w%02d-%08d-%c", r, w, seq, p)
}

// TestCrashChild is the child of TestCrash: it writes 3-key batches from
// crashWriters goroutines through a Store and prints "ACK w seq" for each
// batch once Write has returned nil, until it is killed.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("helper process of TestCrash")
	}
	parts := strings.SplitN(spec, ":", 5)
	openMode, err := ParseSyncMode(parts[1])
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	mode, err := ParseSyncMode(parts[2])
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	round, _ := strconv.Atoi(parts[3])
	e, err := OpenEngine(Options{Dir: parts[4], Engine: parts[0], Sync: openMode})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	s := NewStore(e, Options{Sync: mode})
	var mu sync.Mutex
	fmt.Println("READY")
	for w := range crashWriters {
		go func() {
			for seq := 0; ; seq++ {
				var b Batch
				for _, p := range []byte("abc") {
					b.Put("crash", crashKey(round, w, seq, p), crashValue(round, w, seq, p))
				}
				if err := s.Write(&b); err != nil {
					fmt.Println("ERR", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Printf("ACK %d %d\n", w, seq)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Minute) // the parent kills us long before
	fmt.Println("ERR not killed")
	os.Exit(4)
}

// helperCommand returns a command that runs this test binary with args,
// through $EDGEMQ_TEST_EXEC when set.
func helperCommand(args ...string) *exec.Cmd {
	argv := append([]string{os.Args[0]}, args...)
	if wrap := strings.Fields(os.Getenv(testExecEnv)); len(wrap) > 0 {
		argv = append(wrap, argv...)
	}
	return exec.Command(argv[0], argv[1:]...)
}

// TestCrash kills a writing child with SIGKILL at a random moment and checks
// that every batch it acknowledged is present and readable after reopening,
// and that every batch present is complete. Three rounds on the same dir:
// recovering an already recovered store must work too. Badger also runs
// SyncBatch on an engine opened for SyncNone, the path where Write calls
// db.Sync instead of relying on SyncWrites.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	type combo struct {
		name           string
		open, mode     SyncMode
		badgerOnlyPath bool
	}
	combos := []combo{
		{"always", SyncAlways, SyncAlways, false},
		{"batch", SyncBatch, SyncBatch, false},
		{"batch-explicit-sync", SyncNone, SyncBatch, true},
	}
	for _, k := range kinds() {
		if !k.persistent {
			continue
		}
		for _, c := range combos {
			if c.badgerOnlyPath && k.name != EngineBadger {
				continue
			}
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				dir := t.TempDir()
				for round := range 3 {
					acked := runCrashChild(t, k.name, c.open, c.mode, round, dir)
					checkAfterCrash(t, k.name, dir, round, acked)
				}
			})
		}
	}
}

// runCrashChild runs one child until a random moment after its first
// acknowledgement, kills it, and returns the acknowledged batches per writer.
func runCrashChild(t *testing.T, engine string, openMode, mode SyncMode, round int, dir string) [][]int {
	t.Helper()
	cmd := helperCommand("-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%s:%s:%d:%s", crashChildEnv, engine, openMode, mode, round, dir))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := make([][]int, crashWriters)
	firstAck := make(chan struct{})
	lines := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "ACK":
				w, _ := strconv.Atoi(f[1])
				seq, _ := strconv.Atoi(f[2])
				acked[w] = append(acked[w], seq)
				if first {
					first = false
					close(firstAck)
				}
			case len(f) > 0 && (f[0] == "ERR" || f[0] == "FAIL" || f[0] == "panic:"):
				lines <- fmt.Errorf("child: %s", sc.Text())
				return
			}
		}
		lines <- nil
	}()
	select {
	case <-firstAck:
	case err := <-lines:
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child ended before its first ack: %v; stderr: %s", err, stderr.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no ack from the child in 30 s; stderr: %s", stderr.String())
	}
	time.Sleep(time.Duration(50+rand.IntN(400)) * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-lines; err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	return acked
}

// checkAfterCrash opens dir and checks round's batches: each acknowledged
// one is there with the right values, and each present one is complete.
func checkAfterCrash(t *testing.T, engine, dir string, round int, acked [][]int) {
	t.Helper()
	e, err := OpenEngine(Options{Dir: dir, Engine: engine})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer e.Close()
	total := 0
	for w, seqs := range acked {
		for i, seq := range seqs {
			if seq != i {
				t.Fatalf("writer %d acked %v: not in order", w, seqs)
			}
			for _, p := range []byte("abc") {
				got, err := e.Get("crash", crashKey(round, w, seq, p))
				if err != nil {
					t.Fatalf("acked batch %d/%d part %c after kill -9: %v", w, seq, p, err)
				}
				if want := crashValue(round, w, seq, p); !bytes.Equal(got, want) {
					t.Fatalf("acked batch %d/%d part %c: value %q..., want %q...", w, seq, p, trunc(got), trunc(want))
				}
			}
			total++
		}
	}
	// Atomicity: every batch present has its three parts, right values.
	parts := map[string]int{}
	prefix := fmt.Appendf(nil, "r%d-", round)
	err = e.Scan("crash", prefix, func(k, v []byte) bool {
		if !bytes.HasPrefix(k, prefix) {
			return false
		}
		var r, w, seq int
		var p byte
		if _, err := fmt.Sscanf(string(k), "r%d-w%02d-%08d-%c", &r, &w, &seq, &p); err != nil || r != round {
			t.Fatalf("unexpected key %q: %v", k, err)
		}
		if !bytes.Equal(v, crashValue(r, w, seq, p)) {
			t.Fatalf("key %q has a damaged value %q...", k, trunc(v))
		}
		parts[string(k[:len(k)-2])]++
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	for batch, n := range parts {
		if n != 3 {
			t.Fatalf("batch %s has %d of its 3 parts after kill -9", batch, n)
		}
	}
	t.Logf("round %d: %d batches acked, %d present", round, total, len(parts))
	if total == 0 {
		t.Fatal("no batch acknowledged: the test checked nothing")
	}
}
