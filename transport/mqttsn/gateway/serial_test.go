package gateway_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/edgemq/edgemq/transport/mqttsn/gateway"
	"github.com/edgemq/edgemq/transport/serial"
)

// Serial lines over socat pseudo-terminal pairs, with a node simulator
// speaking each framing on the other end.

func TestSerialRawLine(t *testing.T) {
	line := newPTYLine(t)
	e := newSerialEnv(t, gateway.Options{}, gateway.SerialConfig{Device: line.gw, Baud: 115200, Framing: gateway.FramingRaw})
	sub := e.subscribe(e.mqttClient("watcher"), "#", 1)
	node := line.openNode()
	in := readFrames(serial.NewRawReader(node, serial.RawOptions{}).ReadFrame)
	write := func(b []byte) {
		t.Helper()
		if _, err := node.Write(b); err != nil {
			t.Fatal(err)
		}
	}

	// Line noise before the first packet: skipped, counted.
	write(h("00 00 00"))
	write(h("0C 04 04 01 00 3C 'node-1'"))
	expectFrame(t, in, nil, h("03 05 00"))
	write(h("0C 0A 00 00 00 01 'line/1'"))
	expectFrame(t, in, nil, h("07 0B 00 01 00 01 00"))
	write(h("0B 0C 20 00 01 00 02 'warm'"))
	expectFrame(t, in, nil, h("07 0D 00 01 00 02 00"))
	expect(t, sub, received{"line/1", "warm", 1, false})

	// The broker's messages to the node come back on the line.
	write(h("0C 12 00 00 03 'line/in'"))
	expectFrame(t, in, nil, h("08 13 00 00 02 00 03 00"))
	e.publish(e.mqttClient("pub"), "line/in", 0, false, "cmd")
	expectFrame(t, in, nil, h("0A 0C 00 00 02 00 00 'cmd'"))

	if st := e.serial(); st.Kind != "raw" || st.SkippedBytes != 3 || st.Clients != 1 || st.MessagesIn != 1 || st.MessagesOut != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSerialRawForwarderTwoNodes(t *testing.T) {
	line := newPTYLine(t)
	e := newSerialEnv(t, gateway.Options{}, gateway.SerialConfig{Device: line.gw, Baud: 115200, Framing: gateway.FramingRaw, Forwarder: true})
	sub := e.subscribe(e.mqttClient("watcher"), "#", 0)
	node := line.openNode()
	in := readFrames(serial.NewRawReader(node, serial.RawOptions{Encapsulated: true}).ReadFrame)
	w := serial.NewRawWriter(node, true)
	send := func(id byte, pkt []byte) {
		t.Helper()
		if err := w.WriteFrame([]byte{id}, pkt); err != nil {
			t.Fatal(err)
		}
	}
	// Node 0x2A and node 0x2B share the line; the gateway answers each in
	// its own encapsulation [5.5].
	send(0x2A, h("0D 04 04 01 00 3C 'node-2a'"))
	expectFrame(t, in, []byte{0x2A}, h("03 05 00"))
	send(0x2B, h("0D 04 04 01 00 3C 'node-2b'"))
	expectFrame(t, in, []byte{0x2B}, h("03 05 00"))
	send(0x2A, h("08 0C 02 'ab' 00 00 'A'"))
	expect(t, sub, received{"ab", "A", 0, false})
	send(0x2B, h("08 0C 02 'ab' 00 00 'B'"))
	expect(t, sub, received{"ab", "B", 0, false})
	// A subscription of node 0x2B only: the delivery goes to 0x2B.
	send(0x2B, h("07 12 02 00 01 'cd'"))
	expectFrame(t, in, []byte{0x2B}, h("08 13 00 63 64 00 01 00"))
	e.publish(e.mqttClient("pub"), "cd", 0, false, "only-b")
	expectFrame(t, in, []byte{0x2B}, h("0D 0C 02 'cd' 00 00 'only-b'"))
	if st := e.serial(); st.Clients != 2 || st.MessagesIn != 2 || st.MessagesOut != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSerialXBeeTwoRadios(t *testing.T) {
	line := newPTYLine(t)
	e := newSerialEnv(t, gateway.Options{}, gateway.SerialConfig{Device: line.gw, Baud: 115200, Framing: gateway.FramingXBee})
	sub := e.subscribe(e.mqttClient("watcher"), "#", 0)
	node := line.openNode()
	rd := serial.NewXBeeReader(node, 0)
	in := readFrames(func() ([]byte, []byte, error) {
		for {
			f, err := rd.ReadFrame()
			if err != nil {
				return nil, nil, err
			}
			tx, err := f.Transmit()
			if err != nil {
				continue
			}
			var dst [8]byte
			binary.BigEndian.PutUint64(dst[:], tx.Dst64)
			return dst[:], tx.Data, nil
		}
	})
	radio := func(a uint64, pkt []byte) {
		t.Helper()
		b, _ := serial.AppendXBeeReceive(nil, serial.XBeeReceive{Src64: a, Src16: 0x7D84, Options: 1, Data: pkt})
		if _, err := node.Write(append(h("11 13"), b...)); err != nil { // stray XON/XOFF first
			t.Fatal(err)
		}
	}
	const a, b = 0x0013A20040522BAA, 0x0013A20040522BBB
	addr := func(x uint64) []byte { var d [8]byte; binary.BigEndian.PutUint64(d[:], x); return d[:] }
	radio(a, h("0D 04 04 01 00 3C 'radio-a'"))
	expectFrame(t, in, addr(a), h("03 05 00"))
	radio(b, h("0D 04 04 01 00 3C 'radio-b'"))
	expectFrame(t, in, addr(b), h("03 05 00"))
	radio(b, h("08 0C 02 'xb' 00 00 'B'"))
	expect(t, sub, received{"xb", "B", 0, false})
	if st := e.serial(); st.Kind != "xbee" || st.Clients != 2 || st.SkippedBytes != 6 {
		t.Errorf("stats %+v", st)
	}
}

func TestSerialUnplugReopensAndFiresWill(t *testing.T) {
	line := newPTYLine(t)
	e := newSerialEnv(t, gateway.Options{}, gateway.SerialConfig{Device: line.gw, Baud: 115200, Framing: gateway.FramingRaw})
	wills := e.subscribe(e.mqttClient("watcher"), "will/#", 1)
	connect := func() {
		t.Helper()
		node := line.openNode()
		in := readFrames(serial.NewRawReader(node, serial.RawOptions{}).ReadFrame)
		// CONNECT with Will, keep alive 1 s.
		if _, err := node.Write(h("0D 04 0C 01 00 01 'plugged'")); err != nil {
			t.Fatal(err)
		}
		expectFrame(t, in, nil, h("02 06"))
		node.Write(h("0B 07 20 'will/usb'"))
		expectFrame(t, in, nil, h("02 08"))
		node.Write(h("0B 09 'unplugged'"))
		expectFrame(t, in, nil, h("03 05 00"))
	}
	connect()
	line.kill() // the USB adapter is pulled out
	waitFor(t, 5*time.Second, "the port seen closed", func() bool { return !e.serial().Up })
	expect(t, wills, received{"will/usb", "unplugged", 1, false})

	line.start() // plugged back in
	waitFor(t, 10*time.Second, "the port reopened", func() bool { st := e.serial(); return st.Up && st.Opens == 2 })
	connect()
	if st := e.serial(); st.Lost != 1 || st.Connects != 2 {
		t.Errorf("stats %+v", st)
	}
}
