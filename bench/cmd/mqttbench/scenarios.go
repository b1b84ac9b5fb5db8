package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgemq/edgemq/bench/load"
	"github.com/edgemq/edgemq/bench/proc"
)

// sampleEvery is the period of the broker memory sampler.
const sampleEvery = 50 * time.Millisecond

// scenario is one figure of DESIGN.md section 5, run against each broker.
type scenario struct {
	name    string
	title   func(o *options) string
	columns []column
	run     func(ctx context.Context, o *options, b *broker) (values, error)
	judge   func(o *options, em, mq values) []verdict
	fresh   bool // run on brokers started anew
}

// values are one broker's numbers in one scenario, by column key.
type values map[string]float64

// broker is a running broker and what was measured on it before any load.
type broker struct {
	*proc.Process
	idle   proc.Usage
	noFile string
	perf   *perfRecorder // nil unless -perf, edgemq only
	peers  []*broker     // the other brokers of the run, pinned to the same core
}

func scenarios() []scenario {
	return []scenario{
		{
			name:    "idle-rss",
			title:   func(o *options) string { return "idle RSS 1 s after start, no client connected" },
			columns: []column{colRSS, colAnon},
			run: func(_ context.Context, _ *options, b *broker) (values, error) {
				return values{"rss_mib": mib(b.idle.RSS), "anon_mib": mib(b.idle.Anon)}, nil
			},
			judge: func(_ *options, em, _ values) []verdict {
				return []verdict{
					atMostAbs("idle RSS, persistence on", "rss_mib", em, 12, "MiB"),
					atMostAbs("idle anonymous RSS", "anon_mib", em, 8, "MiB"),
				}
			},
		},
		{
			name: "qos0-fanin",
			title: func(o *options) string {
				return fmt.Sprintf("QoS 0 fan-in, closed loop: %d publishers -> 1 subscriber on bench/qos0-fanin/#, window %d (%d per publisher), batch %d, payload %d B",
					o.publishers, o.window, o.window/o.publishers, o.batch, o.payload) + o.sessions()
			},
			columns: flowColumns,
			run: func(ctx context.Context, o *options, b *broker) (values, error) {
				return runFlow(ctx, o, b, o.flow("qos0-fanin", o.publishers, 1, 0))
			},
			judge: func(_ *options, em, mq values) []verdict {
				return []verdict{ratioAtLeast("QoS 0 fan-in msg/s", "msg_s", em, mq, 1.5, true)}
			},
		},
		{
			name: "qos1-fanin",
			title: func(o *options) string {
				return fmt.Sprintf("QoS 1 fan-in, closed loop: %d publishers -> 1 QoS 1 subscriber on bench/qos1-fanin/#, window %d, inflight %d per publisher, payload %d B",
					o.publishers, o.window, o.inflight, o.payload) + o.sessions()
			},
			columns: flowColumns,
			run: func(ctx context.Context, o *options, b *broker) (values, error) {
				return runFlow(ctx, o, b, o.flow("qos1-fanin", o.publishers, 1, 1))
			},
			judge: func(_ *options, em, mq values) []verdict {
				return []verdict{ratioAtLeast("QoS 1 fan-in msg/s", "msg_s", em, mq, 1.2, true)}
			},
		},
		{
			name: "fanout",
			title: func(o *options) string {
				return fmt.Sprintf("QoS 0 fan-out, closed loop: 1 publisher -> %d subscribers on bench/fanout/0, window %d, payload %d B (msg/s counts deliveries)",
					o.fanoutSubs, o.window, o.payload) + o.sessions()
			},
			columns: flowColumns,
			run: func(ctx context.Context, o *options, b *broker) (values, error) {
				f := o.flow("fanout", 1, o.fanoutSubs, 0)
				f.Filter = "bench/fanout/0"
				return runFlow(ctx, o, b, f)
			},
			judge: func(_ *options, em, mq values) []verdict {
				return []verdict{ratioAtLeast("fan-out 1 -> N deliveries/s", "msg_s", em, mq, 1.2, false)}
			},
		},
		{
			name: "latency",
			title: func(o *options) string {
				return fmt.Sprintf("latency at %.0f msg/s QoS 1: 1 publisher -> 1 QoS 1 subscriber, one message per write, payload %d B, send-to-receive on the load process's monotonic clock",
					o.latencyRate, o.payload) + o.sessions()
			},
			columns: latencyColumns,
			run: func(ctx context.Context, o *options, b *broker) (values, error) {
				f := o.flow("latency", 1, 1, 1)
				f.Rate = o.latencyRate
				return runFlow(ctx, o, b, f)
			},
			judge: func(_ *options, em, mq values) []verdict {
				return []verdict{atMostOther("p99 latency at 1k msg/s QoS 1", "p99_ms", em, mq)}
			},
		},
		{
			name: "connrate",
			title: func(o *options) string {
				return fmt.Sprintf("connection rate: dial, CONNECT, CONNACK, DISCONNECT, broker closes; 1 dialer for %v, then %d dialers for %v",
					o.duration/2, o.dialers, o.duration/2)
			},
			columns: connRateColumns,
			run:     runConnRate,
			judge: func(o *options, em, mq values) []verdict {
				return []verdict{
					ratioAtLeast("connection rate, 1 dialer", "seq_conn_s", em, mq, 1, false),
					ratioAtLeast(fmt.Sprintf("connection rate, %d dialers", o.dialers), "par_conn_s", em, mq, 1, false),
				}
			},
		},
		{
			name: "idle-conns",
			title: func(o *options) string {
				return fmt.Sprintf("memory per idle connection: %d connections (CONNECT, keep-alive 0, no subscription), RSS delta / connections after 1 s, on brokers started anew",
					o.conns)
			},
			columns: idleConnColumns,
			run:     runIdleConns,
			fresh:   true,
			judge: func(_ *options, em, _ values) []verdict {
				return []verdict{
					atMostAbs("memory per idle connection", "kib_per_conn", em, 8, "KiB"),
					atMostAbs("memory per idle connection (stretch)", "kib_per_conn", em, 4, "KiB"),
				}
			},
		},
	}
}

