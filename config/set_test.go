package config

import "testing"

func TestIsSet(t *testing.T) {
	c := parseOK(t, `
limits:
  max_connections: 1000     # the default value, but written: set
  max_queued_bytes: 2MiB
listeners:
  - {type: tcp, address: "127.0.0.1:1883"}
mqttsn:
  predefined_topics: {7: a/b}
board: {}
`)
	for key, want := range map[string]bool{
		"limits":                     true,
		"limits.max_connections":     true,
		"limits.max_queued_bytes":    true,
		"limits.max_queued_messages": false,
		"limits.retained_max":        false,
		"listeners[0].address":       true,
		"listeners[0].name":          false, // filled in from type and address
		"listeners[1].address":       false,
		"mqttsn.predefined_topics.7": true,
		"board":                      true,
		"board.watchdog":             false,
		"storage":                    false,
		"storage.engine":             false,
		"":                           false,
		"nonsense.key":               false,
	} {
		if got := c.IsSet(key); got != want {
			t.Errorf("IsSet(%q) = %v, want %v", key, got, want)
		}
	}
	// The value of a set key is the file's, an absent one the default's.
	if c.Limits.MaxQueuedBytes != 2<<20 || c.Limits.MaxQueuedMessages != Default().Limits.MaxQueuedMessages {
		t.Errorf("limits = %+v", c.Limits)
	}
}

func TestIsSetWithoutFile(t *testing.T) {
	for _, c := range []*Config{Default(), parseOK(t, "")} {
		for _, key := range []string{"limits", "limits.max_connections", "data_dir"} {
			if c.IsSet(key) {
				t.Errorf("IsSet(%q) = true on a config with no keys given", key)
			}
		}
	}
}
