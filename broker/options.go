package broker

import (
	"log/slog"
	"time"

	"github.com/edgemq/edgemq/storage"
)

// Limits bound what one client may use. Zero fields take the defaults of
// DefaultLimits, except MaxTopicAlias, where 0 means no topic aliases.
type Limits struct {
	MaxConnections    int // concurrent connections; more are refused "server busy"
	MaxPacketSize     int // bytes, both directions (advertised in v5 CONNACK)
	MaxInflight       int // outbound QoS 1/2 messages awaiting acknowledgement, per client
	ReceiveMaximum    int // inbound QoS 1/2 messages awaiting our acknowledgement, per client
	MaxKeepAlive      int // seconds; v5 Server Keep Alive caps what clients ask for
	MaxQueuedMessages int // per client, beyond the inflight window
	MaxQueuedBytes    int // per client, beyond the inflight window
	MaxTopicAlias     int // v5 topic aliases the broker accepts per connection; 0: none
	RetainedMax       int // retained messages kept; more are refused
	// MaxTotalQueuedBytes bounds the memory all clients' queues hold
	// together (an estimate: an entry per delivery, one copy per message).
	// Beyond it new deliveries are dropped whatever their QoS and counted
	// (dropped_memory), so that many slow clients cannot exhaust RAM.
	MaxTotalQueuedBytes int64
	ConnectTimeout      time.Duration // a connection that sends no CONNECT within it is closed
}

// DefaultLimits are the limits of DESIGN.md section 3.
func DefaultLimits() Limits {
	return Limits{
		MaxConnections:      1000,
		MaxPacketSize:       1 << 20,
		MaxInflight:         32,
		ReceiveMaximum:      32,
		MaxKeepAlive:        600,
		MaxQueuedMessages:   1000,
		MaxQueuedBytes:      4 << 20,
		MaxTopicAlias:       64,
		RetainedMax:         10000,
		MaxTotalQueuedBytes: 64 << 20,
		ConnectTimeout:      10 * time.Second,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.MaxConnections, d.MaxConnections)
	set(&l.MaxPacketSize, d.MaxPacketSize)
	set(&l.MaxInflight, d.MaxInflight)
	set(&l.ReceiveMaximum, d.ReceiveMaximum)
	set(&l.MaxKeepAlive, d.MaxKeepAlive)
	set(&l.MaxQueuedMessages, d.MaxQueuedMessages)
	set(&l.MaxQueuedBytes, d.MaxQueuedBytes)
	set(&l.RetainedMax, d.RetainedMax)
	if l.MaxTotalQueuedBytes == 0 {
		l.MaxTotalQueuedBytes = d.MaxTotalQueuedBytes
	}
	if l.ConnectTimeout == 0 {
		l.ConnectTimeout = d.ConnectTimeout
	}
	if l.MaxInflight > 65535 {
		l.MaxInflight = 65535
	}
	if l.ReceiveMaximum > 65535 {
		l.ReceiveMaximum = 65535
	}
	return l
}

// Options configure a Server. The zero value (with a Logger) is an
// in-memory broker with the default limits.
type Options struct {
	// Logger receives the broker's log; nil discards it.
	Logger *slog.Logger
	// Store persists sessions, queued messages and retained messages.
	// nil keeps everything in memory (nothing survives a restart).
	Store *storage.Store
	// Limits bound each client; zero fields take their defaults.
	Limits Limits
	// SysInterval is the period of $SYS/broker/... updates; 0 disables them.
	SysInterval time.Duration
	// Version is reported in $SYS/broker/version.
	Version string
	// Board describes the box (board.Info.String()), reported in
	// $SYS/broker/board; "" leaves the topic out.
	Board string
	// Auth checks credentials at CONNECT; nil allows everyone.
	Auth Authenticator
	// ACL checks publish, subscribe and delivery; nil allows everything.
	ACL Authorizer
	// Clock returns the wall-clock time stamped on stored records (session
	// disconnect times, when a stored message was written); nil is
	// time.Now. Timers and expiry while running use Go's monotonic clock,
	// so only restarts look at it. Tests inject a fake one.
	Clock func() time.Time
}
