// Command mqttbench benchmarks edgemq and mosquitto side by side in one run,
// on the figures of DESIGN.md section 5: it starts both brokers (each pinned
// to one CPU), drives them with its own load generator (pinned to another
// CPU), and prints msg/s, loss, latency, broker RSS and CPU, its own CPU,
// the ratio edgemq/mosquitto and each target's PASS/MISS. See
// bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgemq/edgemq/bench/load"
	"github.com/edgemq/edgemq/bench/proc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mqttbench:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	edgemq, mosquitto string
	brokers           []string
	scenarios         []string
	duration          time.Duration
	storage, engine   string
	mqPersistence     bool
	mqMaxQueued       int
	window, inflight  int
	batch, payload    int
	publishers        int
	fanoutSubs        int
	latencyRate       float64
	dialers, conns    int
	brokerCPU         int
	loadCPU           int
	jsonPath          string
	perfDir           string
	persistentSubs    bool
}

func parseFlags(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("mqttbench", flag.ContinueOnError)
	fs.SetOutput(out)
	var brokers, scens string
	names := make([]string, 0, 8)
	for _, sc := range scenarios() {
		names = append(names, sc.name)
	}
	fs.StringVar(&o.edgemq, "edgemq", "bin/edgemq", "edgemq binary")
	fs.StringVar(&o.mosquitto, "mosquitto", "/usr/sbin/mosquitto", "mosquitto binary")
	fs.StringVar(&brokers, "brokers", "edgemq,mosquitto", "brokers to run, comma-separated")
	fs.StringVar(&scens, "scenarios", "all", "scenarios to run, comma-separated: all or "+strings.Join(names, ","))
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "time each scenario publishes (or dials) per broker; 1s for a smoke run")
	fs.StringVar(&o.storage, "storage", "batch", "edgemq storage.sync: always, batch, none, or memory (no data_dir)")
	fs.StringVar(&o.engine, "engine", "auto", "edgemq storage.engine: auto, badger, bolt")
	fs.BoolVar(&o.mqPersistence, "mosquitto-persistence", false, "turn mosquitto persistence on")
	fs.IntVar(&o.mqMaxQueued, "mosquitto-max-queued", 0, "mosquitto max_queued_messages (0: its default, 1000)")
	fs.IntVar(&o.window, "window", 1000, "closed loop: messages all publishers together may be ahead of the slowest subscriber")
	fs.IntVar(&o.inflight, "inflight", 100, "QoS 1: unacknowledged messages per publisher")
	fs.IntVar(&o.batch, "batch", 64, "most PUBLISH packets encoded into one write")
	fs.IntVar(&o.payload, "payload", 32, "payload bytes (at least "+strconv.Itoa(load.MinPayload)+")")
	fs.IntVar(&o.publishers, "publishers", 8, "publishers in the fan-in scenarios")
	fs.IntVar(&o.fanoutSubs, "fanout-subs", 50, "subscribers in the fan-out scenario")
	fs.Float64Var(&o.latencyRate, "latency-rate", 1000, "messages per second in the latency scenario")
	fs.IntVar(&o.dialers, "dialers", 4, "parallel dialers (connection rate, idle connections)")
	fs.IntVar(&o.conns, "conns", 10000, "idle connections for memory per connection")
	fs.IntVar(&o.brokerCPU, "broker-cpu", 0, "CPU the brokers are pinned to; -1: not pinned")
	fs.IntVar(&o.loadCPU, "load-cpu", 1, "CPU the load generator is pinned to; -1: not pinned")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.perfDir, "perf", "", "record edgemq with perf during each flow scenario into this directory and print its top 15 functions (needs an unstripped binary)")
	fs.BoolVar(&o.persistentSubs, "persistent-subs", false, "subscribers use persistent sessions (clean session false)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.brokers = splitList(brokers)
	for _, b := range o.brokers {
		if b != "edgemq" && b != "mosquitto" {
			return nil, fmt.Errorf("-brokers: unknown broker %q (edgemq, mosquitto)", b)
		}
	}
	if scens == "all" {
		o.scenarios = names
	} else {
		o.scenarios = splitList(scens)
		for _, s := range o.scenarios {
			if !slices.Contains(names, s) {
				return nil, fmt.Errorf("-scenarios: unknown scenario %q (all, %s)", s, strings.Join(names, ", "))
			}
		}
	}
	switch {
	case len(o.brokers) == 0:
		return nil, errors.New("-brokers: none given")
	case o.duration < 500*time.Millisecond:
		return nil, fmt.Errorf("-duration %v: at least 500ms", o.duration)
	case o.payload < load.MinPayload:
		return nil, fmt.Errorf("-payload %d: at least %d", o.payload, load.MinPayload)
	case o.publishers < 1 || o.fanoutSubs < 1 || o.dialers < 1 || o.conns < 1:
		return nil, errors.New("-publishers, -fanout-subs, -dialers and -conns must be at least 1")
	case o.window < o.publishers:
		return nil, fmt.Errorf("-window %d: at least one message per publisher (%d)", o.window, o.publishers)
	case o.inflight < 1 || o.batch < 1 || o.latencyRate <= 0:
		return nil, errors.New("-inflight, -batch and -latency-rate must be positive")
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// run is the whole benchmark; main only adds signals and the exit code.
func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	rep := &report{
		Started:      time.Now().UTC().Format(time.RFC3339),
		LoadAvgStart: loadAvg(),
		Host: map[string]string{
			"cpus": strconv.Itoa(runtime.NumCPU()), "cpu": cpuModel(), "kernel": kernel(),
			"go": runtime.Version(), "arch": runtime.GOARCH,
		},
		Load: map[string]string{},
	}
	warn := func(s string) {
		rep.Warnings = append(rep.Warnings, s)
		fmt.Fprintln(out, "WARNING:", s)
	}

	if runtime.NumCPU() < 2 && (o.brokerCPU >= 0 || o.loadCPU >= 0) {
		warn("fewer than 2 CPUs: nothing is pinned, broker and load generator share the CPU")
		o.brokerCPU, o.loadCPU = -1, -1
	}
	if o.loadCPU >= 0 {
		if err := pinSelf(o.loadCPU); err != nil {
			return err
		}
		rep.Load["pinned"] = "CPU " + strconv.Itoa(o.loadCPU) + " (sched_setaffinity on every thread), GOMAXPROCS 1"
	} else {
		rep.Load["pinned"] = "no"
	}
	noFile, err := raiseNoFile(uint64(o.conns + 1024))
	if err != nil {
		warn("raising RLIMIT_NOFILE: " + err.Error())
	}
	rep.Load["max_open_files"] = strconv.FormatUint(noFile, 10)
	rep.Load["window"] = strconv.Itoa(o.window)
	rep.Load["inflight"] = strconv.Itoa(o.inflight)
	rep.Load["batch"] = strconv.Itoa(o.batch)
	rep.Load["payload"] = strconv.Itoa(o.payload)
	rep.Load["duration"] = o.duration.String()

	tmp, err := os.MkdirTemp("", "mqttbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	st := &starter{o: o, tmp: tmp, warn: warn}
	brokers, err := st.startAll(ctx)
	defer func() {
		for _, b := range brokers {
			if err := b.Stop(); err != nil {
				warn("stopping " + b.Name + ": " + err.Error())
			}
		}
	}()
	if err != nil {
		return err
	}
	for _, b := range brokers {
		rep.Brokers = append(rep.Brokers, brokerInfo{Name: b.Name, Version: b.Version, Setup: b.Setup,
			Config: b.Config, Addr: b.Addr, NoFile: b.noFile})
	}

	fmt.Fprintf(out, "mqttbench: %s, %s CPUs (%s), kernel %s, %s; load average %s\n",
		rep.Started, rep.Host["cpus"], rep.Host["cpu"], rep.Host["kernel"], rep.Host["go"], rep.LoadAvgStart)
	fmt.Fprintf(out, "load generator: pinned %s, RLIMIT_NOFILE %d, window %d, inflight %d, batch %d, payload %d B, %v per scenario and broker\n",
		rep.Load["pinned"], noFile, o.window, o.inflight, o.batch, o.payload, o.duration)
	for _, b := range rep.Brokers {
		fmt.Fprintf(out, "%s (%s) on %s: %s; max open files %s\n", b.Name, b.Version, b.Addr, b.Setup, b.NoFile)
	}

	for _, sc := range scenarios() {
		if ctx.Err() != nil {
			break
		}
		if !slices.Contains(o.scenarios, sc.name) {
			continue
		}
		if sc.fresh {
			// Stop and start the brokers again, so that memory left by
			// earlier scenarios (heap kept by malloc or the Go runtime) does
			// not hide or inflate what this one measures.
			for _, b := range brokers {
				if err := b.Stop(); err != nil {
					warn("stopping " + b.Name + ": " + err.Error())
				}
			}
			brokers, err = st.startAll(ctx)
			if err != nil {
				return err
			}
		}
		sr := scenarioReport{Name: sc.name, Title: sc.title(o)}
		var em, mq values
		for _, b := range brokers {
			v, err := sc.run(ctx, o, b)
			r := brokerResult{Broker: b.Name, Values: v}
			if err != nil {
				r.Error = err.Error()
			} else if b.Name == "edgemq" {
				em = v
			} else {
				mq = v
			}
			sr.Results = append(sr.Results, r)
			time.Sleep(200 * time.Millisecond) // let the broker settle before the next one starts
		}
		if em != nil {
			sr.Verdicts = sc.judge(o, em, mq)
		}
		sr.Notes = loadNotes(&sr)
		for _, b := range brokers {
			if b.perf != nil {
				top, err := b.perf.top(sc.name, 15)
				if err != nil {
					warn(err.Error())
				}
				sr.Profile = top
			}
		}
		printScenario(out, &sc, &sr)
		if len(sr.Profile) > 0 {
			fmt.Fprintf(out, "   edgemq CPU profile (perf, self time), top %d:\n", len(sr.Profile))
			for _, l := range sr.Profile {
				fmt.Fprintln(out, "     "+l)
			}
		}
		rep.Scenarios = append(rep.Scenarios, sr)
	}
	rep.LoadAvgEnd = loadAvg()
	printSummary(out, rep)
	for _, b := range brokers {
		if b.Exited() {
			warn(b.Name + " exited during the run; its log:\n" + b.LogTail(20))
		}
	}
	if o.jsonPath != "" {
		if err := rep.writeJSON(o.jsonPath); err != nil {
			return err
		}
		fmt.Fprintln(out, "results written to", o.jsonPath)
	}
	return ctx.Err()
}

// starter starts the brokers of a run.
type starter struct {
	o    *options
	tmp  string
	warn func(string)
}

// startAll starts the brokers of o.brokers and reads their idle usage a
// second after start. It returns those it started even on error, for the
// caller to stop.
func (st *starter) startAll(ctx context.Context) ([]*broker, error) {
	var brokers []*broker
	for _, name := range st.o.brokers {
		b, err := st.start(ctx, name)
		if err != nil {
			return brokers, err
		}
		brokers = append(brokers, b)
	}
	for _, b := range brokers {
		for _, p := range brokers {
			if p != b {
				b.peers = append(b.peers, p)
			}
		}
	}
	time.Sleep(time.Second) // idle RSS: after start-up work has settled
	for _, b := range brokers {
		u, err := b.Usage()
		if err != nil {
			return brokers, err
		}
		b.idle = u
	}
	return brokers, nil
}

func (st *starter) start(ctx context.Context, name string) (*broker, error) {
	o := st.o
	dir, err := os.MkdirTemp(st.tmp, name+"-")
	if err != nil {
		return nil, err
	}
	var p *proc.Process
	switch name {
	case "edgemq":
		p, err = proc.StartEdgemq(ctx, proc.Edgemq{Bin: o.edgemq, Dir: dir, CPU: o.brokerCPU,
			Storage: o.storage, Engine: o.engine, MaxConnections: o.conns + 1000})
	case "mosquitto":
		p, err = proc.StartMosquitto(ctx, proc.Mosquitto{Bin: o.mosquitto, Dir: dir, CPU: o.brokerCPU,
			Persistence: o.mqPersistence, MaxQueued: o.mqMaxQueued})
	}
	if err != nil {
		return nil, err
	}
	b := &broker{Process: p}
	if b.noFile, err = proc.OpenFilesLimit(p.Pid); err != nil {
		st.warn(err.Error())
	} else if n, err := strconv.Atoi(b.noFile); err == nil && n < o.conns+100 {
		st.warn(fmt.Sprintf("%s may open only %d files, fewer than the %d idle connections", name, n, o.conns))
	}
	if name == "edgemq" && o.perfDir != "" {
		pr, warns, err := newPerfRecorder(o.perfDir, o.edgemq, p.Pid)
		if err != nil {
			b.Stop()
			return nil, err
		}
		for _, w := range warns {
			st.warn(w)
		}
		b.perf = pr
	}
	return b, nil
}
