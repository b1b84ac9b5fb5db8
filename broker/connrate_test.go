package broker_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/broker/packet"
)

// BenchmarkConnectDisconnect measures a whole client connection: dial,
// CONNECT, CONNACK, DISCONNECT, close.
func BenchmarkConnectDisconnect(b *testing.B) {
	t := &testing.T{}
	tb := startBroker(t, broker.Options{})
	disc := (&packet.Disconnect{}).Append(nil, packet.V311)
	var buf [16]byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		nc, err := net.Dial("tcp", tb.addr)
		if err != nil {
			b.Fatal(err)
		}
		p := packet.Connect{ClientID: []byte(fmt.Sprint("c", i%100)), CleanStart: true}
		nc.Write(p.Append(nil, packet.V311))
		if _, err := nc.Read(buf[:]); err != nil {
			b.Fatal(err)
		}
		nc.Write(disc)
		nc.Read(buf[:]) // EOF once the broker closes
		nc.Close()
	}
}
