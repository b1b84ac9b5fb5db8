package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// column is one column of a scenario's table.
type column struct {
	key, head string
	prec      int // digits after the point
}

var (
	colRSS  = column{"rss_mib", "RSS MiB", 1}
	colAnon = column{"anon_mib", "anon MiB", 1}

	flowColumns = []column{
		{"msg_s", "msg/s", 0}, {"sent", "sent", 0}, {"received", "recv", 0},
		{"lost", "lost", 0}, {"loss_pct", "loss%", 2}, {"stalls", "stalls", 0},
		{"p50_ms", "p50 ms", 3}, {"p99_ms", "p99 ms", 3},
		{"peak_rss_mib", "peak RSS MiB", 1}, {"peak_anon_mib", "peak anon MiB", 1},
		{"broker_cpu", "broker CPU%", 0}, {"broker_us_msg", "broker us/msg", 2},
		{"load_cpu", "load CPU%", 0},
	}
	latencyColumns = []column{
		{"msg_s", "msg/s", 0}, {"received", "recv", 0}, {"lost", "lost", 0},
		{"p50_ms", "p50 ms", 3}, {"p99_ms", "p99 ms", 3}, {"p999_ms", "p99.9 ms", 3}, {"max_ms", "max ms", 3},
		{"peak_rss_mib", "peak RSS MiB", 1}, {"broker_cpu", "broker CPU%", 0}, {"load_cpu", "load CPU%", 0},
	}
	connRateColumns = []column{
		{"seq_conn_s", "1 dialer conn/s", 0}, {"seq_p99_ms", "p99 ms", 3},
		{"seq_broker_cpu", "broker CPU%", 0}, {"seq_load_cpu", "load CPU%", 0},
		{"par_conn_s", "N dialers conn/s", 0}, {"par_p99_ms", "p99 ms", 3},
		{"par_broker_cpu", "broker CPU%", 0}, {"par_load_cpu", "load CPU%", 0},
		{"peak_rss_mib", "peak RSS MiB", 1},
	}
	idleConnColumns = []column{
		{"conns", "conns", 0}, {"open_conn_s", "opened/s", 0},
		{"rss_before_mib", "RSS before MiB", 1}, {"rss_after_mib", "RSS after MiB", 1},
		{"kib_per_conn", "KiB/conn", 2}, {"anon_kib_per_conn", "anon KiB/conn", 2},
	}
)

// verdict is one target of DESIGN.md section 5 judged on one run.
type verdict struct {
	Figure    string   `json:"figure"`
	Key       string   `json:"key"`
	Edgemq    *float64 `json:"edgemq,omitempty"`
	Mosquitto *float64 `json:"mosquitto,omitempty"`
	Ratio     *float64 `json:"ratio,omitempty"` // edgemq / mosquitto
	Target    string   `json:"target"`
	Verdict   string   `json:"verdict"` // PASS, MISS, or n/a when a number is missing
}

func val(v values, key string) *float64 {
	if x, ok := v[key]; ok {
		return &x
	}
	return nil
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// ratioAtLeast: edgemq's key >= min x mosquitto's, and with noLoss also no
// lost message on edgemq.
func ratioAtLeast(figure, key string, em, mq values, minRatio float64, noLoss bool) verdict {
	v := verdict{Figure: figure, Key: key, Edgemq: val(em, key), Mosquitto: val(mq, key),
		Target: ">= " + strconv.FormatFloat(minRatio, 'f', -1, 64) + "x mosquitto"}
	if noLoss {
		v.Target += ", no loss"
	}
	if v.Edgemq == nil || v.Mosquitto == nil || *v.Mosquitto == 0 {
		v.Verdict = "n/a"
		return v
	}
	r := *v.Edgemq / *v.Mosquitto
	v.Ratio = &r
	ok := r >= minRatio
	if noLoss {
		ok = ok && em["lost"] == 0
	}
	v.Verdict = passMiss(ok)
	return v
}

// atMostOther: edgemq's key <= mosquitto's.
func atMostOther(figure, key string, em, mq values) verdict {
	v := verdict{Figure: figure, Key: key, Edgemq: val(em, key), Mosquitto: val(mq, key), Target: "<= mosquitto"}
	if v.Edgemq == nil || v.Mosquitto == nil || *v.Mosquitto == 0 {
		v.Verdict = "n/a"
		return v
	}
	r := *v.Edgemq / *v.Mosquitto
	v.Ratio = &r
	v.Verdict = passMiss(*v.Edgemq <= *v.Mosquitto)
	return v
}

// atMostAbs: edgemq's key <= limit; mosquitto is shown for reference.
func atMostAbs(figure, key string, em values, limit float64, unit string) verdict {
	v := verdict{Figure: figure, Key: key, Edgemq: val(em, key),
		Target: "<= " + strconv.FormatFloat(limit, 'f', -1, 64) + " " + unit}
	if v.Edgemq == nil {
		v.Verdict = "n/a"
		return v
	}
	v.Verdict = passMiss(*v.Edgemq <= limit)
	return v
}

// brokerResult is one broker's outcome in one scenario.
type brokerResult struct {
	Broker string `json:"broker"`
	Values values `json:"values,omitempty"`
	Error  string `json:"error,omitempty"`
}

// scenarioReport is one scenario's outcome.
type scenarioReport struct {
	Name     string         `json:"name"`
	Title    string         `json:"title"`
	Results  []brokerResult `json:"results"`
	Verdicts []verdict      `json:"verdicts,omitempty"`
	Notes    []string       `json:"notes,omitempty"`
	// Profile is the top of edgemq's CPU profile (-perf), one line a function.
	Profile []string `json:"profile,omitempty"`
}

// brokerInfo says what ran.
type brokerInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Setup   string `json:"setup"`
	Config  string `json:"config"`
	Addr    string `json:"addr"`
	NoFile  string `json:"max_open_files"`
}

