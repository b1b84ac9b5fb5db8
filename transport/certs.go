package transport

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// TLSFiles names the PEM files of a tls or wss listener.
type TLSFiles struct {
	CertFile string // certificate chain, leaf first
	KeyFile  string // private key of the leaf
	// ClientCAFile holds the CAs that sign client certificates. When set,
	// clients must present a certificate signed by one of them.
	ClientCAFile string
}

// FileError is a problem with one of the files of TLSFiles. Field says
// which: "cert_file", "key_file" or "client_ca_file", the config keys.
type FileError struct {
	Field string
	Path  string
	Err   error
}

func (e *FileError) Error() string { return fmt.Sprintf("%s %s: %v", e.Field, e.Path, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// LoadKeyPair reads a PEM certificate chain and its private key and checks
// that they belong together. Its errors are *FileError naming the file at
// fault.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, &FileError{"cert_file", certFile, err}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, &FileError{"key_file", keyFile, err}
	}
	if _, err := parseCerts(certPEM); err != nil {
		return tls.Certificate{}, &FileError{"cert_file", certFile, err}
	}
	if blk, _ := pem.Decode(keyPEM); blk == nil || blk.Type == "CERTIFICATE" {
		// Also catches a key file with only certificates in it, which
		// tls.X509KeyPair reports confusingly.
		return tls.Certificate{}, &FileError{"key_file", keyFile, errors.New("no PEM private key in the file")}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The certificate parsed above, so the key is at fault: unparsable
		// or not the certificate's.
		return tls.Certificate{}, &FileError{"key_file", keyFile, fmt.Errorf("%v (certificate %s)", err, certFile)}
	}
	return pair, nil
}

// LoadCAPool reads PEM CA certificates into a pool; a file without any, or
// with one that does not parse, is an error.
func LoadCAPool(caFile string) (*x509.CertPool, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, &FileError{"client_ca_file", caFile, err}
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, &FileError{"client_ca_file", caFile, err}
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// parseCerts parses every CERTIFICATE block of PEM data, ignoring other
// blocks; it fails when there is none or one does not parse.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block in the file")
	}
	return certs, nil
}

// Certificates is the reloadable TLS state of a listener: its certificate
// and, when client certificates are required, the pool of client CAs.
// Reload swaps both atomically: handshakes in progress finish with what
// they started with, connected clients are not touched, and later
// handshakes use the new files.
type Certificates struct {
	files TLSFiles
	cert  atomic.Pointer[tls.Certificate]
	conf  atomic.Pointer[tls.Config] // per-connection config, rebuilt by Reload
	base  *tls.Config
}

// LoadCertificates loads files; see Certificates.
func LoadCertificates(files TLSFiles) (*Certificates, error) {
	c := &Certificates{files: files}
	c.base = &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return c.conf.Load(), nil
		},
	}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On error nothing changes.
func (c *Certificates) Reload() error {
	pair, err := LoadKeyPair(c.files.CertFile, c.files.KeyFile)
	if err != nil {
		return err
	}
	conf := serverTLSConfig()
	conf.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cert.Load(), nil }
	if c.files.ClientCAFile != "" {
		pool, err := LoadCAPool(c.files.ClientCAFile)
		if err != nil {
			return err
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	c.cert.Store(&pair)
	c.conf.Store(conf)
	return nil
}

// Files returns the files the certificates are loaded from.
func (c *Certificates) Files() TLSFiles { return c.files }

// Leaf returns the current server certificate.
func (c *Certificates) Leaf() *x509.Certificate { return c.cert.Load().Leaf }

// NotAfter is when the current server certificate expires.
func (c *Certificates) NotAfter() time.Time { return c.Leaf().NotAfter }

// Config returns the server tls.Config of the listener. It picks the
// current certificate and client CAs for every handshake.
func (c *Certificates) Config() *tls.Config { return c.base }

// serverTLSConfig is TLS 1.2 or newer with forward-secret AEAD suites only
// (TLS 1.3 suites are not configurable and all qualify). Without AES
// instructions (MIPS, older ARM boards) Go's server prefers
// ChaCha20-Poly1305, which is much faster there.
func serverTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}
