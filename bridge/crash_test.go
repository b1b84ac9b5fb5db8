package bridge

import (
	"fmt"
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
