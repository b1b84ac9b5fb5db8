package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxBridgeName bounds a bridge name: it becomes part of storage keys,
// metric labels and $SYS topics.
const maxBridgeName = 64

func (k *checker) bridges() {
	names := make(map[string]string)
	for i, b := range k.c.Bridges {
		key := fmt.Sprintf("bridges[%d]", i)
		if k.required(key+".name", b.Name) {
			if !validBridgeName(b.Name) {
				k.errorf(key+".name", "%q: use 1 to %d of a-z, 0-9, _ and -", b.Name, maxBridgeName)
			} else if first, dup := names[b.Name]; dup {
				k.errorf(key+".name", "%q is also the name of %s%s", b.Name, first, k.line(first))
			}
			names[b.Name] = key + ".name"
		}
		k.bridge(key, b)
	}
}

func validBridgeName(s string) bool {
	if len(s) == 0 || len(s) > maxBridgeName {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func (k *checker) bridge(key string, b Bridge) {
	tls := false
	if k.required(key+".address", b.Address) {
		scheme, err := bridgeAddress(b.Address)
		if err != nil {
			k.errorf(key+".address", "%v", err)
		}
		tls = scheme == "tls" || scheme == "wss"
		if err == nil && !tls {
			k.tlsOnly(key, scheme, b)
		}
	}
	if k.required(key+".client_id", b.ClientID) {
		if !utf8.ValidString(b.ClientID) || strings.ContainsRune(b.ClientID, 0) || len(b.ClientID) > 65535 {
			k.errorf(key+".client_id", "must be valid UTF-8 without U+0000, at most 65535 bytes") // [MQTT-1.5.3-1]
		}
	}
	if b.Password != "" && b.Username == "" {
		k.errorf(key+".password", "needs a username: MQTT 3.1.1 sends no password without one") // [MQTT-3.1.2-22]
	}
	if (b.CertFile == "") != (b.KeyFile == "") {
		if b.CertFile == "" {
			k.errorf(key+".cert_file", "missing: key_file needs cert_file")
		} else {
			k.errorf(key+".key_file", "missing: cert_file needs key_file")
		}
	}
	for i, p := range b.ALPN {
		if p == "" {
			k.errorf(key+".alpn["+strconv.Itoa(i)+"]", "must not be empty")
		}
	}
	k.seconds(key+".keepalive", b.Keepalive, 65535) // CONNECT Keep Alive is 16 bits
	if len(b.Topics) == 0 {
		k.errorf(key+".topics", "must list at least one topic: a bridge without topics forwards nothing")
	}
	for i, t := range b.Topics {
		k.bridgeTopic(fmt.Sprintf("%s.topics[%d]", key, i), t)
	}
	if b.Queue.MaxBytes <= 0 {
		k.errorf(key+".queue.max_bytes", "must be larger than 0")
	} else if k.c.DataDir != "" && b.Queue.MaxBytes > k.c.Storage.MaxDiskBytes {
		k.errorf(key+".queue.max_bytes", "%s is more than storage.max_disk_bytes (%s)", b.Queue.MaxBytes, k.c.Storage.MaxDiskBytes)
	}
	k.positive(key+".backoff.min", b.Backoff.Min)
	if b.Backoff.Max < b.Backoff.Min {
		k.errorf(key+".backoff.max", "%s is shorter than backoff.min (%s)", b.Backoff.Max, b.Backoff.Min)
	}
}

// tlsOnly reports TLS settings on a bridge whose address is not TLS.
func (k *checker) tlsOnly(key, scheme string, b Bridge) {
	for _, f := range []struct {
		name string
		set  bool
	}{{"ca_file", b.CAFile != ""}, {"cert_file", b.CertFile != ""}, {"key_file", b.KeyFile != ""},
		{"alpn", len(b.ALPN) > 0}, {"insecure_skip_verify", b.InsecureSkipVerify}} {
		if f.set {
			k.errorf(key+"."+f.name, "only for tls:// and wss:// addresses, not %s://", scheme)
		}
	}
}

// bridgeAddress checks a bridge URL such as tls://host:8883 and returns its
// scheme.
func bridgeAddress(addr string) (string, error) {
	scheme, rest, ok := strings.Cut(addr, "://")
	switch {
	case !ok:
		return "", fmt.Errorf("%q: want scheme://host:port with scheme tcp, tls, ws or wss", addr)
	case scheme != "tcp" && scheme != "tls" && scheme != "ws" && scheme != "wss":
		return "", fmt.Errorf("%q: scheme must be tcp, tls, ws or wss, not %q", addr, scheme)
	case rest == "":
		return "", fmt.Errorf("%q: missing host and port", addr)
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("%q: %v", addr, err)
	}
	switch {
	case u.User != nil:
		return "", fmt.Errorf("%q: credentials belong in username and password, not in the address", addr)
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%q: a query or fragment is not allowed", addr)
	case (scheme == "tcp" || scheme == "tls") && u.Path != "":
		return "", fmt.Errorf("%q: a path is only for ws:// and wss://", addr)
	case u.Hostname() == "":
		return "", fmt.Errorf("%q: missing host", addr)
	}
	if u.Port() == "" {
		return "", fmt.Errorf("missing port in %q", addr)
	}
	if _, _, err := hostPort(u.Host, false); err != nil {
		return "", fmt.Errorf("%q: %v", addr, err)
	}
	return scheme, nil
}

func (k *checker) bridgeTopic(key string, t BridgeTopic) {
	if k.required(key+".pattern", t.Pattern) {
		if err := checkFilter(t.Pattern); err != nil {
			k.errorf(key+".pattern", "%v", err)
		} else if t.Rewrite != "" {
			if err := checkRewrite(t.Rewrite, wildcards(t.Pattern)); err != nil {
				k.errorf(key+".rewrite", "%v", err)
			}
		}
	}
	if t.Direction == "" {
		k.errorf(key+".direction", "missing (required): one of out, in, both")
	}
	k.within(key+".qos", t.QoS, 0, 2)
	for _, p := range []struct{ name, v string }{{"local_prefix", t.LocalPrefix}, {"remote_prefix", t.RemotePrefix}} {
		if err := checkPrefix(p.v); err != nil {
			k.errorf(key+"."+p.name, "%v", err)
		}
	}
	if t.Rewrite != "" {
		if t.Direction == DirectionBoth {
			k.errorf(key+".rewrite", "not with direction both: a rewrite maps one way (use two topics, out and in)")
		}
		if t.LocalPrefix != "" || t.RemotePrefix != "" {
			k.errorf(key+".rewrite", "not with local_prefix or remote_prefix: the rewrite gives the whole topic")
		}
	}
}
