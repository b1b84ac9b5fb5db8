package monitor_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/edgemq/edgemq/monitor"
)

// parse parses text with the Prometheus text parser, failing the test if
// Prometheus would not accept it.
func parse(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("the Prometheus text parser refuses the output: %v\n%s", err, text)
	}
	return fams
}

func TestWriterOutput(t *testing.T) {
	w := monitor.NewWriter()
	w.Counter("a_total", "A counter.", 42)
	w.Family("b", monitor.Gauge, "Help with \\ and\nnewline.")
	w.Sample(1.5, "l", `quo"te`, "m", "back\\slash\nnl")
	w.Sample(math.Inf(1), "l", "inf")
	w.Sample(math.NaN(), "l", "nan")
	w.Sample(-3, "l", "neg")
	w.Sample(1e20, "l", "big")
	w.Gauge("c", "Empty family allowed.", 0)
	want := `# HELP a_total A counter.
# TYPE a_total counter
a_total 42
# HELP b Help with \\ and\nnewline.
# TYPE b gauge
b{l="quo\"te",m="back\\slash\nnl"} 1.5
b{l="inf"} +Inf
b{l="nan"} NaN
b{l="neg"} -3
b{l="big"} 1e+20
# HELP c Empty family allowed.
# TYPE c gauge
c 0
`
	if got := string(w.Bytes()); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if err := w.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
	fams := parse(t, w.Bytes())
	if got := fams["b"].GetMetric()[0].GetLabel()[1].GetValue(); got != "back\\slash\nnl" {
		t.Errorf("label value round trip: %q", got)
	}
}

func TestWriterMisuse(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *monitor.Writer)
		err   string
	}{
		{"counter without _total", func(w *monitor.Writer) { w.Counter("requests", "x", 1) }, `counter "requests" does not end in _total`},
		{"bad name", func(w *monitor.Writer) { w.Gauge("9lives", "x", 1) }, `family name "9lives" is not a valid metric name`},
		{"twice", func(w *monitor.Writer) { w.Gauge("g", "x", 1); w.Gauge("g", "x", 2) }, `family "g" written twice`},
		{"odd labels", func(w *monitor.Writer) { w.Family("g", monitor.Gauge, "x"); w.Sample(1, "only") }, `odd number of label strings`},
		{"bad label", func(w *monitor.Writer) { w.Family("g", monitor.Gauge, "x"); w.Sample(1, "a-b", "v") }, `label name "a-b" is not valid`},
		{"reserved label", func(w *monitor.Writer) { w.Family("g", monitor.Gauge, "x"); w.Sample(1, "__name__", "v") }, `label name "__name__" is not valid`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := monitor.NewWriter()
			w.Gauge("before", "kept", 1)
			tt.write(w)
			w.Gauge("after", "kept", 2)
			if err := w.Err(); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Err() = %v, want it to contain %q", err, tt.err)
			}
			// What was refused is left out; the rest still parses.
			fams := parse(t, w.Bytes())
			if fams["before"] == nil || fams["after"] == nil {
				t.Errorf("valid families lost: %s", w.Bytes())
			}
		})
	}
}

func TestWriterSampleWithoutFamily(t *testing.T) {
	w := monitor.NewWriter()
	w.Sample(1)
	if err := w.Err(); err == nil || !strings.Contains(err.Error(), "sample without a family") {
		t.Errorf("Err() = %v", err)
	}
	if len(w.Bytes()) != 0 {
		t.Errorf("wrote %q", w.Bytes())
	}
}
