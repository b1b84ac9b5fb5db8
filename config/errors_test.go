package config

import (
	"errors"
	"strings"
	"testing"
)

// TestErrors checks the exact text of each problem: file, line, column, key
// and message. Cases with several problems check that all are reported, in
// file order.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level key", "data_dri: x\n",
			[]string{`test.yaml:1:1: data_dri: unknown key (did you mean "data_dir"?)`}},
		{"unknown nested key without suggestion", "log:\n  colour: red\n",
			[]string{`test.yaml:2:3: log.colour: unknown key`}},
		{"duplicate key", "log:\n  level: info\n  level: debug\n",
			[]string{`test.yaml:3:3: log.level: duplicate key (first given at line 2)`}},
		{"enum", "storage:\n  engine: rocks\n",
			[]string{`test.yaml:2:3: storage.engine: must be one of auto, badger, bolt; got "rocks"`}},
		{"null is not the default", "auth:\n  password_file:\n",
			[]string{`test.yaml:2:3: auth.password_file: no value given (remove the key to use the default, or give a string ("" for empty))`}},
		{"null duration", "sys_interval: ~\n",
			[]string{`test.yaml:1:1: sys_interval: no value given (remove the key to use the default, or give a duration such as 30s)`}},
		{"bool spelled yes", "auth: {allow_anonymous: yes}\n",
			[]string{`test.yaml:1:8: auth.allow_anonymous: expected true or false, got "yes"`}},
		{"integer from a string", "limits:\n  max_connections: many\n",
			[]string{`test.yaml:2:3: limits.max_connections: expected an integer, got "many"`}},
		{"float for an integer", "limits:\n  max_inflight: 1.5\n",
			[]string{`test.yaml:2:3: limits.max_inflight: expected an integer, got "1.5"`}},
		{"integer overflow", "limits:\n  max_connections: 99999999999999999999\n",
			[]string{`test.yaml:2:3: limits.max_connections: expected an integer, got "99999999999999999999"`}},
		{"duration without unit", "limits:\n  connect_timeout: 10\n",
			[]string{`test.yaml:2:3: limits.connect_timeout: invalid duration 10: give a unit, e.g. 10s or 10ms`}},
		{"bad duration", "limits:\n  connect_timeout: soon\n",
			[]string{`test.yaml:2:3: limits.connect_timeout: invalid duration "soon" (want a number with a unit: ms, s, m or h, e.g. 500ms, 30s, 15m)`}},
		{"negative duration", "limits:\n  connect_timeout: -1s\n",
			[]string{`test.yaml:2:3: limits.connect_timeout: duration -1s must not be negative`}},
		{"zero duration where positive needed", "limits:\n  connect_timeout: 0s\n",
			[]string{`test.yaml:2:3: limits.connect_timeout: must be longer than 0s`}},
		{"byte size unit", "storage:\n  max_disk_bytes: 10 Mb\n",
			[]string{`test.yaml:2:3: storage.max_disk_bytes: invalid byte size "10 Mb": unknown unit "Mb" (use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)`}},
		{"negative byte size", "storage:\n  max_disk_bytes: -5\n",
			[]string{`test.yaml:2:3: storage.max_disk_bytes: byte size -5 must not be negative`}},
		{"zero byte size", "storage:\n  max_disk_bytes: 0\n",
			[]string{`test.yaml:2:3: storage.max_disk_bytes: must be larger than 0`}},
		{"packet size above MQTT", "limits: {max_packet_size: 300MB}\n",
			[]string{`test.yaml:1:10: limits.max_packet_size: must be from 1 to 268435460 (the largest MQTT packet), got 300000000`}},
		{"wrong shape", "listeners: {type: tcp}\n",
			[]string{`test.yaml:1:1: listeners: expected a list, got a mapping`}},
		{"scalar for a section", "storage: badger\n",
			[]string{`test.yaml:1:1: storage: expected a mapping of keys, got "badger"`}},
		{"missing port", "listeners:\n  - {type: tcp, address: \":1883\"}\n  - type: tcp\n    address: \"0.0.0.0\"\n",
			[]string{`test.yaml:4:5: listeners[1].address: missing port in "0.0.0.0"`}},
		{"port out of range", "listeners:\n  - {type: tcp, address: \":70000\"}\n",
			[]string{`test.yaml:2:17: listeners[0].address: port "70000" in ":70000" must be a number from 0 to 65535`}},
		{"ipv6 without brackets", "listeners:\n  - {type: tcp, address: \"::1:1883\"}\n",
			[]string{`test.yaml:2:17: listeners[0].address: too many colons in "::1:1883" (write an IPv6 address in brackets: [::1]:1883)`}},
		{"listener missing type and address", "listeners:\n  - {path: /x}\n",
			[]string{
				`test.yaml:2:5: listeners[0].type: missing (required): one of tcp, tls, ws, wss`,
				`test.yaml:2:5: listeners[0].address: missing (required)`,
			}},
		{"tls needs cert and key", "listeners:\n  - {type: tls, address: \":8883\", username_from_cn: true}\n",
			[]string{
				`test.yaml:2:5: listeners[0].cert_file: missing (required)`,
				`test.yaml:2:5: listeners[0].key_file: missing (required)`,
				`test.yaml:2:35: listeners[0].username_from_cn: needs client_ca_file: without client certificates there is no CN`,
			}},
		{"tls keys on tcp", "listeners:\n  - type: tcp\n    address: \":1883\"\n    cert_file: a\n    path: /mqtt\n",
			[]string{
				`test.yaml:4:5: listeners[0].cert_file: only for tls and wss listeners, not tcp`,
				`test.yaml:5:5: listeners[0].path: only for ws and wss listeners, not tcp`,
			}},
		{"ws path", "listeners:\n  - {type: ws, address: \":80\", path: mqtt}\n  - {type: ws, address: \":81\", path: \"\"}\n",
			[]string{
				`test.yaml:2:32: listeners[0].path: must start with /, got "mqtt"`,
				`test.yaml:3:32: listeners[1].path: must start with /, got ""`,
			}},
		{"listener addresses collide", "listeners:\n  - {type: tcp, address: \"127.0.0.1:1883\"}\n  - {type: ws, address: \":1883\"}\nhttp:\n  address: \"127.0.0.1:1883\"\n",
			[]string{
				`test.yaml:3:16: listeners[1].address: ":1883" collides with listeners[0].address at line 2: both listen on port 1883`,
				`test.yaml:5:3: http.address: "127.0.0.1:1883" collides with listeners[0].address at line 2: both listen on port 1883`,
			}},
		{"listener names collide", "listeners:\n  - {type: tcp, address: \":1\", name: a}\n  - {type: tcp, address: \":2\", name: a}\n",
			[]string{`test.yaml:3:32: listeners[1].name: "a" is also the name of listeners[0] at line 2`}},
		{"no listeners", "listeners: []\n",
			[]string{`test.yaml:1:1: listeners: no listeners and no MQTT-SN transports: no client could connect`}},
		{"nobody can log in", "auth:\n  allow_anonymous: false\n",
			[]string{`test.yaml:2:3: auth.allow_anonymous: is false but there is no password_file (nor a listener with username_from_cn): no client could log in`}},
		{"limits ranges", "limits:\n  max_inflight: 0\n  receive_maximum: 70000\n  max_keepalive: 0\n  max_topic_alias: -1\n  retained_max: 0\n",
			[]string{
				`test.yaml:2:3: limits.max_inflight: must be from 1 to 65535, got 0`,
				`test.yaml:3:3: limits.receive_maximum: must be from 1 to 65535, got 70000`,
				`test.yaml:4:3: limits.max_keepalive: must be from 1 to 65535, got 0`,
				`test.yaml:5:3: limits.max_topic_alias: must be from 0 to 65535, got -1`,
				`test.yaml:6:3: limits.retained_max: must be at least 1, got 0`,
			}},
		{"auth fail limit", "auth:\n  auth_fail_limit: {max_failures: -1, window: 0s}\n",
			[]string{
				`test.yaml:2:21: auth.auth_fail_limit.max_failures: must be at least 0, got -1`,
				`test.yaml:2:39: auth.auth_fail_limit.window: must be longer than 0s`,
			}},
		{"sys_interval too short", "sys_interval: 10ms\n",
			[]string{`test.yaml:1:1: sys_interval: 10ms is too short: 0 disables $SYS, otherwise at least 1s`}},
		{"http auth without passwords", "http: {address: \":9090\", auth: true}\n",
			[]string{`test.yaml:1:26: http.auth: needs auth.password_file`}},
		{"mqttsn udp", "mqttsn:\n  udp:\n    - {address: \":1884\", broadcast: \"225.1.1.1\"}\n    - {address: \":1884\"}\n",
			[]string{
				`test.yaml:3:26: mqttsn.udp[0].broadcast: missing port in "225.1.1.1"`,
				`test.yaml:4:8: mqttsn.udp[1].address: ":1884" is also the address of mqttsn.udp[0].address at line 3`,
			}},
		{"mqttsn serial", "mqttsn:\n  serial:\n    - {device: /dev/ttyS0, baud: 0, framing: xbee, forwarder: true}\n    - {device: /dev/ttyS0, framing: raw, rs485: {nodes: [1]}}\n    - {device: /dev/ttyS2, framing: rs485}\n",
			[]string{
				`test.yaml:3:28: mqttsn.serial[0].baud: must be at least 1, got 0`,
				`test.yaml:3:52: mqttsn.serial[0].forwarder: only with framing raw, not xbee`,
				`test.yaml:4:8: mqttsn.serial[1].device: "/dev/ttyS0" is also the device of mqttsn.serial[0].device at line 3`,
				`test.yaml:4:42: mqttsn.serial[1].rs485: only with framing rs485, not raw`,
				`test.yaml:5:7: mqttsn.serial[2].rs485: missing: framing rs485 needs an rs485 block with the nodes to poll`,
			}},
		{"rs485 block", "mqttsn:\n  serial:\n    - device: /dev/ttyS1\n      framing: rs485\n      rs485:\n        nodes: [1, 0, 1]\n        poll_interval: 0s\n        colour: red\n",
			[]string{
				`test.yaml:6:20: mqttsn.serial[0].rs485.nodes[1]: must be from 1 to 65535, got 0`,
				`test.yaml:6:23: mqttsn.serial[0].rs485.nodes[2]: node 1 is already listed at nodes[0]`,
				`test.yaml:7:9: mqttsn.serial[0].rs485.poll_interval: must be longer than 0s`,
				`test.yaml:8:9: mqttsn.serial[0].rs485.colour: unknown key`,
			}},
		{"predefined topics", "mqttsn:\n  predefined_topics:\n    0: a\n    1: a/+\n    2: b\n    02: c\n    3: b\n    x: d\n    70000: e\n",
			[]string{
				`test.yaml:3:5: mqttsn.predefined_topics.0: key must be an integer from 1 to 65535`,
				`test.yaml:4:5: mqttsn.predefined_topics.1: topic name "a/+" must not contain the wildcards + or #`,
				`test.yaml:6:5: mqttsn.predefined_topics.2: duplicate key (first given at line 5)`,
				`test.yaml:7:5: mqttsn.predefined_topics.3: "b" is already predefined as id 2`,
				`test.yaml:8:5: mqttsn.predefined_topics.x: key must be an integer from 1 to 65535`,
				`test.yaml:9:5: mqttsn.predefined_topics.70000: key must be an integer from 1 to 65535`,
			}},
		{"mqttsn scalars", "mqttsn:\n  gateway_id: 0\n  advertise_interval: 1500ms\n  max_clients: 0\n  sleep_queue: 0\n",
			[]string{
				`test.yaml:2:3: mqttsn.gateway_id: must be from 1 to 255, got 0`,
				`test.yaml:3:3: mqttsn.advertise_interval: must be whole seconds (it is sent in seconds), got 1.5s`,
				`test.yaml:4:3: mqttsn.max_clients: must be at least 1, got 0`,
				`test.yaml:5:3: mqttsn.sleep_queue: must be at least 1, got 0`,
			}},
		{"bridge required keys", "bridges:\n  - {}\n",
			[]string{
				`test.yaml:2:5: bridges[0].name: missing (required)`,
				`test.yaml:2:5: bridges[0].address: missing (required)`,
				`test.yaml:2:5: bridges[0].client_id: missing (required)`,
				`test.yaml:2:5: bridges[0].topics: must list at least one topic: a bridge without topics forwards nothing`,
			}},
		{"bridge names", "bridges:\n" +
			"  - {name: Up, address: tcp://h:1, client_id: a, topics: [{pattern: a, direction: out}]}\n" +
			"  - {name: up, address: tcp://h:1, client_id: a, topics: [{pattern: a, direction: out}]}\n" +
			"  - {name: up, address: tcp://h:1, client_id: a, topics: [{pattern: a, direction: out}]}\n",
			[]string{
				`test.yaml:2:6: bridges[0].name: "Up": use 1 to 64 of a-z, 0-9, _ and -`,
				`test.yaml:4:6: bridges[2].name: "up" is also the name of bridges[1].name at line 3`,
			}},
		{"bridge addresses", "bridges:\n" +
			"  - {name: a, address: mqtt://h:1883, client_id: a, topics: [{pattern: a, direction: out}]}\n" +
			"  - {name: b, address: tls://h, client_id: a, topics: [{pattern: a, direction: out}]}\n" +
			"  - {name: c, address: \"h:1883\", client_id: a, topics: [{pattern: a, direction: out}]}\n" +
			"  - {name: d, address: \"tcp://u:p@h:1883\", client_id: a, topics: [{pattern: a, direction: out}]}\n" +
			"  - {name: e, address: \"tcp://h:1883/mqtt\", client_id: a, topics: [{pattern: a, direction: out}]}\n" +
			"  - {name: f, address: \"wss://h:0/mqtt\", client_id: a, topics: [{pattern: a, direction: out}]}\n",
			[]string{
				`test.yaml:2:15: bridges[0].address: "mqtt://h:1883": scheme must be tcp, tls, ws or wss, not "mqtt"`,
				`test.yaml:3:15: bridges[1].address: missing port in "tls://h"`,
				`test.yaml:4:15: bridges[2].address: "h:1883": want scheme://host:port with scheme tcp, tls, ws or wss`,
				`test.yaml:5:15: bridges[3].address: "tcp://u:p@h:1883": credentials belong in username and password, not in the address`,
				`test.yaml:6:15: bridges[4].address: "tcp://h:1883/mqtt": a path is only for ws:// and wss://`,
				`test.yaml:7:15: bridges[5].address: "wss://h:0/mqtt": port "0" in "h:0" must be a number from 1 to 65535`,
			}},
		{"bridge settings", "bridges:\n  - name: a\n    address: tcp://h:1883\n    client_id: a\n    password: p\n    ca_file: ca\n    key_file: k\n    keepalive: 0s\n" +
			"    topics: [{pattern: a, direction: out}]\n    queue: {max_bytes: 0}\n    backoff: {min: 0s}\n",
			[]string{
				`test.yaml:2:5: bridges[0].cert_file: missing: key_file needs cert_file`,
				`test.yaml:5:5: bridges[0].password: needs a username: MQTT 3.1.1 sends no password without one`,
				`test.yaml:6:5: bridges[0].ca_file: only for tls:// and wss:// addresses, not tcp://`,
				`test.yaml:7:5: bridges[0].key_file: only for tls:// and wss:// addresses, not tcp://`,
				`test.yaml:8:5: bridges[0].keepalive: must be from 1s to 65535s, got 0s`,
				`test.yaml:10:13: bridges[0].queue.max_bytes: must be larger than 0`,
				`test.yaml:11:15: bridges[0].backoff.min: must be longer than 0s`,
			}},
		{"bridge backoff order and queue above disk", "storage: {max_disk_bytes: 1MiB}\nbridges:\n  - name: a\n    address: tcp://h:1883\n    client_id: a\n" +
			"    topics: [{pattern: a, direction: out}]\n    backoff: {min: 5s, max: 1s}\n",
			[]string{
				`test.yaml:3:5: bridges[0].queue.max_bytes: 100MiB is more than storage.max_disk_bytes (1MiB)`,
				`test.yaml:7:24: bridges[0].backoff.max: 1s is shorter than backoff.min (5s)`,
			}},
		{"bridge topics", "bridges:\n  - name: a\n    address: tcp://h:1883\n    client_id: a\n    topics:\n" +
			"      - {pattern: \"a/#/b\", direction: out}\n" +
			"      - {pattern: \"a/b+\", direction: in}\n" +
			"      - {pattern: \"a/+/c\", direction: both, rewrite: \"x/{1}\", qos: 3}\n" +
			"      - {pattern: \"a/+/c\", direction: out, rewrite: \"x/{2}\", remote_prefix: \"r/\"}\n" +
			"      - {pattern: \"a/#\", direction: out, rewrite: \"x/{one}/+\"}\n" +
			"      - {pattern: \"a/#\", direction: up, local_prefix: \"l/#\"}\n" +
			"      - {pattern: \"\", qos: 1}\n",
			[]string{
				`test.yaml:6:10: bridges[0].topics[0].pattern: invalid topic filter "a/#/b": # must be a whole level and the last one`,
				`test.yaml:7:10: bridges[0].topics[1].pattern: invalid topic filter "a/b+": + must be a whole level`,
				`test.yaml:8:45: bridges[0].topics[2].rewrite: not with direction both: a rewrite maps one way (use two topics, out and in)`,
				`test.yaml:8:63: bridges[0].topics[2].qos: must be from 0 to 2, got 3`,
				`test.yaml:9:44: bridges[0].topics[3].rewrite: placeholder {2} in "x/{2}": the pattern has 1 wildcard level(s)`,
				`test.yaml:9:44: bridges[0].topics[3].rewrite: not with local_prefix or remote_prefix: the rewrite gives the whole topic`,
				`test.yaml:10:42: bridges[0].topics[4].rewrite: placeholder {one} in "x/{one}/+": want {N} with N a wildcard level number from 1`,
				`test.yaml:11:26: bridges[0].topics[5].direction: must be one of out, in, both; got "up"`,
				`test.yaml:11:41: bridges[0].topics[5].local_prefix: invalid prefix: topic name "l/#" must not contain the wildcards + or #`,
				`test.yaml:12:9: bridges[0].topics[6].direction: missing (required): one of out, in, both`,
				`test.yaml:12:10: bridges[0].topics[6].pattern: must not be empty`,
			}},
		{"merge keys", "base: &b {level: info}\nlog:\n  <<: *b\n",
			[]string{
				`test.yaml:1:1: base: unknown key`,
				`test.yaml:3:3: log.<<: merge keys (<<) are not supported: write the keys out`,
			}},
		{"syntax error", "log:\n  level: info\n   format: text\n",
			[]string{`test.yaml:3: YAML syntax: mapping values are not allowed in this context`}},
		{"tab indentation", "log:\n\tlevel: info\n",
			[]string{`test.yaml:2: YAML syntax: found character that cannot start any token`}},
		{"two documents", "log: {}\n---\nlog: {}\n",
			[]string{`test.yaml:2:1: a second YAML document: a config file holds one document (remove the ---)`}},
		{"root is a list", "- a\n",
			[]string{`test.yaml:1:1: expected a mapping of keys, got a list`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), "test.yaml")
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Errorf("a Config came back with the errors")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, not Errors: %v", err, err)
			}
			got := strings.Split(errs.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tt := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f.yaml", Line: 12, Column: 5, Key: "listeners[1].address", Msg: `missing port in "0.0.0.0"`},
			`f.yaml:12:5: listeners[1].address: missing port in "0.0.0.0"`},
		{Error{File: "f.yaml", Line: 3, Msg: "YAML syntax: x"}, "f.yaml:3: YAML syntax: x"},
		{Error{Key: "log.level", Msg: "bad"}, "log.level: bad"},
		{Error{File: "f.yaml", Msg: "too big"}, "f.yaml: too big"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Listeners[0].Address = "localhost"
	c.Limits.MaxInflight = 0
	err := c.Validate()
	want := "listeners[0].address: missing port in \"localhost\"\nlimits.max_inflight: must be from 1 to 65535, got 0"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want\n%s", err, want)
	}
}