// report is the whole run, as written to -json.
type report struct {
	Started      string            `json:"started"`
	Host         map[string]string `json:"host"`
	LoadAvgStart string            `json:"loadavg_start"`
	LoadAvgEnd   string            `json:"loadavg_end"`
	Load         map[string]string `json:"load_generator"`
	Brokers      []brokerInfo      `json:"brokers"`
	Scenarios    []scenarioReport  `json:"scenarios"`
	Warnings     []string          `json:"warnings,omitempty"`
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// fmtNum formats x with prec digits, big numbers without decimals.
func fmtNum(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	if math.Abs(x) >= 1000 {
		prec = 0
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// printScenario writes one scenario's table, ratio and verdict lines.
func printScenario(w io.Writer, sc *scenario, sr *scenarioReport) {
	fmt.Fprintf(w, "\n== %s: %s\n", sr.Name, sr.Title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	heads := []string{"broker"}
	for _, c := range sc.columns {
		heads = append(heads, c.head)
	}
	fmt.Fprintln(tw, strings.Join(heads, "\t")+"\t")
	var em, mq values
	for _, r := range sr.Results {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\tERROR: %s\t\n", r.Broker, firstLine(r.Error))
			continue
		}
		cells := []string{r.Broker}
		for _, c := range sc.columns {
			x, ok := r.Values[c.key]
			if !ok {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, fmtNum(x, c.prec))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		switch r.Broker {
		case "edgemq":
			em = r.Values
		case "mosquitto":
			mq = r.Values
		}
	}
	if em != nil && mq != nil {
		cells := []string{"edgemq/mosquitto"}
		for _, c := range sc.columns {
			a, b := em[c.key], mq[c.key]
			if b == 0 {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, strconv.FormatFloat(a/b, 'f', 2, 64)+"x")
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()
	for _, v := range sr.Verdicts {
		fmt.Fprintf(w, "   target %-40s %s: %s\n", v.Figure, v.Target, v.Verdict+detail(v))
	}
	for _, r := range sr.Results {
		if r.Error != "" {
			fmt.Fprintf(w, "   %s error: %s\n", r.Broker, r.Error)
		}
	}
	for _, n := range sr.Notes {
		fmt.Fprintf(w, "   note: %s\n", n)
	}
}

// saturatedAt is the load generator CPU (percent of its core) from which a
// figure may tell more about the load generator than about the broker.
const saturatedAt = 90

// busyOther is the share of a pinned core (percent) taken by other
// processes from which a result is flagged as disturbed.
const busyOther = 10

// loadNotes flags the results where the load generator was near 100% of
// its core, or where other processes took a share of either core.
func loadNotes(sr *scenarioReport) []string {
	var notes []string
	for _, r := range sr.Results {
		for _, key := range []string{"load_cpu", "seq_load_cpu", "par_load_cpu"} {
			if x, ok := r.Values[key]; ok && x >= saturatedAt {
				notes = append(notes, fmt.Sprintf("the load generator used %.0f%% of its core (%s) against %s: that figure may be bound by the load generator, not the broker",
					x, key, r.Broker))
			}
		}
		if x := r.Values["broker_core_other"]; x >= busyOther {
			notes = append(notes, fmt.Sprintf("during %s's run something else used %.0f%% of the broker's core (the other broker %.0f%%): its figures are disturbed",
				r.Broker, x, r.Values["peer_broker_cpu"]))
		}
		if x := r.Values["load_core_other"]; x >= busyOther {
			notes = append(notes, fmt.Sprintf("during %s's run something else used %.0f%% of the load generator's core: the load may have been slowed",
				r.Broker, x))
		}
	}
	return notes
}

func detail(v verdict) string {
	var parts []string
	if v.Edgemq != nil {
		parts = append(parts, "edgemq "+fmtNum(*v.Edgemq, 2))
	}
	if v.Mosquitto != nil {
		parts = append(parts, "mosquitto "+fmtNum(*v.Mosquitto, 2))
	}
	if v.Ratio != nil {
		parts = append(parts, "ratio "+strconv.FormatFloat(*v.Ratio, 'f', 2, 64)+"x")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// printSummary writes every verdict of the run in one table.
func printSummary(w io.Writer, r *report) {
	fmt.Fprintf(w, "\n== targets (DESIGN.md section 5), one run, load average %s -> %s\n", r.LoadAvgStart, r.LoadAvgEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tedgemq\tmosquitto\tratio\ttarget\tverdict")
	for _, sr := range r.Scenarios {
		for _, v := range sr.Verdicts {
			num := func(p *float64) string {
				if p == nil {
					return "-"
				}
				return fmtNum(*p, 2)
			}
			ratio := "-"
			if v.Ratio != nil {
				ratio = strconv.FormatFloat(*v.Ratio, 'f', 2, 64) + "x"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Figure, num(v.Edgemq), num(v.Mosquitto), ratio, v.Target, v.Verdict)
		}
	}
	tw.Flush()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
