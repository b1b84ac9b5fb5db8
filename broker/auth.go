package broker

import (
	"crypto/tls"
	"net"
)

// ClientInfo describes a connected client to authentication and ACL hooks.
// Hooks must not keep it beyond the call.
type ClientInfo struct {
	ClientID   string
	Username   string // after authentication: the user the client acts as
	Listener   string // the name of the listener it came in on
	RemoteAddr net.Addr
	// TLS is the connection state for tls and wss listeners, else nil.
	TLS *tls.ConnectionState
}

// Authenticator checks the credentials of a CONNECT.
type Authenticator interface {
	// Authenticate returns nil to accept the client, which it may give a
	// different Username (for example the CN of its certificate). To refuse,
	// it returns a packet.ReasonCode (BadUsernameOrPassword, NotAuthorized,
	// Banned, ServerBusy...) or any other error (sent as NotAuthorized).
	Authenticate(c *ClientInfo, password []byte, hasPassword bool) error
}

// Authorizer checks what an authenticated client may do.
type Authorizer interface {
	// CanPublish reports whether c may publish to topic.
	CanPublish(c *ClientInfo, topic []byte) bool
	// CanSubscribe reports whether c may subscribe to filter (the filter
	// without any $share/group/ prefix).
	CanSubscribe(c *ClientInfo, filter string) bool
	// CanReceive reports whether a message on topic may be delivered to c
	// (also checked for retained messages and wills).
	CanReceive(c *ClientInfo, topic []byte) bool
}
