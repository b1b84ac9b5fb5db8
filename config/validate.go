package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// maxPacketSizeLimit is the largest MQTT packet: a 5-byte fixed header and
// the largest Remaining Length, 268435455.
const maxPacketSizeLimit = 268435455 + 5

// checker collects validation problems of a decoded Config.
type checker struct {
	c    *Config
	bad  map[string]bool // keys that failed to decode: no second error on them
	errs Errors
}

// check validates c. Keys in bad (and below them) already have an error.
func (c *Config) check(bad map[string]bool) Errors {
	k := &checker{c: c, bad: bad}
	k.storage()
	k.listeners()
	k.auth()
	k.limits()
	k.mqttsn()
	k.bridges()
	if d := c.SysInterval; d != 0 && d < time.Second {
		k.errorf("sys_interval", "%s is too short: 0 disables $SYS, otherwise at least 1s", d)
	}
	k.http()
	return k.errs
}

func (k *checker) errorf(key, format string, args ...any) {
	for p := key; p != ""; p = parentKey(p) {
		if k.bad[p] {
			return
		}
	}
	k.errs = append(k.errs, k.c.ErrorAt(key, fmt.Sprintf(format, args...)))
}

// required reports an empty value and returns false.
func (k *checker) required(key, value string) bool {
	if value != "" {
		return true
	}
	if k.c.src.has(key) {
		k.errorf(key, "must not be empty")
	} else {
		k.errorf(key, "missing (required)")
	}
	return false
}

// line is the line of key in the file, for "first at line N" messages.
func (k *checker) line(key string) string {
	if p := k.c.src.find(key); p.line > 0 {
		return fmt.Sprintf(" at line %d", p.line)
	}
	return ""
}

// atLeast reports an integer below min.
func (k *checker) atLeast(key string, v, min int) {
	if v < min {
		k.errorf(key, "must be at least %d, got %d", min, v)
	}
}

// within reports an integer outside [min, max].
func (k *checker) within(key string, v, min, max int) {
	if v < min || v > max {
		k.errorf(key, "must be from %d to %d, got %d", min, max, v)
	}
}

// positive reports a zero duration (negative ones never decode).
func (k *checker) positive(key string, d time.Duration) {
	if d <= 0 {
		k.errorf(key, "must be longer than 0s")
	}
}

// seconds reports a duration that is not whole seconds in [1s, max s]: the
// protocol carries it as a 16-bit number of seconds.
func (k *checker) seconds(key string, d time.Duration, max int) {
	switch {
	case d < time.Second || d > time.Duration(max)*time.Second:
		k.errorf(key, "must be from 1s to %ds, got %s", max, d)
	case d%time.Second != 0:
		k.errorf(key, "must be whole seconds (it is sent in seconds), got %s", d)
	}
}

func (k *checker) storage() {
	if k.c.Storage.MaxDiskBytes <= 0 {
		k.errorf("storage.max_disk_bytes", "must be larger than 0")
	}
}

// hostPort checks a "host:port" address; port 0 (a free port) is accepted
// when allowZero.
func hostPort(addr string, allowZero bool) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			msg := strings.TrimSuffix(ae.Err, " in address")
			if msg == "too many colons" {
				return "", 0, fmt.Errorf("too many colons in %q (write an IPv6 address in brackets: [::1]:1883)", addr)
			}
			return "", 0, fmt.Errorf("%s in %q", msg, addr)
		}
		return "", 0, fmt.Errorf("invalid address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	lo := 1
	if allowZero {
		lo = 0
	}
	if err != nil || n < lo || n > 65535 {
		return "", 0, fmt.Errorf("port %q in %q must be a number from %d to 65535", p, addr, lo)
	}
	return h, n, nil
}

// tcpAddr is a TCP address already taken, to find listeners that collide.
type tcpAddr struct {
	key  string
	host string
	port int
}

func wildcardHost(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }

// claim reports addr if it collides with one in taken, and records it.
func (k *checker) claim(taken *[]tcpAddr, key, addr string) {
	host, port, err := hostPort(addr, true)
	if err != nil {
		k.errorf(key, "%v", err)
		return
	}
	for _, t := range *taken {
		if port != 0 && t.port == port && (t.host == host || wildcardHost(t.host) || wildcardHost(host)) {
			k.errorf(key, "%q collides with %s%s: both listen on port %d", addr, t.key, k.line(t.key), port)
			return
		}
	}
	*taken = append(*taken, tcpAddr{key, host, port})
}

