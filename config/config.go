// Package config is edgemq's YAML configuration: the types, a strict decoder
// that keeps line numbers, defaults for absent keys, and validation that
// reports every problem at once with its file, line, column and key.
//
// The rules:
//   - Unknown keys are errors (with a suggestion when a known key is close).
//   - A key that is absent takes its default; a key that is present with a
//     bad value (wrong type, out of range, null) is always an error and never
//     silently becomes the default.
//   - Durations are strings parsed by time.ParseDuration ("50ms", "900s");
//     the bare integer 0 is also accepted.
//   - Byte sizes are integers or strings with a unit: see ParseByteSize.
//   - Relative paths are relative to the working directory of the process.
//   - Files named by the config (certificates, password and ACL files) are
//     not opened here: Files lists them with their keys and lines, and the
//     packages that use them parse them.
package config

import "time"

// Config is the whole edgemq configuration. Parse and Load return one with
// defaults applied and validated; Default returns the built-in one.
type Config struct {
	DataDir     string        `yaml:"data_dir"`
	Storage     Storage       `yaml:"storage"`
	Listeners   []Listener    `yaml:"listeners"`
	Auth        Auth          `yaml:"auth"`
	Limits      Limits        `yaml:"limits"`
	MQTTSN      MQTTSN        `yaml:"mqttsn"`
	Bridges     []Bridge      `yaml:"bridges"`
	SysInterval time.Duration `yaml:"sys_interval"`
	HTTP        HTTP          `yaml:"http"`
	Board       Board         `yaml:"board"`
	Log         Log           `yaml:"log"`

	// src holds where each key was found; nil for a Config built in Go.
	src *source
}

// Storage selects the persistence engine and when data reaches flash.
type Storage struct {
	Engine       StorageEngine `yaml:"engine"`
	Sync         SyncMode      `yaml:"sync"`
	MaxDiskBytes ByteSize      `yaml:"max_disk_bytes"`
}

// Listener is one MQTT listening socket.
type Listener struct {
	// Name labels the listener in logs and metrics; "<type>:<address>" when absent.
	Name    string       `yaml:"name"`
	Type    ListenerType `yaml:"type"`
	Address string       `yaml:"address"`
	// Path is the HTTP path of a ws or wss listener ("/mqtt" when absent).
	Path         string `yaml:"path"`
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
	// UsernameFromCN takes the MQTT username from the client certificate's
	// Common Name (tls and wss with client_ca_file only).
	UsernameFromCN bool `yaml:"username_from_cn"`
}

// Auth holds client authentication and authorisation settings.
type Auth struct {
	AllowAnonymous bool          `yaml:"allow_anonymous"`
	PasswordFile   string        `yaml:"password_file"`
	ACLFile        string        `yaml:"acl_file"`
	FailLimit      AuthFailLimit `yaml:"auth_fail_limit"`
}

// AuthFailLimit rate-limits failed logins per source address: after
// MaxFailures failures within Window, further CONNECTs from that address are
// refused until the window has passed. MaxFailures 0 disables the limit.
type AuthFailLimit struct {
	MaxFailures int           `yaml:"max_failures"`
	Window      time.Duration `yaml:"window"`
}

