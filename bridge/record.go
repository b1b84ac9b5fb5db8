package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// A queued message is stored as one record under an 8-byte big-endian
// sequence number in the bridge's bucket, so that a Scan returns the queue
// in order:
//
//	offset size
//	0      1    version (1)
//	1      4    CRC-32C (Castagnoli) of the bytes from offset 5 to the end
//	5      8    when it was queued, Unix nanoseconds, big-endian
//	13     1    flags: bits 0-1 QoS on the remote side, bit 2 retain
//	14     2    topic length, big-endian
//	16     n    remote topic
//	16+n   ...  payload
//
// The topic is the remote one, mapped when the message was queued, so a
// reload that changes the rules does not rename what is already queued.
// The CRC catches a record damaged on flash; a damaged record is reported
// and skipped, and the rest of the queue is kept.
//
// A QoS 2 message also gets a second key, the sequence number followed by
// 'i', holding the 2-byte packet identifier it was sent with, so that
// after a restart it is resent with the same identifier and the remote
// delivers it once.
const (
	recVersion = 1
	recHeader  = 16
	seqKeyLen  = 8
	idKeySufx  = 'i'
	// idReleased follows the packet id in the value of an id key when the
	// entry's PUBREL went out (queue.storeReleased).
	idReleased = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends the record of a message to dst.
func appendRecord(dst []byte, at time.Time, qos byte, retain bool, topic string, payload []byte) []byte {
	start := len(dst)
	flags := qos & 3
	if retain {
		flags |= 4
	}
	dst = append(dst, recVersion, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(at.UnixNano()))
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(topic)))
	dst = append(dst, topic...)
	dst = append(dst, payload...)
	binary.BigEndian.PutUint32(dst[start+1:], crc32.Checksum(dst[start+5:], castagnoli))
	return dst
}

// record is a decoded record; its slices point into the stored bytes.
type record struct {
	at      time.Time
	qos     byte
	retain  bool
	topic   []byte
	payload []byte
}

var errShortRecord = errors.New("record shorter than its header")

// decodeRecord checks and decodes a stored record.
func decodeRecord(v []byte) (record, error) {
	var r record
	if len(v) < recHeader {
		return r, fmt.Errorf("%w (%d bytes: % x)", errShortRecord, len(v), v)
	}
	if v[0] != recVersion {
		return r, fmt.Errorf("record version %d, want %d", v[0], recVersion)
	}
	if got, want := crc32.Checksum(v[5:], castagnoli), binary.BigEndian.Uint32(v[1:]); got != want {
		return r, fmt.Errorf("record checksum %08x, stored %08x (%d bytes)", got, want, len(v))
	}
	flags := v[13]
	if flags&^7 != 0 || flags&3 == 3 {
		return r, fmt.Errorf("record flags %#02x: unknown bits or QoS 3", flags)
	}
	n := int(binary.BigEndian.Uint16(v[14:]))
	if recHeader+n > len(v) || n == 0 {
		return r, fmt.Errorf("record topic length %d, record %d bytes", n, len(v))
	}
	r.at = time.Unix(0, int64(binary.BigEndian.Uint64(v[5:])))
	r.qos = flags & 3
	r.retain = flags&4 != 0
	r.topic = v[recHeader : recHeader+n]
	r.payload = v[recHeader+n:]
	return r, nil
}

// recordTime returns when a record was queued, without checking it.
func recordTime(v []byte) time.Time {
	if len(v) < recHeader {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v[5:])))
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, seqKeyLen+1), seq)
}

func idKey(seq uint64) []byte {
	return append(seqKey(seq), idKeySufx)
}
