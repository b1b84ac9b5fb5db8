package auth_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/edgemq/edgemq/auth"
	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/internal/testpki"
	"github.com/edgemq/edgemq/transport"
)

// passwordFile writes a password file with user:password pairs.
func passwordFile(t *testing.T, pairs ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "passwd")
	for i := 0; i < len(pairs); i += 2 {
		if _, err := auth.SetPassword(path, pairs[i], []byte(pairs[i+1]), testCost); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func newAuth(t *testing.T, o auth.Options) *auth.Authenticator {
	t.Helper()
	a, err := auth.NewAuthenticator(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAuthenticate: good, bad and missing credentials with real 3.1.1 and
// 5.0 clients, the reason codes they get, and the log (which must never
// hold a password).
func TestAuthenticate(t *testing.T) {
	pw := passwordFile(t, "alice", "alice-pass", "bob", "bob-pass")
	e := logEnv(t)
	a := newAuth(t, auth.Options{PasswordFile: pw, Logger: e.log})
	e.start(broker.Options{Auth: a})

	if _, err := e.v3("a3", "alice", "alice-pass", ""); err != nil {
		t.Fatalf("3.1.1 good credentials: %v", err)
	}
	if code, _ := e.v5("a5", "alice", "alice-pass"); code != 0 {
		t.Fatalf("5.0 good credentials: CONNACK 0x%02x", code)
	}
	tests := []struct {
		name, user, password string
		v3                   error
		v5                   packet.ReasonCode
		log                  string
	}{
		{"wrong password", "alice", "guess-1", packets.ErrorRefusedNotAuthorised, packet.BadUsernameOrPassword, `reason="wrong password"`},
		{"unknown user", "mallory", "guess-2", packets.ErrorRefusedNotAuthorised, packet.BadUsernameOrPassword, `reason="unknown user"`},
		{"no password", "bob", "", packets.ErrorRefusedNotAuthorised, packet.BadUsernameOrPassword, `reason="no password"`},
		{"no credentials", "", "", packets.ErrorRefusedNotAuthorised, packet.NotAuthorized, `reason="no username, and allow_anonymous is false"`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.v3(fmt.Sprint("c3-", i), tt.user, tt.password, ""); !errors.Is(err, tt.v3) {
				t.Fatalf("3.1.1: %v, want %v", err, tt.v3)
			}
			if code, _ := e.v5(fmt.Sprint("c5-", i), tt.user, tt.password); code != byte(tt.v5) {
				t.Fatalf("5.0: CONNACK 0x%02x, want 0x%02x", code, byte(tt.v5))
			}
			if !strings.Contains(e.logs.String(), tt.log) {
				t.Fatalf("log lacks %s", tt.log)
			}
		})
	}
	if st := a.Stats(); st.Failures != 8 {
		t.Fatalf("Stats().Failures = %d, want 8", st.Failures)
	}
	logs := e.logs.String()
	for _, secret := range []string{"guess-1", "guess-2", "alice-pass", "bob-pass"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds a password (%s)", secret)
		}
	}
}

// TestAnonymous: allow_anonymous lets clients without a username in, but a
// username still needs its password when there is a password file; without
// a password file, any username is accepted, as in mosquitto.
func TestAnonymous(t *testing.T) {
	pw := passwordFile(t, "alice", "alice-pass")
	e := newEnv(t, broker.Options{Auth: newAuth(t, auth.Options{AllowAnonymous: true, PasswordFile: pw})})
	e.mustV3("anon", "", "")
	e.mustV3("alice", "alice", "alice-pass")
	if _, err := e.v3("fake", "alice", "nope", ""); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Fatalf("wrong password with allow_anonymous: %v", err)
	}
	e2 := newEnv(t, broker.Options{Auth: newAuth(t, auth.Options{AllowAnonymous: true})})
	e2.mustV3("any", "whoever", "whatever")
}

// TestFailLimit: after max_failures failed logins an address is refused
// (v5 0x9F, 3.1.1 0x05) even with the right password, until the window has
// passed; a flood of failures from it is refused cleanly while a client
// from another address keeps being served.
func TestFailLimit(t *testing.T) {
	pw := passwordFile(t, "alice", "alice-pass")
	const window = 2 * time.Second
	e := logEnv(t)
	a := newAuth(t, auth.Options{PasswordFile: pw, MaxFailures: 3, Window: window, Logger: e.log})
	e.start(broker.Options{Auth: a})

	// Another address, connected before the flood.
	other, err := e.v3("other", "alice", "alice-pass", "127.0.0.2")
	if err != nil {
		t.Fatalf("connect from 127.0.0.2: %v", err)
	}
	var in inbox
	wait(t, other.Subscribe("ping", 1, in.handler))

	start := time.Now()
	for i := range 3 {
		if code, _ := e.v5(fmt.Sprint("f", i), "alice", "wrong"); code != byte(packet.BadUsernameOrPassword) {
			t.Fatalf("failure %d: CONNACK 0x%02x", i, code)
		}
	}
	if code, _ := e.v5("limited5", "alice", "alice-pass"); code != byte(packet.ConnectionRateExceeded) {
		t.Fatalf("limited address, good password, 5.0: CONNACK 0x%02x, want 0x9F", code)
	}
	if _, err := e.v3("limited3", "alice", "alice-pass", ""); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Fatalf("limited address, 3.1.1: %v, want not authorised", err)
	}

	// A flood from the limited address, while the other client is served.
	var wg sync.WaitGroup
	codes := make(chan byte, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := e.v5(fmt.Sprint("flood", i), "alice", fmt.Sprint("guess", i))
			codes <- code
		}()
	}
	for i := range 20 {
		wait(t, other.Publish("ping", 1, false, fmt.Sprint(i)))
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != byte(packet.ConnectionRateExceeded) {
			t.Fatalf("flood login: CONNACK 0x%02x, want 0x9F", code)
		}
	}
	want := make([]string, 20)
	for i := range want {
		want[i] = fmt.Sprint("ping ", i)
	}
	in.expect(t, want...)
	if !other.IsConnected() {
		t.Fatal("the other client was dropped during the flood")
	}
	if st := a.Stats(); st.RateLimited != 42 || st.Failures != 3 || st.Tracked != 1 {
		t.Fatalf("Stats %+v, want 42 rate limited, 3 failures, 1 address", st)
	}
	// Once the window of the first failure has passed, the address may
	// try again.
	time.Sleep(time.Until(start.Add(window + 100*time.Millisecond)))
	e.mustV3("again", "alice", "alice-pass")
}