// Limits bounds what clients may use.
type Limits struct {
	MaxConnections    int      `yaml:"max_connections"`
	MaxPacketSize     ByteSize `yaml:"max_packet_size"`
	MaxInflight       int      `yaml:"max_inflight"`
	ReceiveMaximum    int      `yaml:"receive_maximum"`
	MaxKeepalive      int      `yaml:"max_keepalive"` // seconds
	MaxQueuedMessages int      `yaml:"max_queued_messages"`
	MaxQueuedBytes    ByteSize `yaml:"max_queued_bytes"`
	MaxTopicAlias     int      `yaml:"max_topic_alias"` // 0: topic aliases refused
	RetainedMax       int      `yaml:"retained_max"`
	// MaxTotalQueuedBytes bounds the memory all clients' queues hold
	// together; beyond it new deliveries are dropped and counted.
	MaxTotalQueuedBytes ByteSize `yaml:"max_total_queued_bytes"`
	// ConnectTimeout closes a connection that sends no CONNECT in time.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// MQTTSN configures the MQTT-SN v1.2 gateway.
type MQTTSN struct {
	UDP               []UDP             `yaml:"udp"`
	Serial            []Serial          `yaml:"serial"`
	PredefinedTopics  map[uint16]string `yaml:"predefined_topics"`
	GatewayID         int               `yaml:"gateway_id"`
	AdvertiseInterval time.Duration     `yaml:"advertise_interval"`
	MaxClients        int               `yaml:"max_clients"` // bound of the UDP client table
	SleepQueue        int               `yaml:"sleep_queue"` // messages buffered per sleeping client
	// AllowAnonymous admits MQTT-SN clients (which have no credentials)
	// when auth.allow_anonymous is false; the ACL's anonymous rules and
	// %c patterns still apply to them.
	AllowAnonymous bool `yaml:"allow_anonymous"`
}

// UDP is one MQTT-SN UDP socket.
type UDP struct {
	Address string `yaml:"address"`
	// Broadcast is where ADVERTISE and GWINFO go (multicast group or
	// broadcast address); "" sends none.
	Broadcast string `yaml:"broadcast"`
}

// Serial is one MQTT-SN serial line.
type Serial struct {
	Device  string  `yaml:"device"`
	Baud    int     `yaml:"baud"`
	Framing Framing `yaml:"framing"`
	// Forwarder wraps frames in MQTT-SN Forwarder Encapsulation (raw framing only).
	Forwarder bool `yaml:"forwarder"`
	// RS485 is set for framing rs485 only.
	RS485 *RS485 `yaml:"rs485"`
}

// RS485 configures a polled RS-485 line.
type RS485 struct {
	Nodes           []int         `yaml:"nodes"`
	PollInterval    time.Duration `yaml:"poll_interval"`
	ReplyTimeout    time.Duration `yaml:"reply_timeout"`
	RTSOnSend       bool          `yaml:"rts_on_send"`
	DelayBeforeSend time.Duration `yaml:"delay_before_send"`
	DelayAfterSend  time.Duration `yaml:"delay_after_send"`
}

// Bridge is one store-and-forward uplink to another broker.
type Bridge struct {
	Name               string        `yaml:"name"`
	Address            string        `yaml:"address"`
	ClientID           string        `yaml:"client_id"`
	Username           string        `yaml:"username"`
	Password           string        `yaml:"password"`
	CAFile             string        `yaml:"ca_file"`
	CertFile           string        `yaml:"cert_file"`
	KeyFile            string        `yaml:"key_file"`
	ALPN               []string      `yaml:"alpn"`
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
	CleanSession       bool          `yaml:"clean_session"`
	Keepalive          time.Duration `yaml:"keepalive"`
	Topics             []BridgeTopic `yaml:"topics"`
	Queue              BridgeQueue   `yaml:"queue"`
	Backoff            Backoff       `yaml:"backoff"`
}

// BridgeTopic selects messages a bridge forwards and how it renames them.
type BridgeTopic struct {
	Pattern      string     `yaml:"pattern"`
	Direction    Direction  `yaml:"direction"`
	QoS          int        `yaml:"qos"`
	LocalPrefix  string     `yaml:"local_prefix"`
	RemotePrefix string     `yaml:"remote_prefix"`
	Rewrite      string     `yaml:"rewrite"`
	Retain       RetainMode `yaml:"retain"`
}

// BridgeQueue bounds a bridge's outbound queue.
type BridgeQueue struct {
	MaxBytes ByteSize `yaml:"max_bytes"`
	Overflow Overflow `yaml:"overflow"`
}

// Backoff is the range of the delay between reconnection attempts.
type Backoff struct {
	Min time.Duration `yaml:"min"`
	Max time.Duration `yaml:"max"`
}

// HTTP configures the metrics and status server.
type HTTP struct {
	Address string `yaml:"address"` // "" disables the server
	Auth    bool   `yaml:"auth"`    // basic auth against auth.password_file
}

// Board names optional hardware.
type Board struct {
	Watchdog  string `yaml:"watchdog"`
	StatusLED string `yaml:"status_led"`
}

// Log configures the process log.
type Log struct {
	Level  LogLevel  `yaml:"level"`
	Format LogFormat `yaml:"format"`
}
