package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// parseOK parses data and fails the test on any error.
func parseOK(t *testing.T, data string) *Config {
	t.Helper()
	c, err := Parse([]byte(data), "test.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// withoutSource returns c without its positions, to compare with a Config
// built in Go.
func withoutSource(c *Config) *Config {
	d := *c
	d.src = nil
	return &d
}

func TestDefaultYAMLParsesToDefault(t *testing.T) {
	c, err := Parse(DefaultYAML(), "default.yaml")
	if err != nil {
		t.Fatalf("default.yaml: %v", err)
	}
	if got, want := withoutSource(c), Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("default.yaml parses to\n%+v\nbut Default() is\n%+v", got, want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate(): %v", err)
	}
}

func TestEmptyFileIsDefault(t *testing.T) {
	for _, data := range []string{"", "# nothing\n", "{}\n"} {
		c := parseOK(t, data)
		if !reflect.DeepEqual(withoutSource(c), Default()) {
			t.Errorf("%q: got %+v, want Default()", data, c)
		}
	}
}

// keyPaths lists every key of type t as docs/config.md spells it:
// "storage.engine", "listeners[].address", "mqttsn.predefined_topics".
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		name := tagName(t.Field(i))
		if name == "" {
			continue
		}
		path := joinKey(prefix, name)
		ft := t.Field(i).Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, keyPaths(ft, path)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, keyPaths(ft.Elem(), path+"[]")...)
		default:
			out = append(out, path)
		}
	}
	return out
}

func TestKeyPathsCoverTheSchema(t *testing.T) {
	// A guard on keyPaths itself, so that the documentation tests below
	// cannot pass by walking nothing.
	keys := keyPaths(reflect.TypeFor[Config](), "")
	for _, want := range []string{"data_dir", "listeners[].username_from_cn", "auth.auth_fail_limit.window",
		"mqttsn.serial[].rs485.delay_after_send", "bridges[].topics[].rewrite", "bridges[].backoff.max", "log.format"} {
		if !slices.Contains(keys, want) {
			t.Errorf("keyPaths misses %s", want)
		}
	}
	if len(keys) < 70 {
		t.Errorf("keyPaths found %d keys, want the whole schema", len(keys))
	}
}

func TestDefaultYAMLDocumentsEveryKey(t *testing.T) {
	text := string(DefaultYAML())
	for _, path := range keyPaths(reflect.TypeFor[Config](), "") {
		leaf := path[strings.LastIndexAny(path, ".]")+1:]
		if !regexp.MustCompile(`(?m)(^|[\s{,])` + leaf + `:`).MatchString(text) {
			t.Errorf("default.yaml does not mention %s (as %q)", path, leaf+":")
		}
	}
	// Every key given a value has a comment of its own or on its line.
	var doc yaml.Node
	if err := yaml.Unmarshal(DefaultYAML(), &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := joinKey(path, k.Value)
				if k.HeadComment == "" && k.LineComment == "" && v.LineComment == "" && n.Style != yaml.FlowStyle {
					t.Errorf("default.yaml:%d: %s has no comment", k.Line, p)
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for _, e := range n.Content {
				walk(e, path+"[]")
			}
		case yaml.DocumentNode:
			walk(n.Content[0], path)
		}
	}
	walk(&doc, "")
}

func TestDocsDescribeEveryKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	keys := keyPaths(reflect.TypeFor[Config](), "")
	// Each key has a table row: "| `key` | type | default | meaning |".
	rows := make(map[string]bool)
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_.\\[\\]]+)` \\|").FindAllStringSubmatch(string(data), -1) {
		rows[m[1]] = true
	}
	for _, k := range keys {
		if !rows[k] {
			t.Errorf("docs/config.md has no row for %s", k)
		}
	}
	for r := range rows {
		if !slices.Contains(keys, r) {
			t.Errorf("docs/config.md has a row for %s, which is not a key", r)
		}
	}
}

// leaves calls f with each non-struct value under v and its key path.
func leaves(v reflect.Value, path string, f func(path string, v reflect.Value)) {
	switch {
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			f(path, v)
			return
		}
		leaves(v.Elem(), path, f)
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if name := tagName(v.Type().Field(i)); name != "" {
				leaves(v.Field(i), joinKey(path, name), f)
			}
		}
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		for i := range v.Len() {
			leaves(v.Index(i), path+"[]", f)
		}
		if v.Len() == 0 {
			f(path, v)
		}
	default:
		f(path, v)
	}
}

func TestFullConfig(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatalf("full.yaml: %v", err)
	}
	// Every key must reach its field: some element holds a non-zero value.
	set := make(map[string]bool)
	leaves(reflect.ValueOf(c).Elem(), "", func(path string, v reflect.Value) {
		set[path] = set[path] || !v.IsZero()
	})
	for _, k := range keyPaths(reflect.TypeFor[Config](), "") {
		if !set[k] {
			t.Errorf("full.yaml: %s is zero after decoding", k)
		}
	}
	// Spot checks of conversions.
	if c.Storage.MaxDiskBytes != 100_000_000 || c.Limits.MaxQueuedBytes != 1<<20 {
		t.Errorf("byte sizes: %d, %d", c.Storage.MaxDiskBytes, c.Limits.MaxQueuedBytes)
	}
	if c.Auth.FailLimit.Window != 2*time.Minute || c.MQTTSN.Serial[1].RS485.PollInterval != 40*time.Millisecond {
		t.Errorf("durations: %v, %v", c.Auth.FailLimit.Window, c.MQTTSN.Serial[1].RS485.PollInterval)
	}
	if got := c.MQTTSN.PredefinedTopics; !reflect.DeepEqual(got, map[uint16]string{1: "sensors/temperature", 2: "sensors/humidity"}) {
		t.Errorf("predefined_topics: %v", got)
	}
}

func TestAbsentKeysTakeDefaults(t *testing.T) {
	c := parseOK(t, `
