package proc

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStatusKiB(t *testing.T) {
	status := []byte("Name:\tedgemq\nVmPeak:\t  123 kB\nVmRSS:\t   11736 kB\nRssAnon:\t    1740 kB\nRssFile:\t 9996 kB\n")
	tests := []struct {
		key  string
		want int64
		err  string
	}{
		{"VmRSS:", 11736 << 10, ""},
		{"RssAnon:", 1740 << 10, ""},
		{"VmSwap:", 0, "no VmSwap: line"},
	}
	for _, tt := range tests {
		got, err := statusKiB(status, tt.key)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want one containing %q", tt.key, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s = %d, %v; want %d", tt.key, got, err, tt.want)
		}
	}
	if _, err := statusKiB([]byte("\nVmRSS:\t12 MB\n"), "VmRSS:"); err == nil {
		t.Error("a unit other than kB: no error")
	}
}

func TestStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis; utime 250, stime 50.
	stat := []byte("4242 (my (broker)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 100 1000000 500 18446744073709551615\n")
	got, err := statCPU(stat)
	if err != nil || got != 3*time.Second {
		t.Errorf("statCPU = %v, %v; want 3s", got, err)
	}
	if _, err := statCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("short stat: no error")
	}
}

func TestReadUsageSelf(t *testing.T) {
	u, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS <= 0 || u.Anon <= 0 || u.Anon > u.RSS {
		t.Errorf("own usage %+v: want 0 < anon <= rss", u)
	}
	if _, err := OpenFilesLimit(os.Getpid()); err != nil {
		t.Error(err)
	}
}

// TestStartMosquitto starts the real mosquitto with a generated config,
// pinned, and stops it.
func TestStartMosquitto(t *testing.T) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto" // Debian puts it in sbin; make deps installs it
	}
	p, err := StartMosquitto(context.Background(), Mosquitto{Bin: bin, Dir: t.TempDir(), CPU: 0, MaxQueued: 500})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Config, "max_queued_messages 500") || !strings.Contains(p.Setup, "pinned to CPU 0") {
		t.Errorf("config %q, setup %q", p.Config, p.Setup)
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nCpus_allowed_list:\t0\n") {
		t.Errorf("mosquitto is not pinned to CPU 0:\n%s", status)
	}
	nc, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	s := StartSampler(p.Pid, 10*time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	rss, anon, n, err := s.Stop()
	if err != nil || rss <= 0 || anon <= 0 || n < 2 {
		t.Errorf("sampler: rss %d anon %d from %d samples, %v", rss, anon, n, err)
	}
	if err := p.Stop(); err != nil {
		t.Error(err)
	}
	if _, err := p.Usage(); err == nil {
		t.Error("Usage after Stop: no error")
	}
}

func TestParseCPUTimes(t *testing.T) {
	stat := []byte("cpu  10 0 10 100 5 0 0 0 0 0\ncpu0 7 1 2 50 3 1 1 0 4 0\ncpu1 3 0 8 50 2 0 0 0 0 0\nintr 12345\n")
	got, err := parseCPUTimes(stat)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]CPUTimes{0: {Busy: 12, Total: 65}, 1: {Busy: 11, Total: 63}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("parseCPUTimes = %v, want %v", got, want)
	}
	later := map[int]CPUTimes{0: {Busy: 62, Total: 165}}
	if p := BusyPercent(got, later, 0); p != 50 {
		t.Errorf("BusyPercent = %v, want 50", p)
	}
	if _, err := parseCPUTimes([]byte("cpu 1 2 3 4\n")); err == nil {
		t.Error("no per-CPU line: no error")
	}
}
