package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"golang.org/x/crypto/bcrypt"

	"github.com/edgemq/edgemq/auth"
	"github.com/edgemq/edgemq/internal/testpki"
)

// inbox collects what a paho client receives, as "topic payload".
type inbox struct {
	mu   sync.Mutex
	msgs []string
}

func (b *inbox) handler(_ mqtt.Client, m mqtt.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m.Topic()+" "+string(m.Payload()))
	b.mu.Unlock()
}

func (b *inbox) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

// expect waits for want, then checks that nothing else arrived.
func (b *inbox) expect(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(b.all()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond)
	if got := b.all(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("received %q, want %q", got, want)
	}
}

func pahoClient(t *testing.T, url, id, user, password string, tc *tls.Config) (mqtt.Client, error) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(password).
		SetTLSConfig(tc).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(3 * time.Second).
		SetProtocolVersion(4)
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if c.IsConnected() {
			c.Disconnect(50)
		}
	})
	return c, nil
}

func mustPaho(t *testing.T, url, id, user, password string, tc *tls.Config) mqtt.Client {
	t.Helper()
	c, err := pahoClient(t, url, id, user, password, tc)
	if err != nil {
		t.Fatalf("connect %s as %q to %s: %v", id, user, url, err)
	}
	return c
}

func waitTok(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho: %v", tok.Error())
	}
}

// needTool fails the test, rather than skipping it, when a program the
// test runs is missing.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test and is not installed: apt-get install %s (or run scripts/test-deps.sh)", name, pkg)
	}
	return path
}

// TestSecureListeners runs the real binary with tcp, tls, mutual TLS, ws
// and wss listeners, a password file and an ACL, and talks to it with
// mosquitto_pub over TLS and with paho over every listener.
func TestSecureListeners(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	mosquittoPub := needTool(t, "mosquitto_pub", "mosquitto-clients")
	bin := buildEdgemq(t)
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	srv := ca.Server(t, "server")
	sensor := ca.Client(t, "sensor", "sensor-1")
	pw := filepath.Join(dir, "passwd")
	for _, u := range [][2]string{{"alice", "alice-pass"}, {"dash", "dash-pass"}} {
		if _, err := auth.SetPassword(pw, u[0], []byte(u[1]), bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
	}
	acl := writeFile(t, dir, "acl", `user alice
topic readwrite #
user dash
topic read sensors/#
topic write dash/#
user sensor-1
topic write sensors/sensor-1/#
`)
	cfg := writeFile(t, dir, "edgemq.yaml", fmt.Sprintf(`data_dir: ""
listeners:
  - {name: plain, type: tcp, address: "127.0.0.1:0"}
  - {name: secure, type: tls, address: "127.0.0.1:0", cert_file: %[1]q, key_file: %[2]q}
  - {name: mtls, type: tls, address: "127.0.0.1:0", cert_file: %[1]q, key_file: %[2]q, client_ca_file: %[3]q, username_from_cn: true}
  - {name: web, type: ws, address: "127.0.0.1:0"}
  - {name: websecure, type: wss, address: "127.0.0.1:0", path: /ws, cert_file: %[1]q, key_file: %[2]q}
auth:
  allow_anonymous: false
  password_file: %[4]q
  acl_file: %[5]q
log: {level: debug}
`, srv.CertFile, srv.KeyFile, ca.File, pw, acl))
	p := runEdgemq(t, bin, cfg, "plain", "secure", "mtls", "web", "websecure")

	var got inbox
	sub := mustPaho(t, "tcp://"+p.addr("plain"), "sub", "alice", "alice-pass", nil)
	waitTok(t, sub.Subscribe("#", 1, got.handler))

	// mosquitto_pub over TLS, verifying the server against the CA.
	out, err := exec.Command(mosquittoPub, "-h", "localhost", "-p", p.port("secure"), "--cafile", ca.File,
		"-u", "alice", "-P", "alice-pass", "-i", "mosq-tls", "-q", "1", "-t", "tls/mosquitto", "-m", "over TLS").CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub --cafile: %v\n%s", err, out)
	}
	// mosquitto_pub with a client certificate: its username is sensor-1.
	out, err = exec.Command(mosquittoPub, "-h", "localhost", "-p", p.port("mtls"), "--cafile", ca.File,
		"--cert", sensor.CertFile, "--key", sensor.KeyFile, "-i", "mosq-mtls", "-q", "1",
		"-t", "sensors/sensor-1/temp", "-m", "21.5").CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub --cert: %v\n%s", err, out)
	}
	// Without a client certificate the mutual TLS listener refuses.
	out, err = exec.Command(mosquittoPub, "-h", "localhost", "-p", p.port("mtls"), "--cafile", ca.File,
		"-u", "alice", "-P", "alice-pass", "-i", "mosq-nocert", "-t", "x", "-m", "x").CombinedOutput()
	if err == nil {
		t.Fatalf("mosquitto_pub without a certificate got through to the mtls listener:\n%s", out)
	}
	// Wrong password: mosquitto_pub reports "not authorised".
	out, err = exec.Command(mosquittoPub, "-h", "localhost", "-p", p.port("secure"), "--cafile", ca.File,
		"-u", "alice", "-P", "wr0ng-Guess", "-i", "mosq-bad", "-t", "x", "-m", "x").CombinedOutput()
	if err == nil || !strings.Contains(strings.ToLower(string(out)), "not authori") {
		t.Fatalf("mosquitto_pub with a wrong password: %v\n%s", err, out)
	}

	// paho over ws and wss; dash may publish under dash/ only.
	tc := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	ws := mustPaho(t, "ws://"+p.addr("web")+"/mqtt", "ws", "dash", "dash-pass", nil)
	waitTok(t, ws.Publish("dash/ws", 1, false, "over ws"))
	waitTok(t, ws.Publish("alice/forged", 1, false, "refused by the ACL"))
	wss := mustPaho(t, "wss://"+p.addr("websecure")+"/ws", "wss", "dash", "dash-pass", tc)
	var dash inbox
	waitTok(t, wss.Subscribe("sensors/#", 1, dash.handler))
	waitTok(t, wss.Publish("dash/wss", 1, false, "over wss"))
	waitTok(t, sub.Publish("sensors/x", 1, false, "from tcp"))

	got.expect(t, "tls/mosquitto over TLS", "sensors/sensor-1/temp 21.5", "dash/ws over ws", "dash/wss over wss", "sensors/x from tcp")
	dash.expect(t, "sensors/x from tcp")
	if _, err := pahoClient(t, "ws://"+p.addr("web")+"/mqtt", "anon", "", "", nil); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Fatalf("anonymous client with allow_anonymous false: %v", err)
	}
	p.waitLog(`msg="authentication failed" client=mosq-bad username=alice remote=127.0.0.1 listener=secure reason="wrong password"`)
	for _, secret := range []string{"wr0ng-Guess", "alice-pass", "dash-pass"} {
		if strings.Contains(p.logString(), secret) {
			t.Fatalf("the log holds a password (%s)", secret)
		}
	}
}

