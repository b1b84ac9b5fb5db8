package monitor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/monitor"
)

// TestStatusPageBridgesAndSerial renders the bridge and serial sections of
// the status page in headless Chromium, fed by providers that stand in for
// the bridge and MQTT-SN packages (not merged yet): a draining bridge's
// progress bar follows its backlog, a down bridge shows its queue filling,
// a serial line lists its nodes. cmd/edgemq's browser test covers the page
// against the real binary.
func TestStatusPageBridgesAndSerial(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("this test needs Debian's chromium (scripts/test-deps.sh installs it): %v", err)
	}
	srv, err := broker.New(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	var backlog atomic.Int64
	backlog.Store(1000)
	mon, err := monitor.New(monitor.Options{
		Address: "127.0.0.1:0", Broker: srv,
		Bridges: func() []monitor.BridgeStatus {
			return []monitor.BridgeStatus{
				{Name: "cloud", Address: "tls://cloud.example:8883", State: "connected", BacklogMessages: backlog.Load(),
					BacklogBytes: backlog.Load() * 100, QueueMaxBytes: 1 << 20, OldestSeconds: 90, DrainRate: 100, Sent: 7, Acked: 5},
				{Name: "backup", Address: "tcp://10.0.0.9:1883", State: "down", BacklogMessages: 2621, BacklogBytes: 1 << 18,
					QueueMaxBytes: 1 << 20, OldestSeconds: 3600, LastError: "dial tcp 10.0.0.9:1883: connection refused", Dropped: 3},
			}
		},
		Serial: func() []monitor.SerialStatus {
			return []monitor.SerialStatus{{Device: "/dev/ttyUSB0", Framing: "rs485", Baud: 19200, State: "open", FramesIn: 120, FramesOut: 118,
				Nodes: []monitor.NodeStatus{
					{Address: "1", ClientID: "boiler", State: "active", LastSeenSeconds: 2},
					{Address: "2", ClientID: "meter", State: "lost", LastSeenSeconds: 400},
				}}}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	defer mon.Shutdown(context.Background())

	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()))
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(360, 740), chromedp.Navigate("http://"+mon.Addr().String()+"/")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	type section struct {
		Bridges []string `json:"bridges"`
		Bars    []string `json:"bars"`
		Serial  string   `json:"serial"`
		Scroll  bool     `json:"scroll"`
	}
	read := `(() => ({
	  bridges: [...document.querySelectorAll("#bridges .row")].map(r => r.textContent),
	  bars: [...document.querySelectorAll("#bridges .bar > div")].map(d => d.style.width),
	  serial: document.getElementById("serial").textContent,
	  scroll: document.documentElement.scrollWidth > window.innerWidth,
	}))()`
	waitPage := func(what string, ok func(s section) bool) section {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s, err := chromedp.Run(ctx, chromedp.Evaluate[section](read))
			if err != nil {
				t.Fatal(err)
			}
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page never showed %s: %+v", what, s)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	s := waitPage("both bridges", func(s section) bool { return len(s.Bridges) == 2 })
	for _, want := range []string{"cloud", "connected", "1000 msgs, 97.7 KiB", "oldest 1m 30s", "drain 100 msg/s", "drained 0% of 1000"} {
		if !strings.Contains(s.Bridges[0], want) {
			t.Errorf("cloud row %q lacks %q", s.Bridges[0], want)
		}
	}
	for _, want := range []string{"backup", "down", "queue 25% full", "connection refused", "sent/acked/dropped 0/0/3"} {
		if !strings.Contains(s.Bridges[1], want) {
			t.Errorf("backup row %q lacks %q", s.Bridges[1], want)
		}
	}
	if s.Bars[0] != "0%" || s.Bars[1] != "25%" {
		t.Errorf("bars %q, want 0%% and 25%%", s.Bars)
	}
	for _, want := range []string{"/dev/ttyUSB0", "rs485 19200 baud", "#1boileractive", "#2meterlost", "seen 6m 40s ago"} {
		if !strings.Contains(s.Serial, want) {
			t.Errorf("serial section %q lacks %q", s.Serial, want)
		}
	}

	// The backlog drains to half: the bar follows, with an estimate.
	backlog.Store(500)
	s = waitPage("the drain progress", func(s section) bool { return len(s.Bars) == 2 && s.Bars[0] == "50%" })
	if !strings.Contains(s.Bridges[0], "drained 50% of 1000, about 5s left") {
		t.Errorf("cloud row while draining: %q", s.Bridges[0])
	}
	if dir := os.Getenv("EDGEMQ_ARTIFACTS"); dir != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "status-bridges-serial-360px.png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", path)
	}
	backlog.Store(0)
	s = waitPage("the empty backlog", func(s section) bool { return strings.Contains(s.Bridges[0], "backlog empty") })
	if s.Bars[0] != "100%" || s.Scroll {
		t.Errorf("bar %q, horizontal scroll %v", s.Bars[0], s.Scroll)
	}
}
