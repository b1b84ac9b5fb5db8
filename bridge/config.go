package bridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Direction is which way a rule forwards messages.
type Direction string

// Directions: Out is local to remote, In is remote to local.
const (
	Out  Direction = "out"
	In   Direction = "in"
	Both Direction = "both"
)

// RetainMode is what a rule does with the retain flag.
type RetainMode string

// Retain modes. Outbound, the bridge sees each message as its publisher
// sent it, so RetainKeep and RetainAsPublished both forward the
// publisher's flag. Inbound, MQTT 3.1.1 sets the flag only on retained
// messages sent at subscription time, so both forward that flag.
// RetainClear always clears it.
const (
	RetainKeep        RetainMode = "keep"
	RetainClear       RetainMode = "clear"
	RetainAsPublished RetainMode = "as_published"
)

// Overflow is what a full queue drops.
type Overflow string

// Overflow policies.
const (
	DropOldest Overflow = "drop_oldest"
	DropNew    Overflow = "drop_new"
)

// Rule selects the messages a bridge forwards and names them on the other
// side.
//
// Without Rewrite, the local topic is LocalPrefix+t and the remote topic
// RemotePrefix+t for each t matching Pattern (as mosquitto's bridge
// "topic" lines). With Rewrite, Pattern matches the source side (the local
// topic for Out, the remote topic for In) and Rewrite gives the whole
// topic on the other side, {N} standing for the Nth wildcard level of
// Pattern ("#" stands for all the levels it matched).
type Rule struct {
	Pattern      string
	Direction    Direction
	QoS          byte // QoS on the receiving side: remote for Out, local for In
	LocalPrefix  string
	RemotePrefix string
	Rewrite      string
	Retain       RetainMode
}

// Config is one bridge, as cmd/edgemq builds it from the config file.
type Config struct {
	Name     string // 1..64 of a-z, 0-9, _ and -: used in storage, logs and $SYS topics
	Address  string // tcp://, tls://, ws:// or wss:// host:port[/path]
	ClientID string
	Username string
	Password string

	CAFile             string // PEM roots to verify the remote; "" uses the system roots
	CertFile           string // PEM client certificate, with KeyFile
	KeyFile            string
	ALPN               []string // e.g. x-amzn-mqtt-ca for AWS IoT Core on port 443
	InsecureSkipVerify bool

	CleanSession bool
	Keepalive    time.Duration

	Rules []Rule

	MaxBytes int64    // bound of the outbound queue (keys and values)
	Overflow Overflow // what a full queue drops

	BackoffMin time.Duration // first delay between connection attempts
	BackoffMax time.Duration // cap of the delay

	// Inflight bounds the QoS 1/2 messages sent and not yet acknowledged by
	// the remote; 0 means DefaultInflight.
	Inflight int
	// ConnectTimeout bounds dialling, TLS and CONNACK; 0 means 30s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds a write to the remote broker that makes no
	// progress (and paho's wait to start one); 0 means the keepalive or
	// 30s, whichever is longer.
	WriteTimeout time.Duration
}

// DefaultInflight is the inflight window of a bridge. AWS IoT Core accepts
// 100 unacknowledged QoS 1 publishes per connection.
const DefaultInflight = 100

const (
	defaultConnectTimeout = 30 * time.Second
	defaultWriteTimeout   = 30 * time.Second
	defaultBackoffMin     = time.Second
	defaultBackoffMax     = time.Minute
	defaultKeepalive      = time.Minute
)

func (c Config) withDefaults() Config {
	if c.Inflight <= 0 {
		c.Inflight = DefaultInflight
	}
	if c.Inflight > 65535 {
		c.Inflight = 65535
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = defaultConnectTimeout
	}
	if c.Keepalive <= 0 {
		c.Keepalive = defaultKeepalive
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = max(c.Keepalive, defaultWriteTimeout)
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = defaultBackoffMin
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(c.BackoffMin, defaultBackoffMax)
	}
	if c.Overflow == "" {
		c.Overflow = DropOldest
	}
	return c
}

// check validates what the bridge relies on; the config package has
// checked the rest (and reports it with line numbers).
func (c Config) check() error {
	var errs []error
	if !validName(c.Name) {
		errs = append(errs, fmt.Errorf("bridge name %q: use 1 to 64 of a-z, 0-9, _ and -", c.Name))
	}
	scheme, _, ok := strings.Cut(c.Address, "://")
	if !ok || (scheme != "tcp" && scheme != "tls" && scheme != "ws" && scheme != "wss") {
		errs = append(errs, fmt.Errorf("bridge %s: address %q: want tcp://, tls://, ws:// or wss://", c.Name, c.Address))
	}
	if c.ClientID == "" {
		errs = append(errs, fmt.Errorf("bridge %s: empty client_id", c.Name))
	}
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("bridge %s: queue max_bytes must be > 0", c.Name))
	}
	if c.Overflow != DropOldest && c.Overflow != DropNew {
		errs = append(errs, fmt.Errorf("bridge %s: overflow %q: want drop_oldest or drop_new", c.Name, c.Overflow))
	}
	if len(c.Rules) == 0 {
		errs = append(errs, fmt.Errorf("bridge %s: no topics", c.Name))
	}
	for i, r := range c.Rules {
		if _, err := compileRule(r); err != nil {
			errs = append(errs, fmt.Errorf("bridge %s: topics[%d]: %w", c.Name, i, err))
		}
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// tlsMaterial is what a bridge read from its certificate files, kept so
// that a reload can tell whether the files changed.
type tlsMaterial struct {
	ca, cert, key []byte
}

func (m tlsMaterial) equal(o tlsMaterial) bool {
	return string(m.ca) == string(o.ca) && string(m.cert) == string(o.cert) && string(m.key) == string(o.key)
}

// loadTLS reads the certificate files of c. It returns a nil config for
// tcp:// and ws:// addresses.
func loadTLS(c Config) (*tls.Config, tlsMaterial, error) {
	var m tlsMaterial
	if !strings.HasPrefix(c.Address, "tls://") && !strings.HasPrefix(c.Address, "wss://") {
		return nil, m, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         c.ALPN,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // a documented option for tests
	}
	var err error
	if c.CAFile != "" {
		if m.ca, err = os.ReadFile(c.CAFile); err != nil {
			return nil, m, fmt.Errorf("bridge %s: ca_file: %w", c.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(m.ca) {
			return nil, m, fmt.Errorf("bridge %s: ca_file %s: no PEM certificate in it", c.Name, c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		if m.cert, err = os.ReadFile(c.CertFile); err != nil {
			return nil, m, fmt.Errorf("bridge %s: cert_file: %w", c.Name, err)
		}
		if m.key, err = os.ReadFile(c.KeyFile); err != nil {
			return nil, m, fmt.Errorf("bridge %s: key_file: %w", c.Name, err)
		}
		pair, err := tls.X509KeyPair(m.cert, m.key)
		if err != nil {
			return nil, m, fmt.Errorf("bridge %s: cert_file %s and key_file %s: %w", c.Name, c.CertFile, c.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, m, nil
}
