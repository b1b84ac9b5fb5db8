package gateway_test

import (
	"net"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/transport/mqttsn/gateway"
)

// BenchmarkUDPLoad100Sensors: 100 simulated sensors (raw UDP sockets, each
// connected and with its topic REGISTERed) publish QoS 0 through the
// gateway to one paho MQTT subscriber over TCP. Sensors take turns, one
// datagram each, and keep at most `window` messages unreceived in flight
// (closed loop; below the broker's max_queued_messages, so that a slow
// subscriber does not lose QoS 0 in the broker); messages the subscriber never gets are counted as lost
// after a stall of 500 ms. Reported: messages/s received, loss in percent,
// and CPU time per message of the whole process (load generator, gateway,
// broker and subscriber share it: go test runs them all).
//
//	go test -run '^$' -bench UDPLoad -benchtime 200000x ./transport/mqttsn/gateway
func BenchmarkUDPLoad100Sensors(b *testing.B) {
	const sensors, window = 100, 500
	e := newEnv(b, gateway.Options{}, broker.Options{}, "")
	var got atomic.Int64
	o := mqtt.NewClientOptions().AddBroker("tcp://" + e.mqttAddr).SetClientID("load-sub").SetAutoReconnect(false)
	sub := mqtt.NewClient(o)
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("load/#", 0, func(mqtt.Client, mqtt.Message) { got.Add(1) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}

	ua, _ := net.ResolveUDPAddr("udp", e.udp)
	conns := make([]*net.UDPConn, sensors)
	pubs := make([][]byte, sensors)
	buf := make([]byte, 64)
	for i := range conns {
		c, err := net.DialUDP("udp", nil, ua)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
		id := "sensor-" + strconv.Itoa(i)
		c.Write(append([]byte{byte(6 + len(id)), 0x04, 0x04, 0x01, 0x00, 0x3C}, id...)) // CONNECT
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(buf); err != nil || n != 3 || buf[2] != 0 {
			b.Fatalf("sensor %d CONNACK: % X %v", i, buf[:n], err)
		}
		topic := "load/" + strconv.Itoa(i) + "/temp"
		c.Write(append([]byte{byte(6 + len(topic)), 0x0A, 0, 0, 0, 1}, topic...)) // REGISTER
		if n, err := c.Read(buf); err != nil || n != 7 || buf[6] != 0 {
			b.Fatalf("sensor %d REGACK: % X %v", i, buf[:n], err)
		}
		payload := "21.5C"
		pubs[i] = append([]byte{byte(7 + len(payload)), 0x0C, 0x00, buf[2], buf[3], 0, 0}, payload...) // PUBLISH QoS 0
	}

	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	sent, lost := 0, int64(0)
	stalled := func(target int64) {
		last, since := got.Load(), time.Now()
		for got.Load()+lost < target {
			if n := got.Load(); n != last {
				last, since = n, time.Now()
			} else if time.Since(since) > 500*time.Millisecond {
				lost = int64(sent) - n
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	for sent < b.N {
		for i := 0; i < sensors && sent < b.N; i++ {
			conns[i].Write(pubs[i])
			sent++
		}
		if int64(sent)-got.Load()-lost > window {
			stalled(int64(sent - window/2))
		}
	}
	stalled(int64(sent))
	elapsed := time.Since(start)
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime) - syscall.TimevalToNsec(ru0.Utime) +
		syscall.TimevalToNsec(ru1.Stime) - syscall.TimevalToNsec(ru0.Stime))
	n := got.Load()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(100*float64(int64(sent)-n)/float64(sent), "loss%")
	b.ReportMetric(float64(cpu.Microseconds())/float64(sent), "cpu-µs/msg")
	if st := e.stats(); b.N >= 10000 {
		b.Logf("sent %d, received %d; gateway: in %d, drops %+v; broker: dropped (subscriber queue full) %d",
			sent, n, st.MessagesIn, st.Drops, e.srv.Stats().DroppedQueueFull)
	}
}
