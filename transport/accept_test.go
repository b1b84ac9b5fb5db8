package transport

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgemq/edgemq/logs"
)

// emfileListener fails every Accept with EMFILE until its deadline, then
// hands out one connection, then blocks until closed.
type emfileListener struct {
	until  time.Time
	calls  atomic.Int64
	conn   net.Conn
	once   sync.Once
	closed chan struct{}
}

func (l *emfileListener) Accept() (net.Conn, error) {
	l.calls.Add(1)
	if time.Now().Before(l.until) {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *emfileListener) Close() error   { close(l.closed); return nil }
func (l *emfileListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// syncBuffer is a bytes.Buffer safe for the log handler's goroutines.
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

// TestAcceptOutOfFDs: while Accept fails with EMFILE the accept loop backs
// off (5 ms doubling to 1 s, not a spin), logs at most a line a second, and
// then serves the next connection. Through edgemq's log rate limiter a
// repeated line gets "suppressed" added: the accept loop's own count must
// not use that key too, or the JSON line has a key twice (found by
// faults/TestFDExhaustion).
func TestAcceptOutOfFDs(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	l := &emfileListener{until: time.Now().Add(1500 * time.Millisecond), conn: server, closed: make(chan struct{})}
	var out syncBuffer
	rl := logs.NewRateLimiter(slog.NewJSONHandler(&out, nil), logs.RateLimitOptions{Window: 1500 * time.Millisecond})
	served := make(chan net.Conn, 1)
	a := serve(l, "tcp:test", func(nc net.Conn, _ string) error { served <- nc; return nil }, slog.New(rl), nil)
	defer a.Close()

	select {
	case nc := <-served:
		nc.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("no connection served after the accept errors stopped")
	}
	// 5+10+...+640 ms of backoff covers 1.5 s in about 9 failed accepts.
	if n := l.calls.Load(); n > 15 {
		t.Errorf("%d accepts in 1.5 s of EMFILE: no backoff", n)
	}
	// The second line is held back by the rate limiter and logged with
	// "suppressed" when its window ends.
	deadline := time.Now().Add(3 * time.Second)
	for strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	rl.Close()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 || len(lines) > 3 {
		t.Fatalf("%d log lines for 1.5 s of accept errors, want 2 (one a second):\n%s", len(lines), out.String())
	}
	for _, line := range lines {
		keys, err := jsonKeys(line)
		if err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Errorf("key %q twice in %s", k, line)
			}
			seen[k] = true
		}
		if !seen["failures"] || !strings.Contains(line, "too many open files") {
			t.Errorf("line without the failure count or the error: %s", line)
		}
	}
	if !strings.Contains(lines[1], `"suppressed":1`) {
		t.Errorf("the second line did not go through the rate limiter: %s", lines[1])
	}
}

// jsonKeys returns the top-level keys of a JSON object in order,
// duplicates included (encoding/json's Unmarshal keeps only the last).
func jsonKeys(line string) ([]string, error) {
	d := json.NewDecoder(strings.NewReader(line))
	if _, err := d.Token(); err != nil {
		return nil, err
	}
	var keys []string
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
	}
	return keys, nil
}