// sessions says when subscribers keep persistent sessions: then edgemq
// persists what it queues for them (and, with sync batch or always, commits
// a QoS 1 message before acknowledging it).
func (o *options) sessions() string {
	if o.persistentSubs {
		return "; subscribers with persistent sessions (clean session false)"
	}
	return ""
}

// flow returns the Flow of a throughput scenario with the options' window,
// batch and payload.
func (o *options) flow(name string, pubs, subs int, qos byte) load.Flow {
	warm := min(o.duration/5, time.Second)
	return load.Flow{
		Name:                  name,
		Publishers:            pubs,
		Subscribers:           subs,
		Topic:                 "bench/" + name,
		Filter:                "bench/" + name + "/#",
		QoS:                   qos,
		Window:                o.window,
		Inflight:              o.inflight,
		Batch:                 o.batch,
		PayloadSize:           o.payload,
		PersistentSubscribers: o.persistentSubs,
		Duration:              o.duration,
		Warmup:                warm,
		Drain:                 5 * time.Second,
	}
}

// runFlow runs f against b, sampling the broker's CPU over the same
// measured interval as the flow's counters and its memory throughout.
func runFlow(ctx context.Context, o *options, b *broker, f load.Flow) (values, error) {
	f.Addr = b.Addr
	var (
		u0, u1 proc.Usage
		c0, c1 map[int]proc.CPUTimes
		p0, p1 time.Duration // the peers' CPU
		uerr   error
		perfOn bool
	)
	f.OnMeasure = func(start bool) {
		u, err := b.Usage()
		c, cerr := proc.ReadCPUTimes()
		var peers time.Duration
		for _, p := range b.peers {
			if pu, err := p.Usage(); err == nil {
				peers += pu.CPU
			}
		}
		uerr = errors.Join(uerr, err, cerr)
		if start {
			u0, c0, p0 = u, c, peers
			if b.perf != nil {
				perfOn = b.perf.start(f.Name) == nil
			}
			return
		}
		u1, c1, p1 = u, c, peers
		if perfOn {
			b.perf.stop()
		}
	}
	s := proc.StartSampler(b.Pid, sampleEvery)
	res, err := f.Run(ctx)
	peakRSS, peakAnon, _, serr := s.Stop()
	if err != nil {
		return nil, err
	}
	if err := errors.Join(uerr, serr); err != nil {
		return nil, err
	}
	secs := res.Measured.Seconds()
	brokerCPU := (u1.CPU - u0.CPU).Seconds()
	v := values{
		"msg_s":         res.DeliveryRate(),
		"sent":          float64(res.Sent),
		"received":      float64(res.Received),
		"lost":          float64(res.Lost()),
		"loss_pct":      100 * float64(res.Lost()) / float64(max(res.Expected, 1)),
		"stalls":        float64(res.Stalls),
		"reordered":     float64(res.Reordered),
		"p50_ms":        ms(res.Latency.Quantile(0.50)),
		"p99_ms":        ms(res.Latency.Quantile(0.99)),
		"p999_ms":       ms(res.Latency.Quantile(0.999)),
		"max_ms":        ms(res.Latency.Max()),
		"peak_rss_mib":  mib(peakRSS),
		"peak_anon_mib": mib(peakAnon),
		"broker_cpu":    100 * brokerCPU / secs,
		"broker_us_msg": 1e6 * brokerCPU / float64(max(res.MeasuredReceived, 1)),
		"load_cpu":      100 * res.LoadCPU.Seconds() / secs,
		"measured_s":    secs,
	}
	if f.QoS > 0 {
		v["acked"] = float64(res.Acked)
	}
	// What else ran on the two cores: the other broker, other processes.
	v["peer_broker_cpu"] = 100 * (p1 - p0).Seconds() / secs
	if o.brokerCPU >= 0 {
		v["broker_core_other"] = max(0, proc.BusyPercent(c0, c1, o.brokerCPU)-v["broker_cpu"])
	}
	if o.loadCPU >= 0 {
		v["load_core_other"] = max(0, proc.BusyPercent(c0, c1, o.loadCPU)-v["load_cpu"])
	}
	return v, nil
}

