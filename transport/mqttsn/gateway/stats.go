package gateway

import "sync/atomic"

// Drops counts what the gateway threw away, by reason. Every drop is also
// answered where the protocol has an answer (the return code in brackets).
type Drops struct {
	// QueueFull: QoS 0 deliveries dropped, oldest first, because a
	// client's queue held mqttsn.sleep_queue messages (an asleep or slow
	// client).
	QueueFull uint64
	// Congestion: packets from a client dropped because its input queue
	// was full [PUBACK/REGACK/SUBACK "rejected: congestion"], and QoS 1/2
	// PUBLISHes refused while too many were awaiting the broker.
	Congestion uint64
	// InvalidTopic: PUBLISHes with an unknown topic id or an invalid short
	// name, and SUBSCRIBEs with an unknown predefined id or an invalid
	// filter ["rejected: invalid topic ID"].
	InvalidTopic uint64
	// TooLarge: deliveries longer than the client's link carries (65535
	// octets over UDP, the frame bound on serial lines); QoS 1/2 ones are
	// acknowledged to the broker so they do not block the client.
	TooLarge uint64
	// UnknownClient: packets from an address or node with no client, other
	// than CONNECT, SEARCHGW and QoS -1 PUBLISH [answered with DISCONNECT].
	UnknownClient uint64
	// Malformed: packets that do not decode.
	Malformed uint64
	// TableFull: CONNECTs refused because max_clients clients are known
	// ["rejected: congestion"].
	TableFull uint64
	// LinkQueue: packets to a serial node dropped because the line's send
	// queue was full or the port was closed.
	LinkQueue uint64
	// Rejected: deliveries the client refused (a PUBACK or REGACK with an
	// error code other than "invalid topic ID"), or that the broker
	// refused (SUBACK failure, CONNACK refusal).
	Rejected uint64
	// NotSupported: packets the gateway does not serve, such as a QoS -1
	// PUBLISH to a topic that is not predefined or short, or an
	// unexpected message type ["rejected: not supported" where answered].
	NotSupported uint64
}

// TransportStats is a snapshot of one UDP socket or serial line.
type TransportStats struct {
	Name string // "udp:127.0.0.1:1884", "serial:/dev/ttyUSB0"
	Kind string // "udp", "raw", "rs485" or "xbee"
	Up   bool   // the socket or port is open

	Clients  int    // clients known now: connecting, active, asleep or awake
	Asleep   int    // of which asleep or awake (DISCONNECT with a duration)
	Connects uint64 // CONNECTs the broker accepted
	Lost     uint64 // clients declared lost (keep-alive, retries, polls, takeover); their wills were published

	PacketsIn   uint64 // MQTT-SN packets received (after deframing)
	PacketsOut  uint64 // MQTT-SN packets sent
	MessagesIn  uint64 // PUBLISHes from clients passed to the broker, QoS -1 included
	MessagesOut uint64 // PUBLISHes sent to clients (retransmissions not counted)
	Drops       Drops

	// Serial lines only.
	Opens           uint64 // times the port was opened; above 1 it was reopened
	BadFrames       uint64 // frames dropped: bad CRC or checksum, bad escape, oversize, malformed
	SkippedBytes    uint64 // line noise skipped between frames
	PollsUnanswered uint64 // rs485: polls that got no reply within reply_timeout
	LineControl     string // rs485: "kernel" (TIOCSRS485), "rts" (RTS toggled by the gateway) or "none"
}

// Stats is a snapshot of the whole gateway, one entry per transport in the
// order they were started, then the connectionless (QoS -1) publisher.
type Stats struct {
	Transports []TransportStats
	// QoSMinus1 counts QoS -1 PUBLISHes passed to the broker, all
	// transports together (each also counts them in MessagesIn).
	QoSMinus1 uint64
}

// counters are one transport's statistics, written by its goroutines and
// its clients' and read by Stats.
type counters struct {
	connects, lost            atomic.Uint64
	packetsIn, packetsOut     atomic.Uint64
	msgsIn, msgsOut           atomic.Uint64
	queueFull, congestion     atomic.Uint64
	invalidTopic, tooLarge    atomic.Uint64
	unknownClient, malformed  atomic.Uint64
	tableFull, linkQueue      atomic.Uint64
	rejected, notSupported    atomic.Uint64
	opens, badFrames, skipped atomic.Uint64
	pollsUnanswered           atomic.Uint64
	up                        atomic.Bool
	lineControl               atomic.Value // string
}

func (c *counters) snapshot(name, kind string) TransportStats {
	lc, _ := c.lineControl.Load().(string)
	return TransportStats{
		Name: name, Kind: kind, Up: c.up.Load(),
		Connects: c.connects.Load(), Lost: c.lost.Load(),
		PacketsIn: c.packetsIn.Load(), PacketsOut: c.packetsOut.Load(),
		MessagesIn: c.msgsIn.Load(), MessagesOut: c.msgsOut.Load(),
		Drops: Drops{
			QueueFull: c.queueFull.Load(), Congestion: c.congestion.Load(),
			InvalidTopic: c.invalidTopic.Load(), TooLarge: c.tooLarge.Load(),
			UnknownClient: c.unknownClient.Load(), Malformed: c.malformed.Load(),
			TableFull: c.tableFull.Load(), LinkQueue: c.linkQueue.Load(),
			Rejected: c.rejected.Load(), NotSupported: c.notSupported.Load(),
		},
		Opens: c.opens.Load(), BadFrames: c.badFrames.Load(), SkippedBytes: c.skipped.Load(),
		PollsUnanswered: c.pollsUnanswered.Load(), LineControl: lc,
	}
}
