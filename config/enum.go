package config

// enum is a string type with a closed set of values; the decoder rejects any
// other value with the list of valid ones.
type enum interface {
	values() []string
}

// StorageEngine selects the persistence engine.
type StorageEngine string

// Storage engines. EngineAuto picks badger on amd64, arm64 and riscv64 and
// bolt elsewhere.
const (
	EngineAuto   StorageEngine = "auto"
	EngineBadger StorageEngine = "badger"
	EngineBolt   StorageEngine = "bolt"
)

func (StorageEngine) values() []string { return []string{"auto", "badger", "bolt"} }

// SyncMode says when an accepted message is on flash.
type SyncMode string

// Sync modes: SyncAlways syncs each write, SyncBatch group-commits before the
// acknowledgement, SyncNone leaves it to the OS.
const (
	SyncAlways SyncMode = "always"
	SyncBatch  SyncMode = "batch"
	SyncNone   SyncMode = "none"
)

func (SyncMode) values() []string { return []string{"always", "batch", "none"} }

// ListenerType is the transport of a listener.
type ListenerType string

// Listener types.
const (
	ListenerTCP ListenerType = "tcp"
	ListenerTLS ListenerType = "tls"
	ListenerWS  ListenerType = "ws"
	ListenerWSS ListenerType = "wss"
)

func (ListenerType) values() []string { return []string{"tcp", "tls", "ws", "wss"} }

// TLS reports whether the listener type uses TLS.
func (t ListenerType) TLS() bool { return t == ListenerTLS || t == ListenerWSS }

// WebSocket reports whether the listener type is a WebSocket one.
func (t ListenerType) WebSocket() bool { return t == ListenerWS || t == ListenerWSS }

// Framing is how MQTT-SN frames are delimited on a serial line.
type Framing string

// Serial framings.
const (
	FramingRaw   Framing = "raw"
	FramingRS485 Framing = "rs485"
	FramingXBee  Framing = "xbee"
)

func (Framing) values() []string { return []string{"raw", "rs485", "xbee"} }

// Direction is which way a bridge topic flows.
type Direction string

// Bridge directions: out is local to remote, in is remote to local.
const (
	DirectionOut  Direction = "out"
	DirectionIn   Direction = "in"
	DirectionBoth Direction = "both"
)

func (Direction) values() []string { return []string{"out", "in", "both"} }

// RetainMode is what a bridge does with the retain flag of what it forwards.
type RetainMode string

// Retain modes: RetainKeep forwards the flag as the bridge received it,
// RetainClear always clears it, RetainAsPublished forwards the flag the
// original publisher set (MQTT 5 Retain As Published).
const (
	RetainKeep        RetainMode = "keep"
	RetainClear       RetainMode = "clear"
	RetainAsPublished RetainMode = "as_published"
)

func (RetainMode) values() []string { return []string{"keep", "clear", "as_published"} }

// Overflow is a bridge queue's policy when full.
type Overflow string

// Overflow policies.
const (
	OverflowDropOldest Overflow = "drop_oldest"
	OverflowDropNew    Overflow = "drop_new"
)

func (Overflow) values() []string { return []string{"drop_oldest", "drop_new"} }

// LogLevel is the lowest level logged.
type LogLevel string

// Log levels.
const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

func (LogLevel) values() []string { return []string{"debug", "info", "warn", "error"} }

// LogFormat is the log line format.
type LogFormat string

// Log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

func (LogFormat) values() []string { return []string{"text", "json"} }
