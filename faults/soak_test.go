package faults

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgemq/edgemq/faults/rig"
)

// soakPlan is the shape of a soak run: how long, how often each kind of
// trouble comes, and whether the resource trends are judged.
type soakPlan struct {
	d, sample, warm time.Duration
	storm           time.Duration // between reconnect storms
	stormN          int           // clients per storm
	flap            time.Duration // between uplink flaps
	refuse, cut     time.Duration // each flap: refused, then cutting connections
	retain          time.Duration // between retained rounds
	retainN         int           // retained topics per round
	will            time.Duration // between will clients
	snClients       int
	out             string // CSV and PNG path without extension
	judge           bool   // judge the trends (long enough for a warm-up)
}

// soakPlanFor reads EDGEMQ_SOAK (a duration, set by make soak): without
// it the soak runs as a short self-check (every kind of load for a few
// seconds, loss and leak checks, no trend verdict).
func soakPlanFor(t *testing.T) soakPlan {
	env := os.Getenv("EDGEMQ_SOAK")
	if env == "" {
		return soakPlan{d: 12 * time.Second, sample: time.Second, warm: 3 * time.Second,
			storm: 4 * time.Second, stormN: 40, flap: 5 * time.Second, refuse: time.Second, cut: time.Second,
			retain: 2 * time.Second, retainN: 20, will: 300 * time.Millisecond, snClients: 2,
			out: filepath.Join(t.TempDir(), "soak-check")}
	}
	d, err := time.ParseDuration(env)
	if err != nil || d < time.Minute {
		t.Fatalf("EDGEMQ_SOAK=%q: want a duration of at least 1m (e.g. 1h)", env)
	}
	out := os.Getenv("EDGEMQ_SOAK_OUT")
	if out == "" {
		out = filepath.Join("..", "docs", "soak", "soak-"+env)
	}
	// The warm-up covers badger filling its first memtables (32 MiB each
	// on a large box: RSS and store size climb for several minutes before
	// the first flush). A run must go on for 15 minutes after it for the
	// thirds to say anything; shorter runs report trends unjudged.
	warm := max(d/6, 10*time.Minute)
	judge := d-warm >= 15*time.Minute
	if !judge {
		warm = d / 6 // trends reported for what they are worth, not judged
	}
	return soakPlan{d: d, sample: 10 * time.Second, warm: warm,
		storm: 60 * time.Second, stormN: 200, flap: 90 * time.Second, refuse: 15 * time.Second, cut: 15 * time.Second,
		retain: 10 * time.Second, retainN: 100, will: 2 * time.Second, snClients: 4,
		out: out, judge: judge}
}

// soakTolerance is the growth allowed for column k between the middle and
// the last third after warm-up (medians): relative, plus absolute; judged
// is false for the columns that are not judged.
func soakTolerance(k string) (rel, abs float64, judged bool) {
	switch k {
	case "rss_mib":
		return 0.10, 8, true
	case "goroutines":
		return 0.05, 10, true
	case "open_fds":
		return 0.05, 10, true
	case "store_mib":
		return 0.25, 16, true
	}
	return 0, 0, false
}

// After the load stops and its clients are gone, goroutines and open
// files must come back to within this of where they were before it.
const leakSlackGoroutines, leakSlackFDs = 5, 3

var snListeningRe = regexp.MustCompile(`msg="mqttsn gateway listening" transport=udp:(\S+)`)

