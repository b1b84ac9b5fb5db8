package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/internal/ratelog"
)

// Options configure an Authenticator.
type Options struct {
	// AllowAnonymous lets clients without a username connect. With no
	// PasswordFile it also lets in clients with any username, unchecked,
	// as mosquitto does.
	AllowAnonymous bool
	// PasswordFile is the password file; "" for none.
	PasswordFile string
	// AnonymousOn reports listeners whose clients may connect without a
	// username even when AllowAnonymous is false (the MQTT-SN gateway's:
	// MQTT-SN has no credentials). nil: none.
	AnonymousOn func(listener string) bool
	// UsernameFromCN names the listeners (tls and wss with client
	// certificates) whose clients take their username from the Common Name
	// of their certificate; their password is not checked.
	UsernameFromCN []string
	// MaxFailures failed logins from one address within Window make that
	// address refused until Window has passed since the first. 0: no limit.
	MaxFailures int
	Window      time.Duration
	// Logger receives failed logins (never the password); nil discards.
	Logger *slog.Logger
}

// Authenticator is a broker.Authenticator: see Options for the rules.
//
// Refusals, as the broker sends them:
//   - wrong or unknown user, or a missing password: v5 0x86 "bad user name
//     or password", 3.1.1 0x05 "not authorized";
//   - no username while anonymous access is off, or a certificate without a
//     Common Name on a username_from_cn listener: 0x87 / 0x05;
//   - an address over its failure limit: v5 0x9F "connection rate
//     exceeded" (it is temporary, unlike 0x8A "banned"), 3.1.1 0x05. The
//     password is not even checked, so the limit also bounds the CPU a
//     guessing client can spend.
//
// bcrypt checks run at most on half the CPUs at a time, so that a flood of
// logins leaves cores for routing. A successful check is remembered (as an
// HMAC of the password under a key made at start, per user, until the
// user's hash changes), so that a reconnect storm costs one bcrypt per
// user, not per connection.
type Authenticator struct {
	opts    Options
	log     *slog.Logger
	fromCN  map[string]bool
	pw      atomic.Pointer[Passwords] // nil: no password file
	limiter *failLimiter
	slots   chan struct{} // bcrypt checks in progress

	cacheKey [32]byte
	cacheMu  sync.Mutex
	cache    map[string]verified

	dummyOnce sync.Once
	dummy     []byte // hash compared for unknown users, to hide who exists

	failures   atomic.Uint64
	limited    atomic.Uint64
	limitedLog *ratelog.Logger // refusals of limited addresses: a flood
}

type verified struct {
	hash string   // the hash the password was checked against
	mac  [32]byte // HMAC-SHA256(cacheKey, password)
}

// Stats counts an Authenticator's refusals.
type Stats struct {
	Failures    uint64 // failed logins
	RateLimited uint64 // CONNECTs refused because their address was over the limit
	Tracked     int    // addresses the failure limiter remembers (at most 4096)
}

