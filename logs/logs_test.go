package logs_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgemq/edgemq/logs"
)

// lines is a concurrency-safe log sink (the limiter's timer writes too).
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSpace(l.buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func textHandler(w *lines) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(g []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(g) == 0 {
				return slog.Attr{}
			}
			return logs.Redact(g, a)
		},
	})
}

func TestRateLimiterFlood(t *testing.T) {
	var out lines
	rl := logs.NewRateLimiter(textHandler(&out), logs.RateLimitOptions{Window: 300 * time.Millisecond})
	defer rl.Close()
	log := slog.New(rl)
	for i := range 100 {
		log.Warn("connection refused", "listener", "tcp", "remote", "10.0.0.1:"+string(rune('a'+i%26)))
	}
	// Another listener is another warning; info lines are never limited.
	log.Warn("connection refused", "listener", "tls")
	for range 3 {
		log.Info("client connected", "client", "c1")
	}
	got := out.get()
	want := []string{
		`level=WARN msg="connection refused" listener=tcp remote=10.0.0.1:a`,
		`level=WARN msg="connection refused" listener=tls`,
		`level=INFO msg="client connected" client=c1`,
		`level=INFO msg="client connected" client=c1`,
		`level=INFO msg="client connected" client=c1`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("before the window ends:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := rl.Suppressed(); n != 99 {
		t.Errorf("Suppressed() = %d, want 99", n)
	}
	// At the end of the window: the last repeat, with the count.
	deadline := time.Now().Add(2 * time.Second)
	for len(out.get()) < 6 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got = out.get()
	if len(got) != 6 || got[5] != `level=WARN msg="connection refused" listener=tcp remote=10.0.0.1:v suppressed=99` {
		t.Fatalf("after the window: %q", got)
	}
	// The flood goes on: a new window started with the summary line, so
	// the next repeat is held back again.
	log.Warn("connection refused", "listener", "tcp", "remote", "10.0.0.2:1")
	rl.Close()
	got = out.get()
	if len(got) != 7 || got[6] != `level=WARN msg="connection refused" listener=tcp remote=10.0.0.2:1 suppressed=1` {
		t.Fatalf("Close did not flush the pending repeat: %q", got)
	}
	// After Close, records pass unlimited.
	log.Warn("late")
	log.Warn("late")
	if n := len(out.get()); n != 9 {
		t.Errorf("%d lines after Close, want 9", n)
	}
}

func TestRateLimiterWithAttrsAndNewWindow(t *testing.T) {
	var out lines
	rl := logs.NewRateLimiter(textHandler(&out), logs.RateLimitOptions{Window: 50 * time.Millisecond})
	defer rl.Close()
	a := slog.New(rl).With("client", "a")
	b := slog.New(rl).With("client", "b")
	a.Warn("queue full")
	b.Warn("queue full")
	a.Warn("queue full")
	// A group makes later attributes non-top-level: they do not count.
	g := slog.New(rl).WithGroup("g")
	g.Warn("grouped", "client", "x")
	g.Warn("grouped", "client", "y")
	time.Sleep(200 * time.Millisecond)
	// Past the window, with nothing held back since the summary: the
	// next one passes at once.
	a.Warn("queue full")
	rl.Close()
	got := out.get()
	want := []string{
		`level=WARN msg="queue full" client=a`,
		`level=WARN msg="queue full" client=b`,
		`level=WARN msg=grouped g.client=x`,
		`level=WARN msg="queue full" client=a suppressed=1`,
		`level=WARN msg=grouped g.client=y g.suppressed=1`,
		`level=WARN msg="queue full" client=a`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines:\n%s\nwant:\n%s", len(got), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The two summaries fire from separate timers: their order may vary.
	if got[3] > got[4] {
		got[3], got[4] = got[4], got[3]
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %s\nwant:   %s", i, got[i], want[i])
		}
	}
}

func TestRateLimiterMaxKeys(t *testing.T) {
	var out lines
	rl := logs.NewRateLimiter(textHandler(&out), logs.RateLimitOptions{Window: time.Hour, MaxKeys: 2})
	defer rl.Close()
	log := slog.New(rl)
	for _, c := range []string{"a", "b", "c", "c", "a"} {
		log.Warn("w", "client", c)
	}
	// a and b are tracked; c finds the table full and passes unlimited;
	// the repeat of a is held back.
	if got := len(out.get()); got != 4 {
		t.Errorf("%d lines, want 4: %q", got, out.get())
	}
}

func TestRingCoalescesAndEvicts(t *testing.T) {
	var out lines
	ring := logs.NewRing(3)
	log := slog.New(ring.Wrap(textHandler(&out))).With("listener", "tcp")
	// The log level of next does not hide warnings from the ring.
	errOnly := slog.New(ring.Wrap(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError})))

	log.Info("not kept")
	log.Warn("refused", "remote", "1.1.1.1:1")
	time.Sleep(2 * time.Millisecond)
	log.Warn("refused", "remote", "2.2.2.2:2", "password", "hunter2")
	time.Sleep(2 * time.Millisecond)
	errOnly.Warn("quiet warning", "err", errors.New("dial tcp://u:hunter2@cloud:1883: refused"))
	time.Sleep(2 * time.Millisecond)
	log.Error("store failed", "client", "c1")
	time.Sleep(2 * time.Millisecond)
	log.Warn("refused", "remote", "3.3.3.3:3") // coalesced, becomes the newest
	time.Sleep(2 * time.Millisecond)
	log.Warn("fourth kind") // evicts "quiet warning", updated longest ago

	got := ring.Entries()
	type e struct {
		level, msg, attrs string
		count             int
	}
	want := []e{
		{"WARN", "fourth kind", "listener=tcp", 1},
		{"WARN", "refused", "listener=tcp remote=3.3.3.3:3", 3},
		{"ERROR", "store failed", "listener=tcp client=c1", 1},
	}
	if len(got) != len(want) {
		t.Fatalf("entries %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if (e{g.Level, g.Message, g.Attrs, g.Count}) != w {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
	if w, errs := ring.Counts(); w != 5 || errs != 1 {
		t.Errorf("Counts() = %d, %d; want 5, 1", w, errs)
	}
	if strings.Contains(strings.Join(out.get(), "\n"), "hunter2") {
		t.Errorf("a secret reached the log: %q", out.get())
	}
	if strings.Contains(strings.Join(out.get(), "\n"), "quiet warning") {
		t.Errorf("the error-level handler printed a warning")
	}
}

func TestRingRedactsAndTruncates(t *testing.T) {
	ring := logs.NewRing(4)
	log := slog.New(ring.Wrap(slog.DiscardHandler))
	log.Warn("bridge down", "bridge", "cloud", "err", errors.New("connect tls://gw:s3cret@cloud.example:8883: timeout"),
		slog.Group("auth", "Password", "s3cret"), "token", "abc")
	log.Warn(strings.Repeat("é", 300))
	got := ring.Entries()
	if len(got) != 2 {
		t.Fatalf("entries %+v", got)
	}
	var bridge, long logs.Entry
	for _, e := range got {
		if e.Message == "bridge down" {
			bridge = e
		} else {
			long = e
		}
	}
	want := `bridge=cloud err="connect tls://gw:[redacted]@cloud.example:8883: timeout" auth.Password=[redacted] token=[redacted]`
	if bridge.Attrs != want {
		t.Errorf("attrs %s\nwant  %s", bridge.Attrs, want)
	}
	if len(long.Message) > 256 || !strings.HasSuffix(long.Message, "é…") {
		t.Errorf("long message not cut on a rune boundary: %d bytes, ends %q", len(long.Message), long.Message[len(long.Message)-8:])
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		in   slog.Attr
		want string
	}{
		{slog.String("password", "pw"), "[redacted]"},
		{slog.String("bridge_password", "pw"), "[redacted]"},
		{slog.String("password", ""), ""},
		{slog.Int("client_secret", 7), "[redacted]"},
		{slog.String("address", "tls://user:pw@host:8883"), "tls://user:[redacted]@host:8883"},
		{slog.String("address", "tls://user@host:8883"), "tls://user@host:8883"},
		{slog.String("address", "mail me at a@b"), "mail me at a@b"},
		{slog.Any("err", errors.New("ws://a:b@h/mqtt: refused")), "ws://a:[redacted]@h/mqtt: refused"},
		{slog.String("username", "alice"), "alice"},
		{slog.String("password_file", "/etc/edgemq/passwd"), "/etc/edgemq/passwd"},
		{slog.String("key_path", "/etc/edgemq/key.pem"), "/etc/edgemq/key.pem"},
		{slog.String("key", "sess/1"), "sess/1"},
	}
	for _, tt := range tests {
		if got := logs.Redact(nil, tt.in).Value.String(); got != tt.want {
			t.Errorf("Redact(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
