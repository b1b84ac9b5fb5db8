package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildEdgemq builds cmd/edgemq into a temporary directory.
func buildEdgemq(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go" // where the Makefile looks too
	}
	bin := filepath.Join(t.TempDir(), "edgemq")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/edgemq/edgemq/cmd/edgemq")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building edgemq: %v\n%s", err, out)
	}
	return bin
}

// TestSmoke runs every scenario for 1 s against the real edgemq binary and
// Debian's mosquitto, and checks that each produced sane numbers and a
// verdict, in the table and in the JSON.
func TestSmoke(t *testing.T) {
	bin := buildEdgemq(t)
	jsonPath := filepath.Join(t.TempDir(), "results.json")
	var out bytes.Buffer
	err := run(context.Background(), []string{"-edgemq", bin, "-duration", "1s", "-conns", "300", "-json", jsonPath}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Brokers) != 2 || rep.LoadAvgStart == "" || rep.LoadAvgEnd == "" {
		t.Errorf("report: brokers %+v, load average %q -> %q", rep.Brokers, rep.LoadAvgStart, rep.LoadAvgEnd)
	}
	// Each scenario and the keys that must be positive for both brokers.
	positive := map[string][]string{
		"idle-rss":   {"rss_mib", "anon_mib"},
		"qos0-fanin": {"msg_s", "sent", "received", "p50_ms", "p99_ms", "peak_rss_mib", "broker_cpu", "load_cpu"},
		"qos1-fanin": {"msg_s", "sent", "received", "acked", "p99_ms", "broker_cpu"},
		"fanout":     {"msg_s", "sent", "received", "p99_ms", "broker_cpu"},
		"latency":    {"msg_s", "received", "p50_ms", "p99_ms"},
		"connrate":   {"seq_conn_s", "par_conn_s", "seq_p99_ms", "peak_rss_mib"},
		"idle-conns": {"conns", "rss_before_mib", "rss_after_mib"},
	}
	if len(rep.Scenarios) != len(positive) {
		t.Fatalf("%d scenarios in the report, want %d", len(rep.Scenarios), len(positive))
	}
	for _, sr := range rep.Scenarios {
		keys, ok := positive[sr.Name]
		if !ok {
			t.Errorf("unexpected scenario %q", sr.Name)
			continue
		}
		if len(sr.Results) != 2 {
			t.Errorf("%s: %d results, want edgemq and mosquitto", sr.Name, len(sr.Results))
		}
		for _, r := range sr.Results {
			if r.Error != "" {
				t.Errorf("%s on %s: %s", sr.Name, r.Broker, r.Error)
				continue
			}
			for _, k := range keys {
				if r.Values[k] <= 0 {
					t.Errorf("%s on %s: %s = %v, want > 0", sr.Name, r.Broker, k, r.Values[k])
				}
			}
		}
		if len(sr.Verdicts) == 0 {
			t.Errorf("%s: no verdict", sr.Name)
		}
		for _, v := range sr.Verdicts {
			if v.Verdict != "PASS" && v.Verdict != "MISS" {
				t.Errorf("%s: verdict %q for %s", sr.Name, v.Verdict, v.Figure)
			}
		}
		if !strings.Contains(out.String(), "== "+sr.Name+": ") {
			t.Errorf("no table for %s in the output", sr.Name)
		}
	}
	if idle := rep.Scenarios[len(rep.Scenarios)-1]; idle.Name == "idle-conns" {
		for _, r := range idle.Results {
			if r.Values["conns"] != 300 {
				t.Errorf("idle-conns on %s: %v connections, want 300", r.Broker, r.Values["conns"])
			}
		}
	}
	if !strings.Contains(out.String(), "== targets") {
		t.Error("no summary table in the output")
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"-scenarios", "qos0-fanin,nope"}, `unknown scenario "nope"`},
		{[]string{"-brokers", "hivemq"}, `unknown broker "hivemq"`},
		{[]string{"-payload", "8"}, "-payload 8: at least 20"},
		{[]string{"-window", "4"}, "-window 4"},
		{[]string{"-duration", "10ms"}, "-duration 10ms"},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%v: error %v, want one containing %q", tt.args, err, tt.err)
		}
	}
	o, err := parseFlags([]string{"-scenarios", "latency, fanout", "-brokers", "mosquitto"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.scenarios, ",") != "latency,fanout" || strings.Join(o.brokers, ",") != "mosquitto" || o.window != 1000 {
		t.Errorf("parsed %+v", o)
	}
}
