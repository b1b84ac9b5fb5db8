package faults

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// TestFlashFull fills edgemq's flash in two ways, on each engine, with
// the data dir on a small tmpfs made by the test:
//
//  1. the store reaches storage.max_disk_bytes, well before the
//     filesystem is full;
//  2. something else fills the filesystem (a ballast file) until less
//     than the store's reserve is free, and then edgemq's own writes fill
//     it further.
//
// Each time: QoS 1 publishes that must be stored are refused (MQTT 5:
// PUBACK 0x97 quota exceeded; 3.1.1: no PUBACK, the connection closes
// after a logged error), QoS 0 keeps flowing to connected subscribers,
// /readyz and $SYS/broker/storage/status say why, edgemq never meets
// ENOSPC (badger would die of SIGBUS through its mmaps), and once space
// returns (the subscriber drains its queue, the ballast goes) publishes
// are accepted again without a restart. At the end every acknowledged
// message is read back intact, also after a restart.
func TestFlashFull(t *testing.T) {
	bin := edgemqBinary(t)
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) {
			var f Figures
			defer func() { Report(t, "flash_full_"+engine, f.List()...) }()
			fr := &flashRun{t: t, bin: bin, engine: engine, f: &f}
			fr.run()
		})
	}
}

// flashRun is one engine's run of the flash scenario.
type flashRun struct {
	t      *testing.T
	bin    string
	engine string
	f      *Figures

	dir    string // the tmpfs mount
	cgroup string // the memory cgroup edgemq runs in, if any
	mqtt   string // edgemq's MQTT address
	http   string
	p      *brokerProc

	// acked holds the payloads acknowledged with success and not read
	// back yet; refused those answered 0x97.
	acked, refused map[string]bool
	seq            int
	ackedTotal     int
	// phantoms counts refused messages delivered all the same: possible
	// only for the publishes in flight when the store becomes full
	// (routed before the commit that found it full).
	phantoms int

	sys sysWatch
}

// flashPayload is the payload of message seq: its name, then filler
// derived from seq, 1000 bytes in all, so that a read-back can tell a
// corrupted payload from a good one.
func flashPayload(seq int) []byte {
	b := []byte("flash:" + strconv.Itoa(seq) + ":")
	for len(b) < 1000 {
		b = append(b, byte('a'+(seq+len(b))%26))
	}
	return b
}

// The tmpfs starts large (a tmpfs takes memory only for what is written)
// and is resized in phase 2 to the store's reserve plus flashSlack.
// flashMaxDisk is the max_disk_bytes of phase 1: badger's size includes
// its memtable logs (two memtables of 4 MiB on the 128 MB tier), which
// shrink only when flushed and compacted, so it needs more room than
// bolt to drain below the limit.
const (
	flashFS    = 1 << 30
	flashSlack = 48 << 20
)

func flashMaxDisk(engine string) int64 {
	if engine == "badger" {
		return 24 << 20
	}
	return 4 << 20
}

// flashCgroup is the memory limit edgemq runs under when a cgroup can be
// made: the "128MB" tier of board sizing, a small gateway, whose badger
// memtables and value log files are small (so is its reserve).
const flashCgroup = 160 << 20

