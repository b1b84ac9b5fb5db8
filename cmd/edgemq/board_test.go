package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgemq/edgemq/board"
	"github.com/edgemq/edgemq/config"
)

// fakeLED makes an LED class directory like a Raspberry Pi's led0, driven
// by the mmc0 trigger, with a timer trigger available.
func fakeLED(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "led0")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{
		"brightness": "0\n", "max_brightness": "255\n", "trigger": "none timer heartbeat [mmc0]\n",
		"delay_on": "x\n", "delay_off": "x\n",
	} {
		writeFile(t, dir, name, v)
	}
	return dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ledShows reports what the fake LED shows: "on", "blink" or the trigger.
func ledShows(t *testing.T, dir string) string {
	t.Helper()
	switch trig, bright := readFile(t, filepath.Join(dir, "trigger")), readFile(t, filepath.Join(dir, "brightness")); {
	case trig == "none" && bright == "255":
		return "on"
	case trig == "timer" && readFile(t, filepath.Join(dir, "delay_on")) == "500":
		return "blink"
	default:
		return trig + "/" + bright
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestApplySizing(t *testing.T) {
	cfg, err := config.Parse([]byte(`
limits:
  max_connections: 1000   # equal to the default, but the user wrote it
  retained_max: 50
`), "sized.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := board.Defaults(64 << 20) // a 64 MB router
	set := applySizing(cfg, s)
	if want := []string{"limits.max_queued_messages", "limits.max_queued_bytes"}; !reflect.DeepEqual(set, want) {
		t.Errorf("applySizing set %q, want %q", set, want)
	}
	l := cfg.Limits
	if l.MaxConnections != 1000 || l.RetainedMax != 50 {
		t.Errorf("values the user wrote changed: max_connections %d, retained_max %d", l.MaxConnections, l.RetainedMax)
	}
	if l.MaxQueuedMessages != s.MaxQueuedMessages || int64(l.MaxQueuedBytes) != s.MaxQueuedBytes || s.MaxQueuedMessages == config.Default().Limits.MaxQueuedMessages {
		t.Errorf("absent limits not sized for 64 MB: %+v (sizing %+v)", l, s)
	}
	if l.MaxPacketSize != config.Default().Limits.MaxPacketSize {
		t.Errorf("max_packet_size is not sized, yet changed to %d", l.MaxPacketSize)
	}

	// The embedded default (no file) has nothing set: every sized limit moves.
	def := config.Default()
	if set := applySizing(def, s); len(set) != 4 || def.Limits.MaxConnections != s.MaxConnections || def.Limits.RetainedMax != s.RetainedMax {
		t.Errorf("default config: set %q, limits %+v", set, def.Limits)
	}
}

func TestNewHardwareSetsMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	debug.SetMemoryLimit(math.MaxInt64)
	var logs syncBuffer
	g := newHardware(config.Default(), slog.New(slog.NewTextHandler(&logs, nil)))
	want := board.Defaults(g.info.Memory()).MemLimit
	if want == 0 {
		want = math.MaxInt64 // MemTotal unknown: left alone
	}
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Errorf("memory limit %d, want %d for MemTotal %d, cgroup limit %d", got, want, g.info.MemTotal, g.info.MemLimit)
	}
	if !strings.Contains(logs.String(), "msg=board board=") {
		t.Errorf("the board is not logged:\n%s", logs.String())
	}
}

func TestHardwareLEDFollowsBridges(t *testing.T) {
	ledDir := fakeLED(t)
	var logs syncBuffer
	g := &hardware{log: slog.New(slog.NewTextHandler(&logs, nil)), bridgesDown: make(map[string]bool)}
	g.SetBridgeDown("early", true) // before serving: remembered, LED untouched
	if got := ledShows(t, ledDir); got != "none timer heartbeat [mmc0]\n/0\n" {
		t.Fatalf("LED before serve: %q", got)
	}
	g.serve(config.Board{StatusLED: ledDir}, nil, nil)
	steps := []struct {
		name string
		down bool
		want string
	}{
		{"early", false, "on"},
		{"cloud", true, "blink"},
		{"backup", true, "blink"},
		{"cloud", false, "blink"}, // backup is still down
		{"backup", false, "on"},
		{"backup", false, "on"},
	}
	for i, s := range steps {
		g.SetBridgeDown(s.name, s.down)
		if got := ledShows(t, ledDir); got != s.want {
			t.Errorf("step %d (%s down=%v): LED %q, want %q", i, s.name, s.down, got, s.want)
		}
	}
	g.stop()
	if trig, b := readFile(t, filepath.Join(ledDir, "trigger")), readFile(t, filepath.Join(ledDir, "brightness")); trig != "mmc0" || b != "255" {
		t.Errorf("after stop the LED trigger is %q (brightness %q), want mmc0 back", trig, b)
	}
	g.SetBridgeDown("cloud", true) // after stop: nothing written
	if trig := readFile(t, filepath.Join(ledDir, "trigger")); trig != "mmc0" {
		t.Errorf("SetBridgeDown after stop changed the trigger to %q", trig)
	}
}

// The LED follows what the bridge watcher polls: blinking while a bridge
// is not up, steady once all are, and steady again when the down bridge is
// removed (a reload).
func TestHardwareWatchesBridges(t *testing.T) {
	ledDir := fakeLED(t)
	var mu sync.Mutex
	links := map[string]bool{"cloud": true, "backup": false}
	set := func(m map[string]bool) {
		mu.Lock()
		links = m
		mu.Unlock()
	}
	var polls atomic.Int32
	poll := func() map[string]bool {
		polls.Add(1)
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(links)
	}
	g := &hardware{log: slog.New(slog.DiscardHandler), bridgesDown: make(map[string]bool)}
	g.serve(config.Board{StatusLED: ledDir}, nil, poll)
	waitUntil(t, "blinking while cloud is down", func() bool { return ledShows(t, ledDir) == "blink" })
	set(map[string]bool{"cloud": false, "backup": false})
	waitUntil(t, "steady once cloud is up", func() bool { return ledShows(t, ledDir) == "on" })
	set(map[string]bool{"cloud": false, "backup": true})
	waitUntil(t, "blinking while backup is down", func() bool { return ledShows(t, ledDir) == "blink" })
	set(map[string]bool{"cloud": false})
	waitUntil(t, "steady once the down bridge is removed", func() bool { return ledShows(t, ledDir) == "on" })
	g.stop()
	n := polls.Load()
	time.Sleep(3 * bridgePoll / 2)
	if polls.Load() != n {
		t.Errorf("the bridge watcher still polls after stop")
	}
}

// A regular file stands in for /dev/watchdog: the ioctls fail with ENOTTY,
// so the watchdog is kicked by writing "k", and the magic close writes "V".
func TestHardwareWatchdogFollowsHealth(t *testing.T) {
	for _, healthy := range []bool{true, false} {
		dev := writeFile(t, t.TempDir(), "watchdog", "")
		var calls atomic.Int32
		var deadline atomic.Bool
		health := func(ctx context.Context) error {
			_, ok := ctx.Deadline()
			deadline.Store(ok)
			calls.Add(1)
			if !healthy {
				return errors.New("store hung")
			}
			return nil
		}
		var logs syncBuffer
		g := &hardware{log: slog.New(slog.NewTextHandler(&logs, nil)), bridgesDown: make(map[string]bool)}
		g.serve(config.Board{Watchdog: dev}, health, nil)
		waitUntil(t, "the first health check", func() bool { return calls.Load() > 0 })
		if healthy {
			waitUntil(t, "the first kick", func() bool { return g.feeder.Kicks() > 0 })
		} else {
			waitUntil(t, "the feeder to see the failure", func() bool { return !g.feeder.Healthy() })
		}
		g.stop()
		want := "kV"
		if !healthy {
			want = "V"
		}
		if got := readFile(t, dev); got != want {
			t.Errorf("healthy=%v: the watchdog got %q, want %q", healthy, got, want)
		}
		if !deadline.Load() {
			t.Errorf("health got a context without a deadline")
		}
		if !healthy && !strings.Contains(logs.String(), "store hung") {
			t.Errorf("the failed health check is not logged:\n%s", logs.String())
		}
	}
}

func TestHardwareMissingDevices(t *testing.T) {
	var logs syncBuffer
	g := &hardware{log: slog.New(slog.NewTextHandler(&logs, nil)), bridgesDown: make(map[string]bool)}
	dir := t.TempDir()
	g.serve(config.Board{Watchdog: filepath.Join(dir, "watchdog"), StatusLED: filepath.Join(dir, "leds", "led0")}, nil, nil)
	g.SetBridgeDown("cloud", true)
	g.stop()
	for _, want := range []string{"board.watchdog: cannot open the watchdog; running without it", "board.status_led: cannot open the LED; running without it"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestHealthCheck(t *testing.T) {
	ok := func(context.Context) error { return nil }
	dir := t.TempDir()
	if err := healthCheck(ok, dir)(context.Background()); err != nil {
		t.Errorf("healthy broker, writable dir: %v", err)
	}
	if err := healthCheck(ok, "")(context.Background()); err != nil {
		t.Errorf("memory only: %v", err)
	}
	gone := filepath.Join(dir, "gone")
	if err := healthCheck(ok, gone)(context.Background()); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), gone) {
		t.Errorf("missing data dir: %v, want ErrNotExist naming it", err)
	}
	sick := errors.New("broker: health: storage: closed")
	if err := healthCheck(func(context.Context) error { return sick }, dir)(context.Background()); !errors.Is(err, sick) {
		t.Errorf("broker failing: %v", err)
	}
}

// TestRunDrivesBoard runs the broker with a fake LED and watchdog and a
// bridge whose remote refuses connections: the LED blinks while the bridge
// is down, the watchdog is kicked, and a clean shutdown disarms the
// watchdog and gives the LED back.
func TestRunDrivesBoard(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "off") // keep this process's memory limit
	dir := t.TempDir()
	ledDir := fakeLED(t)
	dev := writeFile(t, dir, "watchdog", "")
	cfg, err := config.Parse([]byte(`
data_dir: `+filepath.Join(dir, "data")+`
listeners: [{type: tcp, address: "127.0.0.1:0"}]
board: {watchdog: `+dev+`, status_led: `+ledDir+`}
bridges:
  - {name: cloud, address: "tcp://127.0.0.1:1", client_id: gw, topics: [{pattern: "a/#", direction: out}]}
`), "board.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, log) }()
	waitUntil(t, "the watchdog's first kick", func() bool { return readFile(t, dev) == "k" })
	waitUntil(t, "the LED to blink for the bridge that is down", func() bool { return ledShows(t, ledDir) == "blink" })
	var addr string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "msg=listening") {
			addr = strings.Fields(strings.SplitAfter(line, " address=")[1])[0]
		}
	}
	if c, err := net.Dial("tcp", addr); err != nil {
		t.Errorf("dial %s: %v", addr, err)
	} else {
		c.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := readFile(t, dev); got != "kV" {
		t.Errorf("watchdog got %q, want one kick then the magic close", got)
	}
	if trig := readFile(t, filepath.Join(ledDir, "trigger")); trig != "mmc0" {
		t.Errorf("LED trigger after shutdown: %q, want mmc0 back", trig)
	}
	if strings.Contains(logs.String(), "health check failed") {
		t.Errorf("a clean shutdown failed a health check:\n%s", logs.String())
	}
}
