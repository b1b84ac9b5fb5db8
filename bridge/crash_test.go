package bridge

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// buildEdgemq builds the edgemq binary into a temp dir.
func buildEdgemq(t testing.TB) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(t.TempDir(), "edgemq")
	cmd := exec.Command(gobin, "build", "-o", bin, "github.com/edgemq/edgemq/cmd/edgemq")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// edgemqProc is an edgemq process.
type edgemqProc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startEdgemq(t testing.TB, bin, conf, addr string) *edgemqProc {
	t.Helper()
	p := &edgemqProc{cmd: exec.Command(bin, "-c", conf), out: &syncBuffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	waitListening(t, addr, p.out)
	return p
}

// TestCrash: edgemq runs as a real process with a bridge whose upstream is
// down; QoS 1 messages are published and the acknowledged ones recorded;
// edgemq is killed with SIGKILL in the middle of the stream, restarted,
// and the upstream started: every acknowledged message reaches it.
func TestCrash(t *testing.T) {
	bin := buildEdgemq(t)
	up := newMosquitto(t, nil)
	dir := t.TempDir()
	addr := freePort(t)
	conf := filepath.Join(dir, "edgemq.yaml")
	yaml := fmt.Sprintf(`data_dir: %s/data
storage: {sync: batch}
listeners:
  - {type: tcp, address: "%s"}
bridges:
  - name: up
    address: tcp://%s
    client_id: crash-edge
    keepalive: 5s
    backoff: {min: 50ms, max: 300ms}
    topics:
      - {pattern: "crash/#", direction: out, qos: 1, remote_prefix: "gw/"}
`, dir, addr, up.addr)
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startEdgemq(t, bin, conf, addr)

	// Publish until killed, recording what was acknowledged.
	var mu sync.Mutex
	acked := make(map[string]bool)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("crash-pub").
		SetCleanSession(true).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var window []mqtt.Token
		var ids []string
		settle := func() bool {
			tok, id := window[0], ids[0]
			window, ids = window[1:], ids[1:]
			if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
				mu.Lock()
				acked[id] = true
				mu.Unlock()
				return true
			}
			return false
		}
		for i := 0; i < 100_000; i++ {
			id := fmt.Sprintf("c-%d", i)
			window = append(window, c.Publish("crash/m", 1, false, id))
			ids = append(ids, id)
			if len(window) >= 100 && !settle() {
				break
			}
		}
		for len(window) > 0 {
			settle()
		}
	}()
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 3000 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	<-done
	c.Disconnect(0)
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	t.Logf("killed edgemq with SIGKILL after %d acknowledged publishes", n)

	up.start()
	sk := newSink(t, up.addr, "crash-sink", "gw/#", 1)
	p = startEdgemq(t, bin, conf, addr)
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := 0
		sk.mu.Lock()
		for id := range acked {
			if sk.seen[id] == 0 {
				missing++
			}
		}
		sk.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged messages never reached the upstream\nedgemq log:\n%s", missing, n, tail(p.out.String(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	unique, dups := sk.counts()
	sk.mu.Lock()
	checkOrder(t, sk.firsts)
	sk.mu.Unlock()
	t.Logf("all %d acknowledged messages arrived upstream (%d distinct, %d duplicates)", n, unique, dups)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("edgemq exit after SIGTERM: %v\n%s", err, tail(p.out.String(), 3000))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := strings.IndexByte(s[len(s)-n:], '\n')
	return s[len(s)-n+i+1:]
}

// TestBinaryReloadAndMetrics: in the real binary, SIGHUP moves a bridge to
// a new upstream without dropping local clients, and /metrics and the
// status page show the bridges.
func TestBinaryReloadAndMetrics(t *testing.T) {
	bin := buildEdgemq(t)
	a, b := newMosquitto(t, nil), newMosquitto(t, nil)
	a.start()
	b.start()
	sa := newSink(t, a.addr, "sink", "#", 1)
	sb := newSink(t, b.addr, "sink", "#", 1)
	dir := t.TempDir()
	addr, httpAddr := freePort(t), freePort(t)
	conf := filepath.Join(dir, "edgemq.yaml")
	write := func(upstream string) {
		yaml := fmt.Sprintf(`data_dir: %s/data
listeners:
  - {type: tcp, address: "%s"}
http: {address: "%s"}
bridges:
  - name: up
    address: tcp://%s
    client_id: reload-edge
    backoff: {min: 50ms, max: 300ms}
    topics:
      - {pattern: "r/#", direction: out, qos: 1}
`, dir, addr, httpAddr, upstream)
		if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(a.addr)
	p := startEdgemq(t, bin, conf, addr)
	c := client(t, addr, "pub") // stays connected across the reload
	publishSeq(t, c, "r/x", "a", 1, 0, 10, 10, nil)
	sa.waitUnique(t, 10, 10*time.Second)

	write(b.addr)
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.out.String(), "bridge configuration changed") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload in the log:\n%s", p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	publishSeq(t, c, "r/x", "b", 1, 0, 10, 10, nil)
	sb.waitUnique(t, 10, 10*time.Second)
	if !c.IsConnectionOpen() {
		t.Fatal("the local client was dropped by the reload")
	}

	for _, want := range []string{`edgemq_bridge_up{bridge="up"} 1`, `edgemq_bridge_messages_acked_total{bridge="up"} 20`,
		`edgemq_bridge_backlog_messages{bridge="up"} 0`, `edgemq_bridge_messages_dropped_total{bridge="up",reason="overflow"} 0`} {
		deadline := time.Now().Add(5 * time.Second)
		for metrics := ""; !strings.Contains(metrics, want); {
			if time.Now().After(deadline) {
				t.Fatalf("/metrics lacks %s:\n%s", want, metrics)
			}
			metrics = httpGet(t, "http://"+httpAddr+"/metrics")
		}
	}
	if status := httpGet(t, "http://"+httpAddr+"/api/status"); !strings.Contains(status, `"name":"up"`) {
		t.Errorf("the status page does not show the bridge: %s", status)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	var body []byte
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == 200 {
				return string(body)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v %s", url, err, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
