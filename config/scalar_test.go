package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want ByteSize
		err  string
	}{
		{"0", 0, ""},
		{"4096", 4096, ""},
		{"4096B", 4096, ""},
		{"1kB", 1000, ""},
		{"1KB", 1000, ""},
		{"100MB", 100_000_000, ""},
		{"2GB", 2_000_000_000, ""},
		{"1TB", 1_000_000_000_000, ""},
		{"1KiB", 1024, ""},
		{"4MiB", 4 << 20, ""},
		{"256 MiB", 256 << 20, ""},
		{" 1GiB ", 1 << 30, ""},
		{"3TiB", 3 << 40, ""},
		{"8388607TiB", 8388607 << 40, ""},
		{"8388608TiB", 0, "too large"},
		{"99999999999999999999", 0, "too large"},
		{"1.5MiB", 0, "fractions are not accepted"},
		{"10Mb", 0, `unknown unit "Mb"`},
		{"10M", 0, `unknown unit "M"`},
		{"10 mib", 0, `unknown unit "mib"`},
		{"MiB", 0, "want an integer"},
		{"", 0, "want an integer"},
		{"-1MiB", 0, "must not be negative"},
	} {
		got, err := ParseByteSize(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseByteSize(%q) = %d, %v; want an error with %q", tt.in, got, err, tt.err)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	for _, tt := range []struct {
		in   ByteSize
		want string
	}{{0, "0B"}, {1000, "1000B"}, {1024, "1KiB"}, {1536, "1536B"}, {3 << 10, "3KiB"}, {256 << 20, "256MiB"}, {1 << 40, "1TiB"}} {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

// TestByteSizeYAML checks that integers and strings both decode.
func TestByteSizeYAML(t *testing.T) {
	for in, want := range map[string]ByteSize{"1048576": 1 << 20, "0x100000": 1 << 20, `"1048576"`: 1 << 20, "1MiB": 1 << 20} {
		c := parseOK(t, "limits: {max_queued_bytes: "+in+"}\n")
		if c.Limits.MaxQueuedBytes != want {
			t.Errorf("max_queued_bytes: %s decoded to %d, want %d", in, c.Limits.MaxQueuedBytes, want)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	c := parseOK(t, "sys_interval: 0\nlimits: {connect_timeout: 1m30s}\nmqttsn: {advertise_interval: 1h}\n")
	if c.SysInterval != 0 || c.Limits.ConnectTimeout.Seconds() != 90 || c.MQTTSN.AdvertiseInterval.Hours() != 1 {
		t.Errorf("durations: %v %v %v", c.SysInterval, c.Limits.ConnectTimeout, c.MQTTSN.AdvertiseInterval)
	}
}

func TestCheckFilter(t *testing.T) {
	for _, tt := range []struct {
		f   string
		err string // "" for valid
	}{
		{"#", ""},
		{"+", ""},
		{"a/b/c", ""},
		{"a/+/c", ""},
		{"a/#", ""},
		{"+/+", ""},
		{"/", ""},
		{"a//b", ""},
		{"$SYS/#", ""},
		{"", "empty topic filter"},
		{"a/#/c", "# must be a whole level and the last one"},
		{"a#", "# must be a whole level"},
		{"a/b#", "# must be a whole level"},
		{"a+/b", "+ must be a whole level"},
		{"a/+b", "+ must be a whole level"},
		{"a\x00b", "contains U+0000"},
		{"a\xffb", "not valid UTF-8"},
		{strings.Repeat("a", 65536), "longer than 65535"},
	} {
		err := checkFilter(tt.f)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("checkFilter(%.20q) = %v, want %q", tt.f, err, tt.err)
		}
	}
}

func TestCheckRewrite(t *testing.T) {
	for _, tt := range []struct {
		pattern, rewrite string
		err              string
	}{
		{"meters/+/kwh", "site1/energy/{1}", ""},
		{"a/+/b/#", "x/{2}/{1}", ""},
		{"a/+/b/#", "x/{1}{2}", ""},
		{"a/b", "c/d", ""},
		{"a/+", "x/{0}", "want {N}"},
		{"a/+", "x/{+1}", "want {N}"},
		{"a/+", "x/{}", "want {N}"},
		{"a/+", "x/{2}", "the pattern has 1 wildcard level(s)"},
		{"a/b", "x/{1}", "the pattern has 0 wildcard level(s)"},
		{"a/+", "x/{1", "unclosed {"},
		{"a/+", "x/1}", "} without {"},
		{"a/+", "x/{1}/#", "must not contain the wildcards"},
		{"a/+", "", "empty rewrite"},
	} {
		err := checkRewrite(tt.rewrite, wildcards(tt.pattern))
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("checkRewrite(%q, %q) = %v, want %q", tt.rewrite, tt.pattern, err, tt.err)
		}
	}
}

func TestSuggest(t *testing.T) {
	fields := tagIndex(reflect.TypeFor[Listener]())
	if got := suggest("adress", fields); got != ` (did you mean "address"?)` {
		t.Errorf("suggest(adress) = %q", got)
	}
	if got := suggest("colour", fields); got != "" {
		t.Errorf("suggest(colour) = %q, want none", got)
	}
}
