//go:build linux

package board

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fifoDevice makes a FIFO standing in for /dev/watchdog and opens its read
// end without blocking, so OpenWatchdog's O_WRONLY open does not wait.
func fifoDevice(t *testing.T) (path string, readFD int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "watchdog")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open fifo reader: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return path, fd
}

// drain reads what is in the FIFO now, without waiting. eof reports that
// every writer has closed.
func drain(t *testing.T, fd int) (got []byte, eof bool) {
	t.Helper()
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return got, false
		case err != nil:
			t.Fatalf("read fifo: %v", err)
		case n == 0:
			return got, true
		}
		got = append(got, buf[:n]...)
	}
}

// waitBytes polls the FIFO until it holds at least n bytes or 5 s pass.
func waitBytes(t *testing.T, fd, n int) []byte {
	t.Helper()
	var got []byte
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < n {
		b, _ := drain(t, fd)
		got = append(got, b...)
		if time.Now().After(deadline) {
			t.Fatalf("got %q from the watchdog after 5s, want at least %d bytes", got, n)
		}
		time.Sleep(time.Millisecond)
	}
	return got
}

// syncBuffer is a log sink safe for the Feeder goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestWatchdogOnFIFO(t *testing.T) {
	path, rfd := fifoDevice(t)
	var logs syncBuffer
	wd, err := OpenWatchdog(path, 10*time.Second, testLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	// A FIFO answers every watchdog ioctl with ENOTTY: logged, not fatal,
	// and the timeout stays unknown.
	if wd.Timeout() != 0 {
		t.Errorf("Timeout() = %v, want 0 for a device that cannot say", wd.Timeout())
	}
	for _, want := range []string{"not a watchdog device", "keeps its own timeout"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	for range 3 {
		if err := wd.Kick(); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := drain(t, rfd); string(got) != "kkk" {
		t.Errorf("kicks wrote %q, want %q", got, "kkk")
	}
	if err := wd.Close(); err != nil {
		t.Fatal(err)
	}
	got, eof := drain(t, rfd)
	if string(got) != "V" || !eof {
		t.Errorf("Close wrote %q (eof %v), want the magic close %q then EOF", got, eof, "V")
	}
	if err := wd.Kick(); !errors.Is(err, ErrClosed) {
		t.Errorf("Kick after Close = %v, want ErrClosed", err)
	}
	if err := wd.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestOpenWatchdogMissing(t *testing.T) {
	_, err := OpenWatchdog(filepath.Join(t.TempDir(), "nope"), time.Second, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
}

func TestWatchdogOnPTY(t *testing.T) {
	// A pty master is a tty, not a watchdog: the ioctls fail with ENOTTY
	// and the kick falls back to a write, which the pty accepts.
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	unix.Close(master)
	wd, err := OpenWatchdog("/dev/ptmx", 3*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := wd.Kick(); err != nil {
		t.Errorf("Kick on a pty: %v", err)
	}
	if err := wd.Close(); err != nil {
		t.Errorf("Close on a pty: %v", err)
	}
}

func TestNilWatchdogAndFeeder(t *testing.T) {
	var wd *Watchdog
	if wd.Kick() != nil || wd.Close() != nil || wd.Timeout() != 0 || wd.Path() != "" {
		t.Error("nil *Watchdog methods must do nothing")
	}
	f := StartFeeder(nil, time.Millisecond, nil, nil)
	if f != nil || f.Stop() != nil || f.Kicks() != 0 || f.Healthy() {
		t.Error("nil *Feeder methods must do nothing")
	}
}

func TestFeederKicksOnlyWhileHealthy(t *testing.T) {
	path, rfd := fifoDevice(t)
	var logs syncBuffer
	log := testLogger(&logs)
	wd, err := OpenWatchdog(path, 0, log)
	if err != nil {
		t.Fatal(err)
	}

	// checks receives every health result the Feeder sees, so the test
	// knows where the Feeder is without sleeping.
	var healthy atomic.Bool
	healthy.Store(true)
	checks := make(chan bool, 1<<16)
	health := func() error {
		h := healthy.Load()
		select {
		case checks <- h:
		default:
		}
		if h {
			return nil
		}
		return errors.New("broker loop stalled")
	}
	waitCheck := func(want bool, n int) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for n > 0 {
			select {
			case h := <-checks:
				if h == want {
					n--
				}
			case <-timeout:
				t.Fatalf("no health check returning %v within 5s", want)
			}
		}
	}

	f := StartFeeder(wd, 2*time.Millisecond, health, log)

	// Healthy: kicks arrive.
	if got := waitBytes(t, rfd, 3); strings.Trim(string(got), "k") != "" {
		t.Fatalf("healthy feeder wrote %q, want only kicks", got)
	}

	// Unhealthy: once the Feeder has seen a failing check, everything it
	// wrote before is already in the pipe; after that, nothing more.
	healthy.Store(false)
	waitCheck(false, 1)
	drain(t, rfd)
	waitCheck(false, 20)
	if got, _ := drain(t, rfd); len(got) != 0 {
		t.Fatalf("unhealthy feeder kicked: %q", got)
	}
	if f.Healthy() {
		t.Error("Healthy() = true after failing checks")
	}
	if n := strings.Count(logs.String(), "health check failed"); n != 1 {
		t.Errorf("health failure logged %d times over 21 failing checks, want 1 (rate-limited):\n%s", n, logs.String())
	}

	// Recovered: kicks resume.
	healthy.Store(true)
	waitCheck(true, 1)
	if got := waitBytes(t, rfd, 1); strings.Trim(string(got), "k") != "" {
		t.Fatalf("recovered feeder wrote %q, want only kicks", got)
	}
	if !strings.Contains(logs.String(), "health recovered") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
	kicks := f.Kicks()

	// Stop: the goroutine is gone and the last byte is the magic close.
	if err := f.Stop(); err != nil {
		t.Fatal(err)
	}
	got, eof := drain(t, rfd)
	if len(got) == 0 || got[len(got)-1] != 'V' || strings.Trim(string(got[:len(got)-1]), "k") != "" || !eof {
		t.Errorf("after Stop the device got %q (eof %v), want kicks then %q then EOF", got, eof, "V")
	}
	if f.Kicks() < kicks || f.Kicks() < 4 {
		t.Errorf("Kicks() = %d, want >= 4", f.Kicks())
	}
	if err := f.Stop(); err != nil {
		t.Errorf("second Stop = %v", err)
	}
}