// TestSIGHUPReload changes a password and the ACL and sends SIGHUP to a
// real edgemq process while a client stays connected: the client keeps its
// connection, its deliveries follow the new ACL, new logins the new
// password; a broken file on a later SIGHUP is reported with its line and
// the rules in force stay.
func TestSIGHUPReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildEdgemq(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	for _, u := range [][2]string{{"alice", "old-pass"}, {"pub", "pub-pass"}} {
		if _, err := auth.SetPassword(pw, u[0], []byte(u[1]), bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
	}
	acl := writeFile(t, dir, "acl", "user alice\ntopic read a/#\ntopic read b/#\nuser pub\ntopic write #\n")
	cfg := writeFile(t, dir, "edgemq.yaml", fmt.Sprintf(`data_dir: ""
listeners: [{name: plain, type: tcp, address: "127.0.0.1:0"}]
auth: {allow_anonymous: false, password_file: %q, acl_file: %q}
`, pw, acl))
	p := runEdgemq(t, bin, cfg, "plain")
	url := "tcp://" + p.addr("plain")

	var got inbox
	alice := mustPaho(t, url, "alice", "alice", "old-pass", nil)
	waitTok(t, alice.Subscribe("a/#", 1, got.handler))
	waitTok(t, alice.Subscribe("b/#", 1, got.handler))
	pub := mustPaho(t, url, "pub", "pub", "pub-pass", nil)
	waitTok(t, pub.Publish("a/1", 1, false, "before"))
	got.expect(t, "a/1 before")

	// New password for alice; alice may read b/# only.
	if _, err := auth.SetPassword(pw, "alice", []byte("new-pass"), bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(acl, []byte("user alice\ntopic read b/#\nuser pub\ntopic write #\n"), 0o600)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(`msg="reload done" steps=3 failed=0`) // password file, ACL file, bridges

	if !alice.IsConnected() {
		t.Fatal("alice was disconnected by the reload")
	}
	waitTok(t, pub.Publish("a/2", 1, false, "after"))
	waitTok(t, pub.Publish("b/1", 1, false, "after"))
	got.expect(t, "a/1 before", "b/1 after")
	if _, err := pahoClient(t, url, "alice2", "alice", "old-pass", nil); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Fatalf("old password after SIGHUP: %v", err)
	}
	mustPaho(t, url, "alice3", "alice", "new-pass", nil)

	// A broken ACL: reported with its line; the rules in force stay.
	os.WriteFile(acl, []byte("user alice\ntopic read a/#\ntopic raed b/#\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(acl + `:3: unknown access \"raed\"`)
	p.waitLog(`msg="reload done" steps=3 failed=1`)
	waitTok(t, pub.Publish("a/3", 1, false, "still refused"))
	waitTok(t, pub.Publish("b/2", 1, false, "still allowed"))
	got.expect(t, "a/1 before", "b/1 after", "b/2 still allowed")
	if !alice.IsConnected() || !pub.IsConnected() {
		t.Fatal("a client was disconnected")
	}
}

// TestCheckSecurityFiles: edgemq check parses the certificate, key, CA,
// password and ACL files and names the config key and line (and the line
// in the file) of each problem; the good ones (listeners[2]) pass.
func TestCheckSecurityFiles(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	a := ca.Server(t, "a")
	b := ca.Server(t, "b")
	garbage := writeFile(t, dir, "garbage.pem", "not PEM\n")
	pw := writeFile(t, dir, "passwd", "# users\nalice\n")
	acl := writeFile(t, dir, "acl", "topic read a/#\nuser\n")
	cfg := writeFile(t, dir, "edgemq.yaml", fmt.Sprintf(`listeners:
  - type: tls
    address: "127.0.0.1:8883"
    cert_file: %[1]q
    key_file: %[2]q
  - type: wss
    address: "127.0.0.1:8443"
    cert_file: %[3]q
    key_file: %[4]q
    client_ca_file: %[3]q
  - {type: tls, address: "127.0.0.1:8884", cert_file: %[1]q, key_file: %[5]q, client_ca_file: %[6]q}
auth:
  password_file: %[7]q
  acl_file: %[8]q
`, a.CertFile, b.KeyFile, garbage, a.KeyFile, a.KeyFile, ca.File, pw, acl))
	var stdout, stderr bytes.Buffer
	if code := cmdCheck([]string{"-c", cfg}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	want := []string{
		cfg + `:5:5: listeners[0].key_file: "` + b.KeyFile + `": tls: private key does not match public key (certificate ` + a.CertFile + `)`,
		cfg + `:8:5: listeners[1].cert_file: "` + garbage + `": no PEM CERTIFICATE block in the file`,
		cfg + `:10:5: listeners[1].client_ca_file: "` + garbage + `": no PEM CERTIFICATE block in the file`,
		cfg + `:13:3: auth.password_file: ` + pw + `:2: not a user:hash line`,
		cfg + `:14:3: auth.acl_file: ` + acl + `:2: user without a name`,
	}
	if got := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("check output:\n%s\nwant:\n%s", stderr.String(), strings.Join(want, "\n"))
	}
}

// TestPasswdCommand: edgemq passwd reads a password from a pipe, creates
// the file 0600, replaces a user and keeps the others; on a terminal it
// prompts twice without echo.
func TestPasswdCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildEdgemq(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "passwd")
	run := func(stdin string, args ...string) (string, string, int) {
		cmd := exec.Command(bin, append([]string{"passwd"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), errOut.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), 0
	}
	if out, errOut, code := run("s3cret pass\n", "-cost", "5", file, "alice"); code != 0 || out != file+": user \"alice\" added (a running edgemq reloads the file on SIGHUP)\n" {
		t.Fatalf("passwd alice: %d %q %q", code, out, errOut)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
	if _, _, code := run("bob-pass", file, "bob"); code != 0 { // no newline at the end
		t.Fatalf("passwd bob: %d", code)
	}
	if out, _, code := run("new pass\r\n", file, "alice"); code != 0 || !strings.Contains(out, "updated") {
		t.Fatalf("passwd alice again: %d %q", code, out)
	}
	verify := func(user, password string) bool {
		a, err := auth.NewAuthenticator(auth.Options{PasswordFile: file})
		if err != nil {
			t.Fatal(err)
		}
		return a.Verify(user, []byte(password))
	}
	if !verify("alice", "new pass") || verify("alice", "s3cret pass") || !verify("bob", "bob-pass") {
		t.Fatal("the password file does not hold the passwords set")
	}
	data, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(data), "alice:$2a$") || !strings.Contains(string(data), "\nbob:$2a$08$") {
		t.Fatalf("password file:\n%s", data)
	}

	for _, tt := range []struct {
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"", []string{file, "carol"}, 1, "edgemq: no password on standard input\n"},
		{"\n", []string{file, "carol"}, 1, "edgemq: " + file + ": empty password\n"},
		{"x\n", []string{file, "a:b"}, 1, "edgemq: user name \"a:b\" contains ':', a newline or NUL\n"},
		{"x\n", []string{file}, 2, "edgemq: passwd needs FILE and USER\n"},
		{"x\n", []string{"-cost", "99", file, "c"}, 2, "edgemq: -cost must be from 4 to 31\n"},
	} {
		if _, errOut, code := run(tt.stdin, tt.args...); code != tt.code || !strings.HasPrefix(errOut, tt.msg) {
			t.Errorf("passwd %v with stdin %q: exit %d %q, want %d %q", tt.args, tt.stdin, code, errOut, tt.code, tt.msg)
		}
	}

	t.Run("terminal", func(t *testing.T) {
		script := needTool(t, "script", "bsdutils")
		tty := func(first, second string) (string, error) {
			cmd := exec.Command(script, "-qec", bin+" passwd -cost 4 "+file+" dave", "/dev/null")
			in, _ := cmd.StdinPipe()
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Type each line only once the prompt is there, so that the
			// terminal has echo off.
			waitOut := func(s string) {
				deadline := time.Now().Add(10 * time.Second)
				for !strings.Contains(out.String(), s) {
					if time.Now().After(deadline) {
						t.Fatalf("no %q from edgemq passwd on a terminal; got %q", s, out.String())
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			waitOut("Password: ")
			io.WriteString(in, first+"\r")
			waitOut("Reenter password: ")
			io.WriteString(in, second+"\r")
			err := cmd.Wait()
			return out.String(), err
		}
		out, err := tty("tty-pass", "tty-pass")
		if err != nil {
			t.Fatalf("passwd on a terminal: %v\n%s", err, out)
		}
		if strings.Contains(out, "tty-pass") {
			t.Fatalf("the password was echoed:\n%s", out)
		}
		if !verify("dave", "tty-pass") {
			t.Fatal("dave's password was not set")
		}
		out, err = tty("one", "two")
		if err == nil || !strings.Contains(out, "the passwords do not match") {
			t.Fatalf("mismatched passwords on a terminal: %v\n%s", err, out)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for a writer and a polling reader.
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

// TestReloaderSteps: every step runs even when one fails, and the result
// of each is logged.
func TestReloaderSteps(t *testing.T) {
	var buf syncBuffer
	r := newReloader(slog.New(slog.NewTextHandler(&buf, nil)))
	var ran []string
	r.add("first", func() error { ran = append(ran, "first"); return errors.New("bad line 3") })
	r.add("second", func() error { ran = append(ran, "second"); return nil })
	if failed := r.reloadAll(); failed != 1 || strings.Join(ran, ",") != "first,second" {
		t.Fatalf("failed %d, ran %v", failed, ran)
	}
	log := buf.String()
	for _, s := range []string{`msg="reload failed; keeping the previous state" what=first err="bad line 3"`,
		`msg=reloaded what=second`, `msg="reload done" steps=2 failed=1`} {
		if !strings.Contains(log, s) {
			t.Errorf("log lacks %s:\n%s", s, log)
		}
	}

	// A real SIGHUP to this process runs the steps while watch runs.
	done := make(chan struct{}, 1)
	r2 := newReloader(slog.New(slog.DiscardHandler))
	r2.add("signal", func() error { done <- struct{}{}; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	stop := r2.watch(ctx)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP did not run the reload step")
	}
	cancel()
	stop()
}
