package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgemq/edgemq/broker/packet"
)

// chromiumPath is Debian's chromium, installed by scripts/test-deps.sh.
const chromiumPath = "/usr/bin/chromium"

// artifactDir returns where the test keeps its screenshots: under
// $EDGEMQ_ARTIFACTS when set (kept), else a temporary directory removed
// only when the test passes. The test prints it.
func artifactDir(t *testing.T) string {
	t.Helper()
	var dir string
	if root := os.Getenv("EDGEMQ_ARTIFACTS"); root != "" {
		dir = filepath.Join(root, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		d, err := os.MkdirTemp("", "edgemq-"+t.Name()+"-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
		t.Cleanup(func() {
			if !t.Failed() {
				os.RemoveAll(dir)
			}
		})
	}
	t.Logf("artifacts (screenshots) in %s", dir)
	return dir
}

// pageState is what the status page shows, read from its DOM.
type pageState struct {
	Clients     string   `json:"clients"`
	RateIn      string   `json:"rateIn"`
	RateOut     string   `json:"rateOut"`
	Ready       string   `json:"ready"`
	Warnings    []string `json:"warnings"`
	Bridges     string   `json:"bridges"`
	Serial      string   `json:"serial"`
	Listeners   string   `json:"listeners"`
	Storage     string   `json:"storage"`
	SparkPoints int      `json:"sparkPoints"`
	ScrollWidth int      `json:"scrollWidth"`
	InnerWidth  int      `json:"innerWidth"`
	Injected    bool     `json:"injected"`
	FetchError  string   `json:"fetchError"`
}

const readPage = `(() => {
  const t = id => document.getElementById(id).textContent.trim();
  const pts = document.querySelector("#spark-in polyline").getAttribute("points").trim();
  return {
    clients: t("clients"), rateIn: t("rate-in"), rateOut: t("rate-out"), ready: t("ready"),
    warnings: [...document.querySelectorAll("#warnings li")].map(li => li.textContent),
    bridges: t("bridges"), serial: t("serial"), listeners: t("listeners"), storage: t("storage"),
    sparkPoints: pts ? pts.split(" ").length : 0,
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    injected: document.getElementById("pwn") !== null,
    fetchError: t("fetch-error"),
  };
})()`

// TestStatusPageInBrowser loads the status page of a running edgemq in
// headless Chromium while a load runs and a bridge's upstream is down, and
// checks what the page shows after live updates: clients, message rates
// and their sparkline, recent warnings (including a client id with HTML in
// it, shown as text), the bridge down with its backlog growing, listeners
// and storage, "none configured" for serial ports, and no horizontal
// scrolling at 360 px. Screenshots at 360 px and 1024 px are kept as
// artifacts.
func TestStatusPageInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("this test needs Debian's chromium at %s (scripts/test-deps.sh installs it): %v", chromiumPath, err)
	}
	bin := buildEdgemq(t)
	dir := t.TempDir()
	addr, haddr := freePort(t), freePort(t)
	down := freePort(t) // nothing listens there: the upstream is down
	cfg := writeFile(t, dir, "edgemq.yaml", fmt.Sprintf(`
data_dir: %s/data
listeners:
  - {name: lan, type: tcp, address: "%s"}
auth: {allow_anonymous: true}
http: {address: "%s"}
bridges:
  - name: cloud
    address: tcp://%s
    client_id: gw-status-test
    topics: [{pattern: "load/#", direction: out, qos: 1}]
    backoff: {min: 1s, max: 2s}
log: {level: info}
`, dir, addr, haddr, down))
	p := startEdgemq(t, bin, cfg, addr)
	base := "http://" + haddr
	waitHTTP(t, p, base+"/healthz")

	startLoad(t, addr, 200) // 1 publisher, 2 subscribers: 200 in/s, 400 out/s
	// Two warnings: a refused CONNECT, and one whose client id is HTML.
	c := rawDial(t, addr)
	cp := packet.Connect{Version: packet.V311, ProtocolName: []byte("MQTT"), KeepAlive: 30}
	c.Write(cp.Append(nil, packet.V311))
	readPacket(t, c)
	c = rawDial(t, addr)
	cp = packet.Connect{Version: packet.V311, ProtocolName: []byte("MQTT"), KeepAlive: 65535, CleanStart: true,
		ClientID: []byte(`<img id="pwn" src="x">`)}
	c.Write(cp.Append(nil, packet.V311))
	readPacket(t, c)

	artifacts := artifactDir(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // root in a container
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first call starts the browser, which lives as long as bctx: no
	// timeout on it; later calls are bounded.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(360, 740), chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	var st pageState
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		if st, err = chromedp.Run(ctx, chromedp.Evaluate[pageState](readPage)); err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		rin, _ := strconv.ParseFloat(st.RateIn, 64)
		rout, _ := strconv.ParseFloat(st.RateOut, 64)
		// Several polls: the sparkline has a few points.
		if st.Clients == "3" && rin >= 50 && rout >= 100 && st.SparkPoints >= 3 && len(st.Warnings) >= 2 &&
			strings.Contains(st.Bridges, "down") && strings.Contains(st.Bridges, "oldest") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not show the live state in time: %+v", st)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("page at 360 px: %+v", st)

	rin, _ := strconv.ParseFloat(st.RateIn, 64)
	rout, _ := strconv.ParseFloat(st.RateOut, 64)
	if rin < 50 || rin > 1000 || rout < 100 || rout > 2000 {
		t.Errorf("rates in %v out %v /s; the load is 200 in, 400 out", rin, rout)
	}
	if st.Ready != "ready" {
		t.Errorf("ready badge %q", st.Ready)
	}
	joined := strings.Join(st.Warnings, "\n")
	for _, want := range []string{"connection refused", "empty client id without clean session", `client="<img id=`, "keep alive above max_keepalive"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings list lacks %q:\n%s", want, joined)
		}
	}
	if st.Injected {
		t.Error("a client id was rendered as HTML: the page must use textContent")
	}
	// The bridge: down, with the reason, and a backlog that grows (the load
	// matches its rule) shown with the queue bar.
	for _, want := range []string{"cloud", "down", "msgs", "oldest", "queue", "full"} {
		if !strings.Contains(st.Bridges, want) {
			t.Errorf("bridges section %q lacks %q", st.Bridges, want)
		}
	}
	if st.Serial != "none configured" {
		t.Errorf("serial %q; want none configured", st.Serial)
	}
	if !strings.Contains(st.Listeners, "lan") || !strings.Contains(st.Listeners, "clients 3") {
		t.Errorf("listeners section %q", st.Listeners)
	}
	if !strings.Contains(st.Storage, "writable") {
		t.Errorf("storage section %q", st.Storage)
	}
	if st.ScrollWidth > st.InnerWidth {
		t.Errorf("horizontal scroll at 360 px: content %d px wide in a %d px window", st.ScrollWidth, st.InnerWidth)
	}
	if st.FetchError != "" {
		t.Errorf("the page reports %q", st.FetchError)
	}

	for _, w := range []int64{360, 1024} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, 740), chromedp.Sleep(1200*time.Millisecond)); err != nil {
			t.Fatalf("viewport %d: %v", w, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := filepath.Join(artifacts, fmt.Sprintf("status-%dpx.png", w))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s (%d bytes)", path, len(png))
	}
	p.stop(t)
}
