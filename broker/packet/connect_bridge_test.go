package packet

import "testing"

// TestConnectBridgeLevel: protocol level 0x84 (and 0x83 for 3.1) marks a
// mosquitto-style bridge; the version is the level without the top bit.
// 0x85 is not a bridge level and stays unsupported.
func TestConnectBridgeLevel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		level  byte
		want   Version
		bridge bool
		ok     bool
	}{
		{"MQTT", 0x84, V311, true, true},
		{"MQIsdp", 0x83, V31, true, true},
		{"MQTT", 0x04, V311, false, true},
		{"MQTT", 0x85, 0, false, false},
	} {
		body := append([]byte{0, byte(len(tc.name))}, tc.name...)
		body = append(body, tc.level, 0x02, 0, 60, 0, 1, 'c')
		var p Connect
		err := p.Decode(Header{Type: CONNECT, Remaining: len(body)}, body)
		if (err == nil) != tc.ok {
			t.Fatalf("level 0x%02x: err %v, want ok=%v", tc.level, err, tc.ok)
		}
		if tc.ok && (p.Version != tc.want || p.Bridge != tc.bridge) {
			t.Fatalf("level 0x%02x: version %v bridge %v, want %v %v", tc.level, p.Version, p.Bridge, tc.want, tc.bridge)
		}
		// Encoding gives back the same bytes, bridge bit included (found
		// by FuzzReader: Append dropped it).
		if tc.ok {
			want := append([]byte{byte(CONNECT) << 4, byte(len(body))}, body...)
			if got := p.Append(nil, p.Version); string(got) != string(want) {
				t.Fatalf("level 0x%02x: Append = % x, want % x", tc.level, got, want)
			}
		}
	}
}
