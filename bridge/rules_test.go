package bridge

import (
	"bytes"
	"github.com/edgemq/edgemq/broker/packet"
	"strings"
	"testing"
	"time"
)

func TestRuleMapping(t *testing.T) {
	tests := []struct {
		name      string
		rule      Rule
		local     string // filter subscribed locally ("" for in rules)
		remote    string // filter subscribed remotely ("" for out rules)
		in, out   string // a topic on the source side, and what it becomes
		outbound  bool
		wantError string
	}{
		{name: "prefixes out", rule: Rule{Pattern: "sensors/#", Direction: Out, RemotePrefix: "site1/"},
			local: "sensors/#", in: "sensors/a/temp", out: "site1/sensors/a/temp", outbound: true},
		{name: "both prefixes out", rule: Rule{Pattern: "x/+", Direction: Both, LocalPrefix: "loc/", RemotePrefix: "rem/"},
			local: "loc/x/+", remote: "rem/x/+", in: "loc/x/1", out: "rem/x/1", outbound: true},
		{name: "both prefixes in", rule: Rule{Pattern: "x/+", Direction: Both, LocalPrefix: "loc/", RemotePrefix: "rem/"},
			local: "loc/x/+", remote: "rem/x/+", in: "rem/x/1", out: "loc/x/1"},
		{name: "rewrite out", rule: Rule{Pattern: "sensors/+/temp", Direction: Out, Rewrite: "site1/{1}/temperature"},
			local: "sensors/+/temp", in: "sensors/boiler/temp", out: "site1/boiler/temperature", outbound: true},
		{name: "rewrite two levels", rule: Rule{Pattern: "a/+/b/+", Direction: Out, Rewrite: "{2}/x/{1}"},
			local: "a/+/b/+", in: "a/1/b/2", out: "2/x/1", outbound: true},
		{name: "rewrite hash", rule: Rule{Pattern: "meters/+/#", Direction: Out, Rewrite: "site1/energy/{1}/{2}"},
			local: "meters/+/#", in: "meters/m7/kwh/total", out: "site1/energy/m7/kwh/total", outbound: true},
		{name: "rewrite hash empty", rule: Rule{Pattern: "meters/#", Direction: Out, Rewrite: "all/{1}"},
			local: "meters/#", in: "meters", out: "all/", outbound: true},
		{name: "rewrite in", rule: Rule{Pattern: "fw/+/version", Direction: In, Rewrite: "firmware/{1}"},
			remote: "fw/+/version", in: "fw/gw7/version", out: "firmware/gw7"},
		{name: "bad placeholder", rule: Rule{Pattern: "a/+", Direction: Out, Rewrite: "b/{2}"}, wantError: "{2}"},
		{name: "wildcard in rewrite", rule: Rule{Pattern: "a/+", Direction: Out, Rewrite: "b/#"}, wantError: "wildcards"},
		{name: "rewrite both", rule: Rule{Pattern: "a/+", Direction: Both, Rewrite: "b/{1}"}, wantError: "both"},
		{name: "bad filter", rule: Rule{Pattern: "a/b#", Direction: Out}, wantError: "# must be"},
		{name: "bad direction", rule: Rule{Pattern: "a", Direction: "sideways"}, wantError: "direction"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := compileRule(tc.rule)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.localFilter != tc.local || r.remoteFilter != tc.remote {
				t.Fatalf("filters local %q remote %q, want %q %q", r.localFilter, r.remoteFilter, tc.local, tc.remote)
			}
			var got string
			if tc.outbound {
				if !packet.Match(r.localFilter, tc.in) {
					t.Fatalf("%q does not match %q", tc.in, r.localFilter)
				}
				got = r.mapOut(tc.in)
			} else {
				if !packet.Match(r.remoteFilter, tc.in) {
					t.Fatalf("%q does not match %q", tc.in, r.remoteFilter)
				}
				got = r.mapIn(tc.in)
			}
			if got != tc.out {
				t.Fatalf("%q maps to %q, want %q", tc.in, got, tc.out)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"#", "a/b", true},
		{"#", "$SYS/x", false}, // [MQTT-4.7.2-1]
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"a/#", "a", true}, // [MQTT-4.7.1-2]
		{"a/#", "ab", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/+/c", "a//c", true},
		{"+", "", true},
		{"a/b", "a/b", true},
		{"a/b", "a/b/", false},
		{"a/b/", "a/b/", true},
		{"+/+", "/x", true},
	}
	for _, tc := range tests {
		if got := packet.Match(tc.filter, tc.topic); got != tc.want {
			t.Errorf("packet.Match(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
		if got := packet.Match(tc.filter, []byte(tc.topic)); got != tc.want {
			t.Errorf("packet.Match(%q, []byte(%q)) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestTapFilters(t *testing.T) {
	var rules []*rule
	for _, p := range []string{"a/#", "+/b", "$SYS/broker/+", "$SYS/x", "$aws/things/#"} {
		r, err := compileRule(Rule{Pattern: p, Direction: Out})
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	got := strings.Join(tapFilters(rules), " ")
	if want := "# $SYS/# $aws/#"; got != want {
		t.Fatalf("tap filters %q, want %q (disjoint, one call per message)", got, want)
	}
}

// TestRecord: the exact bytes of a record, and that damage is detected.
func TestRecord(t *testing.T) {
	at := time.Unix(0, 0x0102030405060708)
	rec := appendRecord(nil, at, 2, true, "a/b", []byte("hi"))
	want := []byte{
		1,                      // version
		0xaa, 0xbb, 0xcc, 0xdd, // CRC, checked below
		1, 2, 3, 4, 5, 6, 7, 8, // time
		2 | 4, // QoS 2, retain
		0, 3, 'a', '/', 'b',
		'h', 'i',
	}
	copy(want[1:5], rec[1:5])
	if !bytes.Equal(rec, want) {
		t.Fatalf("record\n got % x\nwant % x", rec, want)
	}
	r, err := decodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !r.at.Equal(at) || r.qos != 2 || !r.retain || string(r.topic) != "a/b" || string(r.payload) != "hi" {
		t.Fatalf("decoded %+v", r)
	}
	for i := range rec {
		bad := bytes.Clone(rec)
		bad[i] ^= 0x10
		if _, err := decodeRecord(bad); err == nil {
			t.Errorf("flipping a bit of byte %d went unnoticed", i)
		}
	}
	for n := range len(rec) {
		if _, err := decodeRecord(rec[:n]); err == nil {
			t.Errorf("a record cut to %d bytes went unnoticed", n)
		}
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for n := 1; n <= 70; n++ {
		want := min(hi, lo<<min(n-1, 30))
		for range 50 {
			d := backoff(n, lo, hi)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", n, d, want/2, want)
			}
		}
	}
}
