package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
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

	"github.com/edgemq/edgemq/broker/packet"
)

// httpGet fetches url and returns the status code and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// waitHTTP waits until url answers at all.
func waitHTTP(t *testing.T, p *proc, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer: %v\n%s", url, err, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("edgemq exited with %v\n%s", err, p.stderr)
		}
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("edgemq did not stop on SIGTERM\n%s", p.stderr)
	}
}

// TestSecretsStayOutOfTheLog runs edgemq at debug level, in text and JSON,
// connects clients with passwords (accepted, refused, and in a v5 will
// and user properties' neighbourhood), scrapes every endpoint, and greps
// the whole log and every HTTP body for the passwords.
func TestSecretsStayOutOfTheLog(t *testing.T) {
	bin := buildEdgemq(t)
	const secret = "Sup3r-s3cret-pw"
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			addr, haddr := freePort(t), freePort(t)
			cfg := writeFile(t, dir, "edgemq.yaml", fmt.Sprintf(`
data_dir: %s/data
listeners:
  - {type: tcp, address: "%s"}
auth: {allow_anonymous: true}
http: {address: "%s"}
log: {level: debug, format: %s}
`, dir, addr, haddr, format))
			p := startEdgemq(t, bin, cfg, addr)
			base := "http://" + haddr
			waitHTTP(t, p, base+"/healthz")

			// Accepted with a password (3.1.1 and 5.0).
			for _, v := range []packet.Version{packet.V311, packet.V5} {
				c := rawDial(t, addr)
				cp := packet.Connect{Version: v, ProtocolName: []byte("MQTT"), ClientID: []byte("pw-" + v.String()), CleanStart: true,
					KeepAlive: 30, Username: []byte("alice"), Password: []byte(secret), UsernameFlag: true, PasswordFlag: true}
				c.Write(cp.Append(nil, v))
				readPacket(t, c)
				c.Close()
			}
			// Refused (empty client id without clean session), with a password.
			c := rawDial(t, addr)
			cp := packet.Connect{Version: packet.V311, ProtocolName: []byte("MQTT"), KeepAlive: 30,
				Username: []byte("bob"), Password: []byte(secret), UsernameFlag: true, PasswordFlag: true}
			c.Write(cp.Append(nil, packet.V311))
			readPacket(t, c)
			c.Close()
			// A malformed CONNECT that carries the password: bad input is logged.
			c = rawDial(t, addr)
			bad := cp.Append(nil, packet.V311)
			bad[8] = 0xFF // protocol level 255
			c.Write(bad)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, c)
			c.Close()

			var bodies strings.Builder
			for _, path := range []string{"/", "/metrics", "/readyz", "/healthz", "/api/status"} {
				code, body := httpGet(t, base+path)
				if code != 200 {
					t.Errorf("%s: %d", path, code)
				}
				bodies.WriteString(body)
			}
			p.stop(t)
			log := p.stderr.String()
			if testing.Verbose() {
				t.Logf("edgemq log:\n%s", log)
			}
			if !strings.Contains(log, "alice") || !strings.Contains(log, "connection refused") {
				t.Fatalf("the log does not show the connections, so the grep proves nothing:\n%s", log)
			}
			if strings.Contains(log, secret) {
				t.Errorf("the password is in the log:\n%s", log)
			}
			if strings.Contains(bodies.String(), secret) {
				t.Errorf("the password is in an HTTP response")
			}
		})
	}
}

// rawDial connects to the broker without sending anything.
func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readPacket reads one packet (or the close) and ignores it.
func readPacket(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := packet.NewReader(c, 1<<16)
	r.Next()
}

// TestReadyzFollowsFullDisk runs edgemq with its data dir on a small
// tmpfs and fills the tmpfs: /readyz turns 503 naming the full disk, and
// back to 200 when the filler is removed. A full disk rather than a
// read-only one: the test runs as root, which chmod does not stop, and
// Linux refuses to remount read-only a mount with files open for writing
// (bolt's), so a read-only bind mount cannot be made under a running
// edgemq. bolt rather than badger: badger writes its memtable through
// mmap, and a full tmpfs turns that into SIGBUS.
func TestReadyzFollowsFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a tmpfs: run it as root (make test does)")
	}
	bin := buildEdgemq(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })

	addr, haddr := freePort(t), freePort(t)
	cfg := writeFile(t, dir, "edgemq.yaml", fmt.Sprintf(`
data_dir: %s/data
storage: {engine: bolt, sync: batch}
listeners:
  - {type: tcp, address: "%s"}
auth: {allow_anonymous: true}
http: {address: "%s"}
log: {level: info}
`, mnt, addr, haddr))
	p := startEdgemq(t, bin, cfg, addr)
	base := "http://" + haddr
	waitHTTP(t, p, base+"/readyz")
	readyz := func() (int, string) { return httpGet(t, base+"/readyz") }
	if code, body := readyz(); code != 200 {
		t.Fatalf("not ready at start: %d %s", code, body)
	}

	// Fill the tmpfs.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{0xAA}, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	waitReady(t, readyz, 503)
	_, body := readyz()
	var rd struct {
		Ready  bool
		Checks []struct{ Name, Error string }
	}
	if err := json.Unmarshal([]byte(body), &rd); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("data_dir %s/data is not writable: no space left on device", mnt)
	if rd.Ready || len(rd.Checks) != 2 || rd.Checks[1].Name != "storage" || rd.Checks[1].Error != want {
		t.Errorf("/readyz body %s\nwant the storage check to say %q", body, want)
	}
	// Liveness is not readiness: the process is alive.
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz with a full disk: %d", code)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitReady(t, readyz, 200)
	p.stop(t)
	if testing.Verbose() {
		t.Logf("edgemq log:\n%s", p.stderr)
	}
}

func waitReady(t *testing.T, readyz func() (int, string), want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := readyz()
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d, want %d: %s", code, want, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// load publishes QoS 0 messages to two subscribers until stop is closed.
type load struct {
	stop chan struct{}
	wg   sync.WaitGroup
	pub  mqtt.Client
	subs []mqtt.Client
}

func startLoad(t *testing.T, addr string, perSecond int) *load {
	t.Helper()
	l := &load{stop: make(chan struct{})}
	connect := func(id string) mqtt.Client {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
			SetAutoReconnect(false).SetProtocolVersion(4))
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("connect %s: %v", id, tok.Error())
		}
		return c
	}
	for i := range 2 {
		s := connect(fmt.Sprintf("load-sub-%d", i))
		if tok := s.Subscribe("load/#", 0, func(mqtt.Client, mqtt.Message) {}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		l.subs = append(l.subs, s)
	}
	l.pub = connect("load-pub")
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			case <-tick.C:
				l.pub.Publish(fmt.Sprintf("load/%d", i%8), 0, false, "payload")
			}
		}
	}()
	t.Cleanup(l.close)
	return l
}

func (l *load) close() {
	select {
	case <-l.stop:
		return
	default:
	}
	close(l.stop)
	l.wg.Wait()
	l.pub.Disconnect(50)
	for _, s := range l.subs {
		s.Disconnect(50)
	}
}