func (k *checker) listeners() {
	c := k.c
	if len(c.Listeners) == 0 && len(c.MQTTSN.UDP) == 0 && len(c.MQTTSN.Serial) == 0 {
		k.errorf("listeners", "no listeners and no MQTT-SN transports: no client could connect")
	}
	var taken []tcpAddr
	names := make(map[string]string)
	for i, l := range c.Listeners {
		key := fmt.Sprintf("listeners[%d]", i)
		if l.Type == "" {
			k.errorf(key+".type", "missing (required): one of tcp, tls, ws, wss")
		}
		if k.required(key+".address", l.Address) {
			k.claim(&taken, key+".address", l.Address)
		}
		if k.required(key+".name", l.Name) {
			if first, dup := names[l.Name]; dup {
				k.errorf(key+".name", "%q is also the name of %s%s", l.Name, first, k.line(first))
			}
			names[l.Name] = key
		}
		switch {
		case l.Type.WebSocket() && !strings.HasPrefix(l.Path, "/"):
			k.errorf(key+".path", "must start with /, got %q", l.Path)
		case !l.Type.WebSocket() && l.Path != "" && l.Type != "":
			k.errorf(key+".path", "only for ws and wss listeners, not %s", l.Type)
		}
		k.listenerTLS(key, l)
	}
	if c.HTTP.Address != "" {
		k.claim(&taken, "http.address", c.HTTP.Address)
	}
}

func (k *checker) listenerTLS(key string, l Listener) {
	if l.Type.TLS() {
		k.required(key+".cert_file", l.CertFile)
		k.required(key+".key_file", l.KeyFile)
		if l.UsernameFromCN && l.ClientCAFile == "" {
			k.errorf(key+".username_from_cn", "needs client_ca_file: without client certificates there is no CN")
		}
		return
	}
	if l.Type == "" {
		return
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"cert_file", l.CertFile != ""}, {"key_file", l.KeyFile != ""},
		{"client_ca_file", l.ClientCAFile != ""}, {"username_from_cn", l.UsernameFromCN}} {
		if f.set {
			k.errorf(key+"."+f.name, "only for tls and wss listeners, not %s", l.Type)
		}
	}
}

func (k *checker) auth() {
	a := k.c.Auth
	k.atLeast("auth.auth_fail_limit.max_failures", a.FailLimit.MaxFailures, 0)
	k.positive("auth.auth_fail_limit.window", a.FailLimit.Window)
	if a.AllowAnonymous || a.PasswordFile != "" {
		return
	}
	for _, l := range k.c.Listeners {
		if l.UsernameFromCN {
			return
		}
	}
	k.errorf("auth.allow_anonymous", "is false but there is no password_file (nor a listener with username_from_cn): no client could log in")
}

func (k *checker) limits() {
	l := k.c.Limits
	k.atLeast("limits.max_connections", l.MaxConnections, 1)
	if l.MaxPacketSize <= 0 || l.MaxPacketSize > maxPacketSizeLimit {
		k.errorf("limits.max_packet_size", "must be from 1 to %d (the largest MQTT packet), got %d", maxPacketSizeLimit, l.MaxPacketSize)
	}
	k.within("limits.max_inflight", l.MaxInflight, 1, 65535)
	k.within("limits.receive_maximum", l.ReceiveMaximum, 1, 65535) // MQTT 5.0 3.2.2.3.3: 0 is a Protocol Error
	k.within("limits.max_keepalive", l.MaxKeepalive, 1, 65535)     // Server Keep Alive is 16 bits
	k.atLeast("limits.max_queued_messages", l.MaxQueuedMessages, 1)
	if l.MaxQueuedBytes <= 0 {
		k.errorf("limits.max_queued_bytes", "must be larger than 0")
	}
	k.within("limits.max_topic_alias", l.MaxTopicAlias, 0, 65535)
	k.atLeast("limits.retained_max", l.RetainedMax, 1)
	if l.MaxTotalQueuedBytes <= 0 {
		k.errorf("limits.max_total_queued_bytes", "must be larger than 0")
	}
	k.positive("limits.connect_timeout", l.ConnectTimeout)
}

func (k *checker) http() {
	h := k.c.HTTP
	if h.Auth && k.c.Auth.PasswordFile == "" {
		k.errorf("http.auth", "needs auth.password_file")
	}
}
