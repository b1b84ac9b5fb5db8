package broker

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// handleConnect handles the first packet of a connection. On success the
// CONNACK is queued, the writer runs and the connection is attached to its
// session. On failure a CONNACK with the reason is written (when the
// version is known) and the error returned closes the connection.
func (c *conn) handleConnect(h packet.Header, body []byte) error {
	s := c.srv
	s.stats.connectsTotal.Add(1)
	var p packet.Connect
	if err := p.Decode(h, body); err != nil {
		var pe *packet.Error
		if errors.As(err, &pe) && pe.Code == packet.UnsupportedProtocolVersion {
			// [MQTT-3.1.2-2] Answer in the client's own terms: 3.1.1 code 0x01.
			c.version = p.Version
			code := packet.V3UnacceptableVersion
			v := packet.V311
			if p.Version == packet.V5 {
				code, v = packet.UnsupportedProtocolVersion, packet.V5
			}
			c.writeConnack(v, &packet.Connack{Code: code})
		} else if p.Version == packet.V5 && errors.As(err, &pe) {
			c.writeConnack(packet.V5, &packet.Connack{Code: pe.Code})
		}
		return err
	}
	c.version = p.Version
	c.bridge = p.Bridge
	v := p.Version
	refuse := func(code5, code3 packet.ReasonCode, why string) error {
		s.stats.connectsRefused.Add(1)
		code := code3
		if v == packet.V5 {
			code = code5
		}
		c.writeConnack(v, &packet.Connack{Code: code})
		c.logWarn("connection refused", "client", string(p.ClientID), "username", string(p.Username), "reason", why)
		return errClose
	}

	// Client identifier [MQTT-3.1.3-6..8].
	id := string(p.ClientID)
	assigned := false
	if id == "" {
		if v != packet.V5 && (!p.CleanStart || v == packet.V31) {
			return refuse(packet.ClientIDNotValid, packet.V3IdentifierRejected, "empty client id without clean session")
		}
		id = "edgemq-" + randomID()
		assigned = true
	}
	c.info.ClientID = id

	// Keep alive: v5 clients are told the Server Keep Alive; 3.1.1 clients
	// asking for more than max_keepalive are refused, as mosquitto does.
	keepAlive := uint32(p.KeepAlive)
	serverKeepAlive := false
	if max := uint32(s.limits.MaxKeepAlive); keepAlive > max || keepAlive == 0 {
		if v == packet.V5 {
			keepAlive, serverKeepAlive = max, true
		} else if keepAlive > max {
			return refuse(0, packet.V3IdentifierRejected, "keep alive above max_keepalive")
		}
	}
	c.keepAlive = time.Duration(keepAlive) * 1500 * time.Millisecond

	if v == packet.V5 && p.Props.AuthMethod != nil {
		return refuse(packet.BadAuthenticationMethod, 0, "enhanced authentication is not supported")
	}

	// Credentials.
	c.info.Username = string(p.Username)
	if tc, ok := c.nc.(interface {
		ConnectionState() tls.ConnectionState
	}); ok {
		st := tc.ConnectionState()
		c.info.TLS = &st
	}
	if s.opts.Auth != nil {
		if err := s.opts.Auth.Authenticate(&c.info, p.Password, p.PasswordFlag); err != nil {
			var code packet.ReasonCode
			if !errors.As(err, &code) {
				code = packet.NotAuthorized
			}
			// 3.1.1 0x04 means malformed credentials [MQTT-3.2.2.3]; wrong
			// ones are 0x05 "not authorized", as mosquitto answers.
			code3 := packet.V3NotAuthorized
			if code == packet.ServerBusy || code == packet.ServerUnavailable {
				code3 = packet.V3ServerUnavailable
			}
			return refuse(code, code3, "authentication failed: "+err.Error())
		}
	}

	// Will.
	if p.WillFlag {
		if err := packet.ValidTopicName(p.WillTopic); err != nil {
			return err
		}
		if s.opts.ACL != nil && !s.opts.ACL.CanPublish(&c.info, p.WillTopic) {
			return refuse(packet.NotAuthorized, packet.V3NotAuthorized, "will topic not allowed by the ACL: "+string(p.WillTopic))
		}
		m := s.msgs.get()
		m.Hold()
		wp := packet.Publish{QoS: p.WillQoS, Retain: p.WillRetain, Topic: p.WillTopic, Payload: p.WillPayload, Props: p.WillProps}
		m.fill(&wp, p.WillTopic)
		// The will's expiry counts from when it is published.
		m.Expiry = time.Time{}
		c.will = &will{msg: m, delay: p.WillProps.WillDelay,
			expiry: p.WillProps.MessageExpiry, hasExpiry: p.WillProps.Has(packet.PropMessageExpiry)}
	}

	// What the client allows us (v5).
	c.clientReceiveMax = 65535
	c.problemInfo = true
	if v == packet.V5 {
		if p.Props.Has(packet.PropReceiveMaximum) {
			c.clientReceiveMax = int(p.Props.ReceiveMaximum)
		}
		if p.Props.Has(packet.PropMaximumPacketSize) {
			c.clientMaxPacket = int(p.Props.MaximumPacketSize)
		}
		c.clientAliasMax = int(p.Props.TopicAliasMaximum)
		if p.Props.Has(packet.PropRequestProblemInfo) {
			c.problemInfo = p.Props.RequestProblemInfo == 1
		}
	}

	// Session expiry: 3.1.1 clean session 0 keeps the session for ever.
	var expiry uint32
	switch {
	case v == packet.V5:
		expiry = p.Props.SessionExpiry
	case !p.CleanStart:
		expiry = expiryNever
	}
	sess, present := s.attach(c, p.CleanStart, expiry)
	c.sess = sess

	ack := packet.Connack{SessionPresent: present}
	if v == packet.V5 {
		pr := &ack.Props
		if assigned {
			pr.AssignedClientID = []byte(id)
		}
		if serverKeepAlive {
			pr.ServerKeepAlive = uint16(keepAlive)
			pr.Set(packet.PropServerKeepAlive)
		}
		if s.limits.ReceiveMaximum < 65535 {
			pr.ReceiveMaximum = uint16(s.limits.ReceiveMaximum)
			pr.Set(packet.PropReceiveMaximum)
		}
		pr.MaximumPacketSize = uint32(s.limits.MaxPacketSize)
		pr.Set(packet.PropMaximumPacketSize)
		pr.TopicAliasMaximum = uint16(s.limits.MaxTopicAlias)
		pr.Set(packet.PropTopicAliasMaximum)
		if p.Props.RequestResponseInfo == 1 {
			// [MQTT-3.1.2-28] only when asked for.
			pr.ResponseInfo = []byte("edgemq/response/" + id)
		}
		c.aliasIn = make([][]byte, s.limits.MaxTopicAlias)
	}
	// The CONNACK goes out from here, before the writer may run: most
	// connections have nothing else to send yet, and need no writer
	// goroutine for it (a connection storm starts half as many).
	var buf [64]byte
	c.nc.SetWriteDeadline(time.Now().Add(minWriteTimeout))
	b := ack.Append(buf[:0], v)
	if _, err := c.nc.Write(b); err != nil {
		return err
	}
	c.stats.bytesOut.Add(uint64(len(b)))
	c.connected.Store(true)
	c.startWriter()

	if c.srv.store != nil && sess.persistent {
		s.saveSession(sess)
	}
	c.logInfo("client connected", "username", c.info.Username, "bridge", c.bridge,
		"clean_start", p.CleanStart, "session_present", present, "keepalive", keepAlive)
	return nil
}

// writeConnack writes a CONNACK straight to the socket (the writer is not
// running yet) for a refused connection.
func (c *conn) writeConnack(v packet.Version, ack *packet.Connack) {
	c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	c.nc.Write(ack.Append(nil, v))
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