func (fr *flashRun) run() {
	t := fr.t
	fr.dir = mountTmpfs(t, flashFS)
	fr.acked, fr.refused = map[string]bool{}, map[string]bool{}
	fr.mqtt, fr.http = loopbackAddr(t), loopbackAddr(t)
	if cg, _ := memCgroup(t, flashCgroup); cg != "" {
		fr.cgroup = cg
		fr.f.Set("memory", "160MiB-cgroup")
	} else {
		t.Log("no memory cgroup here: edgemq sizes itself for the whole machine")
	}
	maxDisk := flashMaxDisk(fr.engine)

	// Phase 1: max_disk_bytes.
	fr.start(maxDisk)
	fr.sys.start(t, fr.mqtt)
	fr.makeKeeper()
	fr.fillUntilRefused("max_disk_bytes")
	used := fsUsed(t, fr.dir)
	fr.f.Set("maxdisk_store_mib", fmt.Sprintf("%.1f", float64(used)/(1<<20)))
	if used > 2*maxDisk {
		t.Errorf("max_disk_bytes %d: the data dir takes %d bytes", maxDisk, used)
	}
	fr.checkRefusals("max_disk_bytes")
	recovery := fr.drainAndRecover()
	fr.f.Set("maxdisk_recovery", recovery)
	fr.sys.stop()
	if st := fr.p.stop(); !st.Success() {
		t.Fatalf("edgemq did not stop cleanly: %v", st)
	}

	// Phase 2: the filesystem fills up (max_disk_bytes far above it).
	fr.start(1 << 30)
	fr.sys.start(t, fr.mqtt)
	reserve := fr.reserve()
	fr.f.Set("reserve_mib", reserve>>20)
	resizeTmpfs(t, fr.dir, fsUsed(t, fr.dir)+reserve+flashSlack)
	ballast := fillFS(t, fr.dir, reserve+4<<20)
	fr.fillUntilRefused("space")
	free := fsFree(t, fr.dir)
	fr.f.Set("fsfull_fs_free_mib", free>>20)
	if free <= 0 {
		t.Errorf("the filesystem filled up completely: the reserve did not hold")
	}
	fr.checkRefusals("space")
	// Now the ballast grows until the filesystem is full while edgemq runs
	// (another process filling the flash): edgemq must survive it.
	fillFS(t, fr.dir, 0)
	time.Sleep(2 * time.Second)
	if !fr.p.alive() {
		t.Fatalf("edgemq died when the filesystem filled up:\n%s", tail(fr.p.logText(), 30))
	}
	fr.checkRefusals("space")
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	recovery = fr.drainAndRecover()
	fr.f.Set("fsfull_recovery", recovery)
	fr.sys.stop()
	if st := fr.p.stop(); !st.Success() {
		t.Fatalf("edgemq did not stop cleanly: %v", st)
	}

	// The store opens without repair and still holds what was left in it.
	fr.start(maxDisk)
	fr.readBack()
	fr.f.Set("acked", fr.ackedTotal)
	fr.f.Set("refused", len(fr.refused))
	fr.f.Set("phantoms", fr.phantoms)
	if strings.Contains(fr.p.logText(), "corrupt stored record") {
		t.Errorf("edgemq found corrupt records:\n%s", fr.p.logText())
	}
}

// start runs edgemq with the data dir on the tmpfs and maxDisk as
// storage.max_disk_bytes.
func (fr *flashRun) start(maxDisk int64) {
	cfg := writeConfig(fr.t, fr.t.TempDir(), fmt.Sprintf(`
data_dir: %s/data
storage: {engine: %s, sync: batch, max_disk_bytes: %d}
listeners:
  - {name: mqtt, type: tcp, address: "%s"}
auth: {allow_anonymous: true}
limits: {max_queued_messages: 1000000, max_queued_bytes: 512MiB, max_total_queued_bytes: 1GiB}
sys_interval: 1s
http: {address: "%s"}
log: {level: info}
`, fr.dir, fr.engine, maxDisk, fr.mqtt, fr.http))
	fr.p = startBroker(fr.t, fr.bin, cfg, procOpts{Cgroup: fr.cgroup}, "mqtt")
}

// makeKeeper creates the persistent session "keeper" (MQTT 5, never
// expires) subscribed to flash/# and leaves it offline: what is published
// there must be stored.
func (fr *flashRun) makeKeeper() {
	t := fr.t
	c := packet.Connect{ClientID: []byte("keeper"), Version: packet.V5, KeepAlive: 60}
	c.Props.SessionExpiry = 0xFFFFFFFF
	c.Props.Set(packet.PropSessionExpiry)
	cl, _, err := dialMQTT(fr.mqtt, c)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.close()
	if code, err := cl.subscribe("flash/#", 1); err != nil || code != 1 {
		t.Fatalf("keeper subscribe: %v %v", code, err)
	}
}

