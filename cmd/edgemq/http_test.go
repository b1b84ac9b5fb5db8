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
// with a password file, MQTT clients sending right and wrong passwords,
// and the HTTP server with basic auth asked with right and wrong
// passwords; then it greps the whole log and every HTTP body for the
// passwords. (Bridge passwords join when bridges are merged.)
func TestSecretsStayOutOfTheLog(t *testing.T) {
	bin := buildEdgemq(t)
	const secret, wrong = "Sup3r-s3cret-pw", "Wr0ng-guess-pw"
	dir := t.TempDir()
	pwfile := filepath.Join(dir, "passwd")
	cmd := exec.Command(bin, "passwd", "-cost", "4", pwfile, "alice")
	cmd.Stdin = strings.NewReader(secret + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("edgemq passwd: %v %s", err, out)
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			addr, haddr := freePort(t), freePort(t)
			cfg := writeFile(t, dir, "edgemq-"+format+".yaml", fmt.Sprintf(`
data_dir: %s/data-%s
listeners:
  - {type: tcp, address: "%s"}
auth: {allow_anonymous: false, password_file: "%s"}
http: {address: "%s", auth: true}
log: {level: debug, format: %s}
`, dir, format, addr, pwfile, haddr, format))
			p := startEdgemq(t, bin, cfg, addr)
			base := "http://" + haddr
			waitHTTP(t, p, base+"/healthz")

			// MQTT: the right password (3.1.1 and 5.0), a wrong one, and a
			// malformed CONNECT that carries the password.
			connect := func(v packet.Version, id, pw string) *packet.Connack {
				c := rawDial(t, addr)
				cp := packet.Connect{Version: v, ProtocolName: []byte("MQTT"), ClientID: []byte(id), CleanStart: true,
					KeepAlive: 30, Username: []byte("alice"), Password: []byte(pw), UsernameFlag: true, PasswordFlag: true}
				c.Write(cp.Append(nil, v))
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				h, body, err := packet.NewReader(c, 1<<16).Next()
				var ack packet.Connack
				if err != nil || h.Type != packet.CONNACK || ack.Decode(h, body, v) != nil {
					t.Fatalf("CONNACK for %s: %v %v", id, h.Type, err)
				}
				c.Close()
				return &ack
			}
			if a := connect(packet.V311, "ok-3", secret); a.Code != 0 {
				t.Errorf("right password refused: %v", a.Code)
			}
			if a := connect(packet.V5, "ok-5", secret); a.Code != 0 {
				t.Errorf("right password refused (v5): %v", a.Code)
			}
			if a := connect(packet.V311, "bad-3", wrong); a.Code == 0 {
				t.Errorf("wrong password accepted")
			}
			c := rawDial(t, addr)
			cp := packet.Connect{Version: packet.V311, ProtocolName: []byte("MQTT"), KeepAlive: 30, ClientID: []byte("x"),
				Username: []byte("alice"), Password: []byte(secret), UsernameFlag: true, PasswordFlag: true}
			bad := cp.Append(nil, packet.V311)
			bad[8] = 0xFF // protocol level 255
			c.Write(bad)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, c)
			c.Close()

			// HTTP: basic auth required, right and wrong passwords.
			var bodies strings.Builder
			client := http.Client{Timeout: 10 * time.Second}
			for _, path := range []string{"/", "/metrics", "/readyz", "/api/status"} {
				for _, pw := range []string{"", wrong, secret} {
					req, _ := http.NewRequest("GET", base+path, nil)
					if pw != "" {
						req.SetBasicAuth("alice", pw)
					}
					res, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					bodies.Write(b)
					if want := map[bool]int{true: 200, false: 401}[pw == secret]; res.StatusCode != want {
						t.Errorf("GET %s with password %q: %d, want %d", path, pw, res.StatusCode, want)
					}
				}
			}
			if code, body := httpGet(t, base+"/healthz"); code != 200 {
				t.Errorf("/healthz without credentials: %d %s", code, body)
			}
			p.stop(t)
			log := p.stderr.String()
			if testing.Verbose() {
				t.Logf("edgemq log:\n%s", log)
			}
			for _, want := range []string{"alice", "connection refused", "http: wrong username or password", "bad input", pwfile} {
				if !strings.Contains(log, want) {
					t.Fatalf("the log lacks %q, so the grep proves nothing:\n%s", want, log)
				}
			}
			for _, pw := range []string{secret, wrong} {
				if strings.Contains(log, pw) {
					t.Errorf("the password %q is in the log:\n%s", pw, log)
				}
				if strings.Contains(bodies.String(), pw) {
					t.Errorf("the password %q is in an HTTP response", pw)
				}
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
// tmpfs (8 MiB, above bolt's 2 MiB reserve) and fills the tmpfs: /readyz
// turns 503 naming the full disk, and
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
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
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
	// Either the readiness probe's own write fails first, or the store's
	// space check sees the free space under bolt's 2 MiB reserve (README,
	// "When the flash is full"); both name the cause.
	want := fmt.Sprintf("data_dir %s/data is not writable: no space left on device", mnt)
	const reserve = "below the reserve of 2.0 MiB kept for the bolt engine"
	if rd.Ready || len(rd.Checks) != 2 || rd.Checks[1].Name != "storage" ||
		(rd.Checks[1].Error != want && !strings.Contains(rd.Checks[1].Error, reserve)) {
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