// TestUsernameFromCN: on a listener with username_from_cn, a client's
// username is the Common Name of its certificate, whatever it sends, and
// the ACL applies to that name.
func TestUsernameFromCN(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	srvPair := ca.Server(t, "server")
	sensor := ca.Client(t, "sensor", "sensor-1")
	acl := loadACL(t, "user sensor-1\ntopic readwrite sensors/sensor-1/#\n")
	a := newAuth(t, auth.Options{UsernameFromCN: []string{"mtls"}, PasswordFile: passwordFile(t, "alice", "alice-pass")})
	e := newEnv(t, broker.Options{Auth: a, ACL: acl})
	certs, err := transport.LoadCertificates(transport.TLSFiles{CertFile: srvPair.CertFile, KeyFile: srvPair.KeyFile, ClientCAFile: ca.File})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTLS("mtls", "127.0.0.1:0", certs, e.srv.ServeConn, e.log)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	tc := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{sensor.TLS}}
	o := mqtt.NewClientOptions().AddBroker("ssl://" + ln.Addr().String()).SetClientID("s1").SetTLSConfig(tc).
		SetAutoReconnect(false).SetConnectTimeout(3 * time.Second).SetProtocolVersion(4).
		SetUsername("alice").SetPassword("not-alice-pass")
	c, err := e.v3Opts(o)
	if err != nil {
		t.Fatalf("client with a certificate: %v", err)
	}
	var in inbox
	wait(t, c.Subscribe("sensors/#", 1, in.handler))
	wait(t, c.Publish("sensors/sensor-1/t", 1, false, "21.5"))
	wait(t, c.Publish("sensors/sensor-2/t", 1, false, "forged"))
	in.expect(t, "sensors/sensor-1/t 21.5")
	if !strings.Contains(e.logs.String(), `username=sensor-1`) {
		t.Fatal("the broker did not log the username from the certificate")
	}
	// The password listener-less clients still need theirs.
	if _, err := e.v3("plain", "alice", "not-alice-pass", ""); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Fatalf("tcp client with a wrong password: %v", err)
	}
}

// TestPasswordReload: Reload swaps the password file for new logins
// (including a password remembered from an earlier login); a bad file is
// reported and the old one stays; connected clients stay connected.
func TestPasswordReload(t *testing.T) {
	pw := passwordFile(t, "alice", "old-pass")
	a := newAuth(t, auth.Options{PasswordFile: pw})
	e := newEnv(t, broker.Options{Auth: a})
	first := e.mustV3("first", "alice", "old-pass")
	e.mustV3("second", "alice", "old-pass") // checked once more, from memory

	good, _ := os.ReadFile(pw)
	os.WriteFile(pw, append(good, []byte("bob\n")...), 0o600)
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), pw+":2: not a user:hash line") {
		t.Fatalf("Reload of a bad file: %v", err)
	}
	e.mustV3("third", "alice", "old-pass")

	os.WriteFile(pw, good, 0o600)
	if _, err := auth.SetPassword(pw, "alice", []byte("new-pass"), testCost); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.v3("fourth", "alice", "old-pass", ""); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Fatalf("old password after reload: %v", err)
	}
	e.mustV3("fifth", "alice", "new-pass")
	if !first.IsConnected() {
		t.Fatal("a client connected before the reload was dropped")
	}
	if !a.Verify("alice", []byte("new-pass")) || a.Verify("alice", []byte("old-pass")) || a.Verify("nobody", []byte("x")) {
		t.Fatal("Verify disagrees with the file")
	}
}

// TestAnonymousOn: with anonymous access off, clients without a username
// are admitted only on the listeners AnonymousOn names (the MQTT-SN
// gateway's, whose clients have no credentials).
func TestAnonymousOn(t *testing.T) {
	a := newAuth(t, auth.Options{PasswordFile: passwordFile(t, "alice", "pw"),
		AnonymousOn: func(l string) bool { return strings.HasPrefix(l, "mqttsn") }})
	for _, tc := range []struct {
		listener string
		ok       bool
	}{{"mqttsn-udp::1884", true}, {"mqttsn-serial:/dev/ttyUSB0", true}, {"tcp:0.0.0.0:1883", false}} {
		err := a.Authenticate(&broker.ClientInfo{ClientID: "c", Listener: tc.listener}, nil, false)
		if (err == nil) != tc.ok {
			t.Errorf("listener %s: err %v, want ok=%v", tc.listener, err, tc.ok)
		}
	}
}
