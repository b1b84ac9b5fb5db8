package faults

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// engines are the storage engines this binary has: badger only where it
// is built in (amd64, arm64), bolt everywhere.
func engines() []string {
	if runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" {
		return []string{"bolt", "badger"}
	}
	return []string{"bolt"}
}

// TestPowerCut starts the real edgemq, drives QoS 1 publishers, a
// persistent-session subscriber (online in some cycles, offline in others)
// and a bridge whose upstream is down, and kill -9s edgemq at random
// moments: 50 cycles per engine at full length, 3 in make test. Every
// restart must open the store without repair. At the end the upstream
// (mosquitto) comes up and the subscriber connects: every message
// acknowledged to a publisher must reach both, at least once; duplicates
// (QoS 1 allows them) are counted, and nothing that was never published
// may arrive.
func TestPowerCut(t *testing.T) {
	mosquitto, err := exec.LookPath("mosquitto")
	if err != nil {
		mosquitto = "/usr/sbin/mosquitto" // Debian puts it in sbin, often off a user's PATH
		if _, err := os.Stat(mosquitto); err != nil {
			t.Fatal("mosquitto (the upstream broker) is not installed: make deps installs it")
		}
	}
	bin := edgemqBinary(t)
	cycles := 3
	if Full() {
		cycles = 50
	}
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) {
			pc := &powerCut{t: t, bin: bin, mosquitto: mosquitto, engine: engine, cycles: cycles}
			var f Figures
			defer func() { Report(t, "power_cut_"+engine, f.List()...) }()
			pc.run(&f)
		})
	}
}

// powerCut is one run of the power-cut scenario.
type powerCut struct {
	t         *testing.T
	bin       string
	mosquitto string
	engine    string
	cycles    int

	addr     string // edgemq's MQTT listener
	upstream string // the bridge's upstream, down until the end

	ledger  ledger
	stop    chan struct{}
	wg      sync.WaitGroup
	subWant atomic.Bool // the subscriber should be connected in this cycle
}

// ledger is what the scenario knows about every message.
type ledger struct {
	mu     sync.Mutex
	sent   map[string]bool // payloads ever sent
	acked  map[string]bool // payloads acknowledged with PUBACK
	sub    map[string]int  // deliveries to the persistent subscriber
	up     map[string]int  // deliveries to the upstream subscriber
	strays []string        // payloads delivered that were never sent
}

func (l *ledger) init() {
	l.sent, l.acked, l.sub, l.up = map[string]bool{}, map[string]bool{}, map[string]int{}, map[string]int{}
}

func (l *ledger) deliver(to map[string]int, payload string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.sent[payload] && len(l.strays) < 10 {
		l.strays = append(l.strays, payload)
	}
	to[payload]++
}

// tally counts, for the deliveries in to: acknowledged messages delivered,
// acknowledged ones missing, and extra deliveries (duplicates).
func (l *ledger) tally(to map[string]int) (delivered, lost, dups int, missing []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range l.acked {
		if to[p] > 0 {
			delivered++
		} else {
			lost++
			if len(missing) < 5 {
				missing = append(missing, p)
			}
		}
	}
	for _, n := range to {
		dups += n - 1
	}
	return delivered, lost, dups, missing
}

// most returns the most times one message was delivered.
func (l *ledger) most(to map[string]int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := 0
	for _, n := range to {
		m = max(m, n)
	}
	return m
}

