// Package bridge forwards messages between the local broker and remote
// MQTT brokers (cloud or a self-hosted cluster), storing what goes out on
// flash while the uplink is down.
//
// A Manager runs any number of bridges; Apply starts, stops and
// reconfigures them (SIGHUP). Each bridge has:
//
//   - a tap (tap.go): an in-process subscriber on the local broker that,
//     during routing and before the publisher's PUBACK, appends each
//     message an out rule selects to the bridge's queue, inside the
//     publisher's storage batch (one group commit covers both);
//   - a queue (queue.go): a durable FIFO in one storage bucket, keyed by
//     big-endian sequence numbers, bounded by queue.max_bytes with a
//     drop_oldest or drop_new policy, and a bounded memory ring for QoS 0
//     rules (those messages are not stored: they are lost on restart, and
//     the ring keeps at most min(max_bytes, 1 MiB));
//   - a link (link.go, serve.go): the connection, made with
//     paho.mqtt.golang. paho's automatic reconnection and its own store
//     are off: the link reconnects itself with exponential backoff and
//     jitter, keeps the inflight window, and gives paho a session
//     (session.go) through which resends after a reconnection carry DUP
//     and their original packet ids.
//
// Guarantees, for QoS 1 and 2 out rules: a message acknowledged to its
// local publisher is on disk (storage.sync permitting) and reaches the
// remote at least once, in the order the queue received it (so in each
// publisher's order), after any number of reconnections, restarts or
// kill -9. An entry leaves the queue only once the remote's PUBACK or
// PUBCOMP has arrived. The queue sends only committed entries, so nothing
// is forwarded that its publisher might not see acknowledged. QoS 2 on a
// clean_session: false connection is delivered once by the remote: resends
// use the same packet id, stored before the first send so that it
// survives a restart.
//
// Inbound rules subscribe on the remote broker on every connection; each
// message is published into the local broker (marked with the bridge's
// name, so that the same bridge does not send it back) and acknowledged to
// the remote only once the local publish has returned.
//
// Observability: Manager.Stats returns one snapshot per bridge (link
// state, backlog, oldest age, drain rate, counters), the same numbers are
// published as $SYS/bridge/<name>/... topics, and a long drain logs its
// progress every few seconds.
package bridge
