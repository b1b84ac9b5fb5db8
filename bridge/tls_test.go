package bridge

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, as PEM files in a temp dir.
type testPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t testing.TB) testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edgemq test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: ips,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(cn+".pem", "CERTIFICATE", der), write(cn+".key", "PRIVATE KEY", kder)
	}
	p := testPKI{ca: write("ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = leaf(3, "edge-gateway", x509.ExtKeyUsageClientAuth, nil)
	return p
}

// TestTLSClientCert: a bridge reaches a mosquitto that requires client
// certificates, over tls:// with a CA file, a client certificate and ALPN,
// and over wss://; without the certificate it stays down and says why.
func TestTLSClientCert(t *testing.T) {
	pki := newTestPKI(t)
	tlsAddr, wsAddr, wssAddr := freePort(t), freePort(t), freePort(t)
	port := func(a string) string { _, p, _ := net.SplitHostPort(a); return p }
	up := newMosquitto(t, func(plain string) string {
		return "listener " + plain + " 127.0.0.1\n" +
			"listener " + port(tlsAddr) + " 127.0.0.1\n" +
			"cafile " + pki.ca + "\ncertfile " + pki.serverCert + "\nkeyfile " + pki.serverKey + "\n" +
			"require_certificate true\n" +
			"listener " + port(wsAddr) + " 127.0.0.1\nprotocol websockets\n" +
			"listener " + port(wssAddr) + " 127.0.0.1\nprotocol websockets\n" +
			"certfile " + pki.serverCert + "\nkeyfile " + pki.serverKey + "\n"
	})
	up.start()
	waitListening(t, tlsAddr, up.out)
	sk := newSink(t, up.addr, "sink", "tls/#", 1)

	good := testConfig("tls", "", Rule{Pattern: "tls/#", Direction: Out, QoS: 1})
	good.Address = "tls://" + tlsAddr
	good.CAFile, good.CertFile, good.KeyFile = pki.ca, pki.clientCert, pki.clientKey
	good.ALPN = []string{"x-amzn-mqtt-ca"}
	nocert := good
	nocert.Name, nocert.ClientID, nocert.CertFile, nocert.KeyFile = "nocert", "edge-nocert", "", ""
	ws := testConfig("ws", "", Rule{Pattern: "tls/#", Direction: Out, QoS: 1})
	ws.Address = "ws://" + wsAddr + "/mqtt"
	wss := testConfig("wss", "", Rule{Pattern: "tls/#", Direction: Out, QoS: 1})
	wss.Address, wss.CAFile = "wss://"+wssAddr+"/mqtt", pki.ca

	e := startEdge(t, t.TempDir(), good, nocert, ws, wss)
	for _, name := range []string{"tls", "ws", "wss"} {
		e.waitStats(t, name, 10*time.Second, "link up", func(s Stats) bool { return s.State == LinkUp })
	}
	publishSeq(t, client(t, e.addr, "pub"), "tls/x", "t", 1, 0, 10, 10, nil)
	// Three bridges forward the same ten messages.
	deadline := time.Now().Add(10 * time.Second)
	for {
		unique, dups := sk.counts()
		if unique == 10 && dups == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d distinct messages and %d more arrivals; want 10 over each of tls, ws and wss", unique, dups)
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := e.waitStats(t, "nocert", 10*time.Second, "a failed attempt", func(s Stats) bool { return s.ConnectFailures > 0 })
	if st.State == LinkUp || st.Connects != 0 {
		t.Fatalf("the bridge without a client certificate connected: %+v", st)
	}
	if !strings.Contains(st.LastError, "connect to tls://") {
		t.Fatalf("last error %q does not say what failed", st.LastError)
	}
	t.Logf("without a client certificate: %s", st.LastError)
}