// TestSoak: a real edgemq under mixed load for EDGEMQ_SOAK (make soak
// DURATION=1h): QoS 0, 1 and 2 publishers with sequence numbers, retained
// rounds checked by fresh subscribers, will clients killed abruptly,
// reconnect storms, MQTT-SN clients over UDP, and a bridge to a real
// mosquitto through a proxy that refuses and cuts the uplink. RSS,
// goroutines, open files and store size are sampled into a CSV and a PNG.
// Checked: no growth trend after warm-up, goroutines and files back to
// their level once the load is gone, no acknowledged message lost (at a
// local persistent subscriber and at the upstream), QoS 2 once upstream,
// every will of a killed client and none of a clean one.
func TestSoak(t *testing.T) {
	plan := soakPlanFor(t)
	var fig Figures
	defer func() { Report(t, "soak", fig.List()...) }()
	fig.Set("duration", plan.d)

	mosq := rig.NewMosquitto(t, "127.0.0.1", freeTCPPort(t), nil, nil)
	t.Cleanup(mosq.Stop)
	mosq.Start()
	upTally, upSub := counter(t, rig.TCP(mosq.Addr), "soak-up", "up/#")
	proxy, err := rig.NewProxy(mosq.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })

	dir := t.TempDir()
	cfg := bridgeEdgemqConfig(dir, proxy.Addr(), 5*time.Second, 250*time.Millisecond, 4*time.Second) +
		"mqttsn:\n  udp: [{address: \"127.0.0.1:0\"}]\n"
	e := rig.StartEdgemq(t, edgemqBinary(t), dir, cfg, "mqtt", "http")
	snAddr := ""
	for deadline := time.Now().Add(10 * time.Second); snAddr == ""; time.Sleep(10 * time.Millisecond) {
		if m := snListeningRe.FindStringSubmatch(e.Log()); m != nil {
			snAddr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("edgemq: no MQTT-SN gateway listening:\n%s", e.LogTail(20))
		}
	}
	local, localSub := counter(t, rig.TCP(e.Addr("mqtt")), "soak-local", "q1/#")
	for _, f := range []string{"q2/#", "q0/#", "sn/#"} {
		if err := localSub.Subscribe(f, 2); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); metric(t, e, `edgemq_bridge_up{bridge="up"}`) != 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge did not connect:\n%s", e.LogTail(20))
		}
	}
	time.Sleep(time.Second)
	base := readSoakSample(t, e, dir)
	fig.Set("goroutines_base", base.goroutines)
	fig.Set("fds_base", base.fds)

	s := newSoakLoad(t, plan, e.Addr("mqtt"), snAddr, proxy)
	csvPath, pngPath := plan.out+".csv", plan.out+".png"
	series, sampleErr := sampleSoak(t, plan, e, dir, s, csvPath)
	s.stop()
	fig.Set("samples", len(series.x))
	fig.Set("csv", csvPath)

	// The load is over: the uplink comes back, the backlog drains.
	proxy.SetMode(rig.Pass)
	if sampleErr != nil {
		t.Fatal(sampleErr)
	}
	pubAcked, snAcked := s.acked()
	all := maps.Clone(pubAcked)
	maps.Copy(all, snAcked)
	lc, _ := waitDelivered(t, local, all, 60*time.Second, e, localSub)
	uc, drain := waitDelivered(t, upTally, pubAcked, pick(90*time.Second, 300*time.Second), e, upSub)
	var q2dups uint64
	for id := range pubAcked {
		if id[:2] == "q2" {
			q2dups += upTally.DupsOf(id)
		}
	}
	fig.Set("acked", lc.Acked)
	fig.Set("acked_sn", countAcked(snAcked))
	fig.Set("lost_local", lc.Lost)
	fig.Set("lost_up", uc.Lost)
	fig.Set("reordered_up", uc.Reordered)
	fig.Set("dup_up", uc.Duplicates)
	fig.Set("dup_up_qos2", q2dups)
	fig.Set("drain", drain)
	fig.Set("q0_sent", s.q0.Sent())
	fig.Set("q0_delivered", local.Seen(s.q0.ID).Len())
	s.figures(&fig)
	fig.Set("flaps", s.flaps.Load())
	fig.Set("cuts", proxy.Cuts())
	m, err := e.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	fig.Set("bridge_connects", m[`edgemq_bridge_connects_total{bridge="up"}`])
	fig.Set("bridge_dropped", m[`edgemq_bridge_messages_dropped_total{bridge="up"}`])
	if lc.Lost > 0 {
		t.Errorf("%d acknowledged messages never reached the local persistent subscriber: %v", lc.Lost, lc.Examples)
	}
	if uc.Lost > 0 {
		t.Errorf("%d acknowledged messages never reached the upstream: %v", uc.Lost, uc.Examples)
	}
	if uc.Reordered > 0 || lc.Reordered > 0 {
		t.Errorf("out of a publisher's order: %d upstream, %d locally: %v %v", uc.Reordered, lc.Reordered, uc.Examples, lc.Examples)
	}
	if q2dups > 0 {
		t.Errorf("%d QoS 2 messages reached the upstream twice", q2dups)
	}
	s.check(t)

	// Leaks: with the load's clients gone, edgemq comes back to where it
	// was before the load.
	after := base
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		after = readSoakSample(t, e, dir)
		if after.goroutines <= base.goroutines+leakSlackGoroutines && after.fds <= base.fds+leakSlackFDs {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("leak: %v goroutines and %v open files 30s after the load ended, %v and %v before it",
				after.goroutines, after.fds, base.goroutines, base.fds)
			break
		}
	}
	fig.Set("goroutines_end", after.goroutines)
	fig.Set("fds_end", after.fds)

	// Trends after warm-up.
	fig.Set("rss_peak_mib", fmt.Sprintf("%.1f", slicesMax(series.col["rss_mib"])))
	for _, k := range soakColumns[1:] {
		rel, abs, judged := soakTolerance(k)
		tr := rig.TrendOf(series.x, series.col[k], plan.warm.Minutes())
		fig.Set(k+"_trend", tr)
		if judged && plan.judge && tr.Grows(rel, abs) {
			t.Errorf("%s grows after warm-up: median %.1f in the middle third, %.1f in the last (allowed: +%.0f%% +%v); slope %.3g/min",
				k, tr.Middle, tr.Last, rel*100, abs, tr.Slope)
		}
	}
	if err := writeSoakPlot(pngPath, plan, series); err != nil {
		t.Error(err)
	}
	fig.Set("png", pngPath)
	if !plan.judge {
		fig.Set("trends", "not-judged:run-too-short")
	}
}

// soakSample is one reading of edgemq's resources.
type soakSample struct {
	rssMiB, anonMiB, heapMiB, goroutines, fds, storeMiB, backlog float64
}

