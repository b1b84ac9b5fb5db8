package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgemq/edgemq/bridge"
	"github.com/edgemq/edgemq/config"
)

// TestBridgeDocExamples: every YAML example in docs/bridge.md (AWS IoT
// Core, Azure IoT Hub, an EMQX/HiveMQ cluster) passes edgemq check, and
// the bridge package accepts the bridges it describes, certificate files
// included.
func TestBridgeDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/bridge.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) != 3 {
		t.Fatalf("found %d yaml examples in docs/bridge.md, want 3 (AWS, Azure, cluster)", len(blocks))
	}
	certPEM, keyPEM := selfSigned(t)
	paths := regexp.MustCompile(`/etc/edgemq/[A-Za-z0-9_./-]+`)
	for i, b := range blocks {
		dir := t.TempDir()
		// The example's files, with real PEM contents, under dir.
		yaml := paths.ReplaceAllStringFunc(string(b[1]), func(p string) string {
			local := filepath.Join(dir, strings.TrimPrefix(p, "/etc/edgemq/"))
			content := certPEM
			if strings.Contains(p, "key") {
				content = keyPEM
			}
			if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(local, content, 0o600); err != nil {
				t.Fatal(err)
			}
			return local
		})
		file := writeFile(t, dir, "edgemq.yaml", yaml)
		var stdout, stderr bytes.Buffer
		if code := cmdCheck([]string{"-c", file}, &stdout, &stderr); code != 0 {
			t.Fatalf("example %d: edgemq check exit %d:\n%s\n%s", i+1, code, stderr.String(), yaml)
		}
		cfg, err := config.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		bcs := bridgeConfigs(cfg)
		if len(bcs) != 1 {
			t.Fatalf("example %d: %d bridges, want 1", i+1, len(bcs))
		}
		if err := bridge.Validate(bcs[0]); err != nil {
			t.Fatalf("example %d: bridge %s: %v", i+1, bcs[0].Name, err)
		}
	}
}

// TestBridgeConfigs: every bridge key reaches bridge.Config.
func TestBridgeConfigs(t *testing.T) {
	cfg, err := config.Parse([]byte(`
data_dir: ""
bridges:
  - name: b
    address: tls://h:8883
    client_id: id
    username: u
    password: p
    ca_file: ca
    cert_file: c
    key_file: k
    alpn: [x]
    insecure_skip_verify: true
    clean_session: true
    keepalive: 7s
    topics:
      - {pattern: "a/+", direction: out, qos: 2, rewrite: "r/{1}", retain: clear}
      - {pattern: "b/#", direction: both, qos: 0, local_prefix: "l/", remote_prefix: "r/"}
    queue: {max_bytes: 1MiB, overflow: drop_new}
    backoff: {min: 2s, max: 9s}
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := bridgeConfigs(cfg)
	want := bridge.Config{
		Name: "b", Address: "tls://h:8883", ClientID: "id", Username: "u", Password: "p",
		CAFile: "ca", CertFile: "c", KeyFile: "k", ALPN: []string{"x"}, InsecureSkipVerify: true,
		CleanSession: true, Keepalive: 7 * time.Second,
		Rules: []bridge.Rule{
			{Pattern: "a/+", Direction: bridge.Out, QoS: 2, Rewrite: "r/{1}", Retain: bridge.RetainClear},
			{Pattern: "b/#", Direction: bridge.Both, QoS: 0, LocalPrefix: "l/", RemotePrefix: "r/", Retain: bridge.RetainAsPublished},
		},
		MaxBytes: 1 << 20, Overflow: bridge.DropNew, BackoffMin: 2 * time.Second, BackoffMax: 9 * time.Second,
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	_ = reloadBridges // wired by the SIGHUP handler
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway-01"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}
