// Package gateway is edgemq's MQTT-SN v1.2 gateway, a transparent one
// [MQTT-SN 4.2.1]: every MQTT-SN client gets its own MQTT 3.1.1
// connection to the broker, an in-process net.Pipe handed to the broker's
// ServeConn. Sessions, clean session, QoS 1/2 state, retained messages,
// ACLs, persistence and $SYS counters are therefore the broker's own; the
// gateway translates and keeps what MQTT has no place for:
//
//   - topic ids: each client's table of normal ids (REGISTER/REGACK in both
//     directions; the gateway REGISTERs a topic before it first PUBLISHes
//     it to a client that subscribed with a wildcard), short two-character
//     names, and the predefined ids of the config;
//   - QoS -1: PUBLISHes without a connection, to predefined ids or short
//     names, go out on one shared connection "edgemq-mqttsn-gw<GatewayID>";
//   - the will: MQTT cannot change a will on an open connection and
//     MQTT-SN can (WILLTOPICUPD, WILLMSGUPD), so the gateway holds it and,
//     when it declares a client lost, publishes it on the client's own
//     connection (the broker's ACL and retain rules apply as to any publish
//     of that client) before closing the connection;
//   - keep alive: a client silent for 1.5 times its Duration (a Duration of
//     0, or above MaxKeepAlive, counts as MaxKeepAlive) is lost; so is a
//     client that leaves a QoS 1/2 PUBLISH, PUBREL or REGISTER unanswered
//     after RetryCount retransmissions, an RS-485 node that leaves
//     LostAfter polls unanswered, and a client whose ClientId connects
//     again from elsewhere;
//   - sleeping clients [6.14]: DISCONNECT with a Duration keeps the MQTT
//     connection open; deliveries wait in the client's queue and go out
//     when it wakes (PINGREQ: the queue, then PINGRESP) or reconnects;
//   - ADVERTISE and SEARCHGW/GWINFO on UDP, GWINFO on serial lines.
//
// # Bounds
//
// Each client's loop is one goroutine; the MQTT reader of its connection
// is another, and never blocks on the client: it queues what the broker
// sends in the client's bounded queue (outQueue: SleepQueue messages, the
// oldest QoS 0 dropped first; QoS 1/2 are bounded by the broker's
// max_inflight), so a slow or asleep client never holds up the broker's
// writer. A client's loop takes at most 64 packets ahead of it; beyond,
// the transport answers "rejected: congestion". UDP clients are bounded
// by MaxClients over all sockets; a CONNECT beyond it is answered
// "rejected: congestion", and entries that do not finish CONNECT within
// ConnectTimeout are forgotten. Every drop is counted in Stats.
//
// # Transports
//
// UDP sockets key clients by source address (and Wireless Node Id behind
// a forwarder [5.5]). Serial lines use the framings of package
// transport/serial: raw (optionally with Forwarder Encapsulation), rs485
// (the gateway polls the bus, see rs485.go) and xbee (API mode 2). A serial
// port that fails or disappears is reopened with backoff; its clients stay
// until their keep-alive rules say they are lost.
//
// docs/mqttsn.md describes the wire formats, config and behaviour for
// users and firmware authors.
package gateway