func readSoakSample(t *testing.T, e *rig.Edgemq, dir string) soakSample {
	t.Helper()
	s, err := trySoakSample(e, dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func trySoakSample(e *rig.Edgemq, dir string) (soakSample, error) {
	u, err := e.Usage()
	if err != nil {
		return soakSample{}, fmt.Errorf("reading edgemq's memory: %w", err)
	}
	fds, err := e.OpenFiles()
	if err != nil {
		return soakSample{}, fmt.Errorf("counting edgemq's open files: %w", err)
	}
	m, err := e.Metrics()
	if err != nil {
		return soakSample{}, fmt.Errorf("reading /metrics: %w", err)
	}
	store, err := rig.DiskUsage(filepath.Join(dir, "data"))
	if err != nil {
		return soakSample{}, fmt.Errorf("measuring the store: %w", err)
	}
	return soakSample{rssMiB: float64(u.RSS) / (1 << 20), anonMiB: float64(u.Anon) / (1 << 20),
		heapMiB: m["go_memstats_heap_alloc_bytes"] / (1 << 20), goroutines: m["go_goroutines"], fds: float64(fds),
		storeMiB: float64(store) / (1 << 20), backlog: m[`edgemq_bridge_backlog_messages{bridge="up"}`]}, nil
}

// soakColumns are the CSV's columns (the first is x, in minutes).
var soakColumns = []string{"minutes", "rss_mib", "rss_anon_mib", "heap_mib", "goroutines", "open_fds", "store_mib", "bridge_backlog", "acked"}

// soakSeries is what the sampler read, by column.
type soakSeries struct {
	x   []float64
	col map[string][]float64
}

// sampleSoak samples every plan.sample until plan.d has passed, appending
// each row to the CSV at path as it goes (a run that dies leaves its
// data). It returns early with an error if edgemq exits or cannot be read.
func sampleSoak(t *testing.T, plan soakPlan, e *rig.Edgemq, dir string, s *soakLoad, path string) (soakSeries, error) {
	series := soakSeries{col: map[string][]float64{}}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return series, err
	}
	f, err := os.Create(path)
	if err != nil {
		return series, err
	}
	defer f.Close()
	fmt.Fprintf(f, "%s\n", strings.Join(soakColumns, ","))
	start := time.Now()
	tick := time.NewTicker(plan.sample)
	defer tick.Stop()
	for {
		select {
		case <-e.Exited():
			return series, fmt.Errorf("edgemq exited during the soak:\n%s", e.LogTail(40))
		case <-tick.C:
		}
		r, err := trySoakSample(e, dir)
		if err != nil {
			return series, err
		}
		min := time.Since(start).Minutes()
		pa, sa := s.acked()
		row := []float64{min, r.rssMiB, r.anonMiB, r.heapMiB, r.goroutines, r.fds, r.storeMiB, r.backlog, float64(countAcked(pa) + countAcked(sa))}
		series.x = append(series.x, min)
		for i, k := range soakColumns[1:] {
			series.col[k] = append(series.col[k], row[i+1])
		}
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = strconv.FormatFloat(v, 'f', 2, 64)
		}
		fmt.Fprintln(f, strings.Join(cells, ","))
		if time.Since(start) >= plan.d {
			t.Logf("soak: %d samples in %s", len(series.x), path)
			return series, f.Sync()
		}
	}
}

func writeSoakPlot(path string, plan soakPlan, s soakSeries) error {
	charts := []rig.Chart{
		{Title: "RSS (MiB)", Y: s.col["rss_mib"]},
		{Title: "anonymous RSS: heap, stacks (MiB)", Y: s.col["rss_anon_mib"]},
		{Title: "Go heap objects (MiB; untouched arenas are not resident)", Y: s.col["heap_mib"]},
		{Title: "goroutines", Y: s.col["goroutines"]},
		{Title: "open files", Y: s.col["open_fds"]},
		{Title: "store (MiB)", Y: s.col["store_mib"]},
		{Title: "bridge backlog (messages)", Y: s.col["bridge_backlog"]},
	}
	for i := range charts {
		charts[i].X = s.x
		charts[i].Marks = []float64{plan.warm.Minutes()}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("edgemq soak %v (dashed: end of warm-up)", plan.d)
	if err := rig.WritePNG(f, title, "min", charts); err != nil {
		f.Close()
		return fmt.Errorf("plotting %s: %w", path, err)
	}
	return f.Close()
}

func countAcked(m map[string]*rig.SeqSet) uint64 {
	var n uint64
	for _, s := range m {
		n += s.Len()
	}
	return n
}

func slicesMax(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// soakErrors collects what went wrong in the load's goroutines.
type soakErrors struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (e *soakErrors) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.first) < 10 {
		e.first = append(e.first, fmt.Sprintf(format, args...))
	}
}

func (e *soakErrors) report(t *testing.T) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n > 0 {
		t.Errorf("%d errors in the load, the first: %q", e.n, e.first)
	}
}

// sleepCtx waits d or until ctx ends; it reports whether ctx is still on.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
