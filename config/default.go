package config

import (
	_ "embed"
	"time"
)

//go:embed default.yaml
var defaultYAML string

// DefaultYAML returns the embedded default configuration file: what edgemq
// runs with when no -c is given, with every key documented. It parses to
// Default(); packaging installs it as the starting point of edgemq.yaml.
func DefaultYAML() []byte { return []byte(defaultYAML) }

// Default returns the built-in configuration: one tcp listener on
// 127.0.0.1:1883, anonymous clients allowed, data in ./edgemq-data. Every
// key absent from a config file takes its value from here (list elements
// from their own defaults: see the setDefaults methods).
func Default() *Config {
	return &Config{
		DataDir: "./edgemq-data",
		Storage: Storage{
			Engine:       EngineAuto,
			Sync:         SyncBatch,
			MaxDiskBytes: 256 << 20,
		},
		Listeners: []Listener{{
			Name:    "tcp:127.0.0.1:1883",
			Type:    ListenerTCP,
			Address: "127.0.0.1:1883",
		}},
		Auth: Auth{
			AllowAnonymous: true,
			FailLimit:      AuthFailLimit{MaxFailures: 5, Window: 60 * time.Second},
		},
		Limits: Limits{
			MaxConnections:      1000,
			MaxPacketSize:       1 << 20,
			MaxInflight:         32,
			ReceiveMaximum:      32,
			MaxKeepalive:        600,
			MaxQueuedMessages:   1000,
			MaxQueuedBytes:      4 << 20,
			MaxTopicAlias:       64,
			RetainedMax:         10000,
			MaxTotalQueuedBytes: 64 << 20,
			ConnectTimeout:      10 * time.Second,
		},
		MQTTSN: MQTTSN{
			UDP:               []UDP{},
			Serial:            []Serial{},
			PredefinedTopics:  map[uint16]string{},
			GatewayID:         1,
			AdvertiseInterval: 900 * time.Second,
			MaxClients:        256,
			SleepQueue:        100,
		},
		Bridges:     []Bridge{},
		SysInterval: 10 * time.Second,
		Log:         Log{Level: LogInfo, Format: LogText},
	}
}

// Defaults of list elements and optional blocks.
const (
	defaultWSPath       = "/mqtt"
	defaultBaud         = 115200
	defaultPollInterval = 50 * time.Millisecond
	defaultReplyTimeout = 20 * time.Millisecond
	defaultKeepalive    = 60 * time.Second
	defaultQueueBytes   = 100 << 20
	defaultBackoffMin   = 1 * time.Second
	defaultBackoffMax   = 60 * time.Second
	defaultBridgeQoS    = 1
)

// fill sets the name ("<type>:<address>") and, for ws and wss, the path
// ("/mqtt") when they were absent.
func (l *Listener) fill(has func(string) bool) {
	if !has("path") && l.Type.WebSocket() {
		l.Path = defaultWSPath
	}
	if !has("name") {
		l.Name = string(l.Type) + ":" + l.Address
	}
}

func (s *Serial) setDefaults() {
	s.Baud = defaultBaud
	s.Framing = FramingRaw
}

func (r *RS485) setDefaults() {
	r.PollInterval = defaultPollInterval
	r.ReplyTimeout = defaultReplyTimeout
	r.RTSOnSend = true
}

func (b *Bridge) setDefaults() {
	b.Keepalive = defaultKeepalive
	b.Queue = BridgeQueue{MaxBytes: defaultQueueBytes, Overflow: OverflowDropOldest}
	b.Backoff = Backoff{Min: defaultBackoffMin, Max: defaultBackoffMax}
}

func (t *BridgeTopic) setDefaults() {
	t.QoS = defaultBridgeQoS
	t.Retain = RetainAsPublished
}
