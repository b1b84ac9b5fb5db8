package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/config"
	"github.com/edgemq/edgemq/transport/mqttsn/gateway"
)

// startMQTTSN starts the MQTT-SN gateway of cfg.MQTTSN in front of srv and
// returns it (for its Stats) with the function that stops it. With no UDP
// socket and no serial line configured it starts nothing and returns a nil
// gateway. A serial device that cannot be opened yet is not an error: the
// gateway retries it with backoff and logs why.
func startMQTTSN(cfg *config.Config, srv *broker.Server, log *slog.Logger) (*gateway.Gateway, func(), error) {
	sn := cfg.MQTTSN
	if len(sn.UDP) == 0 && len(sn.Serial) == 0 {
		return nil, func() {}, nil
	}
	gw, err := gateway.New(gateway.Options{
		Serve:             srv.ServeConn,
		Logger:            log,
		GatewayID:         uint8(sn.GatewayID),
		AdvertiseInterval: sn.AdvertiseInterval,
		PredefinedTopics:  sn.PredefinedTopics,
		MaxClients:        sn.MaxClients,
		SleepQueue:        sn.SleepQueue,
		MaxKeepAlive:      time.Duration(cfg.Limits.MaxKeepalive) * time.Second,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("mqttsn: %w", err)
	}
	for i, u := range sn.UDP {
		if _, err := gw.ListenUDP(gateway.UDPConfig{Address: u.Address, Broadcast: u.Broadcast}); err != nil {
			gw.Close()
			return nil, nil, fmt.Errorf("mqttsn.udp[%d]: %w", i, err)
		}
	}
	for i, s := range sn.Serial {
		sc := gateway.SerialConfig{Device: s.Device, Baud: s.Baud, Framing: string(s.Framing), Forwarder: s.Forwarder}
		if r := s.RS485; r != nil {
			sc.RS485 = gateway.RS485Config{PollInterval: r.PollInterval, ReplyTimeout: r.ReplyTimeout,
				RTSOnSend: r.RTSOnSend, DelayBeforeSend: r.DelayBeforeSend, DelayAfterSend: r.DelayAfterSend}
			for _, n := range r.Nodes {
				sc.RS485.Nodes = append(sc.RS485.Nodes, uint16(n)) // 1..65535, checked by config
			}
		}
		if err := gw.OpenSerial(sc); err != nil {
			gw.Close()
			return nil, nil, fmt.Errorf("mqttsn.serial[%d]: %w", i, err)
		}
	}
	return gw, func() { gw.Close() }, nil
}