func (pc *powerCut) run(f *Figures) {
	t := pc.t
	dir := t.TempDir()
	pc.addr = loopbackAddr(t)
	pc.upstream = loopbackAddr(t)
	pc.ledger.init()
	pc.stop = make(chan struct{})
	cfg := writeConfig(t, dir, fmt.Sprintf(`
data_dir: %s/data
storage: {engine: %s, sync: batch}
listeners:
  - {name: mqtt, type: tcp, address: "%s"}
auth: {allow_anonymous: true}
# The subscriber's queue must hold everything published while it is
# offline: the queue bound (drop on overflow) is not what is tested here.
limits: {max_queued_messages: 1000000, max_queued_bytes: 512MiB, max_total_queued_bytes: 1GiB}
bridges:
  - name: up
    address: tcp://%s
    client_id: gw-powercut
    clean_session: false
    topics:
      - {pattern: "pc/#", direction: out, qos: 1, remote_prefix: "site/"}
    backoff: {min: 100ms, max: 500ms}
sys_interval: 0s
log: {level: info}
`, dir, pc.engine, pc.addr, pc.upstream))

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d", seed)
	f.Set("engine", pc.engine)
	f.Set("cycles", 0)

	// First start: the subscriber makes its persistent session.
	p := startBroker(t, pc.bin, cfg, procOpts{}, "mqtt")
	sub, _, err := dialMQTT(pc.addr, packet.Connect{ClientID: []byte("pc-sub"), KeepAlive: 60})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := sub.subscribe("pc/#", 1); err != nil || code != 1 {
		t.Fatalf("subscribe: %v %v", code, err)
	}
	sub.close()
	p.kill9()

	const publishers = 3
	for i := range publishers {
		pc.wg.Add(1)
		go pc.publisher(i)
	}
	pc.wg.Add(1)
	go pc.subscriber()

	var restarts []time.Duration
	var corrupt int
	maxUp := 800 * time.Millisecond
	if Full() {
		maxUp = 1500 * time.Millisecond
	}
	for cycle := 1; cycle <= pc.cycles; cycle++ {
		pc.subWant.Store(rng.IntN(2) == 0)
		start := time.Now()
		p := startBroker(t, pc.bin, cfg, procOpts{}, "mqtt")
		restarts = append(restarts, time.Since(start))
		up := time.Duration(50+rng.IntN(int(maxUp/time.Millisecond-50))) * time.Millisecond
		time.Sleep(up)
		if !p.alive() {
			t.Fatalf("cycle %d: edgemq died on its own:\n%s", cycle, tail(p.logText(), 30))
		}
		p.kill9()
		corrupt += strings.Count(p.logText(), "corrupt stored record")
		f.Set("cycles", cycle)
	}

	// The end: publishers stop, the upstream comes up, edgemq starts once
	// more and must deliver everything acknowledged.
	close(pc.stop)
	pc.wg.Wait()
	pc.ledger.mu.Lock()
	acked, sent := len(pc.ledger.acked), len(pc.ledger.sent)
	pc.ledger.mu.Unlock()
	f.Set("sent", sent)
	f.Set("acked", acked)
	if acked == 0 {
		t.Fatal("no message was acknowledged in any cycle")
	}

	stopUp := pc.startUpstream(dir)
	defer stopUp()
	upCl, _, err := dialMQTT(pc.upstream, packet.Connect{ClientID: []byte("pc-upstream"), CleanStart: true, KeepAlive: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer upCl.close()
	if _, err := upCl.subscribe("site/pc/#", 1); err != nil {
		t.Fatal(err)
	}
	upDone := make(chan error, 1)
	go func() {
		upDone <- upCl.receive(time.Hour, func(m *packet.Publish) {
			pc.ledger.deliver(pc.ledger.up, string(m.Payload))
		})
	}()

	start := time.Now()
	p = startBroker(t, pc.bin, cfg, procOpts{}, "mqtt")
	restarts = append(restarts, time.Since(start))
	corrupt += strings.Count(p.logText(), "corrupt stored record")
	subCl, _, err := dialMQTT(pc.addr, packet.Connect{ClientID: []byte("pc-sub"), KeepAlive: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer subCl.close()
	subDone := make(chan error, 1)
	go func() {
		subDone <- subCl.receive(time.Hour, func(m *packet.Publish) {
			pc.ledger.deliver(pc.ledger.sub, string(m.Payload))
		})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, subLost, _, _ := pc.ledger.tally(pc.ledger.sub)
		_, upLost, _, _ := pc.ledger.tally(pc.ledger.up)
		if subLost == 0 && upLost == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.Set("drain", time.Since(start))
	// Leave time for late duplicates to show up in the counts.
	time.Sleep(500 * time.Millisecond)
	subCl.close()
	upCl.close()
	<-subDone
	<-upDone
	if st := p.stop(); !st.Success() {
		t.Errorf("edgemq did not stop cleanly: %v", st)
	}

	subGot, subLost, subDups, subMissing := pc.ledger.tally(pc.ledger.sub)
	upGot, upLost, upDups, upMissing := pc.ledger.tally(pc.ledger.up)
	f.Set("sub_delivered", subGot)
	f.Set("sub_lost", subLost)
	f.Set("sub_dups", subDups)
	f.Set("up_delivered", upGot)
	f.Set("up_lost", upLost)
	f.Set("up_dups", upDups)
	f.Set("corrupt_records", corrupt)
	slices.Sort(restarts)
	f.Set("restart_median", restarts[len(restarts)/2])
	f.Set("restart_max", restarts[len(restarts)-1])
	if subLost > 0 {
		t.Errorf("%d of %d acknowledged messages never reached the persistent subscriber, e.g. %v", subLost, acked, subMissing)
	}
	if upLost > 0 {
		t.Errorf("%d of %d acknowledged messages never reached the upstream, e.g. %v", upLost, acked, upMissing)
	}
	if len(pc.ledger.strays) > 0 {
		t.Errorf("delivered messages that were never published: %q", pc.ledger.strays)
	}
	if corrupt > 0 {
		t.Errorf("edgemq found %d corrupt records after kill -9", corrupt)
	}
	// QoS 1 allows a resend after each crash of a delivery whose PUBACK
	// was not stored yet, not more: a message delivered more often than
	// there were crashes, or duplicates beyond one per message, would be
	// replays of acknowledged deliveries.
	subMost, upMost := pc.ledger.most(pc.ledger.sub), pc.ledger.most(pc.ledger.up)
	f.Set("sub_max_deliveries", subMost)
	if subMost > pc.cycles+1 || upMost > pc.cycles+1 || subDups > acked || upDups > acked {
		t.Errorf("duplicates beyond QoS 1's resends: %d to the subscriber (one message %d times), %d upstream (%d times), for %d messages and %d crashes",
			subDups, subMost, upDups, upMost, acked, pc.cycles)
	}
}

// publisher publishes QoS 1 messages "<id>:<seq>" on pc/<id> with a window
// of 10, reconnecting after every crash, until stop. A message counts as
// acknowledged once its PUBACK (success) arrives; messages in flight when
// the broker dies are not resent (a fresh clean session each time).
func (pc *powerCut) publisher(id int) {
	defer pc.wg.Done()
	topic := []byte("pc/" + strconv.Itoa(id))
	seq := 0
	for !pc.stopped() {
		cl, _, err := dialMQTT(pc.addr, packet.Connect{ClientID: []byte("pc-pub-" + strconv.Itoa(id)), CleanStart: true, KeepAlive: 30})
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		inflight := map[uint16]string{}
		var pid uint16
		var buf []byte
		for !pc.stopped() {
			buf = buf[:0]
			for len(inflight) < 10 {
				seq++
				pid = pid%65535 + 1
				payload := strconv.Itoa(id) + ":" + strconv.Itoa(seq)
				m := packet.Publish{Topic: topic, QoS: 1, PacketID: pid, Payload: []byte(payload)}
				buf = m.Append(buf, packet.V311)
				inflight[pid] = payload
				pc.ledger.mu.Lock()
				pc.ledger.sent[payload] = true
				pc.ledger.mu.Unlock()
			}
			if err := cl.send(buf); err != nil {
				break
			}
			h, body, err := cl.next(5 * time.Second)
			if err != nil {
				break
			}
			var a packet.Ack
			if h.Type != packet.PUBACK || a.Decode(h, body, packet.V311) != nil {
				pc.t.Errorf("publisher %d: got %v, want PUBACK", id, h.Type)
				break
			}
			if payload, ok := inflight[a.PacketID]; ok {
				delete(inflight, a.PacketID)
				pc.ledger.mu.Lock()
				pc.ledger.acked[payload] = true
				pc.ledger.mu.Unlock()
			}
			time.Sleep(time.Millisecond) // a gateway's sensors, not a benchmark
		}
		cl.close()
	}
}

// subscriber keeps the persistent session "pc-sub" connected while
// subWant is set, acknowledging everything it receives.
func (pc *powerCut) subscriber() {
	defer pc.wg.Done()
	for !pc.stopped() {
		if !pc.subWant.Load() {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		cl, _, err := dialMQTT(pc.addr, packet.Connect{ClientID: []byte("pc-sub"), KeepAlive: 60})
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-pc.stop:
			case <-done:
			}
			cl.close()
		}()
		cl.receive(time.Hour, func(m *packet.Publish) {
			pc.ledger.deliver(pc.ledger.sub, string(m.Payload))
		})
		close(done)
	}
}

func (pc *powerCut) stopped() bool {
	select {
	case <-pc.stop:
		return true
	default:
		return false
	}
}

// startUpstream runs mosquitto on pc.upstream with no queue limit (its
// default of 1000 queued messages per client would drop the drain).
func (pc *powerCut) startUpstream(dir string) func() {
	t := pc.t
	_, port, _ := strings.Cut(pc.upstream, ":")
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pc.mosquitto, "-c", conf)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _, err := dialMQTT(pc.upstream, packet.Connect{ClientID: []byte("probe"), CleanStart: true})
		if err == nil {
			c.close()
			return stop
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("mosquitto did not start: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
