package packet

import "strconv"

// validCode reports whether c may appear as the reason code (v5) or return
// code (3.1.1) of packet type t. Tables: 3.1.1 sections 3.2.2.3 and 3.9.3;
// 5.0 sections 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3,
// 3.14.2.1, 3.15.2.1.
func validCode(t Type, v Version, c ReasonCode) bool {
	switch t {
	case CONNACK:
		if v != V5 {
			return c <= V3NotAuthorized
		}
		switch c {
		case Success, UnspecifiedError, MalformedPacket, ProtocolError, ImplementationSpecific,
			UnsupportedProtocolVersion, ClientIDNotValid, BadUsernameOrPassword, NotAuthorized,
			ServerUnavailable, ServerBusy, Banned, BadAuthenticationMethod, TopicNameInvalid,
			PacketTooLarge, QuotaExceeded, PayloadFormatInvalid, RetainNotSupported,
			QoSNotSupported, UseAnotherServer, ServerMoved, ConnectionRateExceeded:
			return true
		}
	case PUBACK, PUBREC:
		switch c {
		case Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecific,
			NotAuthorized, TopicNameInvalid, PacketIDInUse, QuotaExceeded, PayloadFormatInvalid:
			return true
		}
	case PUBREL, PUBCOMP:
		return c == Success || c == PacketIDNotFound
	case SUBACK:
		if v != V5 {
			return c <= GrantedQoS2 || c == V3SubackFailure
		}
		switch c {
		case Success, GrantedQoS1, GrantedQoS2, UnspecifiedError, ImplementationSpecific,
			NotAuthorized, TopicFilterInvalid, PacketIDInUse, QuotaExceeded,
			SharedSubNotSupported, SubscriptionIDsNotSupported, WildcardSubNotSupported:
			return true
		}
	case UNSUBACK:
		switch c {
		case Success, NoSubscriptionExisted, UnspecifiedError, ImplementationSpecific,
			NotAuthorized, TopicFilterInvalid, PacketIDInUse:
			return true
		}
	case DISCONNECT:
		switch c {
		case Success, DisconnectWithWill, UnspecifiedError, MalformedPacket, ProtocolError,
			ImplementationSpecific, NotAuthorized, ServerBusy, ServerShuttingDown,
			KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid, TopicNameInvalid,
			ReceiveMaximumExceeded, TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh,
			QuotaExceeded, AdministrativeAction, PayloadFormatInvalid, RetainNotSupported,
			QoSNotSupported, UseAnotherServer, ServerMoved, SharedSubNotSupported,
			ConnectionRateExceeded, MaximumConnectTime, SubscriptionIDsNotSupported,
			WildcardSubNotSupported:
			return true
		}
	case AUTH:
		return c == Success || c == ContinueAuthentication || c == ReAuthenticate
	}
	return false
}

// codeErr reports a reason code that packet type t cannot carry.
func codeErr(t Type, field string, c ReasonCode) *Error {
	return errAt(ProtocolError, t, field, "0x"+string(hexDigits[c>>4])+string(hexDigits[c&15])+" not allowed", []byte{byte(c)}, -1)
}

// packetID reads a non-zero Packet Identifier at b[i:] [MQTT-2.3.1-1]
// (3.1.1), [MQTT-2.2.1-3] (5.0).
func packetID(t Type, b []byte, i int) (uint16, error) {
	if i+2 > len(b) {
		return 0, shortErr(t, "packet identifier", 2, len(b)-i)
	}
	id := uint16(b[i])<<8 | uint16(b[i+1])
	if id == 0 {
		return 0, protocolErr(t, "packet identifier", "0")
	}
	return id, nil
}

// exactLen checks a body whose length the version fixes.
func exactLen(t Type, body []byte, want int) error {
	if len(body) != want {
		return errAt(MalformedPacket, t, "remaining length", strconv.Itoa(len(body))+", must be "+strconv.Itoa(want), body, -1)
	}
	return nil
}
