package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/config"
)

func TestStartMQTTSN(t *testing.T) {
	srv, err := broker.New(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	if gw, stop, err := startMQTTSN(cfg, srv, log); err != nil || gw != nil {
		t.Fatalf("nothing configured: %v %v", gw, err)
	} else {
		stop()
	}

	cfg.MQTTSN.UDP = []config.UDP{{Address: "127.0.0.1:0"}}
	// A USB adapter not plugged in yet: retried in the background.
	absent := filepath.Join(t.TempDir(), "ttyUSB9")
	cfg.MQTTSN.Serial = []config.Serial{{Device: absent, Baud: 19200, Framing: config.FramingRS485,
		RS485: &config.RS485{Nodes: []int{1, 300}, PollInterval: 50 * time.Millisecond, ReplyTimeout: 20 * time.Millisecond}}}
	gw, stop, err := startMQTTSN(cfg, srv, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	st := gw.Stats()
	if len(st.Transports) != 2 || st.Transports[1].Name != "serial:"+absent || st.Transports[1].Up {
		t.Fatalf("stats %+v", st)
	}
	c, err := net.Dial("udp", strings.TrimPrefix(st.Transports[0].Name, "udp:"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x08, 0x04, 0x04, 0x01, 0x00, 0x3C, 'c', 'm'}) // CONNECT "cm"
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte{0x03, 0x05, 0x00}) {
		t.Fatalf("CONNACK % X %v", buf[:n], err)
	}

	cfg.MQTTSN.UDP = []config.UDP{{Address: "256.0.0.1:1"}}
	if _, _, err := startMQTTSN(cfg, srv, log); err == nil || !strings.Contains(err.Error(), "mqttsn.udp[0]") {
		t.Fatalf("bad address: %v", err)
	}
}