// publishV5 publishes the next n messages at QoS 1 with a window of 16 on
// one MQTT 5 connection and records each one's outcome; it returns how
// many were refused with 0x97. Any other failure code fails the test.
func (fr *flashRun) publishV5(n int) (refused int) {
	t := fr.t
	t.Helper()
	cl, _, err := dialMQTT(fr.mqtt, packet.Connect{ClientID: []byte("pub5"), Version: packet.V5, CleanStart: true, KeepAlive: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.close()
	inflight := map[uint16]string{}
	var buf []byte
	var pid uint16
	for sent := 0; sent < n || len(inflight) > 0; {
		buf = buf[:0]
		for sent < n && len(inflight) < 16 {
			fr.seq++
			sent++
			pid = pid%65535 + 1
			pl := flashPayload(fr.seq)
			m := packet.Publish{Topic: []byte("flash/m"), QoS: 1, PacketID: pid, Payload: pl}
			buf = m.Append(buf, packet.V5)
			inflight[pid] = string(pl)
		}
		if len(buf) > 0 {
			if err := cl.send(buf); err != nil {
				t.Fatal(err)
			}
		}
		h, body, err := cl.next(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for PUBACK: %v", err)
		}
		var a packet.Ack
		if h.Type != packet.PUBACK || a.Decode(h, body, packet.V5) != nil {
			t.Fatalf("got %v, want PUBACK", h.Type)
		}
		pl, ok := inflight[a.PacketID]
		if !ok {
			t.Fatalf("PUBACK for unknown packet id %d", a.PacketID)
		}
		delete(inflight, a.PacketID)
		switch a.Code {
		case packet.Success:
			fr.acked[pl] = true
			fr.ackedTotal++
		case packet.QuotaExceeded:
			fr.refused[pl] = true
			refused++
		default:
			t.Fatalf("PUBACK with reason %v", a.Code)
		}
	}
	return refused
}

// fillUntilRefused publishes to the offline keeper until publishes are
// refused with 0x97, checking that edgemq stays alive.
func (fr *flashRun) fillUntilRefused(why string) {
	t := fr.t
	for i := 0; ; i++ {
		if fr.publishV5(200) > 0 {
			break
		}
		if i > 2000 {
			t.Fatalf("%s: 400k messages accepted and nothing refused", why)
		}
		if !fr.p.alive() {
			t.Fatalf("%s: edgemq died while the store filled:\n%s", why, tail(fr.p.logText(), 30))
		}
	}
	// Once refused, stay refused.
	if n := fr.publishV5(20); n != 20 {
		t.Errorf("%s: after the first refusal, %d of 20 publishes were accepted again while nothing was freed", why, 20-n)
	}
}

// checkRefusals checks what a full store looks like from outside: MQTT 5
// publishes refused with 0x97, a 3.1.1 publisher disconnected without a
// PUBACK and the reason logged, QoS 0 delivered, /readyz failing and
// $SYS/broker/storage/status saying why (why is a word of the reason).
func (fr *flashRun) checkRefusals(why string) {
	for try := 1; ; try++ {
		errs := fr.refusalChecks(why)
		if len(errs) == 0 {
			return
		}
		// badger's own flushes and compactions can shrink the store
		// below the limit by more than the hysteresis (a memtable) while
		// the checks run: it then takes puts again, rightly. That is not
		// a failure of the checks above; fill it again and look again.
		if try < 4 && fr.publishV5(1) == 0 {
			fr.t.Logf("%s: the store took puts again by itself during the checks (%v); filling it again", why, errs)
			fr.f.Set("refills_"+why, try)
			fr.fillUntilRefused(why)
			continue
		}
		for _, e := range errs {
			fr.t.Error(e)
		}
		return
	}
}

// refusalChecks does the checks of checkRefusals once and returns what
// failed.
func (fr *flashRun) refusalChecks(why string) (errs []string) {
	t := fr.t
	t.Helper()
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if n := fr.publishV5(5); n != 5 {
		fail("%s: %d of 5 MQTT 5 publishes accepted while the store is full", why, 5-n)
	}

	// 3.1.1: the connection closes, with no PUBACK.
	before := fr.refusedCount()
	cl, _, err := dialMQTT(fr.mqtt, packet.Connect{ClientID: []byte("pub3"), CleanStart: true, KeepAlive: 60})
	if err != nil {
		t.Fatal(err)
	}
	fr.seq++
	pl := flashPayload(fr.seq)
	m := packet.Publish{Topic: []byte("flash/m"), QoS: 1, PacketID: 1, Payload: pl}
	cl.send(m.Append(nil, packet.V311))
	h, _, err := cl.next(10 * time.Second)
	cl.close()
	switch {
	case err == nil:
		fail("%s: 3.1.1 publisher got %v for a message the full store could not keep, want the connection closed", why, h.Type)
		if h.Type == packet.PUBACK {
			fr.acked[string(pl)] = true
		}
	case isTimeout(err):
		fail("%s: 3.1.1 publisher: neither PUBACK nor close within 10 s", why)
	default:
		fr.refused[string(pl)] = true
	}
	fr.p.waitLog("not acknowledging it", time.Second)
	if after := fr.refusedCount(); after <= before {
		fail("%s: the refused 3.1.1 publish was not counted (%v before, %v after)", why, before, after)
	}

	// QoS 0 flows to a connected subscriber.
	sub, _, err := dialMQTT(fr.mqtt, packet.Connect{ClientID: []byte("live-sub"), CleanStart: true, KeepAlive: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.close()
	if _, err := sub.subscribe("live/#", 0); err != nil {
		t.Fatal(err)
	}
	pub, _, err := dialMQTT(fr.mqtt, packet.Connect{ClientID: []byte("live-pub"), CleanStart: true, KeepAlive: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()
	var buf []byte
	for i := range 100 {
		m := packet.Publish{Topic: []byte("live/x"), Payload: []byte("q0-" + strconv.Itoa(i))}
		buf = m.Append(buf, packet.V311)
	}
	pub.send(buf)
	got := 0
	sub.receive(2*time.Second, func(p *packet.Publish) {
		if got++; got == 100 {
			sub.nc.SetReadDeadline(time.Now())
		}
	})
	if got != 100 {
		fail("%s: %d of 100 QoS 0 messages delivered while the store is full", why, got)
	}

	// /readyz and $SYS.
	code, body, err := readyz(fr.http)
	if err != nil {
		t.Fatal(err)
	}
	if code != 503 || !strings.Contains(body, why) {
		fail("%s: /readyz answered %d %s; want 503 saying why", why, code, body)
	}
	status := fr.sys.wait(func(s string) bool { return strings.Contains(s, why) }, 5*time.Second)
	if !strings.HasPrefix(status, "full") || !strings.Contains(status, why) {
		fail("%s: $SYS/broker/storage/status is %q, want the reason the store is full", why, status)
	}
	return errs
}

// drainAndRecover brings space back (the keeper reads and acknowledges
// everything, checking each payload), then waits until MQTT 5 publishes
// are accepted again without a restart, /readyz passes and $SYS says ok.
// It returns the time from the end of the drain to the first accepted
// publish.
func (fr *flashRun) drainAndRecover() time.Duration {
	t := fr.t
	fr.readBack()
	start := time.Now()
	deadline := start.Add(3 * time.Minute)
	for fr.publishV5(1) == 1 {
		if time.Now().After(deadline) {
			t.Fatalf("publishes still refused %v after the store was drained", time.Since(start))
		}
		time.Sleep(200 * time.Millisecond)
	}
	recovery := time.Since(start)
	// What was just accepted is read back now, so the store is empty again.
	fr.readBack()
	for {
		code, body, err := readyz(fr.http)
		if err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still failing after recovery: %d %s %v", code, body, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s := fr.sys.wait(func(s string) bool { return s == "ok" }, 5*time.Second); s != "ok" {
		t.Errorf("$SYS/broker/storage/status is %q after recovery, want ok", s)
	}
	return recovery
}

// readBack connects the keeper and reads everything queued for it, until
// idle for a second, checking each payload's bytes. Every acknowledged
// message not read back before must arrive; a refused message must not
// (the publisher was told it was not accepted), except the few in flight
// when the store became full.
func (fr *flashRun) readBack() {
	t := fr.t
	t.Helper()
	c := packet.Connect{ClientID: []byte("keeper"), Version: packet.V5, KeepAlive: 60}
	c.Props.SessionExpiry = 0xFFFFFFFF
	c.Props.Set(packet.PropSessionExpiry)
	cl, ack, err := dialMQTT(fr.mqtt, c)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.close()
	if !ack.SessionPresent {
		t.Fatal("the keeper's session was lost")
	}
	var bad, phantom []string
	cl.receive(time.Second, func(p *packet.Publish) {
		name, _, _ := strings.Cut(strings.TrimPrefix(string(p.Payload), "flash:"), ":")
		seq, err := strconv.Atoi(name)
		if err != nil || !bytes.Equal(p.Payload, flashPayload(seq)) {
			bad = append(bad, fmt.Sprintf("%.40q", p.Payload))
			return
		}
		if fr.refused[string(p.Payload)] {
			phantom = append(phantom, name)
		}
		delete(fr.acked, string(p.Payload))
	})
	if len(bad) > 0 {
		t.Errorf("%d corrupted payloads read back, e.g. %s", len(bad), bad[0])
	}
	fr.phantoms += len(phantom)
	if len(phantom) > 16 {
		t.Errorf("%d messages refused with 0x97 were delivered all the same, more than the 16 in flight when the store became full, e.g. %s", len(phantom), phantom[0])
	}
	if len(fr.acked) > 0 {
		var some []string
		for p := range fr.acked {
			if len(some) < 3 {
				some = append(some, p[:20])
			}
		}
		t.Errorf("%d acknowledged messages were not delivered, e.g. %q", len(fr.acked), some)
	}
}

// refusedCount is how many publishes edgemq refused because it was full:
// before routing (edgemq_publishes_refused_storage_full_total) or at the
// commit (edgemq_storage_full_total, which also counts other writes).
func (fr *flashRun) refusedCount() float64 {
	m, err := metrics(fr.http)
	if err != nil {
		fr.t.Fatal(err)
	}
	return m["edgemq_publishes_refused_storage_full_total"] + m["edgemq_storage_full_total"]
}

// reserve returns the free space the store keeps on its filesystem, as
// the edgemq_storage_reserve_bytes metric says.
func (fr *flashRun) reserve() int64 {
	m, err := metrics(fr.http)
	if err != nil {
		fr.t.Fatal(err)
	}
	r, ok := m["edgemq_storage_reserve_bytes"]
	if !ok || r <= 0 {
		fr.t.Fatalf("no edgemq_storage_reserve_bytes metric")
	}
	return int64(r)
}

// sysWatch follows $SYS/broker/storage/status on a connection of its own.
type sysWatch struct {
	mu     sync.Mutex
	status string
	cl     *mqttClient
	done   chan struct{}
}

func (w *sysWatch) start(t *testing.T, addr string) {
	cl, _, err := dialMQTT(addr, packet.Connect{ClientID: []byte("sys-watch"), CleanStart: true, KeepAlive: 60})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.subscribe("$SYS/broker/storage/status", 0); err != nil {
		t.Fatal(err)
	}
	w.cl, w.done = cl, make(chan struct{})
	go func() {
		defer close(w.done)
		cl.receive(time.Hour, func(p *packet.Publish) {
			w.mu.Lock()
			w.status = string(p.Payload)
			w.mu.Unlock()
		})
	}()
}

func (w *sysWatch) stop() {
	w.cl.close()
	<-w.done
}

// wait waits up to d for a status that ok accepts and returns the last one.
func (w *sysWatch) wait(ok func(string) bool, d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		w.mu.Lock()
		s := w.status
		w.mu.Unlock()
		if ok(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
}