storage: {engine: bolt}
listeners:
  - {type: ws, address: ":8080"}
  - {type: tcp, address: ":1883", name: lan}
mqttsn:
  serial:
    - {device: /dev/ttyS1, framing: rs485, rs485: {nodes: [4]}}
bridges:
  - name: up
    address: tcp://127.0.0.1:1883
    client_id: gw
    topics: [{pattern: "a/#", direction: out}]
`)
	if c.Storage.Sync != SyncBatch || c.Storage.MaxDiskBytes != 256<<20 {
		t.Errorf("storage: %+v", c.Storage)
	}
	if l := c.Listeners[0]; l.Path != "/mqtt" || l.Name != "ws::8080" {
		t.Errorf("ws listener: %+v", l)
	}
	if l := c.Listeners[1]; l.Path != "" || l.Name != "lan" {
		t.Errorf("tcp listener: %+v", l)
	}
	want := Serial{Device: "/dev/ttyS1", Baud: 115200, Framing: FramingRS485,
		RS485: &RS485{Nodes: []int{4}, PollInterval: 50 * time.Millisecond, ReplyTimeout: 20 * time.Millisecond, RTSOnSend: true}}
	if got := c.MQTTSN.Serial[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("serial: %+v %+v, want %+v %+v", got, got.RS485, want, want.RS485)
	}
	b := c.Bridges[0]
	if b.Keepalive != 60*time.Second || b.Backoff != (Backoff{time.Second, time.Minute}) ||
		b.Queue != (BridgeQueue{100 << 20, OverflowDropOldest}) || b.CleanSession {
		t.Errorf("bridge: %+v", b)
	}
	if tp := b.Topics[0]; tp.QoS != 1 || tp.Retain != RetainAsPublished {
		t.Errorf("bridge topic: %+v", tp)
	}
	if c.Log != Default().Log || c.Limits != Default().Limits {
		t.Errorf("untouched sections changed: %+v %+v", c.Log, c.Limits)
	}
}

func TestFilesCarryKeyAndLine(t *testing.T) {
	c := parseOK(t, `listeners:
  - {type: tcp, address: ":1883"}
  - type: tls
    address: ":8883"
    cert_file: s.crt
    key_file: s.key
auth:
  password_file: /etc/edgemq/passwd
bridges:
  - name: up
    address: tls://h:8883
    client_id: gw
    ca_file: ca.crt
    topics: [{pattern: "#", direction: out}]
`)
	want := []FileRef{
		{Key: "listeners[1].cert_file", Line: 5, Path: "s.crt", Kind: FileCert},
		{Key: "listeners[1].key_file", Line: 6, Path: "s.key", Kind: FileKey},
		{Key: "auth.password_file", Line: 8, Path: "/etc/edgemq/passwd", Kind: FilePassword},
		{Key: "bridges[0].ca_file", Line: 13, Path: "ca.crt", Kind: FileCA},
	}
	if got := c.Files(); !reflect.DeepEqual(got, want) {
		t.Errorf("Files() =\n%+v\nwant\n%+v", got, want)
	}
	if got, want := c.ErrorAt("listeners[1].key_file", "no such file").Error(), "test.yaml:6:5: listeners[1].key_file: no such file"; got != want {
		t.Errorf("ErrorAt = %q, want %q", got, want)
	}
	// A key that is absent reports at its nearest present parent.
	if got, want := c.ErrorAt("listeners[1].client_ca_file", "x").Error(), "test.yaml:3:5: listeners[1].client_ca_file: x"; got != want {
		t.Errorf("ErrorAt = %q, want %q", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !os.IsNotExist(err) {
		t.Errorf("Load of a missing file: %v, want a not-exist error", err)
	}
}

func TestLoadRefusesHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, make([]byte, maxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "larger than 4MiB") {
		t.Errorf("Load of a huge file: %v", err)
	}
}

func TestConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edgemq.yaml")
	if err := os.WriteFile(path, []byte("data_dir: \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.File() != path {
		t.Fatalf("File() = %q, want %q", c.File(), path)
	}
	if f := Default().File(); f != "" {
		t.Fatalf("Default().File() = %q, want \"\"", f)
	}
}
