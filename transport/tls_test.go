package transport_test

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/internal/testpki"
	"github.com/edgemq/edgemq/transport"
)

func loadCerts(t *testing.T, f transport.TLSFiles) *transport.Certificates {
	t.Helper()
	c, err := transport.LoadCertificates(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTLSPaho: paho over TLS (server verified against the test CA) to a TLS
// subscriber and a plain TCP one, through the same broker.
func TestTLSPaho(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	srvPair := ca.Server(t, "server")
	e := newEnv(t, broker.Options{})
	certs := loadCerts(t, transport.TLSFiles{CertFile: srvPair.CertFile, KeyFile: srvPair.KeyFile})
	addr := e.listen(transport.ListenTLS("tls", "127.0.0.1:0", certs, e.srv.ServeConn, e.log))
	tcp := e.tcp()

	tc := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	sub := pahoConnect(t, pahoOptions("ssl://"+addr, "tls-sub", tc))
	pub := pahoConnect(t, pahoOptions("tcp://"+tcp, "tcp-pub", nil))
	roundTrip(t, pub, sub, "tls/in")
	roundTrip(t, sub, pub, "tls/out")

	// TLS 1.1 is refused.
	old := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if _, err := pahoTry(t, pahoOptions("ssl://"+addr, "old", old)); err == nil {
		t.Fatal("a TLS 1.1 client connected")
	}
	e.waitLog("TLS handshake failed")
}

// TestMutualTLS: with a client CA, a client without a certificate, or with
// one from another CA, is refused at the handshake; one with a good
// certificate connects and the broker sees it.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	other := testpki.NewCA(t, t.TempDir(), "other")
	srvPair := ca.Server(t, "server")
	good := ca.Client(t, "sensor", "sensor-1")
	stranger := other.Client(t, "stranger", "sensor-2")

	var mu sync.Mutex
	var cns []string
	e := newEnv(t, broker.Options{Auth: authFunc(func(c *broker.ClientInfo, _ []byte, _ bool) error {
		mu.Lock()
		defer mu.Unlock()
		if c.TLS == nil || len(c.TLS.PeerCertificates) == 0 {
			cns = append(cns, "<none>")
		} else {
			cns = append(cns, c.Listener+":"+c.TLS.PeerCertificates[0].Subject.CommonName)
		}
		return nil
	})})
	certs := loadCerts(t, transport.TLSFiles{CertFile: srvPair.CertFile, KeyFile: srvPair.KeyFile, ClientCAFile: ca.File})
	addr := e.listen(transport.ListenTLS("mtls", "127.0.0.1:0", certs, e.srv.ServeConn, e.log))

	base := tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	noCert := base.Clone()
	if _, err := pahoTry(t, pahoOptions("ssl://"+addr, "anon", noCert)); err == nil {
		t.Fatal("a client without a certificate connected")
	}
	bad := base.Clone()
	bad.Certificates = []tls.Certificate{stranger.TLS}
	if _, err := pahoTry(t, pahoOptions("ssl://"+addr, "stranger", bad)); err == nil {
		t.Fatal("a client with a certificate of another CA connected")
	}
	ok := base.Clone()
	ok.Certificates = []tls.Certificate{good.TLS}
	c := pahoConnect(t, pahoOptions("ssl://"+addr, "sensor", ok))
	roundTrip(t, c, c, "mtls/x")

	mu.Lock()
	defer mu.Unlock()
	if len(cns) != 1 || cns[0] != "mtls:sensor-1" {
		t.Fatalf("the broker authenticated %q, want only mtls:sensor-1", cns)
	}
	if !strings.Contains(e.logs.String(), "TLS handshake failed") {
		t.Fatal("refused handshakes were not logged")
	}
}

// TestTLSBadInput: garbage instead of a ClientHello, and a connection that
// never says anything, are each closed with a log line; meanwhile and
// afterwards another client is served.
func TestTLSBadInput(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	srvPair := ca.Server(t, "server")
	e := newEnv(t, broker.Options{})
	certs := loadCerts(t, transport.TLSFiles{CertFile: srvPair.CertFile, KeyFile: srvPair.KeyFile})
	addr := e.listen(transport.ListenTLS("tls", "127.0.0.1:0", certs, e.srv.ServeConn, e.log))

	// A silent connection holds its handshake open: it must not hold up
	// the accept loop.
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	garbage, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	// An MQTT CONNECT where a TLS record should be.
	garbage.Write([]byte("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00GARBAGEGARBAGE"))
	garbage.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for {
		_, err := garbage.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("garbage handshake: connection still open after 5s")
			}
			break
		}
	}
	e.waitLog("TLS handshake failed")
	e.waitLog("first record does not look like a TLS handshake")

	tc := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	start := time.Now()
	c := pahoConnect(t, pahoOptions("ssl://"+addr, "good", tc))
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("a good client waited %v behind a silent handshake", d)
	}
	roundTrip(t, c, c, "still/served")
}