// NewAuthenticator loads the password file, if any.
func NewAuthenticator(o Options) (*Authenticator, error) {
	a := &Authenticator{
		opts:    o,
		log:     o.Logger,
		fromCN:  make(map[string]bool),
		limiter: newFailLimiter(o.MaxFailures, o.Window),
		slots:   make(chan struct{}, max(1, runtime.NumCPU()/2)),
		cache:   make(map[string]verified),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.limitedLog = &ratelog.Logger{Log: a.log, Msg: "login refused: too many failed logins from this address", Every: time.Second}
	for _, l := range o.UsernameFromCN {
		a.fromCN[l] = true
	}
	rand.Read(a.cacheKey[:])
	if o.PasswordFile != "" {
		p, err := LoadPasswords(o.PasswordFile)
		if err != nil {
			return nil, err
		}
		a.pw.Store(p)
	}
	return a, nil
}

// Reload reads the password file again and swaps it in. On error the
// current one stays in force. Connected clients are not affected.
func (a *Authenticator) Reload() error {
	if a.opts.PasswordFile == "" {
		return nil
	}
	p, err := LoadPasswords(a.opts.PasswordFile)
	if err != nil {
		return err
	}
	a.pw.Store(p)
	a.cacheMu.Lock()
	for u, v := range a.cache {
		if string(p.users[u]) != v.hash {
			delete(a.cache, u)
		}
	}
	a.cacheMu.Unlock()
	return nil
}

// Users is the number of users in the password file in force.
func (a *Authenticator) Users() int {
	if p := a.pw.Load(); p != nil {
		return p.Len()
	}
	return 0
}

// Stats returns the counters.
func (a *Authenticator) Stats() Stats {
	return Stats{Failures: a.failures.Load(), RateLimited: a.limited.Load(), Tracked: a.limiter.tracked()}
}

// Authenticate implements broker.Authenticator.
func (a *Authenticator) Authenticate(c *broker.ClientInfo, password []byte, hasPassword bool) error {
	addr := hostOf(c.RemoteAddr)
	now := time.Now()
	if blocked, until := a.limiter.blocked(addr, now); blocked {
		a.limited.Add(1)
		a.limitedLog.Warn("remote", addr,
			"client", c.ClientID, "username", c.Username, "listener", c.Listener,
			"retry_after", until.Sub(now).Round(time.Second))
		return packet.ConnectionRateExceeded
	}
	if a.fromCN[c.Listener] {
		var cn string
		if c.TLS != nil && len(c.TLS.PeerCertificates) > 0 {
			cn = c.TLS.PeerCertificates[0].Subject.CommonName
		}
		if cn == "" {
			return a.fail(c, addr, now, "client certificate without a Common Name", packet.NotAuthorized)
		}
		c.Username = cn
		return nil
	}
	if c.Username == "" {
		if a.opts.AllowAnonymous || a.opts.AnonymousOn != nil && a.opts.AnonymousOn(c.Listener) {
			return nil
		}
		return a.fail(c, addr, now, "no username, and allow_anonymous is false", packet.NotAuthorized)
	}
	pw := a.pw.Load()
	if pw == nil {
		if a.opts.AllowAnonymous {
			return nil
		}
		return a.fail(c, addr, now, "no password file", packet.BadUsernameOrPassword)
	}
	if !hasPassword {
		return a.fail(c, addr, now, "no password", packet.BadUsernameOrPassword)
	}
	if ok, known := a.verify(pw, c.Username, password); !ok {
		why := "wrong password"
		if !known {
			why = "unknown user"
		}
		return a.fail(c, addr, now, why, packet.BadUsernameOrPassword)
	}
	return nil
}

// Verify reports whether password is user's in the password file in force
// (false when there is none). For HTTP basic authentication.
func (a *Authenticator) Verify(user string, password []byte) bool {
	pw := a.pw.Load()
	if pw == nil {
		return false
	}
	ok, _ := a.verify(pw, user, password)
	return ok
}

// verify checks password against user's hash; known is false for a user
// not in the file (checked against a dummy hash all the same, so that the
// time taken does not tell which users exist).
func (a *Authenticator) verify(pw *Passwords, user string, password []byte) (ok, known bool) {
	hash, known := pw.users[user]
	if len(password) > MaxPasswordLen {
		return false, known
	}
	mac := hmac.New(sha256.New, a.cacheKey[:])
	mac.Write(password)
	var sum [32]byte
	mac.Sum(sum[:0])
	if known {
		a.cacheMu.Lock()
		v, hit := a.cache[user]
		a.cacheMu.Unlock()
		if hit && v.hash == string(hash) && hmac.Equal(v.mac[:], sum[:]) {
			return true, true
		}
	} else {
		a.dummyOnce.Do(func() {
			var junk [16]byte
			rand.Read(junk[:])
			a.dummy, _ = bcrypt.GenerateFromPassword(junk[:], DefaultCost)
		})
		hash = a.dummy
	}
	a.slots <- struct{}{}
	err := bcrypt.CompareHashAndPassword(hash, password)
	<-a.slots
	if err != nil || !known {
		return false, known
	}
	a.cacheMu.Lock()
	a.cache[user] = verified{hash: string(hash), mac: sum}
	a.cacheMu.Unlock()
	return true, true
}

// fail counts and logs a failed login and returns code.
func (a *Authenticator) fail(c *broker.ClientInfo, addr string, now time.Time, why string, code packet.ReasonCode) error {
	a.failures.Add(1)
	limited := a.limiter.fail(addr, now)
	a.log.Warn("authentication failed", "client", c.ClientID, "username", c.Username,
		"remote", addr, "listener", c.Listener, "reason", why)
	if limited {
		a.log.Warn("too many failed logins: refusing this address", "remote", addr,
			"max_failures", a.opts.MaxFailures, "window", a.opts.Window)
	}
	return code
}

// hostOf is the IP of a remote address, the key of the failure limit.
func hostOf(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	s := addr.String()
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}