// runConnRate measures sequential, then parallel connection cycles.
func runConnRate(ctx context.Context, o *options, b *broker) (values, error) {
	s := proc.StartSampler(b.Pid, sampleEvery)
	v := values{}
	for _, run := range []struct {
		key     string
		dialers int
	}{{"seq", 1}, {"par", o.dialers}} {
		u0, err := b.Usage()
		if err != nil {
			s.Stop()
			return nil, err
		}
		r, err := load.ConnRate{Addr: b.Addr, Name: "connrate-" + run.key, Dialers: run.dialers, Duration: o.duration / 2}.Run(ctx)
		if err != nil {
			s.Stop()
			return nil, err
		}
		u1, err := b.Usage()
		if err != nil {
			s.Stop()
			return nil, err
		}
		secs := r.Elapsed.Seconds()
		v[run.key+"_conn_s"] = r.Rate()
		v[run.key+"_p50_ms"] = ms(r.Handshake.Quantile(0.5))
		v[run.key+"_p99_ms"] = ms(r.Handshake.Quantile(0.99))
		v[run.key+"_broker_cpu"] = 100 * (u1.CPU - u0.CPU).Seconds() / secs
		v[run.key+"_load_cpu"] = 100 * r.LoadCPU.Seconds() / secs
	}
	peakRSS, peakAnon, _, err := s.Stop()
	v["peak_rss_mib"], v["peak_anon_mib"] = mib(peakRSS), mib(peakAnon)
	return v, err
}

// idleSettle is how long the broker is left alone with its idle
// connections before its RSS is read.
const idleSettle = time.Second

// runIdleConns opens o.conns idle connections and reads the broker's RSS
// before and after.
func runIdleConns(ctx context.Context, o *options, b *broker) (values, error) {
	u0, err := b.Usage()
	if err != nil {
		return nil, err
	}
	r, err := load.IdleConns{Addr: b.Addr, Name: "idle", N: o.conns, Dialers: o.dialers}.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	time.Sleep(idleSettle)
	u1, err := b.Usage()
	if err != nil {
		return nil, err
	}
	n := float64(r.Opened)
	return values{
		"conns":             n,
		"open_conn_s":       n / r.Elapsed.Seconds(),
		"rss_before_mib":    mib(u0.RSS),
		"rss_after_mib":     mib(u1.RSS),
		"kib_per_conn":      float64(u1.RSS-u0.RSS) / 1024 / n,
		"anon_kib_per_conn": float64(u1.Anon-u0.Anon) / 1024 / n,
	}, nil
}

func mib(b int64) float64        { return float64(b) / (1 << 20) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