// TestTLSReload: Reload swaps the server certificate and the client CAs;
// a client connected before stays connected; a bad file leaves the old
// certificates in force.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	ca1 := testpki.NewCA(t, dir, "ca1")
	ca2 := testpki.NewCA(t, t.TempDir(), "ca2")
	srv1 := ca1.Server(t, "server")
	client1 := ca1.Client(t, "client1", "c1")
	files := transport.TLSFiles{CertFile: srv1.CertFile, KeyFile: srv1.KeyFile, ClientCAFile: ca1.File}
	e := newEnv(t, broker.Options{})
	certs := loadCerts(t, files)
	addr := e.listen(transport.ListenTLS("tls", "127.0.0.1:0", certs, e.srv.ServeConn, e.log))

	trust1 := &tls.Config{RootCAs: ca1.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{client1.TLS}}
	before := pahoConnect(t, pahoOptions("ssl://"+addr, "before", trust1))

	// A broken certificate file: Reload fails and changes nothing.
	pemCert, _ := os.ReadFile(files.CertFile)
	os.WriteFile(files.CertFile, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n"), 0o600)
	err := certs.Reload()
	var fe *transport.FileError
	if !errors.As(err, &fe) || fe.Field != "cert_file" {
		t.Fatalf("Reload of a broken cert_file: %v, want a cert_file FileError", err)
	}
	os.WriteFile(files.CertFile, pemCert, 0o600)
	pahoConnect(t, pahoOptions("ssl://"+addr, "still-ca1", trust1))

	// Swap to certificates of ca2: server certificate and client CA.
	srv2 := ca2.Server(t, "server")
	client2 := ca2.Client(t, "client2", "c2")
	for _, f := range [][2]string{{srv2.CertFile, files.CertFile}, {srv2.KeyFile, files.KeyFile}, {ca2.File, files.ClientCAFile}} {
		data, _ := os.ReadFile(f[0])
		os.WriteFile(f[1], data, 0o600)
	}
	if err := certs.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := pahoTry(t, pahoOptions("ssl://"+addr, "old-trust", trust1)); err == nil {
		t.Fatal("a client trusting only the old CA connected after the reload")
	}
	trust2 := &tls.Config{RootCAs: ca2.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{client2.TLS}}
	after := pahoConnect(t, pahoOptions("ssl://"+addr, "after", trust2))
	if !before.IsConnected() {
		t.Fatal("the client connected before the reload was dropped")
	}
	roundTrip(t, after, before, "reload/x")
}

func TestLoadKeyPairErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	a := ca.Server(t, "a")
	b := ca.Server(t, "b")
	empty := dir + "/empty.pem"
	os.WriteFile(empty, []byte("nothing here\n"), 0o600)
	tests := []struct {
		name, cert, key, field, msg string
	}{
		{"mismatch", a.CertFile, b.KeyFile, "key_file", "private key does not match public key"},
		{"no cert", empty, a.KeyFile, "cert_file", "no PEM CERTIFICATE block"},
		{"key is a cert", a.CertFile, a.CertFile, "key_file", "no PEM private key"},
		{"missing key", a.CertFile, dir + "/nope.key", "key_file", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := transport.LoadKeyPair(tt.cert, tt.key)
			var fe *transport.FileError
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want %s: ...%s...", err, tt.field, tt.msg)
			}
		})
	}
	if _, err := transport.LoadCAPool(empty); err == nil || !strings.Contains(err.Error(), "client_ca_file") {
		t.Fatalf("LoadCAPool of a file without certificates: %v", err)
	}
	if _, err := transport.LoadKeyPair(a.CertFile, a.KeyFile); err != nil {
		t.Fatal(err)
	}
}
